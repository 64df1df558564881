// Streaming sources consumed into windowed micro-batches, each batch one dataset version. The
// consumer follows an append-only JSON Lines file by byte offset; the version of a batch and the
// offset after it are committed in one SQLite transaction, so a consumer killed at any moment
// resumes exactly after the last committed batch: no record twice, none lost. A partial last line
// (no newline yet) is left for a later read. The HTTP source appends what it receives to a spool
// file (fsync before the acknowledgement) and the consumer follows the spool like any file.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { Store } from '../store';
import { stateDir } from '../store';
import { runChecks } from './checks';
import type { CheckFailure } from './checks';
import { DataError, parseJsonLine, recordOf } from './sources';
import type { Row, Table } from './sources';
import type { DatasetSpec, StreamSpec } from './spec';
import { recordVersion } from './versions';

export interface Batch {
  version: number;
  rows: number;
  windowStart: string;
  windowEnd: string;
  /** The byte offset in the followed file after this batch. */
  offset: number;
}

export interface StreamOutcome {
  batches: Batch[];
  /** Why the consumer stopped. */
  reason: 'max-batches' | 'stopped' | 'failed';
  /** For 'failed': the checks the batch broke (nothing was recorded). */
  failures: CheckFailure[];
}

export interface ConsumeOptions {
  store: Store;
  root: string;
  dataset: DatasetSpec;
  /** Stop (abandoning the uncommitted window, which is read again on restart). */
  signal: AbortSignal;
  maxBatches?: number;
  /** How often the file is read for new lines, in milliseconds. */
  pollMs?: number;
  now?: () => number;
  onBatch?: (batch: Batch) => void;
}

/** A complete line read from the followed file, with its size in bytes including the newline. */
interface Line {
  text: string;
  bytes: number;
}

/** The file a stream's consumer follows: the JSON Lines file, or the spool of the HTTP endpoint. */
export function followedFile(root: string, dataset: DatasetSpec): string {
  const stream = dataset.stream;
  if (stream?.type === 'jsonl' && stream.file) return stream.file;
  return path.join(spoolDir(root, dataset.name), 'spool.jsonl');
}

/** The folder of an HTTP stream's spool. */
export function spoolDir(root: string, dataset: string): string {
  return path.join(stateDir(root), 'streams', dataset);
}

/** Consumes a dataset's stream into versions until stopped, a check fails, or maxBatches are done. */
export async function consumeStream(options: ConsumeOptions): Promise<StreamOutcome> {
  const { store, root, dataset, signal } = options;
  const stream = dataset.stream;
  if (!stream)
    throw new DataError(`dataset '${dataset.name}' has no stream. Add a stream section, or use 'cairn data import'.`);
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 100;
  const file = followedFile(root, dataset);
  const display = path.relative(root, file);
  const batches: Batch[] = [];
  let committed = store.streamOffset(dataset.name).offset;
  // Lines read past the committed offset, not yet in a batch; `readTo` is where reading resumes.
  let buffered: Line[] = [];
  let readTo = committed;
  let windowStart = now();
  while (!signal.aborted) {
    const fresh = readCompleteLines(file, readTo, display);
    readTo += fresh.reduce((sum, line) => sum + line.bytes, 0);
    buffered = buffered.concat(fresh);
    let cut = windowCut(stream, buffered.length, now() - windowStart);
    while (cut > 0) {
      const windowEnd = now();
      const lines = buffered.slice(0, cut);
      const table = tableOf(lines, display, committed);
      const failures = runChecks(table, dataset, windowEnd);
      if (failures.length > 0) return { batches, reason: 'failed', failures };
      const offset = committed + lines.reduce((sum, line) => sum + line.bytes, 0);
      const window = { start: new Date(windowStart).toISOString(), end: new Date(windowEnd).toISOString() };
      const version = store.commitStream(dataset.name, offset, '', () =>
        recordVersion(store, root, {
          dataset: dataset.name,
          source: `stream:${stream.type}:${stream.type === 'jsonl' ? display : `${stream.host}:${stream.port}`}`,
          fileName: 'batch.jsonl',
          bytes: Buffer.from(lines.map((line) => `${line.text}\n`).join('')),
          table,
          createdAt: windowEnd,
          windowStart: window.start,
          windowEnd: window.end,
        }),
      );
      const batch = { version, rows: lines.length, windowStart: window.start, windowEnd: window.end, offset };
      batches.push(batch);
      options.onBatch?.(batch);
      committed = offset;
      buffered = buffered.slice(cut);
      windowStart = windowEnd;
      if (options.maxBatches !== undefined && batches.length >= options.maxBatches)
        return { batches, reason: 'max-batches', failures: [] };
      cut = windowCut(stream, buffered.length, 0);
    }
    // A time window that passed with no rows records nothing; the next window starts now.
    if (buffered.length === 0 && stream.timeMs !== undefined && now() - windowStart >= stream.timeMs)
      windowStart = now();
    await sleep(pollMs, signal);
  }
  return { batches, reason: 'stopped', failures: [] };
}

