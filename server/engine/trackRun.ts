// Every pipeline run is a tracked experiment run: after the stages finished, the run's params (the
// values the stages read), its metrics (the metrics files the stages declare, and the live points
// they appended to CAIRN_METRICS_PATH), its artifacts (the outs with their hashes) and how it ended
// are recorded through the Tracker, in the experiment named after the workspace. A successful run
// then registers the models its pipelines declare, behind their gates (registry/automated.ts).
// Tracking never fails a run: a problem here is reported as a warning.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Workspace } from '../spec/workspace';
import { datasetsOfFile } from './data/spec';
import type { DatasetSpec } from './data/spec';
import { findEntry, lockPathOf } from './decide';
import type { StageLock } from './lockfile';
import { readMetricsFile, registerRunModels } from './registry/automated';
import type { ModelRegistration } from './registry/automated';
import type { RunnableStage } from './stages';
import type { Store } from './store';
import { runSource } from './tracking/environment';
import { ingestMetricsFile } from './tracking/live';
import { Tracker } from './tracking/tracker';
import type { DatasetInput, MetricPoint, ParamValue } from './tracking/tracker';

/** Where a run is tracked and as what; by default the workspace's own store and experiment. */
export interface TrackingOptions {
  /** The store to track into (a sweep trial in a working copy tracks into the main workspace's). */
  store?: Store;
  /** Experiment name; default the workspace folder's name. */
  experiment?: string;
  /** The run this one is a child of (a sweep trial's sweep). */
  parentRunId?: string;
  /** Run name; default the pipeline run id. */
  name?: string;
  tags?: Record<string, string>;
  /**
   * Register the declared models this run produced (default: when the run is tracked into its own
   * workspace's store and is not a sweep trial; a reproduction passes false).
   */
  register?: boolean;
}

export interface TrackedStage {
  stage: RunnableStage;
  lock: StageLock | undefined;
  /** The live metrics file the stage was given, if it ran in this run. */
  liveMetrics: string | null;
  /** Whether the stage's command ran in this run; by default, whether it was given a live metrics file. */
  ran?: boolean;
  /**
   * Whether the stage's outs are this run's (it succeeded, was up to date or was restored); a failed,
   * cancelled or blocked stage's metrics files are older than the run and are not recorded. Default true.
   */
  current?: boolean;
}

/**
 * What tracking a run did: the tracked run's id, what became of each declared model the run
 * produced (registered, or refused by its gate and why), and problems worth a warning.
 */
export interface TrackOutcome {
  runId: string;
  registrations: ModelRegistration[];
  warnings: string[];
}

/** Records a finished pipeline run; returns the tracked run and its registrations, or a warning. */
export function trackPipelineRun(
  store: Store,
  root: string,
  pipelineRunId: string,
  status: 'succeeded' | 'failed' | 'cancelled',
  startTime: number,
  stages: TrackedStage[],
  options: TrackingOptions = {},
): TrackOutcome | { warning: string } {
  let runId: string;
  let datasets: DatasetInput[];
  try {
    const tracker = Tracker.open(options.store ?? store);
    runId = tracker.startRun({
      experiment: options.experiment ?? path.basename(root),
      name: options.name ?? pipelineRunId,
      source: runSource(root),
      startTime,
      ...(options.parentRunId !== undefined ? { parentRunId: options.parentRunId } : {}),
    });
    tracker.setTags(runId, { ...options.tags, 'cairn.pipeline_run': pipelineRunId });
    const params: Record<string, ParamValue> = {};
    for (const { stage } of stages) {
      for (const [file, values] of Object.entries(stage.params)) {
        const prefix = file === 'params.yaml' ? '' : `${file}:`;
        for (const [key, value] of Object.entries(values)) flattenParams(`${prefix}${key}`, value, params);
      }
    }
    tracker.logParams(runId, params);
    datasets = datasetInputs(tracker.store, root, stages);
    for (const input of datasets) tracker.logDatasetInput(runId, input);
    const now = Date.now();
    for (const { stage, lock, liveMetrics, current } of stages) {
      for (const out of current === false ? [] : stage.outs) {
        const entry = findEntry(lock?.outs, lockPathOf(stage, root, out.path));
        if (entry && !entry.md5.endsWith('.dir'))
          tracker.logArtifact(runId, { path: out.path, md5: entry.md5, size: entry.size });
        if (out.kind === 'metrics') {
          const points = metricsOfFile(path.join(root, out.path), now);
          if (points.length > 0) tracker.logMetrics(runId, points, now);
        }
      }
      if (liveMetrics && fs.existsSync(liveMetrics)) ingestMetricsFile(tracker, runId, liveMetrics, now);
    }
    tracker.endRun(runId, status);
  } catch (error) {
    return { warning: `the run was not tracked: ${messageOf(error)}` };
  }
  const register =
    options.register ?? ((options.store === undefined || options.store === store) && options.parentRunId === undefined);
  if (status !== 'succeeded' || !register) return { runId, registrations: [], warnings: [] };
  try {
    return {
      runId,
      ...registerRunModels({
        store,
        root,
        trackedRunId: runId,
        stages: stages.map(({ stage, liveMetrics, ran }) => ({ stage, ran: ran ?? liveMetrics !== null })),
        datasets,
      }),
    };
  } catch (error) {
    return { runId, registrations: [], warnings: [`the run's models were not registered: ${messageOf(error)}`] };
  }
}

