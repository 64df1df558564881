// Operational figures from the prediction log: per served version (and "all") and per time bucket,
// the requests, rows, errors, rejected requests, fallbacks, throughput and latency percentiles. Pure.
import type { OperationalPoint } from '../../shared/deployments';
import type { RequestSummary } from './log';

/** The series key that sums every version. */
export const ALL = 'all';

/** Whether a request counts as an error: a 5xx, or answered by a fallback because the model failed. */
export function isError(request: Pick<RequestSummary, 'status' | 'fallback'>): boolean {
  return request.status >= 500 || request.fallback;
}

/** Whether a request was refused as bad input (4xx). */
export function isRejected(request: Pick<RequestSummary, 'status'>): boolean {
  return request.status >= 400 && request.status < 500;
}

/** The q-quantile (0..1) of sorted values with linear interpolation between ranks (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  const low = sorted[lower] ?? 0;
  const high = sorted[upper] ?? low;
  return low + (high - low) * (position - lower);
}

/** One bucket's figures from its requests; `seconds` is the time the bucket covers. */
export function operationalPoint(at: number, requests: readonly RequestSummary[], seconds: number): OperationalPoint {
  const latencies = requests
    .filter((request) => !isRejected(request))
    .map((request) => request.latencyMs)
    .sort((a, b) => a - b);
  let rows = 0;
  let errors = 0;
  let rejected = 0;
  let fallbacks = 0;
  for (const request of requests) {
    rows += request.rows;
    if (isError(request)) errors++;
    if (isRejected(request)) rejected++;
    if (request.fallback) fallbacks++;
  }
  return {
    at,
    requests: requests.length,
    rows,
    errors,
    rejected,
    fallbacks,
    throughput: seconds > 0 ? requests.length / seconds : 0,
    p50Ms: quantile(latencies, 0.5),
    p95Ms: quantile(latencies, 0.95),
    p99Ms: quantile(latencies, 0.99),
  };
}

/**
 * The series per version and "all" over [from, to) cut into buckets of bucketMs; every bucket is
 * present (empty ones with zero requests) so charts share one time axis. Shadow answers are their
 * own version's series but not part of "all", which counts what clients were answered.
 */
export function operationalSeries(
  requests: readonly RequestSummary[],
  from: number,
  to: number,
  bucketMs: number,
): Record<string, OperationalPoint[]> {
  const bucketCount = Math.max(1, Math.ceil((to - from) / bucketMs));
  const groups = new Map<string, RequestSummary[][]>();
  const bucketsOf = (key: string) => {
    let buckets = groups.get(key);
    if (!buckets) {
      buckets = Array.from({ length: bucketCount }, () => []);
      groups.set(key, buckets);
    }
    return buckets;
  };
  bucketsOf(ALL);
  for (const request of requests) {
    if (request.at < from || request.at >= to) continue;
    const index = Math.floor((request.at - from) / bucketMs);
    bucketsOf(request.version)[index]?.push(request);
    if (request.arm !== 'shadow') bucketsOf(ALL)[index]?.push(request);
  }
  const series: Record<string, OperationalPoint[]> = {};
  for (const [key, buckets] of groups)
    series[key] = buckets.map((bucket, index) => {
      const start = from + index * bucketMs;
      // The last bucket may end at `to` before its full length: its throughput is over what it covers.
      const seconds = (Math.min(start + bucketMs, to) - start) / 1000;
      return operationalPoint(start, bucket, seconds);
    });
  return series;
}

/** The figures alert rules read: error rate, rejected rate, throughput and latency over one window. */
export interface OperationalFigures {
  requests: number;
  errorRate: number | null;
  rejectedRate: number | null;
  throughput: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

/** The figures of the answered traffic (not shadow) of a window of `seconds`. */
export function operationalFigures(requests: readonly RequestSummary[], seconds: number): OperationalFigures {
  const answered = requests.filter((request) => request.arm !== 'shadow');
  const point = operationalPoint(0, answered, seconds);
  return {
    requests: point.requests,
    errorRate: point.requests > 0 ? point.errors / point.requests : null,
    rejectedRate: point.requests > 0 ? point.rejected / point.requests : null,
    throughput: point.throughput,
    p50Ms: point.p50Ms,
    p95Ms: point.p95Ms,
    p99Ms: point.p99Ms,
  };
}
