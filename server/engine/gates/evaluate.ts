// Judges a candidate's metrics against a gate: each criterion gives its value, its threshold,
// pass or fail and a reason in plain words; the gate passes when every criterion does. Pure.
//
// Metrics come from the evaluation stage's metrics file. With a gate `split`, the split's own
// object is judged when the file has one (`{"holdout": {"auc": ...}}`), else the whole file. Slice
// checks read `slices.<column>.<slice value>.<metric>`, with an optional `rows` count per slice.
import { describeCriterion, formatPercent, isRecord } from './criteria';
import type { Criterion, GateSpec, ImprovementCriterion, SliceCheck, ThresholdCriterion } from './criteria';

/** The metrics of a version that holds an alias, the reference of improvement criteria. */
export interface Reference {
  alias: string;
  version: number;
  metrics: Record<string, unknown>;
}

export interface CriterionResult {
  kind: 'threshold' | 'improvement' | 'slice-gap' | 'slice-min';
  /** The criterion as written, e.g. "auc >= 0.8". */
  criterion: string;
  metric: string;
  /** The candidate's value (for a gap check: the gap); null when missing. */
  value: number | null;
  /** What the value was held to, e.g. ">= 0.8" or ">= 0.8123 (champion v2 0.8023 + 0.01)". */
  threshold: string;
  passed: boolean;
  reason: string;
  /** For slice checks: each slice's value and rows, and whether it was judged. */
  slices?: { slice: string; value: number | null; rows: number | null; judged: boolean }[];
}

export interface GateReport {
  passed: boolean;
  split: string | null;
  criteria: CriterionResult[];
  /** One sentence: how many criteria passed, and which failed. */
  summary: string;
}

// Metric values are decimals read from JSON; a difference that rounds to zero is no difference.
const EPSILON = 1e-9;

/** Evaluates `gate` on `metrics`; `references` holds the versions of aliases named by improvement criteria. */
export function evaluateGate(
  gate: GateSpec,
  metrics: Record<string, unknown>,
  references: readonly Reference[] = [],
): GateReport {
  const judged = splitMetrics(metrics, gate.split);
  const criteria: CriterionResult[] = [];
  for (const criterion of gate.acceptance) criteria.push(judgeCriterion(criterion, judged, gate.split, references));
  for (const check of gate.slices) criteria.push(...judgeSlices(check, judged));
  const failed = criteria.filter((result) => !result.passed);
  const summary =
    criteria.length === 0
      ? 'The gate has no criteria, so it passes.'
      : failed.length === 0
        ? `All ${criteria.length} criteria passed.`
        : `${failed.length} of ${criteria.length} criteria failed: ${failed.map((result) => result.criterion).join('; ')}.`;
  return { passed: failed.length === 0, split: gate.split ?? null, criteria, summary };
}

/** The metrics of a split when the object has a section for it, otherwise the object itself. */
export function splitMetrics(metrics: Record<string, unknown>, split: string | undefined): Record<string, unknown> {
  const section = split === undefined ? undefined : metrics[split];
  return isRecord(section) ? section : metrics;
}

/** A metric by name: an exact key first, then a path through nested objects ("eval/auc", "eval.auc"). */
export function metricValue(metrics: Record<string, unknown>, name: string): number | null {
  const exact = metrics[name];
  if (typeof exact === 'number') return exact;
  let current: unknown = metrics;
  for (const part of name.split(/[./]/)) {
    if (!isRecord(current)) return null;
    current = current[part];
  }
  return typeof current === 'number' ? current : null;
}

function judgeCriterion(
  criterion: Criterion,
  metrics: Record<string, unknown>,
  split: string | undefined,
  references: readonly Reference[],
): CriterionResult {
  const value = metricValue(metrics, criterion.metric);
  if (value === null) {
    const base = {
      kind: criterion.kind,
      criterion: describeCriterion(criterion),
      metric: criterion.metric,
      value: null,
      threshold: criterion.kind === 'threshold' ? `${criterion.op} ${criterion.value}` : 'an improvement',
      passed: false,
    };
    const known = Object.keys(metrics).filter((key) => typeof metrics[key] === 'number');
    return {
      ...base,
      reason: `the metrics${split ? ` (split ${split})` : ''} have no '${criterion.metric}' (they have: ${known.join(', ') || 'none'}); make the evaluation stage write it.`,
    };
  }
  return criterion.kind === 'threshold'
    ? judgeThreshold(criterion, value)
    : judgeImprovement(criterion, value, split, references);
}

