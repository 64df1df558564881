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

/** The logged inputs of the current window (the last `rows` rows, or those of the last `ms`), at most the newest maxRows. */
export function currentColumns(
  log: PredictionLog,
  window: { ms: number } | { rows: number },
  now: number,
  maxRows: number,
): Record<string, Float64Array | (number | string | null)[]> {
  return 'ms' in window
    ? log.inputColumns({ from: now - window.ms, to: now + 1 }, maxRows)
    : log.inputColumns({ to: now + 1 }, Math.min(window.rows, maxRows));
}
