// The load generator of the benchmarks and reliability tests, against a real node:http server on
// 127.0.0.1: every request is answered and counted, malformed ones are the ones the server refuses,
// chunked and closing answers are read, the open loop sends what its schedule says.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as ort from 'onnxruntime-node';
import { malformedBodies, runLoad } from '../../bench/load';
import type { LoadResponse } from '../../bench/load';
import { onnxSignature } from '../../server/engine/registry/signature';
import { mlpFeatureNames, mlpOnnx, sampleRows } from '../helpers/mlp';

interface Harness {
  url: string;
  close(): Promise<void>;
}

/**
 * A server that answers 200 with the number of values it read from a JSON body
 * `{"inputs": [{"data": [...], "shape": [1, n]}]}` whose data length matches its shape, and 400 otherwise;
 * `?chunked` answers in chunks, `?close` closes the connection after each answer, `?silent` never answers.
 */
async function startServer(): Promise<Harness> {
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.url?.includes('silent')) return;
      let count: number | null = null;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as {
          inputs?: { data?: unknown[]; shape?: number[] }[];
        };
        const input = body.inputs?.[0];
        const data = input?.data;
        const expected = (input?.shape ?? []).reduce((product, size) => product * size, 1);
        if (Array.isArray(data) && data.every((value) => typeof value === 'number') && data.length === expected) {
          count = data.length;
        }
      } catch {
        count = null;
      }
      const answer = JSON.stringify(count === null ? { error: 'bad request' } : { count });
      const status = count === null ? 400 : 200;
      if (request.url?.includes('chunked')) {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.write(answer.slice(0, 5));
        response.end(answer.slice(5));
        return;
      }
      const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json' };
      if (request.url?.includes('close')) headers['connection'] = 'close';
      response.writeHead(status, headers);
      response.end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/infer`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const GOOD = JSON.stringify({ inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });

describe('load generator (bench/load.ts)', () => {
  let harness: Harness;
  beforeEach(async () => {
    harness = await startServer();
  });
  afterEach(() => harness.close());

  it('closed loop: answers every request and counts the malformed share as the 400s', async () => {
    const responses: LoadResponse[] = [];
    const result = await runLoad({
      url: harness.url,
      body: GOOD,
      connections: 8,
      requests: 400,
      durationMs: 60_000,
      malformedShare: 0.1,
      onResponse: (response) => responses.push(response),
    });
    assert.equal(result.sent, 400);
    assert.equal(result.completed, 400);
    assert.ok(result.malformedSent > 10 && result.malformedSent < 80, `malformed: ${result.malformedSent}`);
    assert.deepEqual(result.malformedStatuses, { 400: result.malformedSent });
    assert.deepEqual(result.statuses, { 200: 400 - result.malformedSent, 400: result.malformedSent });
    assert.equal(result.latency.count, 400);
    assert.ok(result.latency.p50 <= result.latency.p99 && result.latency.p99 <= result.latency.max);
    for (const response of responses) {
      assert.equal(response.status, response.malformed ? 400 : 200);
      if (!response.malformed) assert.deepEqual(JSON.parse(response.body.toString()), { count: 4 });
    }
    assert.deepEqual(
      responses.map((response) => response.index).sort((a, b) => a - b),
      Array.from({ length: 400 }, (_, index) => index),
    );
  });

  it('every derived malformed body is refused by a server that checks names, types and shapes', async () => {
    const bodies = malformedBodies(GOOD);
    assert.ok(bodies.length >= 5);
    const result = await runLoad({
      url: harness.url,
      body: GOOD,
      malformedShare: 1,
      malformedBodies: bodies,
      connections: 2,
      requests: bodies.length * 3,
    });
    assert.deepEqual(result.statuses, { 400: bodies.length * 3 });
  });

  it('reads chunked answers and reconnects after a server closes the connection', async () => {
    const chunked: string[] = [];
    const first = await runLoad({
      url: `${harness.url}?chunked`,
      body: GOOD,
      connections: 4,
      requests: 100,
      onResponse: (response) => chunked.push(response.body.toString()),
    });
    assert.deepEqual(first.statuses, { 200: 100 });
    assert.ok(chunked.every((body) => body === '{"count":4}'));
    const closing = await runLoad({ url: `${harness.url}?close`, body: GOOD, connections: 4, requests: 100 });
    assert.deepEqual(closing.statuses, { 200: 100 });
    assert.deepEqual(closing.errors, {});
  });

  it('open loop: sends exactly what the schedule holds and counts rows of good answers', async () => {
    const result = await runLoad({ url: harness.url, body: GOOD, rate: 200, durationMs: 500, connections: 4, rows: 3 });
    assert.equal(result.mode, 'open');
    assert.equal(result.sent, 100);
    assert.deepEqual(result.statuses, { 200: 100 });
    assert.ok(result.rowsPerSecond > 0);
  });

  it('a request left unanswered fails with status 0 after the timeout', async () => {
    const result = await runLoad({
      url: `${harness.url}?silent`,
      body: GOOD,
      connections: 2,
      requests: 2,
      timeoutMs: 200,
    });
    assert.deepEqual(result.statuses, { 0: 2 });
    assert.deepEqual(result.errors, { timeout: 2 });
  });
});

describe('MLP benchmark model (test/helpers/mlp.ts)', () => {
  it('is an ONNX model onnxruntime runs: one probability per row, varying with the input, same bytes for the same seed', async () => {
    const bytes = mlpOnnx({ inputs: 20, hidden: [64, 32], seed: 3 });
    assert.deepEqual(bytes, mlpOnnx({ inputs: 20, hidden: [64, 32], seed: 3 }));
    assert.notDeepEqual(bytes, mlpOnnx({ inputs: 20, hidden: [64, 32], seed: 4 }));
    const signature = onnxSignature(bytes, 'mlp.onnx');
    assert.deepEqual(signature.inputs, [{ name: 'features', type: 'float32', shape: ['N', 20] }]);
    assert.deepEqual(signature.outputs, [{ name: 'probability', type: 'float32', shape: ['N', 1] }]);
    assert.deepEqual(JSON.parse(signature.metadata['feature_names'] ?? '[]'), mlpFeatureNames(20));
    const session = await ort.InferenceSession.create(bytes);
    const rows = sampleRows(50, 20);
    const output = await session.run({
      features: new ort.Tensor('float32', Float32Array.from(rows.flat()), [50, 20]),
    });
    const probability = output['probability'];
    assert.ok(probability);
    assert.deepEqual(probability.dims, [50, 1]);
    const values = Array.from(probability.data as Float32Array);
    assert.ok(values.every((value) => value > 0 && value < 1));
    assert.ok(new Set(values.map((value) => value.toFixed(4))).size > 10, 'the output hardly depends on the input');
    await session.release();
  });
});