function judgeThreshold(criterion: ThresholdCriterion, value: number): CriterionResult {
  const passed = compare(value, criterion.op, criterion.value);
  const gap = Math.abs(value - criterion.value);
  const side = value < criterion.value ? 'below' : value > criterion.value ? 'above' : 'equal to';
  return {
    kind: 'threshold',
    criterion: describeCriterion(criterion),
    metric: criterion.metric,
    value,
    threshold: `${criterion.op} ${criterion.value}`,
    passed,
    reason: passed
      ? `${criterion.metric} is ${round(value)}, which meets ${criterion.op} ${criterion.value}.`
      : `${criterion.metric} is ${round(value)}, ${side === 'equal to' ? 'equal to' : `${round(gap)} ${side}`} the threshold ${criterion.value}; it must be ${criterion.op} ${criterion.value}.`,
  };
}

function judgeImprovement(
  criterion: ImprovementCriterion,
  value: number,
  split: string | undefined,
  references: readonly Reference[],
): CriterionResult {
  const base = {
    kind: 'improvement' as const,
    criterion: describeCriterion(criterion),
    metric: criterion.metric,
    value,
  };
  const reference = references.find((candidate) => candidate.alias === criterion.relativeTo);
  if (!reference)
    return {
      ...base,
      threshold: `no ${criterion.relativeTo} yet`,
      passed: true,
      reason: `no version holds the alias '${criterion.relativeTo}' yet, so there is nothing to improve on.`,
    };
  const referenceValue = metricValue(splitMetrics(reference.metrics, split), criterion.metric);
  const who = `${criterion.relativeTo} (v${reference.version})`;
  if (referenceValue === null)
    return {
      ...base,
      threshold: `${who} has no ${criterion.metric}`,
      passed: true,
      reason: `${who} recorded no '${criterion.metric}', so the improvement cannot be measured; not judged.`,
    };
  const sign = criterion.direction === 'maximize' ? 1 : -1;
  const improvement = sign * (value - referenceValue);
  // The strictest of the two minimums sets the bar.
  const needed = Math.max(
    criterion.minAbsolute ?? 0,
    criterion.minRelative !== undefined ? criterion.minRelative * Math.abs(referenceValue) : 0,
  );
  const bar = referenceValue + sign * needed;
  const passed = improvement + EPSILON >= needed;
  const op = sign > 0 ? '>=' : '<=';
  const better = sign > 0 ? 'higher' : 'lower';
  const relative = referenceValue !== 0 ? ` (${formatPercent(improvement / Math.abs(referenceValue))})` : '';
  return {
    ...base,
    threshold: `${op} ${round(bar)} (${who} ${round(referenceValue)} ${sign > 0 ? '+' : '-'} ${round(needed)})`,
    passed,
    reason: passed
      ? `${criterion.metric} is ${round(value)}, ${round(Math.abs(improvement))}${relative} ${improvement >= 0 ? better : 'worse'} than ${who} at ${round(referenceValue)}; at least ${round(needed)} ${better} was required.`
      : `${criterion.metric} is ${round(value)} against ${round(referenceValue)} for ${who}: ${improvement >= 0 ? `only ${round(improvement)}${relative} ${better}` : `${round(-improvement)} worse`}, but it must be at least ${round(needed)} ${better}.`,
  };
}

