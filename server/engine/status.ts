// `cairn status`: per stage, up to date or changed and why, never run, running, failed or frozen,
// with its last run. Reads the lock files and hashes through the stat cache, so an unchanged
// workspace answers without reading file contents.
import * as path from 'node:path';
import { ContentCache } from './cache';
import type { Decision } from './decide';
import { Hasher } from './hash';
import { isAlive } from './processes';
import { chooseStages, LockEntries, planStages, topologicalOrder } from './runner';
import { workspaceStages } from './stages';
import { Store } from './store';
import type { StageRunRow } from './store';

export type StageState = 'up-to-date' | 'changed' | 'never-run' | 'running' | 'failed' | 'cancelled' | 'frozen';

export interface StageStatusReport {
  name: string;
  address: string;
  state: StageState;
  reasons: string[];
  line: number;
  lastRun: {
    runId: string;
    status: string;
    exitCode: number | null;
    startedAt: number | null;
    endedAt: number | null;
    logPath: string | null;
  } | null;
}

export interface PipelineStatusReport {
  file: string;
  /** Problems that keep the file's stages from running ("line 12: ..."), as `cairn validate` reports them. */
  problems: string[];
  stages: StageStatusReport[];
}

export async function pipelineStatus(root: string, pipelineFiles: string[] = []): Promise<PipelineStatusReport[]> {
  const loaded = workspaceStages(root);
  const stages =
    pipelineFiles.length === 0
      ? chooseStages(loaded, {})
      : pipelineFiles.flatMap((file) => chooseStages(loaded, { pipelineFile: file }));
  const order = topologicalOrder(stages, loaded.upstream);
  const store = Store.open(root);
  try {
    const lastRuns = new Map<string, StageRunRow>();
    for (const row of store.lastStageRuns()) lastRuns.set(row.stage, row);
    const runsAlive = new Map<string, boolean>();
    const runAlive = (runId: string): boolean => {
      let alive = runsAlive.get(runId);
      if (alive === undefined) {
        const run = store.run(runId);
        alive = !!run && run.status === 'running' && isAlive(run.pid);
        runsAlive.set(runId, alive);
      }
      return alive;
    };
    const hasher = new Hasher(store);
    const cache = new ContentCache(root);
    const locks = new LockEntries(store);
    const decisions = await planStages(order, loaded.upstream, { root, hasher, cache, locks, force: false });
    const reports = new Map<string, PipelineStatusReport>();
    const reportOf = (pipelineFile: string): PipelineStatusReport => {
      const file = path.relative(root, pipelineFile).split(path.sep).join('/');
      let report = reports.get(file);
      if (!report) {
        report = { file, problems: [], stages: [] };
        reports.set(file, report);
      }
      return report;
    };
    for (const problem of loaded.problems) {
      if (pipelineFiles.length > 0 && !pipelineFiles.includes(problem.file)) continue;
      reportOf(problem.file).problems.push(`line ${problem.line}: ${problem.message}`);
    }
    for (const stage of order) {
      const decision = decisions.get(stage.address) as Decision;
      const locked = locks.of(stage);
      const last = lastRuns.get(stage.address) ?? null;
      let state: StageState;
      if (stage.frozen) state = 'frozen';
      else if (last?.status === 'running' && runAlive(last.run_id)) state = 'running';
      else if (decision.action === 'skip') state = 'up-to-date';
      else if (!locked && (!last || last.status === 'skipped')) state = 'never-run';
      else if (last?.status === 'failed') state = 'failed';
      else if (last?.status === 'cancelled' || (last?.status === 'running' && !runAlive(last.run_id)))
        state = 'cancelled';
      else state = 'changed';
      const report = reportOf(stage.pipelineFile);
      report.stages.push({
        name: stage.name,
        address: stage.address,
        state,
        reasons: state === 'failed' && last?.reason ? [last.reason, ...decision.reasons] : decision.reasons,
        line: stage.line,
        lastRun: last
          ? {
              runId: last.run_id,
              status: last.status,
              exitCode: last.exit_code,
              startedAt: last.started_at,
              endedAt: last.ended_at,
              logPath: last.log_path,
            }
          : null,
      });
    }
    hasher.flush();
    // Stages in file order, as the author wrote them.
    for (const report of reports.values()) report.stages.sort((a, b) => a.line - b.line);
    return [...reports.values()];
  } finally {
    store.close();
  }
}
