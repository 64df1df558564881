// The monitoring round runs in a process of its own, beside the deployment's server (real detached
// servers started by the CLI bundle, real SQLite files): requests are answered promptly while rounds
// over a 100k-prediction log run; a monitor killed with SIGKILL is started again while serving goes
// on, and it exits with its server; `cairn monitor report --json` returns the latest round's report
// while the deployment serves, and builds the report itself otherwise.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readDeployment } from '../../server/engine/deploy/spec';
import { DEFAULT_LOG_POLICY, PredictionLog } from '../../server/engine/monitor/log';
import { buildReport, roundReportPath } from '../../server/engine/monitor/monitor';
import { MonitorProcess } from '../../server/engine/monitor/monitorProcess';
import { Registry } from '../../server/engine/registry/registry';
import type { PredictionRecord } from '../../server/engine/serving/record';
import { Store } from '../../server/engine/store';
import type { DeploymentStatus, MonitorReport } from '../../server/shared/deployments';
import { writeLogisticModel } from '../helpers/onnx';
import { makeWorkspace } from '../helpers/workspace';
import { alive, cairn, cairnAsync, freePort, waitFor } from '../helpers/deployCli';

const repository = path.resolve(__dirname, '../..');
const cli = path.join(repository, 'dist/cli/cairn.js');
const FEATURES = 20;

/** The pid of the server's monitor process (its child started with `__monitor`), or null. */
function monitorPid(serverPid: number): number | null {
  const result = spawnSync('pgrep', ['-P', String(serverPid), '-f', '__monitor'], { encoding: 'utf8' });
  const pid = Number(result.stdout.trim().split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** When report.json was last written, or null while there is none. */
function reportWritten(root: string): number | null {
  try {
    return fs.statSync(roundReportPath(root, 'rain')).mtimeMs;
  } catch {
    return null;
  }
}

function row(index: number): number[] {
  return Array.from({ length: FEATURES }, (_, feature) => Math.sin(index * 0.37 + feature) * 2 + feature * 0.1);
}

/** One V2 inference of one row; its status and how long it took. */
async function infer(url: string, index: number): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${url}/v2/models/rain/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'features', shape: [1, FEATURES], datatype: 'FP32', data: row(index) }] }),
  });
  await response.text();
  return { status: response.status, ms: performance.now() - started };
}

/** A workspace serving rain v1 (20 features), a drift reference of 20,000 rows, and `predictions` logged ones. */
function workspace(intervalMs: number, predictions: number): string {
  const header = Array.from({ length: FEATURES }, (_, feature) => `features_${feature}`).join(',');
  const reference = Array.from({ length: 20_000 }, (_, index) => row(index * 3 + 1).join(','));
  const root = makeWorkspace({
    'data/reference.csv': `${header}\n${reference.join('\n')}\n`,
    'rain.deploy.yaml': [
      'model: rain@champion',
      'monitoring:',
      `  interval: ${intervalMs}ms`,
      '  reference: { path: data/reference.csv }',
      '  drift: { window: 1h }',
      '  kpis:',
      '    - { name: fast-share, expression: count(latency_ms < 5) / count() }',
      '  alerts:',
      '    - { name: traffic-seen, when: "throughput > 0", runbook: runbooks/traffic.md }',
      '',
    ].join('\n'),
    'runbooks/traffic.md': '# Traffic\n',
  });
  const store = Store.open(root);
  try {
    const registry = new Registry(store, root);
    const weights = Array.from({ length: FEATURES }, (_, feature) => ((feature % 5) - 2) / 10);
    registry.register({ name: 'rain', onnxPath: writeLogisticModel(root, 'models/v1.onnx', weights, 0) });
    registry.setAlias('rain', 'champion', 1, { reason: 'first model' });
  } finally {
    store.close();
  }
  const log = PredictionLog.open(root, 'rain');
  try {
    const now = Date.now();
    let batch: PredictionRecord[] = [];
    for (let index = 0; index < predictions; index++) {
      const values = row(index);
      batch.push({
        requestId: `logged-${index}`,
        // Spread over the last 50 minutes, oldest first.
        at: now - 3_000_000 + Math.floor((index * 3_000_000) / predictions),
        arm: 'stable',
        version: 'rain:1',
        protocol: 'v2',
        status: 200,
        latencyMs: 1 + (index % 13),
        rows: 1,
        inputs: Object.fromEntries(values.map((value, feature) => [`features_${feature}`, [value]])),
        outputs: { probability: [0.5] },
        error: null,
        fallback: false,
        key: null,
      });
      if (batch.length === 10_000) {
        log.append(batch);
        log.flush();
        batch = [];
      }
    }
    log.append(batch);
    log.flush();
  } finally {
    log.close();
  }
  return root;
}

async function deploy(root: string): Promise<DeploymentStatus> {
  const port = await freePort();
  const deployed = await cairnAsync(root, 'deploy', 'rain.deploy.yaml', '--port', String(port), '--json');
  assert.equal(deployed.status, 0, deployed.stderr);
  return JSON.parse(deployed.stdout) as DeploymentStatus;
}

