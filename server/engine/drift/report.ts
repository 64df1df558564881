// The drift report of a current sample against a reference: per feature the test Evidently would
// choose (or the one asked for), its score against the threshold, a histogram for the dashboard,
// and dataset drift when the share of drifted features reaches `share`. Pure: columns in, report out.
import type { DriftReport, FeatureDrift, Histogram } from '../../shared/deployments';
import { sortAllInParallel } from './parallel';
import { sortFloat64 } from './sort';
import {
  binnedShares,
  chiSquaredTest,
  compareSorted,
  countSorted,
  distinctSorted,
  histogramSorted,
  jensenShannonDistance,
  ksTest,
  populationStabilityIndex,
  standardDeviation,
  sturgesEdges,
  zTest,
} from './statistics';
import type { Counts, SortedComparison, TestOutcome } from './statistics';

/** One column's values: numbers (NaN and ±Infinity count as missing), or any JSON scalars. */
export type ColumnValues = Float64Array | ArrayLike<number | string | boolean | null | undefined>;
/** A table as columns by name. */
export type Columns = Record<string, ColumnValues>;

export const DRIFT_METHODS = ['ks', 'chi2', 'z', 'wasserstein', 'jensenshannon', 'psi'] as const;
export type DriftMethod = (typeof DRIFT_METHODS)[number];

/** Evidently's default threshold per test: a p-value level for tests, a distance otherwise. */
export const DEFAULT_THRESHOLDS: Record<DriftMethod, number> = {
  ks: 0.05,
  chi2: 0.05,
  z: 0.05,
  wasserstein: 0.1,
  jensenshannon: 0.1,
  psi: 0.1,
};

/** Evidently's sample size above which distances replace tests. */
export const SMALL_REFERENCE_ROWS = 1000;

export interface DriftOptions {
  /**
   * One test for every feature it fits: ks and wasserstein numeric features, chi2 and z categories
   * and numbers with at most 5 values, jensenshannon and psi all; other features keep the default.
   */
  method?: DriftMethod;
  /** Replaces the default threshold of every test used. */
  threshold?: number;
  /** Share of drifted features at which the dataset counts as drifted (default 0.5). */
  share?: number;
  /** The features to compare (default, or empty: the reference's columns that the current sample also has). */
  features?: string[];
  /** Features to treat as categories even when their values are numbers. */
  categorical?: string[];
}

/** Bad input for a drift report, such as a feature missing from one sample. */
export class DriftError extends Error {}

/** The cleaned sample of one feature on one side, memoized so that a reference is sorted once. */
interface Sample {
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

function comparisonOf(reference: Sample, current: Sample): SortedComparison {
  let byCurrent = comparisons.get(reference);
  if (!byCurrent) comparisons.set(reference, (byCurrent = new WeakMap()));
  let comparison = byCurrent.get(current);
  if (!comparison) {
    comparison = compareSorted(reference.sorted as Float64Array, current.sorted as Float64Array);
    byCurrent.set(current, comparison);
  }
  return comparison;
}

function distinctOf(sample: Sample): number {
  return (sample.distinct ??= distinctSorted(sample.sorted as Float64Array));
}

function valueCountsOf(sample: Sample): Counts {
  return sample.sorted ? (sample.valueCounts ??= countSorted(sample.sorted)) : sample.counts;
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

  has(feature: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.columns, feature);
  }

  /** The feature's sample; `categorical` reads numbers as categories. */
  sample(feature: string, categorical: boolean): Sample {
    const key = `${categorical ? 'c' : 'n'}:${feature}`;
    let sample = this.samples.get(key);
    if (!sample) {
      sample = cleanSample(this.columns[feature] ?? [], categorical);
      this.samples.set(key, sample);
    }
    return sample;
  }
}

