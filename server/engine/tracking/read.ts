// Reading tracked runs back: find a run by id, id prefix or name; everything recorded about one run
// (metric histories summarized); and the comparison of several runs against the first.
import type Database from 'better-sqlite3';
import type { Artifact, DatasetInput } from './tracker';
import type { RunEnvironment } from './environment';

export interface MetricSummary {
  key: string;
  latest: number;
  latestStep: number;
  count: number;
  min: number;
  max: number;
  firstStep: number;
  lastStep: number;
}

export interface RunDetail {
  id: string;
  name: string;
  experiment: string;
  parent: string | null;
  status: string;
  start_time: number;
  end_time: number | null;
  duration: number | null;
  git: { commit: string | null; branch: string | null; dirty: boolean | null; diffHash: string | null };
  environment: Partial<RunEnvironment>;
  note: string | null;
  params: Record<string, string>;
  metrics: MetricSummary[];
  tags: Record<string, string>;
  datasets: DatasetInput[];
  artifacts: Artifact[];
  children: string[];
}

export interface MetricPointRow {
  value: number;
  step: number;
  timestamp: number;
}

/** Why a run reference did not name exactly one run; the CLI shows it as a usage error. */
export class RunNotFound extends Error {}

/** The id of the run that `reference` names: a full id, a unique id prefix, or a unique run name. */
export function resolveRun(db: Database.Database, reference: string): string {
  const exact = db.prepare('SELECT id FROM tracked_runs WHERE id = ?').get(reference) as { id: string } | undefined;
  if (exact) return exact.id;
  const escaped = reference.replace(/[\\%_]/g, (char) => `\\${char}`);
  const matches = db
    .prepare(
      `SELECT id FROM tracked_runs WHERE id LIKE ? ESCAPE '\\'
       UNION SELECT id FROM tracked_runs WHERE name = ? LIMIT 6`,
    )
    .all(`${escaped}%`, reference) as { id: string }[];
  if (matches.length === 1 && matches[0]) return matches[0].id;
  if (matches.length === 0) throw new RunNotFound(`No run '${reference}': give a run id, an id prefix or a run name.`);
  throw new RunNotFound(
    `'${reference}' names several runs (${matches
      .slice(0, 5)
      .map((match) => match.id.slice(0, 12))
      .join(', ')}): give more of the id.`,
  );
}

function keyValues(db: Database.Database, table: 'run_params' | 'run_tags', run: number): Record<string, string> {
  const rows = db.prepare(`SELECT key, value FROM ${table} WHERE run = ? ORDER BY key`).all(run) as {
    key: string;
    value: string;
  }[];
  return Object.fromEntries(rows.map((row) => [row.key, row.value]));
}

