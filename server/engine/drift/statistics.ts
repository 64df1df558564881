// The drift statistics of one feature, on samples already cleaned of missing values: the
// two-sample Kolmogorov-Smirnov test and the Wasserstein distance on sorted numeric samples, the
// chi-squared test and the Z-test for proportions on category counts, and the Jensen-Shannon
// distance and the population stability index on binned shares. Each follows what Evidently
// computes (with scipy) for the test of the same name, so its figures and verdicts are Evidently's.
import { ksTwoSampleProbability } from './kolmogorov';
import { chiSquaredSurvival, normalCdf } from './special';

/** What one walk over two sorted samples yields: the ECDF distances and the distinct values. */
export interface SortedComparison {
  /** sup |F_ref − F_cur|, the two-sample KS statistic before scipy's rounding. */
  ksDistance: number;
  /** ∫ |F_ref − F_cur|, scipy.stats.wasserstein_distance. */
  wasserstein: number;
  /** Distinct values in both samples together. */
  distinctValues: number;
  /** Distinct values in each sample. */
  referenceDistinct: number;
  currentDistinct: number;
}

/**
 * Walks two ascending samples once: KS distance, Wasserstein distance, distinct values.
 * Self-contained: its source also runs in a worker thread (parallel.ts).
 */
export function compareSorted(reference: Float64Array, current: Float64Array): SortedComparison {
  const nr = reference.length;
  const nc = current.length;
  let i = 0;
  let j = 0;
  // The ECDF gap F_ref − F_cur after a value is (i·nc − j·nr) / (nr·nc): kept as the integer
  // numerator (exact in a double for samples up to 10^7), divided once at the end.
  let widest = 0;
  let distinctValues = 0;
  let referenceDistinct = 0;
  let currentDistinct = 0;
  // Wasserstein: the gap after each distinct value times the step to the next, summed with
  // Neumaier's compensation (inlined: this loop runs over millions of values).
  let sum = 0;
  let compensation = 0;
  let previousValue = 0;
  let previousGap = 0;
  // The heads of both samples, +Infinity once a sample is used up (the values are finite): the
  // next value is the smaller of the two, and every copy of it on either side is passed at once.
  let nextReference = nr > 0 ? (reference[0] as number) : Number.POSITIVE_INFINITY;
  let nextCurrent = nc > 0 ? (current[0] as number) : Number.POSITIVE_INFINITY;
  while (i < nr || j < nc) {
    const value = nextReference < nextCurrent ? nextReference : nextCurrent;
    if (nextReference === value) {
      referenceDistinct++;
      while (nextReference === value) nextReference = ++i < nr ? (reference[i] as number) : Number.POSITIVE_INFINITY;
    }
    if (nextCurrent === value) {
      currentDistinct++;
      while (nextCurrent === value) nextCurrent = ++j < nc ? (current[j] as number) : Number.POSITIVE_INFINITY;
    }
    if (distinctValues > 0) {
      const term = previousGap * (value - previousValue);
      const total = sum + term;
      compensation += sum >= term ? sum - total + term : term - total + sum;
      sum = total;
    }
    distinctValues++;
    const difference = i * nc - j * nr;
    const gap = difference < 0 ? -difference : difference;
    if (gap > widest) widest = gap;
    previousValue = value;
    previousGap = gap;
  }
  const scale = nr * nc;
  return {
    ksDistance: widest / scale,
    wasserstein: (sum + compensation) / scale,
    distinctValues,
    referenceDistinct,
    currentDistinct,
  };
}

/** The distinct values of an ascending sample and, when there are at most `limit`, each with its count. */
export interface SortedRuns {
  distinct: number;
  /** The distinct values ascending, or null past the limit. */
  values: Float64Array | null;
  counts: Float64Array | null;
}

/**
 * One pass over an ascending sample: its distinct values, and their counts when few (what chi2, Z
 * and per-value bins need). Self-contained: its source also runs in a worker thread (parallel.ts).
 */
export function sortedRuns(sorted: Float64Array, limit: number): SortedRuns {
  let values: Float64Array | null = new Float64Array(limit);
  let counts: Float64Array | null = new Float64Array(limit);
  let distinct = 0;
  let index = 0;
  while (index < sorted.length) {
    const value = sorted[index] as number;
    let end = index + 1;
    while (end < sorted.length && sorted[end] === value) end++;
    if (distinct < limit && values && counts) {
      values[distinct] = value;
      counts[distinct] = end - index;
    }
    distinct++;
    index = end;
  }
  if (distinct > limit) values = counts = null;
  return { distinct, values: values?.slice(0, distinct) ?? null, counts: counts?.slice(0, distinct) ?? null };
}

/** Distinct values of one ascending sample. */
export function distinctSorted(sorted: Float64Array): number {
  let count = 0;
  for (let index = 0; index < sorted.length; index++) if (index === 0 || sorted[index] !== sorted[index - 1]) count++;
  return count;
}

export interface TestOutcome {
  statistic: number;
  pValue: number | null;
}

