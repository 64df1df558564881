// `cairn exp list|show|compare|experiments|tag|untag|table|history`: tracked experiment runs, filtered and
// sorted, one in full, or several side by side; the experiments with their run counts; tags set and
// removed on a run; the compact table and metric histories the editor's experiments table reads. A bad filter or sort, or a run reference that names no run, exits with 2.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store, stateDir } from '../../engine/store';
import { FilterError, parseFilter, parseSort } from '../../engine/tracking/filter';
import { compileFilter, queryRuns } from '../../engine/tracking/query';
import type { RunRow } from '../../engine/tracking/query';
import { compareRuns, metricHistory, resolveRun, RunNotFound, runDetail } from '../../engine/tracking/read';
import type { RunDetail } from '../../engine/tracking/read';
import { runTableJson } from '../../engine/tracking/table';
import { deleteTags, experimentSummaries, runTags } from '../../engine/tracking/tags';
import type { ExperimentSummary } from '../../engine/tracking/tags';
import { Tracker } from '../../engine/tracking/tracker';
import { rejectUnknownOptions, takeOption, UsageError } from '../args';
import { renderTable } from '../format';
import { formatGateReport } from '../../engine/gates/evaluate';
import { gateReportsOfRun } from '../../engine/gates/reports';
import { SWEEP_USAGE, sweepCommand } from './sweep';
import type { Command, CommandContext } from '../args';

/** How many metric and param columns `exp list` shows at most (--json has them all). */
const MAX_COLUMNS = 8;

export const expCommand: Command = {
  usage: [
    ...SWEEP_USAGE,
    'exp list [--experiment NAME] [--filter EXPR] [--sort COL] [--limit N] [--offset N] [--json]',
    '                              Tracked runs, e.g. --filter "metrics.auc >= 0.8" --sort "metrics.auc DESC".',
    'exp show RUN [--json]         Everything recorded about a run (id, id prefix or name).',
    'exp compare RUN RUN... [--json]  Param differences and metric deltas against the first run.',
    'exp experiments [--json]      Experiments with their run counts, the most recently used first.',
    'exp tag RUN KEY=VALUE... [--json]  Sets tags on a run (cairn.starred=true stars it).',
    'exp untag RUN KEY... [--json]  Removes tags from a run.',
    "exp note RUN TEXT [--json]    Sets the run's note (why it was run, what it showed).",
    'exp table [--experiment NAME] [--filter EXPR] [--sort COL] [--limit N] [--offset N] --json',
    '                              Matching runs as rows, a column per param, metric and tag (for the editor).',
    'exp history RUN... [--metric KEY]... --json  Metric histories of runs, step by step.',
  ],
  run(context) {
    const action = context.args.shift();
    // A workspace without a store has no tracked runs; reading must not create one.
    const hasStore = fs.existsSync(path.join(stateDir(context.root), 'cairn.db'));
    switch (action) {
      case 'list':
        return listCommand(context, hasStore);
      case 'show':
        return withStore(context, hasStore, (store) => showCommand(context, store));
      case 'run':
        return sweepCommand(context);
      case 'compare':
        return withStore(context, hasStore, (store) => compareCommand(context, store));
      case 'experiments':
        return experimentsCommand(context, hasStore);
      case 'tag':
        return withStore(context, hasStore, (store) => tagCommand(context, store));
      case 'untag':
        return withStore(context, hasStore, (store) => untagCommand(context, store));
      case 'note':
        return withStore(context, hasStore, (store) => noteCommand(context, store));
      case 'table':
        return tableCommand(context, hasStore);
      case 'history':
        return withStore(context, hasStore, (store) => historyCommand(context, store));
      default:
        throw new UsageError(
          action === undefined
            ? 'exp needs an action: run, list, show, compare, experiments, tag, untag, note, table or history.'
            : `Unknown exp action '${action}'.`,
        );
    }
  },
};

