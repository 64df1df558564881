// The univariate Parzen estimators of TPE, after Optuna's `_ParzenEstimator` (univariate mode,
// default parameters: consider_prior, prior_weight 1.0, consider_magic_clip, no consider_endpoints).
//
// A numeric parameter's estimator is a mixture of normals truncated to its range, one per observed
// value plus a wide "prior" component centred on the range (sigma = the whole range). Each
// observation's bandwidth is the larger distance to its neighbours among the sorted observations
// (the prior's mean included, the range ends as outer neighbours; the two outermost observations
// use their inner distance only), clipped to [range / min(100, n + 2), range]: the "magic clip"
// that keeps a crowd of close observations from collapsing to spikes. Log parameters are modelled
// in log space. Integers are modelled as the probability mass of each step's interval
// [x - step/2, x + step/2] (log integers: continuous in log space over [low - 1/2, high + 1/2],
// then rounded), as Optuna does. A categorical parameter's estimator mixes, per observation, a
// one-hot vector on the observed choice plus prior_weight / (n + 1) on every choice (normalized),
// with a uniform prior row.
// Where we differ in means but not in distribution: truncated normals are drawn by rejection (Optuna
// inverts the CDF), and the normal CDF uses a Chebyshev-fitted erfc accurate to 1.2e-7 relative.
import type { Choice, Param } from './space';
import type { Rng } from './random';
import { roundToStep } from './samplers';

const PRIOR_WEIGHT = 1.0;
const EPS = 1e-12;

/** A density over one parameter's values that can be sampled and scored. */
export interface ParzenEstimator {
  sample(rng: Rng): Choice;
  logPdf(value: Choice): number;
}

/**
 * Optuna's default weights of n observations in trial order: all 1 up to 25, beyond that the 25
 * most recent get 1 and older ones ramp linearly from 1/n up to 1.
 */
export function defaultWeights(n: number): number[] {
  if (n < 25) return new Array<number>(n).fill(1);
  const ramp = n - 25;
  const weights: number[] = [];
  for (let index = 0; index < ramp; index++) {
    weights.push(ramp === 1 ? 1 / n : 1 / n + ((1 - 1 / n) * index) / (ramp - 1));
  }
  return weights.concat(new Array<number>(25).fill(1));
}

/** The estimator of a parameter from its observed values, given oldest first. */
export function parzenEstimator(param: Param, observed: readonly Choice[]): ParzenEstimator {
  const observationWeights = defaultWeights(observed.length);
  const weights = normalize(observed.length === 0 ? [1] : [...observationWeights, PRIOR_WEIGHT]);
  if (param.type === 'categorical') return categoricalEstimator(param.choices, observed, weights);
  const values = observed.map((value) => Number(value));
  // A linear int, or a float with a step, is discrete: Optuna models both the same way.
  if (!param.log && (param.type === 'int' || param.step !== undefined)) {
    const step = param.step ?? 1;
    const grid = { low: param.low, high: param.high, step };
    return numericEstimator(values, weights, { ...grid, log: false }, grid);
  }
  if (param.type === 'int') {
    const bounds = { low: Math.log(param.low - 0.5), high: Math.log(param.high + 0.5), step: 0, log: true };
    return numericEstimator(values, weights, bounds, { low: param.low, high: param.high, step: 1 });
  }
  const bounds = param.log
    ? { low: Math.log(param.low), high: Math.log(param.high), step: 0, log: true }
    : { low: param.low, high: param.high, step: 0, log: false };
  return numericEstimator(values, weights, bounds, undefined);
}

interface Bounds {
  readonly low: number;
  readonly high: number;
  /** 0 for a continuous model; the step for a discrete (integer, linear) one. */
  readonly step: number;
  readonly log: boolean;
}

/** Bandwidths of observations (in the model's space) per Optuna's univariate rule; see the header. */
export function bandwidths(mus: readonly number[], bounds: Bounds): number[] {
  const { low, high, step } = bounds;
  const priorMu = 0.5 * (low + high);
  const withPrior = [...mus, priorMu];
  const order = withPrior.map((_, index) => index).sort((a, b) => (withPrior[a] as number) - (withPrior[b] as number));
  const sorted = [low - step / 2, ...order.map((index) => withPrior[index] as number), high + step / 2];
  const at = (index: number): number => sorted[index] as number;
  const sortedSigmas: number[] = [];
  for (let index = 1; index < sorted.length - 1; index++) {
    sortedSigmas.push(Math.max(at(index) - at(index - 1), at(index + 1) - at(index)));
  }
  if (sorted.length >= 4) {
    sortedSigmas[0] = at(2) - at(1);
    sortedSigmas[sortedSigmas.length - 1] = at(sorted.length - 2) - at(sorted.length - 3);
  }
  const sigmas = new Array<number>(withPrior.length);
  order.forEach((original, rank) => (sigmas[original] = sortedSigmas[rank] as number));
  const range = high - low + step;
  const minSigma = range / Math.min(100, 1 + mus.length + 1);
  return sigmas.slice(0, mus.length).map((sigma) => Math.min(range, Math.max(minSigma, sigma)));
}

