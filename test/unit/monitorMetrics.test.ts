// The monitor's pure parts: latency percentiles and operational buckets, labelled metrics (checked
// against definitions computed another way in the test), KPI expressions and alert conditions.
import * as assert from 'node:assert/strict';
import { knownMetric, metricValue, parseCondition, holds, AlertRuleError } from '../../server/engine/monitor/alerts';
import type { MonitorFigures } from '../../server/engine/monitor/alerts';
import { evaluateKpi, KpiError, parseKpi } from '../../server/engine/monitor/kpi';
import type { RequestSummary } from '../../server/engine/monitor/log';
import { operationalFigures, operationalSeries, quantile } from '../../server/engine/monitor/operational';
import {
  labelledRows,
  performanceMetrics,
  predictionScores,
  rocAuc,
  taskOf,
} from '../../server/engine/monitor/performance';
import type { LabelledRow } from '../../server/engine/monitor/performance';

function request(at: number, latencyMs: number, status = 200, extra: Partial<RequestSummary> = {}): RequestSummary {
  return {
    requestId: `r${at}`,
    at,
    arm: 'stable',
    version: 'm:1',
    status,
    latencyMs,
    rows: 1,
    fallback: false,
    ...extra,
  };
}

/** A seeded generator so the random checks are the same on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('monitor: operational figures', () => {
  it('takes percentiles with linear interpolation, as numpy does', () => {
    const values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(quantile(values, 0.5), 5.5);
    assert.ok(Math.abs((quantile(values, 0.95) ?? 0) - 9.55) < 1e-12);
    assert.ok(Math.abs((quantile(values, 0.99) ?? 0) - 9.91) < 1e-12);
    assert.equal(quantile([], 0.5), null);
  });

  it('cuts the requests into buckets per version and over all answered traffic', () => {
    const requests = [
      request(0, 10),
      request(500, 20, 500),
      request(1500, 30, 400),
      request(1600, 40, 200, { version: 'm:2', arm: 'candidate' }),
      request(1700, 50, 200, { version: 'm:2', arm: 'shadow' }),
      request(2500, 5, 200, { fallback: true }),
    ];
    const series = operationalSeries(requests, 0, 3000, 1000);
    assert.deepEqual(Object.keys(series).sort(), ['all', 'm:1', 'm:2']);
    const all = series['all'] ?? [];
    assert.equal(all.length, 3);
    assert.deepEqual(
      all.map((point) => [point.requests, point.errors, point.rejected, point.fallbacks]),
      [
        [2, 1, 0, 0],
        [2, 0, 1, 0],
        [1, 1, 0, 1],
      ],
    );
    // The 400 is not a latency the model had: percentiles are over the requests it answered.
    assert.equal(all[1]?.p50Ms, 40);
    assert.equal(all[0]?.throughput, 2);
    // The shadow answer is the candidate version's own, not part of what clients got.
    assert.equal(series['m:2']?.[1]?.requests, 2);
    const figures = operationalFigures(requests, 3);
    assert.equal(figures.requests, 5);
    assert.equal(figures.errorRate, 2 / 5);
    assert.equal(figures.rejectedRate, 1 / 5);
  });
});

/** AUC as the share of (positive, negative) pairs ranked right, ties counting half: the definition. */
function pairwiseAuc(scores: number[], labels: number[]): number {
  let good = 0;
  let pairs = 0;
  scores.forEach((positive, i) => {
    if (labels[i] !== 1) return;
    scores.forEach((negative, j) => {
      if (labels[j] !== 0) return;
      pairs++;
      good += positive > negative ? 1 : positive === negative ? 0.5 : 0;
    });
  });
  return good / pairs;
}

