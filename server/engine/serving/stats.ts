// In-memory counters per arm for a quick look (the rollout's analysis between two log reads, tests):
// requests, errors, fallbacks, refusals, rows and latency percentiles over the latest requests.

export interface ArmStats {
  /** "name:version" of the arm's version, or null when the arm is empty. */
  version: string | null;
  requests: number;
  /** Requests the model failed (answered with a 5xx or by a fallback). */
  errors: number;
  fallbacks: number;
  /** Requests refused as malformed (4xx). */
  rejected: number;
  rows: number;
  /** Latency percentiles over the latest 2,048 requests, in milliseconds (null without requests). */
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface ShadowStats {
  version: string | null;
  mirrored: number;
  failed: number;
  /** Mean absolute difference of the first numeric output against the stable answer, over all compared requests. */
  meanAbsDifference: number | null;
}

export interface ServerStats {
  stable: ArmStats;
  candidate: ArmStats;
  shadow: ShadowStats;
  /** Requests refused by the concurrency limit (429) or while not ready or draining (503). */
  refused: number;
  since: number;
}

const WINDOW = 2048;

/** The counters of one arm. */
export class ArmCounter {
  requests = 0;
  errors = 0;
  fallbacks = 0;
  rejected = 0;
  rows = 0;
  private readonly latencies = new Float64Array(WINDOW);
  private filled = 0;
  private next = 0;

  record(status: number, latencyMs: number, rows: number, fallback: boolean, failed: boolean): void {
    this.requests++;
    if (status >= 400 && status < 500) this.rejected++;
    else if (status >= 500 || failed) this.errors++;
    if (fallback) this.fallbacks++;
    this.rows += rows;
    this.latencies[this.next] = latencyMs;
    this.next = (this.next + 1) % WINDOW;
    if (this.filled < WINDOW) this.filled++;
  }

  snapshot(version: string | null): ArmStats {
    const sorted = Array.from(this.latencies.subarray(0, this.filled)).sort((a, b) => a - b);
    const percentile = (share: number): number | null =>
      sorted.length === 0
        ? null
        : (sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)] as number);
    return {
      version,
      requests: this.requests,
      errors: this.errors,
      fallbacks: this.fallbacks,
      rejected: this.rejected,
      rows: this.rows,
      p50Ms: percentile(0.5),
      p95Ms: percentile(0.95),
      p99Ms: percentile(0.99),
    };
  }
}

/** The shadow candidate's counters. */
export class ShadowCounter {
  mirrored = 0;
  failed = 0;
  private differenceSum = 0;
  private compared = 0;

  record(difference: number | null, failed: boolean): void {
    this.mirrored++;
    if (failed) this.failed++;
    if (difference !== null) {
      this.differenceSum += difference;
      this.compared++;
    }
  }

  snapshot(version: string | null): ShadowStats {
    return {
      version,
      mirrored: this.mirrored,
      failed: this.failed,
      meanAbsDifference: this.compared === 0 ? null : this.differenceSum / this.compared,
    };
  }
}
