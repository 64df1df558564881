// Stage featurize: turns the split daily weather into examples for "will it rain tomorrow?".
// One example per day t: today's weather, the weather of the `featurize.lags` days before, and the
// season (day of year as sine and cosine); the label is 1 when day t+1 has precipitation > 0.
// Features are standardized with the mean and standard deviation of the training examples only,
// saved to data/features/scaler.json so that serving can apply the same transform.
// Writes data/features/train.json, data/features/holdout.json and data/features/scaler.json.
import { fail, numberParam, readCsv, readParams, round6, writeCompactJson, writeCsv, writeJson } from './io.mjs';

const DAY_MS = 24 * 60 * 60 * 1000;
const LAGGED = ['precipitation', 'temp_max', 'temp_min', 'wind'];

const params = readParams('featurize');
const lags = numberParam(params, 'featurize', 'lags', 0, 14);
if (!Number.isInteger(lags)) fail(`params.yaml: featurize.lags must be a whole number, got ${lags}.`);

const hint = 'Run the split stage first.';
const trainDays = readCsv('data/split/train.csv', hint).map(parseDay);
const holdoutDays = readCsv('data/split/holdout.csv', hint).map(parseDay);
// Lags of the first hold-out days reach back into the training period: that weather is known on the
// day of the prediction, so it is fair to use. Labels never cross the boundary (see examplesOf).
const days = [...trainDays, ...holdoutDays];
const featureNames = featureNamesFor(lags);

const train = examplesOf(days, lags, 0, trainDays.length);
const holdout = examplesOf(days, lags, trainDays.length, days.length);
const scaler = scalerOf(featureNames, train.features);

const trainFeatures = standardized(train, scaler);
const holdoutFeatures = standardized(holdout, scaler);
writeJson('data/features/scaler.json', scaler);
writeCompactJson('data/features/train.json', trainFeatures);
writeCompactJson('data/features/holdout.json', holdoutFeatures);
// The same examples as tables with one column per model input: the training table is the reference
// a deployment's drift monitoring compares requests with, the hold-out table is what `cairn score`
// and the demo send to the model.
writeFeatureTable('data/features/train.csv', trainFeatures);
writeFeatureTable('data/features/holdout.csv', holdoutFeatures);
console.log(
  `featurize: ${featureNames.length} features, ${train.labels.length} training and ` +
    `${holdout.labels.length} hold-out examples`,
);

function parseDay(record) {
  const day = { date: record.date };
  for (const column of LAGGED) {
    day[column] = Number(record[column]);
    if (record[column] === '' || !Number.isFinite(day[column])) {
      fail(`${record.date}: ${column} is "${record[column]}", not a number; the check stage should have caught it.`);
    }
  }
  return day;
}

function featureNamesFor(lagCount) {
  const names = [
    'rained_today',
    'precipitation',
    'temp_max',
    'temp_min',
    'temp_range',
    'wind',
    'season_sin',
    'season_cos',
  ];
  for (let lag = 1; lag <= lagCount; lag += 1) {
    for (const column of LAGGED) names.push(`${column}_lag${lag}`);
  }
  return names;
}

/**
 * Returns the examples for the days with index in [start, end) that have `lagCount` days of history
 * and whose next day is also in [start, end), so that no label comes from the other split.
 */
function examplesOf(allDays, lagCount, start, end) {
  const examples = { dates: [], rained_today: [], labels: [], features: [] };
  for (let index = Math.max(start, lagCount); index + 1 < end; index += 1) {
    const today = allDays[index];
    const row = [
      today.precipitation > 0 ? 1 : 0,
      // Rainfall is heavily skewed (most days 0, a few over 30 mm): the logarithm keeps storms from
      // dominating the linear model.
      Math.log1p(today.precipitation),
      today.temp_max,
      today.temp_min,
      // A small spread between day and night temperature means clouds: a hint of rain to come.
      today.temp_max - today.temp_min,
      today.wind,
      ...seasonOf(today.date),
    ];
    for (let lag = 1; lag <= lagCount; lag += 1) {
      const past = allDays[index - lag];
      row.push(Math.log1p(past.precipitation), past.temp_max, past.temp_min, past.wind);
    }
    examples.dates.push(today.date);
    examples.rained_today.push(today.precipitation > 0 ? 1 : 0);
    examples.labels.push(allDays[index + 1].precipitation > 0 ? 1 : 0);
    examples.features.push(row);
  }
  return examples;
}

/** The day of the year as a point on a circle, so that 31 December and 1 January are neighbours. */
function seasonOf(date) {
  const time = Date.parse(`${date}T00:00:00Z`);
  const yearStart = Date.UTC(new Date(time).getUTCFullYear(), 0, 1);
  const angle = (2 * Math.PI * ((time - yearStart) / DAY_MS)) / 365.25;
  return [Math.sin(angle), Math.cos(angle)];
}

function scalerOf(names, rows) {
  const mean = names.map((_, column) => rows.reduce((sum, row) => sum + row[column], 0) / rows.length);
  const std = names.map((_, column) => {
    const variance = rows.reduce((sum, row) => sum + (row[column] - mean[column]) ** 2, 0) / rows.length;
    // A constant feature would divide by zero; leaving it unscaled keeps it harmless (it becomes 0).
    return variance > 0 ? Math.sqrt(variance) : 1;
  });
  return { feature_names: names, mean: mean.map(round6), std: std.map(round6) };
}

function standardized(examples, scaler) {
  return {
    feature_names: scaler.feature_names,
    ...examples,
    features: examples.features.map((row) =>
      row.map((value, column) => round6((value - scaler.mean[column]) / scaler.std[column])),
    ),
  };
}

function writeFeatureTable(path, examples) {
  const columns = ['date', ...examples.feature_names, 'label'];
  const records = examples.features.map((row, index) => {
    const record = { date: examples.dates[index], label: examples.labels[index] };
    examples.feature_names.forEach((name, column) => (record[name] = row[column]));
    return record;
  });
  writeCsv(path, columns, records);
}