/** How many buffered rows close the current window now (0: keep the window open). */
export function windowCut(stream: StreamSpec, buffered: number, elapsedMs: number): number {
  if (buffered === 0) return 0;
  if (stream.rows !== undefined && buffered >= stream.rows) return stream.rows;
  if (stream.timeMs !== undefined && elapsedMs >= stream.timeMs)
    return stream.rows === undefined ? buffered : Math.min(buffered, stream.rows);
  return 0;
}

/**
 * The complete lines of `file` from byte `offset`; a last line without its newline is not read.
 * A file that does not exist yet has no lines; one shorter than the offset was not append-only.
 */
export function readCompleteLines(file: string, offset: number, display: string): Line[] {
  let descriptor: number;
  try {
    descriptor = fs.openSync(file, 'r');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return [];
    throw new DataError(`${display}: cannot read the stream file (${(error as Error).message}). Check stream.path.`);
  }
  try {
    const size = fs.fstatSync(descriptor).size;
    if (size < offset)
      throw new DataError(
        `${display}: the file is shorter (${size} bytes) than the ${offset} bytes already consumed: it was truncated or replaced, but a stream file must only grow. Restore it, or rename the dataset to start over.`,
      );
    if (size === offset) return [];
    const chunk = Buffer.alloc(size - offset);
    const read = fs.readSync(descriptor, chunk, 0, chunk.length, offset);
    const end = chunk.subarray(0, read).lastIndexOf(0x0a);
    const lines: Line[] = [];
    let start = 0;
    while (start <= end) {
      const newline = chunk.indexOf(0x0a, start);
      const raw = chunk.subarray(start, newline);
      lines.push({ text: raw.toString('utf8').replace(/\r$/, ''), bytes: newline + 1 - start });
      start = newline + 1;
    }
    return lines;
  } finally {
    fs.closeSync(descriptor);
  }
}

function tableOf(lines: Line[], display: string, firstByte: number): Table {
  const columns: string[] = [];
  const seen = new Set<string>();
  const rows: Row[] = [];
  let byte = firstByte;
  for (const line of lines) {
    if (line.text.trim() !== '')
      rows.push(recordOf(parseJsonLine(line.text, `${display} (byte ${byte})`), columns, seen));
    byte += line.bytes;
  }
  return { columns, rows };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** The largest POST body accepted, in bytes. */
const MAX_BODY = 16 * 1024 * 1024;

/**
 * Starts the HTTP ingest endpoint of a stream: POST JSON Lines or a JSON array of objects to
 * /ingest (or to stream.path). A POST is acknowledged (200) only once its records are written to
 * the spool and fsynced; bad input gets 400 with the line at fault.
 */
export async function startIngestServer(root: string, dataset: DatasetSpec): Promise<http.Server> {
  const stream = dataset.stream;
  if (stream?.type !== 'http') throw new Error(`dataset ${dataset.name} has no http stream`);
  fs.mkdirSync(spoolDir(root, dataset.name), { recursive: true });
  const spool = fs.openSync(followedFile(root, dataset), 'a');
  const paths = new Set(['/ingest', stream.urlPath]);
  const server = http.createServer((request, response) => {
    const reply = (status: number, body: object): void => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(`${JSON.stringify(body)}\n`);
    };
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (!paths.has(url.pathname)) return reply(404, { error: `POST rows to ${[...paths].join(' or ')}.` });
    if (request.method !== 'POST') return reply(405, { error: 'POST JSON Lines or a JSON array of objects.' });
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    request.on('end', () => {
      if (size > MAX_BODY) return reply(413, { error: `The body is over ${MAX_BODY} bytes. Send smaller batches.` });
      let records: string[];
      try {
        records = recordsOfBody(Buffer.concat(chunks).toString('utf8'));
      } catch (error) {
        return reply(400, { error: error instanceof DataError ? error.message : String(error) });
      }
      if (records.length > 0) {
        fs.writeSync(spool, records.map((record) => `${record}\n`).join(''));
        fs.fsyncSync(spool);
      }
      reply(200, { accepted: records.length });
    });
  });
  server.on('close', () => fs.closeSync(spool));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new DataError(
          `dataset '${dataset.name}': cannot listen on ${stream.host}:${stream.port} (${error.code ?? error.message}). Choose another stream.port.`,
        ),
      ),
    );
    server.listen(stream.port, stream.host, resolve);
  });
  return server;
}

/** The records of a POST body, each as one compact JSON line: a JSON array, or JSON Lines. */
export function recordsOfBody(body: string): string[] {
  const trimmed = body.trim();
  if (trimmed.startsWith('[')) {
    let values: unknown;
    try {
      values = JSON.parse(trimmed);
    } catch (error) {
      throw new DataError(`body: not valid JSON (${(error as Error).message}). Send a JSON array of objects.`);
    }
    return (values as unknown[]).map((value, index) => {
      if (value === null || typeof value !== 'object' || Array.isArray(value))
        throw new DataError(`body: item ${index + 1} of the array is not an object. Send objects such as {"id": 1}.`);
      return JSON.stringify(value);
    });
  }
  return trimmed
    .split('\n')
    .map((line, index) => ({ line, index }))
    .filter(({ line }) => line.trim() !== '')
    .map(({ line, index }) => JSON.stringify(parseJsonLine(line, `body line ${index + 1}`)));
}
