// `cairn data ...`: import the datasets declared in the workspace's pipeline files as versions, list
// and compare versions, run checks, and consume streams into windowed versions.
import * as path from 'node:path';
import type { CheckFailure } from '../../engine/data/checks';
import { runChecks } from '../../engine/data/checks';
import { diffVersions } from '../../engine/data/diff';
import type { VersionDiff } from '../../engine/data/diff';
import { DataError, readSource } from '../../engine/data/sources';
import { readDatasets } from '../../engine/data/spec';
import type { DatasetSpec } from '../../engine/data/spec';
import { consumeStream, startIngestServer } from '../../engine/data/stream';
import { importDataset, versionDetails } from '../../engine/data/versions';
import type { ImportResult } from '../../engine/data/versions';
import { Store } from '../../engine/store';
import type { DatasetVersionRow } from '../../engine/store';
import { closest } from '../../spec/suggest';
import { rejectUnknownOptions, takeOption, UsageError } from '../args';
import { renderTable } from '../format';
import type { Command, CommandContext } from '../args';

export const dataCommand: Command = {
  usage: [
    'data import [NAME...] [--json]   Import declared datasets as new versions (default: all with a source).',
    'data versions NAME [--json]      List the versions of a dataset.',
    'data diff NAME V1 V2 [--json]    Compare two versions: schema, rows, profile shifts.',
    'data check NAME [--json]         Run the checks of a dataset on its source, recording nothing.',
    'data stream NAME [--max-batches N] [--json]',
    '                                 Consume a stream into windowed versions until Ctrl-C.',
  ],
  async run(context) {
    const action = context.args.shift();
    try {
      switch (action) {
        case 'import':
          return await importCommand(context);
        case 'versions':
          return versionsCommand(context);
        case 'diff':
          return diffCommand(context);
        case 'check':
          return await checkCommand(context);
        case 'stream':
          return await streamCommand(context);
        default:
          throw new UsageError(
            action
              ? `Unknown data command '${action}'. Use import, versions, diff, check or stream.`
              : 'data needs a command: import, versions, diff, check or stream.',
          );
      }
    } catch (error) {
      if (!(error instanceof DataError)) throw error;
      process.stderr.write(`cairn: ${error.message}\n`);
      return 1;
    }
  },
};

/** The declared datasets, or a usage error listing the problems of the `datasets` sections. */
function declaredDatasets(root: string): DatasetSpec[] {
  const { datasets, problems } = readDatasets(root);
  if (problems.length > 0)
    throw new UsageError(
      problems.map((problem) => `${display(problem.file)}:${problem.line}: ${problem.message}`).join('\n'),
    );
  return datasets;
}

function datasetNamed(datasets: DatasetSpec[], name: string | undefined): DatasetSpec {
  if (name === undefined) throw new UsageError('Give the name of a dataset.');
  const found = datasets.find((dataset) => dataset.name === name);
  if (found) return found;
  const names = datasets.map((dataset) => dataset.name);
  const suggestion = closest(name, names);
  throw new UsageError(
    `No dataset '${name}' in the pipeline files.${suggestion ? ` Did you mean '${suggestion}'?` : ''} Declared: ${names.join(', ') || 'none'}.`,
  );
}

async function importCommand({ root, json, args }: CommandContext): Promise<number> {
  rejectUnknownOptions(args);
  const datasets = declaredDatasets(root);
  const chosen =
    args.length > 0 ? args.map((name) => datasetNamed(datasets, name)) : datasets.filter((dataset) => dataset.source);
  if (chosen.length === 0)
    throw new UsageError('No dataset with a source is declared. Add one under datasets: in pipeline.yaml.');
  const store = Store.open(root);
  const results: (ImportResult | { dataset: string; status: 'error'; error: string })[] = [];
  try {
    for (const dataset of chosen) {
      try {
        results.push(await importDataset(store, root, dataset, Date.now()));
      } catch (error) {
        if (!(error instanceof DataError)) throw error;
        results.push({ dataset: dataset.name, status: 'error', error: error.message });
      }
    }
  } finally {
    store.close();
  }
  if (json) process.stdout.write(`${JSON.stringify({ results }, null, 2)}\n`);
  else
    for (const result of results) {
      if (result.status === 'error') process.stdout.write(`${result.dataset}: error: ${result.error}\n`);
      else if (result.status === 'created')
        process.stdout.write(
          `${result.dataset}: v${result.version} created (${result.rows} rows, ${bytes(result.size)}, md5 ${result.md5})\n`,
        );
      else if (result.status === 'unchanged')
        process.stdout.write(`${result.dataset}: unchanged, same content as v${result.version} (md5 ${result.md5})\n`);
      else {
        const dataset = chosen.find((candidate) => candidate.name === result.dataset);
        process.stdout.write(
          `${result.dataset}: checks failed, no version recorded\n${failureReport(result.failures, dataset)}`,
        );
      }
    }
  return results.some((result) => result.status === 'failed' || result.status === 'error') ? 1 : 0;
}