/** Everything recorded about one run; undefined when there is no such run. */
export function runDetail(db: Database.Database, runId: string): RunDetail | undefined {
  const run = db
    .prepare(
      `SELECT r.*, e.name AS experiment FROM tracked_runs r JOIN experiments e ON e.id = r.experiment_id WHERE r.id = ?`,
    )
    .get(runId) as
    | {
        seq: number;
        id: string;
        name: string;
        experiment: string;
        parent_run_id: string | null;
        status: string;
        start_time: number;
        end_time: number | null;
        git_commit: string | null;
        git_branch: string | null;
        git_dirty: number | null;
        git_diff_hash: string | null;
        environment: string;
        note: string | null;
      }
    | undefined;
  if (!run) return undefined;
  const metrics = db
    .prepare(
      `SELECT l.key, l.value AS latest, l.step AS latestStep, h.count, h.min, h.max, h.firstStep, h.lastStep
       FROM latest_metrics l JOIN (
         SELECT key, COUNT(*) AS count, MIN(value) AS min, MAX(value) AS max, MIN(step) AS firstStep, MAX(step) AS lastStep
         FROM metric_history WHERE run = ? GROUP BY key
       ) h ON h.key = l.key
       WHERE l.run = ? ORDER BY l.key`,
    )
    .all(run.seq, run.seq) as MetricSummary[];
  return {
    id: run.id,
    name: run.name,
    experiment: run.experiment,
    parent: run.parent_run_id,
    status: run.status,
    start_time: run.start_time,
    end_time: run.end_time,
    duration: run.end_time === null ? null : run.end_time - run.start_time,
    git: {
      commit: run.git_commit,
      branch: run.git_branch,
      dirty: run.git_dirty === null ? null : run.git_dirty === 1,
      diffHash: run.git_diff_hash,
    },
    environment: JSON.parse(run.environment) as Partial<RunEnvironment>,
    note: run.note,
    params: keyValues(db, 'run_params', run.seq),
    metrics,
    tags: keyValues(db, 'run_tags', run.seq),
    datasets: db
      .prepare('SELECT name, version, digest FROM run_datasets WHERE run = ? ORDER BY name, version')
      .all(run.seq) as DatasetInput[],
    artifacts: db
      .prepare('SELECT path, md5, size FROM run_artifacts WHERE run = ? ORDER BY path')
      .all(run.seq) as Artifact[],
    children: (
      db.prepare('SELECT id FROM tracked_runs WHERE parent_run_id = ? ORDER BY start_time').all(runId) as {
        id: string;
      }[]
    ).map((row) => row.id),
  };
}

/** The history of one metric of a run, by step. */
export function metricHistory(db: Database.Database, runId: string, key: string): MetricPointRow[] {
  return db
    .prepare(
      'SELECT value, step, timestamp FROM metric_history WHERE run = (SELECT seq FROM tracked_runs WHERE id = ?) AND key = ? ORDER BY step, timestamp',
    )
    .all(runId, key) as MetricPointRow[];
}

export interface RunComparison {
  runs: { id: string; name: string; status: string }[];
  /** Params whose value differs between the runs (absent is null), then the ones all runs share. */
  params: { key: string; values: (string | null)[]; differs: boolean }[];
  /** Latest metric values, and each run's delta from the first run. */
  metrics: { key: string; values: (number | null)[]; deltas: (number | null)[] }[];
}

/** Param diff and metric deltas of `details`, against the first. */
export function compareRuns(details: RunDetail[]): RunComparison {
  const paramKeys = [...new Set(details.flatMap((detail) => Object.keys(detail.params)))].sort();
  const metricKeys = [...new Set(details.flatMap((detail) => detail.metrics.map((metric) => metric.key)))].sort();
  const params = paramKeys.map((key) => {
    const values = details.map((detail) => detail.params[key] ?? null);
    return { key, values, differs: values.some((value) => value !== values[0]) };
  });
  params.sort((a, b) => Number(b.differs) - Number(a.differs));
  const metrics = metricKeys.map((key) => {
    const values = details.map((detail) => detail.metrics.find((metric) => metric.key === key)?.latest ?? null);
    const base = values[0] ?? null;
    return { key, values, deltas: values.map((value) => (value === null || base === null ? null : value - base)) };
  });
  return {
    runs: details.map((detail) => ({ id: detail.id, name: detail.name, status: detail.status })),
    params,
    metrics,
  };
}

/**
 * The latest metrics of a run as one nested object (`holdout.auc` → {holdout: {auc}}), the shape a
 * gate reads; each dotted key is kept as well.
 */
export function nestedMetrics(db: Database.Database, runId: string): Record<string, unknown> {
  const nested: Record<string, unknown> = {};
  for (const metric of runDetail(db, runId)?.metrics ?? []) {
    const parts = metric.key.split('.');
    let node = nested;
    let ok = true;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      if (next === undefined) node[part] = {};
      else if (typeof next !== 'object') {
        ok = false;
        break;
      }
      node = node[part] as Record<string, unknown>;
    }
    const last = parts[parts.length - 1] as string;
    if (ok && !(last in node)) node[last] = metric.latest;
    nested[metric.key] ??= metric.latest;
  }
  return nested;
}
