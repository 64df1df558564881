// Decoding requests against ONNX signatures: V2 infer bodies, MLflow's four payloads and CSV, plain
// columns for `cairn score`, the 400 messages for wrong names, types and shapes, and the encoded
// responses. The signatures are read from real ONNX files built with the shared test helper.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readOnnxSignature } from '../../server/engine/registry/signature';
import type { OnnxSignature } from '../../server/engine/registry/signature';
import {
  decodeMlflow,
  decodeV2Infer,
  encodeMlflowOutputs,
  encodeV2Outputs,
  isRequestError,
  rowsToTensors,
} from '../../server/engine/serving/inputs';
import type { Decoded, RequestError } from '../../server/engine/serving/inputs';
import { parseJson } from '../../server/engine/serving/json';
import { storedInputsOf } from '../../server/engine/monitor/storedInputs';
import { predictionRecord } from '../../server/engine/serving/record';
import { writeLogisticModel } from '../helpers/onnx';
import { writeMultiInputModel } from '../helpers/servingModels';

const NAMES = Array.from({ length: 20 }, (_, index) => `f${index}`);
const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-inputs-'));
const weather: OnnxSignature = readOnnxSignature(
  writeLogisticModel(directory, 'weather.onnx', new Array<number>(20).fill(0.1), 0, {
    feature_names: JSON.stringify(NAMES),
  }),
);
const plain: OnnxSignature = readOnnxSignature(writeLogisticModel(directory, 'plain.onnx', [1, 2, 3]));
const multi: OnnxSignature = readOnnxSignature(writeMultiInputModel(directory, 'multi.onnx'));

function ok(result: Decoded | RequestError): Decoded {
  if (isRequestError(result)) assert.fail(`expected a decoded request, got: ${result.message}`);
  return result;
}

function error(result: Decoded | RequestError): string {
  assert.ok(isRequestError(result), 'expected a 400');
  assert.equal(result.status, 400);
  return result.message;
}

function row(seed: number): number[] {
  return NAMES.map((_, index) => seed * 100 + index);
}

