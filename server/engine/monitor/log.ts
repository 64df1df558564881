// The prediction log of one deployment: `.cairn/deployments/NAME/monitor.db`, a SQLite file of its
// own (WAL) so that logging every request never contends with the workspace store. The server
// process appends predictions in batches (one transaction per flush, prepared statements; in the
// server, on a writer thread: logWriter.ts); labels and business events join later by request id;
// resource samples (CPU, memory) are kept beside them.
// Readers (`cairn monitor report`, the monitor loop) query by time window, version and arm.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { stateDir } from '../store';
import type { PredictionRecord } from '../serving/record';
import { FeedbackError, feedbackOf } from './feedback';
import { INSERT_PREDICTION_SQL, LogWriterThread } from './logWriter';
import type { PredictionInsert } from './logWriter';
import { decodeInputs, storedInputsOf } from './storedInputs';

/** Where a deployment's files live: `.cairn/deployments/NAME/`. */
export function deploymentDir(root: string, deployment: string): string {
  return path.join(stateDir(root), 'deployments', deployment);
}

/** The prediction log file of a deployment. */
export function monitorDbPath(root: string, deployment: string): string {
  return path.join(deploymentDir(root, deployment), 'monitor.db');
}

/** What the log keeps: the `monitoring.log` section of the spec, with durations in ms. */
export interface LogPolicy {
  /** Fraction of requests whose inputs are kept (outputs, latency and status always are). */
  sample: number;
  retentionMs: number;
  maxRows: number;
  /** Most bytes the log file may use (its pages in use; the file keeps its largest size and reuses freed pages). */
  maxBytes: number;
}

export const DEFAULT_LOG_POLICY: LogPolicy = {
  sample: 1,
  retentionMs: 7 * 86_400_000,
  maxRows: 1_000_000,
  maxBytes: 2_000_000_000,
};

/** One logged request as read back; inputs are null when the request was not sampled. */
export interface LoggedPrediction {
  seq: number;
  requestId: string;
  at: number;
  arm: string;
  version: string;
  protocol: string;
  status: number;
  latencyMs: number;
  rows: number;
  fallback: boolean;
  key: string | null;
  error: string | null;
  inputs: Record<string, (number | string | null)[]> | null;
  outputs: Record<string, number[]> | null;
}

/** The columns operational statistics need, without the JSON payloads (cheap to read in bulk). */
export interface RequestSummary {
  requestId: string;
  at: number;
  arm: string;
  version: string;
  status: number;
  latencyMs: number;
  rows: number;
  fallback: boolean;
}

/** A label or business event, joined to a prediction by its request id. */
export interface FeedbackRow {
  requestId: string;
  at: number;
  kind: 'label' | 'event';
  /** The `label` field, when the row has one. */
  label: number | string | boolean | (number | string | boolean | null)[] | null;
  /** Every other field of the row. */
  fields: Record<string, unknown>;
}

export interface ResourceSample {
  at: number;
  cpuPercent: number;
  rssBytes: number;
}

/** Which predictions a query reads: [from, to) in ms since the epoch, optionally one version or arm. */
export interface WindowQuery {
  from?: number;
  to?: number;
  version?: string;
  arm?: string;
  /** Only the newest `limit` predictions of the window. */
  limit?: number;
  /** Only predictions whose inputs were kept. */
  withInputs?: boolean;
}

