// `cairn models unalias` and `cairn models tag` through the built CLI on a real workspace: the change,
// its audit entry (who, from, to, why), --json, and a clear error for what does not exist.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeLogisticModel } from '../helpers/onnx';
import { makeWorkspace } from '../helpers/workspace';
import { Store } from '../../server/engine/store';
import { Tracker } from '../../server/engine/tracking/tracker';

const repository = path.resolve(__dirname, '../..');
const cli = path.join(repository, 'dist/cli/cairn.js');

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cairn(root: string, ...args: string[]): Result {
  const result = spawnSync(process.execPath, [cli, ...args, '--workspace', root], { cwd: root, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface AuditJson {
  audit: { action: string; version: number | null; from: string | null; to: string | null; reason: string | null }[];
}

describe('cairn models unalias and tag (the built CLI)', function () {
  this.timeout(60000);

  before(() => {
    const build = spawnSync('npm', ['run', 'build'], { cwd: repository, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
  });

  function registeredWorkspace(): string {
    const root = makeWorkspace({});
    writeLogisticModel(root, 'models/a.onnx', [1, 2]);
    writeLogisticModel(root, 'models/b.onnx', [2, 1]);
    assert.equal(cairn(root, 'models', 'register', 'churn', 'models/a.onnx').status, 0);
    assert.equal(cairn(root, 'models', 'register', 'churn', 'models/b.onnx').status, 0);
    assert.equal(cairn(root, 'models', 'alias', 'churn', 'champion', '2').status, 0);
    return root;
  }

  it('removes an alias with its reason in the audit log, and says when there is none', () => {
    const root = registeredWorkspace();
    let result = cairn(root, 'models', 'unalias', 'churn', 'champion', '--reason', 'rolled back');
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'churn@champion removed (it pointed at v2).\n');
    assert.deepEqual(JSON.parse(cairn(root, 'models', 'list', '--json').stdout).models[0].aliases, {});
    const audit = (JSON.parse(cairn(root, 'models', 'audit', 'churn', '--json').stdout) as AuditJson).audit;
    assert.deepEqual(audit.at(-1), {
      ...audit.at(-1),
      action: 'unalias',
      version: 2,
      from: 'champion=v2',
      to: null,
      reason: 'rolled back',
    });

    result = cairn(root, 'models', 'unalias', 'churn', 'champion');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Model 'churn' has no alias 'champion'/);

    assert.equal(cairn(root, 'models', 'alias', 'churn', 'challenger', '1').status, 0);
    result = cairn(root, 'models', 'unalias', 'churn', 'challenger', '--json');
    assert.deepEqual(JSON.parse(result.stdout), { model: 'churn', alias: 'challenger', version: 1 });
  });

  it('sets and removes tags of a version, each change audited', () => {
    const root = registeredWorkspace();
    let result = cairn(root, 'models', 'tag', 'churn', '1', 'owner=ana', 'stage=staging', '--reason', 'handover');
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'churn v1 tags: owner=ana stage=staging\n');

    result = cairn(root, 'models', 'tag', 'churn', 'v1', 'stage=production', '--remove', 'owner', '--json');
    assert.deepEqual(JSON.parse(result.stdout), { model: 'churn', version: 1, tags: { stage: 'production' } });
    assert.deepEqual(JSON.parse(cairn(root, 'models', 'show', 'churn@1', '--json').stdout).version.tags, {
      stage: 'production',
    });
    // Version 2 is untouched.
    assert.deepEqual(JSON.parse(cairn(root, 'models', 'show', 'churn@2', '--json').stdout).version.tags, {});

    const tagEntries = (JSON.parse(cairn(root, 'models', 'audit', 'churn', '--json').stdout) as AuditJson).audit
      .filter((entry) => entry.action === 'tag')
      .map(({ version, from, to, reason }) => ({ version, from, to, reason }));
    assert.deepEqual(tagEntries, [
      { version: 1, from: null, to: 'owner=ana', reason: 'handover' },
      { version: 1, from: null, to: 'stage=staging', reason: 'handover' },
      { version: 1, from: 'owner=ana', to: null, reason: null },
      { version: 1, from: 'stage=staging', to: 'stage=production', reason: null },
    ]);

    result = cairn(root, 'models', 'tag', 'churn', '1', '--remove', 'owner');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /churn v1 has no tag 'owner' \(tags: stage\)/);
    result = cairn(root, 'models', 'tag', 'churn', '7', 'a=b');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Model 'churn' has no version 7 \(versions: v1, v2\)/);
    result = cairn(root, 'models', 'tag', 'churn', '1', 'novalue');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /A tag is KEY=VALUE, got 'novalue'/);
  });

  it('writes the registry snapshot the editor reads, also for a registry that had none', () => {
    const root = registeredWorkspace();
    const snapshot = path.join(root, '.cairn/models.json');
    const expected = { models: [{ name: 'churn', versions: [1, 2], aliases: { champion: 2 } }] };
    assert.deepEqual(JSON.parse(fs.readFileSync(snapshot, 'utf8')), expected);
    fs.rmSync(snapshot);
    assert.equal(cairn(root, 'models', 'list').status, 0);
    assert.deepEqual(JSON.parse(fs.readFileSync(snapshot, 'utf8')), expected);
  });

  it('registers from a tracked run: the run is recorded and its metrics judge the gate', () => {
    const root = makeWorkspace({
      'pipeline.yaml': [
        'stages:',
        '  train:',
        '    cmd: echo trained',
        'models:',
        '  churn:',
        '    artifact: models/a.onnx',
        '    gate:',
        '      split: holdout',
        '      acceptance:',
        '        - auc >= 0.75',
        '',
      ].join('\n'),
    });
    writeLogisticModel(root, 'models/a.onnx', [1, 2]);
    writeLogisticModel(root, 'models/b.onnx', [2, 1]);
    const store = Store.open(root);
    let good: string;
    let poor: string;
    try {
      const tracker = Tracker.open(store);
      const md5 = (file: string): string =>
        createHash('md5')
          .update(fs.readFileSync(path.join(root, file)))
          .digest('hex');
      good = tracker.startRun({ experiment: 'churn', name: 'good' });
      tracker.logMetrics(good, [{ key: 'holdout.auc', value: 0.81, step: 0, timestamp: 1 }]);
      tracker.logArtifact(good, { path: 'models/a.onnx', md5: md5('models/a.onnx'), size: 1 });
      poor = tracker.startRun({ experiment: 'churn', name: 'poor' });
      tracker.logMetrics(poor, [{ key: 'holdout.auc', value: 0.62, step: 0, timestamp: 1 }]);
      tracker.logArtifact(poor, { path: 'models/b.onnx', md5: md5('models/b.onnx'), size: 1 });
    } finally {
      store.close();
    }
    const refused = cairn(root, 'models', 'register', 'churn', 'models/b.onnx', '--run', 'poor', '--json');
    assert.equal(refused.status, 1, refused.stderr);
    assert.equal(JSON.parse(refused.stdout).status, 'refused');
    const registered = cairn(root, 'models', 'register', 'churn', 'models/a.onnx', '--run', 'good', '--json');
    assert.equal(registered.status, 0, registered.stderr);
    const version = JSON.parse(cairn(root, 'models', 'show', 'churn@1', '--json').stdout) as {
      version: { runId: string; gateReport: { passed: boolean } };
    };
    assert.equal(version.version.runId, good);
    assert.equal(version.version.gateReport.passed, true);
    // The verdicts are kept with the runs.
    const shown = JSON.parse(cairn(root, 'exp', 'show', 'good', '--json').stdout) as {
      gates: { model: string; passed: boolean; version: number | null }[];
    };
    assert.deepEqual(
      shown.gates.map(({ model, passed, version }) => ({ model, passed, version })),
      [{ model: 'churn', passed: true, version: 1 }],
    );
    // Another run's metrics cannot vouch for a model that run did not produce.
    const borrowed = cairn(root, 'models', 'register', 'churn', 'models/b.onnx', '--run', 'good');
    assert.equal(borrowed.status, 2);
    assert.match(borrowed.stderr, /not an artifact of run/);
    const missing = cairn(root, 'models', 'register', 'churn', 'models/a.onnx', '--run', 'nope');
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /nope/);
  });
});
