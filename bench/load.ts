// A small HTTP load generator for the model server benchmarks and the reliability tests.
//
// Two modes over keep-alive connections:
//   - closed loop: `connections` clients, each sends its next request as soon as the previous answer
//     arrived, for `durationMs` (or until `requests` were sent): measures the most the server gives;
//   - open loop: requests are scheduled at a fixed `rate` whatever the server does; a request whose
//     connection is busy waits in a queue, and its latency counts from the time it was scheduled, not
//     from the time it was written, so a slow server cannot hide its queueing (no coordinated omission).
// Requests are written as prepared bytes on raw sockets and the answers are parsed by a minimal
// HTTP/1.1 reader (Content-Length and chunked bodies), because Node's own client costs several times
// more CPU per request than a small server answer: on a 2-core machine the generator must not be the
// limit of what it measures.
//
// Module: `runLoad(options)` resolves to a LoadResult. Command line:
//   node --import tsx bench/load.ts --url http://127.0.0.1:8080/v2/models/m/infer --body body.json \
//     [--connections 32] [--duration 10s] [--rate 2000] [--malformed 0.1] [--rows 1000] \
//     [--header 'authorization: Bearer x'] [--json]
import * as fs from 'node:fs';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface LoadResponse {
  /** The index of the request in the run (0, 1, ...). */
  index: number;
  /** HTTP status, or 0 when the connection failed before an answer. */
  status: number;
  /** Header names in lower case; for a repeated header, the last value. */
  headers: Record<string, string>;
  body: Buffer;
  malformed: boolean;
  /** Milliseconds from the scheduled time (open loop) or the write (closed loop) to the full answer. */
  latencyMs: number;
  /** The socket error for status 0. */
  error: string | null;
}

export interface LoadOptions {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  /** The body of every good request, or several that are taken in turn. */
  body: string | Buffer | (string | Buffer)[];
  /** Share (0..1) of requests that carry a malformed body instead, chosen by a seeded random sequence. */
  malformedShare?: number;
  /** The malformed bodies to take in turn (default: malformedBodies(first good body)). */
  malformedBodies?: (string | Buffer)[];
  /** Rows in one good request, for rows/s. */
  rows?: number;
  connections?: number;
  durationMs?: number;
  /** Stop after this many requests (whichever of duration and count comes first). */
  requests?: number;
  /** Requests per second: open loop. Without it, closed loop. */
  rate?: number;
  /** A request without an answer after this long counts as failed (status 0) and its connection is replaced. */
  timeoutMs?: number;
  seed?: number;
  /** Ends the run early: no request is sent after it aborts; those in flight are still awaited. */
  signal?: AbortSignal;
  /** Called with every answer (tests check bodies and headers); keep it cheap in benchmarks. */
  onResponse?: (response: LoadResponse) => void;
}

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface LoadResult {
  mode: 'closed' | 'open';
  connections: number;
  /** Requested rate (open loop) or null. */
  rate: number | null;
  durationMs: number;
  sent: number;
  completed: number;
  /** Answers by status; "0" counts connection failures and timeouts. */
  statuses: Record<string, number>;
  /** Statuses of the malformed requests alone. */
  malformedStatuses: Record<string, number>;
  malformedSent: number;
  /** Connection-level failures by error code. */
  errors: Record<string, number>;
  /** Milliseconds, over all answered requests (open loop: from the scheduled time). */
  latency: LatencySummary;
  /** Answered requests per second over the run. */
  requestsPerSecond: number;
  /** Rows per second of the good requests answered with a 2xx. */
  rowsPerSecond: number;
  /** Open loop: the most requests that waited for a free connection at once. */
  maxQueued: number;
}

/** Sorted latency samples in milliseconds; exact percentiles (a run of a few million requests fits). */
class Samples {
  private values = new Float64Array(1024);
  private size = 0;

  add(value: number): void {
    if (this.size === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.size++] = value;
  }