/** The two-sample KS test as scipy.stats.ks_2samp (two-sided, method 'auto'). */
export function ksTest(reference: Float64Array, current: Float64Array, comparison?: SortedComparison): TestOutcome {
  const distance = (comparison ?? compareSorted(reference, current)).ksDistance;
  const { statistic, pValue } = ksTwoSampleProbability(distance, reference.length, current.length);
  return { statistic, pValue };
}

/** Wasserstein distance divided by the reference's standard deviation (at least 0.001), as Evidently. */
export function wassersteinNormed(
  reference: Float64Array,
  current: Float64Array,
  comparison?: SortedComparison,
): TestOutcome {
  const distance = (comparison ?? compareSorted(reference, current)).wasserstein;
  return { statistic: distance / Math.max(standardDeviation(reference), 0.001), pValue: null };
}

/** The population standard deviation (numpy.std, ddof 0), in two passes. */
export function standardDeviation(values: Float64Array): number {
  const length = values.length;
  let sum = 0;
  let compensation = 0;
  for (let index = 0; index < length; index++) {
    const value = values[index] as number;
    const total = sum + value;
    compensation += Math.abs(sum) >= Math.abs(value) ? sum - total + value : value - total + sum;
    sum = total;
  }
  const mean = (sum + compensation) / length;
  sum = 0;
  compensation = 0;
  for (let index = 0; index < length; index++) {
    const deviation = (values[index] as number) - mean;
    const square = deviation * deviation;
    const total = sum + square;
    compensation += sum >= square ? sum - total + square : square - total + sum;
    sum = total;
  }
  return Math.sqrt((sum + compensation) / length);
}

/** Category counts of one sample; keys are the values (numbers stay numbers, for ordering). */
export type Counts = Map<string | number, number>;

/** The union of both samples' categories, in first-seen order. */
export function categoryKeys(reference: Counts, current: Counts): (string | number)[] {
  const keys = [...reference.keys()];
  for (const key of current.keys()) if (!reference.has(key)) keys.push(key);
  return keys;
}

/**
 * Evidently's chi-squared test: expected counts are the reference's scaled to the current size,
 * observed the current's, over all categories of both (scipy.stats.chisquare, k − 1 degrees). A
 * category absent from the reference makes the statistic infinite and the p-value 0.
 */
export function chiSquaredTest(reference: Counts, current: Counts): TestOutcome {
  const referenceSize = sumCounts(reference);
  const currentSize = sumCounts(current);
  const keys = categoryKeys(reference, current);
  const scale = currentSize / referenceSize;
  let statistic = 0;
  for (const key of keys) {
    const expected = (reference.get(key) ?? 0) * scale;
    const observed = current.get(key) ?? 0;
    statistic += ((observed - expected) * (observed - expected)) / expected;
  }
  // One category leaves no degree of freedom: scipy answers NaN, which never counts as drift.
  if (keys.length < 2) return { statistic, pValue: 1 };
  return { statistic, pValue: chiSquaredSurvival(statistic, keys.length - 1) };
}

/**
 * Evidently's Z-test for two proportions: the share of rows that are not the smallest category
 * (in sort order) in each sample, pooled variance, two-sided p = 2(1 − Φ(|z|)).
 */
export function zTest(reference: Counts, current: Counts): TestOutcome {
  const keys = categoryKeys(reference, current);
  if (reference.size === 1 && current.size === 1 && keys.length === 1) return { statistic: 0, pValue: 1 };
  const first = sortKeys(keys)[0] as string | number;
  const referenceSize = sumCounts(reference);
  const currentSize = sumCounts(current);
  const referenceShare = (referenceSize - (reference.get(first) ?? 0)) / referenceSize;
  const currentShare = (currentSize - (current.get(first) ?? 0)) / currentSize;
  const pooled = (referenceShare * referenceSize + currentShare * currentSize) / (referenceSize + currentSize);
  const z = (referenceShare - currentShare) / Math.sqrt(pooled * (1 - pooled) * (1 / referenceSize + 1 / currentSize));
  return { statistic: z, pValue: 2 * (1 - normalCdf(Math.abs(z))) };
}

/** Keys sorted as Python sorts them: numbers numerically, strings by code point. */
export function sortKeys(keys: (string | number)[]): (string | number)[] {
  return [...keys].sort((a, b) => {
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    const left = String(a);
    const right = String(b);
    return left < right ? -1 : left > right ? 1 : 0;
  });
}

/** Reference and current shares over common bins, and the bins' labels or edges. */
export interface BinnedShares {
  reference: Float64Array;
  current: Float64Array;
  /** Numeric edges (bins + 1 of them) or the category of each bin. */
  bins: number[] | (string | number)[];
  numericEdges: boolean;
}

/**
 * Evidently's binning for Jensen-Shannon and PSI: a numeric feature with more than 20 distinct
 * reference values gets Sturges' equal-width bins over both samples (numpy.histogram_bin_edges
 * 'sturges'); any other feature gets one bin per value.
 */
