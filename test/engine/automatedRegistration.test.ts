// Automated registration at the end of a run, on real temporary workspaces with real stage processes:
// a pipeline's `models` section registers its artifact when the gate passes on the run's metrics,
// refuses it (keeping the report with the tracked run) when a threshold or a slice check fails, and
// does not judge an unchanged artifact again.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { readDatasets } from '../../server/engine/data/spec';
import { importDataset } from '../../server/engine/data/versions';
import { gateReportsOfRun } from '../../server/engine/gates/reports';
import { Registry } from '../../server/engine/registry/registry';
import { runPipeline } from '../../server/engine/runner';
import { Store } from '../../server/engine/store';
import { runDetail } from '../../server/engine/tracking/read';
import { writeLogisticModel } from '../helpers/onnx';
import { makeWorkspace, yaml } from '../helpers/workspace';

const PIPELINE = yaml`
  stages:
    train:
      cmd: sh train.sh \${train.candidate}
      deps: [candidates, train.sh]
      params: [train.candidate]
      outs: [models/churn.onnx]
      metrics:
        - metrics/train.json:
            cache: false
    evaluate:
      cmd: cp evaluations/\${train.candidate}.json metrics/evaluate.json
      deps: [models/churn.onnx, evaluations]
      params: [train.candidate]
      metrics:
        - metrics/evaluate.json:
            cache: false
  models:
    churn:
      artifact: models/churn.onnx
      stage: train
      description: Churn in 30 days
      tags: { team: growth }
      gate:
        split: holdout
        acceptance:
          - auc >= 0.75
        slices:
          - { column: region, metric: recall, max_gap: 0.1 }
`;

function evaluation(auc: number, north: number, south: number): string {
  return JSON.stringify({
    holdout: { auc, slices: { region: { north: { recall: north }, south: { recall: south } } } },
  });
}

function churnWorkspace(): string {
  const root = makeWorkspace({
    'pipeline.yaml': PIPELINE,
    'train.sh':
      'mkdir -p models metrics\ncp "candidates/$1.onnx" models/churn.onnx\necho \'{"holdout": {"rows": 400}, "loss": 0.3}\' > metrics/train.json\n',
    'params.yaml': 'train:\n  candidate: good\n',
    'evaluations/good.json': evaluation(0.82, 0.7, 0.66),
    'evaluations/weak.json': evaluation(0.7, 0.7, 0.66),
    'evaluations/biased.json': evaluation(0.9, 0.9, 0.4),
  });
  writeLogisticModel(root, 'candidates/good.onnx', [1, 2]);
  writeLogisticModel(root, 'candidates/weak.onnx', [1, 1]);
  writeLogisticModel(root, 'candidates/biased.onnx', [3, -2]);
  return root;
}

function setCandidate(root: string, candidate: string): void {
  fs.writeFileSync(path.join(root, 'params.yaml'), `train:\n  candidate: ${candidate}\n`);
}

async function run(root: string): Promise<string> {
  const result = await runPipeline({ root });
  assert.equal(result.status, 'succeeded');
  assert.ok(result.trackedRunId, 'the run is tracked');
  return result.trackedRunId;
}

function inStore<T>(root: string, read: (store: Store) => T): T {
  const store = Store.open(root);
  try {
    return read(store);
  } finally {
    store.close();
  }
}