describe('serving inputs', () => {
  it('decodes a V2 infer body, flat or nested, and keeps id, parameters and asked outputs', () => {
    const flat = ok(
      decodeV2Infer(
        {
          id: 'r1',
          parameters: { user_id: 'u7' },
          inputs: [{ name: 'features', shape: [2, 20], datatype: 'FP32', data: [...row(1), ...row(2)] }],
          outputs: [{ name: 'probability' }],
        },
        weather,
      ),
    );
    assert.equal(flat.rows, 2);
    const tensor = flat.tensors['features'];
    assert.ok(tensor && tensor.data instanceof Float32Array);
    assert.deepEqual(tensor.dims, [2, 20]);
    assert.deepEqual(Array.from(tensor.data as Float32Array), [...row(1), ...row(2)]);
    assert.equal(flat.id, 'r1');
    assert.deepEqual(flat.parameters, { user_id: 'u7' });
    assert.deepEqual(flat.outputs, ['probability']);
    // The columns are the feature names, one value per row.
    assert.deepEqual(flat.columns['f3'], [103, 203]);
    const nested = ok(
      decodeV2Infer(
        { inputs: [{ name: 'features', shape: [2, 20], datatype: 'FP32', data: [row(1), row(2)] }] },
        weather,
      ),
    );
    assert.deepEqual(Array.from(nested.tensors['features']?.data as Float32Array), [...row(1), ...row(2)]);
    // The server reads V2 bodies with parseJson: number lists arrive as Float64Arrays, flat or nested.
    for (const data of [
      [...row(1), ...row(2)],
      [row(1), row(2)],
    ]) {
      const body = parseJson(
        Buffer.from(JSON.stringify({ inputs: [{ name: 'features', shape: [2, 20], datatype: 'FP32', data }] })),
      );
      const decoded = ok(decodeV2Infer(body, weather));
      assert.deepEqual(Array.from(decoded.tensors['features']?.data as Float32Array), [...row(1), ...row(2)]);
    }
    const short = parseJson(
      Buffer.from(JSON.stringify({ inputs: [{ name: 'features', shape: [2, 20], datatype: 'FP32', data: row(1) }] })),
    );
    assert.match(error(decodeV2Infer(short, weather)), /holds 40 values, but "data" has 20/);
  });

  it('says what is wrong with a V2 request: name, datatype, shape, count, element, missing input', () => {
    const body = (input: Record<string, unknown>): unknown => ({
      inputs: [{ name: 'features', shape: [1, 20], datatype: 'FP32', data: row(1), ...input }],
    });
    assert.match(
      error(decodeV2Infer(body({ name: 'feature' }), weather)),
      /no input named 'feature'; its inputs are 'features'/,
    );
    assert.match(
      error(decodeV2Infer(body({ datatype: 'FP64' }), weather)),
      /Input 'features' must have datatype FP32 \(the model takes features float32 \[N, 20\]\); the request says FP64/,
    );
    assert.match(
      error(decodeV2Infer(body({ shape: [1, 19], data: row(1).slice(1) }), weather)),
      /Input 'features' must have shape \[N, 20\] .*; the request has \[1, 19\]/,
    );
    assert.match(error(decodeV2Infer(body({ shape: [2, 20] }), weather)), /holds 40 values, but "data" has 20/);
    const bad = row(1) as unknown[];
    bad[5] = 'warm';
    assert.match(error(decodeV2Infer(body({ data: bad }), weather)), /element 5 of "data" is "warm" \(a string\)/);
    assert.match(error(decodeV2Infer({ inputs: [] }, weather)), /needs "inputs".*features float32 \[N, 20\]/);
    assert.match(
      error(decodeV2Infer({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }, multi)),
      /missing input .*mask bool \[N\]/,
    );
    assert.match(
      error(decodeV2Infer({ ...(body({}) as object), outputs: [{ name: 'label' }] }, weather)),
      /asks for output 'label'; the model's outputs are 'probability'/,
    );
  });

  it('decodes a multi-input model with int64 and bool inputs in V2 and checks integer values', () => {
    const decoded = ok(
      decodeV2Infer(
        {
          inputs: [
            { name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] },
            { name: 'count', shape: [2, 1], datatype: 'INT64', data: [7, 8] },
            { name: 'mask', shape: [2], datatype: 'BOOL', data: [true, false] },
          ],
        },
        multi,
      ),
    );
    assert.equal(decoded.rows, 2);
    assert.deepEqual(Array.from(decoded.tensors['count']?.data as BigInt64Array), [7n, 8n]);
    assert.deepEqual(Array.from(decoded.tensors['mask']?.data as Uint8Array), [1, 0]);
    assert.deepEqual(decoded.columns['x_1'], [2, 5]);
    assert.deepEqual(decoded.columns['count'], [7, 8]);
    const fractional = decodeV2Infer(
      {
        inputs: [
          { name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] },
          { name: 'count', shape: [1, 1], datatype: 'INT64', data: [1.5] },
          { name: 'mask', shape: [1], datatype: 'BOOL', data: [true] },
        ],
      },
      multi,
    );
    assert.match(error(fractional), /Input 'count' holds integers \(int64\); element 0 of "data" is 1.5/);
    const disagreeing = decodeV2Infer(
      {
        inputs: [
          { name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] },
          { name: 'count', shape: [1, 1], datatype: 'INT64', data: [1] },
          { name: 'mask', shape: [2], datatype: 'BOOL', data: [true, true] },
        ],
      },
      multi,
    );
    assert.match(error(disagreeing), /disagree on the number of rows/);
  });

  it('gives the prediction log the features as one numeric block that stores as the columns would', () => {
    const cases: Decoded[] = [
      ok(
        decodeV2Infer(
          { inputs: [{ name: 'features', shape: [2, 20], datatype: 'FP32', data: [...row(1), ...row(2)] }] },
          weather,
        ),
      ),
      ok(
        decodeV2Infer(
          { inputs: [{ name: 'features', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] },
          plain,
        ),
      ),
      ok(
        decodeV2Infer(
          {
            inputs: [
              { name: 'x', shape: [2, 3], datatype: 'FP32', data: [1.5, NaN, 3, 4, 5, 6] },
              { name: 'count', shape: [2, 1], datatype: 'INT64', data: [7, 8] },
              { name: 'mask', shape: [2], datatype: 'BOOL', data: [true, false] },
            ],
          },
          multi,
        ),
      ),
    ];
    for (const decoded of cases) {
      const block = decoded.numericColumns();
      assert.ok(block);
      assert.deepEqual(block.names, Object.keys(decoded.columns));
      const columns = Object.values(decoded.columns);
      assert.deepEqual(Array.from(block.data), columns.flat());
      // The log stores the block exactly as it stored the columns: same names text, same bytes.
      const record = { rows: decoded.rows, inputs: decoded.columns };
      const fromColumns = storedInputsOf(record);
      const fromBlock = storedInputsOf({ ...record, numericInputs: () => decoded.numericColumns() });
      assert.ok(fromColumns && fromBlock);
      assert.equal(fromBlock.names, fromColumns.names);
      assert.deepEqual(Buffer.from(fromBlock.data), Buffer.from(fromColumns.data));
    }
    const texts = { rows: 1, inputs: { city: ['Oslo'] }, numericInputs: () => null };
    assert.deepEqual(storedInputsOf(texts), { names: '', data: JSON.stringify({ city: ['Oslo'] }) });
  });

  it('decodes the four MLflow payloads to the same tensor, mapping columns by feature_names', () => {
    // Columns in another order than the model's, plus an extra column that is not a feature.
    const columns = ['user_id', ...[...NAMES].reverse()];
    const records = [row(1), row(2)].map((values, index) => ({
      user_id: `u${index}`,
      ...Object.fromEntries(NAMES.map((name, position) => [name, values[position]])),
    }));
    const expected = [...row(1), ...row(2)];
    const forms: unknown[] = [
      {
        dataframe_split: {
          columns,
          data: records.map((record) => columns.map((name) => (record as Record<string, unknown>)[name])),
        },
      },
      { dataframe_records: records },
      { instances: records },
      { instances: [row(1), row(2)] },
      { inputs: { features: [row(1), row(2)] } },
      { inputs: [row(1), row(2)] },
      { inputs: Object.fromEntries(NAMES.map((name, position) => [name, [row(1)[position], row(2)[position]]])) },
    ];
    for (const form of forms) {
      const decoded = ok(decodeMlflow(form, weather, 'application/json'));
      assert.equal(decoded.rows, 2, JSON.stringify(form).slice(0, 60));
      assert.deepEqual(Array.from(decoded.tensors['features']?.data as Float32Array), expected);
      assert.deepEqual(decoded.tensors['features']?.dims, [2, 20]);
    }
    const csv = `user_id,${NAMES.join(',')}\nu1,${row(1).join(',')}\nu2,${row(2).join(',')}\n`;
    const fromCsv = ok(decodeMlflow(csv, weather, 'text/csv; charset=utf-8'));
    assert.deepEqual(Array.from(fromCsv.tensors['features']?.data as Float32Array), expected);
    const withParams = ok(
      decodeMlflow({ dataframe_records: records, params: { user_id: 'u9' } }, weather, 'application/json'),
    );
    assert.deepEqual(withParams.parameters, { user_id: 'u9' });
  });

  it('says what is wrong with an MLflow request', () => {
    assert.match(
      error(decodeMlflow({ rows: [] }, weather, 'application/json')),
      /needs one of "dataframe_split".*it has "rows"/,
    );
    assert.match(
      error(decodeMlflow({ instances: [], inputs: [] }, weather, 'application/json')),
      /has "instances" and "inputs"; give only one/,
    );
    const missing = decodeMlflow(
      { dataframe_split: { columns: ['f0', 'f1'], data: [[1, 2]] } },
      weather,
      'application/json',
    );
    assert.match(
      error(missing),
      /missing columns f2, f3, .*\(18 in all\): the model's input 'features' takes the 20 columns f0, f1/,
    );
    const record = Object.fromEntries(NAMES.map((name) => [name, 1] as [string, unknown]));
    record['f4'] = 'hot';
    assert.match(
      error(decodeMlflow({ dataframe_records: [record] }, weather, 'application/json')),
      /Column 'f4' holds numbers \(float32\) \(input features float32 \[N, 20\]\); row 0 has "hot" \(a string\)/,
    );
    assert.match(error(decodeMlflow({ dataframe_records: [] }, weather, 'application/json')), /no rows/);
    assert.match(
      error(decodeMlflow({ instances: [[1, 2]] }, plain, 'application/json')),
      /must hold, per row, 3 values/,
    );
    assert.match(
      error(decodeMlflow('a,b\n1,2\n', multi, 'text/csv')),
      /no column 'x' \(x float32 \[N, 3\]\); it has a, b/,
    );
  });

  it('maps columns by input name for a multi-input model, and a nameless one by position', () => {
    const decoded = ok(
      decodeMlflow(
        {
          dataframe_records: [
            { x: [1, 2, 3], count: 4, mask: true },
            { x: [5, 6, 7], count: 8, mask: false },
          ],
        },
        multi,
        'application/json',
      ),
    );
    assert.deepEqual(decoded.tensors['x']?.dims, [2, 3]);
    assert.deepEqual(decoded.tensors['count']?.dims, [2, 1]);
    assert.deepEqual(decoded.tensors['mask']?.dims, [2]);
    assert.deepEqual(Array.from(decoded.tensors['count']?.data as BigInt64Array), [4n, 8n]);
    const positional = ok(
      decodeMlflow({ dataframe_split: { columns: ['a', 'b', 'c'], data: [[1, 2, 3]] } }, plain, 'application/json'),
    );
    assert.deepEqual(Array.from(positional.tensors['features']?.data as Float32Array), [1, 2, 3]);
  });

  it('turns text columns into tensors for cairn score, with empty cells as NaN', () => {
    const columns: Record<string, string[]> = Object.fromEntries(
      NAMES.map((name, index) => [name, [String(index), '']]),
    );
    const decoded = ok(rowsToTensors(weather, columns, 2));
    const data = decoded.tensors['features']?.data as Float32Array;
    assert.equal(data[3], 3);
    assert.ok(Number.isNaN(data[23]));
    columns['f2'] = ['1', 'x'];
    assert.match(error(rowsToTensors(weather, columns, 2)), /Column 'f2' .* row 1 has "x"/);
    assert.match(error(rowsToTensors(weather, { f0: ['1'] }, 2)), /Column 'f0' has 1 values; expected 2/);
  });

  it('encodes V2 and MLflow responses, with NaN as null', () => {
    const outputs = { probability: { type: 'float32', dims: [2, 1], data: Float32Array.from([0.25, NaN]) } };
    const v2 = JSON.parse(
      encodeV2Outputs(outputs, { modelName: 'rain', modelVersion: '3', id: 'r1', parameters: { fallback: true } }),
    );
    assert.deepEqual(v2, {
      model_name: 'rain',
      model_version: '3',
      id: 'r1',
      parameters: { fallback: true },
      outputs: [{ name: 'probability', datatype: 'FP32', shape: [2, 1], data: [0.25, null] }],
    });
    assert.deepEqual(JSON.parse(encodeMlflowOutputs(outputs, 2)), { predictions: [0.25, null] });
    const two = {
      label: { type: 'int64', dims: [2], data: BigInt64Array.from([1n, 0n]) },
      scores: { type: 'float32', dims: [2, 2], data: Float32Array.from([0.5, 0.5, 0.75, 0.25]) },
    };
    assert.deepEqual(JSON.parse(encodeMlflowOutputs(two, 2)), {
      predictions: [
        { label: 1, scores: [0.5, 0.5] },
        { label: 0, scores: [0.75, 0.25] },
      ],
    });
    const record = predictionRecord(
      {
        requestId: 'r1',
        at: 1,
        arm: 'stable',
        version: 'rain:3',
        protocol: 'v2',
        status: 200,
        latencyMs: 1,
        rows: 2,
        error: null,
        fallback: false,
        key: null,
      },
      { columns: { f0: [1, 2] } },
      two,
    );
    assert.deepEqual(JSON.parse(JSON.stringify(record)).outputs, {
      label: [1, 0],
      scores_0: [0.5, 0.75],
      scores_1: [0.5, 0.25],
    });
    assert.deepEqual(record.inputs, { f0: [1, 2] });
  });
});
