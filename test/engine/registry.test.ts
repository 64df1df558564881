// Registry tests on real temporary workspaces, a real store and real ONNX files built here (Gemm +
// Sigmoid with onnx-proto): the signature, registration and idempotent re-registration, the
// read-only cached copy loading in onnxruntime after the source is gone, atomic alias moves with
// their audit entries, approval, gated registration against the champion, and the built CLI.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { gateFromValue } from '../../server/engine/gates/criteria';
import { registerWithGate } from '../../server/engine/registry/register';
import { Registry, RegistryError } from '../../server/engine/registry/registry';
import { OnnxError, readOnnxSignature } from '../../server/engine/registry/signature';
import { Store } from '../../server/engine/store';
import { writeLogisticModel } from '../helpers/onnx';
import { makeWorkspace, yaml } from '../helpers/workspace';

const repository = path.resolve(__dirname, '../..');

/** A logistic model with the feature names as metadata, as the weather example writes them. */
function writeModel(root: string, relative: string, weights: number[], bias = 0): string {
  return writeLogisticModel(root, relative, weights, bias, { feature_names: '["a","b"]' });
}

function withRegistry<T>(root: string, work: (registry: Registry, store: Store) => T): T {
  const store = Store.open(root);
  try {
    return work(new Registry(store, root), store);
  } finally {
    store.close();
  }
}

async function predict(file: string, features: number[]): Promise<number> {
  const session = await ort.InferenceSession.create(file);
  const result = await session.run({
    features: new ort.Tensor('float32', Float32Array.from(features), [1, features.length]),
  });
  const probability = result['probability'];
  assert.ok(probability);
  return Number(probability.data[0]);
}