describe('automated registration at the end of a run', function () {
  this.timeout(60000);

  it('registers the declared model with the tracked run when the gate passes, and only once', async () => {
    const root = churnWorkspace();
    const runId = await run(root);
    inStore(root, (store) => {
      const registry = new Registry(store, root);
      const version = registry.resolve('churn');
      assert.equal(version.version, 1);
      assert.equal(version.runId, runId);
      assert.equal(version.pipeline, 'pipeline.yaml');
      assert.equal(version.sourcePath, 'models/churn.onnx');
      assert.equal(version.description, 'Churn in 30 days');
      assert.deepEqual(version.tags, { team: 'growth' });
      // The training and evaluation metrics files merge as nested objects under the split.
      assert.deepEqual(version.metrics?.['holdout'], {
        rows: 400,
        auc: 0.82,
        slices: { region: { north: { recall: 0.7 }, south: { recall: 0.66 } } },
      });
      assert.equal(version.gateReport?.passed, true);
      const reports = gateReportsOfRun(store, runId);
      assert.equal(reports.length, 1);
      assert.equal(reports[0]?.passed, true);
      assert.equal(reports[0]?.version, 1);
      assert.equal(reports[0]?.md5, version.md5);
      const tags = runDetail(store.db, runId)?.tags ?? {};
      assert.equal(tags['cairn.gate.churn'], 'passed');
      assert.equal(tags['cairn.model.churn'], 'v1');
      assert.match(registry.auditLog('churn')[0]?.reason ?? '', new RegExp(`registered by run ${runId}`));
    });

    // Nothing changed: every stage is skipped and the artifact is not judged again.
    const second = await run(root);
    inStore(root, (store) => {
      assert.deepEqual(gateReportsOfRun(store, second), []);
      assert.equal(new Registry(store, root).auditLog('churn').length, 1);
    });
  });

  it('refuses a model below a threshold and keeps the reason with the run', async () => {
    const root = churnWorkspace();
    setCandidate(root, 'weak');
    const runId = await run(root);
    inStore(root, (store) => {
      assert.equal(new Registry(store, root).hasModel('churn'), false);
      const [report] = gateReportsOfRun(store, runId);
      assert.equal(report?.passed, false);
      assert.equal(report?.version, null);
      const failed = report?.report.criteria.filter((criterion) => !criterion.passed) ?? [];
      assert.deepEqual(
        failed.map((criterion) => criterion.criterion),
        ['auc >= 0.75'],
      );
      assert.match(failed[0]?.reason ?? '', /auc is 0\.7, 0\.05 below the threshold 0\.75/);
      assert.equal(runDetail(store.db, runId)?.tags['cairn.gate.churn'], 'failed');
    });
    // The refused artifact is not judged again while it stays the same.
    const again = await run(root);
    inStore(root, (store) => assert.deepEqual(gateReportsOfRun(store, again), []));
  });

  it('judges the artifact again when the evaluation runs after it, so a partial run does not hide it', async () => {
    const root = churnWorkspace();
    const partial = await runPipeline({ root, targets: ['train'] });
    assert.equal(partial.status, 'succeeded');
    inStore(root, (store) => {
      assert.equal(new Registry(store, root).hasModel('churn'), false);
      const [report] = gateReportsOfRun(store, partial.trackedRunId ?? '');
      assert.match(report?.report.summary ?? '', /auc >= 0\.75/);
    });
    // train is up to date; evaluate runs and writes the metrics, and the same artifact passes.
    const full = await run(root);
    inStore(root, (store) => {
      assert.equal(new Registry(store, root).resolve('churn').runId, full);
      assert.equal(gateReportsOfRun(store, full)[0]?.passed, true);
    });
  });

  it('blocks a biased model caught by the slice check, though its AUC is higher', async () => {
    const root = churnWorkspace();
    await run(root);
    setCandidate(root, 'biased');
    const runId = await run(root);
    inStore(root, (store) => {
      const registry = new Registry(store, root);
      assert.deepEqual(
        registry.versions('churn').map((version) => version.version),
        [1],
      );
      const [report] = gateReportsOfRun(store, runId);
      assert.equal(report?.passed, false);
      const gap = report?.report.criteria.find((criterion) => criterion.kind === 'slice-gap');
      assert.equal(gap?.passed, false);
      assert.match(gap?.reason ?? '', /a gap of 0\.5, more than the 0\.1 allowed: the model serves region=south worse/);
      assert.equal(report?.report.criteria.find((criterion) => criterion.kind === 'threshold')?.passed, true);
    });
  });

  it('records the dataset versions the run read, with digests, on the tracked run and the registered version', async () => {
    const root = churnWorkspace();
    const pipeline = fs.readFileSync(path.join(root, 'pipeline.yaml'), 'utf8');
    fs.writeFileSync(
      path.join(root, 'pipeline.yaml'),
      `datasets:\n  customers:\n    source:\n      type: csv\n      path: data/customers.csv\n${pipeline.replace(
        'deps: [candidates, train.sh]',
        'deps: [candidates, train.sh, data/customers.csv]',
      )}`,
    );
    const csv = 'id,region\n1,north\n2,south\n';
    fs.mkdirSync(path.join(root, 'data'));
    fs.writeFileSync(path.join(root, 'data/customers.csv'), csv);
    const customers = readDatasets(root).datasets.find((dataset) => dataset.name === 'customers');
    assert.ok(customers);
    const store = Store.open(root);
    try {
      assert.equal((await importDataset(store, root, customers, Date.now())).status, 'created');
    } finally {
      store.close();
    }
    const md5 = createHash('md5').update(csv).digest('hex');

    const runId = await run(root);
    inStore(root, (store) => {
      assert.deepEqual(runDetail(store.db, runId)?.datasets, [{ name: 'customers', version: '1', digest: md5 }]);
      assert.deepEqual(new Registry(store, root).resolve('churn').datasets, [
        { name: 'customers', version: '1', digest: md5 },
      ]);
    });

    // Changed data that no import recorded: the run says so, with the digest of what it read.
    const changed = `${csv}3,north\n`;
    fs.writeFileSync(path.join(root, 'data/customers.csv'), changed);
    const second = await run(root);
    inStore(root, (store) =>
      assert.deepEqual(runDetail(store.db, second)?.datasets, [
        { name: 'customers', version: 'unrecorded', digest: createHash('md5').update(changed).digest('hex') },
      ]),
    );
  });
});
