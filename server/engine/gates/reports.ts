// Gate reports kept with tracked runs: when a run produces a model its pipeline declares, the gate's
// report (each criterion, its value, pass or fail) is stored against the run with the artifact's
// hash and the version it became, if any. The run also gets the tags `cairn.gate.<model>` (passed or
// failed) and, when registered, `cairn.model.<model>` (v<N>), so `exp list` can filter on them.
import type { Store } from '../store';
import { Tracker } from '../tracking/tracker';
import type { GateReport } from './evaluate';

export interface RunGateReport {
  model: string;
  /** md5 of the ONNX artifact that was judged. */
  md5: string;
  passed: boolean;
  /** The registered version, when the gate passed and the artifact was registered. */
  version: number | null;
  report: GateReport;
  createdAt: number;
}

interface ReportRow {
  model: string;
  md5: string;
  passed: number;
  version: number | null;
  report: string;
  created_at: number;
}

/** The tag that says whether a run's artifact passed the gate of `model`. */
export function gateTag(model: string): string {
  return `cairn.gate.${model}`;
}

/** The tag that names the version a run's artifact became. */
export function modelTag(model: string): string {
  return `cairn.model.${model}`;
}

/** Stores (or replaces) the gate report of `model` for the tracked run `runId`. */
export function recordGateReport(
  store: Store,
  runId: string,
  entry: Omit<RunGateReport, 'createdAt'>,
  now = Date.now(),
): void {
  const db = store.db;
  db.transaction(() => {
    const run = db.prepare('SELECT seq FROM tracked_runs WHERE id = ?').get(runId) as { seq: number } | undefined;
    if (!run) throw new Error(`No tracked run '${runId}' to store the gate report of ${entry.model} with.`);
    db.prepare(
      `INSERT INTO run_gate_reports (run, model, md5, passed, version, report, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (run, model) DO UPDATE SET md5 = excluded.md5, passed = excluded.passed, version = excluded.version,
         report = excluded.report, created_at = excluded.created_at`,
    ).run(run.seq, entry.model, entry.md5, entry.passed ? 1 : 0, entry.version, JSON.stringify(entry.report), now);
  }).immediate();
}

/** The gate reports stored with a tracked run, by model name. */
export function gateReportsOfRun(store: Store, runId: string): RunGateReport[] {
  const rows = store.db
    .prepare(
      `SELECT g.model, g.md5, g.passed, g.version, g.report, g.created_at FROM run_gate_reports g
       JOIN tracked_runs r ON r.seq = g.run WHERE r.id = ? ORDER BY g.model`,
    )
    .all(runId) as ReportRow[];
  return rows.map((row) => ({
    model: row.model,
    md5: row.md5,
    passed: row.passed === 1,
    version: row.version,
    report: JSON.parse(row.report) as GateReport,
    createdAt: row.created_at,
  }));
}

/** Whether some run already judged this artifact of `model` (so an unchanged artifact is not judged again). */
export function wasJudged(store: Store, model: string, md5: string): boolean {
  return (
    store.db.prepare('SELECT 1 FROM run_gate_reports WHERE model = ? AND md5 = ? LIMIT 1').get(model, md5) !== undefined
  );
}

/**
 * Keeps what a gate decided about a run's artifact with the run: the report, the tag
 * `cairn.gate.MODEL=passed|failed`, and `cairn.model.MODEL=vN` when it was registered.
 */
export function recordRunGate(
  store: Store,
  runId: string,
  entry: { model: string; md5: string; report: GateReport | null; version: number | null },
): void {
  const tags: Record<string, string> = {};
  if (entry.report) {
    recordGateReport(store, runId, {
      model: entry.model,
      md5: entry.md5,
      passed: entry.report.passed,
      version: entry.version,
      report: entry.report,
    });
    tags[gateTag(entry.model)] = entry.report.passed ? 'passed' : 'failed';
  }
  if (entry.version !== null) tags[modelTag(entry.model)] = `v${entry.version}`;
  Tracker.open(store).setTags(runId, tags);
}