function withStore(context: CommandContext, hasStore: boolean, work: (store: Store) => number): number {
  if (!hasStore) throw new UsageError(`No tracked runs in ${context.root} (no .cairn/cairn.db).`);
  const store = Store.open(context.root);
  try {
    return work(store);
  } catch (error) {
    if (error instanceof RunNotFound) throw new UsageError(error.message);
    throw error;
  } finally {
    store.close();
  }
}

function wholeNumber(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new UsageError(`${name} needs a whole number, got '${text}'.`);
  return value;
}

/** Reports a bad --filter or --sort as a usage error (exit 2), even in a workspace with no runs yet. */
function checkQuery(filter: string | undefined, sort: string | undefined): void {
  try {
    if (filter !== undefined && filter.trim() !== '') compileFilter(parseFilter(filter));
  } catch (error) {
    if (error instanceof FilterError)
      throw new UsageError(`bad --filter: ${error.message}.\n  ${filter}\n  ${' '.repeat(error.column - 1)}^`);
    throw error;
  }
  try {
    if (sort !== undefined && sort.trim() !== '') parseSort(sort);
  } catch (error) {
    if (error instanceof FilterError) throw new UsageError(`bad --sort: ${error.message}.`);
    throw error;
  }
}

function listCommand(context: CommandContext, hasStore: boolean): number {
  const { args, json } = context;
  const experiment = takeOption(args, '--experiment');
  const filter = takeOption(args, '--filter');
  const sort = takeOption(args, '--sort');
  const limit = wholeNumber('--limit', takeOption(args, '--limit'), 100);
  const offset = wholeNumber('--offset', takeOption(args, '--offset'), 0);
  rejectUnknownOptions(args);
  if (args.length > 0) throw new UsageError(`exp list takes no arguments, got '${args[0] ?? ''}'.`);
  checkQuery(filter, sort);
  let rows: RunRow[] = [];
  if (hasStore) {
    const store = Store.open(context.root);
    try {
      rows = queryRuns(store.db, {
        ...(experiment !== undefined ? { experiment } : {}),
        ...(filter !== undefined ? { filter } : {}),
        ...(sort !== undefined ? { sort } : {}),
        limit,
        offset,
      });
    } finally {
      store.close();
    }
  }
  if (json) {
    process.stdout.write(`${JSON.stringify({ runs: rows }, null, 2)}\n`);
    return 0;
  }
  if (rows.length === 0) {
    process.stdout.write('No tracked runs match.\n');
    return 0;
  }
  process.stdout.write(renderTable(listTable(rows)));
  return 0;
}

const EMPTY = '-';

/** A metric value short enough for a table cell. */
function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(5)));
}

function formatTime(milliseconds: number | null): string {
  return milliseconds === null ? EMPTY : new Date(milliseconds).toISOString().replace('T', ' ').slice(0, 19);
}

