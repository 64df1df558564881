// Reliability of the model server under load, with real processes: the built CLI's
// `cairn deploy FILE --foreground` in a temp workspace on 127.0.0.1, driven by the load generator of
// the benchmarks (bench/load.ts). Load is modest (a few connections) so the tests pass on a loaded
// 2-core CI machine; nothing here asserts a time or a rate, only what every request got.
//   - 10% malformed requests: no crash, every malformed request a 4xx, every good one a 200;
//   - the alias of the stable version moves under load (hot swap), or the candidate of a canary is
//     promoted under load: no failed request;
//   - kill -9 of the candidate's worker during a canary: the fallback answers (marked) and the
//     rollout is aborted on its own, with the reason recorded;
//   - kill -9 of the server, then the same deploy file again: the rollout step and traffic come back
//     from the store.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { malformedBodies, runLoad } from '../../bench/load';
import type { LoadResponse } from '../../bench/load';
import type { DeploymentStatus } from '../../server/shared/deployments';
import { Registry } from '../../server/engine/registry/registry';
import { Store } from '../../server/engine/store';
import { alive } from '../helpers/deployCli';
import { mlpOnnx, sampleRows } from '../helpers/mlp';
import { logisticOnnx } from '../helpers/onnx';

const CLI = path.resolve(__dirname, '../../dist/cli/cairn.js');
const FEATURES = 4;
/** Version 1 answers sigmoid(0) = 0.5 to every row, version 2 sigmoid(2): the answer tells who served. */
const V1_ANSWER = 0.5;
const V2_ANSWER = 1 / (1 + Math.exp(-2));
const FEATURE_NAMES = JSON.stringify(['a', 'b', 'c', 'd']);

const GOOD_BODY = JSON.stringify({
  inputs: [{ name: 'features', shape: [2, FEATURES], datatype: 'FP32', data: [0.1, 0.2, 0.3, 0.4, 1, 2, 3, 4] }],
});

const MLFLOW_BODY = JSON.stringify({
  dataframe_split: {
    columns: ['a', 'b', 'c', 'd'],
    data: [
      [0.1, 0.2, 0.3, 0.4],
      [1, 2, 3, 4],
    ],
  },
});

/** Beside the generic malformed bodies of the load generator: wrong names, types and shapes. */
const V2_MALFORMED = [
  { inputs: [{ name: 'wrong', shape: [1, FEATURES], datatype: 'FP32', data: [1, 2, 3, 4] }] },
  { inputs: [{ name: 'features', shape: [1, FEATURES], datatype: 'BYTES', data: ['a', 'b', 'c', 'd'] }] },
  { inputs: [{ name: 'features', shape: [1, 5], datatype: 'FP32', data: [1, 2, 3, 4, 5] }] },
  { inputs: [{ name: 'features', shape: [2, FEATURES], datatype: 'FP32', data: [1, 2, 3, 4] }] },
  { inputs: [] },
].map((body) => JSON.stringify(body));
const MLFLOW_MALFORMED = [
  { dataframe_split: { columns: ['a', 'b', 'c', 'x'], data: [[1, 2, 3, 4]] } },
  { dataframe_records: [{ a: 1, b: 2, c: 3 }] },
  { instances: [[1, 2, 3]] },
  { dataframe_split: { columns: ['a', 'b', 'c', 'd'], data: [[1, 2, 3, { nested: true }]] } },
].map((body) => JSON.stringify(body));

interface Served {
  child: ChildProcess;
  status: DeploymentStatus;
  /** The infer URL of model `m`. */
  inferUrl: string;
  output: string[];
}

/** A temp workspace with model `m`: version 1 @champion and version 2 @challenger. */
function workspace(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-reliability-'));
  const store = Store.open(root);
  try {
    const registry = new Registry(store, root);
    const register = (file: string, bias: number): number => {
      const absolute = path.join(root, 'models', file);
      fs.mkdirSync(path.dirname(absolute), { recursive: true });
      fs.writeFileSync(
        absolute,
        logisticOnnx(new Array<number>(FEATURES).fill(0), bias, { feature_names: FEATURE_NAMES }),
      );
      return registry.register({ name: 'm', onnxPath: absolute }).version.version;
    };
    registry.setAlias('m', 'champion', register('v1.onnx', 0));
    registry.setAlias('m', 'challenger', register('v2.onnx', 2));
    // Version 3, @heavy: an MLP slow enough that, under load, a batch is nearly always in flight in its
    // worker, so killing the worker catches requests that must fall back.
    const heavy = path.join(root, 'models', 'v3.onnx');
    fs.writeFileSync(
      heavy,
      mlpOnnx({ inputs: FEATURES, hidden: [1024, 1024], featureNames: JSON.parse(FEATURE_NAMES) }),
    );
    registry.setAlias('m', 'heavy', registry.register({ name: 'm', onnxPath: heavy }).version.version);
  } finally {
    store.close();
  }
  return root;
}

