// A sweep: the trials of an experiment file, each a pipeline run in its own working copy with the
// sampled params written into it, tracked as a child run of the sweep's run. Trials run `parallel`
// at a time until the trial or time budget is spent or the grid is exhausted; a trial whose
// intermediate metric falls below the median of earlier trials is pruned; the best trial's model is
// registered behind the gate. Everything the sampler learns from is in the store, so an interrupted
// sweep resumes where it stopped: finished trials are kept and interrupted ones run again with the
// same params and numbers, which with one trial at a time gives exactly the trials an uninterrupted
// sweep would have run.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ContentCache } from '../cache';
import { defaultDirection } from '../gates/criteria';
import type { GateReport } from '../gates/evaluate';
import { recordRunGate } from '../gates/reports';
import { registerWithGate } from '../registry/register';
import { APPROVAL_TAG, Registry } from '../registry/registry';
import { readModels } from '../registry/spec';
import { isAlive } from '../processes';
import { PipelineError, runPipeline, selectStages } from '../runner';
import type { RunEvent } from '../runner';
import { workspaceStages } from '../stages';
import { Store } from '../store';
import { runSource } from '../tracking/environment';
import { pointsOfLine } from '../tracking/live';
import { metricHistory, nestedMetrics, runDetail } from '../tracking/read';
import { Tracker } from '../tracking/tracker';
import { shouldPrune } from '../tune/prune';
import { gridSampler, randomSampler } from '../tune/samplers';
import type { CompletedTrial, Sampler } from '../tune/samplers';
import type { Params } from '../tune/space';
import { bestTrial, parameterImportance } from '../tune/study';
import { tpeSampler } from '../tune/tpe';
import { applyParams, createWorkingCopy, removeWorkingCopy, workingCopiesDir } from '../workingCopy';
import { ExperimentSpecError, readExperiment, spaceKeyLocation } from './spec';
import type { ExperimentSpec } from './spec';

export type TrialState = 'complete' | 'pruned' | 'failed' | 'interrupted';

export interface TrialSummary {
  number: number;
  runId: string | null;
  params: Params;
  state: TrialState;
  value: number | null;
  reason?: string;
}

export type SweepEvent =
  | {
      event: 'sweep-start';
      sweepRunId: string;
      experiment: string;
      strategy: string;
      /** The trial budget (null: only a time budget or the grid's size). */
      trials: number | null;
      parallel: number;
      objective: { metric: string; direction: 'minimize' | 'maximize' } | null;
      resumed: boolean;
      /** Trials already finished by an earlier session of this sweep. */
      finished: number;
    }
  | { event: 'trial-start'; number: number; params: Params }
  | ({ event: 'trial-end'; durationMs: number } & TrialSummary)
  | { event: 'warning'; message: string }
  | {
      event: 'sweep-end';
      sweepRunId: string;
      status: 'succeeded' | 'failed' | 'cancelled';
      stoppedBy: 'trials' | 'time' | 'exhausted' | 'failures' | 'cancelled';
      best: { number: number; runId: string | null; params: Params; value: number } | null;
      importance: Record<string, number>;
      counts: Record<TrialState, number>;
      registered: { model: string; version: number; status: 'created' | 'existing'; alias?: string } | null;
      gate: GateReport | null;
      /** Why nothing was registered, when the experiment asks for registration. */
      notRegistered?: string;
    };

export interface SweepOptions {
  root: string;
  /** Absolute path of the experiment file. */
  file: string;
  /** Overrides of the experiment's budget and parallelism. */
  trials?: number;
  parallel?: number;
  /** Stage jobs per trial; default the cores shared among the parallel trials. */
  jobs?: number;
  /** Start a new sweep even when an interrupted one of the same experiment could resume. */
  restart?: boolean;
  /** Keep every trial's working copy (under .cairn/worktrees) instead of removing it. */
  keep?: boolean;
  signal?: AbortSignal;
  onEvent?: (event: SweepEvent) => void;
  now?: () => number;
}