  summary(): LatencySummary {
    const sorted = this.values.slice(0, this.size).sort();
    const at = (quantile: number): number =>
      sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.ceil(quantile * sorted.length) - 1)] ?? 0);
    let sum = 0;
    for (const value of sorted) sum += value;
    const round = (value: number): number => Math.round(value * 1000) / 1000;
    return {
      count: sorted.length,
      mean: round(sorted.length === 0 ? 0 : sum / sorted.length),
      p50: round(at(0.5)),
      p90: round(at(0.9)),
      p99: round(at(0.99)),
      max: round(sorted.length === 0 ? 0 : (sorted[sorted.length - 1] ?? 0)),
    };
  }
}

/** A deterministic sequence in [0, 1) (mulberry32), so the same requests are malformed in every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Bodies that no JSON prediction endpoint should accept, derived from a good one: cut in the middle,
 * not JSON, an empty object, a number where the request needs a structure, a string among the numbers,
 * and every numeric array one value short (its shape no longer matches).
 */
export function malformedBodies(good: string | Buffer): Buffer[] {
  const text = good.toString();
  const bodies = [text.slice(0, Math.floor(text.length / 2)), 'this is not json', '{}', '{"inputs": 42}'];
  try {
    const parsed: unknown = JSON.parse(text);
    let replaced = false;
    const withString = JSON.stringify(parsed, (_key, value: unknown) => {
      if (!replaced && typeof value === 'number') {
        replaced = true;
        return 'not-a-number';
      }
      return value;
    });
    if (replaced) bodies.push(withString);
    let shortened = false;
    const shorter = JSON.stringify(parsed, (_key, value: unknown) => {
      if (Array.isArray(value) && value.length > 1 && value.every((item) => typeof item === 'number')) {
        shortened = true;
        return value.slice(0, -1);
      }
      return value;
    });
    if (shortened) bodies.push(shorter);
  } catch {
    // A body that is not JSON: the generic variants above are all there is.
  }
  return bodies.map((body) => Buffer.from(body));
}

interface Target {
  host: string;
  port: number;
  path: string;
}

function parseTarget(url: string): Target {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:') throw new Error(`${url}: only http:// URLs are supported.`);
  return { host: parsed.hostname, port: Number(parsed.port || 80), path: `${parsed.pathname}${parsed.search}` };
}

/** The bytes of one request: head and body in one buffer, written with one call. */
function requestBytes(target: Target, method: string, headers: Record<string, string>, body: Buffer): Buffer {
  const lines = [`${method} ${target.path} HTTP/1.1`, `host: ${target.host}:${target.port}`];
  const names = new Set(Object.keys(headers).map((name) => name.toLowerCase()));
  if (!names.has('content-type')) lines.push('content-type: application/json');
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  lines.push(`content-length: ${body.length}`, 'connection: keep-alive', '', '');
  return Buffer.concat([Buffer.from(lines.join('\r\n')), body]);
}

