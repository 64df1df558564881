// P-values of the two-sample Kolmogorov-Smirnov test, chosen the way scipy.stats.ks_2samp does with
// its default method 'auto': the exact distribution of D when both samples have at most 10,000
// values, else the one-sample distribution of D_n with n = round(n1·n2 / (n1 + n2)), evaluated by
// Simard and L'Ecuyer's choice of algorithms (2011): Ruben-Gambino at the edges, Durbin's matrix
// (Marsaglia, Tsang and Wang 2003) for small n·d², Pelz and Good's expansion (1976) for large n,
// and twice Smirnov's one-sided tail (Birnbaum-Tingey sum) in the upper tail.
import { logGamma } from './special';

/** Largest sample size for which the exact two-sample distribution is used (scipy's MAX_AUTO_N). */
export const EXACT_MAX_SAMPLE = 10_000;

export interface KsProbability {
  /** D, rounded to a multiple of 1/lcm(n1, n2) when the exact distribution is used, as scipy does. */
  statistic: number;
  pValue: number;
  method: 'exact' | 'asymptotic';
}

/** The two-sided p-value of the two-sample statistic `d` for samples of sizes n1 and n2. */
export function ksTwoSampleProbability(d: number, n1: number, n2: number): KsProbability {
  if (Math.max(n1, n2) <= EXACT_MAX_SAMPLE) {
    const divisor = greatestCommonDivisor(n1, n2);
    const lcm = (n1 / divisor) * n2;
    const h = roundHalfEven(d * lcm);
    const statistic = h / lcm;
    if (h === 0) return { statistic, pValue: 1, method: 'exact' };
    const pValue = n1 === n2 ? exactOutsideSquare(n1, h) : exactOutsideBand(n1, n2, divisor, h);
    if (pValue >= 0 && pValue <= 1) return { statistic, pValue, method: 'exact' };
  }
  const larger = Math.max(n1, n2);
  const smaller = Math.min(n1, n2);
  const effective = roundHalfEven((larger * smaller) / (larger + smaller));
  return { statistic: d, pValue: clip(kolmogorovSurvival(effective, d)), method: 'asymptotic' };
}

/**
 * P(D ≥ h/n) for two samples of the same size n: twice the alternating sum of
 * C(2n, n − k·h) / C(2n, n), written as nested products so that nothing cancels.
 */
function exactOutsideSquare(n: number, h: number): number {
  let nested = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    // ratio = C(2n, n − (k+1)h) / C(2n, n − k·h), a product of h factors below 1.
    let ratio = 1;
    for (let j = 0; j < h; j++) ratio = (ratio * (n - k * h - j)) / (n + k * h + j + 1);
    nested = ratio * (1 - nested);
  }
  return 2 * nested;
}

/**
 * P(D ≥ d) for samples of sizes m ≠ n: the share of monotone lattice paths from (0, 0) to (m, n)
 * that touch a point with |i·n/g − j·m/g| ≥ h. The recursion carries, per point, the probability
 * that a random path to it has already left the band, so a small p-value keeps its relative
 * precision (no 1 − p).
 */
function exactOutsideBand(first: number, second: number, divisor: number, h: number): number {
  const m = Math.max(first, second);
  const n = Math.min(first, second);
  const mg = m / divisor;
  const ng = n / divisor;
  // column[j - low] holds the probability at (i, j) for the band's rows low..high of column i.
  let column = new Float64Array(n + 1);
  let next = new Float64Array(n + 1);
  let low = 0;
  let high = Math.min(Math.ceil(h / mg) - 1, n);
  // Column 0: the path runs up the j axis, inside while j·mg < h.
  for (let j = low; j <= high; j++) column[j - low] = 0;
  for (let i = 1; i <= m; i++) {
    const nextLow = Math.max(Math.floor((ng * i - h) / mg) + 1, 0);
    const nextHigh = Math.min(Math.ceil((ng * i + h) / mg) - 1, n);
    if (nextHigh < nextLow) return 1;
    let below = nextLow === 0 ? 0 : 1;
    for (let j = nextLow; j <= nextHigh; j++) {
      const left = j >= low && j <= high ? (column[j - low] as number) : 1;
      const value = (left * i + below * j) / (i + j);
      next[j - nextLow] = value;
      below = value;
    }
    const swap = column;
    column = next;
    next = swap;
    low = nextLow;
    high = nextHigh;
  }
  return high === n ? (column[n - low] as number) : 1;
}

