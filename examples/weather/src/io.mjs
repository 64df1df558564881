// File helpers shared by the stage scripts: params, CSV and JSON in and out, and failing with a
// message. Every write is deterministic (fixed key order, fixed number formatting, no timestamps)
// so that running a stage twice on the same inputs gives the same bytes, which the cache relies on.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { parse as parseYaml } from 'yaml';

/** Prints `message` as the stage's error and ends the process with exit code 1. */
export function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

/** Reads a text file, failing with the file's name and what to do when it cannot be read. */
export function readText(path, hint) {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    return fail(`cannot read ${path} (${error.code ?? error.message}). ${hint}`);
  }
}

/** Returns one section of params.yaml, failing when the section is missing. */
export function readParams(section) {
  const params = parseYaml(readText('params.yaml', 'Run the stage from examples/weather.'));
  const value = params?.[section];
  if (value === undefined || value === null) fail(`params.yaml has no "${section}" section.`);
  return value;
}

/** Returns a params value that must be a number between min and max, naming the key when it is not. */
export function numberParam(params, section, key, min, max) {
  const value = params[key];
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    fail(`params.yaml: ${section}.${key} must be a number from ${min} to ${max}, got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** Reads a CSV file with a header row into an array of records (all values are strings). */
export function readCsv(path, hint) {
  const text = readText(path, hint);
  try {
    return parseCsv(text, { columns: true, skip_empty_lines: true });
  } catch (error) {
    return fail(`${path} is not valid CSV: ${error.message}`);
  }
}

/** Writes records as CSV with the given columns in that order (the values here never need quoting). */
export function writeCsv(path, columns, records) {
  const lines = [columns.join(',')];
  for (const record of records) lines.push(columns.map((column) => String(record[column])).join(','));
  writeOutput(path, `${lines.join('\n')}\n`);
}

/** Reads a JSON file written by an earlier stage. */
export function readJson(path, hint) {
  const text = readText(path, hint);
  try {
    return JSON.parse(text);
  } catch (error) {
    return fail(`${path} is not valid JSON: ${error.message}`);
  }
}

/** Writes a value as indented JSON, for the small files people read (reports, metrics, scaler). */
export function writeJson(path, value) {
  writeOutput(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Writes a value as compact JSON, for the large feature files. */
export function writeCompactJson(path, value) {
  writeOutput(path, `${JSON.stringify(value)}\n`);
}

/** Writes a file, creating its folder first. */
export function writeOutput(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, contents);
}

/** Rounds to 6 decimals, so that metrics files do not change with the last bits of a float. */
export function round6(value) {
  return Math.round(value * 1e6) / 1e6;
}
