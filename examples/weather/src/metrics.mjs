// Classification metrics for binary labels (0/1) and predicted probabilities. Pure functions.

// Probabilities are clipped this far from 0 and 1 so that one confident mistake costs a large but
// finite log loss.
const EPSILON = 1e-15;

/** Accuracy, log loss, ROC AUC, precision, recall and F1, predicting 1 when probability >= threshold. */
export function classificationMetrics(labels, probabilities, threshold) {
  let truePositives = 0;
  let falsePositives = 0;
  let falseNegatives = 0;
  let correct = 0;
  labels.forEach((label, index) => {
    const predicted = probabilities[index] >= threshold ? 1 : 0;
    if (predicted === label) correct += 1;
    if (predicted === 1 && label === 1) truePositives += 1;
    if (predicted === 1 && label === 0) falsePositives += 1;
    if (predicted === 0 && label === 1) falseNegatives += 1;
  });
  // With no positive predictions precision is 0/0; it is reported as 0, as scikit-learn does.
  const precision = ratio(truePositives, truePositives + falsePositives);
  const recall = ratio(truePositives, truePositives + falseNegatives);
  return {
    accuracy: correct / labels.length,
    log_loss: logLoss(labels, probabilities),
    auc: rocAuc(labels, probabilities),
    precision,
    recall,
    f1: ratio(2 * precision * recall, precision + recall),
  };
}

/** Mean negative log likelihood of the labels. */
export function logLoss(labels, probabilities) {
  let sum = 0;
  labels.forEach((label, index) => {
    const probability = Math.min(Math.max(probabilities[index], EPSILON), 1 - EPSILON);
    sum -= label === 1 ? Math.log(probability) : Math.log(1 - probability);
  });
  return sum / labels.length;
}

/**
 * Area under the ROC curve: the chance that a random positive scores above a random negative,
 * counting ties as one half (so a constant score gets exactly 0.5).
 */
export function rocAuc(labels, probabilities) {
  const points = rocCurve(labels, probabilities);
  let area = 0;
  for (let index = 1; index < points.length; index += 1) {
    const previous = points[index - 1];
    const point = points[index];
    area += ((point.fpr - previous.fpr) * (point.tpr + previous.tpr)) / 2;
  }
  return area;
}

/** The ROC curve from (0, 0) to (1, 1): one point per distinct score, highest score first. */
export function rocCurve(labels, probabilities) {
  const positives = labels.filter((label) => label === 1).length;
  const negatives = labels.length - positives;
  const order = labels.map((_, index) => index).sort((a, b) => probabilities[b] - probabilities[a] || a - b);
  const points = [{ fpr: 0, tpr: 0 }];
  let truePositives = 0;
  let falsePositives = 0;
  order.forEach((index, position) => {
    if (labels[index] === 1) truePositives += 1;
    else falsePositives += 1;
    // Rows with the same score cross the threshold together: one point after the last of them.
    const next = order[position + 1];
    if (next === undefined || probabilities[next] !== probabilities[index]) {
      points.push({ fpr: ratio(falsePositives, negatives), tpr: ratio(truePositives, positives) });
    }
  });
  return points;
}

function ratio(numerator, denominator) {
  return denominator === 0 ? 0 : numerator / denominator;
}