export interface SweepResult {
  sweepRunId: string;
  status: 'succeeded' | 'failed' | 'cancelled';
  trials: TrialSummary[];
  best: TrialSummary | null;
  importance: Record<string, number>;
}

/** Another process is running this sweep now. */
export class SweepBusy extends Error {}

const TAG = {
  sweep: 'cairn.sweep',
  digest: 'cairn.sweep.digest',
  done: 'cairn.sweep.done',
  pid: 'cairn.sweep.pid',
  strategy: 'cairn.sweep.strategy',
  objective: 'cairn.objective',
  direction: 'cairn.direction',
  bestRun: 'cairn.best_run',
  bestTrial: 'cairn.best_trial',
  trial: 'cairn.trial',
  trialParams: 'cairn.trial_params',
  trialState: 'cairn.trial_state',
  objectiveValue: 'cairn.objective_value',
} as const;

const DEFAULT_TRIALS = 10;
const POLL_MS = 200;

/** Runs (or resumes) the sweep of an experiment file. Bad input throws ExperimentSpecError or PipelineError. */
export async function runSweep(options: SweepOptions): Promise<SweepResult> {
  const { root } = options;
  const emit = options.onEvent ?? (() => undefined);
  const now = options.now ?? Date.now;
  const spec = readExperiment(options.file, root);
  checkSpec(spec, root);
  const parallel = Math.max(1, options.parallel ?? spec.parallel);
  const jobs = options.jobs ?? Math.max(1, Math.floor(os.availableParallelism() / parallel));
  const sampler = samplerOf(spec);
  const budget = options.trials ?? spec.budget.trials ?? (spec.search ? undefined : 1);
  const trialBudget =
    budget ??
    (sampler.name === 'grid'
      ? (sampler as Sampler & { size: number }).size
      : spec.budget.timeMs
        ? Infinity
        : DEFAULT_TRIALS);
  const direction = spec.objective?.direction ?? 'maximize';
  const relativePipeline = path.relative(root, spec.pipelineFile);
  // The pruned metric may not be the objective (a training loss while the objective is an AUC).
  const pruneDirection =
    spec.pruning && spec.pruning.metric !== spec.objective?.metric ? defaultDirection(spec.pruning.metric) : direction;

  const store = Store.open(root);
  const tracker = Tracker.open(store);
  try {
    if (options.restart) abandonUnfinished(store, spec);
    const previous = options.restart ? undefined : resumable(store, spec);
    if (previous?.busyPid !== undefined) {
      throw new SweepBusy(
        `The sweep of ${spec.name} is already running (process ${previous.busyPid}). Wait for it, or stop it first.`,
      );
    }
    const sweepRunId =
      previous?.runId ??
      tracker.startRun({
        experiment: spec.name,
        name: `sweep-${stamp(now())}`,
        source: runSource(root),
        startTime: now(),
      });
    if (previous) reopen(store, sweepRunId);
    tracker.setTags(sweepRunId, {
      [TAG.sweep]: path.relative(root, spec.file).split(path.sep).join('/'),
      [TAG.digest]: spec.digest,
      [TAG.pid]: String(process.pid),
      [TAG.strategy]: sampler.name,
      ...(spec.objective ? { [TAG.objective]: spec.objective.metric, [TAG.direction]: direction } : {}),
    });

    const completed: CompletedTrial[] = [...(previous?.completed ?? [])];
    const unfinished: Params[] = [...(previous?.unfinished ?? [])];
    const requeue = [...(previous?.interrupted ?? [])];
    const intermediates = new Map<number, Map<number, number>>(previous?.intermediates ?? []);
    const trials: TrialSummary[] = [...(previous?.trials ?? [])];
    let nextNumber = previous?.nextNumber ?? 0;
    emit({
      event: 'sweep-start',
      sweepRunId,
      experiment: spec.name,
      strategy: sampler.name,
      trials: Number.isFinite(trialBudget) ? trialBudget : null,
      parallel,
      objective: spec.objective ? { metric: spec.objective.metric, direction } : null,
      resumed: previous !== undefined,
      finished: completed.length + unfinished.length,
    });

    const copies = workingCopiesDir(root, sweepRunId.slice(0, 12));
    const signal = options.signal ?? new AbortController().signal;
    const started = now();
    let bestCopy: { number: number; dir: string } | undefined;
    let stoppedBy: 'trials' | 'time' | 'exhausted' | 'failures' | 'cancelled' = 'trials';
    // A pipeline that fails for every trial is broken, not unlucky: stop after a few in a row.
    const failureLimit = parallel + 2;
    let failuresInARow = 0;
    const running = new Map<number, { params: Params; promise: Promise<void> }>();

    const finishTrial = (summary: TrialSummary, dir: string, durationMs: number): void => {
      trials.push(summary);
      if (summary.runId) {
        tracker.setTags(summary.runId, {
          [TAG.trialState]: summary.state,
          ...(summary.value !== null ? { [TAG.objectiveValue]: String(summary.value) } : {}),
        });
      }
      let keepDir = options.keep === true;
      failuresInARow = summary.state === 'failed' && completed.length === 0 ? failuresInARow + 1 : 0;
      if (summary.state === 'complete' && summary.value !== null) {
        completed.push({ number: summary.number, params: summary.params, value: summary.value });
        if (bestTrial(completed, direction)?.number === summary.number) {
          if (bestCopy && !options.keep) removeWorkingCopy(bestCopy.dir);
          bestCopy = { number: summary.number, dir };
          keepDir = true;
        }
      } else if (summary.state !== 'interrupted') {
        unfinished.push(summary.params);
      }
      if (!keepDir) removeWorkingCopy(dir);
      emit({ event: 'trial-end', durationMs, ...summary });
    };

    let launchedHere = 0;
    const launch = (number: number, params: Params): void => {
      launchedHere++;
      const dir = path.join(copies, `trial-${number}`);
      const begin = now();
      emit({ event: 'trial-start', number, params });
      const promise = runTrial({
        spec,
        root,
        dir,
        number,
        params,
        relativePipeline,
        jobs,
        store,
        sweepRunId,
        signal,
        emit,
        prune: (values, step) =>
          spec.pruning !== undefined &&
          shouldPrune(
            values,
            completed.map((trial) => intermediates.get(trial.number) ?? new Map<number, number>()),
            step,
            pruneDirection,
            { warmupSteps: spec.pruning.warmupSteps, minTrials: 1, startupTrials: spec.pruning.minTrials },
          ),
      }).then(
        (outcome) => {
          intermediates.set(number, outcome.intermediate);
          running.delete(number);
          finishTrial(outcome.summary, dir, now() - begin);
        },
        (error: unknown) => {
          running.delete(number);
          removeWorkingCopy(dir);
          throw error;
        },
      );
      running.set(number, { params, promise });
    };

    let fatal: unknown;
    for (;;) {
      while (fatal === undefined && !signal.aborted && running.size < parallel) {
        const finished = completed.length + unfinished.length;
        if (finished + running.size >= trialBudget) {
          stoppedBy = budget === undefined && sampler.name === 'grid' ? 'exhausted' : 'trials';
          break;
        }
        if (failuresInARow >= failureLimit) {
          stoppedBy = 'failures';
          break;
        }
        // The time budget (of this session) stops new trials, never its first one.
        if (spec.budget.timeMs !== undefined && launchedHere > 0 && now() - started >= spec.budget.timeMs) {
          stoppedBy = 'time';
          break;
        }
        const again = requeue.shift();
        if (again) {
          launch(again.number, again.params);
          continue;
        }
        const params = sampler.ask({
          trials: completed,
          direction,
          unfinished: [...unfinished, ...[...running.values()].map((trial) => trial.params)],
        });
        if (params === undefined) {
          stoppedBy = 'exhausted';
          break;
        }
        launch(nextNumber++, params);
      }
      if (running.size === 0) break;
      try {
        await Promise.race([...running.values()].map((trial) => trial.promise));
      } catch (error) {
        // A pipeline that cannot run at all is bad input: stop starting trials, let the others end.
        fatal ??= error;
      }
    }
    if (fatal !== undefined) {
      tracker.setTags(sweepRunId, { [TAG.done]: 'failed' });
      tracker.endRun(sweepRunId, 'failed', now());
      if (!options.keep) fs.rmSync(copies, { recursive: true, force: true });
      throw fatal;
    }
    if (signal.aborted) stoppedBy = 'cancelled';

    const best = bestTrial(completed, direction);
    const bestSummary = best ? (trials.find((trial) => trial.number === best.number) ?? null) : null;
    const importance = spec.search ? parameterImportance(spec.search.space, completed) : {};
    const status: SweepResult['status'] = signal.aborted ? 'cancelled' : completed.length > 0 ? 'succeeded' : 'failed';
    if (best && spec.objective)
      tracker.logMetrics(sweepRunId, [{ key: spec.objective.metric, value: best.value, step: 0, timestamp: now() }]);
    if (bestSummary?.runId)
      tracker.setTags(sweepRunId, { [TAG.bestRun]: bestSummary.runId, [TAG.bestTrial]: String(bestSummary.number) });

    let registered: Extract<SweepEvent, { event: 'sweep-end' }>['registered'] = null;
    let gate: GateReport | null = null;
    let notRegistered: string | undefined;
    if (spec.register && status === 'succeeded' && bestSummary) {
      const outcome = registerBest(
        spec,
        root,
        store,
        bestSummary,
        bestCopy?.number === bestSummary.number ? bestCopy.dir : undefined,
        sweepRunId,
      );
      ({ registered, gate } = outcome);
      if (outcome.notRegistered !== undefined) notRegistered = outcome.notRegistered;
    }
    if (bestCopy && !options.keep) removeWorkingCopy(bestCopy.dir);
    if (!options.keep) fs.rmSync(copies, { recursive: true, force: true });

    if (status !== 'cancelled') tracker.setTags(sweepRunId, { [TAG.done]: 'true' });
    tracker.endRun(sweepRunId, status, now());
    const counts: Record<TrialState, number> = { complete: 0, pruned: 0, failed: 0, interrupted: 0 };
    for (const trial of trials) counts[trial.state]++;
    emit({
      event: 'sweep-end',
      sweepRunId,
      status,
      stoppedBy,
      best:
        best && bestSummary
          ? { number: best.number, runId: bestSummary.runId, params: best.params as Params, value: best.value }
          : null,
      importance,
      counts,
      registered,
      gate,
      ...(notRegistered !== undefined ? { notRegistered } : {}),
    });
    return { sweepRunId, status, trials, best: bestSummary, importance };
  } finally {
    store.close();
  }
}

