// `cairn monitor drift --reference FILE --current FILE [--features a,b] [--categorical a,b]
// [--method M] [--threshold X] [--share S] [--json]`: the drift report of two data files (CSV,
// JSON Lines or Parquet), with the tests a deployment's monitor runs. `cairn monitor` dispatches
// here (server/cli/commands/monitor.ts).
import * as path from 'node:path';
import type { DriftReport } from '../../shared/deployments';
import { DataError, readSource } from '../../engine/data/sources';
import type { SourceSpec } from '../../engine/data/spec';
import { DRIFT_METHODS, DriftError, driftReport } from '../../engine/drift/report';
import type { Columns, DriftMethod, DriftOptions } from '../../engine/drift/report';
import { rejectUnknownOptions, takeOption, UsageError } from '../args';
import type { CommandContext } from '../args';

export const monitorDriftUsage = [
  'monitor drift --reference FILE --current FILE [--features a,b] [--categorical a,b]',
  '              [--method M] [--threshold X] [--share S] [--json]',
  '                              Compare two data files (CSV, JSON Lines, Parquet) feature by feature',
  "                              with Evidently's tests (M: ks, chi2, z, wasserstein, jensenshannon,",
  '                              psi); dataset drift when a share S (0.5) of the features drifted.',
];

const SOURCE_TYPES: Record<string, SourceSpec['type']> = {
  '.csv': 'csv',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.parquet': 'parquet',
};

/** Runs `cairn monitor drift`; `context.args` are the arguments after `drift`. */
export async function runDriftCommand(context: CommandContext): Promise<number> {
  const { args, json } = context;
  const referenceFile = takeOption(args, '--reference');
  const currentFile = takeOption(args, '--current');
  const features = listOption(takeOption(args, '--features'), '--features');
  const categorical = listOption(takeOption(args, '--categorical'), '--categorical');
  const method = methodOption(takeOption(args, '--method'));
  const threshold = numberOption(takeOption(args, '--threshold'), '--threshold', false);
  const share = numberOption(takeOption(args, '--share'), '--share', true);
  rejectUnknownOptions(args);
  if (args.length > 0) throw new UsageError(`Unexpected argument '${args[0]}'.`);
  if (!referenceFile || !currentFile)
    throw new UsageError('monitor drift needs --reference FILE and --current FILE (CSV, JSON Lines or Parquet).');
  const options: DriftOptions = {};
  if (features) options.features = features;
  if (categorical) options.categorical = categorical;
  if (method) options.method = method;
  if (threshold !== undefined) options.threshold = threshold;
  if (share !== undefined) options.share = share;
  let report: DriftReport;
  try {
    const reference = await readColumns(referenceFile);
    const current = await readColumns(currentFile);
    report = driftReportOfFiles(reference, current, referenceFile, currentFile, options);
  } catch (error) {
    if (!(error instanceof DataError)) throw error;
    process.stderr.write(`cairn: ${error.message}\n`);
    return 1;
  }
  process.stdout.write(json ? `${JSON.stringify(report)}\n` : formatReport(report, referenceFile, currentFile));
  return 0;
}

/** Reads a data file into columns; a DataError names the file. */
async function readColumns(file: string): Promise<Columns> {
  const type = SOURCE_TYPES[path.extname(file).toLowerCase()];
  if (!type) throw new DataError(`${file}: unknown data format. Give a .csv, .jsonl (or .ndjson) or .parquet file.`);
  const { table } = await readSource({ type, path: path.resolve(file), options: {} }, file);
  if (table.rows.length === 0) throw new DataError(`${file}: no rows. Give a file with a header and data rows.`);
  const columns: Columns = {};
  for (const name of table.columns) columns[name] = table.rows.map((row) => row[name] ?? null);
  return columns;
}

/** driftReport, with its input errors turned into DataErrors that name the file concerned. */
function driftReportOfFiles(
  reference: Columns,
  current: Columns,
  referenceFile: string,
  currentFile: string,
  options: DriftOptions,
): DriftReport {
  for (const feature of [...(options.features ?? []), ...(options.categorical ?? [])])
    for (const [columns, file] of [
      [reference, referenceFile],
      [current, currentFile],
    ] as const)
      if (!Object.prototype.hasOwnProperty.call(columns, feature))
        throw new DataError(
          `${file}: no column '${feature}'. Its columns: ${Object.keys(columns).join(', ')}. Fix --features or --categorical.`,
        );
  try {
    return driftReport(reference, current, options);
  } catch (error) {
    if (!(error instanceof DriftError)) throw error;
    const file = /\bcurrent\b/.test(error.message) ? currentFile : referenceFile;
    throw new DataError(`${file}: ${error.message}`);
  }
}

function listOption(value: string | undefined, name: string): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  if (items.length === 0) throw new UsageError(`${name} needs one or more column names, such as ${name} a,b.`);
  return items;
}

function methodOption(value: string | undefined): DriftMethod | undefined {
  if (value === undefined) return undefined;
  const method = DRIFT_METHODS.find((known) => known === value);
  if (!method) throw new UsageError(`Unknown --method '${value}'. Use one of ${DRIFT_METHODS.join(', ')}.`);
  return method;
}

function numberOption(value: string | undefined, name: string, share: boolean): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number < 0 || (share && number > 1))
    throw new UsageError(`${name} needs a number${share ? ' between 0 and 1' : ' of 0 or more'}, not '${value}'.`);
  return number;
}

/** The report as a table, one feature a line, and the dataset verdict. */
export function formatReport(report: DriftReport, referenceFile: string, currentFile: string): string {
  const header = ['feature', 'kind', 'test', 'statistic', 'p-value', 'threshold', 'drift'];
  const rows = report.features.map((feature) => [
    feature.feature,
    feature.kind,
    feature.test,
    formatNumber(feature.statistic),
    feature.pValue === null ? '-' : formatNumber(feature.pValue),
    String(feature.threshold),
    feature.drifted ? 'DRIFT' : 'ok',
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  const verdict = report.datasetDrift ? 'Dataset drift' : 'No dataset drift';
  return [
    `${currentFile} (${report.currentRows} rows) against ${referenceFile} (${report.referenceRows} rows):`,
    line(header),
    ...rows.map(line),
    `${verdict}: ${report.driftedFeatures} of ${report.features.length} features drifted (share ${report.share.toFixed(2)}, threshold ${report.shareThreshold}).`,
    '',
  ].join('\n');
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value !== 0 && Math.abs(value) < 1e-4) return value.toExponential(3);
  return value.toFixed(4);
}