function formatDuration(milliseconds: number | null): string {
  if (milliseconds === null) return EMPTY;
  if (milliseconds < 1000) return `${milliseconds}ms`;
  const seconds = milliseconds / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes}m${Math.round(seconds % 60)}s` : `${Math.floor(minutes / 60)}h${minutes % 60}m`;
}

function listTable(rows: RunRow[]): string[][] {
  const keys = (pick: (row: RunRow) => Record<string, unknown>): string[] =>
    [...new Set(rows.flatMap((row) => Object.keys(pick(row))))].sort().slice(0, MAX_COLUMNS);
  const metricKeys = keys((row) => row.metrics);
  const paramKeys = keys((row) => row.params);
  const header = [
    'RUN',
    'NAME',
    'EXPERIMENT',
    'STATUS',
    'STARTED',
    'DURATION',
    ...metricKeys.map((key) => `metrics.${key}`),
    ...paramKeys.map((key) => `params.${key}`),
  ];
  return [
    header,
    ...rows.map((row) => [
      row.id.slice(0, 8),
      row.name,
      row.experiment,
      row.status,
      formatTime(row.start_time),
      formatDuration(row.duration),
      ...metricKeys.map((key) => {
        const value = row.metrics[key];
        return value === undefined ? EMPTY : formatNumber(value);
      }),
      ...paramKeys.map((key) => row.params[key] ?? EMPTY),
    ]),
  ];
}

function showCommand(context: CommandContext, store: Store): number {
  const { args, json } = context;
  rejectUnknownOptions(args);
  if (args.length !== 1) throw new UsageError('exp show needs one run (an id, an id prefix or a name).');
  const detail = runDetail(store.db, resolveRun(store.db, args[0] ?? ''));
  if (!detail) throw new UsageError(`No run '${args[0] ?? ''}'.`);
  const gates = gateReportsOfRun(store, detail.id);
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...detail, gates }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(renderDetail(detail));
  for (const gate of gates) {
    const outcome = gate.version !== null ? `, registered as v${gate.version}` : gate.passed ? '' : ', not registered';
    process.stdout.write(`\n${formatGateReport(gate.report, `Gate of ${gate.model}${outcome}`)}`);
  }
  return 0;
}

function noteCommand(context: CommandContext, store: Store): number {
  const { args, json } = context;
  rejectUnknownOptions(args);
  if (args.length < 2) throw new UsageError('exp note needs a run and the note text: exp note RUN "why this run".');
  const runId = resolveRun(store.db, args[0] ?? '');
  const note = args.slice(1).join(' ');
  Tracker.open(store).setNote(runId, note);
  process.stdout.write(json ? `${JSON.stringify({ run: runId, note })}\n` : `Noted on run ${runId.slice(0, 8)}.\n`);
  return 0;
}

function renderDetail(detail: RunDetail): string {
  const lines: string[] = [];
  const field = (name: string, value: string): void => {
    lines.push(`${(name === '' ? '' : `${name}:`).padEnd(13)}${value}`);
  };
  field('Run', detail.id);
  field('Name', detail.name);
  field('Experiment', detail.experiment);
  if (detail.parent !== null) field('Parent', detail.parent);
  field('Status', detail.status);
  field('Started', formatTime(detail.start_time));
  field('Ended', formatTime(detail.end_time));
  field('Duration', formatDuration(detail.duration));
  const git = detail.git;
  field(
    'Git',
    git.commit === null
      ? 'not a git repository'
      : `${git.commit.slice(0, 12)}${git.branch ? ` on ${git.branch}` : ''}${git.dirty ? ` (dirty, diff ${git.diffHash?.slice(0, 12) ?? '?'})` : ''}`,
  );
  const environment = detail.environment;
  if (environment.node !== undefined) {
    const os = environment.os ? `, ${environment.os.platform} ${environment.os.release} ${environment.os.arch}` : '';
    field('Environment', `node ${environment.node}${environment.python ? `, python ${environment.python}` : ''}${os}`);
    for (const [file, hash] of Object.entries(environment.lockFiles ?? {})) field('', `${file} ${hash.slice(0, 12)}`);
  }
  if (detail.note !== null) field('Note', detail.note);
  const section = (title: string, entries: string[]): void => {
    if (entries.length === 0) return;
    lines.push('', title);
    for (const entry of entries) lines.push(`  ${entry}`);
  };
  section(
    'Params',
    Object.entries(detail.params).map(([key, value]) => `${key} = ${value}`),
  );
  if (detail.metrics.length > 0) {
    const table = [
      ['KEY', 'LATEST', 'STEP', 'POINTS', 'MIN', 'MAX', 'STEPS'],
      ...detail.metrics.map((metric) => [
        metric.key,
        formatNumber(metric.latest),
        String(metric.latestStep),
        String(metric.count),
        formatNumber(metric.min),
        formatNumber(metric.max),
        `${metric.firstStep}..${metric.lastStep}`,
      ]),
    ];
    lines.push('', 'Metrics');
    for (const row of renderTable(table).trimEnd().split('\n')) lines.push(`  ${row}`);
  }
  section(
    'Tags',
    Object.entries(detail.tags).map(([key, value]) => `${key} = ${value}`),
  );
  section(
    'Datasets',
    detail.datasets.map((dataset) => `${dataset.name}@${dataset.version} ${dataset.digest}`),
  );
  section(
    'Artifacts',
    detail.artifacts.map((artifact) => `${artifact.path} ${artifact.md5} ${artifact.size} bytes`),
  );
  section('Child runs', detail.children);
  return `${lines.join('\n')}\n`;
}

function compareCommand(context: CommandContext, store: Store): number {
  const { args, json } = context;
  rejectUnknownOptions(args);
  if (args.length < 2) throw new UsageError('exp compare needs at least two runs.');
  const details = args.map((reference) => {
    const detail = runDetail(store.db, resolveRun(store.db, reference));
    if (!detail) throw new UsageError(`No run '${reference}'.`);
    return detail;
  });
  const comparison = compareRuns(details);
  if (json) {
    const histories = Object.fromEntries(details.map((detail) => [detail.id, detail.metrics]));
    process.stdout.write(`${JSON.stringify({ ...comparison, histories }, null, 2)}\n`);
    return 0;
  }
  const names = comparison.runs.map((run) => `${run.id.slice(0, 8)} ${run.name}`);
  const lines: string[] = [];
  const changed = comparison.params.filter((param) => param.differs);
  lines.push(changed.length === 0 ? 'Params: all the same' : 'Params that differ');
  if (changed.length > 0) {
    const table = [
      ['PARAM', ...names],
      ...changed.map((param) => [param.key, ...param.values.map((value) => value ?? EMPTY)]),
    ];
    for (const row of renderTable(table).trimEnd().split('\n')) lines.push(`  ${row}`);
  }
  if (comparison.metrics.length > 0) {
    lines.push('', 'Metrics (latest, delta from the first run)');
    const table = [
      ['METRIC', ...names],
      ...comparison.metrics.map((metric) => [
        metric.key,
        ...metric.values.map((value, index) => {
          if (value === null) return EMPTY;
          const delta = metric.deltas[index];
          if (index === 0 || delta === null || delta === undefined) return formatNumber(value);
          return `${formatNumber(value)} (${delta >= 0 ? '+' : ''}${formatNumber(delta)})`;
        }),
      ]),
    ];
    for (const row of renderTable(table).trimEnd().split('\n')) lines.push(`  ${row}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

