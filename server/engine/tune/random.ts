// A small seeded random number generator, so that the same seed gives the same trials on every
// machine and Node version (Math.random cannot be seeded). Mulberry32 (Tommy Ettinger's 32-bit
// generator): one 32-bit state word, period 2^32, passes gjrand/PractRand well enough for sampling
// a few thousand hyperparameter values. Seeds are mixed with a SplitMix32-style finalizer so that
// nearby seeds (1, 2, 3) give unrelated streams.

/** A seeded stream of uniform floats in [0, 1), integers and standard normals. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = mix32(Math.trunc(seed) >>> 0);
  }

  /** A float in [0, 1) with 32 random bits. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A float in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.min(n - 1, Math.floor(this.next() * n));
  }

  /** A standard normal draw (Box–Muller; the second value of each pair is dropped for simplicity). */
  normal(): number {
    const u = 1 - this.next(); // (0, 1], so the logarithm is finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** An index drawn with probability proportional to its (non-negative) weight. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const weight of weights) total += weight;
    let target = this.next() * total;
    for (let index = 0; index < weights.length; index++) {
      target -= weights[index] ?? 0;
      if (target < 0) return index;
    }
    return weights.length - 1;
  }
}

/** The stream for one trial of one sweep: a pure function of the seed and the trial number. */
export function trialRng(seed: number, trialNumber: number): Rng {
  return new Rng(mix32((Math.trunc(seed) >>> 0) ^ mix32(trialNumber + 0x9e3779b9)));
}

function mix32(value: number): number {
  let z = (value + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}