describe('monitor: labelled performance', () => {
  it('computes accuracy, precision, recall, f1, auc and log loss of a probability at 0.5', () => {
    const scores = [0.9, 0.8, 0.3, 0.6, 0.2, 0.6, 0.4, 0.1];
    const labels = [1, 1, 1, 0, 0, 1, 0, 0];
    const rows: LabelledRow[] = scores.map((predicted, index) => ({
      at: index,
      version: 'm:1',
      arm: 'stable',
      requestId: String(index),
      predicted,
      label: labels[index] ?? 0,
    }));
    assert.equal(taskOf(rows), 'binary');
    const metrics = performanceMetrics(rows, 'binary');
    // Predicted 1 at >= 0.5: rows 0, 1, 3, 5. True positives 0, 1, 5; false positive 3; false negative 2.
    assert.equal(metrics['accuracy'], 6 / 8);
    assert.equal(metrics['precision'], 3 / 4);
    assert.equal(metrics['recall'], 3 / 4);
    assert.equal(metrics['f1'], 3 / 4);
    assert.ok(Math.abs((metrics['auc'] ?? 0) - pairwiseAuc(scores, labels)) < 1e-12);
    const logLoss = -labels.reduce((sum, label, i) => sum + Math.log(label === 1 ? scores[i]! : 1 - scores[i]!), 0) / 8;
    assert.ok(Math.abs((metrics['log_loss'] ?? 0) - logLoss) < 1e-12);
  });

  it('agrees with the pairwise AUC on random scores with ties', () => {
    const random = seeded(7);
    const scores = Array.from({ length: 300 }, () => Math.round(random() * 20) / 20);
    const labels = scores.map((score) => (random() < score ? 1 : 0));
    assert.ok(Math.abs((rocAuc(scores, labels) ?? 0) - pairwiseAuc(scores, labels)) < 1e-12);
    assert.equal(rocAuc([0.1, 0.2], [1, 1]), null);
  });

  it('computes mae and rmse for a regressor', () => {
    const rows: LabelledRow[] = [
      { at: 0, version: 'm:1', arm: 'stable', requestId: 'a', predicted: 3, label: 1 },
      { at: 0, version: 'm:1', arm: 'stable', requestId: 'b', predicted: 10, label: 11 },
    ];
    assert.equal(taskOf(rows), 'regression');
    assert.deepEqual(performanceMetrics(rows, 'regression'), { mae: 1.5, rmse: Math.sqrt(2.5) });
  });

  it('reads the positive probability of an [N, 2] output and joins list labels row by row', () => {
    assert.deepEqual(
      predictionScores({ probability_0: [0.2, 0.7], probability_1: [0.8, 0.3], label: [1, 0] }, 2),
      [0.8, 0.3],
    );
    assert.deepEqual(predictionScores({ probability: [0.4] }, 1), [0.4]);
    const prediction = {
      seq: 1,
      requestId: 'r1',
      at: 5,
      arm: 'stable',
      version: 'm:1',
      protocol: 'v2',
      status: 200,
      latencyMs: 1,
      rows: 2,
      fallback: false,
      key: null,
      error: null,
      inputs: null,
      outputs: { probability: [0.9, 0.2] },
    };
    const rows = labelledRows([
      {
        prediction,
        feedback: [
          { requestId: 'r1', at: 6, kind: 'label', label: [0, 0], fields: {} },
          { requestId: 'r1', at: 7, kind: 'label', label: [true, 'false'], fields: {} },
        ],
      },
    ]);
    assert.deepEqual(
      rows.map((row) => [row.predicted, row.label]),
      [
        [0.9, 1],
        [0.2, 0],
      ],
    );
  });
});

