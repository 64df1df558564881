// The gate a model version must pass, as declared under `models.NAME.gate` in a pipeline file
// (`$defs/gate` of the pipeline schema), read into typed criteria. Pure: data in, data out.

export type Operator = '>=' | '>' | '<=' | '<' | '==';
export type Direction = 'maximize' | 'minimize';

/** A fixed threshold: the metric must satisfy `metric op value`. */
export interface ThresholdCriterion {
  kind: 'threshold';
  metric: string;
  op: Operator;
  value: number;
}

/** A required improvement over the version that holds an alias (the champion by default). */
export interface ImprovementCriterion {
  kind: 'improvement';
  metric: string;
  minAbsolute?: number;
  minRelative?: number;
  relativeTo: string;
  direction: Direction;
}

export type Criterion = ThresholdCriterion | ImprovementCriterion;

/** A bias check: the metric per slice (value of a column) must not spread more than maxGap, nor fall below min. */
export interface SliceCheck {
  column: string;
  metric: string;
  maxGap?: number;
  min?: number;
  /** Slices with fewer rows are reported but not judged. */
  minRows: number;
}

export interface GateSpec {
  /** The named split whose metrics are judged (a key of the metrics object), if any. */
  split?: string;
  acceptance: Criterion[];
  slices: SliceCheck[];
}

const OPERATORS: readonly Operator[] = ['>=', '<=', '==', '>', '<'];
const EXPRESSION =
  /^\s*([A-Za-z_][A-Za-z0-9_.\-/]*)\s*(>=|<=|==|>|<)\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*$/;
const DEFAULT_MIN_ROWS = 30;
// The schema's default direction is maximize; a loss or an error getting bigger is never an
// improvement, so metrics named like one default to minimize.
const LOWER_IS_BETTER = /(loss|error|mse|mae|rmse|mape|latency|brier)/i;

/** Whether a criterion's metric is the objective's: the same name, or it on a split ("holdout.auc" for "auc"). */
function sameMetric(metric: string, objective: string): boolean {
  return metric === objective || metric.endsWith(`.${objective}`);
}

/** Which way is better for a metric when its direction is not given. */
export function defaultDirection(metric: string): Direction {
  return LOWER_IS_BETTER.test(metric) ? 'minimize' : 'maximize';
}

/** Parses an expression such as "auc >= 0.8"; null when it is not one. */
export function parseExpression(text: string): ThresholdCriterion | null {
  const match = EXPRESSION.exec(text);
  if (!match) return null;
  return { kind: 'threshold', metric: match[1] ?? '', op: (match[2] ?? '>=') as Operator, value: Number(match[3]) };
}

/** Reads a gate from its YAML value; problems say what is wrong with which entry. */
export function gateFromValue(
  value: unknown,
  /** The experiment's objective: an improvement on its metric is judged its way unless it says otherwise. */
  objective?: { metric: string; direction: Direction },
): { gate: GateSpec; problems: string[] } {
  const problems: string[] = [];
  const gate: GateSpec = { acceptance: [], slices: [] };
  if (!isRecord(value)) return { gate, problems: ['the gate must be a mapping with acceptance and/or slices.'] };
  if (typeof value['split'] === 'string') gate.split = value['split'];
  const acceptance = value['acceptance'] ?? [];
  if (!Array.isArray(acceptance)) problems.push('gate.acceptance must be a list of criteria.');
  else
    acceptance.forEach((entry: unknown, index) => {
      const criterion = criterionOf(entry, objective);
      if (typeof criterion === 'string') problems.push(`gate.acceptance[${index}]: ${criterion}`);
      else gate.acceptance.push(criterion);
    });
  const slices = value['slices'] ?? [];
  if (!Array.isArray(slices)) problems.push('gate.slices must be a list of slice checks.');
  else
    slices.forEach((entry: unknown, index) => {
      const check = sliceOf(entry);
      if (typeof check === 'string') problems.push(`gate.slices[${index}]: ${check}`);
      else gate.slices.push(check);
    });
  return { gate, problems };
}

/** A criterion, or a message saying why the entry is not one. */
function criterionOf(entry: unknown, objective?: { metric: string; direction: Direction }): Criterion | string {
  if (typeof entry === 'string')
    return parseExpression(entry) ?? `'${entry}' is not "metric operator number", for example "auc >= 0.8".`;
  if (!isRecord(entry) || typeof entry['metric'] !== 'string' || entry['metric'] === '')
    return 'a criterion object needs a metric name.';
  const metric = entry['metric'];
  const improvement = entry['improvement'];
  if (isRecord(improvement)) {
    const minAbsolute = improvement['min_absolute'];
    const minRelative = improvement['min_relative'];
    if (typeof minAbsolute !== 'number' && typeof minRelative !== 'number')
      return 'improvement needs min_absolute or min_relative (a number).';
    const direction = entry['direction'];
    return {
      kind: 'improvement',
      metric,
      ...(typeof minAbsolute === 'number' ? { minAbsolute } : {}),
      ...(typeof minRelative === 'number' ? { minRelative } : {}),
      relativeTo: typeof entry['relative_to'] === 'string' ? entry['relative_to'] : 'champion',
      direction:
        direction === 'maximize' || direction === 'minimize'
          ? direction
          : objective && sameMetric(metric, objective.metric)
            ? objective.direction
            : defaultDirection(metric),
    };
  }
  const op = entry['op'];
  const threshold = entry['value'];
  if (typeof op !== 'string' || !OPERATORS.includes(op as Operator) || typeof threshold !== 'number')
    return `criterion on '${metric}' needs op (one of ${OPERATORS.join(' ')}) and a numeric value, or an improvement.`;
  return { kind: 'threshold', metric, op: op as Operator, value: threshold };
}

function sliceOf(entry: unknown): SliceCheck | string {
  if (!isRecord(entry) || typeof entry['column'] !== 'string' || typeof entry['metric'] !== 'string')
    return 'a slice check needs a column and a metric.';
  const maxGap = entry['max_gap'];
  const min = entry['min'];
  if (typeof maxGap !== 'number' && typeof min !== 'number')
    return `the slice check on '${entry['column']}' needs max_gap or min.`;
  const minRows = entry['min_rows'];
  return {
    column: entry['column'],
    metric: entry['metric'],
    ...(typeof maxGap === 'number' ? { maxGap } : {}),
    ...(typeof min === 'number' ? { min } : {}),
    minRows: typeof minRows === 'number' ? minRows : DEFAULT_MIN_ROWS,
  };
}

/** The criterion as a person would write it. */
export function describeCriterion(criterion: Criterion): string {
  if (criterion.kind === 'threshold') return `${criterion.metric} ${criterion.op} ${criterion.value}`;
  const amounts = [
    criterion.minAbsolute !== undefined ? `${criterion.minAbsolute}` : null,
    criterion.minRelative !== undefined ? `${formatPercent(criterion.minRelative)}` : null,
  ].filter(Boolean);
  const better = criterion.direction === 'maximize' ? 'higher' : 'lower';
  return `${criterion.metric} at least ${amounts.join(' and ')} ${better} than ${criterion.relativeTo}`;
}

export function formatPercent(fraction: number): string {
  return `${Number((fraction * 100).toPrecision(6))}%`;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
