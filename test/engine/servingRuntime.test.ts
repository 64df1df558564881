// The model server under load and failure, on 127.0.0.1 with real worker processes: micro-batching
// of concurrent one-row requests, the concurrency limit (429 + Retry-After), timeouts (504, or the
// fixed fallback answer), a killed worker (kill -9) answered by the stable version and restarted, a
// failing candidate falling back, sticky A/B assignment, shadow mirroring, hot swap of registered
// versions under concurrent requests with no failure, and a graceful drain on stop. A worker is made
// slow by stopping its process (SIGSTOP) and continued with SIGCONT.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { procStat } from '../../server/engine/processes';
import { Registry } from '../../server/engine/registry/registry';
import { Store } from '../../server/engine/store';
import { writeLogisticModel } from '../helpers/onnx';
import { sampleRows, writeMlpModel } from '../helpers/mlp';
import { writeFailingModel } from '../helpers/servingModels';
import {
  alive,
  assertClose,
  expectedProbability,
  FEATURES,
  featureRow,
  fileVersion,
  get,
  modelDirectory,
  post,
  startServer,
  stopServers,
  v2Body,
  v2Data,
  waitFor,
  weatherVersion,
} from '../helpers/serving';
import type { Reply } from '../helpers/serving';
import { makeWorkspace } from '../helpers/workspace';

/** CPU time (clock ticks) a process has used so far, from /proc. */
function cpuTicks(pid: number): number {
  const fields = procStat(pid) ?? [];
  return Number(fields[11]) + Number(fields[12]);
}

function workerPid(server: { workers(): { pid: number | null; version: number }[] }, version: number): number {
  const pid = server.workers().find((worker) => worker.version === version)?.pid;
  assert.ok(pid, `no worker pid for version ${version}`);
  return pid;
}

/** Stops a worker process until continue is called (a worker that does not answer). */
function pause(pid: number): () => void {
  process.kill(pid, 'SIGSTOP');
  return () => process.kill(pid, 'SIGCONT');
}

