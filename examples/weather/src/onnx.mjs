// Builds the ONNX model of a logistic regression: probability = sigmoid(features · weights + bias).
// One Gemm node and one Sigmoid node; the batch dimension is left free ("N") so that one session
// scores any number of rows at once.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
// Opset 13 has every operator used here and is supported by onnxruntime 1.x of the last years.
const OPSET = 13;
const IR_VERSION = 8;

/** Returns the encoded ONNX bytes of a logistic regression over the named features. */
export function logisticRegressionOnnx({ featureNames, weights, bias, description }) {
  const featureCount = featureNames.length;
  const model = onnx.ModelProto.fromObject({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'cairn-weather-example',
    producerVersion: '1',
    docString: description,
    // Serving needs the feature order; the scaler that produced them is data/features/scaler.json.
    metadataProps: [{ key: 'feature_names', value: JSON.stringify(featureNames) }],
    graph: {
      name: 'logistic_regression',
      node: [
        { name: 'linear', opType: 'Gemm', input: ['features', 'weights', 'bias'], output: ['logit'] },
        { name: 'sigmoid', opType: 'Sigmoid', input: ['logit'], output: ['probability'] },
      ],
      initializer: [
        { name: 'weights', dataType: FLOAT, dims: [featureCount, 1], floatData: weights },
        { name: 'bias', dataType: FLOAT, dims: [1], floatData: [bias] },
      ],
      input: [tensorInfo('features', ['N', featureCount])],
      output: [tensorInfo('probability', ['N', 1])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

function tensorInfo(name, shape) {
  const dim = shape.map((size) => (typeof size === 'string' ? { dimParam: size } : { dimValue: size }));
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim } } } };
}