function numericEstimator(
  values: readonly number[],
  weights: readonly number[],
  bounds: Bounds,
  rounding: { low: number; high: number; step: number } | undefined,
): ParzenEstimator {
  const { low, high, step } = bounds;
  const mus = values.map((value) => (bounds.log ? Math.log(value) : value));
  const sigmas = bandwidths(mus, bounds);
  mus.push(0.5 * (low + high));
  sigmas.push(high - low + step);
  const lower = low - step / 2;
  const upper = high + step / 2;
  const logNormalizers = mus.map((mu, index) =>
    Math.log(Math.max(EPS, normalMass(lower, upper, mu, sigmas[index] as number))),
  );

  const toModel = (value: Choice): number => (bounds.log ? Math.log(Number(value)) : Number(value));
  return {
    sample(rng) {
      const component = rng.weighted(weights);
      const x = truncatedNormal(rng, mus[component] as number, sigmas[component] as number, lower, upper);
      const value = bounds.log ? Math.exp(x) : x;
      return rounding === undefined ? value : roundToStep(rounding, value);
    },
    logPdf(value) {
      const x = toModel(value);
      const terms = mus.map((mu, index) => {
        const sigma = sigmas[index] as number;
        const logDensity =
          step > 0
            ? Math.log(Math.max(EPS, normalMass(x - step / 2, x + step / 2, mu, sigma)))
            : -0.5 * ((x - mu) / sigma) ** 2 - Math.log(sigma) - 0.5 * Math.log(2 * Math.PI);
        return Math.log(weights[index] as number) + logDensity - (logNormalizers[index] as number);
      });
      return logSumExp(terms);
    },
  };
}

function categoricalEstimator(
  choices: readonly Choice[],
  observed: readonly Choice[],
  weights: readonly number[],
): ParzenEstimator {
  const k = choices.length;
  const rows = observed.length + 1;
  const probabilities = new Array<number>(k).fill(0);
  observed.forEach((value, row) => {
    const base = PRIOR_WEIGHT / rows;
    const total = base * k + 1;
    const chosen = choices.indexOf(value);
    for (let index = 0; index < k; index++) {
      probabilities[index] =
        (probabilities[index] as number) + ((weights[row] as number) * (base + (index === chosen ? 1 : 0))) / total;
    }
  });
  // The prior row is uniform over the choices (with no observations it is the only row).
  const priorWeight = weights[weights.length - 1] as number;
  for (let index = 0; index < k; index++) probabilities[index] = (probabilities[index] as number) + priorWeight / k;
  return {
    sample: (rng) => choices[rng.weighted(probabilities)] as Choice,
    logPdf: (value) => Math.log(Math.max(EPS, probabilities[choices.indexOf(value)] ?? 0)),
  };
}

/** A draw from N(mu, sigma) truncated to [low, high], by rejection (mu lies in the range, so it is quick). */
function truncatedNormal(rng: Rng, mu: number, sigma: number, low: number, high: number): number {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const x = mu + sigma * rng.normal();
    if (x >= low && x <= high) return x;
  }
  return Math.min(high, Math.max(low, mu));
}

/** P(a <= X <= b) for X ~ N(mu, sigma), computed on the tail side for accuracy. */
function normalMass(a: number, b: number, mu: number, sigma: number): number {
  const za = (a - mu) / (sigma * Math.SQRT2);
  const zb = (b - mu) / (sigma * Math.SQRT2);
  if (za > 0) return 0.5 * (erfc(za) - erfc(zb));
  if (zb < 0) return 0.5 * (erfc(-zb) - erfc(-za));
  return 1 - 0.5 * (erfc(-za) + erfc(zb));
}

/** The complementary error function, Chebyshev-fitted (fractional error below 1.2e-7 everywhere). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const poly =
    -z * z -
    1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t *
                  (-0.18628806 +
                    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const value = t * Math.exp(poly);
  return x >= 0 ? value : 2 - value;
}

function logSumExp(terms: readonly number[]): number {
  const max = Math.max(...terms);
  if (!Number.isFinite(max)) return max;
  let sum = 0;
  for (const term of terms) sum += Math.exp(term - max);
  return max + Math.log(sum);
}

function normalize(weights: readonly number[]): number[] {
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  return weights.map((weight) => weight / total);
}
