// Stage train: fits a logistic regression to data/features/train.json by full-batch gradient
// descent (params train.lr, train.epochs, train.l2) and exports it as models/model.onnx.
// Writes metrics/train.json with the final training loss and accuracy. When the environment variable
// CAIRN_METRICS_PATH names a file, one JSON line {"step": epoch, "loss"} is appended to it per epoch:
// that is how Cairn shows a run's metrics live.
import { appendFileSync } from 'node:fs';
import { logisticRegressionOnnx } from './onnx.mjs';
import { fail, numberParam, readJson, readParams, round6, writeJson, writeOutput } from './io.mjs';

const params = readParams('train');
const learningRate = numberParam(params, 'train', 'lr', 1e-6, 10);
const epochs = numberParam(params, 'train', 'epochs', 1, 100000);
const l2 = numberParam(params, 'train', 'l2', 0, 10);
if (!Number.isInteger(epochs)) fail(`params.yaml: train.epochs must be a whole number, got ${epochs}.`);

const data = readJson('data/features/train.json', 'Run the featurize stage first.');
const { features, labels } = data;
if (features.length === 0) fail('data/features/train.json has no examples.');
const livePath = process.env.CAIRN_METRICS_PATH;

// Gradient descent from zero weights: the loss is convex, so there is no need for a random start,
// and the result is the same on every run.
const featureCount = data.feature_names.length;
const weights = new Array(featureCount).fill(0);
let bias = 0;
for (let epoch = 1; epoch <= epochs; epoch += 1) {
  const weightGradient = new Array(featureCount).fill(0);
  let biasGradient = 0;
  let logLossSum = 0;
  for (let row = 0; row < features.length; row += 1) {
    const logit = dot(weights, features[row]) + bias;
    const error = sigmoid(logit) - labels[row];
    logLossSum += softplus(logit) - labels[row] * logit;
    for (let column = 0; column < featureCount; column += 1) weightGradient[column] += error * features[row][column];
    biasGradient += error;
  }
  // The loss reported for an epoch is the one of the weights the epoch started with.
  const loss = logLossSum / features.length + (l2 / 2) * dot(weights, weights);
  for (let column = 0; column < featureCount; column += 1) {
    weights[column] -= learningRate * (weightGradient[column] / features.length + l2 * weights[column]);
  }
  bias -= learningRate * (biasGradient / features.length);
  if (livePath) appendFileSync(livePath, `${JSON.stringify({ step: epoch, loss: round6(loss) })}\n`);
}

// The final loss and accuracy are those of the weights after the last step.
const logits = features.map((row) => dot(weights, row) + bias);
const finalLoss =
  logits.reduce((sum, logit, row) => sum + softplus(logit) - labels[row] * logit, 0) / features.length +
  (l2 / 2) * dot(weights, weights);
const correct = logits.filter((logit, row) => (logit >= 0 ? 1 : 0) === labels[row]).length;

writeOutput(
  'models/model.onnx',
  logisticRegressionOnnx({
    featureNames: data.feature_names,
    weights,
    bias,
    description:
      'Probability that it rains in Seattle tomorrow, from standardized weather of today and the days before.',
  }),
);
writeJson('metrics/train.json', {
  loss: round6(finalLoss),
  accuracy: round6(correct / features.length),
  epochs,
  examples: features.length,
});
console.log(
  `train: ${epochs} epochs, final loss ${finalLoss.toFixed(4)}, training accuracy ${(correct / features.length).toFixed(3)}`,
);

function dot(left, right) {
  let sum = 0;
  for (let index = 0; index < left.length; index += 1) sum += left[index] * right[index];
  return sum;
}

function sigmoid(logit) {
  return 1 / (1 + Math.exp(-logit));
}

/** log(1 + e^x), without overflow for large x. */
function softplus(logit) {
  return logit > 0 ? logit + Math.log1p(Math.exp(-logit)) : Math.log1p(Math.exp(logit));
}
