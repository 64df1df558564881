// Dataset versions: importing a batch source checks it, hashes its raw bytes (md5), copies them
// read-only into `.cairn/data/<name>/v<N>/<file>` and records the version with its inferred schema
// and profile in the store. Content identical to the latest version records nothing new.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DatasetVersionRow, Store } from '../store';
import { stateDir } from '../store';
import { runChecks } from './checks';
import type { CheckFailure } from './checks';
import { inferSchema } from './infer';
import type { InferredSchema } from './infer';
import { profileTable } from './profile';
import type { Profile } from './profile';
import { DataError, readSource } from './sources';
import type { Table } from './sources';
import type { DatasetSpec } from './spec';

export interface ImportResult {
  dataset: string;
  /** created: a new version; unchanged: same bytes as the latest version; failed: a check failed. */
  status: 'created' | 'unchanged' | 'failed';
  version: number | null;
  rows: number;
  md5: string;
  size: number;
  failures: CheckFailure[];
}

/** What a new version records besides its number and path. */
export interface NewVersion {
  dataset: string;
  source: string;
  fileName: string;
  bytes: Buffer;
  table: Table;
  createdAt: number;
  windowStart: string | null;
  windowEnd: string | null;
}

/** The md5 of some bytes, in hex. */
export function md5Of(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('hex');
}

/** The folder that holds the copies of every version of a dataset. */
export function datasetDir(root: string, dataset: string): string {
  return path.join(stateDir(root), 'data', dataset);
}

/** How a version's source is shown: the format and the workspace-relative path (and table). */
export function sourceLabel(root: string, dataset: DatasetSpec): string {
  const source = dataset.source;
  if (!source) return '';
  const relative = path.relative(root, source.path).split(path.sep).join('/');
  if (source.type !== 'sqlite') return `${source.type}:${relative}`;
  return `sqlite:${relative}${source.table ? `#${source.table}` : ' (query)'}`;
}

/** Imports a dataset's batch source as a new version, unless a check fails or nothing changed. */
export async function importDataset(
  store: Store,
  root: string,
  dataset: DatasetSpec,
  now: number,
): Promise<ImportResult> {
  if (!dataset.source)
    throw new DataError(
      `${path.relative(root, dataset.file)}:${dataset.line}: dataset '${dataset.name}' has no source (only a stream). Use 'cairn data stream ${dataset.name}'.`,
    );
  const snapshot = await readSource(dataset.source, path.relative(root, dataset.source.path));
  const md5 = md5Of(snapshot.bytes);
  const result = {
    dataset: dataset.name,
    rows: snapshot.table.rows.length,
    md5,
    size: snapshot.bytes.length,
  };
  const failures = runChecks(snapshot.table, dataset, now);
  if (failures.length > 0) return { ...result, status: 'failed', version: null, failures };
  const versions = store.datasetVersions(dataset.name);
  const latest = versions[versions.length - 1];
  if (latest?.md5 === md5) return { ...result, status: 'unchanged', version: latest.version, failures };
  const version = store.db
    .transaction(() =>
      recordVersion(store, root, {
        dataset: dataset.name,
        source: sourceLabel(root, dataset),
        fileName: snapshot.fileName,
        bytes: snapshot.bytes,
        table: snapshot.table,
        createdAt: now,
        windowStart: null,
        windowEnd: null,
      }),
    )
    .immediate();
  return { ...result, status: 'created', version, failures };
}

/**
 * Copies a version's bytes read-only into its folder and records it; returns its number. Call it
 * inside an immediate transaction, so the number it predicts is the number the store gives.
 */
export function recordVersion(store: Store, root: string, version: NewVersion): number {
  if (!store.db.inTransaction) throw new Error('recordVersion must run inside a store transaction');
  const existing = store.datasetVersions(version.dataset);
  const number = (existing[existing.length - 1]?.version ?? 0) + 1;
  const folder = path.join(datasetDir(root, version.dataset), `v${number}`);
  writeImmutable(folder, version.fileName, version.bytes);
  const schema: InferredSchema = inferSchema(version.table);
  const profile: Profile = profileTable(version.table, schema);
  const row: Omit<DatasetVersionRow, 'version'> = {
    dataset: version.dataset,
    created_at: version.createdAt,
    source: version.source,
    path: path.relative(root, path.join(folder, version.fileName)).split(path.sep).join('/'),
    md5: md5Of(version.bytes),
    size: version.bytes.length,
    rows: version.table.rows.length,
    schema: JSON.stringify(schema),
    profile: JSON.stringify(profile),
    window_start: version.windowStart,
    window_end: version.windowEnd,
  };
  const recorded = store.addDatasetVersion(row);
  if (recorded !== number) throw new Error(`dataset ${version.dataset}: expected version ${number}, got ${recorded}`);
  return recorded;
}

/**
 * Writes `bytes` to `folder/fileName` durably and read-only. A folder left by a process that died
 * before recording its version holds no recorded data, so it is replaced.
 */
function writeImmutable(folder: string, fileName: string, bytes: Buffer): void {
  if (fs.existsSync(folder)) {
    for (const entry of fs.readdirSync(folder)) fs.chmodSync(path.join(folder, entry), 0o644);
    fs.rmSync(folder, { recursive: true, force: true });
  }
  fs.mkdirSync(folder, { recursive: true });
  const target = path.join(folder, fileName);
  const temporary = `${target}.partial`;
  const descriptor = fs.openSync(temporary, 'w', 0o644);
  try {
    fs.writeSync(descriptor, bytes);
    fs.fsyncSync(descriptor);
  } finally {
    fs.closeSync(descriptor);
  }
  fs.chmodSync(temporary, 0o444);
  fs.renameSync(temporary, target);
}

/** A recorded version's schema and profile, parsed. */
export function versionDetails(row: DatasetVersionRow): { schema: InferredSchema; profile: Profile } {
  return { schema: JSON.parse(row.schema) as InferredSchema, profile: JSON.parse(row.profile) as Profile };
}
