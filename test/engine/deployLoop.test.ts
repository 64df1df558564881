// The retrain loop with real processes: an alert named in monitoring.retrain.on fires while the
// server serves, a retrain is proposed and waits for approval; `cairn deploy retrain approve` lets
// the server run the experiment (`cairn exp run`, a real pipeline stage), whose model is registered
// as @challenger, and the deployment rolls that version out as a canary. Every step is an event.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeploymentStatus, RetrainRecord } from '../../server/shared/deployments';
import { Registry } from '../../server/engine/registry/registry';
import { Store } from '../../server/engine/store';
import { writeLogisticModel } from '../helpers/onnx';
import { makeWorkspace } from '../helpers/workspace';
import { cairn, cairnAsync, freePort, waitFor } from '../helpers/deployCli';

const repository = path.resolve(__dirname, '../..');

function statusOf(root: string): DeploymentStatus {
  const result = cairn(root, 'deploy', 'status', 'rain', '--json');
  assert.equal(result.status, 0, result.stderr);
  const found = (JSON.parse(result.stdout) as { deployments: DeploymentStatus[] }).deployments[0];
  assert.ok(found);
  return found;
}

function retrains(root: string): RetrainRecord[] {
  const store = Store.open(root);
  try {
    return (
      store.db.prepare("SELECT id, status, reason, model, version FROM retrains WHERE deployment = 'rain'").all() as {
        id: number;
        status: RetrainRecord['status'];
        reason: string;
        model: string | null;
        version: number | null;
      }[]
    ).map((row) => ({ ...row }) as unknown as RetrainRecord);
  } finally {
    store.close();
  }
}

const TRAIN = `import * as fs from 'node:fs';
fs.mkdirSync('out', { recursive: true });
fs.copyFileSync('assets/retrained.onnx', 'out/model.onnx');
fs.writeFileSync('out/metrics.json', JSON.stringify({ auc: 0.8 }));
`;

const PIPELINE = `stages:
  train:
    cmd: node train.mjs
    deps: [train.mjs, assets/retrained.onnx]
    outs: [out/model.onnx]
    metrics:
      - out/metrics.json:
          cache: false
`;

