// The prediction log's writer thread. The model server logs every request; SQLite's inserts of a
// busy server (tens of microseconds a row, and a transaction that holds the event loop for tens of
// milliseconds at each flush) cost the HTTP front a third of its CPU and its p99. So the server's
// PredictionLog hands each flush, already reduced to the insert's arguments, to a worker thread that
// owns a connection of its own to monitor.db (WAL: readers and the feedback writes of the front go
// on beside it) and writes it in one transaction. The thread is the CLI bundle itself started with
// LOG_WRITER_ARGUMENT, or logWriterMain.ts under tsx, as the model workers are (modelHost.ts).
//
// What is handed over and not yet written is counted: beyond MAX_QUEUED_BYTES the newest flushes are
// dropped and reported, rather than letting a slow disk grow the server's memory without end. A
// thread that exits by itself is started again with what it had not written (a flush it wrote but
// could not acknowledge is not written twice); after MAX_RESTARTS in a row the log stops, and says so.
import * as path from 'node:path';
import { parentPort, Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { workerCommand } from '../serving/modelHost';

/** The hidden argument of the `cairn` CLI bundle that makes a worker thread the log writer. */
export const LOG_WRITER_ARGUMENT = '__log-writer';

export const INSERT_PREDICTION_SQL = `INSERT INTO predictions (request_id, at, arm, version, protocol, status, latency_ms, rows, fallback, key, error, input_names, inputs, outputs)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** The arguments of one INSERT_PREDICTION_SQL, in its order. */
export type PredictionInsert = [
  requestId: string,
  at: number,
  arm: string,
  version: string,
  protocol: string,
  status: number,
  latencyMs: number,
  rows: number,
  fallback: 0 | 1,
  key: string | null,
  error: string | null,
  inputNames: string | null,
  inputs: Uint8Array | string | null,
  outputs: string | null,
];

/** Bytes handed over and not yet written beyond which new flushes are dropped. */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/** Dropped flushes are reported at most this often (the server flushes five times a second). */
const DROP_REPORT_MS = 10_000;

/** About what a row costs in memory: its inputs and outputs, and the rest. */
function rowBytes(row: PredictionInsert): number {
  const inputs = row[12];
  return (
    200 +
    (inputs === null ? 0 : typeof inputs === 'string' ? inputs.length * 2 : inputs.byteLength) +
    (row[13]?.length ?? 0) * 2
  );
}

type ToWriter =
  | { kind: 'open'; file: string }
  /** `again`: handed to a thread started after one exited, which may have written it before. */
  | { kind: 'insert'; id: number; rows: PredictionInsert[]; again?: boolean }
  | { kind: 'close' };
type FromWriter = { kind: 'written'; id: number } | { kind: 'failed'; id: number; message: string };

/** Restarts of a thread that exited by itself, in a row (without a flush written between), before giving up. */
const MAX_RESTARTS = 3;

/**
 * The server's side: hands rows to the thread and knows when they are in the file. A thread that
 * exits by itself (it could not open the file, or ran out of memory) is started again and given the
 * flushes it had not written, up to MAX_RESTARTS times in a row; then the log stops and says so.
 */
export class LogWriterThread {
  private worker: Worker;
  private nextId = 1;
  /** Flush id → its rows and bytes, for those handed over and not acknowledged yet. */
  private readonly pending = new Map<number, { rows: PredictionInsert[]; bytes: number }>();
  private queuedBytes = 0;
  private dropped = 0;
  /** Whether predictions were dropped since the last report. */
  private unreported = false;
  private closing = false;
  /** When a drop was last reported: at most one report per DROP_REPORT_MS, with the running total. */
  private reportedAt = -Infinity;
  private readonly waiters: (() => void)[] = [];
  private readonly exited: Promise<void>;
  private resolveExited: () => void = () => undefined;
  private gone = false;
  private restarts = 0;

  constructor(
    private readonly file: string,
    private readonly onError: (error: Error) => void,
    private readonly maxQueuedBytes = MAX_QUEUED_BYTES,
  ) {
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    this.worker = this.start();
  }

  /** Starts a thread, opens the file in it and hands it what is pending. */
  private start(): Worker {
    const command = workerCommand();
    const worker = command.module.endsWith('.ts')
      ? new Worker(path.join(__dirname, 'logWriterMain.ts'), { execArgv: command.execArgv })
      : new Worker(command.module, { argv: [LOG_WRITER_ARGUMENT] });
    worker.on('message', (message: FromWriter) => this.receive(message));
    worker.on('error', (error) => this.onError(new Error(`the log writer failed: ${error.message}`)));
    worker.once('exit', (code) => this.onExit(worker, code));
    worker.postMessage({ kind: 'open', file: this.file } satisfies ToWriter);
    for (const [id, flush] of this.pending)
      worker.postMessage({ kind: 'insert', id, rows: flush.rows, again: true } satisfies ToWriter);
    // The thread keeps the process alive only while rows wait to be written (and while closing); the
    // listeners above would ref it, so this comes after them.
    if (this.closing) worker.postMessage({ kind: 'close' } satisfies ToWriter);
    else if (this.pending.size === 0) worker.unref();
    return worker;
  }

  private onExit(worker: Worker, code: number): void {
    if (worker !== this.worker) return;
    // While closing, a thread that exited with flushes unwritten is started again to write them.
    if ((!this.closing || this.pending.size > 0) && this.restarts < MAX_RESTARTS) {
      this.restarts++;
      this.onError(
        new Error(
          `the log writer exited (code ${code}); it is started again (${this.restarts} of ${MAX_RESTARTS} in a row) ` +
            `with the ${this.pendingRows()} predictions it had not written`,
        ),
      );
      this.worker = this.start();
      return;
    }
    this.gone = true;
    const lost = this.pendingRows();
    if (!this.closing || lost > 0) {
      this.dropped += lost;
      this.reportDrops(
        this.closing
          ? `the log writer exited (code ${code}) before it had written everything`
          : `the log writer exited ${MAX_RESTARTS + 1} times in a row and is not started again`,
      );
    }
    for (const flush of this.pending.values()) this.queuedBytes -= flush.bytes;
    this.pending.clear();
    this.wake();
    this.resolveExited();
  }

  private pendingRows(): number {
    let rows = 0;
    for (const flush of this.pending.values()) rows += flush.rows.length;
    return rows;
  }

  /** Hands rows to the thread (dropped and reported when it is too far behind or gone). */
  write(rows: PredictionInsert[]): void {
    if (rows.length === 0) return;
    let bytes = 0;
    for (const row of rows) bytes += rowBytes(row);
    if (this.gone || (this.queuedBytes > 0 && this.queuedBytes + bytes > this.maxQueuedBytes)) {
      this.dropped += rows.length;
      this.unreported = true;
      const now = Date.now();
      if (now - this.reportedAt < DROP_REPORT_MS) return;
      this.reportDrops(
        this.gone
          ? 'the log writer has exited'
          : `the log writer is ${Math.round(this.queuedBytes / 1048576)} MB behind`,
      );
      return;
    }
    const id = this.nextId++;
    if (this.pending.size === 0) this.worker.ref();
    this.pending.set(id, { rows, bytes });
    this.queuedBytes += bytes;
    this.post({ kind: 'insert', id, rows });
  }

  /** Resolves when every row handed over so far is written (or has failed, which was reported). */
  settled(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    const last = this.nextId - 1;
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.gone || ![...this.pending.keys()].some((id) => id <= last)) resolve();
        else this.waiters.push(check);
      };
      check();
    });
  }

  /** Writes what was handed over, closes the connection and ends the thread. */
  async close(): Promise<void> {
    if (!this.gone) {
      this.closing = true;
      this.worker.ref();
      this.post({ kind: 'close' });
    }
    await this.exited;
  }

  private post(message: ToWriter): void {
    this.worker.postMessage(message);
  }

  private receive(message: FromWriter): void {
    const flush = this.pending.get(message.id);
    if (flush === undefined) return;
    this.pending.delete(message.id);
    this.queuedBytes -= flush.bytes;
    if (message.kind === 'failed')
      this.onError(new Error(`${flush.rows.length} predictions were not logged: ${message.message}`));
    else {
      this.restarts = 0;
      // Drops since the last report are reported once the writer keeps up again.
      if (this.unreported) this.reportDrops('the log writer has caught up');
    }
    if (this.pending.size === 0 && !this.closing) this.worker.unref();
    this.wake();
  }

  private reportDrops(state: string): void {
    this.reportedAt = Date.now();
    this.unreported = false;
    this.onError(new Error(`${state}; ${this.dropped} predictions were not logged so far`));
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

/** The thread's side: one connection, one transaction per flush, answered in order. */
export function runLogWriterThread(): Promise<number> {
  const port = parentPort;
  if (!port) throw new Error(`${LOG_WRITER_ARGUMENT} runs only as a worker thread of a deployment's server`);
  let db: Database.Database | null = null;
  let insert: Database.Statement | null = null;
  let written: Database.Statement | null = null;
  return new Promise((resolve) => {
    port.on('message', (message: ToWriter) => {
      if (message.kind === 'open') {
        db = new Database(message.file);
        db.pragma('busy_timeout = 5000');
        db.pragma('synchronous = NORMAL');
        insert = db.prepare(INSERT_PREDICTION_SQL);
        written = db.prepare('SELECT 1 FROM predictions WHERE request_id = ? AND at = ? AND arm = ? LIMIT 1');
        return;
      }
      if (message.kind === 'close') {
        db?.close();
        port.close();
        resolve(0);
        return;
      }
      try {
        if (!db || !insert || !written) throw new Error('the log is not open');
        const statement = insert;
        // A flush is one transaction: when its first row is in the file, so is the rest, and a thread
        // that exited after writing it (before it could say so) must not have it written twice.
        const [first] = message.rows;
        const done =
          message.again === true && first !== undefined && written.get(first[0], first[1], first[2]) !== undefined;
        if (!done)
          db.transaction(() => {
            for (const row of message.rows) {
              const inputs = row[12];
              // A Buffer arrives as a plain Uint8Array; better-sqlite3 binds Buffers as blobs.
              if (inputs instanceof Uint8Array && !Buffer.isBuffer(inputs))
                row[12] = Buffer.from(inputs.buffer, inputs.byteOffset, inputs.byteLength);
              statement.run(row);
            }
          })();
        port.postMessage({ kind: 'written', id: message.id } satisfies FromWriter);
      } catch (error) {
        port.postMessage({
          kind: 'failed',
          id: message.id,
          message: error instanceof Error ? error.message : String(error),
        } satisfies FromWriter);
      }
    });
  });
}
