// The tracking API, after MLflow: experiments hold runs; a run logs write-once params, metric points
// (a history plus a latest-value table kept in step, for sorting), tags, dataset inputs and artifacts.
// Every write is one IMMEDIATE transaction, so concurrent writers queue on the store's busy timeout
// instead of failing when a read transaction would have to be upgraded.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { md5File } from '../hash';
import type Database from 'better-sqlite3';
import { Store } from '../store';
import type { RunSource } from './environment';

export type TrackedRunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** One metric point; step defaults to 0 and timestamp to now, as in MLflow. */
export interface MetricPoint {
  key: string;
  value: number;
  step?: number;
  timestamp?: number;
}

export interface DatasetInput {
  name: string;
  version: string;
  digest: string;
}

export interface Artifact {
  /** Relative to the workspace. */
  path: string;
  md5: string;
  size: number;
}

export interface StartRunOptions {
  experiment: string;
  name?: string;
  parentRunId?: string;
  note?: string;
  /** Git state and environment, usually `runSource(root)`; omitted, they are recorded as unknown. */
  source?: RunSource;
  startTime?: number;
}

/** A tracking call the caller got wrong (unknown run, a param logged twice with another value). */
export class TrackingError extends Error {}

export type ParamValue = string | number | boolean;

/** A param's value as text, and as a number when it reads as one (for numeric filters and sorts). */
export function paramNumber(value: string): number | null {
  if (value.trim() === '') return null;
  const number = Number(value);
  return Number.isFinite(number) ? number : null;
}

export class Tracker {
  private constructor(
    readonly store: Store,
    private readonly ownsStore: boolean,
  ) {}

  /** A tracker over an open store, or over the store of the workspace at `root` (closed by `close`). */
  static open(storeOrRoot: Store | string): Tracker {
    return typeof storeOrRoot === 'string'
      ? new Tracker(Store.open(storeOrRoot), true)
      : new Tracker(storeOrRoot, false);
  }

  close(): void {
    if (this.ownsStore) this.store.close();
  }

  private get db() {
    return this.store.db;
  }

  /** Creates an experiment; fails if the name is taken. */
  createExperiment(name: string, now = Date.now()): number {
    if (name.trim() === '') throw new TrackingError('An experiment needs a name.');
    const existing = this.experimentId(name);
    if (existing !== undefined) throw new TrackingError(`Experiment '${name}' already exists.`);
    return Number(
      this.db.prepare('INSERT INTO experiments (name, created_at) VALUES (?, ?)').run(name, now).lastInsertRowid,
    );
  }

  /** The id of the experiment named `name`, created if needed. */
  getOrCreateExperiment(name: string, now = Date.now()): number {
    if (name.trim() === '') throw new TrackingError('An experiment needs a name.');
    return this.db
      .transaction(() => {
        this.db
          .prepare('INSERT INTO experiments (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING')
          .run(name, now);
        return this.experimentId(name) ?? 0;
      })
      .immediate();
  }

  experimentId(name: string): number | undefined {
    const row = this.db.prepare('SELECT id FROM experiments WHERE name = ?').get(name) as { id: number } | undefined;
    return row?.id;
  }