describe('the retrain loop (real server and experiment processes)', function () {
  this.timeout(180_000);
  let pid: number | null = null;

  before(() => {
    const build = spawnSync('npm', ['run', 'build'], { cwd: repository, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
  });

  after(() => {
    if (pid !== null) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already stopped.
      }
    }
  });

  it('proposes a retrain on an alert, runs it once approved and rolls the new model out as a canary', async () => {
    const port = await freePort();
    const root = makeWorkspace({
      'train.mjs': TRAIN,
      'pipeline.yaml': PIPELINE,
      'retrain.experiment.yaml':
        'name: retrain\npipeline: pipeline.yaml\nregister: { model: rain, artifact: out/model.onnx, alias: challenger }\n',
      'runbooks/traffic.md': '# Traffic\nRetrain when asked.\n',
      'rain.deploy.yaml': [
        'model: rain@champion',
        `server: { port: ${port} }`,
        'rollout:',
        '  strategy: canary',
        '  candidate: rain@challenger',
        '  steps:',
        '    - { weight: 50, pause: 1h }',
        'monitoring:',
        '  interval: 300ms',
        '  alerts:',
        '    - { name: traffic-seen, when: "throughput > 0", runbook: runbooks/traffic.md }',
        '  retrain: { experiment: retrain.experiment.yaml, on: [traffic-seen], approval: required }',
        '',
      ].join('\n'),
    });
    writeLogisticModel(root, 'assets/retrained.onnx', [0.3, 0.3, 0.3], 0.2);
    const store = Store.open(root);
    try {
      const registry = new Registry(store, root);
      registry.register({ name: 'rain', onnxPath: writeLogisticModel(root, 'models/v1.onnx', [0.5, -0.25, 0.1]) });
      registry.setAlias('rain', 'champion', 1);
      registry.setAlias('rain', 'challenger', 1);
    } finally {
      store.close();
    }

    const deployed = await cairnAsync(root, 'deploy', 'rain.deploy.yaml', '--json');
    assert.equal(deployed.status, 0, deployed.stderr);
    const status = JSON.parse(deployed.stdout) as DeploymentStatus;
    pid = status.pid;
    assert.equal(status.candidate, null, 'the challenger is the champion: nothing to roll out yet');
    const response = await fetch(`${status.url ?? ''}/v2/models/rain/infer`, {
      method: 'POST',
      body: JSON.stringify({ inputs: [{ name: 'features', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }),
    });
    assert.equal(response.status, 200);

    const proposed = await waitFor('a proposed retrain', () => retrains(root).find((row) => row.status === 'proposed'));
    assert.match(proposed.reason, /alert traffic-seen fired/);
    // It waits for a person: nothing runs before the approval.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(retrains(root)[0]?.status, 'proposed');
    assert.equal(retrains(root).length, 1, 'an alert that keeps firing proposes no second retrain');

    const approved = cairn(root, 'deploy', 'retrain', 'approve', String(proposed.id), '--json');
    assert.equal(approved.status, 0, approved.stderr);
    assert.equal((JSON.parse(approved.stdout) as RetrainRecord).status, 'approved');

    const rolledOut = await waitFor('the retrain to roll out', () => {
      const row = retrains(root)[0];
      if (row?.status === 'failed' || row?.status === 'gated-out') throw new Error(`retrain ${row.status}`);
      return row?.status === 'rolled-out' ? row : null;
    });
    assert.equal(rolledOut.model, 'rain');
    assert.equal(rolledOut.version, 2);
    const canary = await waitFor('the canary of the retrained model', () => {
      const current = statusOf(root);
      return current.candidate?.version === 2 && current.rollout.phase === 'progressing' ? current : null;
    });
    assert.deepEqual(canary.traffic, { stable: 50, candidate: 50, mirror: 0 });
    const retrainEvents = canary.events.filter((event) => event.kind === 'retrain').map((event) => event.message);
    assert.ok(
      retrainEvents.some((message) => /proposed, waiting for approval/.test(message)),
      retrainEvents.join('\n'),
    );
    assert.ok(retrainEvents.some((message) => /approved by/.test(message)));
    assert.ok(retrainEvents.some((message) => /started: cairn exp run retrain\.experiment\.yaml/.test(message)));
    assert.ok(retrainEvents.some((message) => /registered rain:2 as @challenger; rolled out as canary/.test(message)));
    assert.ok(canary.events.some((event) => event.kind === 'alert'));

    const stopped = cairn(root, 'deploy', 'stop', 'rain');
    assert.equal(stopped.status, 0, stopped.stderr);
    pid = null;
    fs.rmSync(root, { recursive: true, force: true });
  });
  it('retrains by itself when new data arrives (automatic approval) and rolls the result out', async () => {
    const port = await freePort();
    const root = makeWorkspace({
      'train.mjs': TRAIN,
      'pipeline.yaml': PIPELINE,
      'retrain.experiment.yaml':
        'name: retrain\npipeline: pipeline.yaml\nregister: { model: rain, artifact: out/model.onnx, alias: challenger }\n',
      'data/day-1.csv': 'a,b\n1,2\n',
      'rain.deploy.yaml': [
        'model: rain@champion',
        `server: { port: ${port} }`,
        'rollout:',
        '  strategy: shadow',
        '  candidate: rain@challenger',
        'monitoring:',
        '  interval: 300ms',
        '  retrain: { experiment: retrain.experiment.yaml, data: [data], approval: automatic }',
        '',
      ].join('\n'),
    });
    writeLogisticModel(root, 'assets/retrained.onnx', [0.2, 0.1, 0.3], 0.1);
    const store = Store.open(root);
    try {
      const registry = new Registry(store, root);
      registry.register({ name: 'rain', onnxPath: writeLogisticModel(root, 'models/v1.onnx', [0.5, -0.25, 0.1]) });
      registry.setAlias('rain', 'champion', 1);
      registry.setAlias('rain', 'challenger', 1);
    } finally {
      store.close();
    }
    const deployed = await cairnAsync(root, 'deploy', 'rain.deploy.yaml', '--json');
    assert.equal(deployed.status, 0, deployed.stderr);
    pid = (JSON.parse(deployed.stdout) as DeploymentStatus).pid;
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.deepEqual(retrains(root), [], 'no retrain before new data');
    fs.writeFileSync(path.join(root, 'data/day-2.csv'), 'a,b\n3,4\n');
    const done = await waitFor('the retrain', () => {
      const row = retrains(root)[0];
      if (row?.status === 'failed' || row?.status === 'gated-out') throw new Error(`retrain ${row.status}`);
      return row?.status === 'rolled-out' ? row : null;
    });
    assert.match(done.reason, /new data in data/);
    const shadow = await waitFor('the shadow rollout', () => {
      const current = statusOf(root);
      return current.candidate?.version === 2 && current.rollout.phase === 'progressing' ? current : null;
    });
    assert.deepEqual(shadow.traffic, { stable: 100, candidate: 0, mirror: 100 });
    assert.ok(shadow.events.some((event) => /approved automatically: new data in data/.test(event.message)));
    assert.equal(cairn(root, 'deploy', 'stop', 'rain').status, 0);
    pid = null;
    fs.rmSync(root, { recursive: true, force: true });
  });
});