/** A drift report of `current` against `reference` (see DriftOptions for the choices). */
export function driftReport(
  reference: Columns | PreparedColumns,
  current: Columns | PreparedColumns,
  options: DriftOptions = {},
): DriftReport {
  const referenceColumns = reference instanceof PreparedColumns ? reference : new PreparedColumns(reference);
  const currentColumns = current instanceof PreparedColumns ? current : new PreparedColumns(current);
  const features = options.features?.length
    ? options.features
    : Object.keys(referenceColumns.columns).filter((name) => currentColumns.has(name));
  if (features.length === 0)
    throw new DriftError('the reference and current data have no column in common. Give data with the same columns.');
  for (const feature of features) {
    if (!referenceColumns.has(feature)) throw new DriftError(`the reference data has no column '${feature}'.`);
    if (!currentColumns.has(feature)) throw new DriftError(`the current data has no column '${feature}'.`);
  }
  const categorical = new Set(options.categorical ?? []);
  const results = features.map((feature) =>
    featureDrift(feature, referenceColumns, currentColumns, categorical.has(feature), options),
  );
  const drifted = results.filter((result) => result.drifted).length;
  const shareThreshold = options.share ?? 0.5;
  const share = drifted / results.length;
  return {
    referenceRows: referenceColumns.rows,
    currentRows: currentColumns.rows,
    features: results,
    driftedFeatures: drifted,
    share,
    shareThreshold,
    datasetDrift: share >= shareThreshold,
  };
}

function featureDrift(
  feature: string,
  referenceColumns: PreparedColumns,
  currentColumns: PreparedColumns,
  forceCategorical: boolean,
  options: DriftOptions,
): FeatureDrift {
  let reference = referenceColumns.sample(feature, forceCategorical);
  let current = currentColumns.sample(feature, forceCategorical);
  // A feature is numeric only when both samples hold nothing but numbers.
  if (!forceCategorical && (reference.sorted === null || current.sorted === null)) {
    reference = referenceColumns.sample(feature, true);
    current = currentColumns.sample(feature, true);
  }
  if (reference.size === 0)
    throw new DriftError(`feature '${feature}' has no values in the reference data (all missing).`);
  if (current.size === 0) throw new DriftError(`feature '${feature}' has no values in the current data (all missing).`);
  const numeric = reference.sorted !== null && current.sorted !== null;
  const comparison = numeric ? comparisonOf(reference, current) : null;
  const distinct = comparison ? comparison.distinctValues : unionSize(reference.counts, current.counts);
  const method = chooseMethod(options.method, numeric, reference.size, distinct);
  const threshold = options.threshold ?? DEFAULT_THRESHOLDS[method];
  const outcome = runTest(method, reference, current, comparison);
  const isTest = method === 'ks' || method === 'chi2' || method === 'z';
  const score = isTest ? (outcome.pValue as number) : outcome.statistic;
  // Evidently: KS drifts at p ≤ threshold, chi-squared and Z at p < threshold, distances at ≥.
  const drifted = method === 'ks' ? score <= threshold : isTest ? score < threshold : score >= threshold;
  // Numbers with at most 5 distinct values are categories to Evidently (its tests count them):
  // reported and drawn as such.
  const asCategories = !numeric || distinct <= 5;
  return {
    feature,
    kind: asCategories ? 'categorical' : 'numeric',
    test: method,
    statistic: outcome.statistic,
    pValue: outcome.pValue,
    score,
    threshold,
    drifted,
    histogram: histogramOf(reference, current, !asCategories),
  };
}

/** Evidently's default test (get_default_stattest), or the requested one where it applies. */
export function chooseMethod(
  requested: DriftMethod | undefined,
  numeric: boolean,
  referenceSize: number,
  distinct: number,
): DriftMethod {
  const fewValues = !numeric || distinct <= 5;
  // Tests on counts fit categories and numbers with few values, as in Evidently's own choice.
  const fits =
    requested === 'ks' || requested === 'wasserstein'
      ? numeric
      : requested === 'chi2' || requested === 'z'
        ? fewValues
        : true;
  if (requested && fits) return requested;
  if (referenceSize <= SMALL_REFERENCE_ROWS) {
    if (fewValues) return distinct > 2 ? 'chi2' : 'z';
    return 'ks';
  }
  return fewValues ? 'jensenshannon' : 'wasserstein';
}