  /** Starts a run in an experiment (created if needed) and returns its id. */
  startRun(options: StartRunOptions): string {
    const id = randomUUID().replace(/-/g, '');
    const startTime = options.startTime ?? Date.now();
    const git = options.source?.git;
    this.db
      .transaction(() => {
        if (options.parentRunId !== undefined) this.runSeq(options.parentRunId);
        const experimentId = this.getOrCreateExperiment(options.experiment, startTime);
        this.db
          .prepare(
            `INSERT INTO tracked_runs (id, experiment_id, parent_run_id, name, status, start_time, end_time, git_commit,
               git_branch, git_dirty, git_diff_hash, environment, note)
             VALUES (?, ?, ?, ?, 'running', ?, NULL, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            id,
            experimentId,
            options.parentRunId ?? null,
            options.name ?? id.slice(0, 8),
            startTime,
            git?.commit ?? null,
            git?.branch ?? null,
            git?.dirty === undefined || git.dirty === null ? null : git.dirty ? 1 : 0,
            git?.diffHash ?? null,
            JSON.stringify(options.source?.environment ?? {}),
            options.note ?? null,
          );
      })
      .immediate();
    return id;
  }

  /** Records how a run ended. */
  endRun(runId: string, status: Exclude<TrackedRunStatus, 'running'>, endTime = Date.now()): void {
    const result = this.db
      .prepare('UPDATE tracked_runs SET status = ?, end_time = ? WHERE id = ?')
      .run(status, endTime, runId);
    if (result.changes === 0) throw new TrackingError(`No run '${runId}'.`);
  }

  setNote(runId: string, note: string): void {
    const result = this.db.prepare('UPDATE tracked_runs SET note = ? WHERE id = ?').run(note, runId);
    if (result.changes === 0) throw new TrackingError(`No run '${runId}'.`);
  }

  /** The internal number of a run, which child rows point at; fails for an unknown run. */
  runSeq(runId: string): number {
    const row = this.db.prepare('SELECT seq FROM tracked_runs WHERE id = ?').get(runId) as { seq: number } | undefined;
    if (row === undefined) throw new TrackingError(`No run '${runId}'.`);
    return row.seq;
  }

  /** Logs params; a param is write-once: the same value again is fine, another value is an error. */
  logParams(runId: string, params: Record<string, ParamValue>): void {
    const select = this.db.prepare('SELECT value FROM run_params WHERE run = ? AND key = ?');
    const insert = this.db.prepare('INSERT INTO run_params (run, key, value, number) VALUES (?, ?, ?, ?)');
    this.db
      .transaction(() => {
        const run = this.runSeq(runId);
        for (const [key, raw] of Object.entries(params)) {
          const value = String(raw);
          const existing = select.get(run, key) as { value: string } | undefined;
          if (existing === undefined) insert.run(run, key, value, paramNumber(value));
          else if (existing.value !== value) {
            throw new TrackingError(
              `Param '${key}' of run ${runId} was already logged as '${existing.value}'; params are write-once, so it cannot become '${value}'.`,
            );
          }
        }
      })
      .immediate();
  }

  /** Logs a batch of metric points in one transaction and moves the latest value of each key. */
  logMetrics(runId: string, points: readonly MetricPoint[], now = Date.now()): void {
    if (points.length === 0) return;
    const latest = new Map<string, { value: number; step: number; timestamp: number }>();
    for (const point of points) {
      if (typeof point.value !== 'number' || Number.isNaN(point.value)) {
        throw new TrackingError(`Metric '${point.key}' needs a number, not ${JSON.stringify(point.value)}.`);
      }
      const step = point.step ?? 0;
      const timestamp = point.timestamp ?? now;
      const last = latest.get(point.key);
      if (!last || step > last.step || (step === last.step && timestamp >= last.timestamp)) {
        latest.set(point.key, { value: point.value, step, timestamp });
      }
    }
    this.db
      .transaction(() => {
        const run = this.runSeq(runId);
        this.insertHistory(run, points, now);
        this.moveLatest(run, latest);
      })
      .immediate();
  }

  /** Rows per INSERT of metric points: one statement per point would spend most of the time in calls. */
  private static readonly ROWS_PER_INSERT = 100;
  private insertMany: Database.Statement | undefined;

  private insertHistory(run: number, points: readonly MetricPoint[], now: number): void {
    const rows = Tracker.ROWS_PER_INSERT;
    this.insertMany ??= this.db.prepare(
      `INSERT INTO metric_history (run, key, value, step, timestamp) VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?)').join(', ')}`,
    );
    const insertOne = this.db.prepare(
      'INSERT INTO metric_history (run, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)',
    );
    const values: (string | number)[] = new Array<string | number>(rows * 5);
    let index = 0;
    for (; index + rows <= points.length; index += rows) {
      for (let offset = 0; offset < rows; offset++) {
        const point = points[index + offset]!;
        values[offset * 5] = run;
        values[offset * 5 + 1] = point.key;
        values[offset * 5 + 2] = point.value;
        values[offset * 5 + 3] = point.step ?? 0;
        values[offset * 5 + 4] = point.timestamp ?? now;
      }
      this.insertMany.run(values);
    }
    for (; index < points.length; index++) {
      const point = points[index]!;
      insertOne.run(run, point.key, point.value, point.step ?? 0, point.timestamp ?? now);
    }
  }

  /** Latest value per key: the highest step wins, then the latest timestamp (MLflow's rule). */
  private moveLatest(run: number, latest: Map<string, { value: number; step: number; timestamp: number }>): void {
    const upsert = this.db.prepare(
      `INSERT INTO latest_metrics (run, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (run, key) DO UPDATE SET value = excluded.value, step = excluded.step, timestamp = excluded.timestamp
       WHERE excluded.step > latest_metrics.step
          OR (excluded.step = latest_metrics.step AND excluded.timestamp >= latest_metrics.timestamp)`,
    );
    for (const [key, point] of latest) upsert.run(run, key, point.value, point.step, point.timestamp);
  }

  /** Sets tags (unlike params, a tag may change). */
  setTags(runId: string, tags: Record<string, string>): void {
    const upsert = this.db.prepare(
      'INSERT INTO run_tags (run, key, value) VALUES (?, ?, ?) ON CONFLICT (run, key) DO UPDATE SET value = excluded.value',
    );
    this.db
      .transaction(() => {
        const run = this.runSeq(runId);
        for (const [key, value] of Object.entries(tags)) upsert.run(run, key, String(value));
      })
      .immediate();
  }

  /** Records a dataset version the run read. */
  logDatasetInput(runId: string, input: DatasetInput): void {
    this.db
      .transaction(() => {
        this.db
          .prepare(
            `INSERT INTO run_datasets (run, name, version, digest) VALUES (?, ?, ?, ?)
             ON CONFLICT (run, name, version) DO UPDATE SET digest = excluded.digest`,
          )
          .run(this.runSeq(runId), input.name, input.version, input.digest);
      })
      .immediate();
  }

  /** Records an artifact with its hash and size. */
  logArtifact(runId: string, artifact: Artifact): void {
    this.db
      .transaction(() => {
        this.db
          .prepare(
            `INSERT INTO run_artifacts (run, path, md5, size) VALUES (?, ?, ?, ?)
             ON CONFLICT (run, path) DO UPDATE SET md5 = excluded.md5, size = excluded.size`,
          )
          .run(this.runSeq(runId), artifact.path, artifact.md5, artifact.size);
      })
      .immediate();
  }

  /** Hashes a file and records it as an artifact under `relativePath`. */
  async logArtifactFile(runId: string, absolutePath: string, relativePath: string): Promise<Artifact> {
    const artifact = { path: relativePath, md5: await md5File(absolutePath), size: fs.statSync(absolutePath).size };
    this.logArtifact(runId, artifact);
    return artifact;
  }
}