function stamp(time: number): string {
  return new Date(time).toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
}

function samplerOf(spec: ExperimentSpec): Sampler {
  const search = spec.search;
  if (!search) {
    // No search: one trial with the params as they are.
    return {
      name: 'none',
      ask: (history) => (history.trials.length + (history.unfinished?.length ?? 0) === 0 ? {} : undefined),
    };
  }
  switch (search.strategy) {
    case 'grid':
      return gridSampler(search.space);
    case 'random':
      return randomSampler(search.space, search.seed);
    case 'tpe':
      return tpeSampler(search.space, search.seed, search.tpe);
  }
}

/** Checks what the experiment names against the workspace before any trial starts. */
function checkSpec(spec: ExperimentSpec, root: string): void {
  const loaded = workspaceStages(root);
  let selected;
  try {
    selected = selectStages(loaded, { pipelineFile: spec.pipelineFile, targets: spec.stages });
  } catch (error) {
    // A stage the experiment names that the pipeline does not have is the experiment file's mistake.
    if (error instanceof PipelineError && spec.stages.length > 0 && /^No stage '/.test(error.message))
      throw new ExperimentSpecError(`${spaceKeyLocation(spec, null, 'stages')}: ${error.message} Fix stages.`);
    throw error;
  }
  if (spec.objective?.stage !== undefined && !selected.some((stage) => stage.name === spec.objective?.stage)) {
    throw new ExperimentSpecError(
      `${path.relative(process.cwd(), spec.file)}: the objective's stage '${spec.objective.stage}' is not among the stages the experiment runs. Fix objective.stage.`,
    );
  }
  if (spec.search && spec.search.strategy === 'grid') {
    const size = gridSampler(spec.search.space).size;
    if (!Number.isFinite(size) || size <= 0)
      throw new ExperimentSpecError(
        `${path.relative(process.cwd(), spec.file)}: the grid is empty. Give every float a grid or a step.`,
      );
  }
  for (const param of spec.search?.space.params ?? []) {
    const colon = param.name.lastIndexOf(':');
    const file = path.resolve(path.dirname(spec.pipelineFile), colon > 0 ? param.name.slice(0, colon) : 'params.yaml');
    const inside = path.relative(root, file);
    if (inside.startsWith('..') || path.isAbsolute(inside))
      throw new ExperimentSpecError(
        `${spaceKeyLocation(spec, param.name)}: '${param.name}' names a params file outside the workspace. Use a file inside ${root}.`,
      );
    const keys = (colon > 0 ? param.name.slice(colon + 1) : param.name).split('.');
    let value: unknown;
    try {
      value = parseYaml(fs.readFileSync(file, 'utf8'));
    } catch {
      throw new ExperimentSpecError(
        `${spaceKeyLocation(spec, param.name)}: '${param.name}' is searched, but ${path.relative(root, file)} cannot be read. Create it with the param's current value.`,
      );
    }
    for (const key of keys)
      value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    if (value === undefined) {
      throw new ExperimentSpecError(
        `${spaceKeyLocation(spec, param.name)}: '${param.name}' is not in ${path.relative(root, file)}, so no stage reads it. Add it there with a default value, or fix the key.`,
      );
    }
  }
}

interface Resumable {
  runId: string;
  busyPid?: number;
  completed: CompletedTrial[];
  unfinished: Params[];
  interrupted: { number: number; params: Params }[];
  intermediates: [number, Map<number, number>][];
  trials: TrialSummary[];
  nextNumber: number;
}

/** The newest unfinished sweep of the same experiment and digest, with what its trials found. */
function resumable(store: Store, spec: ExperimentSpec): Resumable | undefined {
  const db = store.db;
  const row = db
    .prepare(
      `SELECT r.id, r.status FROM tracked_runs r
         JOIN experiments e ON e.id = r.experiment_id
         JOIN run_tags d ON d.run = r.seq AND d.key = ? AND d.value = ?
        WHERE e.name = ? AND r.parent_run_id IS NULL
          AND NOT EXISTS (SELECT 1 FROM run_tags t WHERE t.run = r.seq AND t.key = ?)
        ORDER BY r.start_time DESC LIMIT 1`,
    )
    .get(TAG.digest, spec.digest, spec.name, TAG.done) as { id: string; status: string } | undefined;
  if (!row) return undefined;
  const tags = (runId: string): Record<string, string> => runDetail(db, runId)?.tags ?? {};
  const parentTags = tags(row.id);
  const pid = Number(parentTags[TAG.pid]);
  if (row.status === 'running' && Number.isInteger(pid) && pid !== process.pid && isAlive(pid)) {
    return {
      runId: row.id,
      busyPid: pid,
      completed: [],
      unfinished: [],
      interrupted: [],
      intermediates: [],
      trials: [],
      nextNumber: 0,
    };
  }
  const children = db
    .prepare('SELECT id, status FROM tracked_runs WHERE parent_run_id = ? ORDER BY start_time')
    .all(row.id) as { id: string; status: string }[];
  const result: Resumable = {
    runId: row.id,
    completed: [],
    unfinished: [],
    interrupted: [],
    intermediates: [],
    trials: [],
    nextNumber: 0,
  };
  const done = new Set<number>();
  for (const child of children) {
    const childTags = tags(child.id);
    const number = Number(childTags[TAG.trial]);
    if (!Number.isInteger(number)) continue;
    result.nextNumber = Math.max(result.nextNumber, number + 1);
    const params = JSON.parse(childTags[TAG.trialParams] ?? '{}') as Params;
    const state = childTags[TAG.trialState] as TrialState | undefined;
    const value = Number(childTags[TAG.objectiveValue]);
    if (state === 'complete' && Number.isFinite(value)) {
      result.completed.push({ number, params, value });
      result.trials.push({ number, runId: child.id, params, state, value });
      done.add(number);
      if (spec.pruning)
        result.intermediates.push([
          number,
          new Map(metricHistory(db, child.id, spec.pruning.metric).map((point) => [point.step, point.value])),
        ]);
    } else if (state === 'pruned' || state === 'failed') {
      result.unfinished.push(params);
      result.trials.push({ number, runId: child.id, params, state, value: null });
      done.add(number);
    } else {
      if (child.status === 'running')
        store.db
          .prepare("UPDATE tracked_runs SET status = 'cancelled', end_time = ? WHERE id = ?")
          .run(Date.now(), child.id);
      if (!done.has(number) && !result.interrupted.some((trial) => trial.number === number))
        result.interrupted.push({ number, params });
    }
  }
  result.interrupted = result.interrupted.filter((trial) => !done.has(trial.number));
  return result;
}

/** Marks every unfinished sweep of the experiment as done, so a later plain run does not resume it. */
function abandonUnfinished(store: Store, spec: ExperimentSpec): void {
  for (;;) {
    const previous = resumable(store, spec);
    if (!previous) return;
    if (previous.busyPid !== undefined)
      throw new SweepBusy(
        `The sweep of ${spec.name} is running in process ${previous.busyPid}; stop it before starting over.`,
      );
    const tracker = Tracker.open(store);
    tracker.setTags(previous.runId, { [TAG.done]: 'abandoned' });
    const row = store.db.prepare('SELECT status FROM tracked_runs WHERE id = ?').get(previous.runId) as {
      status: string;
    };
    if (row.status === 'running') tracker.endRun(previous.runId, 'cancelled');
  }
}

/** Marks a resumed sweep's run as running again. */
function reopen(store: Store, runId: string): void {
  store.db.prepare("UPDATE tracked_runs SET status = 'running', end_time = NULL WHERE id = ?").run(runId);
}

interface TrialInput {
  spec: ExperimentSpec;
  root: string;
  dir: string;
  number: number;
  params: Params;
  relativePipeline: string;
  jobs: number;
  store: Store;
  sweepRunId: string;
  signal: AbortSignal;
  emit: (event: SweepEvent) => void;
  /** Whether the trial should stop, given its intermediate values so far and the newest step. */
  prune: (values: Map<number, number>, step: number) => boolean;
}

/** Runs one trial in its working copy; throws only for a pipeline that cannot run at all. */
async function runTrial(input: TrialInput): Promise<{ summary: TrialSummary; intermediate: Map<number, number> }> {
  const { spec, dir, number, params } = input;
  const intermediate = new Map<number, number>();
  const summary = (state: TrialState, runId: string | null, value: number | null, reason?: string): TrialSummary => ({
    number,
    runId,
    params,
    state,
    value,
    ...(reason !== undefined ? { reason } : {}),
  });
  if (input.signal.aborted) return { summary: summary('interrupted', null, null), intermediate };
  createWorkingCopy(input.root, dir);
  applyParams(path.dirname(path.join(dir, input.relativePipeline)), params);

  const controller = new AbortController();
  const forward = (): void => controller.abort();
  input.signal.addEventListener('abort', forward, { once: true });
  const watched = new Map<string, number>();
  let pruned = false;
  let failure = '';
  const poll = (): void => {
    if (!spec.pruning || pruned) return;
    for (const [file, offset] of watched) {
      let text: string;
      try {
        const handle = fs.openSync(file, 'r');
        try {
          const size = fs.fstatSync(handle).size;
          if (size <= offset) continue;
          const buffer = Buffer.alloc(size - offset);
          fs.readSync(handle, buffer, 0, buffer.length, offset);
          text = buffer.toString('utf8');
        } finally {
          fs.closeSync(handle);
        }
      } catch {
        continue;
      }
      const end = text.lastIndexOf('\n');
      if (end < 0) continue;
      watched.set(file, offset + Buffer.byteLength(text.slice(0, end + 1)));
      for (const line of text.slice(0, end).split('\n')) {
        if (line.trim() === '') continue;
        let points;
        try {
          points = pointsOfLine(line, Date.now());
        } catch {
          continue;
        }
        for (const point of points) {
          if (point.key !== spec.pruning.metric) continue;
          const step = point.step ?? 0;
          intermediate.set(step, point.value);
          if (!pruned && input.prune(intermediate, step)) {
            pruned = true;
            failure = `pruned at step ${step}: ${spec.pruning.metric} = ${point.value} is worse than the median of earlier trials`;
            controller.abort();
          }
        }
      }
    }
  };
  const timer = setInterval(poll, POLL_MS);
  const onEvent = (event: RunEvent): void => {
    if (event.event === 'stage-start') watched.set(event.metricsPath, 0);
    else if (event.event === 'warning') input.emit({ event: 'warning', message: `trial ${number}: ${event.message}` });
    else if (
      event.event === 'stage-end' &&
      (event.status === 'failed' || event.status === 'blocked') &&
      failure === ''
    ) {
      failure = `stage ${event.stage} ${event.status}: ${event.reason}${event.tail.length > 0 ? `\n${event.tail.slice(-5).join('\n')}` : ''}`;
    }
  };
  try {
    const result = await runPipeline({
      root: dir,
      pipelineFile: path.join(dir, input.relativePipeline),
      targets: spec.stages,
      jobs: input.jobs,
      signal: controller.signal,
      onEvent,
      tracking: {
        store: input.store,
        experiment: spec.name,
        parentRunId: input.sweepRunId,
        name: `trial-${number}`,
        tags: { [TAG.trial]: String(number), [TAG.trialParams]: JSON.stringify(params) },
      },
    });
    poll();
    const runId = result.trackedRunId ?? null;
    if (pruned) return { summary: summary('pruned', runId, null, failure), intermediate };
    if (result.status === 'cancelled') return { summary: summary('interrupted', runId, null), intermediate };
    if (result.status === 'failed')
      return { summary: summary('failed', runId, null, failure || 'a stage failed'), intermediate };
    if (!spec.objective) return { summary: summary('complete', runId, 0), intermediate };
    const value = runId ? objectiveValue(input.store, runId, spec) : null;
    if (value === null) {
      return {
        summary: summary(
          'failed',
          runId,
          null,
          `the objective metric '${spec.objective.metric}' is not among the run's metrics; check objective.metric against the metrics file the stage writes`,
        ),
        intermediate,
      };
    }
    return { summary: summary('complete', runId, value), intermediate };
  } catch (error) {
    if (error instanceof PipelineError) throw error;
    return {
      summary: summary('failed', null, null, error instanceof Error ? error.message : String(error)),
      intermediate,
    };
  } finally {
    clearInterval(timer);
    input.signal.removeEventListener('abort', forward);
  }
}

/**
 * The objective's value in a trial's metrics: the exact key, else the key in the hold-out split
 * (`holdout.auc` for objective `auc`), else the only key ending in `.auc`.
 */
function objectiveValue(store: Store, runId: string, spec: ExperimentSpec): number | null {
  const metric = spec.objective?.metric;
  if (metric === undefined) return null;
  const metrics = runDetail(store.db, runId)?.metrics ?? [];
  const byKey = new Map(metrics.map((entry) => [entry.key, entry.latest]));
  const exact = byKey.get(metric);
  if (exact !== undefined) return exact;
  if (spec.gate?.split !== undefined) {
    const inSplit = byKey.get(`${spec.gate.split}.${metric}`);
    if (inSplit !== undefined) return inSplit;
  }
  const suffixed = metrics.filter((entry) => entry.key.endsWith(`.${metric}`) || entry.key.endsWith(`/${metric}`));
  return suffixed.length === 1 ? (suffixed[0]?.latest ?? null) : null;
}

/** Registers the best trial's model behind the gate, and moves the alias when asked. */
function registerBest(
  spec: ExperimentSpec,
  root: string,
  store: Store,
  best: TrialSummary,
  copyDir: string | undefined,
  sweepRunId: string,
): {
  registered: Extract<SweepEvent, { event: 'sweep-end' }>['registered'];
  gate: GateReport | null;
  notRegistered?: string;
} {
  const register = spec.register;
  if (!register) return { registered: null, gate: null };
  const declared = readModels(root).models.find((model) => model.name === register.model);
  const artifact = register.artifact
    ? path.resolve(path.dirname(spec.file), register.artifact)
    : declared
      ? path.resolve(path.dirname(declared.file), declared.artifact)
      : undefined;
  if (artifact === undefined) {
    return {
      registered: null,
      gate: null,
      notRegistered: `model '${register.model}' is not declared in a pipeline's models section; give register.artifact`,
    };
  }
  // The trial's file in its working copy, else (the best trial ran before an interruption, and its
  // copy is gone) the bytes its run recorded, from the content cache the copies share.
  const relative = path.relative(root, artifact).split(path.sep).join('/');
  let onnxPath = copyDir === undefined ? undefined : path.join(copyDir, relative);
  if (onnxPath === undefined || !fs.existsSync(onnxPath)) {
    const recorded = best.runId
      ? runDetail(store.db, best.runId)?.artifacts.find((entry) => entry.path === relative)
      : undefined;
    onnxPath = (recorded && new ContentCache(root).objectPath(recorded.md5)) ?? undefined;
  }
  if (onnxPath === undefined || !fs.existsSync(onnxPath)) {
    return {
      registered: null,
      gate: null,
      notRegistered: `the best trial's ${relative} is neither in its working copy nor in the cache`,
    };
  }
  const gate = spec.gate ?? declared?.gate;
  const registry = new Registry(store, root);
  const result = registerWithGate(registry, {
    name: register.model,
    onnxPath,
    metrics: best.runId ? nestedMetrics(store.db, best.runId) : {},
    ...(gate ? { gate } : {}),
    ...(best.runId ? { runId: best.runId } : {}),
    pipeline: path.relative(root, spec.pipelineFile).split(path.sep).join('/'),
    ...(declared?.description !== undefined ? { description: declared.description } : {}),
    tags: {
      ...declared?.tags,
      'cairn.sweep': sweepRunId,
      'cairn.trial': String(best.number),
      ...(register.requireApproval ? { [APPROVAL_TAG]: 'required' } : {}),
    },
    reason: `best trial ${best.number} of sweep ${sweepRunId} (${spec.name})`,
  });
  const md5 = createHash('md5').update(fs.readFileSync(onnxPath)).digest('hex');
  if (result.status === 'refused') {
    if (best.runId)
      recordRunGate(store, best.runId, { model: register.model, md5, report: result.report, version: null });
    return { registered: null, gate: result.report, notRegistered: `the gate failed: ${result.report.summary}` };
  }
  const version = result.version.version;
  if (best.runId) recordRunGate(store, best.runId, { model: register.model, md5, report: result.report, version });
  if (register.alias !== undefined) {
    registry.setAlias(register.model, register.alias, version, { reason: `best of sweep ${sweepRunId}` });
  }
  return {
    registered: {
      model: register.model,
      version,
      status: result.status,
      ...(register.alias !== undefined ? { alias: register.alias } : {}),
    },
    gate: result.report,
  };
}
