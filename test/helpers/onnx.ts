// Small real ONNX models for tests: sigmoid(features · weights + bias) as Gemm + Sigmoid, encoded
// with onnx-proto the way the weather example builds its model.
import * as fs from 'node:fs';
import * as path from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

/** A float32 graph input or output: `shape` holds sizes and symbolic dimension names. */
export function floatTensor(name: string, shape: (string | number)[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: shape.map((size) => (typeof size === 'string' ? { dimParam: size } : { dimValue: size })) },
      },
    },
  };
}

/** The encoded bytes of a logistic regression over `weights.length` features, with optional metadata. */
export function logisticOnnx(weights: number[], bias = 0, metadata: Record<string, string> = {}): Uint8Array {
  const model = onnx.ModelProto.fromObject({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'cairn-test',
    producerVersion: '1',
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: 'logistic_regression',
      node: [
        { name: 'linear', opType: 'Gemm', input: ['features', 'weights', 'bias'], output: ['logit'] },
        { name: 'sigmoid', opType: 'Sigmoid', input: ['logit'], output: ['probability'] },
      ],
      initializer: [
        { name: 'weights', dataType: FLOAT, dims: [weights.length, 1], floatData: weights },
        { name: 'bias', dataType: FLOAT, dims: [1], floatData: [bias] },
      ],
      input: [floatTensor('features', ['N', weights.length])],
      output: [floatTensor('probability', ['N', 1])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Writes a logistic model to `root/relative` and returns its absolute path. */
export function writeLogisticModel(
  root: string,
  relative: string,
  weights: number[],
  bias = 0,
  metadata: Record<string, string> = {},
): string {
  const file = path.join(root, relative);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, logisticOnnx(weights, bias, metadata));
  return file;
}