function moveAlias(root: string, alias: string, version: number): void {
  const store = Store.open(root);
  try {
    new Registry(store, root).setAlias('m', alias, version, { reason: 'reliability test' });
  } finally {
    store.close();
  }
}

function writeSpec(root: string, name: string, lines: string[]): string {
  const file = path.join(root, `${name}.deploy.yaml`);
  fs.writeFileSync(file, [`name: ${name}`, 'model: m@champion', ...lines, ''].join('\n'));
  return file;
}

/** `cairn deploy FILE --foreground --port 0 --json`; resolves with the status it prints once it serves. */
async function deploy(root: string, file: string): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'deploy', file, '--foreground', '--port', '0', '--json'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  let stdout = '';
  const status = await new Promise<DeploymentStatus>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no status after 60 s:\n${output.join('')}`)), 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      output.push(chunk.toString());
      try {
        const parsed = JSON.parse(stdout) as DeploymentStatus;
        clearTimeout(timer);
        resolve(parsed);
      } catch {
        // Not the whole document yet.
      }
    });
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cairn deploy exited (${code}) before serving:\n${output.join('')}`));
    });
  });
  assert.ok(status.url, `no URL in ${JSON.stringify(status)}`);
  return { child, status, inferUrl: `${status.url}/v2/models/m/infer`, output };
}

/** `cairn deploy status NAME --json` from the store (the server may be running or not). */
function statusOf(root: string, name: string): DeploymentStatus {
  const result = spawnSync(process.execPath, [CLI, 'deploy', 'status', name, '--json'], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, result.stderr);
  const deployment = (JSON.parse(result.stdout) as { deployments: DeploymentStatus[] }).deployments[0];
  assert.ok(deployment, `no deployment ${name}: ${result.stdout}`);
  return deployment;
}

