// Every pipeline run is a tracked experiment run: after the stages finished, the run's params (the
// values the stages read), its metrics (the metrics files the stages declare, and the live points
// they appended to CAIRN_METRICS_PATH), its artifacts (the outs with their hashes) and how it ended
// are recorded through the Tracker, in the experiment named after the workspace. A successful run
// then registers the models its pipelines declare, behind their gates (registry/automated.ts).
// Tracking never fails a run: a problem here is reported as a warning.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findEntry, lockPathOf } from './decide';
import type { StageLock } from './lockfile';
import { readMetricsFile, registerRunModels } from './registry/automated';
import type { ModelRegistration } from './registry/automated';
import type { RunnableStage } from './stages';
import type { Store } from './store';
import { runSource } from './tracking/environment';
import { ingestMetricsFile } from './tracking/live';
import { Tracker } from './tracking/tracker';
import type { MetricPoint, ParamValue } from './tracking/tracker';

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
    const now = Date.now();
    for (const { stage, lock, liveMetrics } of stages) {
      for (const out of stage.outs) {
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
        datasets: [],
      }),
    };
  } catch (error) {
    return { runId, registrations: [], warnings: [`the run's models were not registered: ${messageOf(error)}`] };
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