describe('registry', () => {
  it('reads the signature of an ONNX file, and names a file that is not one', () => {
    const root = makeWorkspace({ 'notes.txt': 'hello, not a model\n' });
    const file = writeModel(root, 'models/m.onnx', [0.5, -0.25, 1]);
    assert.deepEqual(readOnnxSignature(file), {
      inputs: [{ name: 'features', type: 'float32', shape: ['N', 3] }],
      outputs: [{ name: 'probability', type: 'float32', shape: ['N', 1] }],
      opsets: { 'ai.onnx': 13 },
      irVersion: 8,
      producer: 'cairn-test 1',
      graphName: 'logistic_regression',
      metadata: { feature_names: '["a","b"]' },
    });
    const notes = path.join(root, 'notes.txt');
    assert.throws(
      () => readOnnxSignature(notes),
      (error: unknown) => error instanceof OnnxError && error.message.startsWith(`${notes} is not an ONNX model`),
    );
    assert.throws(
      () => readOnnxSignature(path.join(root, 'missing.onnx')),
      /missing\.onnx: cannot read the model \(ENOENT\)/,
    );
  });

  it('registers a version into the cache read-only, and the same bytes again return that version', async () => {
    const root = makeWorkspace({});
    const file = writeModel(root, 'models/m.onnx', [2, -1], 0.5);
    const first = withRegistry(root, (registry) =>
      registry.register({
        name: 'churn',
        onnxPath: file,
        runId: 'run-1',
        pipeline: 'pipeline.yaml',
        datasets: [{ name: 'customers', version: 3, md5: 'abc' }],
        metrics: { auc: 0.8 },
        description: 'Churn in 30 days',
        tags: { team: 'growth' },
        actor: 'ana',
        now: 1000,
      }),
    );
    assert.equal(first.status, 'created');
    const version = first.version;
    assert.equal(version.version, 1);
    assert.equal(version.size, fs.statSync(file).size);
    assert.equal(version.sourcePath, 'models/m.onnx');
    assert.deepEqual(version.datasets, [{ name: 'customers', version: 3, md5: 'abc' }]);
    assert.deepEqual(version.signature.inputs, [{ name: 'features', type: 'float32', shape: ['N', 2] }]);
    assert.equal(
      version.objectPath,
      path.join(root, '.cairn/cache/files/md5', version.md5.slice(0, 2), version.md5.slice(2)),
    );
    assert.equal(fs.statSync(version.objectPath).mode & 0o222, 0, 'the cached copy is read-only');

    // The workspace file goes away (a new training run, a clean checkout): the version stays usable.
    fs.rmSync(file);
    const expected = 1 / (1 + Math.exp(-(2 * 1 + -1 * 3 + 0.5)));
    assert.ok(Math.abs((await predict(version.objectPath, [1, 3])) - expected) < 1e-6);

    writeModel(root, 'elsewhere/copy.onnx', [2, -1], 0.5);
    const again = withRegistry(root, (registry) =>
      registry.register({ name: 'churn', onnxPath: path.join(root, 'elsewhere/copy.onnx') }),
    );
    assert.equal(again.status, 'existing');
    assert.equal(again.version.version, 1);
    const second = withRegistry(root, (registry) =>
      registry.register({ name: 'churn', onnxPath: writeModel(root, 'models/m.onnx', [2, -1], 0.75) }),
    );
    assert.equal(second.status, 'created');
    assert.equal(second.version.version, 2);
    withRegistry(root, (registry) => {
      assert.deepEqual(
        registry.auditLog('churn').map((entry) => [entry.action, entry.version, entry.to, entry.actor !== '']),
        [
          ['register', 1, 'v1', true],
          ['register', 2, 'v2', true],
        ],
      );
      assert.equal(registry.auditLog('churn')[0]?.actor, 'ana');
      assert.deepEqual(registry.models(), [{ name: 'churn', createdAt: 1000, versions: 2, latest: 2, aliases: {} }]);
    });
  });

  it('moves aliases atomically and audits each move with from and to', () => {
    const root = makeWorkspace({});
    withRegistry(root, (registry, store) => {
      for (const bias of [0, 1, 2]) registry.register({ name: 'm', onnxPath: writeModel(root, 'm.onnx', [1], bias) });
      assert.deepEqual(registry.setAlias('m', 'champion', 1, { reason: 'first one' }), { previous: null });
      assert.deepEqual(registry.setAlias('m', 'champion', 3, { reason: 'better auc', actor: 'bo' }), { previous: 1 });
      assert.deepEqual(registry.setAlias('m', 'champion', 3), { previous: 3 }, 'a move to the same version is a no-op');
      registry.setAlias('m', 'challenger', 2);
      assert.deepEqual(registry.aliases('m'), { challenger: 2, champion: 3 });
      assert.equal(registry.resolve('m@champion').version, 3);
      assert.equal(registry.resolve('m@v2').version, 2);
      assert.equal(registry.resolve('m').version, 3);
      assert.deepEqual(registry.resolve('m@champion').aliases, ['champion']);

      // A move to a version that does not exist changes nothing, not even the audit log.
      const before = registry.auditLog('m').length;
      assert.throws(() => registry.setAlias('m', 'champion', 9), /Model 'm' has no version 9 \(versions: v1, v2, v3\)/);
      assert.equal(registry.aliasVersion('m', 'champion'), 3);
      assert.equal(registry.auditLog('m').length, before);

      // A failure inside the move's transaction (the audit insert) rolls the alias back with it.
      store.db.exec(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON model_audit WHEN NEW.reason = 'boom' BEGIN SELECT RAISE(ABORT, 'audit refused'); END",
      );
      assert.throws(() => registry.setAlias('m', 'champion', 1, { reason: 'boom' }), /audit refused/);
      assert.equal(registry.aliasVersion('m', 'champion'), 3);
      store.db.exec('DROP TRIGGER refuse_audit');

      assert.equal(registry.removeAlias('m', 'challenger'), 2);
      assert.throws(() => registry.setAlias('m', 'v2', 2), /looks like a version number/);
      assert.throws(() => registry.resolve('m@staging'), /Model 'm' has no alias 'staging' \(aliases: champion\)/);
      assert.throws(() => registry.resolve('nope'), RegistryError);
      assert.deepEqual(
        registry
          .auditLog('m')
          .filter((entry) => entry.action !== 'register')
          .map((entry) => [entry.action, entry.version, entry.from, entry.to, entry.reason]),
        [
          ['alias', 1, null, 'champion=v1', 'first one'],
          ['alias', 3, 'champion=v1', 'champion=v3', 'better auc'],
          ['alias', 2, null, 'challenger=v2', null],
          ['unalias', 2, 'challenger=v2', null, null],
        ],
      );
      assert.equal(registry.auditLog('m').find((entry) => entry.reason === 'better auc')?.actor, 'bo');
    });
  });

  it('approves a version once, recording who and when; tags are audited too', () => {
    const root = makeWorkspace({});
    withRegistry(root, (registry) => {
      registry.register({ name: 'm', onnxPath: writeModel(root, 'm.onnx', [1]) });
      assert.equal(registry.version('m', 1)?.approved, false);
      assert.deepEqual(registry.approve('m', 1, { actor: 'lee', reason: 'reviewed', now: 5000 }), {
        alreadyApproved: false,
      });
      assert.deepEqual(registry.approve('m', 1), { alreadyApproved: true });
      const version = registry.version('m', 1);
      assert.equal(version?.approved, true);
      assert.equal(version?.approvedBy, 'lee');
      assert.equal(version?.approvedAt, 5000);
      registry.setTag('m', 1, 'stage', 'prod');
      registry.setTag('m', 1, 'stage', 'archived');
      assert.deepEqual(registry.version('m', 1)?.tags, { stage: 'archived' });
      assert.throws(() => registry.approve('m', 2), /has no version 2/);
      assert.deepEqual(
        registry
          .auditLog('m')
          .slice(1)
          .map((entry) => [entry.action, entry.from, entry.to, entry.reason]),
        [
          ['approve', 'not approved', 'approved', 'reviewed'],
          ['tag', null, 'stage=prod', null],
          ['tag', 'stage=prod', 'stage=archived', null],
        ],
      );
    });
  });

  it('refuses a version whose gate fails, registers it when forced with the failure audited, and judges against the champion', () => {
    const root = makeWorkspace({});
    const { gate } = gateFromValue({
      acceptance: ['auc >= 0.75', { metric: 'auc', improvement: { min_absolute: 0.02 }, relative_to: 'champion' }],
    });
    withRegistry(root, (registry) => {
      const first = registerWithGate(registry, {
        name: 'm',
        onnxPath: writeModel(root, 'a.onnx', [1]),
        metrics: { auc: 0.8 },
        gate,
      });
      assert.equal(first.status, 'created');
      registry.setAlias('m', 'champion', 1);

      // Better than the threshold but not enough better than the champion.
      const refused = registerWithGate(registry, {
        name: 'm',
        onnxPath: writeModel(root, 'b.onnx', [2]),
        metrics: { auc: 0.81 },
        gate,
      });
      assert.equal(refused.status, 'refused');
      assert.deepEqual(
        refused.report?.criteria.map((result) => result.passed),
        [true, false],
      );
      assert.equal(registry.versions('m').length, 1, 'nothing registered');

      const accepted = registerWithGate(registry, {
        name: 'm',
        onnxPath: writeModel(root, 'c.onnx', [3]),
        metrics: { auc: 0.83 },
        gate,
      });
      assert.equal(accepted.status, 'created');
      assert.equal(accepted.status === 'created' && accepted.version.gateReport?.passed, true);

      const forced = registerWithGate(registry, {
        name: 'm',
        onnxPath: writeModel(root, 'b.onnx', [2]),
        metrics: { auc: 0.6 },
        gate,
        force: true,
        reason: 'needed for a demo',
      });
      assert.equal(forced.status, 'created');
      assert.equal(forced.status === 'created' && forced.forced, true);
      assert.equal(registry.version('m', 3)?.gateReport?.passed, false);
      assert.match(
        registry.auditLog('m').at(-1)?.reason ?? '',
        /^registered with --force past a failing gate: 2 of 2 criteria failed: .* needed for a demo$/,
      );
      assert.throws(
        () => registerWithGate(registry, { name: 'm', onnxPath: path.join(root, 'a.onnx.txt'), force: true }),
        OnnxError,
      );
    });
  });
});