function runTest(
  method: DriftMethod,
  reference: Sample,
  current: Sample,
  comparison: SortedComparison | null,
): TestOutcome {
  const sortedReference = reference.sorted;
  const sortedCurrent = current.sorted;
  if (method === 'ks' || method === 'wasserstein') {
    if (!sortedReference || !sortedCurrent || !comparison) throw new Error(`${method} needs numeric samples`);
    if (method === 'ks') return ksTest(sortedReference, sortedCurrent, comparison);
    // Evidently norms by the reference's standard deviation, at least 0.001 (wassersteinNormed).
    reference.deviation ??= standardDeviation(sortedReference);
    return { statistic: comparison.wasserstein / Math.max(reference.deviation, 0.001), pValue: null };
  }
  if (method === 'chi2' || method === 'z') {
    const referenceCounts = valueCountsOf(reference);
    const currentCounts = valueCountsOf(current);
    return method === 'chi2' ? chiSquaredTest(referenceCounts, currentCounts) : zTest(referenceCounts, currentCounts);
  }
  const shares =
    sortedReference && sortedCurrent
      ? binnedShares({ reference: sortedReference, current: sortedCurrent }, distinctOf(reference))
      : binnedShares({ reference: reference.counts, current: current.counts }, 0);
  const statistic = method === 'psi' ? populationStabilityIndex(shares) : jensenShannonDistance(shares);
  return { statistic, pValue: null };
}

const HISTOGRAM_CATEGORIES = 20;

/** Shares per bin for the dashboard: Sturges bins for numbers, the commonest categories otherwise. */
function histogramOf(reference: Sample, current: Sample, numeric: boolean): Histogram {
  if (numeric) {
    const sortedReference = reference.sorted as Float64Array;
    const sortedCurrent = current.sorted as Float64Array;
    const edges = sturgesEdges(sortedReference, sortedCurrent);
    return {
      bins: edges,
      reference: Array.from(histogramSorted(sortedReference, edges), (count) => count / sortedReference.length),
      current: Array.from(histogramSorted(sortedCurrent, edges), (count) => count / sortedCurrent.length),
    };
  }
  const referenceCounts = valueCountsOf(reference);
  const currentCounts = valueCountsOf(current);
  const totals = new Map<string | number, number>();
  for (const [key, count] of referenceCounts) totals.set(key, count / reference.size);
  for (const [key, count] of currentCounts) totals.set(key, (totals.get(key) ?? 0) + count / current.size);
  let keys = [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, HISTOGRAM_CATEGORIES)
    .map(([key]) => key);
  // Numbers read as categories (few distinct values) are drawn in their order.
  if (keys.every((key) => typeof key === 'number')) keys = keys.sort((a, b) => (a as number) - (b as number));
  return {
    bins: keys.map(String),
    reference: keys.map((key) => (referenceCounts.get(key) ?? 0) / reference.size),
    current: keys.map((key) => (currentCounts.get(key) ?? 0) / current.size),
  };
}

/** Drops missing values (null, undefined, NaN, ±Infinity, empty text) as Evidently drops NaN. */
function cleanSample(values: ColumnValues, categorical: boolean): Sample {
  if (!categorical) {
    const numbers = finiteNumbers(values);
    if (numbers) return { sorted: sortFloat64(numbers), counts: new Map(), size: numbers.length };
  }
  const counts: Counts = new Map();
  let size = 0;
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    if (value === null || value === undefined || value === '') continue;
    if (typeof value === 'number' && !Number.isFinite(value)) continue;
    const key = typeof value === 'boolean' ? String(value) : value;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    size++;
  }
  return { sorted: null, counts, size };
}

/**
 * The finite numbers of a column in a new array, a view from offset 0 of a buffer of its own (a
 * worker takes the buffer whole), or null when the column holds text or booleans.
 */
function finiteNumbers(values: ColumnValues): Float64Array | null {
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

function unionSize(reference: Counts, current: Counts): number {
  let size = reference.size;
  for (const key of current.keys()) if (!reference.has(key)) size++;
  return size;
}
