// Rollout analysis: the candidate's metrics since a step started, from the requests the server
// reports (kept in memory, a bounded window per arm) and, for labelled metrics such as accuracy, from
// the prediction log once labels arrive. Metrics: error_rate, latency_p50_ms, latency_p95_ms,
// latency_p99_ms, prediction_shift (the two-sample Kolmogorov-Smirnov statistic between the
// candidate's and the stable version's first output), and any labelled metric of
// server/engine/monitor/performance.ts.
import { labelledRows, performanceMetrics, taskOf } from '../monitor/performance';
import type { PredictionLog } from '../monitor/log';
import type { PredictionRecord } from '../serving/record';

/** What analysis keeps of a request. */
export interface Observation {
  at: number;
  /** The arm that was routed: 'stable', 'candidate' or 'shadow'. */
  arm: string;
  status: number;
  latencyMs: number;
  fallback: boolean;
  /** The first numeric output, one value per row (for prediction_shift). */
  output: number[] | null;
}

const KEEP_PER_ARM = 20_000;

/** A bounded in-memory window of recent requests per arm. */
export class ObservationWindow {
  private readonly arms = new Map<string, Observation[]>();

  /** Keeps what analysis needs of a served request. */
  add(record: PredictionRecord): void {
    const outputs =
      record.arm === 'candidate' || record.arm === 'shadow' || record.arm === 'stable' ? record.outputs : null;
    const first = outputs ? Object.values(outputs)[0] : undefined;
    this.push({
      at: record.at,
      arm: record.arm,
      status: record.status,
      latencyMs: record.latencyMs,
      fallback: record.fallback,
      output: first ?? null,
    });
  }

  push(observation: Observation): void {
    let list = this.arms.get(observation.arm);
    if (!list) {
      list = [];
      this.arms.set(observation.arm, list);
    }
    list.push(observation);
    if (list.length > KEEP_PER_ARM * 1.5) list.splice(0, list.length - KEEP_PER_ARM);
  }

  /** The requests of an arm since a time. */
  since(arm: string, from: number): Observation[] {
    return (this.arms.get(arm) ?? []).filter((observation) => observation.at >= from);
  }

  clear(): void {
    this.arms.clear();
  }
}

/** A serving metric of the requests of `arm` since `from`; null without data. */
export function servingMetric(window: ObservationWindow, arm: string, metric: string, from: number): number | null {
  // Malformed requests (4xx) are the caller's fault, not the version's.
  const requests = window
    .since(arm, from)
    .filter((observation) => observation.status < 400 || observation.status >= 500);
  if (requests.length === 0) return null;
  switch (metric) {
    case 'error_rate':
      return (
        requests.filter((observation) => observation.status >= 500 || observation.fallback).length / requests.length
      );
    case 'latency_p50_ms':
      return percentile(requests, 0.5);
    case 'latency_p95_ms':
      return percentile(requests, 0.95);
    case 'latency_p99_ms':
      return percentile(requests, 0.99);
    case 'prediction_shift': {
      const candidate = outputsOf(requests);
      const stable = outputsOf(window.since('stable', from));
      if (candidate.length === 0 || stable.length === 0) return null;
      return ksStatistic(candidate, stable);
    }
    default:
      return null;
  }
}

/** Whether analysis computes a metric from served requests (the rest come from labels). */
export function isServingMetric(metric: string): boolean {
  return ['error_rate', 'latency_p50_ms', 'latency_p95_ms', 'latency_p99_ms', 'prediction_shift'].includes(metric);
}

/** A labelled-performance metric (accuracy, auc, f1, mae, ...) of one version since a time; null without labels. */
export function labelledMetric(log: PredictionLog, version: string, metric: string, from: number): number | null {
  const rows = labelledRows(log.joined({ from, version }));
  if (rows.length === 0) return null;
  const value = performanceMetrics(rows, taskOf(rows, metric))[metric];
  return value ?? null;
}

/** The two-sample Kolmogorov-Smirnov statistic D: the largest gap between the empirical CDFs. */
export function ksStatistic(a: readonly number[], b: readonly number[]): number {
  const x = Float64Array.from(a).sort();
  const y = Float64Array.from(b).sort();
  let i = 0;
  let j = 0;
  let gap = 0;
  while (i < x.length && j < y.length) {
    const value = Math.min(x[i] as number, y[j] as number);
    while (i < x.length && (x[i] as number) <= value) i++;
    while (j < y.length && (y[j] as number) <= value) j++;
    gap = Math.max(gap, Math.abs(i / x.length - j / y.length));
  }
  return gap;
}

function outputsOf(requests: readonly Observation[]): number[] {
  const values: number[] = [];
  for (const observation of requests) {
    if (observation.status >= 400 || observation.fallback || !observation.output) continue;
    for (const value of observation.output) if (Number.isFinite(value)) values.push(value);
  }
  return values;
}

function percentile(requests: readonly Observation[], q: number): number {
  const sorted = requests.map((observation) => observation.latencyMs).sort((a, b) => a - b);
  // Nearest rank, as a latency objective reads it.
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? 0;
}