/** P(D_n ≥ x) for the one-sample two-sided statistic (scipy.stats.kstwo.sf). */
export function kolmogorovSurvival(n: number, x: number): number {
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const t = n * x;
  if (t <= 1) {
    // Ruben-Gambino: P(D_n ≤ x) = n!/n^n (2t − 1)^n for 1/(2n) ≤ x ≤ 1/n.
    if (t <= 0.5) return 1;
    const cdf = n <= 140 ? productCdf(n, t) : Math.exp(logGamma(n + 1) - n * Math.log(n) + n * Math.log(2 * t - 1));
    return clip(1 - cdf);
  }
  if (t >= n - 1) return clip(2 * Math.pow(1 - x, n));
  if (x >= 0.5) return clip(2 * smirnovSurvival(n, x));
  const nxSquared = t * x;
  if (n <= 140) {
    // Durbin's matrix is exact; scipy uses Pomeranz's recursion for 0.754693 < n·x² ≤ 4, also exact.
    if (nxSquared <= 4) return clip(1 - durbinCdf(n, x));
    return clip(2 * smirnovSurvival(n, x));
  }
  if (nxSquared >= 370) return 0;
  if (nxSquared >= 2.2) return clip(2 * smirnovSurvival(n, x));
  const cdf = n <= 100_000 && n * Math.pow(x, 1.5) <= 1.4 ? durbinCdf(n, x) : pelzGoodCdf(n, x);
  return clip(1 - cdf);
}

function productCdf(n: number, t: number): number {
  let product = 1;
  for (let i = 1; i <= n; i++) product *= (i / n) * (2 * t - 1);
  return product;
}

const SCALE_EXPONENT = 128;
const SCALE_UP = Math.pow(2, SCALE_EXPONENT);
const SCALE_DOWN = Math.pow(2, -SCALE_EXPONENT);

/** P(D_n ≤ d) by Durbin's matrix, in Marsaglia, Tsang and Wang's formulation. */
function durbinCdf(n: number, d: number): number {
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  // H[i][j] = 1/(i − j + 1)! below the superdiagonal; first column and last row corrected by h.
  const factorialInverse = new Float64Array(m + 1);
  factorialInverse[0] = 1;
  for (let j = 1; j <= m; j++) factorialInverse[j] = (factorialInverse[j - 1] as number) / j;
  let matrix: Float64Array = new Float64Array(m * m);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < m; j++) if (i - j + 1 >= 0) matrix[i * m + j] = factorialInverse[i - j + 1] as number;
  for (let i = 0; i < m; i++) {
    const corrected = (1 - Math.pow(h, i + 1)) * (factorialInverse[i + 1] as number);
    matrix[i * m] = corrected;
    matrix[(m - 1) * m + (m - 1 - i)] = corrected;
  }
  matrix[(m - 1) * m] =
    (1 - 2 * Math.pow(h, m) + Math.pow(Math.max(0, 2 * h - 1), m)) * (factorialInverse[m] as number);
  // Hⁿ by squaring, keeping powers of two aside so that nothing overflows.
  let power: Float64Array | null = null;
  let powerExponent = 0;
  let matrixExponent = 0;
  let remaining = n;
  const centre = (k - 1) * m + (k - 1);
  while (remaining > 0) {
    if (remaining % 2 === 1) {
      power = power ? multiply(power, matrix, m) : matrix.slice();
      powerExponent += matrixExponent;
    }
    remaining = Math.floor(remaining / 2);
    if (remaining === 0) break;
    matrix = multiply(matrix, matrix, m);
    matrixExponent *= 2;
    if (Math.abs(matrix[centre] as number) > SCALE_UP) {
      for (let index = 0; index < matrix.length; index++) matrix[index] = (matrix[index] as number) * SCALE_DOWN;
      matrixExponent += SCALE_EXPONENT;
    }
  }
  let probability = (power as Float64Array)[centre] as number;
  // Multiply by n!/nⁿ.
  for (let i = 1; i <= n; i++) {
    probability = (i * probability) / n;
    if (Math.abs(probability) < SCALE_DOWN) {
      probability *= SCALE_UP;
      powerExponent -= SCALE_EXPONENT;
    }
  }
  return clip(probability * Math.pow(2, powerExponent));
}