export { FeedbackError };

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS predictions (
    seq INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    arm TEXT NOT NULL,
    version TEXT NOT NULL,
    protocol TEXT NOT NULL,
    status INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    rows INTEGER NOT NULL,
    fallback INTEGER NOT NULL,
    key TEXT,
    error TEXT,
    input_names TEXT,
    inputs BLOB,
    outputs TEXT
  );
  CREATE INDEX IF NOT EXISTS predictions_by_at ON predictions(at);
  CREATE INDEX IF NOT EXISTS predictions_by_request ON predictions(request_id);
  CREATE TABLE IF NOT EXISTS feedback (
    seq INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    label TEXT,
    fields TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS feedback_by_request ON feedback(request_id);
  CREATE INDEX IF NOT EXISTS feedback_by_at ON feedback(at);
  CREATE TABLE IF NOT EXISTS resources (
    at INTEGER NOT NULL,
    cpu_percent REAL NOT NULL,
    rss_bytes INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS resources_by_at ON resources(at);
  CREATE TABLE IF NOT EXISTS label_sources (
    path TEXT PRIMARY KEY,
    offset INTEGER NOT NULL,
    line INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS alert_pending (
    rule TEXT PRIMARY KEY,
    since INTEGER NOT NULL
  );
`;

// A flush every 200 ms keeps the log at most that far behind; a full buffer flushes at once so a
// burst never holds more than this many records in memory.
const FLUSH_INTERVAL_MS = 200;
const MAX_BUFFERED = 20_000;
/** Rows removed per retention transaction: each holds the write lock for milliseconds, not seconds. */
const RETENTION_CHUNK = 2000;

interface PredictionRow {
  seq: number;
  request_id: string;
  at: number;
  arm: string;
  version: string;
  protocol: string;
  status: number;
  latency_ms: number;
  rows: number;
  fallback: number;
  key: string | null;
  error: string | null;
  input_names: string | null;
  inputs: Buffer | string | null;
  outputs: string | null;
}

export interface PredictionLogOptions {
  policy?: LogPolicy;
  /** Open for reading only (the CLI reading a running server's log). */
  readonly?: boolean;
  /** Flush the buffer on a timer (the server); tests and readers flush by hand. */
  autoFlush?: boolean;
  /**
   * Write predictions on a worker thread (the server: SQLite's inserts stay off the event loop that
   * answers requests). `written()` says when they are in the file.
   */
  writerThread?: boolean;
  /** With a writer thread: how far (in bytes) it may fall behind before flushes are dropped. */
  maxQueuedBytes?: number;
  /** Decides which requests keep their inputs; injected so a test controls the sample. */
  random?: () => number;
  /** Where flush failures are reported (the server's log); they never throw into the request path. */
  onError?: (error: Error) => void;
}

/** The prediction log of one deployment. */
export class PredictionLog {
  /** Predictions appended and not flushed, already as the insert's arguments. */
  private buffer: PredictionInsert[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly insertPrediction: Database.Statement | null;
  private readonly insertFeedback: Database.Statement | null;
  private readonly writer: LogWriterThread | null;
  private readonly random: () => number;
  policy: LogPolicy;

  private constructor(
    readonly db: Database.Database,
    readonly file: string,
    private readonly options: PredictionLogOptions,
  ) {
    this.policy = options.policy ?? DEFAULT_LOG_POLICY;
    this.random = options.random ?? Math.random;
    this.writer = null;
    if (options.readonly) {
      this.insertPrediction = null;
      this.insertFeedback = null;
    } else {
      this.insertPrediction = db.prepare(INSERT_PREDICTION_SQL);
      if (options.writerThread)
        this.writer = new LogWriterThread(file, (error) => this.options.onError?.(error), options.maxQueuedBytes);
      this.insertFeedback = db.prepare(
        'INSERT INTO feedback (request_id, at, kind, label, fields) VALUES (?, ?, ?, ?, ?)',
      );
    }
  }

  /** Opens (creating if needed) the log of `deployment` in the workspace at `root`. */
  static open(root: string, deployment: string, options: PredictionLogOptions = {}): PredictionLog {
    return PredictionLog.openFile(monitorDbPath(root, deployment), options);
  }

  /** Opens the log kept in `file`. */
  static openFile(file: string, options: PredictionLogOptions = {}): PredictionLog {
    let db: Database.Database;
    if (options.readonly) {
      db = new Database(file, { readonly: true, fileMustExist: true });
      db.pragma('busy_timeout = 5000');
    } else {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      db = new Database(file);
      db.pragma('busy_timeout = 5000');
      db.pragma('journal_mode = WAL');
      // A crash may lose the last flushes, never corrupt the file: the log is telemetry.
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
    }
    const log = new PredictionLog(db, file, options);
    if (options.autoFlush && !options.readonly) {
      log.timer = setInterval(() => log.flushQuietly(), FLUSH_INTERVAL_MS);
      log.timer.unref();
    }
    return log;
  }

  /** Queues predictions; they are written at the next flush (every 200 ms, or when the buffer is full). */
  append(records: readonly PredictionRecord[]): void {
    if (!this.insertPrediction) return;
    // Reduced at once to what is stored: a record holds the request's decoded tensors, and keeping
    // those until the flush would move them into the old generation (a major GC per flush).
    for (const record of records) this.buffer.push(this.insertOf(record));
    if (this.buffer.length >= MAX_BUFFERED) this.flushQuietly();
  }

  private insertOf(record: PredictionRecord): PredictionInsert {
    const sample = this.policy.sample;
    const keep = sample >= 1 || (sample > 0 && this.random() < sample);
    const inputs = keep ? storedInputsOf(record) : null;
    return [
      record.requestId,
      record.at,
      record.arm,
      record.version,
      record.protocol,
      record.status,
      record.latencyMs,
      record.rows,
      record.fallback ? 1 : 0,
      record.key,
      record.error,
      inputs?.names ?? null,
      inputs?.data ?? null,
      record.outputs === null ? null : JSON.stringify(record.outputs),
    ];
  }

  /**
   * Writes every queued prediction in one transaction (with a writer thread: hands them to it, and
   * `written()` says when they are in the file); returns how many there were.
   */
  flush(): number {
    const statement = this.insertPrediction;
    if (!statement || this.buffer.length === 0) return 0;
    const rows = this.buffer;
    this.buffer = [];
    if (this.writer) this.writer.write(rows);
    else
      this.db.transaction(() => {
        for (const row of rows) statement.run(row);
      })();
    return rows.length;
  }

  /** Flushes, then resolves when every prediction appended so far is in the file. */
  async written(): Promise<void> {
    this.flushQuietly();
    await this.writer?.settled();
  }

  private flushQuietly(): void {
    try {
      this.flush();
    } catch (error) {
      this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * Removes predictions older than the retention, then the oldest beyond max rows, then the oldest
   * until the file's used pages fit max bytes; returns how many went. Deletes run in small
   * transactions, so a server flushing the log never waits long on them.
   */
  applyRetention(now: number): number {
    const cutoff = now - this.policy.retentionMs;
    let removed = this.deleteInChunks(
      'DELETE FROM predictions WHERE seq IN (SELECT seq FROM predictions WHERE at < ? LIMIT ?)',
      cutoff,
    );
    const newest = this.db.prepare('SELECT MAX(seq) AS seq, COUNT(*) AS count FROM predictions').get() as {
      seq: number | null;
      count: number;
    };
    if (newest.seq !== null && newest.count > this.policy.maxRows) {
      // seq grows with every insert, so the newest max_rows predictions are the highest seqs.
      const keepFrom = (
        this.db
          .prepare('SELECT seq FROM predictions ORDER BY seq DESC LIMIT 1 OFFSET ?')
          .get(this.policy.maxRows - 1) as {
          seq: number;
        }
      ).seq;
      removed += this.deleteInChunks(
        'DELETE FROM predictions WHERE seq IN (SELECT seq FROM predictions WHERE seq < ? ORDER BY seq LIMIT ?)',
        keepFrom,
      );
    }
    removed += this.fitSize();
    this.deleteInChunks('DELETE FROM feedback WHERE seq IN (SELECT seq FROM feedback WHERE at < ? LIMIT ?)', cutoff);
    this.deleteInChunks(
      'DELETE FROM resources WHERE rowid IN (SELECT rowid FROM resources WHERE at < ? LIMIT ?)',
      cutoff,
    );
    return removed;
  }

  /** Bytes of the file's pages in use (freed pages are kept in the file and reused by later inserts). */
  usedBytes(): number {
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    return (pages - free) * (this.db.pragma('page_size', { simple: true }) as number);
  }

  /**
   * Removes the oldest predictions until the used pages fit max bytes. Predictions are nearly all of
   * the file, so the share to remove is the excess over the average size of one; a second pass
   * takes what the estimate missed (the oldest may have kept fewer inputs than the average).
   */
  private fitSize(): number {
    let removed = 0;
    for (let pass = 0; pass < 4; pass++) {
      const used = this.usedBytes();
      if (used <= this.policy.maxBytes) break;
      const { count } = this.db.prepare('SELECT COUNT(*) AS count FROM predictions').get() as { count: number };
      if (count === 0) break;
      const excess = Math.min(count, Math.ceil(((used - this.policy.maxBytes) / used) * count));
      const bound = (
        this.db.prepare('SELECT seq FROM predictions ORDER BY seq LIMIT 1 OFFSET ?').get(excess - 1) as { seq: number }
      ).seq;
      removed += this.deleteInChunks(
        'DELETE FROM predictions WHERE seq IN (SELECT seq FROM predictions WHERE seq <= ? ORDER BY seq LIMIT ?)',
        bound,
      );
    }
    return removed;
  }

  /** Runs a `... < ? LIMIT ?` delete RETENTION_CHUNK rows at a time (one short transaction each); returns the total. */
  private deleteInChunks(sql: string, bound: number): number {
    const statement = this.db.prepare(sql);
    let total = 0;
    for (;;) {
      const changes = statement.run(bound, RETENTION_CHUNK).changes;
      total += changes;
      if (changes < RETENTION_CHUNK) return total;
    }
  }

  /** Records labels and business events (rows with a request id and any other fields); returns how many. */
  addFeedback(
    rows: readonly Record<string, unknown>[],
    options: { now: number; joinKey?: string; where?: string; lines?: readonly number[] },
  ): number {
    const statement = this.insertFeedback;
    if (!statement) throw new Error('The prediction log was opened read-only.');
    const joinKey = options.joinKey ?? 'request_id';
    const parsed = rows.map((row, index) => {
      const line = options.lines?.[index];
      const place =
        line !== undefined
          ? `${options.where ?? 'feedback'}:${line}`
          : `${options.where ?? 'feedback'}, row ${index + 1}`;
      return feedbackOf(row, place, joinKey, options.now);
    });
    this.db.transaction(() => {
      for (const row of parsed)
        statement.run(
          row.requestId,
          row.at,
          row.kind,
          row.label === null ? null : JSON.stringify(row.label),
          JSON.stringify(row.fields),
        );
    })();
    return parsed.length;
  }

  /** Records one CPU and memory sample of the server. */
  addResourceSample(sample: ResourceSample): void {
    this.db
      .prepare('INSERT INTO resources (at, cpu_percent, rss_bytes) VALUES (?, ?, ?)')
      .run(sample.at, sample.cpuPercent, sample.rssBytes);
  }

  /** Logged predictions of a window, oldest first, with their payloads. */
  predictions(query: WindowQuery = {}): LoggedPrediction[] {
    const { where, values } = windowClause(query);
    const limited = query.limit !== undefined;
    const sql = limited
      ? `SELECT * FROM (SELECT * FROM predictions ${where} ORDER BY seq DESC LIMIT ${Math.max(0, Math.floor(query.limit ?? 0))}) ORDER BY seq`
      : `SELECT * FROM predictions ${where} ORDER BY seq`;
    return (this.db.prepare(sql).all(...values) as PredictionRow[]).map(predictionOf);
  }

  /** The operational columns of the predictions of a window, oldest first. */
  summaries(query: WindowQuery = {}): RequestSummary[] {
    const { where, values } = windowClause(query);
    const rows = this.db
      .prepare(
        `SELECT request_id, at, arm, version, status, latency_ms, rows, fallback FROM predictions ${where} ORDER BY seq`,
      )
      .raw()
      .all(...values) as [string, number, string, string, number, number, number, number][];
    return rows.map(([requestId, at, arm, version, status, latencyMs, rowCount, fallback]) => ({
      requestId,
      at,
      arm,
      version,
      status,
      latencyMs,
      rows: rowCount,
      fallback: fallback === 1,
    }));
  }

  /** Feedback rows for the given request ids (all of them when ids is undefined), oldest first. */
  feedback(requestIds?: readonly string[]): FeedbackRow[] {
    if (requestIds === undefined)
      return (this.db.prepare('SELECT * FROM feedback ORDER BY at, seq').all() as FeedbackSqlRow[]).map(feedbackRowOf);
    const result: FeedbackRow[] = [];
    const statement = this.db.prepare('SELECT * FROM feedback WHERE request_id = ? ORDER BY seq');
    for (const id of new Set(requestIds))
      for (const row of statement.all(id) as FeedbackSqlRow[]) result.push(feedbackRowOf(row));
    return result.sort((a, b) => a.at - b.at);
  }

  /** Feedback rows of the requests of a window, by request id, each list oldest first. */
  feedbackOfWindow(query: WindowQuery = {}): Map<string, FeedbackRow[]> {
    const { where, values } = windowClause(query, 'p.');
    const rows = this.db
      .prepare(
        `SELECT * FROM feedback WHERE seq IN (SELECT f.seq FROM feedback f CROSS JOIN predictions p ON p.request_id = f.request_id ${where}) ORDER BY at, seq`,
      )
      .all(...values) as FeedbackSqlRow[];
    const byRequest = new Map<string, FeedbackRow[]>();
    for (const row of rows) {
      const list = byRequest.get(row.request_id) ?? [];
      list.push(feedbackRowOf(row));
      byRequest.set(row.request_id, list);
    }
    return byRequest;
  }

  /** The predictions of a window that have labels or events (inputs left out), each with its feedback rows, oldest first. */
  joined(query: WindowQuery = {}): { prediction: LoggedPrediction; feedback: FeedbackRow[] }[] {
    const { where: joinedWhere, values } = windowClause(query, 'p.');
    const predictions = (
      this.db
        .prepare(
          // From the feedback side: far fewer labels than predictions, each found by the request index.
          `SELECT seq, request_id, at, arm, version, protocol, status, latency_ms, rows, fallback, key, error, NULL AS input_names, NULL AS inputs, outputs
           FROM predictions WHERE seq IN (SELECT p.seq FROM feedback f CROSS JOIN predictions p ON p.request_id = f.request_id ${joinedWhere}) ORDER BY seq`,
        )
        .all(...values) as PredictionRow[]
    ).map(predictionOf);
    const byRequest = this.feedbackOfWindow(query);
    return predictions.map((prediction) => ({ prediction, feedback: byRequest.get(prediction.requestId) ?? [] }));
  }

  /**
   * The logged inputs of a window as columns, one value per row (answered requests only: no shadow
   * copies, no refused requests); with `lastRows`, only that many of the newest rows. Numeric
   * columns come back as Float64Array (NaN for missing), read straight from the stored blobs.
   */
  inputColumns(query: WindowQuery, lastRows?: number): Record<string, Float64Array | (number | string | null)[]> {
    const { where, values } = windowClause({ ...query, withInputs: true });
    const filter = `${where} AND arm != 'shadow' AND status < 400`;
    // The `at` index gives the order without a sort; requests are logged in arrival order.
    const sql =
      lastRows === undefined
        ? `SELECT rows, input_names, inputs FROM predictions ${filter} ORDER BY at`
        : `SELECT * FROM (SELECT at, seq, rows, input_names, inputs FROM predictions ${filter} ORDER BY at DESC LIMIT ${Math.max(0, Math.floor(lastRows))}) ORDER BY at, seq`;
    const rows = this.db.prepare(sql).all(...values) as {
      rows: number;
      input_names: string | null;
      inputs: Buffer | string;
    }[];
    let total = 0;
    let names: string | null = null;
    let uniform = true;
    for (const row of rows) {
      total += row.rows;
      if (typeof row.inputs === 'string' || !row.input_names) uniform = false;
      else if (names === null) names = row.input_names;
      else if (names !== row.input_names) uniform = false;
    }
    const skip = lastRows === undefined ? 0 : Math.max(0, total - lastRows);
    if (uniform && names !== null) {
      // Every request has the same numeric features: read the blobs straight into one array per feature.
      const features = JSON.parse(names) as string[];
      const columns = features.map(() => new Float64Array(total - skip));
      let position = -skip;
      for (const row of rows) {
        const blob = row.inputs as Buffer;
        const count = row.rows;
        for (let feature = 0; feature < features.length; feature++) {
          const column = columns[feature] as Float64Array;
          const base = feature * count * 8;
          for (let index = 0; index < count; index++)
            if (position + index >= 0) column[position + index] = blob.readDoubleLE(base + index * 8);
        }
        position += count;
      }
      return Object.fromEntries(features.map((feature, index) => [feature, columns[index] as Float64Array]));
    }
    const columns: Record<string, (number | string | null)[]> = {};
    let filled = 0;
    for (const row of rows) {
      const inputs = decodeInputs(row.input_names, row.inputs, row.rows) ?? {};
      for (const [name, columnValues] of Object.entries(inputs)) {
        const column = (columns[name] ??= new Array<number | string | null>(filled).fill(null));
        for (let index = 0; index < row.rows; index++) {
          const value = columnValues[index];
          column.push(typeof value === 'number' && Number.isNaN(value) ? null : (value ?? null));
        }
      }
      filled += row.rows;
      for (const column of Object.values(columns)) while (column.length < filled) column.push(null);
    }
    for (const name of Object.keys(columns)) columns[name] = (columns[name] ?? []).slice(skip);
    return columns;
  }

  /** Resource samples of a window, oldest first. */
  resources(from: number, to: number): ResourceSample[] {
    return (
      this.db
        .prepare('SELECT at, cpu_percent, rss_bytes FROM resources WHERE at >= ? AND at < ? ORDER BY at')
        .all(from, to) as { at: number; cpu_percent: number; rss_bytes: number }[]
    ).map((row) => ({ at: row.at, cpuPercent: row.cpu_percent, rssBytes: row.rss_bytes }));
  }

  /** How many of these request ids have a logged prediction. */
  matchingRequests(requestIds: readonly string[]): number {
    const statement = this.db.prepare('SELECT 1 FROM predictions WHERE request_id = ? LIMIT 1');
    let count = 0;
    for (const id of new Set(requestIds)) if (statement.get(id) !== undefined) count++;
    return count;
  }

  /** How many predictions the log holds. */
  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS count FROM predictions').get() as { count: number }).count;
  }

  /** Since when each alert rule's condition has held without firing yet (the `for` clock). */
  pendingSince(rule: string): number | null {
    const row = this.db.prepare('SELECT since FROM alert_pending WHERE rule = ?').get(rule) as
      { since: number } | undefined;
    return row?.since ?? null;
  }

  /** Starts (since = a time) or clears (null) the `for` clock of an alert rule. */
  setPending(rule: string, since: number | null): void {
    if (since === null) this.db.prepare('DELETE FROM alert_pending WHERE rule = ?').run(rule);
    else this.db.prepare('INSERT OR REPLACE INTO alert_pending (rule, since) VALUES (?, ?)').run(rule, since);
  }

  /** How far a label source file was read: byte offset and the number of lines before it. */
  labelSourcePosition(file: string): { offset: number; line: number } {
    const row = this.db.prepare('SELECT offset, line FROM label_sources WHERE path = ?').get(file) as
      { offset: number; line: number } | undefined;
    return row ?? { offset: 0, line: 0 };
  }

  /** Records how far a label source file was read. */
  setLabelSourcePosition(file: string, position: { offset: number; line: number }): void {
    this.db
      .prepare('INSERT OR REPLACE INTO label_sources (path, offset, line) VALUES (?, ?, ?)')
      .run(file, position.offset, position.line);
  }

  /** Flushes what is queued and closes the file. */
  /** Writes what is queued and closes; with a writer thread, resolves when it has finished. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flushQuietly();
    this.db.close();
    await this.writer?.close();
  }
}

/** The WHERE clause of a window; `table` prefixes the columns ("p.") inside a join. */
function windowClause(query: WindowQuery, table = ''): { where: string; values: (string | number)[] } {
  const conditions: string[] = [];
  const values: (string | number)[] = [];
  if (query.from !== undefined) {
    conditions.push(`${table}at >= ?`);
    values.push(query.from);
  }
  if (query.to !== undefined) {
    conditions.push(`${table}at < ?`);
    values.push(query.to);
  }
  if (query.version !== undefined) {
    conditions.push(`${table}version = ?`);
    values.push(query.version);
  }
  if (query.arm !== undefined) {
    conditions.push(`${table}arm = ?`);
    values.push(query.arm);
  }
  if (query.withInputs) conditions.push(`${table}inputs IS NOT NULL`);
  return { where: conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '', values };
}

interface FeedbackSqlRow {
  request_id: string;
  at: number;
  kind: string;
  label: string | null;
  fields: string;
}

function feedbackRowOf(row: FeedbackSqlRow): FeedbackRow {
  return {
    requestId: row.request_id,
    at: row.at,
    kind: row.kind === 'event' ? 'event' : 'label',
    label: row.label === null ? null : (JSON.parse(row.label) as FeedbackRow['label']),
    fields: JSON.parse(row.fields) as Record<string, unknown>,
  };
}

function predictionOf(row: PredictionRow): LoggedPrediction {
  return {
    seq: row.seq,
    requestId: row.request_id,
    at: row.at,
    arm: row.arm,
    version: row.version,
    protocol: row.protocol,
    status: row.status,
    latencyMs: row.latency_ms,
    rows: row.rows,
    fallback: row.fallback === 1,
    key: row.key,
    error: row.error,
    inputs: decodeInputs(row.input_names, row.inputs, row.rows),
    outputs: row.outputs === null ? null : (JSON.parse(row.outputs) as LoggedPrediction['outputs']),
  };
}
