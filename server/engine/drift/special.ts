// Special functions behind the p-values: log-gamma, the regularized upper incomplete gamma (the
// chi-squared survival function) and the complementary error function (the normal tail). Written
// for double precision to agree with scipy.special to about 1e-14 relative, which the engine test
// checks against scipy itself.

const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
const HALF_LOG_TWO_PI = 0.5 * Math.log(2 * Math.PI);

/** log Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  if (x >= 10) {
    // Stirling's series: more accurate than Lanczos for large x, where log Γ is large.
    const inverse = 1 / x;
    const inverseSquared = inverse * inverse;
    const series =
      inverse *
      (1 / 12 -
        inverseSquared *
          (1 / 360 - inverseSquared * (1 / 1260 - inverseSquared * (1 / 1680 - inverseSquared * (1 / 1188)))));
    return (x - 0.5) * Math.log(x) - x + HALF_LOG_TWO_PI + series;
  }
  const shifted = x - 1;
  let sum = LANCZOS[0] as number;
  for (let index = 1; index < LANCZOS.length; index++) sum += (LANCZOS[index] as number) / (shifted + index);
  const base = shifted + LANCZOS_G + 0.5;
  return HALF_LOG_TWO_PI + (shifted + 0.5) * Math.log(base) - base + Math.log(sum);
}

const EPSILON = 1e-16;
const TINY = 1e-300;

/** Q(a, x) = Γ(a, x) / Γ(a), the regularized upper incomplete gamma function. */
export function upperGammaRegularized(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return Number.NaN;
  if (x === 0) return 1;
  if (x === Number.POSITIVE_INFINITY) return 0;
  const logPrefactor = a * Math.log(x) - x - logGamma(a);
  if (x < a + 1) {
    // Series for the lower function P(a, x); Q = 1 - P loses nothing here since P is not near 1.
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 10_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * EPSILON) break;
    }
    return 1 - sum * Math.exp(logPrefactor);
  }
  // Continued fraction for Q (modified Lentz), which converges quickly for x >= a + 1.
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let fraction = d;
  for (let n = 1; n < 10_000; n++) {
    const an = -n * (n - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    fraction *= delta;
    if (Math.abs(delta - 1) < EPSILON) break;
  }
  return Math.exp(logPrefactor) * fraction;
}

/** The survival function of the chi-squared distribution with `degrees` degrees of freedom. */
export function chiSquaredSurvival(statistic: number, degrees: number): number {
  return upperGammaRegularized(degrees / 2, statistic / 2);
}

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** erfc(x), accurate in relative terms also far in the tail. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) return 1 - erfSeries(x);
  if (x > 27.3) return 0;
  // Continued fraction erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), by Lentz.
  let c = x;
  let d = 0;
  let fraction = x;
  for (let n = 1; n < 5000; n++) {
    const an = n / 2;
    d = x + an * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = x + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = c * d;
    fraction *= delta;
    if (Math.abs(delta - 1) < EPSILON) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / fraction;
}

/** erf(x) for 0 <= x < 2 by the series of positive terms erf x = 2/√π e^(-x²) Σ 2^n x^(2n+1) / (2n+1)!!. */
function erfSeries(x: number): number {
  const squared = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * squared) / (2 * n + 1);
    sum += term;
    if (term < sum * EPSILON) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-squared) * sum;
}

/** Φ(z), the standard normal distribution function, computed the way scipy's ndtr is. */
export function normalCdf(z: number): number {
  const x = z * Math.SQRT1_2;
  const absolute = Math.abs(x);
  if (absolute < Math.SQRT1_2) return 0.5 + 0.5 * (1 - erfc(x));
  const half = 0.5 * erfc(absolute);
  return x > 0 ? 1 - half : half;
}
