// The data drift is measured between: the reference (a workspace data file, or a dataset of the
// pipeline: the version the served model was trained on, a version named by digest, else the latest
// version, else the dataset's source file) and the current window of logged inputs (recent time or
// recent rows). The reference is read once per file and kept while the file is unchanged.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSource } from '../data/sources';
import type { Table } from '../data/sources';
import { readDatasets } from '../data/spec';
import type { SourceSpec } from '../data/spec';
import type { DatasetVersionRow, Store } from '../store';
import type { MonitoringSpec } from '../deploy/spec';
import type { PredictionLog } from './log';

/** Feature columns by name, one value per row. */
export type Columns = Record<string, (number | string | null)[]>;

/** The reference cannot be found or read: says which and what to do. */
export class ReferenceError extends Error {}

const cache = new Map<string, { mtimeMs: number; size: number; columns: Columns }>();

/** The format of a data file by its extension. */
function formatOf(file: string): SourceSpec['type'] {
  const extension = path.extname(file).toLowerCase();
  if (extension === '.csv') return 'csv';
  if (extension === '.parquet') return 'parquet';
  return 'jsonl';
}

/** Reads a data file into columns, cached while its size and mtime stay the same. */
export async function readColumnsFile(
  file: string,
  display: string,
  options: Record<string, unknown> = {},
): Promise<Columns> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new ReferenceError(
      `The drift reference ${display} does not exist. Fix monitoring.reference in the deployment file.`,
    );
  }
  const cached = cache.get(file);
  if (cached && cached.mtimeMs === stat.mtimeMs && cached.size === stat.size) return cached.columns;
  const snapshot = await readSource({ type: formatOf(file), path: file, options }, display);
  const columns = columnsOf(snapshot.table);
  cache.set(file, { mtimeMs: stat.mtimeMs, size: stat.size, columns });
  return columns;
}

function columnsOf(table: Table): Columns {
  const columns: Columns = {};
  for (const name of table.columns) columns[name] = new Array(table.rows.length);
  table.rows.forEach((row, index) => {
    for (const name of table.columns) {
      const value = row[name];
      (columns[name] as (number | string | null)[])[index] =
        value === undefined || value === null ? null : typeof value === 'boolean' ? String(value) : value;
    }
  });
  return columns;
}

/** Which file holds the reference, workspace-relative for messages; null when there is no reference. */
export function referenceFile(
  root: string,
  store: Store,
  reference: MonitoringSpec['reference'],
  trainedOn: unknown[],
): { file: string; display: string; options: Record<string, unknown> } | null {
  if (reference === null) return null;
  if ('path' in reference) return { file: reference.path, display: path.relative(root, reference.path), options: {} };
  const name = reference.dataset;
  const versions = store.db
    .prepare('SELECT * FROM dataset_versions WHERE dataset = ? ORDER BY version DESC')
    .all(name) as DatasetVersionRow[];
  const dataset = readDatasets(root).datasets.find((candidate) => candidate.name === name);
  const options = dataset?.source?.options ?? {};
  let chosen: DatasetVersionRow | undefined;
  if (reference.version !== null) {
    const wanted = reference.version;
    chosen = versions.find((row) => row.md5.startsWith(wanted) || String(row.version) === wanted);
    if (!chosen)
      throw new ReferenceError(
        `Dataset '${name}' has no version '${wanted}'. List them with 'cairn data versions ${name}' and fix monitoring.reference.version.`,
      );
  } else {
    const used = trainedOn
      .map((entry) => (entry !== null && typeof entry === 'object' ? (entry as Record<string, unknown>) : {}))
      .find((entry) => entry['name'] === name);
    const digest = used ? String(used['digest'] ?? used['md5'] ?? '') : '';
    const number = used ? String(used['version'] ?? '') : '';
    chosen =
      versions.find(
        (row) => (digest !== '' && row.md5.startsWith(digest)) || (number !== '' && String(row.version) === number),
      ) ?? versions[0];
  }
  if (chosen) return { file: path.resolve(root, chosen.path), display: chosen.path, options };
  if (dataset?.source && dataset.source.type !== 'sqlite')
    return { file: dataset.source.path, display: path.relative(root, dataset.source.path), options };
  throw new ReferenceError(
    `The drift reference dataset '${name}' has no version and no source file. Import it with 'cairn data import ${name}', or set monitoring.reference.path.`,
  );
}

/**
 * The logged inputs of the current window (answered requests; shadow copies repeat them): the last
 * `rows` rows, or the requests of the last `ms` before `now`.
 */
export function currentColumns(log: PredictionLog, window: { ms: number } | { rows: number }, now: number): Columns {
  const columns: Columns = {};
  let total = 0;
  const predictions =
    'ms' in window
      ? log.predictions({ from: now - window.ms, to: now + 1, withInputs: true })
      : log.predictions({ to: now + 1, withInputs: true, limit: window.rows });
  const answered = predictions.filter((prediction) => prediction.arm !== 'shadow' && prediction.status < 400);
  // With a row window the newest rows count: walk back from the newest request.
  const kept = 'rows' in window ? takeNewestRows(answered, window.rows) : answered;
  for (const prediction of kept) {
    const inputs = prediction.inputs ?? {};
    const rows = prediction.rows;
    for (const [name, values] of Object.entries(inputs)) {
      let column = columns[name];
      if (!column) {
        column = new Array<number | string | null>(total).fill(null);
        columns[name] = column;
      }
      for (let row = 0; row < rows; row++) {
        const value = values[row];
        column.push(typeof value === 'number' && Number.isNaN(value) ? null : (value ?? null));
      }
    }
    total += rows;
    for (const column of Object.values(columns)) while (column.length < total) column.push(null);
  }
  if ('rows' in window)
    for (const name of Object.keys(columns)) columns[name] = (columns[name] ?? []).slice(-window.rows);
  return columns;
}

function takeNewestRows<T extends { rows: number }>(predictions: readonly T[], rows: number): T[] {
  let count = 0;
  let start = predictions.length;
  while (start > 0 && count < rows) {
    start--;
    count += predictions[start]?.rows ?? 0;
  }
  return predictions.slice(start);
}