describe('serving runtime', function () {
  this.timeout(60_000);
  const directory = modelDirectory();
  const paused: (() => void)[] = [];

  afterEach(async () => {
    for (const resume of paused.splice(0)) {
      try {
        resume();
      } catch {
        // The process is already gone.
      }
    }
    await stopServers();
  });

  it('batches concurrent one-row requests and gives each its own answer', async () => {
    const { url } = await startServer(
      { stable: weatherVersion(directory, 1, 0.1) },
      { batch: { maxSize: 32, maxLatencyMs: 20 } },
    );
    const rows = Array.from({ length: 96 }, (_, index) => featureRow(index));
    const answers = await Promise.all(rows.map((row) => post(`${url}/v2/models/rain/infer`, v2Body([row]))));
    answers.forEach((answer, index) =>
      assertClose(v2Data(answer), [expectedProbability(rows[index] as number[], 0.1)], `row ${index}`),
    );
    const metrics = (await get(`${url}/metrics`)).text;
    const value = (series: string): number =>
      Number(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1]);
    const batches = value('cairn_batch_size_count{version="rain:1"}');
    assert.equal(value('cairn_batch_size_sum{version="rain:1"}'), 96);
    assert.ok(batches < 96, `${batches} batches for 96 concurrent one-row requests: no batching happened`);
    assert.ok(value('cairn_batch_size_bucket{version="rain:1",le="1"}') < batches, 'some batch had more than one row');
  });

  it('refuses requests beyond max_concurrency with 429 and Retry-After', async () => {
    const { server, url } = await startServer({ stable: weatherVersion(directory, 1, 0.1) }, { maxConcurrency: 2 });
    paused.push(pause(workerPid(server, 1)));
    const slow = [
      post(`${url}/v2/models/rain/infer`, v2Body([featureRow(1)])),
      post(`${url}/v2/models/rain/infer`, v2Body([featureRow(2)])),
    ];
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refused = await post(`${url}/invocations`, JSON.stringify({ instances: [featureRow(3)] }));
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '1');
    (paused.pop() as () => void)();
    const done = await Promise.all(slow);
    assert.deepEqual(
      done.map((answer) => answer.status),
      [200, 200],
    );
    assert.equal((await post(`${url}/v2/models/rain/infer`, v2Body([featureRow(4)]))).status, 200);
    assert.equal(server.stats().refused, 1);
  });

  it('frees the concurrency slot of a client that goes away in the middle of its body', async () => {
    const { url } = await startServer({ stable: weatherVersion(directory, 1, 0.1) }, { maxConcurrency: 1 });
    const { port } = new URL(url);
    for (let attempt = 0; attempt < 3; attempt++) {
      const socket = net.connect(Number(port), '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(
        'POST /v2/models/rain/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"inputs": [',
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal((await post(`${url}/v2/models/rain/infer`, v2Body([featureRow(1)]))).status, 200);
  });

  it('answers 504 when the model does not answer in time, and the fixed default when the spec says so', async () => {
    const plain = await startServer({ stable: weatherVersion(directory, 1, 0.1) }, { timeoutMs: 300 });
    paused.push(pause(workerPid(plain.server, 1)));
    const started = Date.now();
    const late = await post(`${plain.url}/v2/models/rain/infer`, v2Body([featureRow(1)]));
    assert.equal(late.status, 504);
    assert.match((late.body as { error: string }).error, /did not answer within 300 ms/);
    assert.ok(Date.now() - started < 3000);
    (paused.pop() as () => void)();
    assert.equal((await post(`${plain.url}/v2/models/rain/infer`, v2Body([featureRow(1)]))).status, 200);

    const guarded = await startServer(
      { stable: weatherVersion(directory, 2, 0.1) },
      { timeoutMs: 5000, fallback: { on: ['error', 'timeout'], timeoutMs: 200, default: { probability: [0.5] } } },
    );
    paused.push(pause(workerPid(guarded.server, 2)));
    const answer = await post(`${guarded.url}/v2/models/rain/infer`, v2Body([featureRow(1), featureRow(2)]));
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.headers.get('x-cairn-fallback'), 'true');
    assert.deepEqual((answer.body as { parameters: unknown }).parameters, { fallback: true });
    assert.deepEqual(v2Data(answer), [0.5, 0.5]);
    const mlflow = await post(`${guarded.url}/invocations`, JSON.stringify({ instances: [featureRow(1)] }));
    assert.deepEqual(mlflow.body, { predictions: [0.5] });
    const record = guarded.records.at(-1);
    assert.ok(record);
    assert.equal(record.fallback, true);
    assert.match(String(record.error), /no answer from rain:2 within 200 ms/);
    assert.equal(guarded.server.stats().stable.fallbacks, 2);
  });

  it('falls back to the stable version when the candidate worker is killed, and restarts it', async () => {
    const stable = weatherVersion(directory, 1, 0.1);
    const candidate = weatherVersion(directory, 2, -0.1);
    const { server, url, records, workerExits } = await startServer({ stable, candidate }, { restartDelayMs: 300 });
    server.setTraffic({ stable: 0, candidate: 100, mirror: 0 });
    const row = featureRow(9);
    const before = await post(`${url}/v2/models/rain/infer`, v2Body([row]));
    assert.equal(before.headers.get('x-cairn-version'), 'rain:2');
    assertClose(v2Data(before), [expectedProbability(row, -0.1)]);
    const pid = workerPid(server, 2);
    process.kill(pid, 'SIGKILL');
    await waitFor(() => workerExits.length > 0, 5000, 'the worker exit');
    assert.deepEqual(workerExits[0], { version: 'rain:2', detail: 'the worker was killed by SIGKILL' });
    const during = await post(`${url}/v2/models/rain/infer`, v2Body([row]));
    assert.equal(during.status, 200, during.text);
    assert.equal(during.headers.get('x-cairn-fallback'), 'true');
    assert.equal(during.headers.get('x-cairn-version'), 'rain:1');
    assertClose(v2Data(during), [expectedProbability(row, 0.1)]);
    const record = records.at(-1);
    assert.ok(record);
    assert.equal(record.arm, 'candidate');
    assert.equal(record.version, 'rain:2');
    assert.equal(record.fallback, true);
    assert.match(String(record.error), /rain:2: the worker was killed by SIGKILL/);
    assert.equal(server.stats().candidate.errors, 1);
    // The worker comes back under a new pid and answers again.
    await waitFor(
      () => server.workers().some((worker) => worker.version === 2 && worker.ready),
      15_000,
      'the restarted worker',
    );
    assert.notEqual(workerPid(server, 2), pid);
    const after = await post(`${url}/v2/models/rain/infer`, v2Body([row]));
    assert.equal(after.headers.get('x-cairn-version'), 'rain:2');
    assert.equal(after.headers.get('x-cairn-fallback'), null);
  });

  it('spreads batches over server.workers processes, and answers on the others while a killed one restarts', async () => {
    const file = writeMlpModel(directory, 'mlp-workers.onnx', { hidden: [256, 256] });
    const { server, url, workerExits } = await startServer(
      { stable: fileVersion(file, 'mlp', 1) },
      { workers: 2, workerThreads: 1, restartDelayMs: 300 },
    );
    const [described] = server.workers();
    assert.deepEqual([described?.replicas?.ready, described?.replicas?.total], [2, 2]);
    const pids = described?.replicas?.pids ?? [];
    assert.equal(new Set(pids).size, 2);
    // Requests of 1,000 rows, six at a time: each worker must have run some of them.
    const body = JSON.stringify({
      inputs: [{ name: 'features', shape: [1000, 20], datatype: 'FP32', data: sampleRows(1000).flat() }],
    });
    const before = pids.map(cpuTicks);
    for (let round = 0; round < 10; round++) {
      const answers = await Promise.all(Array.from({ length: 6 }, () => post(`${url}/v2/models/mlp/infer`, body)));
      for (const answer of answers) assert.equal(answer.status, 200, answer.text);
    }
    pids.forEach((pid, index) =>
      assert.ok(cpuTicks(pid) > (before[index] ?? 0), `worker ${pid} ran no batch: ${String(before)}`),
    );
    // One worker killed: the other answers every request (no fallback), and the version is
    // ready on one of two until the killed one is back under a new pid.
    process.kill(pids[0] ?? -1, 'SIGKILL');
    await waitFor(() => workerExits.length > 0, 5000, 'the worker exit');
    assert.equal(server.workers()[0]?.replicas?.ready, 1);
    for (let index = 0; index < 5; index++) {
      const answer = await post(`${url}/v2/models/mlp/infer`, body);
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.headers.get('x-cairn-fallback'), null);
    }
    await waitFor(() => server.workers()[0]?.replicas?.ready === 2, 15_000, 'the restarted worker');
    const restarted = server.workers()[0]?.replicas?.pids ?? [];
    assert.ok(!restarted.includes(pids[0] ?? -1) && restarted.includes(pids[1] ?? -1), String(restarted));
  });

  it('falls back when the candidate model fails, and answers 500 when the stable one fails with no fallback', async () => {
    const failing = fileVersion(writeFailingModel(directory, 'failing.onnx', 20), 'rain', 5);
    const { server, url } = await startServer({ stable: weatherVersion(directory, 1, 0.1), candidate: failing });
    server.setTraffic({ stable: 0, candidate: 100, mirror: 0 });
    const answer = await post(`${url}/v2/models/rain/infer`, v2Body([featureRow(1)]));
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('x-cairn-fallback'), 'true');
    const alone = await startServer({
      stable: fileVersion(writeFailingModel(directory, 'failing2.onnx', 20), 'bad', 1),
    });
    const failed = await post(`${alone.url}/v2/models/bad/infer`, v2Body([featureRow(1)]));
    assert.equal(failed.status, 500);
    assert.match((failed.body as { error: string }).error, /The model failed: bad:1: .*/);
  });

  it('keeps a sticky key on one arm and mirrors to a shadow candidate without returning its answer', async () => {
    const stable = weatherVersion(directory, 1, 0.1);
    const candidate = weatherVersion(directory, 2, 0.2);
    const { server, url, records } = await startServer({ stable, candidate });
    server.setTraffic({ stable: 50, candidate: 50, mirror: 0, stickyKey: 'user_id' });
    const versionFor = async (user: string): Promise<string | null> => {
      const record = Object.fromEntries(FEATURES.map((name, index) => [name, index / 20]));
      const answer = await post(
        `${url}/invocations`,
        JSON.stringify({ dataframe_records: [{ ...record, user_id: user }] }),
      );
      return answer.headers.get('x-cairn-version');
    };
    const seen = new Map<string, Set<string | null>>();
    for (let round = 0; round < 3; round++) {
      for (let user = 0; user < 20; user++) {
        const versions = seen.get(`u${user}`) ?? new Set();
        versions.add(await versionFor(`u${user}`));
        seen.set(`u${user}`, versions);
      }
    }
    assert.ok(
      [...seen.values()].every((versions) => versions.size === 1),
      'a user always gets the same version',
    );
    const arms = new Set([...seen.values()].map((versions) => [...versions][0]));
    assert.deepEqual([...arms].sort(), ['rain:1', 'rain:2'], '20 users land on both arms');
    assert.ok(records.every((record) => record.key?.startsWith('u')));
    // The x-cairn-key header keys a request too.
    const byHeader = await post(`${url}/v2/models/rain/infer`, v2Body([featureRow(1)]), { 'x-cairn-key': 'u3' });
    assert.equal(byHeader.headers.get('x-cairn-version'), [...(seen.get('u3') as Set<string>)][0]);

    server.setTraffic({ stable: 100, candidate: 0, mirror: 100 });
    records.length = 0;
    const row = featureRow(4);
    for (let index = 0; index < 5; index++) {
      const answer = await post(`${url}/v2/models/rain/infer`, v2Body([row]));
      assert.equal(answer.headers.get('x-cairn-version'), 'rain:1');
      assertClose(v2Data(answer), [expectedProbability(row, 0.1)]);
    }
    await waitFor(() => records.filter((record) => record.arm === 'shadow').length === 5, 5000, 'the shadow records');
    const shadow = records.find((record) => record.arm === 'shadow');
    assert.equal(shadow?.version, 'rain:2');
    assertClose(shadow?.outputs?.['probability'], [expectedProbability(row, 0.2)]);
    const stats = server.stats().shadow;
    assert.equal(stats.mirrored, 5);
    assert.ok(
      Math.abs(
        (stats.meanAbsDifference ?? 0) - Math.abs(expectedProbability(row, 0.2) - expectedProbability(row, 0.1)),
      ) < 1e-6,
    );
  });

  it('swaps registered versions under concurrent requests without a failed request', async () => {
    const root = makeWorkspace({});
    const store = Store.open(root);
    try {
      const registry = new Registry(store, root);
      const weights = (weight: number): number[] => new Array<number>(20).fill(weight);
      const metadata = { feature_names: JSON.stringify(FEATURES) };
      registry.register({ name: 'rain', onnxPath: writeLogisticModel(root, 'm1.onnx', weights(0.1), 0, metadata) });
      registry.register({ name: 'rain', onnxPath: writeLogisticModel(root, 'm2.onnx', weights(-0.1), 0, metadata) });
      const first = registry.resolve('rain@1');
      const second = registry.resolve('rain@2');
      const { server, url } = await startServer({ stable: first });
      const oldPid = workerPid(server, 1);
      let stop = false;
      const replies: Reply[] = [];
      const loops = Array.from({ length: 8 }, async (_, loop) => {
        while (!stop) replies.push(await post(`${url}/v2/models/rain/infer`, v2Body([featureRow(loop)])));
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await server.setVersions({ stable: second });
      await new Promise((resolve) => setTimeout(resolve, 300));
      stop = true;
      await Promise.all(loops);
      assert.ok(replies.length > 50, `only ${replies.length} requests`);
      assert.deepEqual(
        replies.filter((reply) => reply.status !== 200).map((reply) => reply.text),
        [],
      );
      const versions = replies.map((reply) => reply.headers.get('x-cairn-version'));
      assert.ok(versions.includes('rain:1') && versions.at(-1) === 'rain:2');
      assert.deepEqual(
        server.workers().map((worker) => [worker.model, worker.version]),
        [['rain', 2]],
      );
      await waitFor(() => !alive(oldPid), 5000, 'the old worker to stop');
    } finally {
      store.close();
    }
  });

  it('keeps serving the old version when the new one cannot be loaded', async () => {
    const { server, url } = await startServer({ stable: weatherVersion(directory, 1, 0.1) });
    const broken = path.join(directory, 'broken.onnx');
    fs.writeFileSync(broken, 'not a model');
    const good = weatherVersion(directory, 2, 0.2);
    await assert.rejects(
      server.setVersions({ stable: { ...good, objectPath: broken } }),
      /cannot serve rain:2: cannot load .*broken\.onnx/,
    );
    const answer = await post(`${url}/v2/models/rain/infer`, v2Body([featureRow(1)]));
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('x-cairn-version'), 'rain:1');
    assert.deepEqual(
      server.workers().map((worker) => worker.version),
      [1],
    );
  });

  it('drains on stop: requests in flight finish, new ones are refused, workers end', async () => {
    const { server, url } = await startServer({ stable: weatherVersion(directory, 1, 0.1) });
    const pid = workerPid(server, 1);
    const resume = pause(pid);
    paused.push(resume);
    const inFlight = [1, 2, 3].map((seed) => post(`${url}/v2/models/rain/infer`, v2Body([featureRow(seed)])));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stopped = server.stop({ drainMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const refused = await post(`${url}/v2/models/rain/infer`, v2Body([featureRow(4)])).then(
      (reply) => reply.status,
      () => 'connection refused',
    );
    assert.notEqual(refused, 200);
    resume();
    const answers = await Promise.all(inFlight);
    assert.deepEqual(
      answers.map((answer) => answer.status),
      [200, 200, 200],
    );
    await stopped;
    await waitFor(() => !alive(pid), 5000, 'the worker to end');
  });
});