describe('monitor: KPI expressions', () => {
  const rows = [
    { arm: 'stable', outcome: 'purchase', revenue: 10 },
    { arm: 'stable', outcome: 'view', revenue: 0 },
    { arm: 'candidate', outcome: 'purchase', revenue: 30 },
    { arm: 'candidate' },
  ];

  it('evaluates counts, sums, means and arithmetic over the rows', () => {
    assert.equal(evaluateKpi(parseKpi('conversion', 'count(outcome == "purchase") / count()'), rows), 0.5);
    assert.equal(evaluateKpi(parseKpi('rpr', 'sum(revenue) / count()'), rows), 10);
    assert.equal(evaluateKpi(parseKpi('mean', 'mean(revenue)'), rows), 40 / 3);
    assert.equal(evaluateKpi(parseKpi('big', "count(revenue >= 10 and outcome != 'view') * 2 - 1"), rows), 3);
    assert.equal(evaluateKpi(parseKpi('max', 'max(revenue) - min(revenue)'), rows), 30);
    assert.equal(evaluateKpi(parseKpi('none', 'count(outcome == "x") / count(outcome == "y")'), rows), null);
    assert.equal(evaluateKpi(parseKpi('empty', 'mean(revenue)'), []), null);
  });

  it('names the KPI and the column of a mistake', () => {
    const cases: [string, RegExp][] = [
      ['count(outcome == "purchase"', /KPI 'k': expected '\)' to close count\( but found 'the end' at column 28/],
      [
        'count(outcome == "purchase" / count()',
        /'count\(' inside another aggregate; aggregates do not nest at column 31/,
      ],
      ['revenue / count()', /KPI 'k': field 'revenue' outside an aggregate.*at column 1$/],
      ['sum(count())', /aggregates do not nest at column 5/],
      ['median(x)', /unknown function 'median'; use count, sum, mean, min or max at column 1/],
      ['count() $ 2', /unexpected '\$'.* at column 9/],
      ['sum()', /sum\(\) needs a field/],
      ['count("open', /unterminated string/],
    ];
    for (const [expression, message] of cases) {
      assert.throws(
        () => parseKpi('k', expression),
        (error: unknown) => {
          assert.ok(error instanceof KpiError, String(error));
          assert.match(error.message, message);
          return true;
        },
      );
    }
  });
});

describe('monitor: alert conditions', () => {
  const figures: MonitorFigures = {
    operational: { requests: 10, errorRate: 0.05, rejectedRate: 0, throughput: 2, p50Ms: 3, p95Ms: 9, p99Ms: 310 },
    drift: {
      referenceRows: 10,
      currentRows: 10,
      features: [
        {
          feature: 'temp',
          kind: 'numeric',
          test: 'ks',
          statistic: 0.4,
          pValue: 0.01,
          score: 0.01,
          threshold: 0.05,
          drifted: true,
          histogram: { bins: [], reference: [], current: [] },
        },
      ],
      driftedFeatures: 1,
      share: 1,
      shareThreshold: 0.5,
      datasetDrift: true,
    },
    performance: { accuracy: 0.6 },
    conceptDrift: false,
    kpis: { conversion: 0.04, 'conversion.candidate': 0.02 },
    resources: null,
  };

  it('reads every metric family and compares', () => {
    const check = (when: string) => {
      const condition = parseCondition('r', when, ['conversion']);
      return holds(metricValue(figures, condition.metric), condition);
    };
    assert.equal(check('error_rate > 0.02'), true);
    assert.equal(check('latency.p99_ms > 300'), true);
    assert.equal(check('latency.p95_ms > 300'), false);
    assert.equal(check('drift.share > 0.5'), true);
    assert.equal(check('drift.temp >= 0.4'), true);
    assert.equal(check('performance.accuracy < 0.7'), true);
    assert.equal(check('performance.auc < 0.7'), false, 'a metric with no value never holds');
    assert.equal(check('conversion < 0.05'), true);
    assert.equal(check('kpi.conversion.candidate < 0.03'), true);
    assert.equal(check('concept_drift == 1'), false);
    assert.equal(check('cpu_percent > 1'), false);
  });

  it('names the rule and the fix when a condition is wrong', () => {
    assert.throws(() => parseCondition('slow', 'latency.p99 > 300'), AlertRuleError);
    assert.throws(
      () => parseCondition('slow', 'latency.p99 > 300'),
      /alert 'slow': unknown metric 'latency.p99'.*latency.p99_ms/,
    );
    assert.throws(
      () => parseCondition('bad', 'error_rate >> 1'),
      /alert 'bad': when 'error_rate >> 1' is not "metric operator number"/,
    );
    assert.equal(knownMetric('conversion', []), false);
    assert.equal(knownMetric('conversion', ['conversion']), true);
  });
});