describe('monitor process', function () {
  this.timeout(240_000);
  const started: string[] = [];

  before(function () {
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first.`);
  });

  afterEach(() => {
    for (const root of started.splice(0)) cairn(root, 'deploy', 'stop', 'rain');
  });

  it('answers every request promptly while monitoring rounds run over a 100k-prediction log', async () => {
    const root = workspace(200, 100_000);
    // What one round's report costs when it runs where the requests are answered.
    const spec = readDeployment(path.join(root, 'rain.deploy.yaml'), root);
    const store = Store.open(root);
    const log = PredictionLog.open(root, 'rain', { readonly: true });
    const before = performance.now();
    const measured = await buildReport({ root, spec, log, store, now: Date.now(), sinceMs: 3_600_000 });
    const roundMs = performance.now() - before;
    log.close();
    store.close();
    assert.equal(measured.report.drift?.currentRows, 100_000);
    assert.ok(roundMs > 600, `a round over 100k predictions takes ${Math.round(roundMs)} ms: too little to tell`);

    started.push(root);
    const status = await deploy(root);
    const url = status.url ?? '';
    const writes = new Set<number>();
    const latencies: number[] = [];
    const statuses: number[] = [];
    const deadline = Date.now() + 90_000;
    // Requests one after another until the monitor has written three rounds' reports.
    for (let index = 0; writes.size < 3 && Date.now() < deadline; index++) {
      const answer = await infer(url, index);
      latencies.push(answer.ms);
      statuses.push(answer.status);
      const written = reportWritten(root);
      if (written !== null) writes.add(written);
    }
    assert.ok(writes.size >= 3, `the monitor wrote ${writes.size} reports in 90 s`);
    assert.ok(
      statuses.every((code) => code === 200),
      `statuses: ${[...new Set(statuses)].join(',')}`,
    );
    const slowest = Math.max(...latencies);
    const sorted = [...latencies].sort((a, b) => a - b);
    const p50 = sorted[Math.floor(sorted.length / 2)] ?? 0;
    assert.ok(
      slowest < roundMs / 2,
      `the slowest of ${latencies.length} requests took ${Math.round(slowest)} ms (p50 ${p50.toFixed(1)} ms); a round takes ${Math.round(roundMs)} ms`,
    );
    const report = JSON.parse(fs.readFileSync(roundReportPath(root, 'rain'), 'utf8')) as MonitorReport;
    assert.equal(report.drift?.features.length, FEATURES);
    assert.ok((report.operational['all'] ?? []).reduce((sum, point) => sum + point.requests, 0) >= 100_000);
    assert.ok(report.alerts.some((alert) => alert.rule === 'traffic-seen'));
    assert.deepEqual(
      report.kpis.map((kpi) => kpi.name),
      ['fast-share'],
    );
  });

  it('starts a killed monitor again while serving goes on, and the monitor exits with its server', async () => {
    const root = workspace(200, 1000);
    started.push(root);
    const status = await deploy(root);
    const url = status.url ?? '';
    const serverPid = status.pid ?? -1;
    const first = await waitFor('the monitor process', () => monitorPid(serverPid));
    await waitFor('a round', () => reportWritten(root));
    process.kill(first, 'SIGKILL');
    for (let index = 0; index < 20; index++) assert.equal((await infer(url, index)).status, 200);
    const second = await waitFor('a new monitor process', () => {
      const pid = monitorPid(serverPid);
      return pid !== null && pid !== first ? pid : null;
    });
    // The new monitor runs rounds: the report is written again.
    const killedAt = Date.now();
    await waitFor('a round of the new monitor', () => ((reportWritten(root) ?? 0) > killedAt ? true : null));
    assert.equal((await infer(url, 99)).status, 200);
    const serverLog = fs.readFileSync(path.join(root, '.cairn/deployments/rain/server.log'), 'utf8');
    assert.match(serverLog, /monitor: the monitor process exited \(SIGKILL\); it is started again at the next round/);
    // The server is killed without a chance to stop anything: its monitor goes too.
    process.kill(serverPid, 'SIGKILL');
    await waitFor('the monitor to exit', () => (alive(second) ? null : true), 10_000);
  });

  it('monitor report returns the latest round while the deployment serves, and builds the report otherwise', async () => {
    const root = workspace(4000, 2000);
    started.push(root);
    const status = await deploy(root);
    for (let index = 0; index < 10; index++) assert.equal((await infer(status.url ?? '', index)).status, 200);
    // Right after a round has written its report, mark it: a report that carries the mark came from the file.
    const file = roundReportPath(root, 'rain');
    const previous = reportWritten(root) ?? 0;
    await waitFor('a round', () => ((reportWritten(root) ?? 0) > previous ? true : null), 20_000);
    const written = JSON.parse(fs.readFileSync(file, 'utf8')) as MonitorReport;
    const mark = written.generatedAt - 1234;
    fs.writeFileSync(file, JSON.stringify({ ...written, generatedAt: mark }));

    const cached = cairn(root, 'monitor', 'report', 'rain', '--json');
    assert.equal(cached.status, 0, cached.stderr);
    const fromFile = JSON.parse(cached.stdout) as MonitorReport;
    assert.equal(fromFile.generatedAt, mark, 'the round report was returned');
    assert.equal(fromFile.status?.status, 'serving');
    assert.equal(fromFile.to - fromFile.from, 3_600_000);
    assert.equal(fromFile.bucketMs, 60_000);
    assert.ok(fromFile.alerts.some((alert) => alert.rule === 'traffic-seen'));
    const same = JSON.parse(
      cairn(root, 'monitor', 'report', 'rain', '--since', '1h', '--bucket', '1m', '--json').stdout,
    );
    assert.equal((same as MonitorReport).generatedAt, mark, 'the same period and bucket: the round report');

    const other = JSON.parse(
      cairn(root, 'monitor', 'report', 'rain', '--since', '10m', '--json').stdout,
    ) as MonitorReport;
    assert.notEqual(other.generatedAt, mark);
    assert.equal(other.to - other.from, 600_000);

    // A report older than two intervals is not used.
    fs.writeFileSync(file, JSON.stringify({ ...written, generatedAt: mark }));
    const old = (Date.now() - 60_000) / 1000;
    fs.utimesSync(file, old, old);
    const stale = JSON.parse(cairn(root, 'monitor', 'report', 'rain', '--json').stdout) as MonitorReport;
    assert.notEqual(stale.generatedAt, mark);

    // Stopped: the report is built from the log, whatever the file holds.
    assert.equal(cairn(root, 'deploy', 'stop', 'rain').status, 0);
    fs.writeFileSync(file, JSON.stringify({ ...written, generatedAt: mark }));
    const stopped = JSON.parse(cairn(root, 'monitor', 'report', 'rain', '--json').stdout) as MonitorReport;
    assert.notEqual(stopped.generatedAt, mark);
    assert.equal(stopped.status?.status, 'stopped');
    assert.equal(stopped.drift?.features.length, FEATURES);
  });
});

describe('prediction log retention in chunks', () => {
  it('removes many more rows than one chunk by age, then beyond max rows, keeping the newest', () => {
    const root = makeWorkspace({});
    const log = PredictionLog.open(root, 'd', {
      policy: { ...DEFAULT_LOG_POLICY, retentionMs: 100_000, maxRows: 3000 },
    });
    const records = Array.from({ length: 9000 }, (_, index): PredictionRecord => ({
      requestId: `r${index}`,
      at: index * 20,
      arm: 'stable',
      version: 'm:1',
      protocol: 'v2',
      status: 200,
      latencyMs: 1,
      rows: 1,
      inputs: { x: [index] },
      outputs: null,
      error: null,
      fallback: false,
      key: null,
    }));
    log.append(records);
    log.flush();
    log.addFeedback(
      Array.from({ length: 4500 }, (_, index) => ({ request_id: `r${index}`, label: 1, at: index * 20 })),
      { now: 0 },
    );
    // At 180,000 the retention keeps at >= 80,000: r4000..r8999 (5000); max rows keeps r6000..r8999.
    assert.equal(log.applyRetention(180_000), 6000);
    assert.equal(log.count(), 3000);
    const kept = log.summaries();
    assert.equal(kept[0]?.requestId, 'r6000');
    assert.equal(kept.at(-1)?.requestId, 'r8999');
    // Feedback older than the retention went too: r4000..r4499 stay.
    assert.equal(log.feedback().length, 500);
    log.close();
  });
});

describe('MonitorProcess (under tsx: monitorMain.ts)', function () {
  this.timeout(60_000);

  it('runs rounds in its own process, is started again after it dies, and exits when stopped', async () => {
    const root = workspace(1000, 500);
    const spec = readDeployment(path.join(root, 'rain.deploy.yaml'), root);
    const messages: string[] = [];
    const monitor = new MonitorProcess({ log: (message) => messages.push(message) });
    try {
      const first = await monitor.round({ root, spec, now: Date.now(), pids: [process.pid] });
      assert.deepEqual(
        first.fired.map((alert) => alert.rule),
        ['traffic-seen'],
      );
      assert.deepEqual(first.warnings, []);
      const pid = monitor.pid;
      assert.ok(pid !== null && pid !== process.pid);
      const report = JSON.parse(fs.readFileSync(roundReportPath(root, 'rain'), 'utf8')) as MonitorReport;
      assert.equal(report.drift?.currentRows, 500);
      assert.equal(report.to - report.from, 3_600_000);

      process.kill(pid, 'SIGKILL');
      await waitFor('the monitor to be seen gone', () => (monitor.pid === null ? true : null), 10_000);
      assert.match(messages.join('\n'), /the monitor process exited \(SIGKILL\)/);
      const second = await monitor.round({ root, spec, now: Date.now(), pids: [process.pid] });
      assert.deepEqual(second.fired, [], 'the alert still fires: nothing new');
      const again = monitor.pid;
      assert.ok(again !== null && again !== pid);
      monitor.stop();
      await waitFor('the monitor to exit', () => (alive(again) ? null : true), 10_000);
      await assert.rejects(monitor.round({ root, spec, now: Date.now(), pids: [] }), /the monitor is stopped/);
    } finally {
      monitor.stop();
    }
  });
});