interface Parsed {
  status: number;
  /** The status line and header lines, as sent. */
  head: string;
  body: Buffer;
  close: boolean;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** The value of header `name` (lower case) in a head already in lower case, or null. */
function headerValue(lowerHead: string, name: string): string | null {
  const at = lowerHead.indexOf(`\r\n${name}:`);
  if (at === -1) return null;
  const start = at + name.length + 3;
  const end = lowerHead.indexOf('\r\n', start);
  return lowerHead.slice(start, end === -1 ? undefined : end).trim();
}

/** Header names in lower case with their values (the last one of a repeated header). */
export function parseHeaders(head: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/**
 * Reads HTTP/1.1 answers from one connection. `push` takes the bytes as they arrive and returns the
 * answers completed so far (at most one in practice, since one request is outstanding at a time).
 * Only what framing needs is read here (status, length, chunked, close); the headers are parsed
 * later, and only for callers that look at them.
 */
class ResponseReader {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Parsed[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const done: Parsed[] = [];
    for (;;) {
      const parsed = this.next();
      if (!parsed) return done;
      done.push(parsed);
    }
  }

  private next(): Parsed | null {
    const headEnd = this.buffer.indexOf(CRLF2);
    if (headEnd === -1) return null;
    const head = this.buffer.toString('latin1', 0, headEnd);
    const lower = head.toLowerCase();
    // "HTTP/1.1 200 OK": the code is the three digits after the first space.
    const space = head.indexOf(' ');
    const status = Number(head.slice(space + 1, space + 4));
    const start = headEnd + 4;
    const close = headerValue(lower, 'connection') === 'close';
    if ((headerValue(lower, 'transfer-encoding') ?? '').includes('chunked')) {
      const chunks: Buffer[] = [];
      let offset = start;
      for (;;) {
        const lineEnd = this.buffer.indexOf('\r\n', offset);
        if (lineEnd === -1) return null;
        const size = parseInt(this.buffer.toString('latin1', offset, lineEnd), 16);
        if (Number.isNaN(size)) throw new Error('malformed chunked answer');
        const dataStart = lineEnd + 2;
        if (size === 0) {
          // The last chunk, then optional trailers, then an empty line.
          const bare = this.buffer.toString('latin1', dataStart, dataStart + 2) === '\r\n';
          const end = this.buffer.indexOf(CRLF2, lineEnd);
          const finish = bare ? dataStart + 2 : end === -1 ? -1 : end + 4;
          if (finish === -1 || finish > this.buffer.length) return null;
          this.buffer = this.buffer.subarray(finish);
          return { status, head, body: Buffer.concat(chunks), close };
        }
        if (this.buffer.length < dataStart + size + 2) return null;
        chunks.push(this.buffer.subarray(dataStart, dataStart + size));
        offset = dataStart + size + 2;
      }
    }
    const length = Number(headerValue(lower, 'content-length') ?? 0);
    if (this.buffer.length < start + length) return null;
    const body = this.buffer.subarray(start, start + length);
    this.buffer = this.buffer.subarray(start + length);
    return { status, head, body, close };
  }
}

interface Pending {
  index: number;
  bytes: Buffer;
  malformed: boolean;
  /** performance.now() from which latency counts. */
  since: number;
}

/** One keep-alive connection with at most one request in flight; reconnects after a close or error. */
class Connection {
  private socket: net.Socket | null = null;
  private reader = new ResponseReader();
  private current: Pending | null = null;
  /** performance.now() of the write of the current request, for timeouts. */
  private writtenAt = 0;

  constructor(
    private readonly target: Target,
    private readonly timeoutMs: number,
    private readonly done: (
      connection: Connection,
      pending: Pending,
      parsed: Parsed | null,
      error: string | null,
    ) => void,
  ) {}

  get busy(): boolean {
    return this.current !== null;
  }

  send(pending: Pending, countFromWrite: boolean): void {
    this.current = pending;
    const socket = this.socket ?? this.connect();
    this.writtenAt = performance.now();
    if (countFromWrite) pending.since = this.writtenAt;
    socket.write(pending.bytes);
  }

  /** Fails the current request when it has waited longer than the timeout (called by a periodic sweep). */
  checkTimeout(now: number): void {
    if (this.current && now - this.writtenAt > this.timeoutMs) this.fail('timeout');
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private connect(): net.Socket {
    const socket = net.connect({ host: this.target.host, port: this.target.port, noDelay: true });
    this.socket = socket;
    this.reader = new ResponseReader();
    socket.on('data', (chunk: Buffer) => {
      let answers: Parsed[];
      try {
        answers = this.reader.push(chunk);
      } catch (error) {
        this.fail(error instanceof Error ? error.message : String(error));
        return;
      }
      for (const parsed of answers) this.finish(parsed, null);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => this.fail(error.code ?? error.message));
    socket.on('close', () => {
      if (this.socket === socket) this.fail('closed');
    });
    return socket;
  }

  private fail(error: string): void {
    const socket = this.socket;
    this.socket = null;
    socket?.destroy();
    this.finish(null, error);
  }

  private finish(parsed: Parsed | null, error: string | null): void {
    const pending = this.current;
    if (!pending) return;
    this.current = null;
    if (parsed?.close) {
      this.socket?.destroy();
      this.socket = null;
    }
    this.done(this, pending, parsed, error);
  }
}

function toBuffer(body: string | Buffer): Buffer {
  return typeof body === 'string' ? Buffer.from(body) : body;
}

/** Runs one load run and resolves with its figures once every request sent was answered or failed. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const target = parseTarget(options.url);
  const method = options.method ?? 'POST';
  const headers = options.headers ?? {};
  const goodBodies = (Array.isArray(options.body) ? options.body : [options.body]).map(toBuffer);
  if (goodBodies.length === 0) throw new Error('runLoad needs at least one body.');
  const malformedShare = options.malformedShare ?? 0;
  const badBodies = (options.malformedBodies ?? malformedBodies(goodBodies[0] ?? Buffer.alloc(0))).map(toBuffer);
  const good = goodBodies.map((body) => requestBytes(target, method, headers, body));
  const bad = badBodies.map((body) => requestBytes(target, method, headers, body));
  const rows = options.rows ?? 1;
  const connectionCount = options.connections ?? 16;
  const durationMs = options.durationMs ?? 10_000;
  const limit = options.requests ?? Number.POSITIVE_INFINITY;
  const rate = options.rate ?? null;
  const random = seededRandom(options.seed ?? 1);

  const samples = new Samples();
  const statuses: Record<string, number> = {};
  const malformedStatuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let sent = 0;
  let completed = 0;
  let malformedSent = 0;
  let goodRowsAnswered = 0;
  let maxQueued = 0;
  const queue: Pending[] = [];

  const nextRequest = (since: number): Pending => {
    const index = sent++;
    const malformed = bad.length > 0 && random() < malformedShare;
    if (malformed) malformedSent++;
    const bytes = malformed ? bad[index % bad.length] : good[index % good.length];
    return { index, bytes: bytes ?? Buffer.alloc(0), malformed, since };
  };

  return new Promise((resolve) => {
    const start = performance.now();
    const deadline = start + durationMs;
    let stopped = false;
    let end = start;
    let scheduler: NodeJS.Timeout | null = null;
    const idle: Connection[] = [];

    const finishRun = (): void => {
      if (scheduler) clearTimeout(scheduler);
      clearInterval(sweeper);
      for (const connection of connections) connection.close();
      const elapsed = Math.max(1, end - start);
      resolve({
        mode: rate === null ? 'closed' : 'open',
        connections: connectionCount,
        rate,
        durationMs: Math.round(elapsed),
        sent,
        completed,
        statuses,
        malformedStatuses,
        malformedSent,
        errors,
        latency: samples.summary(),
        requestsPerSecond: Math.round((completed / elapsed) * 1000 * 10) / 10,
        rowsPerSecond: Math.round((goodRowsAnswered / elapsed) * 1000),
        maxQueued,
      });
    };

    const settleIfDone = (): void => {
      if (stopped && connections.every((connection) => !connection.busy) && queue.length === 0) finishRun();
    };

    const onDone = (connection: Connection, pending: Pending, parsed: Parsed | null, error: string | null): void => {
      const now = performance.now();
      end = Math.max(end, now);
      completed++;
      const status = parsed ? parsed.status : 0;
      const latencyMs = now - pending.since;
      if (parsed) samples.add(latencyMs);
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (pending.malformed) malformedStatuses[status] = (malformedStatuses[status] ?? 0) + 1;
      else if (status >= 200 && status < 300) goodRowsAnswered += rows;
      if (error) errors[error] = (errors[error] ?? 0) + 1;
      if (options.onResponse)
        options.onResponse({
          index: pending.index,
          status,
          headers: parsed ? parseHeaders(parsed.head) : {},
          body: parsed?.body ?? Buffer.alloc(0),
          malformed: pending.malformed,
          latencyMs,
          error,
        });
      release(connection);
      settleIfDone();
    };

    const timeoutMs = options.timeoutMs ?? 30_000;
    const connections = Array.from({ length: connectionCount }, () => new Connection(target, timeoutMs, onDone));
    // One sweep for every connection's timeout: a timer per request costs more than the request.
    const sweeper = setInterval(
      () => {
        const now = performance.now();
        for (const connection of connections) connection.checkTimeout(now);
      },
      Math.max(10, Math.min(250, timeoutMs / 4)),
    );
    const dispatch = (connection: Connection, pending: Pending): void => {
      connection.send(pending, rate === null);
    };

    // Closed loop: an answered connection sends again at once. Open loop: it takes the oldest
    // waiting request, or goes idle until the scheduler has one.
    const release = (connection: Connection): void => {
      if (rate === null) {
        if (!stopped && !options.signal?.aborted && performance.now() < deadline && sent < limit)
          dispatch(connection, nextRequest(0));
        else stopped = true;
        return;
      }
      const waiting = queue.shift();
      if (waiting) dispatch(connection, waiting);
      else idle.push(connection);
    };

    if (rate === null) {
      for (const connection of connections) {
        if (sent < limit) dispatch(connection, nextRequest(0));
      }
      if (sent === 0) {
        stopped = true;
        settleIfDone();
      }
      return;
    }

    idle.push(...connections);
    // The schedule: request i is due at start + i / rate. A timer wakes every millisecond or so and
    // releases every request that fell due; each keeps its due time as the start of its latency.
    const intervalMs = 1000 / rate;
    const tick = (): void => {
      const now = performance.now();
      while (sent < limit && !options.signal?.aborted) {
        const due = start + sent * intervalMs;
        if (due > now || due >= deadline) break;
        const pending = nextRequest(due);
        const connection = idle.pop();
        if (connection) dispatch(connection, pending);
        else queue.push(pending);
      }
      maxQueued = Math.max(maxQueued, queue.length);
      if (now >= deadline || sent >= limit || options.signal?.aborted) {
        stopped = true;
        settleIfDone();
        return;
      }
      scheduler = setTimeout(tick, Math.max(0, Math.min(intervalMs, start + sent * intervalMs - now)));
    };
    tick();
  });
}

/** "10s", "500ms", "2m" or a number of seconds → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new Error(`${text}: a duration is a number with ms, s or m (10s, 500ms, 1m).`);
  const value = Number(match[1]);
  return match[2] === 'ms' ? value : match[2] === 'm' ? value * 60_000 : value * 1000;
}

/** One line per figure, for people; `--json` prints the LoadResult instead. */
export function formatResult(result: LoadResult): string {
  const mode = result.mode === 'open' ? `open loop at ${result.rate} req/s` : 'closed loop';
  const statuses = Object.entries(result.statuses)
    .map(([status, count]) => `${status}: ${count}`)
    .join(', ');
  const lines = [
    `${mode}, ${result.connections} connections, ${(result.durationMs / 1000).toFixed(1)} s`,
    `requests  ${result.completed} answered of ${result.sent} sent (${statuses})`,
    `rate      ${result.requestsPerSecond} req/s, ${result.rowsPerSecond} rows/s`,
    `latency   p50 ${result.latency.p50} ms, p90 ${result.latency.p90} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms`,
  ];
  if (result.malformedSent > 0) {
    const bad = Object.entries(result.malformedStatuses)
      .map(([status, count]) => `${status}: ${count}`)
      .join(', ');
    lines.push(`malformed ${result.malformedSent} sent (${bad})`);
  }
  if (result.mode === 'open') lines.push(`queue     at most ${result.maxQueued} requests waited for a connection`);
  if (Object.keys(result.errors).length > 0) lines.push(`errors    ${JSON.stringify(result.errors)}`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const values: Record<string, string> = {};
  const headers: Record<string, string> = {};
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index] ?? '';
    if (flag === '--json') {
      values['json'] = 'true';
      continue;
    }
    const value = argv[++index];
    if (!flag.startsWith('--') || value === undefined) {
      console.error(`${flag}: expected --name value. See the comment at the top of bench/load.ts.`);
      return 2;
    }
    if (flag === '--header') {
      const colon = value.indexOf(':');
      headers[value.slice(0, colon).trim()] = value.slice(colon + 1).trim();
    } else values[flag.slice(2)] = value;
  }
  const url = values['url'];
  if (!url) {
    console.error('--url is required: node --import tsx bench/load.ts --url http://127.0.0.1:8080/path --body FILE');
    return 2;
  }
  const body = values['body'] ? fs.readFileSync(values['body']) : Buffer.alloc(0);
  const result = await runLoad({
    url,
    method: values['method'] ?? (values['body'] ? 'POST' : 'GET'),
    headers,
    body,
    malformedShare: Number(values['malformed'] ?? 0),
    rows: Number(values['rows'] ?? 1),
    connections: Number(values['connections'] ?? 16),
    durationMs: parseDuration(values['duration'] ?? '10s'),
    ...(values['rate'] ? { rate: Number(values['rate']) } : {}),
    ...(values['requests'] ? { requests: Number(values['requests']) } : {}),
  });
  console.log(values['json'] ? JSON.stringify(result, null, 2) : formatResult(result));
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
}