function multiply(left: Float64Array, right: Float64Array, size: number): Float64Array {
  const product = new Float64Array(size * size);
  for (let i = 0; i < size; i++)
    for (let k = 0; k < size; k++) {
      const factor = left[i * size + k] as number;
      if (factor === 0) continue;
      for (let j = 0; j < size; j++)
        product[i * size + j] = (product[i * size + j] as number) + factor * (right[k * size + j] as number);
    }
  return product;
}

const PI_SQUARED = Math.PI * Math.PI;
const PI_FOURTH = PI_SQUARED * PI_SQUARED;
const PI_SIXTH = PI_FOURTH * PI_SQUARED;
const SQRT_TWO_PI = Math.sqrt(2 * Math.PI);

/** Pelz and Good's approximation of P(D_n ≤ x): K0 + K1/√n + K2/n + K3/n^1.5 at z = x√n. */
function pelzGoodCdf(n: number, x: number): number {
  const z = Math.sqrt(n) * x;
  const z2 = z * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const z8 = z4 * z4;
  const logQ = -PI_SQUARED / 8 / z2;
  if (logQ < -708) return 0;
  const terms = Math.ceil((16 * z) / Math.PI);
  // Sums over odd m = 2k − 1 of c_i(m) · exp(−m²π²/(8z²)).
  const sums = [0, 0, 0, 0];
  for (let k = terms; k >= 1; k--) {
    const m2 = (2 * k - 1) * (2 * k - 1);
    const m4 = m2 * m2;
    const m6 = m4 * m2;
    const weight = Math.exp(logQ * m2);
    sums[0] = (sums[0] as number) + weight;
    sums[1] = (sums[1] as number) + weight * (-z2 + (PI_SQUARED / 4) * m2);
    sums[2] =
      (sums[2] as number) +
      weight * (6 * z6 + 2 * z4 + ((2 * z4 - 5 * z2) * PI_SQUARED * m2) / 4 + (PI_FOURTH * (1 - 2 * z2) * m4) / 16);
    sums[3] =
      (sums[3] as number) +
      weight *
        (-30 * z6 -
          90 * z8 +
          (PI_SQUARED * (135 * z4 - 96 * z6) * m2) / 4 +
          (PI_FOURTH * (-60 * z2 + 212 * z4) * m4) / 16 +
          (PI_SIXTH * (5 - 30 * z2) * m6) / 64);
  }
  const k0 = (SQRT_TWO_PI * (sums[0] as number)) / z;
  const k1 = (SQRT_TWO_PI * (sums[1] as number)) / (6 * z4);
  let k2 = (SQRT_TWO_PI * (sums[2] as number)) / (72 * z6 * z);
  let k3 = (SQRT_TWO_PI * (sums[3] as number)) / (6480 * z6 * z4);
  // Sums over all k ≥ 1 of k² exp(−k²π²/(2z²)), for K2 and K3.
  let extra2 = 0;
  let extra3 = 0;
  for (let k = terms; k >= 1; k--) {
    const k2Squared = k * k;
    const weight = Math.exp((-PI_SQUARED * k2Squared) / 2 / z2);
    extra2 += k2Squared * weight;
    extra3 += (3 * z2 - PI_SQUARED * k2Squared) * k2Squared * weight;
  }
  k2 += (extra2 * PI_SQUARED * SQRT_TWO_PI) / (-36 * z2 * z);
  k3 += (extra3 * PI_SQUARED * SQRT_TWO_PI) / (216 * z6);
  return k0 + k1 / Math.sqrt(n) + k2 / n + k3 / Math.pow(n, 1.5);
}