/**
 * The dataset versions the run's stages read: a declared dataset whose source file (or a folder
 * holding it) is a dep, with the md5 of the bytes the run saw and the recorded version holding those
 * bytes ('unrecorded' when no `cairn data import` recorded them); and a recorded version's own copy
 * under .cairn/data/<name>/v<N>/ when a stage reads that directly.
 */
export function datasetInputs(store: Store, root: string, stages: TrackedStage[]): DatasetInput[] {
  const inputs = new Map<string, DatasetInput>();
  const add = (input: DatasetInput): void => {
    inputs.set(`${input.name}\u0000${input.version}`, input);
  };
  const deps = stages.flatMap(({ stage, lock }) => stage.deps.map((dep) => ({ stage, lock, dep })));
  // Most pipeline files declare no datasets; their text is checked for the section before parsing.
  const declared: DatasetSpec[] = [];
  for (const file of new Workspace(root).specs('pipeline')) {
    try {
      const text = fs.readFileSync(file, 'utf8');
      if (/^datasets\s*:/m.test(text)) declared.push(...datasetsOfFile(root, file, text).datasets);
    } catch {
      // A pipeline file that cannot be read records no inputs; the run's validation reports it.
    }
  }
  for (const dataset of declared) {
    if (!dataset.source) continue;
    const source = path.relative(root, dataset.source.path).split(path.sep).join('/');
    const reading = deps.find(({ dep }) => dep === source || source.startsWith(`${dep}/`));
    if (!reading) continue;
    const locked =
      reading.dep === source ? findEntry(reading.lock?.deps, lockPathOf(reading.stage, root, source)) : undefined;
    const digest = locked?.md5 ?? md5OfFile(dataset.source.path);
    if (digest === null) continue;
    const recorded = store.datasetVersions(dataset.name).find((version) => version.md5 === digest);
    add({ name: dataset.name, version: recorded ? String(recorded.version) : 'unrecorded', digest });
  }
  for (const { dep } of deps) {
    const match = /^\.cairn\/data\/([^/]+)\/v([0-9]+)(?:\/|$)/.exec(dep);
    if (!match) continue;
    const recorded = store.datasetVersion(match[1] ?? '', Number(match[2]));
    if (recorded) add({ name: recorded.dataset, version: String(recorded.version), digest: recorded.md5 });
  }
  return [...inputs.values()].sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
}

function md5OfFile(file: string): string | null {
  try {
    return createHash('md5').update(fs.readFileSync(file)).digest('hex');
  } catch {
    return null;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function flattenParams(key: string, value: unknown, into: Record<string, ParamValue>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [name, inner] of Object.entries(value)) flattenParams(`${key}.${name}`, inner, into);
  } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    into[key] = value;
  } else {
    into[key] = JSON.stringify(value);
  }
}

/** The numbers of a JSON or YAML metrics file, as dotted keys (`holdout.auc`). */
function metricsOfFile(file: string, now: number): MetricPoint[] {
  const value = readMetricsFile(file);
  const points: MetricPoint[] = [];
  const walk = (prefix: string, node: unknown): void => {
    if (typeof node === 'number' && Number.isFinite(node))
      points.push({ key: prefix, value: node, step: 0, timestamp: now });
    else if (node !== null && typeof node === 'object' && !Array.isArray(node))
      for (const [name, inner] of Object.entries(node)) walk(prefix ? `${prefix}.${name}` : name, inner);
  };
  walk('', value);
  return points;
}