function versionsCommand({ root, json, args }: CommandContext): number {
  rejectUnknownOptions(args);
  const [name, ...extra] = args;
  if (extra.length > 0) throw new UsageError(`Unexpected argument '${extra[0]}'. Usage: cairn data versions NAME.`);
  const rows = withStore(root, (store) => store.datasetVersions(name ?? ''));
  if (rows.length === 0) datasetNamed(declaredDatasets(root), name);
  const listed = rows.map((row) => ({
    version: row.version,
    date: new Date(row.created_at).toISOString(),
    rows: row.rows,
    md5: row.md5,
    size: row.size,
    source: row.source,
    path: row.path,
    window_start: row.window_start,
    window_end: row.window_end,
  }));
  if (json) {
    process.stdout.write(`${JSON.stringify({ dataset: name, versions: listed }, null, 2)}\n`);
    return 0;
  }
  if (listed.length === 0) {
    process.stdout.write(`${name}: no versions yet. Run 'cairn data import ${name}'.\n`);
    return 0;
  }
  const table = [['VERSION', 'DATE', 'ROWS', 'MD5', 'SIZE', 'SOURCE']].concat(
    listed.map((row) => [
      `v${row.version}`,
      row.date,
      String(row.rows),
      row.md5,
      bytes(row.size),
      row.window_start ? `${row.source} [${row.window_start} → ${row.window_end}]` : row.source,
    ]),
  );
  process.stdout.write(renderTable(table));
  return 0;
}

function diffCommand({ root, json, args }: CommandContext): number {
  rejectUnknownOptions(args);
  const [name, first, second, ...extra] = args;
  if (name === undefined || first === undefined || second === undefined || extra.length > 0)
    throw new UsageError('Usage: cairn data diff NAME V1 V2 (versions as 1 or v1).');
  const [a, b] = withStore(root, (store) => [versionRow(store, name, first), versionRow(store, name, second)]);
  const before = versionDetails(a);
  const after = versionDetails(b);
  const diff = diffVersions({ rows: a.rows, ...before }, { rows: b.rows, ...after });
  if (json)
    process.stdout.write(`${JSON.stringify({ dataset: name, from: a.version, to: b.version, ...diff }, null, 2)}\n`);
  else process.stdout.write(diffReport(name, a.version, b.version, diff));
  return 0;
}

function versionRow(store: Store, name: string, text: string): DatasetVersionRow {
  const number = Number(text.replace(/^v/, ''));
  if (!Number.isInteger(number) || number < 1)
    throw new UsageError(`'${text}' is not a version: give 1, 2, ... or v1, v2, ...`);
  const row = store.datasetVersion(name, number);
  if (!row) {
    const known = store.datasetVersions(name).map((version) => `v${version.version}`);
    throw new UsageError(`${name} has no version ${number}. Versions: ${known.join(', ') || 'none'}.`);
  }
  return row;
}

async function checkCommand({ root, json, args }: CommandContext): Promise<number> {
  rejectUnknownOptions(args);
  const [name, ...extra] = args;
  if (extra.length > 0) throw new UsageError(`Unexpected argument '${extra[0]}'. Usage: cairn data check NAME.`);
  const dataset = datasetNamed(declaredDatasets(root), name);
  if (!dataset.source)
    throw new UsageError(`${dataset.name} has only a stream; its checks run on each window of 'cairn data stream'.`);
  const snapshot = await readSource(dataset.source, path.relative(root, dataset.source.path));
  const failures = runChecks(snapshot.table, dataset, Date.now());
  if (json)
    process.stdout.write(
      `${JSON.stringify({ dataset: dataset.name, rows: snapshot.table.rows.length, passed: failures.length === 0, failures }, null, 2)}\n`,
    );
  else if (failures.length === 0)
    process.stdout.write(
      `${dataset.name}: ${dataset.checks.length + dataset.columns.length} checks passed on ${snapshot.table.rows.length} rows\n`,
    );
  else process.stdout.write(`${dataset.name}: checks failed\n${failureReport(failures, dataset)}`);
  return failures.length === 0 ? 0 : 1;
}

