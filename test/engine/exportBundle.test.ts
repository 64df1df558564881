// `cairn models export`: the bundle of a registered version holds the registry's exact ONNX bytes,
// its signature and feature order, checksums that verify, and a predict.mjs that, run with node on
// rows of features, answers what onnxruntime answers on the registry's model.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { writeLogisticModel } from '../helpers/onnx';
import { writeMultiInputModel } from '../helpers/servingModels';
import { makeWorkspace } from '../helpers/workspace';
import { Registry } from '../../server/engine/registry/registry';
import { Store } from '../../server/engine/store';

const repository = path.resolve(__dirname, '../..');
const cli = path.join(repository, 'dist/cli/cairn.js');
const FEATURES = ['temp_max', 'temp_min', 'precipitation', 'wind'];
const WEIGHTS = [0.3, -0.2, 1.5, -0.7];

function run(command: string, args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  // The bundle's own `npm install` would fetch onnxruntime-node; the repository's copy stands in for it.
  const env = { ...process.env, NODE_PATH: path.join(repository, 'node_modules') };
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function cairn(root: string, ...args: string[]): ReturnType<typeof run> {
  return run(process.execPath, [cli, ...args, '--workspace', root], root);
}

describe('cairn models export (a self-contained bundle)', function () {
  this.timeout(60000);
  let root: string;

  before(() => {
    const build = spawnSync('npm', ['run', 'build'], { cwd: repository, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
    root = makeWorkspace({ 'data/scaler.json': '{"mean": [10, 5, 2, 3], "std": [5, 4, 3, 1]}\n' });
    writeLogisticModel(root, 'models/model.onnx', WEIGHTS, -0.4, { feature_names: JSON.stringify(FEATURES) });
    assert.equal(cairn(root, 'models', 'register', 'rain', 'models/model.onnx').status, 0);
    assert.equal(cairn(root, 'models', 'alias', 'rain', 'champion', '1').status, 0);
  });

  it('writes the model, signature, pre/postprocessing, examples, README and checksums that verify', () => {
    const folder = path.join(root, 'bundle');
    const result = cairn(
      root,
      'models',
      'export',
      'rain@champion',
      'bundle',
      '--include',
      'data/scaler.json',
      '--json',
    );
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { model: string; version: number; files: string[] };
    assert.deepEqual(report.files, [
      'model.onnx',
      'signature.json',
      'extra/scaler.json',
      'preprocess.json',
      'postprocess.json',
      'sample.json',
      'predict.mjs',
      'predict.py',
      'package.json',
      'requirements.txt',
      'README.md',
      'SHA256SUMS',
    ]);
    const store = Store.open(root);
    const registered = new Registry(store, root).resolve('rain@champion');
    store.close();
    assert.deepEqual(fs.readFileSync(path.join(folder, 'model.onnx')), fs.readFileSync(registered.objectPath));

    const signature = JSON.parse(fs.readFileSync(path.join(folder, 'signature.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.deepEqual(signature['featureNames'], FEATURES);
    assert.deepEqual(signature['inputs'], [{ name: 'features', type: 'float32', shape: ['N', 4] }]);
    const preprocess = JSON.parse(fs.readFileSync(path.join(folder, 'preprocess.json'), 'utf8')) as {
      features: { name: string; position: number; dtype: string }[];
      transforms: { file: string }[];
    };
    assert.deepEqual(
      preprocess.features.map((feature) => [feature.name, feature.position, feature.dtype]),
      FEATURES.map((name, index) => [name, index, 'float32']),
    );
    assert.deepEqual(
      preprocess.transforms.map((transform) => transform.file),
      ['extra/scaler.json'],
    );
    const postprocess = JSON.parse(fs.readFileSync(path.join(folder, 'postprocess.json'), 'utf8')) as {
      outputs: { name: string; meaning: string; threshold?: number }[];
    };
    assert.equal(postprocess.outputs[0]?.name, 'probability');
    assert.match(postprocess.outputs[0]?.meaning ?? '', /probability of the positive class/);
    const readme = fs.readFileSync(path.join(folder, 'README.md'), 'utf8');
    for (const words of ['node predict.mjs', 'python3 predict.py', 'onnxruntime-mobile', 'onnxruntime-web', 'KServe'])
      assert.ok(readme.includes(words), `README mentions ${words}`);

    // Every file but the checksums file is listed once with its SHA-256, as `sha256sum -c` reads it.
    const sums = fs.readFileSync(path.join(folder, 'SHA256SUMS'), 'utf8').trim().split('\n');
    assert.deepEqual(
      sums.map((line) => line.slice(66)),
      report.files.slice(0, -1),
    );
    for (const line of sums) {
      const [hash, name] = [line.slice(0, 64), line.slice(66)];
      assert.equal(
        createHash('sha256')
          .update(fs.readFileSync(path.join(folder, name)))
          .digest('hex'),
        hash,
        name,
      );
    }
    // The Python example at least compiles; onnxruntime for Python is not installable on this machine.
    const compiled = run('python3', ['-m', 'py_compile', path.join(folder, 'predict.py')], folder);
    assert.equal(compiled.status, 0, compiled.stderr);
  });

  it("predict.mjs, run with node, answers what onnxruntime answers on the registry's model", async () => {
    const folder = path.join(root, 'bundle-v1');
    assert.equal(cairn(root, 'models', 'export', 'rain:1', 'bundle-v1').status, 0);
    const rows = [
      { temp_max: 12.5, temp_min: 4, precipitation: 3.2, wind: 5.1 },
      { temp_max: 30, temp_min: 18, precipitation: 0, wind: 1.5 },
      { temp_max: -3, temp_min: -8, precipitation: 12, wind: 9 },
    ];
    fs.writeFileSync(path.join(folder, 'rows.json'), JSON.stringify(rows));
    const result = run(process.execPath, ['predict.mjs', 'rows.json'], folder);
    assert.equal(result.status, 0, result.stderr);
    const answers = JSON.parse(result.stdout) as { probability: number }[];

    const store = Store.open(root);
    const registered = new Registry(store, root).resolve('rain@1');
    store.close();
    const session = await ort.InferenceSession.create(registered.objectPath);
    const data = Float32Array.from(rows.flatMap((row) => FEATURES.map((name) => row[name as keyof typeof row])));
    const expected = (await session.run({ features: new ort.Tensor('float32', data, [rows.length, 4]) }))['probability']
      ?.data as Float32Array;
    assert.equal(answers.length, 3);
    answers.forEach((answer, index) => assert.equal(answer.probability, expected[index]));
    // And the numbers are the logistic model's, not just the same wrong ones twice.
    const logit = rows[1]
      ? FEATURES.reduce((sum, name, i) => sum + (WEIGHTS[i] ?? 0) * Number(rows[1]?.[name as 'wind']), -0.4)
      : 0;
    assert.ok(Math.abs((answers[1]?.probability ?? 0) - 1 / (1 + Math.exp(-logit))) < 1e-6);

    // The sample file runs as it is; a row missing a feature is refused by name.
    const sample = run(process.execPath, ['predict.mjs', 'sample.json'], folder);
    assert.equal(sample.status, 0, sample.stderr);
    assert.equal((JSON.parse(sample.stdout) as unknown[]).length, 2);
    fs.writeFileSync(path.join(folder, 'bad.json'), JSON.stringify([rows[0], { temp_max: 1, temp_min: 2, wind: 3 }]));
    const bad = run(process.execPath, ['predict.mjs', 'bad.json'], folder);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /row 2: no feature 'precipitation'/);
  });

  it('handles a model with several named inputs: lists for wide inputs, booleans both ways', () => {
    writeMultiInputModel(root, 'models/multi.onnx');
    assert.equal(cairn(root, 'models', 'register', 'multi', 'models/multi.onnx').status, 0);
    const folder = path.join(root, 'bundle-multi');
    assert.equal(cairn(root, 'models', 'export', 'multi:1', 'bundle-multi').status, 0);
    const sample = run(process.execPath, ['predict.mjs', 'sample.json'], folder);
    assert.equal(sample.status, 0, sample.stderr);
    assert.deepEqual(JSON.parse(sample.stdout), [
      { total: 0, flag: false },
      { total: 0, flag: false },
    ]);
    fs.writeFileSync(
      path.join(folder, 'rows.json'),
      JSON.stringify([
        { x: [1, 2, 3], count: 4, mask: true },
        { x: [0.5, 0.25, 0], count: -1, mask: false },
      ]),
    );
    const answered = run(process.execPath, ['predict.mjs', 'rows.json'], folder);
    assert.equal(answered.status, 0, answered.stderr);
    assert.deepEqual(JSON.parse(answered.stdout), [
      { total: 10, flag: true },
      { total: -0.25, flag: false },
    ]);
    fs.writeFileSync(path.join(folder, 'short.json'), JSON.stringify([{ x: [1, 2], count: 4, mask: true }]));
    const short = run(process.execPath, ['predict.mjs', 'short.json'], folder);
    assert.equal(short.status, 2);
    assert.match(short.stderr, /the model cannot run on these rows/);
  });

  it('refuses a folder that is not empty, and a version that does not exist', () => {
    fs.mkdirSync(path.join(root, 'taken'), { recursive: true });
    fs.writeFileSync(path.join(root, 'taken/notes.txt'), 'mine');
    let result = cairn(root, 'models', 'export', 'rain@champion', 'taken');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /taken is not empty/);
    assert.equal(fs.readFileSync(path.join(root, 'taken/notes.txt'), 'utf8'), 'mine');
    result = cairn(root, 'models', 'export', 'rain@staging', 'other');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /no alias 'staging'/);
    result = cairn(root, 'models', 'export', 'rain@champion', 'other', '--include', 'missing.json');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /missing\.json: no such file/);
  });
});
