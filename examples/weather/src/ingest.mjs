// Stage ingest: copies the raw Seattle weather CSV (from the vega-datasets package) into
// data/raw/seattle-weather.csv in a normal form: the six expected columns in a fixed order, rows
// sorted by date, numbers written canonically. It does not judge the values; that is the check stage.
//
// Usage: node src/ingest.mjs <source.csv> <destination.csv>
import { fail, readCsv, writeCsv } from './io.mjs';

const COLUMNS = ['date', 'precipitation', 'temp_max', 'temp_min', 'wind', 'weather'];
const NUMERIC = new Set(['precipitation', 'temp_max', 'temp_min', 'wind']);

const [source, destination] = process.argv.slice(2);
if (!source || !destination) fail('usage: node src/ingest.mjs <source.csv> <destination.csv>');

const records = readCsv(source, 'Run `npm install` in the repository root: the data comes from vega-datasets.');
if (records.length === 0) fail(`${source} has no rows.`);
const missing = COLUMNS.filter((column) => !(column in records[0]));
if (missing.length > 0) fail(`${source} lacks the column(s) ${missing.join(', ')}; expected ${COLUMNS.join(', ')}.`);

const normalized = records.map((record) => {
  const row = {};
  for (const column of COLUMNS) {
    const text = record[column].trim();
    // An empty cell stays empty (the check stage reports it); a number loses trailing zeros.
    row[column] = NUMERIC.has(column) && text !== '' && Number.isFinite(Number(text)) ? String(Number(text)) : text;
  }
  return row;
});
normalized.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));

writeCsv(destination, COLUMNS, normalized);
console.log(`ingest: ${normalized.length} rows from ${source} to ${destination}`);
