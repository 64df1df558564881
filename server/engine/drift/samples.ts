// The cleaned samples a drift report reads: per column and side, its finite numbers sorted or its
// category counts, and the figures the tests reuse (distinct values, standard deviation, value
// counts, the walk over both sorted samples), each computed once. PreparedColumns holds them, so
// that a reference prepared once serves every later report; prepareBoth does the heavy part of
// both sides on worker threads.
import { prepareFeaturesInParallel, sortAllInParallel } from './parallel';
import type { NumericSide, PreparedFeature } from './parallel';
import { sortFloat64 } from './sort';
import { compareSorted, countSorted, distinctSorted, standardDeviation } from './statistics';
import type { Counts, SortedComparison, SortedRuns } from './statistics';

/** One column's values: numbers (NaN and ±Infinity count as missing), or any JSON scalars. */
export type ColumnValues = Float64Array | ArrayLike<number | string | boolean | null | undefined>;
/** A table as columns by name. */
export type Columns = Record<string, ColumnValues>;

/** The cleaned sample of one feature on one side, memoized so that a reference is sorted once. */
export interface Sample {
  /** Finite numbers, ascending; null when the column holds something else than numbers. */
  sorted: Float64Array | null;
  /** Category counts, keyed by the value (numbers kept as numbers). */
  counts: Counts;
  size: number;
  /** Memoized figures of a numeric sample. */
  distinct?: number;
  valueCounts?: Counts;
  deviation?: number;
}

/** The walk over two sorted samples, kept per pair of samples: every test of a report reuses it. */
const comparisons = new WeakMap<Sample, WeakMap<Sample, SortedComparison>>();

export function comparisonOf(reference: Sample, current: Sample): SortedComparison {
  let comparison = comparisons.get(reference)?.get(current);
  if (!comparison) {
    comparison = compareSorted(reference.sorted as Float64Array, current.sorted as Float64Array);
    rememberComparison(reference, current, comparison);
  }
  return comparison;
}

function rememberComparison(reference: Sample, current: Sample, comparison: SortedComparison): void {
  let byCurrent = comparisons.get(reference);
  if (!byCurrent) comparisons.set(reference, (byCurrent = new WeakMap()));
  byCurrent.set(current, comparison);
}

export function distinctOf(sample: Sample): number {
  return (sample.distinct ??= distinctSorted(sample.sorted as Float64Array));
}

export function valueCountsOf(sample: Sample): Counts {
  return sample.sorted ? (sample.valueCounts ??= countSorted(sample.sorted)) : sample.counts;
}

export function deviationOf(sample: Sample): number {
  return (sample.deviation ??= standardDeviation(sample.sorted as Float64Array));
}

/**
 * Columns whose samples are cleaned and sorted once and kept: pass the same PreparedColumns as the
 * reference of successive reports (a deployment's monitor every interval) to sort it only once.
 */
export class PreparedColumns {
  readonly rows: number;
  private readonly samples = new Map<string, Sample>();

  constructor(readonly columns: Columns) {
    this.rows = Math.max(0, ...Object.values(columns).map((values) => values.length));
  }

  /**
   * Columns with every numeric column cleaned and sorted ahead, on worker threads: the way to
   * prepare a large reference (or current window) in a fraction of the time of one thread.
   */
  static async prepare(columns: Columns, options: { threads?: number } = {}): Promise<PreparedColumns> {
    const prepared = new PreparedColumns(columns);
    const names: string[] = [];
    const arrays: Float64Array[] = [];
    for (const [name, values] of Object.entries(columns)) {
      const numbers = finiteNumbers(values);
      if (!numbers) continue;
      names.push(name);
      arrays.push(numbers);
    }
    const sorting = sortAllInParallel(arrays, options.threads);
    // The main thread counts the categorical columns meanwhile.
    for (const name of Object.keys(columns)) if (!names.includes(name)) prepared.sample(name, true);
    const sorted = await sorting;
    names.forEach((name, index) => {
      const values = sorted[index] as Float64Array;
      prepared.samples.set(`n:${name}`, { sorted: values, counts: new Map(), size: values.length });
    });
    return prepared;
  }