function judgeSlices(check: SliceCheck, metrics: Record<string, unknown>): CriterionResult[] {
  const perSlice = metricsPerSlice(metrics, check.column);
  const results: CriterionResult[] = [];
  const kinds: ('slice-gap' | 'slice-min')[] = [];
  if (check.maxGap !== undefined) kinds.push('slice-gap');
  if (check.min !== undefined) kinds.push('slice-min');
  if (!perSlice) {
    for (const kind of kinds)
      results.push({
        kind,
        criterion: describeSliceCheck(check, kind),
        metric: check.metric,
        value: null,
        threshold: kind === 'slice-gap' ? `<= ${check.maxGap}` : `>= ${check.min}`,
        passed: false,
        reason: `the metrics have no per-slice values for '${check.column}'; make the evaluation stage write slices.${check.column}.<value>.${check.metric}.`,
      });
    return results;
  }
  const slices = Object.entries(perSlice).map(([slice, entry]) => {
    const value = isRecord(entry) ? metricValue(entry, check.metric) : null;
    const rowsValue = isRecord(entry) ? (entry['rows'] ?? entry['count'] ?? entry['examples']) : undefined;
    const rows = typeof rowsValue === 'number' ? rowsValue : null;
    return { slice, value, rows, judged: value !== null && (rows === null || rows >= check.minRows) };
  });
  const judged = slices.filter((slice) => slice.judged) as { slice: string; value: number }[];
  const skipped = slices.filter((slice) => !slice.judged);
  const skippedNote =
    skipped.length > 0
      ? ` Not judged: ${skipped.map((slice) => `${slice.slice} (${slice.value === null ? `no ${check.metric}` : `${slice.rows} rows < ${check.minRows}`})`).join(', ')}.`
      : '';
  for (const kind of kinds) {
    const criterion = describeSliceCheck(check, kind);
    if (judged.length === 0) {
      results.push({
        kind,
        criterion,
        metric: check.metric,
        value: null,
        threshold: kind === 'slice-gap' ? `<= ${check.maxGap}` : `>= ${check.min}`,
        passed: false,
        reason: `no slice of '${check.column}' could be judged.${skippedNote}`,
        slices,
      });
      continue;
    }
    const best = judged.reduce((a, b) => (b.value > a.value ? b : a));
    const worst = judged.reduce((a, b) => (b.value < a.value ? b : a));
    if (kind === 'slice-gap') {
      const maxGap = check.maxGap ?? 0;
      const gap = best.value - worst.value;
      const passed = gap <= maxGap + EPSILON;
      results.push({
        kind,
        criterion,
        metric: check.metric,
        value: gap,
        threshold: `<= ${maxGap}`,
        passed,
        reason: `${check.metric} ranges from ${round(worst.value)} (${check.column}=${worst.slice}) to ${round(best.value)} (${check.column}=${best.slice}), a gap of ${round(gap)}${passed ? `, within ${maxGap}` : `, more than the ${maxGap} allowed: the model serves ${check.column}=${worst.slice} worse`}.${skippedNote}`,
        slices,
      });
    } else {
      const min = check.min ?? 0;
      const below = judged.filter((slice) => slice.value < min - EPSILON);
      results.push({
        kind,
        criterion,
        metric: check.metric,
        value: worst.value,
        threshold: `>= ${min}`,
        passed: below.length === 0,
        reason:
          below.length === 0
            ? `every slice of ${check.column} reaches ${min} (lowest: ${worst.slice} at ${round(worst.value)}).${skippedNote}`
            : `${below.map((slice) => `${check.column}=${slice.slice} has ${check.metric} ${round(slice.value)}`).join(', ')}, below the minimum ${min}.${skippedNote}`,
        slices,
      });
    }
  }
  return results;
}

function metricsPerSlice(metrics: Record<string, unknown>, column: string): Record<string, unknown> | null {
  const slices = metrics['slices'];
  if (!isRecord(slices)) return null;
  const perColumn = slices[column];
  return isRecord(perColumn) && Object.keys(perColumn).length > 0 ? perColumn : null;
}

function describeSliceCheck(check: SliceCheck, kind: 'slice-gap' | 'slice-min'): string {
  return kind === 'slice-gap'
    ? `${check.metric} gap across ${check.column} <= ${check.maxGap}`
    : `${check.metric} in every ${check.column} >= ${check.min}`;
}

function compare(value: number, op: string, threshold: number): boolean {
  switch (op) {
    case '>=':
      return value >= threshold;
    case '>':
      return value > threshold;
    case '<=':
      return value <= threshold;
    case '<':
      return value < threshold;
    default:
      return value === threshold;
  }
}

function round(value: number): string {
  return String(Number(value.toPrecision(4)));
}

/** The report as lines for a terminal. */
export function formatGateReport(report: GateReport, title: string): string {
  const lines = [`${title}${report.split ? ` (split ${report.split})` : ''}: ${report.passed ? 'PASSED' : 'FAILED'}`];
  for (const result of report.criteria)
    lines.push(`  ${result.passed ? 'pass' : 'FAIL'}  ${result.criterion}`, `        ${result.reason}`);
  lines.push(`  ${report.summary}`);
  return `${lines.join('\n')}\n`;
}
