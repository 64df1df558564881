// The monitoring dashboard's chart geometry: scales, ticks, lines broken where a bucket is empty,
// reference against current histogram bars, and the alert timeline.
import * as assert from 'node:assert/strict';
import {
  histogramBars,
  linearScale,
  linePath,
  niceMax,
  timeTicks,
  timelineBars,
  totals,
  valueTicks,
} from '../../client/webview/monitorGeometry';
import type { AlertRecord, OperationalPoint } from '../../server/shared/deployments';

const T0 = Date.UTC(2026, 10, 27, 8, 0, 0);
const MINUTE = 60_000;

describe('monitoring charts', () => {
  it('maps values to pixels and rounds axis maxima', () => {
    const y = linearScale([0, 10], [100, 0]);
    assert.equal(y(0), 100);
    assert.equal(y(10), 0);
    assert.equal(y(2.5), 75);
    assert.equal(linearScale([5, 5], [0, 100])(5), 50);
    assert.deepEqual([0.3, 1, 7, 12, 180, 0, -1, NaN].map(niceMax), [0.5, 1, 10, 20, 200, 1, 1, 1]);
    assert.deepEqual(valueTicks(20), [0, 5, 10, 15, 20]);
  });

  it('puts time ticks on round minutes', () => {
    assert.deepEqual(
      timeTicks(T0 + 30_000, T0 + 5 * MINUTE, 6),
      [1, 2, 3, 4, 5].map((m) => T0 + m * MINUTE),
    );
    const hour = timeTicks(T0, T0 + 60 * MINUTE, 6);
    assert.deepEqual(
      hour,
      [0, 15, 30, 45, 60].map((m) => T0 + m * MINUTE),
    );
  });

  it('breaks a line where a bucket has no value', () => {
    const x = linearScale([0, 3], [0, 30]);
    const y = linearScale([0, 10], [10, 0]);
    const d = linePath(
      [
        { at: 0, value: 0 },
        { at: 1, value: 10 },
        { at: 2, value: null },
        { at: 3, value: 5 },
      ],
      x,
      y,
    );
    assert.equal(d, 'M0.0,10.0 L10.0,0.0 M30.0,5.0');
    assert.equal(linePath([], x, y), '');
  });

  it('draws reference and current shares side by side per bin', () => {
    const bars = histogramBars({ bins: [0, 1, 2, 3], reference: [0.5, 0.25, 0.25], current: [0, 0.5, 0.5] }, 120, 50);
    assert.equal(bars.max, 0.5);
    assert.equal(bars.reference.length, 3);
    assert.deepEqual(
      bars.reference.map((bar) => [bar.x, bar.height, bar.label]),
      [
        [0.5, 50, '0'],
        [40.5, 25, '1'],
        [80.5, 25, '2'],
      ],
    );
    assert.deepEqual(
      bars.current.map((bar) => [bar.x, bar.height]),
      [
        [20, 0],
        [60, 50],
        [100, 50],
      ],
    );
    const categories = histogramBars({ bins: ['rain', 'sun'], reference: [0.7, 0.3], current: [0.4, 0.6] }, 100, 10);
    assert.deepEqual(
      categories.current.map((bar) => bar.label),
      ['rain', 'sun'],
    );
  });

  it('lays alerts out on a timeline, one row per rule, open ones to the end', () => {
    const alert = (id: number, rule: string, firedAt: number, resolvedAt: number | null): AlertRecord => ({
      id,
      deployment: 'rain',
      rule,
      severity: 'warning',
      state: resolvedAt === null ? 'firing' : 'resolved',
      condition: '',
      value: null,
      message: '',
      runbook: null,
      actions: [],
      firedAt,
      resolvedAt,
    });
    const bars = timelineBars(
      [
        alert(1, 'latency', T0 + 10 * MINUTE, T0 + 20 * MINUTE),
        alert(2, 'drift', T0 + 50 * MINUTE, null),
        alert(3, 'drift', T0 - 90 * MINUTE, T0 - 80 * MINUTE),
      ],
      T0,
      T0 + 60 * MINUTE,
      600,
    );
    assert.deepEqual(
      bars.map((bar) => [bar.alert.id, bar.x, bar.width, bar.row]),
      [
        [1, 100, 100, 1],
        [2, 500, 100, 0],
      ],
    );
  });

  it('adds up requests and errors of a window', () => {
    const point = (requests: number, errors: number): OperationalPoint => ({
      at: T0,
      requests,
      rows: requests,
      errors,
      rejected: 0,
      fallbacks: 0,
      throughput: requests / 60,
      p50Ms: 1,
      p95Ms: 2,
      p99Ms: 3,
    });
    assert.deepEqual(totals([point(90, 1), point(10, 1)]), { requests: 100, errors: 2, errorRate: 0.02 });
    assert.deepEqual(totals([]), { requests: 0, errors: 0, errorRate: null });
  });
});
