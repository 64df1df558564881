// Stage split: a time-based split of the checked raw data. The model is trained on the earlier days
// and judged on the last `split.holdout_fraction` of the days, as it would be used: on days after
// the ones it learned from. A random split would let the model peek at the weather around each
// hold-out day. Writes data/split/train.csv and data/split/holdout.csv.
import { fail, numberParam, readCsv, readParams, writeCsv } from './io.mjs';

const SOURCE = 'data/raw/seattle-weather.csv';
const COLUMNS = ['date', 'precipitation', 'temp_max', 'temp_min', 'wind', 'weather'];

const params = readParams('split');
const holdoutFraction = numberParam(params, 'split', 'holdout_fraction', 0.05, 0.5);

// ingest sorted the rows by date and check proved them consecutive, so row order is time order.
const records = readCsv(SOURCE, 'Run the ingest stage first.');
const holdoutRows = Math.round(records.length * holdoutFraction);
const trainRows = records.length - holdoutRows;
if (trainRows < 100 || holdoutRows < 30) {
  fail(`${SOURCE} has ${records.length} rows: too few for a split with holdout_fraction ${holdoutFraction}.`);
}

const train = records.slice(0, trainRows);
const holdout = records.slice(trainRows);
writeCsv('data/split/train.csv', COLUMNS, train);
writeCsv('data/split/holdout.csv', COLUMNS, holdout);
console.log(
  `split: train ${train.length} days (${train[0].date} to ${train.at(-1).date}), ` +
    `hold-out ${holdout.length} days (${holdout[0].date} to ${holdout.at(-1).date})`,
);
