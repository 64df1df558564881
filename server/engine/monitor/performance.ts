// Model performance on delayed labels: predictions joined with their labels by request id, then
// classification metrics (accuracy, precision, recall, f1, auc, log_loss; a probability output is
// cut at 0.5) or regression metrics (mae, rmse) per time bucket and per version. Pure.
//
// Which output is the prediction: the first output whose name mentions "prob", else the first
// output. An output of width 2 is [P(0), P(1)] and P(1) is taken; width 1 is the score itself; a
// wider one is a class distribution (multi-class: accuracy and log_loss). A label that is a list
// labels each row of a multi-row request; a single label labels its first row. The latest label
// sent for a request wins.
import type { PerformancePoint } from '../../shared/deployments';
import type { FeedbackRow, LoggedPrediction } from './log';

/** One labelled row: what the model said and what was true. */
export interface LabelledRow {
  at: number;
  version: string;
  arm: string;
  requestId: string;
  /** The score (probability of class 1, or the regression value); for multi-class, the distribution. */
  predicted: number | number[];
  label: number;
}

export type Task = 'binary' | 'multiclass' | 'regression';

export const CLASSIFICATION_METRICS = ['accuracy', 'precision', 'recall', 'f1', 'auc', 'log_loss'] as const;
export const REGRESSION_METRICS = ['mae', 'rmse'] as const;
const REGRESSION_NAMES = new Set(['mae', 'rmse', 'mse']);
const EPSILON = 1e-15;

/** The labelled rows of predictions with their feedback (labels only; events carry no label). */
export function labelledRows(
  joined: readonly { prediction: LoggedPrediction; feedback: readonly FeedbackRow[] }[],
): LabelledRow[] {
  const rows: LabelledRow[] = [];
  for (const { prediction, feedback } of joined) {
    const labelRow = [...feedback].reverse().find((row) => row.kind === 'label');
    if (!labelRow || prediction.outputs === null || prediction.status >= 400) continue;
    const scores = predictionScores(prediction.outputs, prediction.rows);
    if (scores === null) continue;
    const labels = Array.isArray(labelRow.label) ? labelRow.label : [labelRow.label];
    labels.forEach((value, index) => {
      const label = numericLabel(value);
      const predicted = scores[index];
      if (label === null || predicted === undefined) return;
      rows.push({
        at: prediction.at,
        version: prediction.version,
        arm: prediction.arm,
        requestId: prediction.requestId,
        predicted,
        label,
      });
    });
  }
  return rows;
}

/**
 * Each row's prediction from a request's outputs (one value per row per column, as the server logs
 * them: `probability` for an [N, 1] output, `probability_0`, `probability_1`, ... for an [N, k] one),
 * or null when there is no usable output.
 */
export function predictionScores(outputs: Record<string, number[]>, rows: number): (number | number[])[] | null {
  const groups = new Map<string, string[]>();
  for (const name of Object.keys(outputs)) {
    const base = /^(.*)_[0-9]+$/.exec(name)?.[1] ?? name;
    const members = groups.get(base) ?? [];
    members.push(name);
    groups.set(base, members);
  }
  const bases = [...groups.keys()];
  const base = bases.find((candidate) => /prob/i.test(candidate)) ?? bases[0];
  if (base === undefined || rows <= 0) return null;
  // Columns in class order: name_0, name_1, ... (a lone unsuffixed name is the score itself).
  const columns = (groups.get(base) ?? [])
    .sort((a, b) => Number(/_([0-9]+)$/.exec(a)?.[1] ?? -1) - Number(/_([0-9]+)$/.exec(b)?.[1] ?? -1))
    .map((name) => outputs[name] ?? []);
  if (columns.some((column) => column.length !== rows)) return null;
  const scores: (number | number[])[] = [];
  for (let row = 0; row < rows; row++) {
    if (columns.length === 1) scores.push(columns[0]?.[row] ?? NaN);
    else if (columns.length === 2) scores.push(columns[1]?.[row] ?? NaN);
    else scores.push(columns.map((column) => column[row] ?? NaN));
  }
  return scores;
}

function numericLabel(value: unknown): number | null {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string') {
    const lower = value.trim().toLowerCase();
    if (lower === 'true') return 1;
    if (lower === 'false') return 0;
    const number = Number(value);
    return value.trim() !== '' && Number.isFinite(number) ? number : null;
  }
  return null;
}

/** The task the rows call for: regression when the metric says so or labels are not 0/1 classes. */
export function taskOf(rows: readonly LabelledRow[], metric?: string): Task {
  if (metric !== undefined && REGRESSION_NAMES.has(metric)) return 'regression';
  if (rows.some((row) => Array.isArray(row.predicted))) return 'multiclass';
  const binary = rows.every(
    (row) => (row.label === 0 || row.label === 1) && (row.predicted as number) >= 0 && (row.predicted as number) <= 1,
  );
  return binary ? 'binary' : 'regression';
}