  /**
   * A reference and a current sample prepared together for a report: each numeric feature common
   * to both is one task for a worker thread (clean and sort both sides, count their distinct
   * values, the reference's deviation, the walk over both), so the two threads share all the work
   * of both sides evenly while the main thread counts the categories. A reference already prepared
   * keeps its sorted samples (each worker gets a copy to walk).
   */
  static async prepareBoth(
    reference: Columns | PreparedColumns,
    current: Columns | PreparedColumns,
    options: { threads?: number } = {},
  ): Promise<{ reference: PreparedColumns; current: PreparedColumns }> {
    const preparedReference = reference instanceof PreparedColumns ? reference : new PreparedColumns(reference);
    const preparedCurrent = current instanceof PreparedColumns ? current : new PreparedColumns(current);
    const numeric: string[] = [];
    const categorical: string[] = [];
    const sides = new Map<string, [NumericSide, NumericSide]>();
    for (const feature of Object.keys(preparedReference.columns)) {
      if (!preparedCurrent.has(feature)) continue;
      const referenceSide = preparedReference.numericSide(feature);
      const currentSide = preparedCurrent.numericSide(feature);
      if (referenceSide && currentSide) {
        numeric.push(feature);
        sides.set(feature, [referenceSide, currentSide]);
      } else categorical.push(feature);
    }
    const working = prepareFeaturesInParallel(
      numeric.map((feature) => sides.get(feature) as [NumericSide, NumericSide]),
      options.threads,
      (index, result) => {
        const feature = numeric[index] as string;
        const referenceSample = preparedReference.adopt(feature, result.reference);
        const currentSample = preparedCurrent.adopt(feature, result.current);
        rememberComparison(referenceSample, currentSample, result.comparison);
      },
    );
    // Counting yields between columns so that the workers' finished tasks are answered with new ones.
    for (const feature of categorical) {
      preparedReference.sample(feature, true);
      await nextTurn();
      preparedCurrent.sample(feature, true);
      await nextTurn();
    }
    await working;
    return { reference: preparedReference, current: preparedCurrent };
  }

  has(feature: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.columns, feature);
  }

  /** The feature's sample; `categorical` reads numbers as categories. */
  sample(feature: string, categorical: boolean): Sample {
    const key = `${categorical ? 'c' : 'n'}:${feature}`;
    let sample = this.samples.get(key);
    if (sample) return sample;
    const values = this.columns[feature] ?? [];
    const numbers = categorical ? null : finiteNumbers(values);
    // A column of text is the same sample read either way: counted once.
    sample = numbers
      ? numericSample(sortFloat64(numbers))
      : categorical
        ? countCategories(values)
        : this.sample(feature, true);
    this.samples.set(key, sample);
    return sample;
  }

  /** What a worker needs of the feature's numbers: the sorted sample if known, else the column; null for text. */
  private numericSide(feature: string): NumericSide | null {
    const known = this.samples.get(`n:${feature}`);
    if (known) return known.sorted ? { sorted: known.sorted } : null;
    const values = this.columns[feature] ?? [];
    if (values instanceof Float64Array) return { column: values };
    const numbers = finiteNumbers(values);
    return numbers ? { numbers } : null;
  }

  /** Takes in a worker's sample (a known one stays as it is). */
  private adopt(feature: string, result: PreparedFeature['reference']): Sample {
    const key = `n:${feature}`;
    const known = this.samples.get(key);
    if (known) return known;
    const sample = numericSample(result.sorted, result.runs, result.deviation);
    this.samples.set(key, sample);
    return sample;
  }
}

function numericSample(sorted: Float64Array, runs?: SortedRuns, deviation?: number): Sample {
  const sample: Sample = { sorted, counts: new Map(), size: sorted.length };
  if (runs) {
    sample.distinct = runs.distinct;
    if (runs.values && runs.counts) {
      const counts: Counts = new Map();
      runs.values.forEach((value, index) => counts.set(value, (runs.counts as Float64Array)[index] as number));
      sample.valueCounts = counts;
    }
  }
  if (deviation !== undefined) sample.deviation = deviation;
  return sample;
}

/**
 * Category counts, missing values (null, undefined, NaN, ±Infinity, empty text) dropped as
 * Evidently drops NaN. One map look-up per value: the map gives a slot in a plain array of counts.
 */
function countCategories(values: ColumnValues): Sample {
  const slots = new Map<string | number, number>();
  const tallies: number[] = [];
  let size = 0;
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    if (value === null || value === undefined || value === '') continue;
    if (typeof value === 'number' && !Number.isFinite(value)) continue;
    const key = typeof value === 'boolean' ? String(value) : value;
    const slot = slots.get(key);
    if (slot === undefined) {
      slots.set(key, tallies.length);
      tallies.push(1);
    } else tallies[slot] = (tallies[slot] as number) + 1;
    size++;
  }
  const counts: Counts = new Map();
  for (const [key, slot] of slots) counts.set(key, tallies[slot] as number);
  return { sorted: null, counts, size };
}

/**
 * The finite numbers of a column in a new array, a view from offset 0 of a buffer of its own (a
 * worker takes the buffer whole), or null when the column holds text or booleans.
 */
export function finiteNumbers(values: ColumnValues): Float64Array | null {
  const numbers = new Float64Array(values.length);
  let size = 0;
  if (values instanceof Float64Array) {
    for (let index = 0; index < values.length; index++) {
      const value = values[index] as number;
      if (value - value === 0) numbers[size++] = value; // finite: NaN and ±Infinity give NaN
    }
    return numbers.subarray(0, size);
  }
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    if (typeof value === 'number') {
      if (value - value === 0) numbers[size++] = value;
    } else if (value !== null && value !== undefined && value !== '') return null;
  }
  return numbers.subarray(0, size);
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