export function binnedShares(
  sample: { reference: Float64Array; current: Float64Array } | { reference: Counts; current: Counts },
  referenceDistinct: number,
): BinnedShares {
  if (sample.reference instanceof Float64Array && sample.current instanceof Float64Array) {
    if (referenceDistinct > 20) return sturgesShares(sample.reference, sample.current);
    return countShares(countSorted(sample.reference), countSorted(sample.current));
  }
  return countShares(sample.reference as Counts, sample.current as Counts);
}

/** Equal-width bin edges as numpy computes them for bins='sturges' on both samples together. */
export function sturgesEdges(reference: Float64Array, current: Float64Array): number[] {
  let first = Math.min(reference[0] as number, current[0] as number);
  let last = Math.max(reference[reference.length - 1] as number, current[current.length - 1] as number);
  const size = reference.length + current.length;
  const width = (last - first) / (Math.log2(size) + 1);
  const bins = width ? Math.ceil((last - first) / width) : 1;
  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }
  // numpy.linspace: start + i·step, the last edge exactly the stop.
  const step = (last - first) / bins;
  const edges: number[] = [];
  for (let index = 0; index < bins; index++) edges.push(index * step + first);
  edges.push(last);
  return edges;
}

/** Counts of a sorted sample per bin [e_i, e_i+1), the last bin closed, as numpy.histogram. */
export function histogramSorted(sorted: Float64Array, edges: number[]): Float64Array {
  const counts = new Float64Array(edges.length - 1);
  let previous = lowerBound(sorted, edges[0] as number);
  for (let index = 1; index < edges.length; index++) {
    const bound =
      index === edges.length - 1
        ? upperBound(sorted, edges[index] as number)
        : lowerBound(sorted, edges[index] as number);
    counts[index - 1] = bound - previous;
    previous = bound;
  }
  return counts;
}

function sturgesShares(reference: Float64Array, current: Float64Array): BinnedShares {
  const edges = sturgesEdges(reference, current);
  const referenceShares = histogramSorted(reference, edges).map((count) => count / reference.length);
  const currentShares = histogramSorted(current, edges).map((count) => count / current.length);
  return { reference: referenceShares, current: currentShares, bins: edges, numericEdges: true };
}

function countShares(reference: Counts, current: Counts): BinnedShares {
  const keys = categoryKeys(reference, current);
  const referenceSize = sumCounts(reference);
  const currentSize = sumCounts(current);
  return {
    reference: Float64Array.from(keys, (key) => (reference.get(key) ?? 0) / referenceSize),
    current: Float64Array.from(keys, (key) => (current.get(key) ?? 0) / currentSize),
    bins: keys,
    numericEdges: false,
  };
}

/** Counts per distinct value of a sorted numeric sample. */
export function countSorted(sorted: Float64Array): Counts {
  const counts: Counts = new Map();
  let index = 0;
  while (index < sorted.length) {
    const value = sorted[index] as number;
    let end = index + 1;
    while (end < sorted.length && sorted[end] === value) end++;
    counts.set(value, end - index);
    index = end;
  }
  return counts;
}

/** scipy.spatial.distance.jensenshannon(p, q, base=2) on the binned shares (zeros kept). */
export function jensenShannonDistance(shares: BinnedShares): number {
  const p = normalize(shares.reference);
  const q = normalize(shares.current);
  let left = 0;
  let right = 0;
  for (let index = 0; index < p.length; index++) {
    const pi = p[index] as number;
    const qi = q[index] as number;
    const mi = (pi + qi) / 2;
    left += relativeEntropy(pi, mi);
    right += relativeEntropy(qi, mi);
  }
  return Math.sqrt((left + right) / Math.LN2 / 2);
}

/** Evidently's PSI: Σ (r − c) ln(r / c) over the binned shares, with empty bins filled first. */
export function populationStabilityIndex(shares: BinnedShares): number {
  const reference = fillZeroes(shares.reference);
  const current = fillZeroes(shares.current);
  let total = 0;
  for (let index = 0; index < reference.length; index++) {
    const r = reference[index] as number;
    const c = current[index] as number;
    total += (r - c) * Math.log(r / c);
  }
  return total;
}

/** Evidently replaces empty shares by a tenth of a thousandth, or less when some share is that small. */
function fillZeroes(shares: Float64Array): Float64Array {
  let smallest = Number.POSITIVE_INFINITY;
  for (const share of shares) if (share !== 0 && share < smallest) smallest = share;
  const fill = smallest <= 0.0001 ? smallest / 1e6 : 0.0001;
  return shares.map((share) => (share === 0 ? fill : share));
}

function normalize(values: Float64Array): Float64Array {
  let total = 0;
  for (const value of values) total += value;
  return values.map((value) => value / total);
}

function relativeEntropy(x: number, y: number): number {
  if (x > 0 && y > 0) return x * Math.log(x / y);
  if (x === 0 && y >= 0) return 0;
  return Number.POSITIVE_INFINITY;
}

function sumCounts(counts: Counts): number {
  let total = 0;
  for (const count of counts.values()) total += count;
  return total;
}

function lowerBound(sorted: Float64Array, value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as number) < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

function upperBound(sorted: Float64Array, value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as number) <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}
