// Concept drift detectors for a stream of values, such as a model's errors (1 wrong, 0 right) or
// its absolute errors: ADWIN, an adaptive window that drops its older part when the two parts'
// means differ by more than a Hoeffding-Bernstein bound allows (Bifet and Gavaldà, "Learning from
// time-changing data with adaptive windowing", 2007, the ADWIN2 variant with an exponential
// histogram), and DDM, which watches a binary error rate against its best value so far (Gama et
// al., "Learning with drift detection", 2004).

/** One bucket of ADWIN's exponential histogram: `size` values summarized by total and variance. */
interface Bucket {
  size: number;
  total: number;
  /** Sum of squared deviations from the bucket's mean. */
  variance: number;
}

export interface AdwinOptions {
  /** Confidence: the smaller, the fewer false alarms and the later the detection (default 0.002). */
  delta?: number;
  /** Cuts are looked for every `clock` values (default 32). */
  clock?: number;
  /** Buckets of each size kept before two are merged (default 5). */
  maxBuckets?: number;
  /** The smallest part, in values, on either side of a cut (default 5). */
  minPart?: number;
}

/** ADWIN: `update(x)` returns true when the window shrank because its mean changed. */
export class Adwin {
  private readonly delta: number;
  private readonly clock: number;
  private readonly maxBuckets: number;
  private readonly minPart: number;
  /** levels[i]: buckets of 2^i values, oldest first. */
  private levels: Bucket[][] = [];
  private count = 0;
  private total = 0;
  private variance = 0;
  private seen = 0;
  /** How many times a change was detected. */
  detections = 0;

  constructor(delta: number | AdwinOptions = 0.002) {
    const options = typeof delta === 'number' ? { delta } : delta;
    this.delta = options.delta ?? 0.002;
    this.clock = options.clock ?? 32;
    this.maxBuckets = options.maxBuckets ?? 5;
    this.minPart = options.minPart ?? 5;
  }

  /** The mean of the current window. */
  get estimation(): number {
    return this.count === 0 ? 0 : this.total / this.count;
  }

  /** Values in the current window. */
  get width(): number {
    return this.count;
  }

  /** Adds a value; true when a change was detected (the older part of the window was dropped). */
  update(value: number): boolean {
    this.insert(value);
    this.seen++;
    if (this.seen % this.clock !== 0 || this.count < 2 * this.minPart) return false;
    let changed = false;
    while (this.cutOldest()) changed = true;
    if (changed) this.detections++;
    return changed;
  }

  private insert(value: number): void {
    if (this.count > 0) {
      const mean = this.total / this.count;
      this.variance += (this.count * (value - mean) * (value - mean)) / (this.count + 1);
    }
    this.count++;
    this.total += value;
    const first = this.levels[0] ?? (this.levels[0] = []);
    first.push({ size: 1, total: value, variance: 0 });
    // Compress: a level holding more than maxBuckets merges its two oldest into the next level.
    for (let level = 0; level < this.levels.length; level++) {
      const buckets = this.levels[level] as Bucket[];
      if (buckets.length <= this.maxBuckets) break;
      const older = buckets.shift() as Bucket;
      const newer = buckets.shift() as Bucket;
      const meanDifference = older.total / older.size - newer.total / newer.size;
      const merged: Bucket = {
        size: older.size + newer.size,
        total: older.total + newer.total,
        variance:
          older.variance +
          newer.variance +
          (older.size * newer.size * meanDifference * meanDifference) / (older.size + newer.size),
      };
      (this.levels[level + 1] ?? (this.levels[level + 1] = [])).push(merged);
    }
  }

