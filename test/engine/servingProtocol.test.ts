// The model server's protocols against a real server on 127.0.0.1 with real onnxruntime workers:
// V2 health, metadata, ready and infer (a weather-like model and a three-input one), MLflow's four
// payloads, CSV and /ping, 400s that say what is wrong, the bearer token, request ids, /metrics in
// the Prometheus text format, and a worker started from the built CLI bundle.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { ModelHost } from '../../server/engine/serving/modelHost';
import { ModelServer } from '../../server/engine/serving/server';
import { writeMultiInputModel } from '../helpers/servingModels';
import {
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
  weatherVersion,
} from '../helpers/serving';
import type { Reply } from '../helpers/serving';

const repository = path.resolve(__dirname, '../..');

/** Checks `text` line by line against the Prometheus text format 0.0.4; returns samples by series. */
function parsePrometheus(text: string): Map<string, number> {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const name = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const labels = `\\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*")*)?\\}`;
  const sample = new RegExp(`^(${name})(${labels})? (-?[0-9.e+-]+|\\+Inf|-Inf|NaN)$`);
  for (const line of text.slice(0, -1).split('\n')) {
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      assert.ok(!types.has(type[1] as string), `one TYPE line per metric: ${line}`);
      types.set(type[1] as string, type[2] as string);
      continue;
    }
    if (/^# HELP \S+ .*$/.test(line)) continue;
    const match = sample.exec(line);
    assert.ok(match, `not a Prometheus sample line: ${line}`);
    const metric = match[1] as string;
    const family = types.has(metric) ? metric : metric.replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(family), `sample before its TYPE line: ${line}`);
    samples.set(`${metric}${match[2] ?? ''}`, Number(match[3] === '+Inf' ? Infinity : match[3]));
  }
  return samples;
}

