// Stage evaluate: scores the hold-out days with models/model.onnx, run by onnxruntime exactly as it
// would be served, and compares the model with two baselines that need no model at all:
// - majority: always the base rate of rainy days in the training data (an AUC of 0.5 by construction);
// - persistence: "tomorrow is like today", as the training frequencies P(rain tomorrow | rain today)
//   and P(rain tomorrow | dry today); at the 0.5 threshold it predicts rain tomorrow iff it rained today.
// Writes metrics/evaluate.json and plots/roc.json, and exits 1 when the model does not beat the
// majority baseline on both AUC and log loss.
import * as ort from 'onnxruntime-node';
import { classificationMetrics, rocCurve } from './metrics.mjs';
import { fail, numberParam, readJson, readParams, round6, writeJson } from './io.mjs';

const MODEL = 'models/model.onnx';

const params = readParams('evaluate');
const threshold = numberParam(params, 'evaluate', 'threshold', 0, 1);
const train = readJson('data/features/train.json', 'Run the featurize stage first.');
const holdout = readJson('data/features/holdout.json', 'Run the featurize stage first.');
const { labels } = holdout;

const modelProbabilities = await predict(MODEL, holdout.features, holdout.feature_names.length);
const baseRate = mean(train.labels);
const rainAfterRain = mean(train.labels.filter((_, row) => train.rained_today[row] === 1));
const rainAfterDry = mean(train.labels.filter((_, row) => train.rained_today[row] === 0));

const model = classificationMetrics(labels, modelProbabilities, threshold);
const majority = classificationMetrics(
  labels,
  labels.map(() => baseRate),
  threshold,
);
const persistence = classificationMetrics(
  labels,
  holdout.rained_today.map((rained) => (rained === 1 ? rainAfterRain : rainAfterDry)),
  threshold,
);

// The model's metrics are at the top level, where the registry gate (`auc >= ...`) looks them up.
writeJson('metrics/evaluate.json', {
  ...rounded(model),
  examples: labels.length,
  rain_rate: round6(mean(labels)),
  baselines: { majority: rounded(majority), persistence: rounded(persistence) },
});
writeJson(
  'plots/roc.json',
  rocCurve(labels, modelProbabilities).map(({ fpr, tpr }) => ({ fpr: round6(fpr), tpr: round6(tpr) })),
);

const line = (name, metrics) =>
  `${name.padEnd(12)} auc ${metrics.auc.toFixed(3)}  log loss ${metrics.log_loss.toFixed(3)}  ` +
  `accuracy ${metrics.accuracy.toFixed(3)}  f1 ${metrics.f1.toFixed(3)}`;
console.log(`evaluate: ${labels.length} hold-out days\n${line('model', model)}`);
console.log(`${line('majority', majority)}\n${line('persistence', persistence)}`);

if (!(model.auc > majority.auc && model.log_loss < majority.log_loss)) {
  fail(
    `${MODEL} does not beat the majority baseline on the hold-out days ` +
      `(AUC ${model.auc.toFixed(3)} vs ${majority.auc.toFixed(3)}, ` +
      `log loss ${model.log_loss.toFixed(3)} vs ${majority.log_loss.toFixed(3)}). Change the params and run again.`,
  );
}

/** Runs the ONNX model on all rows at once and returns one probability per row. */
async function predict(path, rows, featureCount) {
  let session;
  try {
    session = await ort.InferenceSession.create(path);
  } catch (error) {
    return fail(`cannot load ${path} with onnxruntime: ${error.message}. Run the train stage first.`);
  }
  const input = new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, featureCount]);
  const output = await session.run({ features: input });
  const probabilities = Array.from(output.probability.data);
  await session.release();
  return probabilities;
}

function mean(values) {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function rounded(metrics) {
  return Object.fromEntries(Object.entries(metrics).map(([name, value]) => [name, round6(value)]));
}