function experimentsCommand(context: CommandContext, hasStore: boolean): number {
  const { args, json } = context;
  rejectUnknownOptions(args);
  if (args.length > 0) throw new UsageError(`exp experiments takes no arguments, got '${args[0] ?? ''}'.`);
  let experiments: ExperimentSummary[] = [];
  if (hasStore) {
    const store = Store.open(context.root);
    try {
      experiments = experimentSummaries(store.db);
    } finally {
      store.close();
    }
  }
  if (json) {
    process.stdout.write(`${JSON.stringify({ experiments }, null, 2)}\n`);
    return 0;
  }
  if (experiments.length === 0) {
    process.stdout.write('No experiments yet.\n');
    return 0;
  }
  const table = [
    ['EXPERIMENT', 'RUNS', 'RUNNING', 'LAST RUN'],
    ...experiments.map((experiment) => [
      experiment.name,
      String(experiment.runs),
      String(experiment.running),
      formatTime(experiment.lastRunAt),
    ]),
  ];
  process.stdout.write(renderTable(table));
  return 0;
}

/** `KEY=VALUE` arguments as tags; the value may itself hold '=' and may be empty. */
function tagAssignments(assignments: string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const assignment of assignments) {
    const equals = assignment.indexOf('=');
    const key = equals === -1 ? '' : assignment.slice(0, equals).trim();
    if (key === '') throw new UsageError(`exp tag needs KEY=VALUE, got '${assignment}' (e.g. cairn.starred=true).`);
    tags[key] = assignment.slice(equals + 1);
  }
  return tags;
}