describe('cairn models (the built CLI)', function () {
  this.timeout(120000);
  const cli = path.join(repository, 'dist/cli/cairn.js');

  before(() => {
    const build = spawnSync('npm', ['run', 'build'], { cwd: repository, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
  });

  function cairn(root: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync(process.execPath, [cli, ...args, '--workspace', root], { cwd: root, encoding: 'utf8' });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  it('registers behind the declared gate, refuses a failing or biased model, aliases, approves and shows the audit', async () => {
    const root = makeWorkspace({
      'pipeline.yaml': yaml`
        stages:
          train: { cmd: node train.mjs, outs: [models/churn.onnx] }
        models:
          churn:
            artifact: models/churn.onnx
            description: Churn in 30 days
            tags: { team: growth }
            gate:
              split: holdout
              acceptance:
                - auc >= 0.75
                - { metric: auc, improvement: { min_absolute: 0.01 }, relative_to: champion }
              slices:
                - { column: region, metric: recall, max_gap: 0.1 }
      `,
      'metrics/good.json': JSON.stringify({
        holdout: { auc: 0.8, slices: { region: { north: { recall: 0.7 }, south: { recall: 0.66 } } } },
      }),
      'metrics/biased.json': JSON.stringify({
        holdout: { auc: 0.9, slices: { region: { north: { recall: 0.9 }, south: { recall: 0.4 } } } },
      }),
      'metrics/broken.json': '{\n  "auc": 0.8,\n}\n',
      'notes.onnx': 'not a model',
    });
    const model = writeModel(root, 'models/churn.onnx', [1, 2]);

    let result = cairn(root, 'models', 'list');
    assert.equal(result.status, 0);
    assert.match(result.stdout, /No models registered yet/);

    result = cairn(root, 'models', 'register', 'churn', model);
    assert.equal(result.status, 2);
    assert.match(
      result.stderr,
      /model 'churn' has a gate \(pipeline\.yaml:4\); give the evaluation metrics with --metrics/,
    );

    result = cairn(root, 'models', 'register', 'churn', model, '--metrics', 'metrics/broken.json');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /metrics\/broken\.json:3: not valid JSON/);

    result = cairn(root, 'models', 'register', 'churn', 'notes.onnx', '--metrics', 'metrics/good.json');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /notes\.onnx is not an ONNX model/);

    result = cairn(root, 'models', 'register', 'churn', model, '--metrics', 'metrics/good.json', '--tag', 'owner=ana');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /Gate for churn \(split holdout\): PASSED/);
    assert.match(result.stdout, /Registered churn v1 \(md5 [0-9a-f]{32}, \d+ bytes\)/);
    assert.match(result.stdout, /inputs: {2}features float32 \[N, 2\]/);

    result = cairn(root, 'models', 'register', 'churn', model, '--metrics', 'metrics/good.json');
    assert.equal(result.status, 0);
    assert.match(result.stdout, /churn v1 already holds this content/);

    result = cairn(root, 'models', 'alias', 'churn', 'champion', '1', '--reason', 'first release');
    assert.equal(result.status, 0);
    assert.equal(result.stdout, 'churn@champion now points at v1.\n');

    // A better AUC overall, but recall in the south far below the north: the slice check refuses it.
    const candidate = writeModel(root, 'models/churn.onnx', [1, 3]);
    result = cairn(root, 'models', 'register', 'churn', candidate, '--metrics', 'metrics/biased.json');
    assert.equal(result.status, 1);
    assert.match(result.stdout, /Gate for churn \(split holdout\): FAILED/);
    assert.match(result.stdout, /pass {2}auc at least 0\.01 higher than champion/);
    assert.match(
      result.stdout,
      /FAIL {2}recall gap across region <= 0\.1\n.*a gap of 0\.5, more than the 0\.1 allowed/,
    );
    assert.match(result.stderr, /churn not registered: the gate failed/);

    result = cairn(root, 'models', 'register', 'churn', candidate, '--metrics', 'metrics/biased.json', '--force');
    assert.equal(result.status, 0);
    assert.match(result.stdout, /Registered churn v2 .* despite the failing gate/);

    result = cairn(root, 'models', 'approve', 'churn', '1', '--reason', 'reviewed');
    assert.equal(result.status, 0);
    assert.equal(result.stdout, 'churn v1 approved.\n');

    result = cairn(root, 'models', 'alias', 'churn', 'champion', '7');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Model 'churn' has no version 7 \(versions: v1, v2\)/);

    result = cairn(root, 'models', 'list');
    assert.equal(result.stdout, 'MODEL  VERSIONS  LATEST  ALIASES\nchurn  2         v2      champion=v1\n');

    result = cairn(root, 'models', 'show', 'churn@champion');
    assert.equal(result.status, 0);
    assert.match(result.stdout, /^churn v1 \(champion\)\n/);
    assert.match(result.stdout, /description {2}Churn in 30 days/);
    assert.match(result.stdout, /tags {9}team=growth owner=ana/);
    assert.match(result.stdout, /inputs\n {4}features float32 \[N, 2\]\n {2}outputs\n {4}probability float32 \[N, 1\]/);
    assert.match(result.stdout, /Gate \(split holdout\): PASSED/);
    assert.match(result.stdout, /approve {3}v1 {2}not approved -> approved/);

    result = cairn(root, 'models', 'show', 'churn@v2', '--json');
    const shown = JSON.parse(result.stdout) as {
      version: { version: number; objectPath: string; gateReport: { passed: boolean } };
      aliases: Record<string, number>;
      audit: { action: string; reason: string }[];
    };
    assert.equal(shown.version.version, 2);
    assert.equal(shown.version.gateReport.passed, false);
    assert.deepEqual(shown.aliases, { champion: 1 });
    assert.match(shown.audit[0]?.reason ?? '', /registered with --force past a failing gate/);
    // The registered copy is a working model for onnxruntime.
    assert.ok((await predict(shown.version.objectPath, [0, 0])) > 0.49);

    result = cairn(root, 'models', 'audit', 'churn', '--json');
    const audit = JSON.parse(result.stdout) as { audit: { action: string; from: string | null; to: string | null }[] };
    assert.deepEqual(
      audit.audit.map((entry) => [entry.action, entry.from, entry.to]),
      [
        ['register', null, 'v1'],
        ['alias', null, 'champion=v1'],
        ['register', null, 'v2'],
        ['approve', 'not approved', 'approved'],
      ],
    );

    writeModel(root, 'models/churn.onnx', [5, 5]);
    result = cairn(root, 'models', 'register', 'churn', 'models/churn.onnx', '--force', '--reason', 'hotfix');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /Registered churn v3/);
    result = cairn(root, 'models', 'audit', 'churn');
    assert.match(
      result.stdout,
      /register {2}v3 {2}- -> v3 .*registered with --force without judging the gate \(no --metrics\): hotfix\n$/,
    );

    result = cairn(root, 'models', 'show', 'nope');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /No model 'nope' in the registry \(registered: churn\)/);
    result = cairn(root, 'models', 'frobnicate');
    assert.equal(result.status, 2);
  });
});
