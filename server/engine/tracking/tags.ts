// Experiment summaries and tag removal: the small reads and writes the experiments table needs that
// the Tracker does not offer (the Tracker sets tags but never removes one).
import type Database from 'better-sqlite3';
import { TrackingError } from './tracker';

/** The tag that stars a run in the experiments table. */
export const STARRED_TAG = 'cairn.starred';

export interface ExperimentSummary {
  name: string;
  /** How many runs the experiment holds. */
  runs: number;
  /** Start time (epoch ms) of its newest run; null when it has none. */
  lastRunAt: number | null;
  /** How many of its runs are still running. */
  running: number;
}

/** Every experiment with its run counts, the most recently used first. */
export function experimentSummaries(db: Database.Database): ExperimentSummary[] {
  return db
    .prepare(
      `SELECT e.name, COUNT(r.seq) AS runs, MAX(r.start_time) AS lastRunAt,
         COALESCE(SUM(r.status = 'running'), 0) AS running
       FROM experiments e LEFT JOIN tracked_runs r ON r.experiment_id = e.id
       GROUP BY e.id
       ORDER BY lastRunAt IS NULL, lastRunAt DESC, e.created_at DESC, e.name`,
    )
    .all() as ExperimentSummary[];
}

/** Removes tags from a run and returns the keys it had; fails for an unknown run. */
export function deleteTags(db: Database.Database, runId: string, keys: readonly string[]): string[] {
  const remove = db.prepare('DELETE FROM run_tags WHERE run = ? AND key = ?');
  return db
    .transaction(() => {
      const row = db.prepare('SELECT seq FROM tracked_runs WHERE id = ?').get(runId) as { seq: number } | undefined;
      if (row === undefined) throw new TrackingError(`No run '${runId}'.`);
      return keys.filter((key) => remove.run(row.seq, key).changes > 0);
    })
    .immediate();
}

/** The tags of a run, by key. */
export function runTags(db: Database.Database, runId: string): Record<string, string> {
  const rows = db
    .prepare('SELECT key, value FROM run_tags WHERE run = (SELECT seq FROM tracked_runs WHERE id = ?) ORDER BY key')
    .all(runId) as { key: string; value: string }[];
  return Object.fromEntries(rows.map((row) => [row.key, row.value]));
}