function tagCommand(context: CommandContext, store: Store): number {
  const { args, json } = context;
  rejectUnknownOptions(args);
  const [reference, ...assignments] = args;
  if (reference === undefined || assignments.length === 0) {
    throw new UsageError('exp tag needs a run and at least one KEY=VALUE.');
  }
  const tags = tagAssignments(assignments);
  const runId = resolveRun(store.db, reference);
  const tracker = Tracker.open(store);
  tracker.setTags(runId, tags);
  tracker.close();
  return reportTags(json, runId, runTags(store.db, runId), Object.keys(tags), 'Tagged');
}

function untagCommand(context: CommandContext, store: Store): number {
  const { args, json } = context;
  rejectUnknownOptions(args);
  const [reference, ...keys] = args;
  if (reference === undefined || keys.length === 0) throw new UsageError('exp untag needs a run and at least one KEY.');
  const runId = resolveRun(store.db, reference);
  const removed = deleteTags(store.db, runId, keys);
  return reportTags(json, runId, runTags(store.db, runId), removed, 'Removed');
}

function reportTags(
  json: boolean,
  runId: string,
  tags: Record<string, string>,
  changed: string[],
  verb: string,
): number {
  if (json) {
    process.stdout.write(`${JSON.stringify({ run: runId, changed, tags }, null, 2)}\n`);
    return 0;
  }
  const what = changed.length === 0 ? 'no tags' : changed.join(', ');
  process.stdout.write(`${verb} ${what} on run ${runId.slice(0, 8)}.\n`);
  return 0;
}

function tableCommand(context: CommandContext, hasStore: boolean): number {
  const { args, json } = context;
  const experiment = takeOption(args, '--experiment');
  const filter = takeOption(args, '--filter');
  const sort = takeOption(args, '--sort');
  const limit = wholeNumber('--limit', takeOption(args, '--limit'), 1000);
  const offset = wholeNumber('--offset', takeOption(args, '--offset'), 0);
  rejectUnknownOptions(args);
  if (args.length > 0) throw new UsageError(`exp table takes no arguments, got '${args[0] ?? ''}'.`);
  if (!json) throw new UsageError('exp table is for programs: add --json (or use exp list for a readable table).');
  checkQuery(filter, sort);
  let table = '{"columns":[],"total":0,"rows":[]}';
  if (hasStore) {
    const store = Store.open(context.root);
    try {
      table = runTableJson(store.db, {
        ...(experiment !== undefined ? { experiment } : {}),
        ...(filter !== undefined ? { filter } : {}),
        ...(sort !== undefined ? { sort } : {}),
        limit,
        offset,
      });
    } finally {
      store.close();
    }
  }
  // One line, no indentation: the payload of a large table is several megabytes.
  process.stdout.write(`${table}\n`);
  return 0;
}

/** Every `--metric KEY` of args, in order. */
function takeAll(args: string[], name: string): string[] {
  const values: string[] = [];
  for (let value = takeOption(args, name); value !== undefined; value = takeOption(args, name)) values.push(value);
  return values;
}

function historyCommand(context: CommandContext, store: Store): number {
  const { args, json } = context;
  const metrics = takeAll(args, '--metric');
  rejectUnknownOptions(args);
  if (args.length === 0) throw new UsageError('exp history needs at least one run.');
  if (!json) throw new UsageError('exp history is for programs: add --json (or use exp show for a summary).');
  const histories = args.flatMap((reference) => {
    const detail = runDetail(store.db, resolveRun(store.db, reference));
    if (!detail) throw new UsageError(`No run '${reference}'.`);
    const keys = metrics.length > 0 ? metrics : detail.metrics.map((metric) => metric.key);
    return keys.map((metric) => {
      const points = metricHistory(store.db, detail.id, metric);
      return {
        run: detail.id,
        name: detail.name,
        metric,
        steps: points.map((point) => point.step),
        values: points.map((point) => point.value),
      };
    });
  });
  process.stdout.write(`${JSON.stringify({ histories })}\n`);
  return 0;
}
