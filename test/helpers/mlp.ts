// A multilayer perceptron as a real ONNX model, for serving benchmarks and tests where inference has
// to be real work: MatMul + Add + Relu per hidden layer, then MatMul + Add + Sigmoid to one
// probability. Weights come from a seeded sequence, so the same options give the same bytes. Like the
// weather model, it has one input `features` float32 [N, inputs] and the feature names in metadata.
import * as fs from 'node:fs';
import * as path from 'node:path';
import onnxProto from 'onnx-proto';
import { floatTensor } from './onnx';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

export interface MlpOptions {
  /** Number of input features (20, like the weather model). */
  inputs?: number;
  /** Width of each hidden layer. */
  hidden?: number[];
  seed?: number;
  /** The `feature_names` metadata; by default f00, f01, ... */
  featureNames?: string[];
}

/** Feature names f00, f01, ... for `count` features. */
export function mlpFeatureNames(count: number): string[] {
  return Array.from({ length: count }, (_, index) => `f${String(index).padStart(2, '0')}`);
}

/** A deterministic sequence in [-1, 1) (a linear congruential generator: quality does not matter here). */
function weightSequence(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 32) * 2 - 1;
  };
}

/** The encoded bytes of an MLP `inputs → hidden... → 1` with a sigmoid output named `probability`. */
export function mlpOnnx(options: MlpOptions = {}): Uint8Array {
  const inputs = options.inputs ?? 20;
  const hidden = options.hidden ?? [256, 256];
  const featureNames = options.featureNames ?? mlpFeatureNames(inputs);
  if (featureNames.length !== inputs) throw new Error(`mlpOnnx: ${featureNames.length} names for ${inputs} inputs.`);
  const next = weightSequence(options.seed ?? 42);
  const nodes: onnxProto.onnx.INodeProto[] = [];
  const initializers: onnxProto.onnx.ITensorProto[] = [];
  const widths = [inputs, ...hidden, 1];
  let current = 'features';
  for (let layer = 0; layer < widths.length - 1; layer++) {
    const fanIn = widths[layer] ?? 1;
    const fanOut = widths[layer + 1] ?? 1;
    // Uniform weights scaled by 1/sqrt(fan-in) keep activations of order one through the layers,
    // so the output probability is not stuck at 0 or 1.
    const scale = Math.sqrt(3 / fanIn);
    const weights = Array.from({ length: fanIn * fanOut }, () => next() * scale);
    const bias = Array.from({ length: fanOut }, () => next() * 0.1);
    initializers.push(
      { name: `w${layer}`, dataType: FLOAT, dims: [fanIn, fanOut], floatData: weights },
      { name: `b${layer}`, dataType: FLOAT, dims: [fanOut], floatData: bias },
    );
    const last = layer === widths.length - 2;
    nodes.push(
      { name: `matmul${layer}`, opType: 'MatMul', input: [current, `w${layer}`], output: [`m${layer}`] },
      { name: `add${layer}`, opType: 'Add', input: [`m${layer}`, `b${layer}`], output: [`z${layer}`] },
      last
        ? { name: 'sigmoid', opType: 'Sigmoid', input: [`z${layer}`], output: ['probability'] }
        : { name: `relu${layer}`, opType: 'Relu', input: [`z${layer}`], output: [`h${layer}`] },
    );
    current = `h${layer}`;
  }
  const model = onnx.ModelProto.fromObject({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'cairn-test',
    producerVersion: '1',
    metadataProps: [{ key: 'feature_names', value: JSON.stringify(featureNames) }],
    graph: {
      name: 'mlp',
      node: nodes,
      initializer: initializers,
      input: [floatTensor('features', ['N', inputs])],
      output: [floatTensor('probability', ['N', 1])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Writes an MLP to `root/relative` and returns its absolute path. */
export function writeMlpModel(root: string, relative: string, options: MlpOptions = {}): string {
  const file = path.join(root, relative);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, mlpOnnx(options));
  return file;
}

/** `rows` rows of `inputs` features in [-2, 2), seeded: the request bodies of benchmarks and tests. */
export function sampleRows(rows: number, inputs = 20, seed = 7): number[][] {
  const next = weightSequence(seed);
  return Array.from({ length: rows }, () => Array.from({ length: inputs }, () => Math.round(next() * 2000) / 1000));
}
