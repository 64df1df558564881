// `cairn models reproduce` through the built CLI on real workspaces with real stage processes: a
// deterministic pipeline reproduces its registered version from the recorded params even after the
// workspace's params moved on (and says which data differ); a stage with randomness does not, and
// the artifact and metric that differ are named.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Reproduction } from '../../server/engine/registry/reproduce';
import { writeLogisticModel } from '../helpers/onnx';
import { makeWorkspace, yaml } from '../helpers/workspace';

const repository = path.resolve(__dirname, '../..');
const cli = path.join(repository, 'dist/cli/cairn.js');

function cairn(root: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args, '--workspace', root], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const MODELS = `
models:
  churn:
    artifact: models/churn.onnx
    stage: train
    gate:
      split: holdout
      acceptance:
        - auc >= 0.75
`;

describe('cairn models reproduce (the built CLI)', function () {
  this.timeout(120000);

  before(() => {
    const build = spawnSync('npm', ['run', 'build'], { cwd: repository, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
  });

  it('reproduces a version from its recorded params, in a working copy, and names data that changed', () => {
    const root = makeWorkspace({
      'pipeline.yaml': `${yaml`
        datasets:
          customers:
            source: { type: csv, path: data/customers.csv }
        stages:
          train:
            cmd: sh train.sh \${train.candidate}
            deps: [candidates, train.sh, data/customers.csv]
            params: [train.candidate]
            outs: [models/churn.onnx]
          evaluate:
            cmd: cp evaluations/\${train.candidate}.json metrics/evaluate.json
            deps: [models/churn.onnx, evaluations]
            params: [train.candidate]
            metrics:
              - metrics/evaluate.json:
                  cache: false
      `}${MODELS}`,
      'params.yaml': 'train:\n  candidate: good\n',
      'train.sh': 'mkdir -p models metrics\ncp "candidates/$1.onnx" models/churn.onnx\n',
      'data/customers.csv': 'id,region\n1,north\n2,south\n',
      'evaluations/good.json': JSON.stringify({ holdout: { auc: 0.82, recall: 0.7 } }),
      'evaluations/other.json': JSON.stringify({ holdout: { auc: 0.9, recall: 0.8 } }),
    });
    writeLogisticModel(root, 'candidates/good.onnx', [1, 2]);
    writeLogisticModel(root, 'candidates/other.onnx', [2, 1]);
    let result = cairn(root, 'run');
    assert.equal(result.status, 0, result.stderr);
    assert.equal(cairn(root, 'models', 'alias', 'churn', 'champion', '1').status, 0);

    // The workspace moves on: other params, more data.
    fs.writeFileSync(path.join(root, 'params.yaml'), 'train:\n  candidate: other\n');
    fs.appendFileSync(path.join(root, 'data/customers.csv'), '3,north\n');

    result = cairn(root, 'models', 'reproduce', 'churn@champion', '--json');
    assert.equal(result.status, 0, result.stderr);
    const reproduction = JSON.parse(result.stdout) as Reproduction;
    assert.equal(reproduction.reproduced, true);
    const byName = (kind: string, name: string) =>
      reproduction.items.find((item) => item.kind === kind && item.name === name);
    assert.equal(byName('artifact', 'models/churn.onnx')?.match, true);
    assert.deepEqual(
      reproduction.items
        .filter((item) => item.kind === 'metric')
        .map(({ name, reproduced, match }) => ({ name, reproduced, match })),
      [
        { name: 'holdout.auc', reproduced: 0.82, match: true },
        { name: 'holdout.recall', reproduced: 0.7, match: true },
      ],
    );
    const data = byName('dataset', 'customers');
    assert.equal(data?.match, false);
    assert.notEqual(data?.recorded, data?.reproduced);

    // The workspace is as it was, the copy is gone, nothing new is registered, and the run is tracked.
    assert.equal(fs.readFileSync(path.join(root, 'params.yaml'), 'utf8'), 'train:\n  candidate: other\n');
    assert.deepEqual(fs.readdirSync(path.join(root, '.cairn/worktrees/reproduce')), []);
    assert.equal(JSON.parse(cairn(root, 'models', 'list', '--json').stdout).models[0].versions, 1);
    const shown = JSON.parse(cairn(root, 'exp', 'show', reproduction.runId ?? '', '--json').stdout) as {
      tags: Record<string, string>;
      params: Record<string, string>;
    };
    assert.equal(shown.tags['cairn.reproduces'], 'churn:1');
    assert.equal(shown.params['train.candidate'], 'good');

    result = cairn(root, 'models', 'reproduce', 'churn:1');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /match {5}artifact {2}models\/churn\.onnx/);
    assert.match(result.stdout, /MISMATCH {2}dataset {3}customers/);
    assert.match(
      result.stdout,
      /churn v1 reproduces: the artifact and every recorded metric match, though the data differ \(customers\)\./,
    );

    result = cairn(root, 'models', 'reproduce', 'churn@staging');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Model 'churn' has no alias 'staging' \(aliases: champion\)/);
  });

  it('does not reproduce a version whose stage draws random weights, and says what differs', () => {
    const onnxProto = path.join(repository, 'node_modules', 'onnx-proto');
    const root = makeWorkspace({
      'pipeline.yaml': `${yaml`
        stages:
          train:
            cmd: node train.cjs
            deps: [train.cjs, candidates]
            outs: [models/churn.onnx]
          evaluate:
            cmd: node evaluate.cjs
            deps: [evaluate.cjs, models/churn.onnx]
            metrics:
              - metrics/evaluate.json:
                  cache: false
      `}${MODELS}`,
      'train.cjs': `const fs = require('node:fs');
const { onnx } = require(${JSON.stringify(onnxProto)});
const model = onnx.ModelProto.decode(fs.readFileSync('candidates/base.onnx'));
model.graph.initializer[0].floatData = [Math.random(), Math.random()];
fs.mkdirSync('models', { recursive: true });
fs.writeFileSync('models/churn.onnx', onnx.ModelProto.encode(model).finish());
`,
      'evaluate.cjs': `const fs = require('node:fs');
fs.mkdirSync('metrics', { recursive: true });
fs.writeFileSync('metrics/evaluate.json', JSON.stringify({ holdout: { auc: 0.8 + Math.random() / 10 } }));
`,
    });
    writeLogisticModel(root, 'candidates/base.onnx', [1, 2]);
    let result = cairn(root, 'run');
    assert.equal(result.status, 0, result.stderr);
    assert.equal(JSON.parse(cairn(root, 'models', 'list', '--json').stdout).models[0].versions, 1);

    result = cairn(root, 'models', 'reproduce', 'churn:1', '--json');
    assert.equal(result.status, 1, result.stderr);
    const reproduction = JSON.parse(result.stdout) as Reproduction;
    assert.equal(reproduction.status, 'succeeded');
    assert.equal(reproduction.reproduced, false);
    assert.deepEqual(
      reproduction.items.map(({ kind, name, match }) => ({ kind, name, match })),
      [
        { kind: 'artifact', name: 'models/churn.onnx', match: false },
        { kind: 'metric', name: 'holdout.auc', match: false },
      ],
    );

    result = cairn(root, 'models', 'reproduce', 'churn:1');
    assert.equal(result.status, 1);
    assert.match(result.stdout, /MISMATCH {2}artifact {2}models\/churn\.onnx/);
    assert.match(
      result.stdout,
      /churn v1 does not reproduce: artifact models\/churn\.onnx, metric holdout\.auc differ\./,
    );
    assert.match(result.stderr, /train: succeeded/);
  });
});