/** Every metric of the task on the rows (null where it cannot be computed, such as AUC with one class). */
export function performanceMetrics(rows: readonly LabelledRow[], task: Task): Record<string, number | null> {
  if (task === 'regression') return regressionMetrics(rows);
  if (task === 'multiclass') return multiclassMetrics(rows);
  return binaryMetrics(rows);
}

function binaryMetrics(rows: readonly LabelledRow[]): Record<string, number | null> {
  if (rows.length === 0) return Object.fromEntries(CLASSIFICATION_METRICS.map((metric) => [metric, null]));
  let truePositive = 0;
  let falsePositive = 0;
  let falseNegative = 0;
  let correct = 0;
  let loss = 0;
  for (const row of rows) {
    const score = row.predicted as number;
    const predictedClass = score >= 0.5 ? 1 : 0;
    if (predictedClass === row.label) correct++;
    if (predictedClass === 1 && row.label === 1) truePositive++;
    if (predictedClass === 1 && row.label === 0) falsePositive++;
    if (predictedClass === 0 && row.label === 1) falseNegative++;
    const p = Math.min(1 - EPSILON, Math.max(EPSILON, score));
    loss -= row.label === 1 ? Math.log(p) : Math.log(1 - p);
  }
  const precision = truePositive + falsePositive > 0 ? truePositive / (truePositive + falsePositive) : null;
  const recall = truePositive + falseNegative > 0 ? truePositive / (truePositive + falseNegative) : null;
  const f1 =
    precision !== null && recall !== null
      ? precision + recall > 0
        ? (2 * precision * recall) / (precision + recall)
        : 0
      : null;
  return {
    accuracy: correct / rows.length,
    precision,
    recall,
    f1,
    auc: rocAuc(
      rows.map((row) => row.predicted as number),
      rows.map((row) => row.label),
    ),
    log_loss: loss / rows.length,
  };
}

function multiclassMetrics(rows: readonly LabelledRow[]): Record<string, number | null> {
  if (rows.length === 0) return { accuracy: null, log_loss: null };
  let correct = 0;
  let loss = 0;
  for (const row of rows) {
    const distribution = Array.isArray(row.predicted) ? row.predicted : [1 - row.predicted, row.predicted];
    let best = 0;
    distribution.forEach((p, index) => {
      if (p > (distribution[best] ?? -Infinity)) best = index;
    });
    if (best === row.label) correct++;
    const p = distribution[row.label] ?? 0;
    loss -= Math.log(Math.min(1 - EPSILON, Math.max(EPSILON, p)));
  }
  return { accuracy: correct / rows.length, log_loss: loss / rows.length };
}

function regressionMetrics(rows: readonly LabelledRow[]): Record<string, number | null> {
  if (rows.length === 0) return { mae: null, rmse: null };
  let absolute = 0;
  let squared = 0;
  for (const row of rows) {
    const error = (row.predicted as number) - row.label;
    absolute += Math.abs(error);
    squared += error * error;
  }
  return { mae: absolute / rows.length, rmse: Math.sqrt(squared / rows.length) };
}

/** ROC AUC by the rank-sum (Mann-Whitney U) with average ranks for ties; null with one class only. */
export function rocAuc(scores: readonly number[], labels: readonly number[]): number | null {
  const order = scores.map((score, index) => ({ score, label: labels[index] ?? 0 })).sort((a, b) => a.score - b.score);
  let positives = 0;
  let rankSum = 0;
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]?.score === order[start]?.score) end++;
    const averageRank = (start + end + 2) / 2;
    for (let index = start; index <= end; index++)
      if (order[index]?.label === 1) {
        positives++;
        rankSum += averageRank;
      }
    start = end + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return null;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Performance per bucket over [from, to) for one group of rows. */
export function performanceSeries(
  rows: readonly LabelledRow[],
  task: Task,
  from: number,
  to: number,
  bucketMs: number,
): PerformancePoint[] {
  const bucketCount = Math.max(1, Math.ceil((to - from) / bucketMs));
  const buckets: LabelledRow[][] = Array.from({ length: bucketCount }, () => []);
  for (const row of rows) {
    if (row.at < from || row.at >= to) continue;
    buckets[Math.floor((row.at - from) / bucketMs)]?.push(row);
  }
  return buckets.map((bucket, index) => ({
    at: from + index * bucketMs,
    labelled: bucket.length,
    metrics: performanceMetrics(bucket, task),
  }));
}

/** Whether a row's prediction was wrong (classification) or its absolute error (regression). */
export function rowError(row: LabelledRow, task: Task): number {
  if (task === 'regression') return Math.abs((row.predicted as number) - row.label);
  if (task === 'binary') return ((row.predicted as number) >= 0.5 ? 1 : 0) === row.label ? 0 : 1;
  const distribution = row.predicted as number[];
  let best = 0;
  distribution.forEach((p, index) => {
    if (p > (distribution[best] ?? -Infinity)) best = index;
  });
  return best === row.label ? 0 : 1;
}