const LOG_MIN = -708.3964185322641;

/**
 * P(D_n⁺ ≥ x), Smirnov's one-sided tail, by the Birnbaum-Tingey sum
 * x · Σ_{v=0}^{⌊n(1−x)⌋} C(n, v) (x + v/n)^(v−1) (1 − x − v/n)^(n−v), its terms taken in logarithms.
 */
export function smirnovSurvival(n: number, x: number): number {
  if (n === 1) return 1 - x;
  if (x <= 0) return 1;
  if (x >= 1) return 0;
  const { floor: nxFloor, fraction } = floorOfProduct(n, x);
  if (nxFloor === 0 || (nxFloor === 1 && fraction === 0)) return 1 - x * Math.pow(1 + x, n - 1);
  if (-2 * n * x * x < LOG_MIN) return 0;
  if (nxFloor >= n - 1) return Math.pow(1 - x, n);
  if (n > 1_000_000) return Math.exp(-Math.pow(6 * n * x + 1, 2) / 18 / n);
  // The last term (v = n − ⌊nx⌋) is left out when nx is an integer: there 1 − x − v/n = 0.
  const lastTerm = n - nxFloor - (fraction === 0 ? 2 : 1);
  // Each term's logarithm is written so that its large parts cancel analytically (Stirling's
  // formula for the factorials): what is left has the size of n·x, not of n, and keeps its digits.
  const nx = n * x;
  const logN = Math.log(n) + logFactorialRemainder(n);
  let sum = 0;
  for (let v = 0; v <= lastTerm; v++) {
    const rest = n - v;
    if (!(rest - nx > 0)) break;
    const logTerm =
      logN -
      Math.log(nx + v) +
      (v === 0 ? 0 : v * Math.log1p(nx / v)) +
      rest * Math.log1p(-nx / rest) -
      logFactorialRemainder(v) -
      logFactorialRemainder(rest);
    if (logTerm < LOG_MIN - 40) {
      if (v > n / 2) break;
      continue;
    }
    const term = Math.exp(logTerm);
    sum += term;
    if (4 * (lastTerm - v) * term < Number.EPSILON * sum && v !== lastTerm) break;
  }
  return clip(x * sum);
}

/** log k! − (k log k − k): about log √(2πk), computed without the cancellation of its parts. */
function logFactorialRemainder(k: number): number {
  if (k === 0) return 0;
  if (k < 10) return logGamma(k + 1) - k * Math.log(k) + k;
  const inverse = 1 / k;
  const inverseSquared = inverse * inverse;
  return (
    0.5 * Math.log(2 * Math.PI * k) +
    inverse *
      (1 / 12 -
        inverseSquared * (1 / 360 - inverseSquared * (1 / 1260 - inverseSquared * (1 / 1680 - inverseSquared / 1188))))
  );
}

/** ⌊n·x⌋ and the fractional part, exactly, using the error-free product of two doubles. */
function floorOfProduct(n: number, x: number): { floor: number; fraction: number } {
  const product = n * x;
  const error = exactProductError(n, x, product);
  let floor = Math.floor(product);
  let fraction = product - floor + error;
  if (fraction < 0) {
    floor -= 1;
    fraction += 1;
  } else if (fraction >= 1) {
    floor += 1;
    fraction -= 1;
  }
  return { floor, fraction };
}

/** a·b − product, exactly (Dekker's two-product with Veltkamp splitting). */
function exactProductError(a: number, b: number, product: number): number {
  const [aHigh, aLow] = split(a);
  const [bHigh, bLow] = split(b);
  return aHigh * bHigh - product + aHigh * bLow + aLow * bHigh + aLow * bLow;
}

function split(value: number): [number, number] {
  const scaled = 134217729 * value;
  const high = scaled - (scaled - value);
  return [high, value - high];
}

function greatestCommonDivisor(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Rounds half to even, as numpy.round does. */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const difference = value - floor;
  if (difference < 0.5) return floor;
  if (difference > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

function clip(probability: number): number {
  return Math.min(1, Math.max(0, probability));
}