  /**
   * Looks at every split of the window between buckets (older part W0, newer part W1) and drops
   * the oldest bucket when some split's means differ by more than
   * ε = √(2/m · σ² · ln(2/δ')) + 2/(3m) · ln(2/δ'), m the harmonic mean of the parts' sizes and
   * δ' = δ / ln(n).
   */
  private cutOldest(): boolean {
    if (this.count < 2 * this.minPart) return false;
    const windowVariance = this.variance / this.count;
    const logTerm = Math.log((2 * Math.log(this.count)) / this.delta);
    let olderSize = 0;
    let olderTotal = 0;
    for (let level = this.levels.length - 1; level >= 0; level--) {
      const buckets = this.levels[level] as Bucket[];
      for (const bucket of buckets) {
        olderSize += bucket.size;
        olderTotal += bucket.total;
        const newerSize = this.count - olderSize;
        if (newerSize < this.minPart) return false;
        if (olderSize < this.minPart) continue;
        const newerTotal = this.total - olderTotal;
        const harmonic = 1 / (1 / olderSize + 1 / newerSize);
        const epsilon = Math.sqrt((2 / harmonic) * windowVariance * logTerm) + (2 / (3 * harmonic)) * logTerm;
        if (Math.abs(olderTotal / olderSize - newerTotal / newerSize) > epsilon) {
          this.dropOldest();
          return true;
        }
      }
    }
    return false;
  }

  private dropOldest(): void {
    const level = this.levels.length - 1;
    const buckets = this.levels[level] as Bucket[];
    const oldest = buckets.shift() as Bucket;
    if (buckets.length === 0) this.levels.pop();
    const restSize = this.count - oldest.size;
    if (restSize === 0) {
      this.count = 0;
      this.total = 0;
      this.variance = 0;
      return;
    }
    const restMean = (this.total - oldest.total) / restSize;
    const meanDifference = oldest.total / oldest.size - restMean;
    this.variance -= oldest.variance + (oldest.size * restSize * meanDifference * meanDifference) / this.count;
    if (this.variance < 0) this.variance = 0;
    this.count = restSize;
    this.total -= oldest.total;
  }
}

export interface DdmOptions {
  /** Values seen before any warning or drift can be signalled (default 30). */
  minInstances?: number;
  /** Standard deviations above the best error rate that mean a warning (default 2). */
  warningLevel?: number;
  /** Standard deviations above the best error rate that mean drift (default 3). */
  driftLevel?: number;
}

export type DdmState = 'stable' | 'warning' | 'drift';

/** DDM on a stream of errors (true or 1: wrong). `update` returns true on drift, then restarts. */
export class Ddm {
  private readonly minInstances: number;
  private readonly warningLevel: number;
  private readonly driftLevel: number;
  private count = 0;
  private errors = 0;
  private bestRate = Number.POSITIVE_INFINITY;
  private bestDeviation = Number.POSITIVE_INFINITY;
  /** The state after the latest value. */
  state: DdmState = 'stable';
  /** How many times drift was detected. */
  detections = 0;

  constructor(options: DdmOptions = {}) {
    this.minInstances = options.minInstances ?? 30;
    this.warningLevel = options.warningLevel ?? 2;
    this.driftLevel = options.driftLevel ?? 3;
  }

  /** The error rate since the last drift (or the start). */
  get errorRate(): number {
    return this.count === 0 ? 0 : this.errors / this.count;
  }

  /** Adds one outcome; true when drift was detected. */
  update(error: boolean | number): boolean {
    this.count++;
    if (error === true || (typeof error === 'number' && error !== 0)) this.errors++;
    const rate = this.errors / this.count;
    const deviation = Math.sqrt((rate * (1 - rate)) / this.count);
    if (this.count < this.minInstances) {
      this.state = 'stable';
      return false;
    }
    if (rate + deviation <= this.bestRate + this.bestDeviation) {
      this.bestRate = rate;
      this.bestDeviation = deviation;
    }
    if (rate + deviation > this.bestRate + this.driftLevel * this.bestDeviation) {
      this.state = 'drift';
      this.detections++;
      this.reset();
      return true;
    }
    this.state = rate + deviation > this.bestRate + this.warningLevel * this.bestDeviation ? 'warning' : 'stable';
    return false;
  }

  private reset(): void {
    this.count = 0;
    this.errors = 0;
    this.bestRate = Number.POSITIVE_INFINITY;
    this.bestDeviation = Number.POSITIVE_INFINITY;
  }
}
