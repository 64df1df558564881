// ONNX models for the serving tests, built with onnx-proto: a model with three inputs of different
// element types, one that always fails when run, and a small MLP where inference is real work.
import * as fs from 'node:fs';
import * as path from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const { FLOAT, INT64, BOOL } = onnx.TensorProto.DataType;

type Dim = string | number;

function valueInfo(name: string, elemType: number, shape: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: shape.map((size) => (typeof size === 'string' ? { dimParam: size } : { dimValue: size })) },
      },
    },
  };
}

function write(root: string, relative: string, model: onnxProto.onnx.ModelProto): string {
  const file = path.join(root, relative);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  return file;
}

/**
 * Inputs x float32 [N, 3], count int64 [N, 1], mask bool [N]; output total float32 [N, 1] =
 * sum(x) + count, and flag bool [N] = mask (passed through).
 */
export function writeMultiInputModel(root: string, relative: string): string {
  const model = onnx.ModelProto.fromObject({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'cairn-test',
    graph: {
      name: 'multi_input',
      node: [
        {
          opType: 'ReduceSum',
          input: ['x', 'axes'],
          output: ['sum'],
          attribute: [{ name: 'keepdims', i: 1, type: 2 }],
        },
        { opType: 'Cast', input: ['count'], output: ['count_float'], attribute: [{ name: 'to', i: FLOAT, type: 2 }] },
        { opType: 'Add', input: ['sum', 'count_float'], output: ['total'] },
        { opType: 'Identity', input: ['mask'], output: ['flag'] },
      ],
      initializer: [{ name: 'axes', dataType: INT64, dims: [1], int64Data: [1] }],
      input: [valueInfo('x', FLOAT, ['N', 3]), valueInfo('count', INT64, ['N', 1]), valueInfo('mask', BOOL, ['N'])],
      output: [valueInfo('total', FLOAT, ['N', 1]), valueInfo('flag', BOOL, ['N'])],
    },
  });
  return write(root, relative, model);
}

/** A model over features float32 [N, width] that always fails when run (a Reshape to 7 elements). */
export function writeFailingModel(
  root: string,
  relative: string,
  width: number,
  metadata: Record<string, string> = {},
): string {
  const model = onnx.ModelProto.fromObject({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'cairn-test',
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: 'failing',
      node: [{ opType: 'Reshape', input: ['features', 'shape'], output: ['probability'] }],
      initializer: [{ name: 'shape', dataType: INT64, dims: [2], int64Data: [7, 1] }],
      input: [valueInfo('features', FLOAT, ['N', width])],
      output: [valueInfo('probability', FLOAT, ['N', 1])],
    },
  });
  return write(root, relative, model);
}

/** Deterministic pseudo-random weights in [-0.5, 0.5). */
function weights(count: number, seed: number): number[] {
  let state = seed >>> 0;
  return Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  });
}

/** An MLP features float32 [N, inputs] → hidden layers with Relu → probability float32 [N, 1] (Sigmoid). */
export function writeMlpModel(
  root: string,
  relative: string,
  inputs: number,
  hidden: number[],
  metadata: Record<string, string> = {},
): string {
  const node: onnxProto.onnx.INodeProto[] = [];
  const initializer: onnxProto.onnx.ITensorProto[] = [];
  let previous = 'features';
  let width = inputs;
  const layers = [...hidden, 1];
  for (const [index, size] of layers.entries()) {
    initializer.push({
      name: `w${index}`,
      dataType: FLOAT,
      dims: [width, size],
      floatData: weights(width * size, index + 1),
    });
    initializer.push({ name: `b${index}`, dataType: FLOAT, dims: [size], floatData: weights(size, index + 101) });
    const last = index === layers.length - 1;
    node.push({ opType: 'Gemm', input: [previous, `w${index}`, `b${index}`], output: [last ? 'logit' : `h${index}`] });
    if (!last) node.push({ opType: 'Relu', input: [`h${index}`], output: [`r${index}`] });
    previous = `r${index}`;
    width = size;
  }
  node.push({ opType: 'Sigmoid', input: ['logit'], output: ['probability'] });
  const model = onnx.ModelProto.fromObject({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'cairn-test',
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: 'mlp',
      node,
      initializer,
      input: [valueInfo('features', FLOAT, ['N', inputs])],
      output: [valueInfo('probability', FLOAT, ['N', 1])],
    },
  });
  return write(root, relative, model);
}