describe('serving protocols', function () {
  this.timeout(60_000);
  const directory = modelDirectory();

  afterEach(() => stopServers());

  it('answers V2 health, metadata, ready and infer for a weather-like model', async () => {
    const { url, records } = await startServer({ stable: weatherVersion(directory, 3, 0.1) }, { name: 'rain-api' });
    assert.deepEqual((await get(`${url}/v2/health/live`)).body, { live: true });
    assert.deepEqual((await get(`${url}/v2/health/ready`)).body, { ready: true });
    const metadata = await get(`${url}/v2/models/rain`);
    assert.deepEqual(metadata.body, {
      name: 'rain',
      versions: ['3'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 20] }],
      outputs: [{ name: 'probability', datatype: 'FP32', shape: [-1, 1] }],
    });
    assert.equal((await get(`${url}/v2/models/rain/versions/3`)).status, 200);
    assert.equal((await get(`${url}/v2/models/rain-api`)).status, 200, 'the deployment name is a model name too');
    assert.deepEqual((await get(`${url}/v2/models/rain/versions/3/ready`)).body, { name: 'rain', ready: true });
    const unknown = await get(`${url}/v2/models/snow`);
    assert.equal(unknown.status, 404);
    assert.match(
      String((unknown.body as { error: string }).error),
      /No model named 'snow'; this server serves 'rain', 'rain-api'/,
    );
    assert.equal((await get(`${url}/v2/models/rain/versions/9`)).status, 404);

    const rows = [featureRow(1), featureRow(2), featureRow(3)];
    const answer = await post(`${url}/v2/models/rain/infer`, v2Body(rows, { id: 'req-7' }), {
      'x-request-id': 'abc-123',
    });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.headers.get('x-request-id'), 'abc-123');
    const body = answer.body as {
      model_name: string;
      model_version: string;
      id: string;
      outputs: { shape: number[] }[];
    };
    assert.equal(body.model_name, 'rain');
    assert.equal(body.model_version, '3');
    assert.equal(body.id, 'req-7');
    assert.deepEqual(body.outputs[0]?.shape, [3, 1]);
    assertClose(
      v2Data(answer),
      rows.map((row) => expectedProbability(row, 0.1)),
    );
    const pinned = await post(`${url}/v2/models/rain/versions/3/infer`, v2Body([featureRow(4)]));
    assert.equal(pinned.status, 200);
    // Every request is reported with its id, arm, version, rows, inputs by feature name and outputs.
    const record = records.find((each) => each.requestId === 'abc-123');
    assert.ok(record);
    assert.equal(record.arm, 'stable');
    assert.equal(record.version, 'rain:3');
    assert.equal(record.protocol, 'v2');
    assert.equal(record.status, 200);
    assert.equal(record.rows, 3);
    assert.equal(record.fallback, false);
    assert.ok(record.latencyMs > 0);
    assert.deepEqual(
      record.inputs?.['f4']?.map((value) => Math.fround(Number(value))),
      rows.map((row) => Math.fround(row[4] as number)),
    );
    assert.deepEqual(record.outputs?.['probability'], v2Data(answer));
    const generated = await post(`${url}/v2/models/rain/infer`, v2Body([featureRow(5)]));
    assert.match(String(generated.headers.get('x-request-id')), /^[0-9a-f-]{36}$/);
  });

  it('reads V2 binary tensor data (Inference-Header-Content-Length) and checks its size', async () => {
    const { url } = await startServer({ stable: weatherVersion(directory, 1, 0.1) });
    const rows = [featureRow(1), featureRow(2)];
    const values = Float32Array.from(rows.flat());
    const binaryRequest = (size: number, raw: Uint8Array): Promise<Reply> => {
      const header = Buffer.from(
        JSON.stringify({
          inputs: [{ name: 'features', shape: [2, 20], datatype: 'FP32', parameters: { binary_data_size: size } }],
        }),
      );
      return post(`${url}/v2/models/rain/infer`, Buffer.concat([header, raw]), {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(header.length),
      });
    };
    const raw = new Uint8Array(values.buffer);
    const answer = await binaryRequest(raw.length, raw);
    assert.equal(answer.status, 200, answer.text);
    assertClose(
      v2Data(answer),
      rows.map((row) => expectedProbability(row, 0.1)),
    );
    const short = await binaryRequest(raw.length - 4, raw.subarray(0, raw.length - 4));
    assert.equal(short.status, 400);
    assert.match((short.body as { error: string }).error, /holds 40 values, but its binary data has 39/);
    const past = await binaryRequest(raw.length + 8, raw);
    assert.match((past.body as { error: string }).error, /binary_data_size 168 goes past the end of the body/);
  });

  it('answers the four MLflow payloads, CSV and /ping', async () => {
    const { url, records } = await startServer({ stable: weatherVersion(directory, 1, -0.2) });
    assert.equal((await get(`${url}/ping`)).status, 200);
    const rows = [featureRow(6), featureRow(7)];
    const expected = rows.map((row) => expectedProbability(row, -0.2));
    const record = (row: number[]): Record<string, number> =>
      Object.fromEntries(FEATURES.map((name, index) => [name, row[index] as number]));
    const reversed = [...FEATURES].reverse();
    const payloads = [
      { dataframe_split: { columns: reversed, data: rows.map((row) => reversed.map((name) => record(row)[name])) } },
      { dataframe_records: rows.map(record) },
      { instances: rows },
      { inputs: { features: rows } },
    ];
    for (const payload of payloads) {
      const answer = await post(`${url}/invocations`, JSON.stringify(payload));
      assert.equal(answer.status, 200, answer.text);
      assertClose((answer.body as { predictions: unknown }).predictions, expected, Object.keys(payload)[0]);
    }
    const csv = `${FEATURES.join(',')}\n${rows.map((row) => row.join(',')).join('\n')}\n`;
    const fromCsv = await post(`${url}/invocations`, csv, { 'content-type': 'text/csv' });
    assertClose((fromCsv.body as { predictions: unknown }).predictions, expected, 'csv');
    const unsupported = await post(`${url}/invocations`, 'x', { 'content-type': 'application/xml' });
    assert.equal(unsupported.status, 415);
    assert.equal((unsupported.body as { error_code: string }).error_code, 'BAD_REQUEST');
    assert.ok(records.filter((each) => each.protocol === 'mlflow' && each.status === 200).length >= 5);
  });

  it('serves a model with three inputs of different types over V2 and MLflow', async () => {
    const file = writeMultiInputModel(directory, 'multi.onnx');
    const { url } = await startServer({ stable: fileVersion(file, 'multi', 1) });
    const metadata = (await get(`${url}/v2/models/multi`)).body as { inputs: unknown[] };
    assert.deepEqual(metadata.inputs, [
      { name: 'x', datatype: 'FP32', shape: [-1, 3] },
      { name: 'count', datatype: 'INT64', shape: [-1, 1] },
      { name: 'mask', datatype: 'BOOL', shape: [-1] },
    ]);
    const answer = await post(
      `${url}/v2/models/multi/infer`,
      JSON.stringify({
        inputs: [
          { name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] },
          { name: 'count', shape: [2, 1], datatype: 'INT64', data: [10, 20] },
          { name: 'mask', shape: [2], datatype: 'BOOL', data: [true, false] },
        ],
      }),
    );
    assert.equal(answer.status, 200, answer.text);
    const outputs = (answer.body as { outputs: { name: string; datatype: string; data: unknown[] }[] }).outputs;
    assert.deepEqual(
      outputs.map((output) => [output.name, output.datatype, output.data]),
      [
        ['total', 'FP32', [16, 35]],
        ['flag', 'BOOL', [true, false]],
      ],
    );
    const mlflow = await post(
      `${url}/invocations`,
      JSON.stringify({ dataframe_records: [{ x: [1, 1, 1], count: 1, mask: false }] }),
    );
    assert.deepEqual(mlflow.body, { predictions: [{ total: 4, flag: false }] });
  });

  it('refuses requests that do not fit the signature with a 400 that says what is wrong', async () => {
    const { url, records } = await startServer({ stable: weatherVersion(directory, 1, 0.1) });
    const cases: [string, string, RegExp][] = [
      [
        '/v2/models/rain/infer',
        JSON.stringify({ inputs: [{ name: 'feature', shape: [1, 20], datatype: 'FP32', data: featureRow(1) }] }),
        /no input named 'feature'; its inputs are 'features'/,
      ],
      [
        '/v2/models/rain/infer',
        JSON.stringify({
          inputs: [{ name: 'features', shape: [1, 20], datatype: 'INT64', data: new Array(20).fill(1) }],
        }),
        /must have datatype FP32 .*the request says INT64/,
      ],
      [
        '/v2/models/rain/infer',
        JSON.stringify({ inputs: [{ name: 'features', shape: [2, 10], datatype: 'FP32', data: featureRow(1) }] }),
        /must have shape \[N, 20\] .*the request has \[2, 10\]/,
      ],
      ['/v2/models/rain/infer', '{"inputs": [', /not valid JSON/],
      ['/invocations', JSON.stringify({ dataframe_split: { columns: ['f0'], data: [[1]] } }), /missing columns f1, f2/],
      ['/invocations', JSON.stringify({ records: [] }), /needs one of "dataframe_split"/],
    ];
    for (const [route, body, message] of cases) {
      const answer = await post(`${url}${route}`, body);
      assert.equal(answer.status, 400, `${route} ${body.slice(0, 60)}`);
      const text =
        route === '/invocations'
          ? (answer.body as { message: string }).message
          : (answer.body as { error: string }).error;
      assert.match(text, message);
    }
    assert.equal(
      records.filter((record) => record.status === 400).length,
      cases.length - 1,
      'decoding errors are reported',
    );
    assert.ok(records.every((record) => record.status !== 400 || (record.error !== null && record.inputs === null)));
  });

  it('asks for the bearer token on model routes and metrics, not on health routes', async () => {
    const { url } = await startServer({ stable: weatherVersion(directory, 1, 0.1) }, { token: 's3cret' });
    const missing = await post(`${url}/v2/models/rain/infer`, v2Body([featureRow(1)]));
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="cairn"');
    const wrong = await post(`${url}/invocations`, JSON.stringify({ instances: [featureRow(1)] }), {
      authorization: 'Bearer nope',
    });
    assert.equal(wrong.status, 401);
    assert.match(String(wrong.headers.get('www-authenticate')), /error="invalid_token"/);
    assert.equal((await get(`${url}/metrics`)).status, 401);
    const right = await post(`${url}/v2/models/rain/infer`, v2Body([featureRow(1)]), {
      authorization: 'Bearer s3cret',
    });
    assert.equal(right.status, 200);
    assert.equal((await get(`${url}/v2/health/ready`)).status, 200);
    assert.equal((await get(`${url}/v2/health/live`)).status, 200);
    assert.equal((await get(`${url}/ping`)).status, 200);
    assert.equal((await get(`${url}/metrics`, { authorization: 'Bearer s3cret' })).status, 200);
    // The scheme is case-insensitive; the token is not, and a longer one is refused.
    assert.equal((await get(`${url}/metrics`, { authorization: 'bearer s3cret' })).status, 200);
    assert.equal((await get(`${url}/metrics`, { authorization: 'Bearer S3CRET' })).status, 401);
    assert.equal((await get(`${url}/metrics`, { authorization: 'Bearer s3cret2' })).status, 401);
    assert.equal((await get(`${url}/metrics`, { authorization: 'Basic s3cret' })).status, 401);
  });

  it('serves /metrics in the Prometheus text format with requests, latency, batch sizes and versions', async () => {
    const { url } = await startServer({ stable: weatherVersion(directory, 2, 0.1) });
    for (let index = 0; index < 3; index++) await post(`${url}/v2/models/rain/infer`, v2Body([featureRow(index)]));
    await post(`${url}/invocations`, JSON.stringify({ instances: [featureRow(1), featureRow(2)] }));
    await post(`${url}/v2/models/rain/infer`, '{}');
    const reply = await get(`${url}/metrics`);
    assert.equal(reply.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const samples = parsePrometheus(reply.text);
    assert.equal(samples.get('cairn_requests_total{version="rain:2",status="200",protocol="v2"}'), 3);
    assert.equal(samples.get('cairn_requests_total{version="rain:2",status="200",protocol="mlflow"}'), 1);
    assert.equal(samples.get('cairn_requests_total{version="rain:2",status="400",protocol="v2"}'), 1);
    assert.equal(samples.get('cairn_request_duration_seconds_count{version="rain:2",protocol="v2"}'), 4);
    assert.equal(samples.get('cairn_request_duration_seconds_bucket{version="rain:2",protocol="v2",le="+Inf"}'), 4);
    assert.equal(samples.get('cairn_batch_size_sum{version="rain:2"}'), 5);
    assert.equal(samples.get('cairn_rows_total{version="rain:2"}'), 5);
    assert.equal(samples.get('cairn_model_info{version="rain:2",arm="stable"}'), 1);
    assert.equal(samples.get('cairn_worker_up{version="rain:2"}'), 1);
    // Histogram buckets are cumulative.
    let previous = 0;
    for (const [series, value] of samples) {
      if (!series.startsWith('cairn_request_duration_seconds_bucket{version="rain:2",protocol="v2"')) continue;
      assert.ok(value >= previous, series);
      previous = value;
    }
  });

  it('answers 503 with Retry-After until the first version is ready', async () => {
    const server = new ModelServer({
      host: '127.0.0.1',
      port: 0,
      batch: { maxSize: 8, maxLatencyMs: 1 },
      timeoutMs: 5000,
    });
    const { port } = await server.start();
    try {
      const url = `http://127.0.0.1:${port}`;
      assert.equal((await get(`${url}/v2/health/live`)).status, 200);
      assert.equal((await get(`${url}/v2/health/ready`)).status, 503);
      assert.equal((await get(`${url}/ping`)).status, 503);
      const early = await post(`${url}/v2/models/rain/infer`, v2Body([featureRow(1)]));
      assert.equal(early.status, 503);
      assert.equal(early.headers.get('retry-after'), '5');
      assert.equal((await post(`${url}/invocations`, JSON.stringify({ instances: [featureRow(1)] }))).status, 503);
      await server.setVersions({ stable: weatherVersion(directory, 1, 0.1) });
      assert.equal((await post(`${url}/v2/models/rain/infer`, v2Body([featureRow(1)]))).status, 200);
    } finally {
      await server.stop({ drainMs: 1000 });
    }
  });

  it('runs the worker from the built CLI bundle (cairn.js __serve-worker)', async () => {
    const version = weatherVersion(directory, 1, 0.1);
    const host = new ModelHost(version.objectPath, {
      command: { module: path.join(repository, 'dist/cli/cairn.js'), args: ['__serve-worker'], execArgv: [] },
    });
    await host.ready;
    const outputs = await host.run({
      features: { type: 'float32', dims: [1, 20], data: Float32Array.from(featureRow(3)) },
    });
    assertClose(Array.from(outputs['probability']?.data as Float32Array), [expectedProbability(featureRow(3), 0.1)]);
    const pid = host.pid;
    assert.ok(pid);
    await host.stop();
    assert.equal(host.pid, null);
  });
});
