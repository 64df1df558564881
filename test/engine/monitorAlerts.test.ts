// evaluateMonitoring on a real workspace: a deployment file read by the deploy reader, a real store
// and prediction log, a reference CSV, labels and events, and a webhook receiver on 127.0.0.1. Alert
// rules fire after their `for`, resolve when the condition ends, carry their actions and runbook,
// and reach the webhook; a dead webhook is reported, never fatal.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { readDatasets } from '../../server/engine/data/spec';
import { importDataset } from '../../server/engine/data/versions';
import { readDeployment } from '../../server/engine/deploy/spec';
import { listAlerts } from '../../server/engine/monitor/alerts';
import { PredictionLog } from '../../server/engine/monitor/log';
import { Registry } from '../../server/engine/registry/registry';
import { DRIFT_REFRESH_MS, evaluateMonitoring } from '../../server/engine/monitor/monitor';
import type { PredictionRecord } from '../../server/engine/serving/record';
import { Store } from '../../server/engine/store';
import type { AlertRecord } from '../../server/shared/deployments';
import { writeLogisticModel } from '../helpers/onnx';
import { makeWorkspace, yaml } from '../helpers/workspace';

/** A seeded normal sample (Box-Muller), so drift is the same on every run. */
function normals(count: number, mean: number, seed: number): number[] {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return (state + 1) / 2 ** 32;
  };
  return Array.from(
    { length: count },
    () => mean + Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()),
  );
}

function prediction(index: number, at: number, f0: number, extra: Partial<PredictionRecord> = {}): PredictionRecord {
  return {
    requestId: `r${index}`,
    at,
    arm: 'stable',
    version: 'weather:1',
    protocol: 'v2',
    status: 200,
    latencyMs: 5,
    rows: 1,
    inputs: { f0: [f0], f1: [index % 7] },
    outputs: { probability: [0.9] },
    error: null,
    fallback: false,
    key: null,
    ...extra,
  };
}

