// The workspace store `.cairn/cairn.db`: one SQLite file per workspace (better-sqlite3, WAL, a busy
// timeout) holding pipeline runs, stage runs, dataset versions, stream offsets, lineage edges and the
// stat cache that spares re-hashing unchanged files. Schema changes are versioned migrations, applied
// in order inside a transaction; `user_version` records the last one applied.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';

/** Each entry upgrades the schema by one version; never edit one that has shipped, add another. */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE pipeline_runs (
    id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    git_commit TEXT,
    git_dirty INTEGER,
    argv TEXT NOT NULL,
    pid INTEGER NOT NULL
  );
  CREATE TABLE stage_runs (
    run_id TEXT NOT NULL REFERENCES pipeline_runs(id),
    stage TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    started_at INTEGER,
    ended_at INTEGER,
    exit_code INTEGER,
    log_path TEXT,
    cmd TEXT,
    deps TEXT,
    outs TEXT,
    params TEXT,
    PRIMARY KEY (run_id, stage)
  );
  CREATE INDEX stage_runs_by_stage ON stage_runs(stage, started_at);
  CREATE TABLE dataset_versions (
    dataset TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    md5 TEXT NOT NULL,
    size INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    schema TEXT NOT NULL,
    profile TEXT NOT NULL,
    window_start TEXT,
    window_end TEXT,
    PRIMARY KEY (dataset, version)
  );
  CREATE TABLE stream_offsets (
    dataset TEXT PRIMARY KEY,
    offset INTEGER NOT NULL,
    pending TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE lineage_edges (
    run_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    md5 TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX lineage_by_name ON lineage_edges(name, created_at);
  CREATE INDEX lineage_by_run ON lineage_edges(run_id, stage);
  CREATE TABLE stat_cache (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns TEXT NOT NULL,
    inode TEXT NOT NULL,
    md5 TEXT NOT NULL
  );
  `,
  `
  CREATE TABLE lock_cache (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns TEXT NOT NULL,
    inode TEXT NOT NULL,
    json TEXT NOT NULL
  );
  `,
  // Experiment tracking (server/engine/tracking/): experiments, their runs, write-once params, metric
  // histories with a latest-value table for sorting, tags, dataset inputs, artifacts, live offsets.
  // Child rows point at a run by its integer `seq` (small, fast indexes); `id` is the public run id.
  // metric_history has no foreign key: it takes millions of rows, and the Tracker checks the run once
  // per batch instead of once per point.
  `
  CREATE TABLE experiments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE tracked_runs (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    parent_run_id TEXT REFERENCES tracked_runs(id),
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time INTEGER NOT NULL,
    end_time INTEGER,
    git_commit TEXT,
    git_branch TEXT,
    git_dirty INTEGER,
    git_diff_hash TEXT,
    environment TEXT NOT NULL DEFAULT '{}',
    note TEXT
  );
  CREATE INDEX tracked_runs_by_experiment ON tracked_runs(experiment_id, start_time);
  CREATE INDEX tracked_runs_by_start ON tracked_runs(start_time);
  CREATE INDEX tracked_runs_by_parent ON tracked_runs(parent_run_id);
  CREATE TABLE run_params (
    run INTEGER NOT NULL REFERENCES tracked_runs(seq),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    number REAL,
    PRIMARY KEY (run, key)
  ) WITHOUT ROWID;
  CREATE INDEX run_params_by_value ON run_params(key, value);
  CREATE INDEX run_params_by_number ON run_params(key, number, value);
  CREATE TABLE metric_history (
    run INTEGER NOT NULL,
    key TEXT NOT NULL,
    value REAL NOT NULL,
    step INTEGER NOT NULL,
    timestamp INTEGER NOT NULL
  );
  CREATE INDEX metric_history_by_run ON metric_history(run, key, step);
  CREATE TABLE latest_metrics (
    run INTEGER NOT NULL REFERENCES tracked_runs(seq),
    key TEXT NOT NULL,
    value REAL NOT NULL,
    step INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    PRIMARY KEY (run, key)
  ) WITHOUT ROWID;
  CREATE INDEX latest_metrics_by_value ON latest_metrics(key, value);
  CREATE TABLE run_tags (
    run INTEGER NOT NULL REFERENCES tracked_runs(seq),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run, key)
  ) WITHOUT ROWID;
  CREATE INDEX run_tags_by_value ON run_tags(key, value);
  CREATE TABLE run_datasets (
    run INTEGER NOT NULL REFERENCES tracked_runs(seq),
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (run, name, version)
  ) WITHOUT ROWID;
  CREATE TABLE run_artifacts (
    run INTEGER NOT NULL REFERENCES tracked_runs(seq),
    path TEXT NOT NULL,
    md5 TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (run, path)
  ) WITHOUT ROWID;
  CREATE TABLE live_metric_offsets (
    run INTEGER NOT NULL REFERENCES tracked_runs(seq),
    path TEXT NOT NULL,
    offset INTEGER NOT NULL,
    line INTEGER NOT NULL,
    PRIMARY KEY (run, path)
  ) WITHOUT ROWID;
  `,
  // Model registry (server/engine/registry/): models, versions with their ONNX signature, metrics and
  // gate report, aliases that move atomically, and the audit log of every change.
  `
  CREATE TABLE models (
    name TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE model_versions (
    model TEXT NOT NULL REFERENCES models(name),
    version INTEGER NOT NULL,
    md5 TEXT NOT NULL,
    size INTEGER NOT NULL,
    signature TEXT NOT NULL,
    source_path TEXT,
    run_id TEXT,
    pipeline TEXT,
    datasets TEXT NOT NULL DEFAULT '[]',
    metrics TEXT,
    gate_report TEXT,
    description TEXT,
    tags TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    approved INTEGER NOT NULL DEFAULT 0,
    approved_by TEXT,
    approved_at INTEGER,
    PRIMARY KEY (model, version)
  );
  CREATE UNIQUE INDEX model_versions_by_md5 ON model_versions(model, md5);
  CREATE TABLE model_aliases (
    model TEXT NOT NULL,
    alias TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (model, alias),
    FOREIGN KEY (model, version) REFERENCES model_versions(model, version)
  );
  CREATE TABLE model_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    model TEXT NOT NULL,
    version INTEGER,
    action TEXT NOT NULL CHECK (action IN ('register', 'alias', 'unalias', 'approve', 'tag')),
    from_value TEXT,
    to_value TEXT,
    actor TEXT NOT NULL,
    reason TEXT
  );
  CREATE INDEX model_audit_by_model ON model_audit(model, id);
  `,
  // The gate reports of tracked runs (server/engine/gates/reports.ts): a run that produced a
  // declared model keeps each gate's report with the artifact's hash, so a later run knows that
  // artifact was judged. Runs sort by name from an index, within an experiment or across all, so
  // `exp list --sort name` reads one page instead of sorting every run.
  `
  CREATE TABLE run_gate_reports (
    run INTEGER NOT NULL REFERENCES tracked_runs(seq),
    model TEXT NOT NULL,
    md5 TEXT NOT NULL,
    passed INTEGER NOT NULL,
    version INTEGER,
    report TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run, model)
  ) WITHOUT ROWID;
  CREATE INDEX run_gate_reports_by_artifact ON run_gate_reports(model, md5);
  CREATE INDEX tracked_runs_by_name ON tracked_runs(name);
  CREATE INDEX tracked_runs_by_experiment_name ON tracked_runs(experiment_id, name);
  `,
  // Deployments (server/engine/deploy): what each model server serves and how traffic is split, so
  // a restarted server resumes where it was; the events of each (deploys, rollout steps, promotions,
  // rollbacks with their reason, hot swaps, retrains); the alerts the monitor raised; and the retrains
  // the loop proposed or ran. High-volume prediction logs live in a file of their own per deployment
  // (server/engine/monitor/log.ts), not here.
  `
  CREATE TABLE deployments (
    name TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    status TEXT NOT NULL,
    pid INTEGER,
    host TEXT,
    port INTEGER,
    state TEXT NOT NULL,
    started_at INTEGER,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE deployment_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment TEXT NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    detail TEXT,
    actor TEXT
  );
  CREATE INDEX deployment_events_by_deployment ON deployment_events(deployment, id);
  CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    condition TEXT NOT NULL,
    value REAL,
    message TEXT NOT NULL,
    runbook TEXT,
    actions TEXT,
    fired_at INTEGER NOT NULL,
    resolved_at INTEGER,
    acknowledged_at INTEGER
  );
  CREATE INDEX alerts_by_deployment ON alerts(deployment, id);
  CREATE TABLE retrains (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment TEXT NOT NULL,
    alert INTEGER,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    experiment TEXT NOT NULL,
    run_id TEXT,
    model TEXT,
    version INTEGER,
    detail TEXT,
    proposed_at INTEGER NOT NULL,
    approved_by TEXT,
    started_at INTEGER,
    ended_at INTEGER
  );
  CREATE INDEX retrains_by_deployment ON retrains(deployment, id);
  `,
];

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';
export type StageStatus = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'skipped' | 'restored' | 'blocked';

export interface PipelineRunRow {
  id: string;
  pipeline: string;
  status: RunStatus;
  started_at: number;
  ended_at: number | null;
  git_commit: string | null;
  git_dirty: number | null;
  argv: string;
  pid: number;
}

export interface StageRunRow {
  run_id: string;
  stage: string;
  status: StageStatus;
  reason: string | null;
  started_at: number | null;
  ended_at: number | null;
  exit_code: number | null;
  log_path: string | null;
  cmd: string | null;
  /** JSON: [{path, md5, size}] */
  deps: string | null;
  outs: string | null;
  /** JSON: {key: value} */
  params: string | null;
}

export interface DatasetVersionRow {
  dataset: string;
  version: number;
  created_at: number;
  source: string;
  path: string;
  md5: string;
  size: number;
  rows: number;
  /** JSON */
  schema: string;
  /** JSON */
  profile: string;
  window_start: string | null;
  window_end: string | null;
}

export interface LineageEdgeRow {
  run_id: string;
  stage: string;
  direction: 'in' | 'out';
  /** 'file' | 'param' | 'code' | 'dataset' */
  kind: string;
  name: string;
  md5: string | null;
  created_at: number;
}

export interface StatEntry {
  size: number;
  mtimeNs: string;
  inode: string;
  md5: string;
}

/** The folder of Cairn's own state in a workspace. */
export function stateDir(root: string): string {
  return path.join(root, '.cairn');
}

export class Store {
  private constructor(readonly db: Database.Database) {}

  /** Opens (creating if needed) the store of the workspace at `root`, migrated to the latest schema. */
  static open(root: string): Store {
    const dir = stateDir(root);
    fs.mkdirSync(dir, { recursive: true });
    const db = new Database(path.join(dir, 'cairn.db'));
    db.pragma('busy_timeout = 10000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    const store = new Store(db);
    store.migrate();
    return store;
  }

  private migrate(): void {
    // Each step reads the version inside its own write transaction, so two processes opening a new
    // store at the same moment apply every migration once.
    for (;;) {
      const applied = this.db
        .transaction(() => {
          const current = this.db.pragma('user_version', { simple: true }) as number;
          if (current > MIGRATIONS.length) {
            throw new Error(
              `.cairn/cairn.db was written by a newer Cairn (schema ${current}, this one knows ${MIGRATIONS.length}): upgrade Cairn.`,
            );
          }
          if (current === MIGRATIONS.length) return false;
          this.db.exec(MIGRATIONS[current] ?? '');
          this.db.pragma(`user_version = ${current + 1}`);
          return true;
        })
        .immediate();
      if (!applied) return;
    }
  }

  close(): void {
    this.db.close();
  }

  // Pipeline runs -------------------------------------------------------------------------------

  insertRun(row: PipelineRunRow): void {
    this.db
      .prepare(
        `INSERT INTO pipeline_runs (id, pipeline, status, started_at, ended_at, git_commit, git_dirty, argv, pid)
         VALUES (@id, @pipeline, @status, @started_at, @ended_at, @git_commit, @git_dirty, @argv, @pid)`,
      )
      .run(row);
  }

  finishRun(id: string, status: RunStatus, endedAt: number): void {
    this.db.prepare('UPDATE pipeline_runs SET status = ?, ended_at = ? WHERE id = ?').run(status, endedAt, id);
  }

  run(id: string): PipelineRunRow | undefined {
    return this.db.prepare('SELECT * FROM pipeline_runs WHERE id = ?').get(id) as PipelineRunRow | undefined;
  }

  runs(limit = 50): PipelineRunRow[] {
    return this.db
      .prepare('SELECT * FROM pipeline_runs ORDER BY started_at DESC LIMIT ?')
      .all(limit) as PipelineRunRow[];
  }

  /** Runs left 'running' by a process that no longer exists are recorded as cancelled. */
  reapOrphanRuns(isAlive: (pid: number) => boolean, now: number): number {
    const orphans = (
      this.db.prepare("SELECT id, pid FROM pipeline_runs WHERE status = 'running'").all() as {
        id: string;
        pid: number;
      }[]
    ).filter((row) => !isAlive(row.pid));
    const reap = this.db.transaction(() => {
      for (const orphan of orphans) {
        this.db.prepare("UPDATE pipeline_runs SET status = 'cancelled', ended_at = ? WHERE id = ?").run(now, orphan.id);
        this.db
          .prepare("UPDATE stage_runs SET status = 'cancelled', ended_at = ? WHERE run_id = ? AND status = 'running'")
          .run(now, orphan.id);
      }
    });
    reap();
    return orphans.length;
  }

  // Stage runs ----------------------------------------------------------------------------------

  upsertStageRun(row: StageRunRow): void {
    this.db
      .prepare(
        `INSERT INTO stage_runs (run_id, stage, status, reason, started_at, ended_at, exit_code, log_path, cmd, deps, outs, params)
         VALUES (@run_id, @stage, @status, @reason, @started_at, @ended_at, @exit_code, @log_path, @cmd, @deps, @outs, @params)
         ON CONFLICT (run_id, stage) DO UPDATE SET status = excluded.status, reason = excluded.reason,
           started_at = excluded.started_at, ended_at = excluded.ended_at, exit_code = excluded.exit_code,
           log_path = excluded.log_path, cmd = excluded.cmd, deps = excluded.deps, outs = excluded.outs,
           params = excluded.params`,
      )
      .run(row);
  }

  stageRuns(runId: string): StageRunRow[] {
    return this.db.prepare('SELECT * FROM stage_runs WHERE run_id = ? ORDER BY started_at').all(runId) as StageRunRow[];
  }

  /** The most recent run of each stage of a pipeline file (stage names are prefixed by the file). */
  lastStageRuns(): StageRunRow[] {
    return this.db
      .prepare(
        `SELECT s.* FROM stage_runs s
         JOIN (SELECT stage, MAX(COALESCE(started_at, 0)) AS latest FROM stage_runs GROUP BY stage) l
           ON s.stage = l.stage AND COALESCE(s.started_at, 0) = l.latest`,
      )
      .all() as StageRunRow[];
  }

  // Dataset versions ----------------------------------------------------------------------------

  /** Records a new version of a dataset and returns its number (1, 2, ...). */
  addDatasetVersion(row: Omit<DatasetVersionRow, 'version'>): number {
    const add = this.db.transaction(() => {
      const last = this.db
        .prepare('SELECT MAX(version) AS version FROM dataset_versions WHERE dataset = ?')
        .get(row.dataset) as { version: number | null };
      const version = (last.version ?? 0) + 1;
      this.db
        .prepare(
          `INSERT INTO dataset_versions (dataset, version, created_at, source, path, md5, size, rows, schema, profile, window_start, window_end)
           VALUES (@dataset, @version, @created_at, @source, @path, @md5, @size, @rows, @schema, @profile, @window_start, @window_end)`,
        )
        .run({ ...row, version });
      return version;
    });
    return add.immediate();
  }

  datasetVersions(dataset: string): DatasetVersionRow[] {
    return this.db
      .prepare('SELECT * FROM dataset_versions WHERE dataset = ? ORDER BY version')
      .all(dataset) as DatasetVersionRow[];
  }

  datasetVersion(dataset: string, version: number): DatasetVersionRow | undefined {
    return this.db.prepare('SELECT * FROM dataset_versions WHERE dataset = ? AND version = ?').get(dataset, version) as
      DatasetVersionRow | undefined;
  }

  // Stream offsets ------------------------------------------------------------------------------

  streamOffset(dataset: string): { offset: number; pending: string } {
    const row = this.db.prepare('SELECT offset, pending FROM stream_offsets WHERE dataset = ?').get(dataset) as
      { offset: number; pending: string } | undefined;
    return row ?? { offset: 0, pending: '' };
  }

  /** Run `work` and save the new offset in one transaction, so a batch and its offset commit together. */
  commitStream<T>(dataset: string, offset: number, pending: string, work: () => T): T {
    const commit = this.db.transaction(() => {
      const result = work();
      this.db
        .prepare(
          `INSERT INTO stream_offsets (dataset, offset, pending, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (dataset) DO UPDATE SET offset = excluded.offset, pending = excluded.pending, updated_at = excluded.updated_at`,
        )
        .run(dataset, offset, pending, Date.now());
      return result;
    });
    return commit.immediate();
  }

  // Lineage -------------------------------------------------------------------------------------

  addLineage(edges: LineageEdgeRow[]): void {
    const insert = this.db.prepare(
      `INSERT INTO lineage_edges (run_id, stage, direction, kind, name, md5, created_at)
       VALUES (@run_id, @stage, @direction, @kind, @name, @md5, @created_at)`,
    );
    this.db.transaction(() => {
      for (const edge of edges) insert.run(edge);
    })();
  }

  /** Edges of the latest run that produced (direction 'out') or consumed ('in') `name`. */
  lineageOf(name: string, direction: 'in' | 'out'): LineageEdgeRow[] {
    return this.db
      .prepare('SELECT * FROM lineage_edges WHERE name = ? AND direction = ? ORDER BY created_at DESC')
      .all(name, direction) as LineageEdgeRow[];
  }

  lineageOfStageRun(runId: string, stage: string): LineageEdgeRow[] {
    return this.db
      .prepare('SELECT * FROM lineage_edges WHERE run_id = ? AND stage = ?')
      .all(runId, stage) as LineageEdgeRow[];
  }

  allLineage(): LineageEdgeRow[] {
    return this.db.prepare('SELECT * FROM lineage_edges ORDER BY created_at').all() as LineageEdgeRow[];
  }

  // Parsed lock files --------------------------------------------------------------------------

  /** The parsed lock file remembered for this path, if the file still has that size, mtime and inode. */
  cachedLock(file: string, size: number, mtimeNs: string, inode: string): string | undefined {
    const row = this.db.prepare('SELECT size, mtime_ns, inode, json FROM lock_cache WHERE path = ?').get(file) as
      { size: number; mtime_ns: string; inode: string; json: string } | undefined;
    return row && row.size === size && row.mtime_ns === mtimeNs && row.inode === inode ? row.json : undefined;
  }

  saveLock(file: string, size: number, mtimeNs: string, inode: string, json: string): void {
    this.db
      .prepare(
        `INSERT INTO lock_cache (path, size, mtime_ns, inode, json) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode, json = excluded.json`,
      )
      .run(file, size, mtimeNs, inode, json);
  }

  // Stat cache ----------------------------------------------------------------------------------

  /** The whole stat cache, for lookups without a query per file. */
  statCache(): Map<string, StatEntry> {
    const rows = this.db.prepare('SELECT path, size, mtime_ns, inode, md5 FROM stat_cache').all() as {
      path: string;
      size: number;
      mtime_ns: string;
      inode: string;
      md5: string;
    }[];
    return new Map(
      rows.map((row) => [row.path, { size: row.size, mtimeNs: row.mtime_ns, inode: row.inode, md5: row.md5 }]),
    );
  }

  saveStats(entries: Iterable<[string, StatEntry]>): void {
    const upsert = this.db.prepare(
      `INSERT INTO stat_cache (path, size, mtime_ns, inode, md5) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode, md5 = excluded.md5`,
    );
    this.db.transaction(() => {
      for (const [file, entry] of entries) upsert.run(file, entry.size, entry.mtimeNs, entry.inode, entry.md5);
    })();
  }
}
