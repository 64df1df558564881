// Column profiles: the figures a version records so that two versions can be compared without
// reading the data again. Numbers get min, max, mean, standard deviation and quantiles; timestamps
// get their earliest and latest value; every column gets its null share, distinct count and most
// frequent values.
import type { InferredSchema } from './infer';
import type { Table, Value } from './sources';
import type { ColumnType } from './spec';

export interface TopValue {
  value: Exclude<Value, null>;
  count: number;
}

export interface ColumnProfile {
  name: string;
  type: ColumnType;
  /** Non-null values. */
  count: number;
  nulls: number;
  /** nulls / rows (0 for an empty table). */
  null_share: number;
  /** Distinct non-null values, counted exactly. */
  distinct: number;
  /** The 5 most frequent values, most frequent first; ties in order of first appearance. */
  top: TopValue[];
  /** Numbers: smallest and largest value. Timestamps: earliest and latest, as written. */
  min?: number | string;
  max?: number | string;
  mean?: number;
  /** Sample standard deviation (divides by n - 1), as pandas and R report it; 0 for one value. */
  std?: number;
  /** Quantiles by linear interpolation between order statistics (NumPy's default method). */
  quantiles?: { p5: number; p25: number; p50: number; p75: number; p95: number };
}

export interface Profile {
  rows: number;
  columns: ColumnProfile[];
}

const TOP_VALUES = 5;

/** The profile of a table, with each column's type taken from the inferred schema. */
export function profileTable(table: Table, schema: InferredSchema): Profile {
  return {
    rows: table.rows.length,
    columns: schema.columns.map((column) => profileColumn(table, column.name, column.type)),
  };
}

function profileColumn(table: Table, name: string, type: ColumnType): ColumnProfile {
  const counts = new Map<Exclude<Value, null>, number>();
  const numbers: number[] = [];
  let nulls = 0;
  for (const row of table.rows) {
    const value = row[name] ?? null;
    if (value === null) {
      nulls++;
      continue;
    }
    counts.set(value, (counts.get(value) ?? 0) + 1);
    if (typeof value === 'number') numbers.push(value);
  }
  const rows = table.rows.length;
  const top = [...counts.entries()]
    .map(([value, count], order) => ({ value, count, order }))
    .sort((a, b) => b.count - a.count || a.order - b.order)
    .slice(0, TOP_VALUES)
    .map(({ value, count }) => ({ value, count }));
  const profile: ColumnProfile = {
    name,
    type,
    count: rows - nulls,
    nulls,
    null_share: rows === 0 ? 0 : nulls / rows,
    distinct: counts.size,
    top,
  };
  if ((type === 'integer' || type === 'number') && numbers.length > 0) Object.assign(profile, numberFigures(numbers));
  if (type === 'timestamp' && counts.size > 0) {
    // ISO 8601 texts in one zone sort like the instants they name; mixed zones compare by instant.
    const instants = [...counts.keys()].map((value) => ({ text: String(value), time: Date.parse(String(value)) }));
    instants.sort((a, b) => a.time - b.time);
    profile.min = instants[0]?.text ?? '';
    profile.max = instants[instants.length - 1]?.text ?? '';
  }
  return profile;
}

/** min, max, mean, sample standard deviation and quantiles of a non-empty list of numbers. */
export function numberFigures(
  values: number[],
): Required<Pick<ColumnProfile, 'min' | 'max' | 'mean' | 'std' | 'quantiles'>> {
  const sorted = Float64Array.from(values).sort();
  // Welford's update keeps the variance accurate when values are large and close together.
  let mean = 0;
  let squares = 0;
  sorted.forEach((value, index) => {
    const delta = value - mean;
    mean += delta / (index + 1);
    squares += delta * (value - mean);
  });
  const n = sorted.length;
  return {
    min: sorted[0] ?? 0,
    max: sorted[n - 1] ?? 0,
    mean,
    std: n > 1 ? Math.sqrt(squares / (n - 1)) : 0,
    quantiles: {
      p5: quantile(sorted, 0.05),
      p25: quantile(sorted, 0.25),
      p50: quantile(sorted, 0.5),
      p75: quantile(sorted, 0.75),
      p95: quantile(sorted, 0.95),
    },
  };
}

/** The p-quantile of sorted values, interpolating linearly between the two nearest ranks. */
export function quantile(sorted: Float64Array, p: number): number {
  const position = (sorted.length - 1) * p;
  const below = Math.floor(position);
  const low = sorted[below] ?? 0;
  const high = sorted[Math.min(below + 1, sorted.length - 1)] ?? low;
  return low + (position - below) * (high - low);
}
