// The geometry of the monitoring dashboard's charts, apart from the DOM: scales, time ticks, line
// paths with gaps where a bucket has no value, histogram bars of reference against current, and
// the bars of the alert timeline. Pure, so unit tests (test/unit/deployCharts.test.ts) pin it down.
import type { AlertRecord, Histogram, OperationalPoint } from '../../server/shared/deployments';

/** A linear map from a domain to a range of pixels. */
export type Scale = (value: number) => number;

export function linearScale(domain: [number, number], range: [number, number]): Scale {
  const span = domain[1] - domain[0];
  return (value) =>
    span === 0 ? (range[0] + range[1]) / 2 : range[0] + ((value - domain[0]) / span) * (range[1] - range[0]);
}

/** A round upper bound for a y axis that starts at 0: 1, 2 or 5 times a power of ten, at least `max`. */
export function niceMax(max: number): number {
  if (!Number.isFinite(max) || max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/** Evenly spaced ticks from 0 to `max` (count + 1 of them). */
export function valueTicks(max: number, count = 4): number[] {
  return Array.from({ length: count + 1 }, (_, index) => (max * index) / count);
}

/** Tick times over [from, to] on whole minutes (or hours), at most `count` of them. */
export function timeTicks(from: number, to: number, count = 6): number[] {
  if (!(to > from)) return [from];
  const steps = [60_000, 2 * 60_000, 5 * 60_000, 10 * 60_000, 15 * 60_000, 30 * 60_000, 3_600_000, 2 * 3_600_000];
  const step =
    steps.find((each) => Math.floor((to - from) / each) + 1 <= count) ??
    Math.ceil((to - from) / count / 3_600_000) * 3_600_000;
  const ticks: number[] = [];
  for (let at = Math.ceil(from / step) * step; at <= to; at += step) ticks.push(at);
  return ticks;
}

/** "08:12" (UTC). */
export function clockLabel(at: number): string {
  return new Date(at).toISOString().slice(11, 16);
}

/**
 * The `d` of an SVG path through the points, one subpath per run of values: a bucket with no
 * value (null) breaks the line instead of drawing it down to zero.
 */
export function linePath(points: { at: number; value: number | null }[], x: Scale, y: Scale): string {
  const parts: string[] = [];
  let pen = false;
  for (const point of points) {
    if (point.value === null || !Number.isFinite(point.value)) {
      pen = false;
      continue;
    }
    parts.push(`${pen ? 'L' : 'M'}${x(point.at).toFixed(1)},${y(point.value).toFixed(1)}`);
    pen = true;
  }
  return parts.join(' ');
}

/** The points of one operational figure of a series. */
export function operationalValues(
  series: OperationalPoint[],
  figure: 'p50Ms' | 'p95Ms' | 'p99Ms' | 'throughput' | 'errors' | 'requests',
): { at: number; value: number | null }[] {
  return series.map((point) => ({ at: point.at, value: point[figure] }));
}

/** The largest finite value of some series (0 when none). */
export function largest(values: (number | null)[]): number {
  let max = 0;
  for (const value of values) if (value !== null && Number.isFinite(value) && value > max) max = value;
  return max;
}

/** A bar of a histogram, in pixels. */
export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
  share: number;
  label: string;
}

/**
 * Side-by-side bars of the reference and current shares per bin, over `width` × `height` pixels.
 * Numeric bins are labelled by their lower edge; categorical bins by their category.
 */
export function histogramBars(
  histogram: Histogram,
  width: number,
  height: number,
): { reference: Bar[]; current: Bar[]; max: number } {
  const bins = Math.max(histogram.reference.length, histogram.current.length);
  const max = largest([...histogram.reference, ...histogram.current]) || 1;
  const slot = bins === 0 ? width : width / bins;
  const barWidth = Math.max(1, slot / 2 - 1);
  const y = linearScale([0, max], [height, 0]);
  const labels = histogram.bins.map((bin) => (typeof bin === 'number' ? String(Number(bin.toPrecision(3))) : bin));
  const bars = (shares: number[], offset: number): Bar[] =>
    shares.map((share, index) => ({
      x: index * slot + offset,
      y: y(share),
      width: barWidth,
      height: height - y(share),
      share,
      label: labels[index] ?? '',
    }));
  return { reference: bars(histogram.reference, 0.5), current: bars(histogram.current, slot / 2), max };
}

/** An alert's bar on the timeline: from when it fired to when it resolved (or the end of the window). */
export interface TimelineBar {
  alert: AlertRecord;
  x: number;
  width: number;
  row: number;
}

/** Bars of the alerts over [from, to] mapped to [0, width], one row per rule. */
export function timelineBars(alerts: AlertRecord[], from: number, to: number, width: number): TimelineBar[] {
  const x = linearScale([from, to], [0, width]);
  const rules = [...new Set(alerts.map((alert) => alert.rule))].sort();
  return alerts
    .filter((alert) => alert.firedAt <= to && (alert.resolvedAt ?? to) >= from)
    .map((alert) => {
      const start = x(Math.max(from, alert.firedAt));
      const end = x(Math.min(to, alert.resolvedAt ?? to));
      return { alert, x: start, width: Math.max(3, end - start), row: rules.indexOf(alert.rule) };
    });
}

/** The totals of a series over the window: requests, errors and the error rate. */
export function totals(series: OperationalPoint[]): { requests: number; errors: number; errorRate: number | null } {
  let requests = 0;
  let errors = 0;
  for (const point of series) {
    requests += point.requests;
    errors += point.errors;
  }
  return { requests, errors, errorRate: requests === 0 ? null : errors / requests };
}