interface Receiver {
  url: string;
  received: { state: string; alert: AlertRecord; deployment: string }[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push(JSON.parse(body) as Receiver['received'][number]);
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function workspace(webhook: string): string {
  const reference = ['f0,f1', ...normals(600, 0, 1).map((value, index) => `${value},${index % 7}`)].join('\n');
  return makeWorkspace({
    'runbooks/errors.md': '# Errors\nRoll back.\n',
    'data/reference.csv': `${reference}\n`,
    'api.deploy.yaml': yaml`
      name: api
      model: weather@champion
      monitoring:
        reference:
          path: data/reference.csv
        drift:
          window: 1h
          features: [f0, f1]
          min_rows: 50
        concept_drift:
          detector: ddm
        performance:
          metric: accuracy
          min: 0.8
        kpis:
          - name: conversion
            expression: count(outcome == "purchase") / count()
        alerts:
          - name: error-rate-high
            when: error_rate > 0.1
            severity: critical
            runbook: runbooks/errors.md
            for: 2m
          - name: drift-high
            when: drift.share >= 0.5
            runbook: runbooks/drift.md
          - name: conversion-low
            when: conversion.candidate < 0.3
            severity: info
            runbook: runbooks/errors.md
        webhook: ${webhook}
        rollback:
          automatic: true
          on: [error-rate-high]
    `,
  });
}

describe('monitor: evaluateMonitoring, alerts and the webhook', function () {
  this.timeout(30000);
  let receiver: Receiver;

  beforeEach(async () => {
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await receiver.close();
  });

  it('shows the drift of fewer rows than min_rows but fires no drift alert on it', async () => {
    const root = workspace(receiver.url);
    const spec = readDeployment('api.deploy.yaml', root);
    const store = Store.open(root);
    const log = PredictionLog.open(root, 'api');
    const t0 = 1_800_000_000_000;
    // 30 requests with f0 shifted by 3: drifted by every test, and still too few to judge.
    const shifted = normals(30, 3, 2);
    log.append(shifted.map((f0, index) => prediction(index, t0 - 30_000 + index * 1000, f0)));
    log.flush();
    let outcome = await evaluateMonitoring({ root, spec, log, store, now: t0 });
    assert.equal(outcome.report.drift?.currentRows, 30);
    assert.equal(outcome.report.drift?.minRows, 50);
    assert.equal(outcome.report.drift?.features.find((feature) => feature.feature === 'f0')?.drifted, true);
    assert.deepEqual(outcome.fired, []);
    // Twenty more and the window holds enough: the same drift fires at the next drift refresh.
    log.append(normals(20, 3, 3).map((f0, index) => prediction(30 + index, t0 + index * 100, f0)));
    log.flush();
    outcome = await evaluateMonitoring({ root, spec, log, store, now: t0 + DRIFT_REFRESH_MS });
    assert.equal(outcome.report.drift?.currentRows, 50);
    assert.deepEqual(
      outcome.fired.map((alert) => alert.rule),
      ['drift-high'],
    );
    // An hour later the window is empty: nothing to judge, so the alert neither resolves nor fires again.
    outcome = await evaluateMonitoring({ root, spec, log, store, now: t0 + 2 * 3_600_000 });
    assert.deepEqual([outcome.fired, outcome.resolved], [[], []]);
    log.close();
    store.close();
  });

  it('fires the built-in alerts of the latency and error objectives, unless an alert of the spec watches the same', async () => {
    const root = makeWorkspace({
      'objectives.deploy.yaml': yaml`
        name: objectives
        model: weather@champion
        monitoring:
          latency: { p95_ms: 50, p99_ms: 3 }
          errors: { max_rate: 0.05 }
      `,
      'declared.deploy.yaml': yaml`
        name: declared
        model: weather@champion
        monitoring:
          latency: { p99_ms: 3 }
          errors: { max_rate: 0.05 }
          alerts:
            - { name: errors-high, when: error_rate > 0.02, runbook: runbooks/errors.md }
          rollback: { on: [latency-p99-high] }
      `,
      'named.deploy.yaml': yaml`
        name: named
        model: weather@champion
        monitoring:
          errors: { max_rate: 0.05 }
          alerts:
            - { name: errors-high, when: error_rate > 0.02, runbook: runbooks/errors.md }
          rollback: { automatic: true, on: [error-rate-high] }
      `,
    });
    const store = Store.open(root);
    const t0 = 1_800_000_000_000;
    const outcomes = [];
    for (const name of ['objectives', 'declared', 'named']) {
      const log = PredictionLog.open(root, name);
      // 40 requests of the last 40 s, each 5 ms, a tenth failed.
      log.append(
        Array.from({ length: 40 }, (_, index) =>
          prediction(index, t0 - 40_000 + index * 1000, 0, index % 10 === 0 ? { status: 500, outputs: null } : {}),
        ),
      );
      log.flush();
      outcomes.push(
        await evaluateMonitoring({ root, spec: readDeployment(`${name}.deploy.yaml`, root), log, store, now: t0 }),
      );
      log.close();
    }
    assert.deepEqual(outcomes[0]?.fired.map((alert) => [alert.rule, alert.condition, alert.value]).sort(), [
      ['error-rate-high', 'error_rate > 0.05', 0.1],
      ['latency-p99-high', 'latency.p99_ms > 3', 5],
    ]);
    // errors-high fires whenever error-rate-high would (above 0.02 covers above 0.05): the built-in
    // is left out. latency-p99-high, named in rollback.on without automatic: true, proposes it.
    assert.deepEqual(outcomes[1]?.fired.map((alert) => [alert.rule, alert.actions]).sort(), [
      ['errors-high', []],
      ['latency-p99-high', ['rollback-proposed']],
    ]);
    // Named in rollback.on, the built-in runs even though a declared alert covers it.
    assert.deepEqual(outcomes[2]?.fired.map((alert) => [alert.rule, alert.actions]).sort(), [
      ['error-rate-high', ['rollback']],
      ['errors-high', []],
    ]);
    store.close();
  });

  it('fires after `for`, resolves when the condition ends, and posts both to the webhook', async () => {
    const root = workspace(receiver.url);
    const spec = readDeployment('api.deploy.yaml', root);
    const store = Store.open(root);
    const log = PredictionLog.open(root, 'api');
    const t0 = 1_800_000_000_000;
    // 100 requests in the last 50 s: a fifth fail, f0 shifted by 3 (drift), half the stable ones
    // labelled wrong (accuracy 0.5 < 0.8), the candidate's requests mostly without a purchase.
    const shifted = normals(100, 3, 2);
    log.append(
      shifted.map((f0, index) =>
        prediction(index, t0 - 50_000 + index * 500, f0, {
          ...(index % 5 === 0 ? { status: 500, outputs: null, error: 'model failed' } : {}),
          ...(index % 4 === 3 ? { arm: 'candidate', version: 'weather:2' } : {}),
        }),
      ),
    );
    log.flush();
    const labels = shifted.map((_, index) => ({ request_id: `r${index}`, label: index % 2 }));
    const events = shifted.map((_, index) => ({
      request_id: `r${index}`,
      outcome: index % 8 === 1 ? 'purchase' : 'view',
    }));
    log.addFeedback([...labels, ...events], { now: t0 });

    let outcome = await evaluateMonitoring({ root, spec, log, store, now: t0 });
    assert.deepEqual(
      outcome.fired.map((alert) => alert.rule).sort(),
      ['conversion-low', 'drift-high', 'performance-low'],
      'error-rate-high must hold for 2 minutes first',
    );
    const drift = outcome.fired.find((alert) => alert.rule === 'drift-high');
    assert.match(
      drift?.message ?? '',
      /drift.share is 0.5 \(drift.share >= 0.5\)\. The runbook runbooks\/drift.md does not exist: write it\./,
    );
    assert.equal(outcome.report.drift?.features.find((feature) => feature.feature === 'f0')?.drifted, true);
    assert.equal(outcome.report.drift?.features.find((feature) => feature.feature === 'f1')?.drifted, false);
    const performance = outcome.fired.find((alert) => alert.rule === 'performance-low');
    assert.equal(performance?.condition, 'performance.accuracy < 0.8');
    assert.ok((performance?.value ?? 1) < 0.6);
    const kpi = outcome.report.kpis[0];
    assert.equal(kpi?.name, 'conversion');
    // Purchases are the requests with index % 8 == 1: stable arm only (candidate is index % 4 == 3).
    assert.equal(kpi?.byArm['candidate'], 0);
    assert.equal(kpi?.events['all'], 100);
    assert.ok((kpi?.byArm['stable'] ?? 0) > 0.15);
    const all = outcome.report.operational['all'] ?? [];
    assert.equal(
      all.reduce((sum, point) => sum + point.errors, 0),
      20,
    );
    assert.ok(outcome.report.operational['weather:2']);
    assert.equal(receiver.received.length, 3);
    assert.ok(receiver.received.every((post) => post.deployment === 'api' && post.state === 'firing'));

    // Two minutes later the errors go on: error-rate-high has held long enough and fires, with its action.
    const later = t0 + 130_000;
    log.append(
      Array.from({ length: 20 }, (_, index) =>
        prediction(1000 + index, later - 30_000 + index * 1000, 0, index % 2 === 0 ? { status: 500 } : {}),
      ),
    );
    outcome = await evaluateMonitoring({ root, spec, log, store, now: later });
    const errors = outcome.fired.find((alert) => alert.rule === 'error-rate-high');
    assert.ok(errors, JSON.stringify(outcome.fired));
    assert.equal(errors.severity, 'critical');
    assert.deepEqual(errors.actions, ['rollback']);
    assert.equal(errors.runbook, 'runbooks/errors.md');
    assert.equal(errors.value, 0.5);
    assert.deepEqual(outcome.resolved, [], 'the others still hold');

    // Healthy traffic with the reference's distribution, well after the labelled hour: all resolve.
    const healthy = later + 2 * 3_600_000;
    log.append(normals(200, 0, 3).map((f0, index) => prediction(5000 + index, healthy - 50_000 + index * 200, f0)));
    outcome = await evaluateMonitoring({ root, spec, log, store, now: healthy });
    assert.deepEqual(outcome.fired, []);
    assert.deepEqual(outcome.resolved.map((alert) => alert.rule).sort(), [
      'conversion-low',
      'drift-high',
      'error-rate-high',
      'performance-low',
    ]);
    assert.ok(outcome.resolved.every((alert) => alert.state === 'resolved' && alert.resolvedAt === healthy));
    assert.equal(receiver.received.filter((post) => post.state === 'resolved').length, 4);
    const stored = listAlerts(store.db, { deployment: 'api' });
    assert.equal(stored.length, 4);
    assert.ok(stored.every((alert) => alert.state === 'resolved'));
    assert.deepEqual(outcome.warnings, []);
    log.close();
    store.close();
  });

  it('reports a webhook that does not answer without failing the round', async () => {
    await receiver.close();
    const root = workspace(receiver.url);
    const spec = readDeployment('api.deploy.yaml', root);
    const store = Store.open(root);
    const log = PredictionLog.open(root, 'api');
    const now = 1_800_000_000_000;
    log.append(normals(50, 3, 4).map((f0, index) => prediction(index, now - 10_000 + index, f0)));
    const warned: string[] = [];
    const outcome = await evaluateMonitoring({ root, spec, log, store, now, warn: (message) => warned.push(message) });
    assert.deepEqual(
      outcome.fired.map((alert) => alert.rule),
      ['drift-high'],
    );
    assert.match(
      warned.join('\n'),
      /Alert 'drift-high' was not delivered: the webhook http:\/\/127\.0\.0\.1:[0-9]+\/alerts failed/,
    );
    // It was still recorded in the store, where the editor and the CLI read it.
    assert.equal(listAlerts(store.db, { deployment: 'api' })[0]?.rule, 'drift-high');
    receiver = await startReceiver();
    log.close();
    store.close();
  });

  it('follows the error stream with the concept-drift detector', async () => {
    const root = workspace(receiver.url);
    const spec = readDeployment('api.deploy.yaml', root);
    const store = Store.open(root);
    const log = PredictionLog.open(root, 'api');
    const now = 1_800_000_000_000;
    // Every prediction says 1 (0.9). For 300 requests one label in ten is 0 (10% errors), then seven
    // in ten are: DDM must notice the change after it happens, and not before.
    log.append(Array.from({ length: 600 }, (_, index) => prediction(index, now - 600_000 + index * 1000, 0)));
    log.flush();
    const wrong = (index: number) => (index < 300 ? index % 10 === 0 : index % 10 < 7);
    log.addFeedback(
      Array.from({ length: 600 }, (_, index) => ({ request_id: `r${index}`, label: wrong(index) ? 0 : 1 })),
      { now },
    );
    const outcome = await evaluateMonitoring({ root, spec, log, store, now });
    const concept = outcome.report.conceptDrift;
    assert.equal(concept?.detector, 'ddm');
    assert.ok((concept?.detections.length ?? 0) >= 1);
    const first = Math.min(...(concept?.detections ?? []));
    assert.ok(first > now - 300_000 && first < now - 200_000, `detected at ${first - now} ms`);
    log.close();
    store.close();
  });
  it('reads the labels appended to monitoring.labels.source each round, once, and names bad lines', async () => {
    const root = workspace(receiver.url);
    const specFile = path.join(root, 'api.deploy.yaml');
    fs.writeFileSync(
      specFile,
      fs
        .readFileSync(specFile, 'utf8')
        .replace('  performance:', '  labels:\n    source: data/labels.jsonl\n    join_key: id\n  performance:'),
    );
    const spec = readDeployment('api.deploy.yaml', root);
    const store = Store.open(root);
    const log = PredictionLog.open(root, 'api');
    const now = 1_800_000_000_000;
    log.append(Array.from({ length: 30 }, (_, index) => prediction(index, now - 30_000 + index * 1000, 0)));
    const labels = path.join(root, 'data/labels.jsonl');
    const warned: string[] = [];
    const warn = (message: string) => warned.push(message);
    // No file yet: nothing to read, nothing to say.
    await evaluateMonitoring({ root, spec, log, store, now, warn });
    assert.equal(log.feedback().length, 0);
    const line = (index: number) => `${JSON.stringify({ id: `r${index}`, label: 1 })}\n`;
    fs.writeFileSync(labels, `${line(0)}${line(1)}not json\n{"label": 0}\n${line(2)}{"id": "r3", "lab`);
    await evaluateMonitoring({ root, spec, log, store, now, warn });
    assert.deepEqual(
      log.feedback().map((row) => row.requestId),
      ['r0', 'r1', 'r2'],
      'the unfinished last line waits for the next round',
    );
    assert.match(warned.join('\n'), /Labels: data\/labels.jsonl:3: not valid JSON/);
    assert.match(warned.join('\n'), /Labels: data\/labels.jsonl:4: 'id' is missing/);
    fs.appendFileSync(labels, `el": 0}\n${line(4)}`);
    await evaluateMonitoring({ root, spec, log, store, now, warn });
    assert.deepEqual(
      log.feedback().map((row) => row.requestId),
      ['r0', 'r1', 'r2', 'r3', 'r4'],
    );
    assert.equal(warned.length, 2, 'lines already read are not read again');
    log.close();
    store.close();
  });
});

describe('monitor: the drift reference from a pipeline dataset', function () {
  this.timeout(30000);

  it('uses the latest imported version, else the source file, and says when a named version is missing', async () => {
    const csv = (mean: number, seed: number) =>
      `f0,f1\n${normals(400, mean, seed)
        .map((value, index) => `${value},${index % 7}`)
        .join('\n')}\n`;
    const root = makeWorkspace({
      'pipeline.yaml': yaml`
        datasets:
          weather:
            source: {type: csv, path: data/weather.csv}
      `,
      'data/weather.csv': csv(3, 1234567),
      'runbooks/drift.md': '# Drift\n',
      'api.deploy.yaml': yaml`
        name: api
        model: weather@champion
        monitoring:
          reference:
            dataset: weather
          drift:
            window: 1h
          alerts:
            - name: drift-high
              when: drift.share >= 0.5
              runbook: runbooks/drift.md
      `,
    });
    const store = Store.open(root);
    const log = PredictionLog.open(root, 'api');
    const now = 1_800_000_000_000;
    // Live inputs centred on 3, like the source file as it is now.
    log.append(normals(200, 3, 7654321).map((f0, index) => prediction(index, now - 100_000 + index * 100, f0)));
    const spec = readDeployment('api.deploy.yaml', root);
    let outcome = await evaluateMonitoring({ root, spec, log, store, now });
    assert.equal(outcome.report.drift?.referenceRows, 400);
    assert.equal(outcome.report.drift?.datasetDrift, false, 'no version imported: the source file is the reference');

    // Version 1 was centred on 0; the source file has moved on since, the reference has not.
    fs.writeFileSync(path.join(root, 'data/weather.csv'), csv(0, 7));
    const dataset = readDatasets(root).datasets.find((candidate) => candidate.name === 'weather');
    assert.ok(dataset);
    assert.equal((await importDataset(store, root, dataset, now)).status, 'created');
    fs.writeFileSync(path.join(root, 'data/weather.csv'), csv(3, 8));
    outcome = await evaluateMonitoring({ root, spec, log, store, now: now + 120_000 });
    assert.equal(outcome.report.drift?.features.find((feature) => feature.feature === 'f0')?.drifted, true);
    assert.deepEqual(
      outcome.fired.map((alert) => alert.rule),
      ['drift-high'],
    );

    fs.writeFileSync(
      path.join(root, 'api.deploy.yaml'),
      fs
        .readFileSync(path.join(root, 'api.deploy.yaml'), 'utf8')
        .replace('dataset: weather', 'dataset: weather\n    version: ffff'),
    );
    outcome = await evaluateMonitoring({
      root,
      spec: readDeployment('api.deploy.yaml', root),
      log,
      store,
      now: now + 240_000,
    });
    assert.equal(outcome.report.drift, null);
    assert.match(
      outcome.warnings.join('\n'),
      /Drift: Dataset 'weather' has no version 'ffff'.*monitoring.reference.version/,
    );
    log.close();
    store.close();
  });
});

describe('monitor: performance below the gate', function () {
  this.timeout(30000);

  it("fires performance-low below the served version's gate threshold when the spec gives no min", async () => {
    const outcome = await accuracyOfFourFifths(yaml`
      name: api
      model: weather@champion
      monitoring:
        performance:
          metric: accuracy
    `);
    assert.deepEqual(
      outcome.fired.map((alert) => [alert.rule, alert.condition, alert.value]),
      [['performance-low', 'performance.accuracy < 0.85', 0.8]],
    );
  });

  it('leaves performance-low out when an alert of the spec watches the same metric fall', async () => {
    const outcome = await accuracyOfFourFifths(yaml`
      name: api
      model: weather@champion
      monitoring:
        performance: { metric: accuracy, min: 0.85 }
        alerts:
          - { name: accuracy-low, when: performance.accuracy <= 0.85, severity: critical, runbook: runbooks/accuracy.md }
    `);
    assert.deepEqual(
      outcome.fired.map((alert) => [alert.rule, alert.condition, alert.value]),
      [['accuracy-low', 'performance.accuracy <= 0.85', 0.8]],
    );
  });
});

/**
 * Monitoring of a deployment (the spec given) whose registered model has a gate of accuracy >= 0.85
 * and whose 40 labelled predictions are 32 right: accuracy 0.8.
 */
async function accuracyOfFourFifths(spec: string): Promise<Awaited<ReturnType<typeof evaluateMonitoring>>> {
  const root = makeWorkspace({ 'api.deploy.yaml': spec });
  const store = Store.open(root);
  const registry = new Registry(store, root);
  registry.register({
    name: 'weather',
    onnxPath: writeLogisticModel(root, 'models/weather.onnx', [1, 2]),
    gateReport: {
      passed: true,
      split: 'holdout',
      summary: 'All 1 criteria passed.',
      criteria: [
        {
          kind: 'threshold',
          criterion: 'holdout.accuracy >= 0.85',
          metric: 'holdout.accuracy',
          value: 0.9,
          threshold: '>= 0.85',
          passed: true,
          reason: '0.9 >= 0.85',
        },
      ],
    },
  });
  registry.setAlias('weather', 'champion', 1);
  const log = PredictionLog.open(root, 'api');
  const now = 1_800_000_000_000;
  log.append(Array.from({ length: 40 }, (_, index) => prediction(index, now - 40_000 + index * 1000, 0)));
  log.flush();
  // 32 of 40 right: accuracy 0.8, under the gate's 0.85.
  log.addFeedback(
    Array.from({ length: 40 }, (_, index) => ({ request_id: `r${index}`, label: index % 5 === 0 ? 0 : 1 })),
    { now },
  );
  const outcome = await evaluateMonitoring({ root, spec: readDeployment('api.deploy.yaml', root), log, store, now });
  log.close();
  store.close();
  return outcome;
}
