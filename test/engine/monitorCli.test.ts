// `cairn monitor` through the built CLI on a real workspace: labels and events from JSON Lines and CSV
// (a bad row named by file and line), the report built from the log with no server running, alerts
// and retrains as --json documents and tables, drift dispatched to its command, usage errors.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readDeployment } from '../../server/engine/deploy/spec';
import { PredictionLog } from '../../server/engine/monitor/log';
import { evaluateMonitoring } from '../../server/engine/monitor/monitor';
import { Store } from '../../server/engine/store';
import type { AlertRecord, MonitorReport, RetrainRecord } from '../../server/shared/deployments';
import { makeWorkspace, yaml } from '../helpers/workspace';

const repository = path.resolve(__dirname, '../..');
const cli = path.join(repository, 'dist/cli/cairn.js');

function cairn(root: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args, '--workspace', root], { cwd: root, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const NOW = Date.now();

function seededWorkspace(): string {
  const reference = [
    'f0,color',
    ...Array.from({ length: 200 }, (_, index) => `${index % 10},${index % 2 ? 'red' : 'blue'}`),
  ];
  const root = makeWorkspace({
    'runbooks/errors.md': '# Errors\n',
    'data/reference.csv': `${reference.join('\n')}\n`,
    'labels.jsonl': `${Array.from({ length: 40 }, (_, index) => JSON.stringify({ request_id: `r${index}`, label: index % 4 === 0 ? 0 : 1 })).join('\n')}\n`,
    'events.csv': `request_id,outcome,revenue\n${Array.from({ length: 60 }, (_, index) => `r${index},${index % 3 === 0 ? 'purchase' : 'view'},${index % 3 === 0 ? 10 : 0}`).join('\n')}\n`,
    'api.deploy.yaml': yaml`
      name: api
      model: weather@champion
      monitoring:
        reference:
          path: data/reference.csv
        drift:
          window: 100
        performance:
          metric: accuracy
          min: 0.9
        kpis:
          - name: revenue_per_request
            expression: sum(revenue) / count()
        alerts:
          - name: error-rate-high
            when: error_rate > 0.05
            severity: critical
            runbook: runbooks/errors.md
    `,
  });
  const log = PredictionLog.open(root, 'api');
  log.append(
    Array.from({ length: 60 }, (_, index) => ({
      requestId: `r${index}`,
      at: NOW - 120_000 + index * 1000,
      arm: index % 2 === 0 ? ('stable' as const) : ('candidate' as const),
      version: index % 2 === 0 ? 'weather:1' : 'weather:2',
      protocol: 'v2' as const,
      status: index % 10 === 9 ? 500 : 200,
      latencyMs: 10 + index,
      rows: 1,
      // Shifted well past the reference's 0..9 so f0 drifts; colors keep the reference's mix.
      inputs: { f0: [20 + (index % 10)], color: [index % 2 ? 'red' : 'blue'] },
      outputs: { probability: [0.8] },
      error: null,
      fallback: false,
      key: null,
    })),
  );
  log.close();
  return root;
}

describe('cairn monitor (the built CLI)', function () {
  this.timeout(120000);

  before(() => {
    const build = spawnSync('npm', ['run', 'build'], { cwd: repository, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
  });

  it('joins labels and events, then reports traffic, drift, performance and KPIs with the server stopped', () => {
    const root = seededWorkspace();
    let result = cairn(root, 'monitor', 'labels', 'labels.jsonl', '--deployment', 'api');
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'Recorded 40 labels and 0 events for api; 40 request ids match logged predictions.\n');
    result = cairn(root, 'monitor', 'labels', 'events.csv', '--deployment', 'api', '--json');
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { deployment: 'api', labels: 0, events: 60, matched: 60 });

    result = cairn(root, 'monitor', 'report', 'api.deploy.yaml', '--since', '10m', '--bucket', '1m', '--json');
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as MonitorReport;
    assert.equal(report.deployment, 'api');
    assert.equal(report.bucketMs, 60_000);
    assert.equal(report.operational['all']?.length, 10);
    const all = report.operational['all'] ?? [];
    assert.equal(
      all.reduce((sum, point) => sum + point.requests, 0),
      60,
    );
    assert.equal(
      all.reduce((sum, point) => sum + point.errors, 0),
      6,
    );
    assert.deepEqual(Object.keys(report.operational).sort(), ['all', 'weather:1', 'weather:2']);
    // The drift window is the last 100 rows: the 54 answered requests.
    assert.equal(report.drift?.currentRows, 54);
    assert.deepEqual(
      report.drift?.features.map((feature) => [feature.feature, feature.drifted]),
      [
        ['f0', true],
        ['color', false],
      ],
    );
    // 40 labelled requests, of which the failed ones (r9, r19, r29, r39) have no answer to judge.
    const labelled = (report.performance['all'] ?? []).reduce((sum, point) => sum + point.labelled, 0);
    assert.equal(labelled, 36);
    const revenue = report.kpis[0];
    assert.equal(revenue?.name, 'revenue_per_request');
    assert.equal(revenue?.byArm['all'], (20 * 10) / 60);
    assert.equal(revenue?.events['stable'], 30);
    assert.equal(report.status, null, 'never deployed: no status');

    result = cairn(root, 'monitor', 'report', 'api.deploy.yaml', '--since', '10m');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^api: the last 10m/);
    assert.match(result.stdout, /weather:2 +30 +20%/);
    assert.match(result.stdout, /f0 +ks .* DRIFT/);
    assert.match(result.stdout, /revenue_per_request/);
  });

  it('lists alerts and retrains as documents and tables', async () => {
    const root = seededWorkspace();
    const store = Store.open(root);
    const log = PredictionLog.open(root, 'api');
    // A minute after the last request, the alert window holds all 60 of them: 6 failed (0.1 > 0.05).
    const now = NOW - 60_000;
    const outcome = await evaluateMonitoring({ root, spec: readDeployment('api.deploy.yaml', root), log, store, now });
    assert.deepEqual(
      outcome.fired.map((alert) => alert.rule),
      ['error-rate-high'],
    );
    store.db
      .prepare(
        "INSERT INTO retrains (deployment, alert, reason, status, experiment, detail, proposed_at) VALUES ('api', ?, 'alert error-rate-high', 'proposed', 'weather.experiment.yaml', ?, ?)",
      )
      .run(outcome.fired[0]?.id ?? null, JSON.stringify({ message: 'waiting for approval' }), now);
    log.close();
    store.close();

    let result = cairn(root, 'monitor', 'alerts', '--json');
    assert.equal(result.status, 0, result.stderr);
    const alerts = (JSON.parse(result.stdout) as { alerts: AlertRecord[] }).alerts;
    assert.equal(alerts.length, 1);
    assert.deepEqual(alerts[0], { ...outcome.fired[0] });
    result = cairn(root, 'monitor', 'alerts', 'api');
    assert.match(result.stdout, /^ID +DEPLOYMENT +RULE +SEVERITY +STATE/);
    assert.match(result.stdout, /error-rate-high +critical +firing +0\.1 /);

    result = cairn(root, 'monitor', 'retrains', 'api', '--json');
    const retrains = (JSON.parse(result.stdout) as { retrains: RetrainRecord[] }).retrains;
    assert.equal(retrains.length, 1);
    assert.equal(retrains[0]?.status, 'proposed');
    assert.equal(retrains[0]?.message, 'waiting for approval');
    assert.equal(retrains[0]?.alert, outcome.fired[0]?.id);
    assert.match(cairn(root, 'monitor', 'retrains').stdout, /proposed +alert error-rate-high/);
  });

  it('names the file and line of a bad label, and refuses bad usage with exit 2', () => {
    const root = seededWorkspace();
    const files = {
      'bad.jsonl': '{"request_id": "r1", "label": 1}\n\n{"label": 0}\n',
      'broken.jsonl': '{"request_id": \n',
    };
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(root, name), content);
    let result = cairn(root, 'monitor', 'labels', 'bad.jsonl', '--deployment', 'api');
    assert.equal(result.status, 2);
    assert.equal(
      result.stderr,
      "cairn: bad.jsonl:3: 'request_id' is missing; each row needs the request id its label or event is for.\n",
    );
    result = cairn(root, 'monitor', 'labels', 'broken.jsonl', '--deployment', 'api');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /broken.jsonl:1: not valid JSON/);
    result = cairn(root, 'monitor', 'labels', 'labels.jsonl', '--deployment', 'nope');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /No deployment 'nope'/);
    // A file that is not there is bad input, said plainly (not a misused command).
    result = cairn(root, 'monitor', 'labels', 'missing.jsonl', '--deployment', 'api');
    assert.equal(result.status, 2);
    assert.equal(result.stderr, 'cairn: missing.jsonl: cannot read the file (it does not exist).\n');
    for (const command of ['alerts', 'retrains']) {
      result = cairn(root, 'monitor', command, 'nope');
      assert.equal(result.status, 2, command);
      assert.match(result.stderr, /No deployment 'nope' in /, command);
    }
    result = cairn(root, 'monitor', 'report', 'api.deploy.yaml', '--since', 'soon');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--since needs a duration such as 30s/);
    result = cairn(root, 'monitor', 'watch');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Unknown monitor command 'watch'/);
    result = cairn(
      root,
      'monitor',
      'drift',
      '--reference',
      'data/reference.csv',
      '--current',
      'data/reference.csv',
      '--json',
    );
    assert.equal(result.status, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as { datasetDrift: boolean }).datasetDrift, false);
  });
});