async function waitFor<T>(what: string, probe: () => T | null | undefined | false, timeoutMs = 30_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function stopServer(served: Served): Promise<void> {
  if (served.child.exitCode !== null || served.child.signalCode !== null) return;
  const exited = new Promise((resolve) => served.child.once('exit', resolve));
  served.child.kill('SIGTERM');
  const timer = setTimeout(() => served.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** The first output value of a V2 answer (every row of these models gives the same one). */
function answerOf(response: LoadResponse): number | null {
  try {
    const body = JSON.parse(response.body.toString()) as { outputs?: { data?: number[] }[] };
    return body.outputs?.[0]?.data?.[0] ?? null;
  } catch {
    return null;
  }
}

/** The first prediction of an MLflow answer. */
function mlflowAnswerOf(response: LoadResponse): number | null {
  try {
    const body = JSON.parse(response.body.toString()) as { predictions?: number[] };
    return body.predictions?.[0] ?? null;
  } catch {
    return null;
  }
}

const close = (a: number | null, b: number): boolean => a !== null && Math.abs(a - b) < 1e-5;

describe('reliability of the model server under load', function () {
  this.timeout(120_000);
  let root: string;
  const servers: Served[] = [];

  before(function () {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first.`);
  });
  beforeEach(() => {
    root = workspace();
  });
  afterEach(async () => {
    for (const served of servers.splice(0)) await stopServer(served);
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function start(name: string, lines: string[]): Promise<Served> {
    const served = await deploy(root, writeSpec(root, name, lines));
    servers.push(served);
    return served;
  }

  it('10% malformed requests (V2 and MLflow): every malformed one gets a 4xx, every good one a 200, and the server lives on', async () => {
    const served = await start('malformed', []);
    const protocols = [
      { url: served.inferUrl, body: GOOD_BODY, answer: answerOf, bad: V2_MALFORMED },
      {
        url: `${served.status.url ?? ''}/invocations`,
        body: MLFLOW_BODY,
        answer: mlflowAnswerOf,
        bad: MLFLOW_MALFORMED,
      },
    ];
    for (const protocol of protocols) {
      const wrong: string[] = [];
      const result = await runLoad({
        url: protocol.url,
        body: protocol.body,
        malformedShare: 0.1,
        malformedBodies: [...malformedBodies(protocol.body), ...protocol.bad],
        connections: 4,
        requests: 1500,
        durationMs: 60_000,
        onResponse: (response) => {
          const ok = response.malformed
            ? response.status >= 400 && response.status < 500
            : response.status === 200 && close(protocol.answer(response), V1_ANSWER);
          if (!ok && wrong.length < 5)
            wrong.push(`${response.malformed ? 'malformed' : 'good'} → ${response.status} ${response.body.toString()}`);
        },
      });
      assert.deepEqual(wrong, [], protocol.url);
      assert.equal(result.completed, 1500);
      assert.ok(result.malformedSent > 75, `only ${result.malformedSent} malformed requests`);
      assert.deepEqual(result.errors, {});
      assert.equal(served.child.exitCode, null, 'the server exited');
    }
    const after = await runLoad({ url: served.inferUrl, body: GOOD_BODY, connections: 1, requests: 5 });
    assert.deepEqual(after.statuses, { 200: 5 });
  });

  it('hot swap of the stable version under load: no failed request, the new version takes over', async () => {
    const served = await start('swap', []);
    const oldPid = served.status.stable.pid;
    const controller = new AbortController();
    const answers = { v1: 0, v2: 0, other: [] as string[] };
    let v2Since: number | null = null;
    const load = runLoad({
      url: served.inferUrl,
      body: GOOD_BODY,
      connections: 4,
      durationMs: 90_000,
      signal: controller.signal,
      onResponse: (response) => {
        const answer = answerOf(response);
        if (response.status === 200 && close(answer, V1_ANSWER)) answers.v1++;
        else if (response.status === 200 && close(answer, V2_ANSWER)) {
          answers.v2++;
          v2Since ??= Date.now();
        } else if (answers.other.length < 5) answers.other.push(`${response.status} ${response.body.toString()}`);
      },
    });
    await waitFor('answers of version 1', () => answers.v1 > 50);
    moveAlias(root, 'champion', 2);
    // Keep the load on for a while after the switch, so the old worker's drain and stop happen under it.
    await waitFor('answers of version 2 for a second', () => v2Since !== null && Date.now() - v2Since > 1000, 60_000);
    controller.abort();
    const result = await load;
    assert.deepEqual(answers.other, []);
    assert.deepEqual(result.errors, {});
    assert.deepEqual(Object.keys(result.statuses), ['200']);
    const status = await waitFor('the old worker to stop', () => {
      const current = statusOf(root, 'swap');
      return current.stable.version === 2 && current.stable.pid !== oldPid ? current : null;
    });
    assert.ok(
      status.events.some((event) => event.kind === 'swap'),
      JSON.stringify(status.events),
    );
    if (oldPid !== null) await waitFor('the old worker process to exit', () => !alive(oldPid), 15_000);
  });

  it('promote during a canary under load (cairn deploy promote): no failed request, the candidate becomes the stable', async () => {
    const served = await start('promote', [
      'rollout:',
      '  strategy: canary',
      '  candidate: m@challenger',
      '  steps:',
      '    - weight: 50',
      '      pause: 10m',
      '    - weight: 100',
    ]);
    const controller = new AbortController();
    const answers = { v1: 0, v2: 0, other: [] as string[] };
    let onlyV2Since: number | null = null;
    const load = runLoad({
      url: served.inferUrl,
      body: GOOD_BODY,
      connections: 4,
      durationMs: 90_000,
      signal: controller.signal,
      onResponse: (response) => {
        const answer = answerOf(response);
        if (response.status === 200 && close(answer, V1_ANSWER)) {
          answers.v1++;
          onlyV2Since = null;
        } else if (response.status === 200 && close(answer, V2_ANSWER)) {
          answers.v2++;
          onlyV2Since ??= Date.now();
        } else if (answers.other.length < 5) answers.other.push(`${response.status} ${response.body.toString()}`);
      },
    });
    await waitFor('answers of both versions', () => answers.v1 > 20 && answers.v2 > 20);
    const promote = spawnSync(process.execPath, [CLI, 'deploy', 'promote', 'promote', '--reason', 'reliability test'], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(promote.status, 0, promote.stderr);
    await waitFor(
      'only version 2 answering for a second',
      () => onlyV2Since !== null && Date.now() - onlyV2Since > 1000,
      60_000,
    );
    controller.abort();
    const result = await load;
    assert.deepEqual(answers.other, []);
    assert.deepEqual(result.errors, {});
    assert.deepEqual(Object.keys(result.statuses), ['200']);
    const status = statusOf(root, 'promote');
    assert.equal(status.stable.version, 2);
    assert.equal(status.traffic.stable, 100);
    assert.ok(
      status.events.some((event) => event.kind === 'promote'),
      JSON.stringify(status.events),
    );
  });

  it('kill -9 of the candidate worker during a canary: the fallback answers, marked, and the rollout aborts by itself', async () => {
    const served = await start('canary', [
      'rollout:',
      '  strategy: canary',
      '  candidate: m@heavy',
      '  steps:',
      '    - weight: 50',
      '      pause: 10m',
      '    - weight: 100',
      'fallback:',
      '  on: [error, timeout]',
      '  timeout_ms: 5000',
    ]);
    const candidatePid = served.status.candidate?.pid;
    assert.ok(candidatePid, `no candidate worker pid in ${JSON.stringify(served.status)}`);
    const controller = new AbortController();
    const seen = { v1: 0, v3: 0, fallback: 0, failed: [] as string[] };
    const rows = 200;
    const body = JSON.stringify({
      inputs: [
        { name: 'features', shape: [rows, FEATURES], datatype: 'FP32', data: sampleRows(rows, FEATURES).flat() },
      ],
    });
    const load = runLoad({
      url: served.inferUrl,
      body,
      connections: 8,
      durationMs: 90_000,
      signal: controller.signal,
      onResponse: (response) => {
        const answer = answerOf(response);
        if (response.status !== 200 || answer === null) {
          if (seen.failed.length < 5) seen.failed.push(`${response.status} ${response.body.toString()}`);
          return;
        }
        if (response.headers['x-cairn-fallback'] === 'true') seen.fallback++;
        if (close(answer, V1_ANSWER)) seen.v1++;
        else seen.v3++;
      },
    });
    await waitFor('answers of the candidate', () => seen.v3 > 10 && seen.v1 > 10);
    process.kill(candidatePid, 'SIGKILL');
    const aborted = await waitFor('the rollout to abort', () => {
      const status = statusOf(root, 'canary');
      return status.rollout.phase === 'aborted' ? status : null;
    });
    const afterAbort = seen.v1;
    await waitFor('more answers after the abort', () => seen.v1 > afterAbort + 20);
    controller.abort();
    const result = await load;
    assert.deepEqual(seen.failed, [], 'a request failed instead of falling back');
    assert.deepEqual(result.errors, {});
    assert.ok(seen.fallback > 0, 'no answer was marked as a fallback');
    assert.equal(aborted.traffic.candidate, 0);
    assert.equal(aborted.stable.version, 1);
    const abort = aborted.events.find((event) => event.kind === 'abort' || event.kind === 'rollback');
    assert.ok(abort, `no abort event in ${JSON.stringify(aborted.events)}`);
    assert.match(abort.message, /worker/);
    assert.ok(aborted.events.some((event) => event.kind === 'worker-exit'));
    assert.equal(served.child.exitCode, null, 'the server exited');
  });

  it('a server killed with -9 and started again from the same file restores the rollout step and traffic', async () => {
    const lines = [
      'rollout:',
      '  strategy: canary',
      '  candidate: m@challenger',
      '  steps:',
      '    - weight: 20',
      '      pause: 1s',
      '    - weight: 60',
      '      pause: 10m',
      '    - weight: 100',
    ];
    const first = await start('restart', lines);
    const before = await waitFor('the second canary step', () => {
      const status = statusOf(root, 'restart');
      return status.rollout.step === 1 ? status : null;
    });
    assert.equal(before.traffic.candidate, 60);
    const workerPids = [first.status.stable.pid, first.status.candidate?.pid].filter((pid): pid is number => !!pid);
    const exited = new Promise((resolve) => first.child.once('exit', resolve));
    first.child.kill('SIGKILL');
    await exited;
    // Workers whose server died must not live on as orphans.
    await waitFor('the orphaned workers to exit', () => workerPids.every((pid) => !alive(pid)), 15_000);

    const second = await start('restart', lines);
    assert.equal(second.status.rollout.step, 1);
    assert.equal(second.status.traffic.candidate, 60);
    assert.equal(second.status.candidate?.version, 2);
    const status = statusOf(root, 'restart');
    assert.ok(
      status.events.some((event) => event.kind === 'restore'),
      JSON.stringify(status.events),
    );
    const served = await runLoad({ url: second.inferUrl, body: GOOD_BODY, connections: 2, requests: 200 });
    assert.deepEqual(served.statuses, { 200: 200 });
  });
});