async function streamCommand({ root, json, args }: CommandContext): Promise<number> {
  const maxText = takeOption(args, '--max-batches');
  rejectUnknownOptions(args);
  const maxBatches = maxText === undefined ? undefined : Number(maxText);
  if (maxBatches !== undefined && (!Number.isInteger(maxBatches) || maxBatches < 1))
    throw new UsageError(`--max-batches needs a whole number of at least 1, not '${maxText}'.`);
  const [name, ...extra] = args;
  if (extra.length > 0) throw new UsageError(`Unexpected argument '${extra[0]}'. Usage: cairn data stream NAME.`);
  const dataset = datasetNamed(declaredDatasets(root), name);
  if (!dataset.stream)
    throw new UsageError(`${dataset.name} has no stream section. Use 'cairn data import ${dataset.name}'.`);
  const controller = new AbortController();
  // Ctrl-C and SIGTERM stop between batches: the open window is abandoned and read again next time.
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const store = Store.open(root);
  const server = dataset.stream.type === 'http' ? await startIngestServer(root, dataset) : null;
  try {
    if (server && !json) {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : dataset.stream.port;
      process.stdout.write(`${dataset.name}: listening on http://${dataset.stream.host}:${port}/ingest\n`);
    }
    const outcome = await consumeStream({
      store,
      root,
      dataset,
      signal: controller.signal,
      ...(maxBatches === undefined ? {} : { maxBatches }),
      onBatch: (batch) =>
        process.stdout.write(
          json
            ? `${JSON.stringify({ dataset: dataset.name, ...batch })}\n`
            : `${dataset.name}: v${batch.version} ${batch.rows} rows [${batch.windowStart} → ${batch.windowEnd}] offset ${batch.offset}\n`,
        ),
    });
    if (outcome.reason === 'failed') {
      if (json)
        process.stdout.write(
          `${JSON.stringify({ dataset: dataset.name, failed: true, failures: outcome.failures })}\n`,
        );
      else
        process.stdout.write(
          `${dataset.name}: a window failed its checks, nothing recorded; stopped\n${failureReport(outcome.failures, dataset)}`,
        );
      return 1;
    }
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    store.close();
  }
}

function withStore<T>(root: string, work: (store: Store) => T): T {
  const store = Store.open(root);
  try {
    return work(store);
  } finally {
    store.close();
  }
}

/** The failures of a check run: the rule, its place in the spec, the count and the examples. */
function failureReport(failures: CheckFailure[], dataset: DatasetSpec | undefined): string {
  return failures
    .map((failure) => {
      const where = dataset ? `${display(dataset.file)}:${failure.specLine}: ` : '';
      const examples = failure.examples.map(
        (example) =>
          `      row ${example.row}${example.line === undefined ? '' : ` (line ${example.line})`}: ${JSON.stringify(example.value)}\n`,
      );
      return `  ${where}${failure.column ? `column '${failure.column}': ` : ''}${failure.rule}: ${failure.message}\n${examples.join('')}`;
    })
    .join('');
}

function diffReport(name: string, from: number, to: number, diff: VersionDiff): string {
  const lines = [`${name} v${from} → v${to}`, `  rows: ${diff.rows.from} → ${diff.rows.to}`];
  for (const column of diff.added)
    lines.push(`  + ${column.name} (${column.type}${column.nullable ? ', nullable' : ''})`);
  for (const column of diff.removed)
    lines.push(`  - ${column.name} (${column.type}${column.nullable ? ', nullable' : ''})`);
  for (const shift of diff.changed) {
    lines.push(`  ~ ${shift.column}`);
    if (shift.type) lines.push(`      type: ${shift.type.from} → ${shift.type.to}`);
    if (shift.nullable) lines.push(`      nullable: ${shift.nullable.from} → ${shift.nullable.to}`);
    for (const key of ['mean', 'std', 'null_share'] as const) {
      const change = shift[key];
      if (change) lines.push(`      ${key}: ${figure(change.from)} → ${figure(change.to)}`);
    }
    for (const [key, change] of Object.entries(shift.quantiles ?? {}))
      lines.push(`      ${key}: ${figure(change.from)} → ${figure(change.to)}`);
    if (shift.top)
      lines.push(
        `      top values: ${shift.top.added
          .map((value) => `+${JSON.stringify(value)}`)
          .concat(shift.top.removed.map((value) => `-${JSON.stringify(value)}`))
          .join(' ')}`,
      );
  }
  if (diff.added.length + diff.removed.length + diff.changed.length === 0) lines.push('  no schema or profile changes');
  return `${lines.join('\n')}\n`;
}

function figure(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toPrecision(6).replace(/\.?0+$/, '');
}

function bytes(size: number): string {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} kB`;
  return `${(size / 1024 / 1024).toFixed(1)} MB`;
}

function display(file: string): string {
  return path.relative(process.cwd(), file) || file;
}
