// The drift report of a current sample against a reference: per feature the test Evidently would
// choose (or the one asked for), its score against the threshold, a histogram for the dashboard,
// and dataset drift when the share of drifted features reaches `share`. Pure: columns in, report out.
import type { DriftReport, FeatureDrift, Histogram } from '../../shared/deployments';
import { PreparedColumns, comparisonOf, deviationOf, distinctOf, valueCountsOf } from './samples';
import type { Columns, Sample } from './samples';
import {
  binnedShares,
  chiSquaredTest,
  histogramSorted,
  jensenShannonDistance,
  ksTest,
  populationStabilityIndex,
  sturgesEdges,
  zTest,
} from './statistics';
import type { Counts, SortedComparison, TestOutcome } from './statistics';

export { PreparedColumns } from './samples';
export type { ColumnValues, Columns } from './samples';

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
    return { statistic: comparison.wasserstein / Math.max(deviationOf(reference), 0.001), pValue: null };
  }
  if (method === 'chi2' || method === 'z') {
    const referenceCounts = valueCountsOf(reference);
    const currentCounts = valueCountsOf(current);
    return method === 'chi2' ? chiSquaredTest(referenceCounts, currentCounts) : zTest(referenceCounts, currentCounts);
  }
  // Numbers with few distinct values get one bin per value: the memoized value counts serve.
  const shares =
    sortedReference && sortedCurrent && distinctOf(reference) > 20
      ? binnedShares({ reference: sortedReference, current: sortedCurrent }, distinctOf(reference))
      : binnedShares({ reference: valueCountsOf(reference), current: valueCountsOf(current) }, 0);
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

function unionSize(reference: Counts, current: Counts): number {
  let size = reference.size;
  for (const key of current.keys()) if (!reference.has(key)) size++;
  return size;
}
