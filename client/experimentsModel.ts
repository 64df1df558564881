// The data behind the Experiments and Models views and the experiment commands, as pure functions:
// which runs a view shows and in what order, a run's key metric, the documents that "Open" and
// "Show" render, the progress of a sweep from its events. No editor and no process here, so unit
// tests run them directly; the views and commands in the other client files do the I/O.
//
// The JSON shapes are the CLI's, declared once by the engine (type imports: nothing of the engine
// is loaded into the extension host).
import type { GateReport } from '../server/engine/gates/evaluate';
import type { AuditEntry, ModelSummary, ModelVersion } from '../server/engine/registry/registry';
import type { RunRow } from '../server/engine/tracking/query';
import type { SweepEvent } from '../server/engine/sweep/sweep';
import type { RunDetail } from '../server/engine/tracking/read';
import type { Artifact } from '../server/engine/tracking/tracker';

export type { Artifact, AuditEntry, GateReport, ModelSummary, ModelVersion, RunDetail, RunRow, SweepEvent };

/** `cairn exp list --json`. */
export interface RunList {
  runs: RunRow[];
}

/** One experiment of `cairn exp experiments --json`. */
export interface ExperimentSummary {
  name: string;
  runs: number;
  lastRunAt: number | null;
  running: number;
}

/** `cairn exp experiments --json`. */
export interface ExperimentList {
  experiments: ExperimentSummary[];
}

/** `cairn models list --json`. */
export interface ModelList {
  models: ModelSummary[];
}

/** `cairn models show NAME@VERSION --json`. */
export interface ShownVersion {
  version: ModelVersion;
  aliases: Record<string, number>;
  audit: AuditEntry[];
}

/** `cairn models register ... --json`: the registered version, or the report of the gate that refused it. */
export type RegisterOutcome =
  | { status: 'created' | 'existing'; version: ModelVersion; report: GateReport | null; forced: boolean }
  | { status: 'refused'; report: GateReport };

/** The tag that stars a run (`cairn exp tag RUN cairn.starred=true`). */
export const STARRED_TAG = 'cairn.starred';
/** The tag a sweep puts on its parent run naming the metric it optimizes. */
export const OBJECTIVE_TAG = 'cairn.objective';
/** The tag a sweep puts on each trial: complete, pruned, failed or interrupted. */
export const TRIAL_STATE_TAG = 'cairn.trial_state';
/** How many runs an experiment shows before its "more…" hint. */
export const RUN_CAP = 200;

export function isStarred(run: RunRow): boolean {
  return run.tags[STARRED_TAG] === 'true';
}

/**
 * The runs an experiment shows, from `exp list` rows sorted newest first: top-level runs only
 * (trials sit under their sweep), starred ones first, at most `cap`; `more` says some were left out
 * (here or because the list itself was cut at `fetched` rows).
 */
export function visibleRuns(
  rows: readonly RunRow[],
  fetched: number,
  cap = RUN_CAP,
): { runs: RunRow[]; more: boolean } {
  const topLevel = rows.filter((run) => run.parent === null);
  const ordered = [...topLevel.filter(isStarred), ...topLevel.filter((run) => !isStarred(run))];
  return { runs: ordered.slice(0, cap), more: ordered.length > cap || rows.length >= fetched };
}

/** Trials of a sweep in the order they ran, starred ones first. */
export function orderedTrials(rows: readonly RunRow[]): RunRow[] {
  const byStart = [...rows].sort((a, b) => a.start_time - b.start_time);
  return [...byStart.filter(isStarred), ...byStart.filter((run) => !isStarred(run))];
}

/**
 * The metric an experiment is judged by: the one its sweep declared (the `cairn.objective` tag of
 * the newest run that has it), or null. The tag holds the metric's name, possibly with its
 * direction ("accuracy", "accuracy maximize", `{"metric":"accuracy"}`).
 */
export function objectiveOf(rows: readonly RunRow[]): string | null {
  const tagged = [...rows].sort((a, b) => b.start_time - a.start_time).find((run) => run.tags[OBJECTIVE_TAG]);
  const text = tagged?.tags[OBJECTIVE_TAG]?.trim();
  if (!text) return null;
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as { metric?: unknown };
      return typeof parsed.metric === 'string' ? parsed.metric : null;
    } catch {
      return null;
    }
  }
  const words = text.split(/[\s:,()]+/).filter((word) => word && !/^(maximize|minimize|max|min)$/i.test(word));
  return words[0] ?? null;
}

/**
 * The metric shown beside a run: the objective when one is known (null when the run lacks it, as a
 * pruned trial may: another metric there would read as its score), else its first metric by name.
 */
export function keyMetric(run: RunRow, objective: string | null): { key: string; value: number } | null {
  if (objective !== null) {
    const value = run.metrics[objective];
    return value === undefined ? null : { key: objective, value };
  }
  const key = Object.keys(run.metrics).sort()[0];
  const value = key === undefined ? undefined : run.metrics[key];
  return key === undefined || value === undefined ? null : { key, value };
}

/** How a sweep's trial ended when it did not complete ('pruned', 'failed', 'interrupted'), else null. */
export function trialOutcome(run: RunRow): string | null {
  const state = run.tags[TRIAL_STATE_TAG];
  return state === undefined || state === 'complete' ? null : state;
}

/** A metric value short enough for a tree row: five significant digits. */
export function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(5)));
}

/** A point in time as "2026-11-27 10:04:05" (UTC, like the CLI's tables). */
export function formatTime(milliseconds: number | null): string {
  return milliseconds === null ? '-' : new Date(milliseconds).toISOString().replace('T', ' ').slice(0, 19);
}

export function formatDuration(milliseconds: number | null): string {
  if (milliseconds === null) return '-';
  if (milliseconds < 1000) return `${milliseconds} ms`;
  const seconds = milliseconds / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60
    ? `${minutes} min ${Math.round(seconds % 60)} s`
    : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** The `exp list` filter for a sweep's trials (quotes doubled, as the filter grammar wants). */
export function trialsFilter(parentId: string): string {
  return `parent = '${parentId.replace(/'/g, "''")}'`;
}

/** Text with Markdown's special characters escaped. */
export function markdownEscape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!<>|]/g, '\\$&');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(header: string[], rows: string[][]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ];
}

/** `exp show --json` as a Markdown document. */
export function runMarkdown(detail: RunDetail): string {
  const lines = [`# Run ${detail.name}`, ''];
  const fields: [string, string][] = [
    ['Id', `\`${detail.id}\``],
    ['Experiment', detail.experiment],
    ['Status', detail.status],
    ['Started', formatTime(detail.start_time)],
    ['Ended', formatTime(detail.end_time)],
    ['Duration', formatDuration(detail.duration)],
  ];
  if (detail.parent !== null) fields.push(['Parent', `\`${detail.parent}\``]);
  const git = detail.git;
  fields.push([
    'Git',
    git.commit === null
      ? 'not a git repository'
      : `\`${git.commit.slice(0, 12)}\`${git.branch ? ` on ${git.branch}` : ''}${git.dirty ? ' (dirty)' : ''}`,
  ]);
  if (detail.note !== null) fields.push(['Note', detail.note]);
  lines.push(...table(['Field', 'Value'], fields), '');
  const params = Object.entries(detail.params);
  if (params.length > 0) lines.push('## Params', '', ...table(['Param', 'Value'], params), '');
  if (detail.metrics.length > 0)
    lines.push(
      '## Metrics',
      '',
      ...table(
        ['Metric', 'Latest', 'Step', 'Points', 'Min', 'Max'],
        detail.metrics.map((metric) => [
          metric.key,
          formatNumber(metric.latest),
          String(metric.latestStep),
          String(metric.count),
          formatNumber(metric.min),
          formatNumber(metric.max),
        ]),
      ),
      '',
    );
  const tags = Object.entries(detail.tags);
  if (tags.length > 0) lines.push('## Tags', '', ...table(['Tag', 'Value'], tags), '');
  if (detail.datasets.length > 0)
    lines.push(
      '## Datasets',
      '',
      ...table(
        ['Dataset', 'Version', 'Digest'],
        detail.datasets.map((dataset) => [dataset.name, String(dataset.version), dataset.digest]),
      ),
      '',
    );
  if (detail.artifacts.length > 0)
    lines.push(
      '## Artifacts',
      '',
      ...table(
        ['Path', 'MD5', 'Bytes'],
        detail.artifacts.map((artifact) => [artifact.path, artifact.md5, String(artifact.size)]),
      ),
      '',
    );
  if (detail.children.length > 0) lines.push('## Child runs', '', ...detail.children.map((id) => `- \`${id}\``), '');
  return `${lines.join('\n')}\n`;
}

/** A gate report as Markdown lines: verdict, then each criterion with its reason. */
export function gateMarkdown(report: GateReport): string[] {
  return [
    `**Gate${report.split ? ` (split ${report.split})` : ''}: ${report.passed ? 'passed' : 'failed'}.** ${report.summary}`,
    '',
    ...table(
      ['', 'Criterion', 'Value', 'Threshold', 'Reason'],
      report.criteria.map((criterion) => [
        criterion.passed ? 'pass' : 'FAIL',
        criterion.criterion,
        criterion.value === null ? '-' : formatNumber(criterion.value),
        criterion.threshold,
        criterion.reason,
      ]),
    ),
  ];
}

/** `models show NAME@VERSION --json` as a Markdown document, with the gate report and the audit. */
export function versionMarkdown(shown: ShownVersion): string {
  const version = shown.version;
  const lines = [`# ${version.model} v${version.version}`, ''];
  const fields: [string, string][] = [
    ['Aliases', version.aliases.join(', ') || '-'],
    ['Registered', `${formatTime(version.createdAt)}${version.sourcePath ? ` from ${version.sourcePath}` : ''}`],
    [
      'Approved',
      version.approved ? `yes, by ${version.approvedBy ?? '?'} at ${formatTime(version.approvedAt ?? null)}` : 'no',
    ],
    ['Gate', version.gateReport === null ? 'not judged' : version.gateReport.passed ? 'passed' : 'failed'],
    ['Content', `md5 \`${version.md5}\`, ${version.size} bytes`],
  ];
  if (version.description) fields.push(['Description', version.description]);
  if (version.runId) fields.push(['Run', `\`${version.runId}\`${version.pipeline ? ` (${version.pipeline})` : ''}`]);
  const tags = Object.entries(version.tags);
  if (tags.length > 0) fields.push(['Tags', tags.map(([key, value]) => `${key}=${value}`).join(', ')]);
  lines.push(...table(['Field', 'Value'], fields), '');
  const tensor = (kind: string, tensors: ModelVersion['signature']['inputs']): string[][] =>
    tensors.map((entry) => [
      kind,
      entry.name,
      entry.type,
      entry.shape ? `[${entry.shape.map((dim) => (dim === null ? '?' : String(dim))).join(', ')}]` : '-',
    ]);
  lines.push(
    '## Signature',
    '',
    ...table(
      ['', 'Name', 'Type', 'Shape'],
      [...tensor('input', version.signature.inputs), ...tensor('output', version.signature.outputs)],
    ),
    '',
  );
  const metrics = Object.entries(version.metrics ?? {}).filter(
    (entry): entry is [string, number] => typeof entry[1] === 'number',
  );
  if (metrics.length > 0)
    lines.push(
      '## Metrics',
      '',
      ...table(
        ['Metric', 'Value'],
        metrics.map(([key, value]) => [key, formatNumber(value)]),
      ),
      '',
    );
  if (version.gateReport) lines.push('## Gate report', '', ...gateMarkdown(version.gateReport), '');
  lines.push('## Audit', '');
  if (shown.audit.length === 0) lines.push('No changes recorded.', '');
  else
    lines.push(
      ...table(
        ['When', 'Action', 'From', 'To', 'Who', 'Why'],
        shown.audit.map((entry) => [
          formatTime(entry.at),
          entry.action,
          entry.from ?? '-',
          entry.to ?? '-',
          entry.actor,
          entry.reason ?? '',
        ]),
      ),
      '',
    );
  return `${lines.join('\n')}\n`;
}

/**
 * The model names a pipeline file declares under its top-level `models:` key (the keys indented
 * one level below it). A light reading of the text, for offering names in a quick pick: the CLI
 * validates the declaration when the model is registered.
 */
export function declaredModelNames(text: string): string[] {
  const names: string[] = [];
  let inModels = false;
  let indent: number | null = null;
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*(#|$)/.test(line)) continue;
    const leading = /^ */.exec(line)?.[0].length ?? 0;
    if (leading === 0) {
      inModels = /^models\s*:\s*(#.*)?$/.test(line);
      indent = null;
      continue;
    }
    if (!inModels) continue;
    indent ??= leading;
    if (leading !== indent) continue;
    const key = /^\s*(['"]?)([^'":#]+)\1\s*:/.exec(line);
    if (key?.[2]) names.push(key[2].trim());
  }
  return names;
}

/**
 * Recorded metric values back in the nested shape of the metrics files they came from
 * (`test.accuracy` → `{"test": {"accuracy": …}}`), which is what a gate reads: its split's section
 * and `slices.<column>.<value>.<metric>`. A key that is both a value and a section keeps the value.
 */
export function nestedMetrics(flat: Record<string, number>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flat).sort(([a], [b]) => a.length - b.length)) {
    const parts = key.split('.');
    let node = root;
    let placed = true;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      if (next === undefined) node[part] = {};
      else if (typeof next !== 'object') {
        placed = false;
        break;
      }
      node = node[part] as Record<string, unknown>;
    }
    // Where a shorter key already holds a number, the full key stays flat beside it.
    if (placed) node[parts[parts.length - 1] ?? key] = value;
    else root[key] = value;
  }
  return root;
}

/** Where the content cache keeps an object: `.cairn/cache/files/md5/<first 2 hex>/<other 30>`. */
export function cacheObjectPath(md5: string): string {
  return `.cairn/cache/files/md5/${md5.slice(0, 2)}/${md5.slice(2)}`;
}

/** The direction of an experiment file's objective, read from its text; maximize when it says none. */
export function objectiveDirection(text: string): 'maximize' | 'minimize' {
  const flow = /^objective\s*:\s*\{[^}]*direction\s*:\s*(maximize|minimize)/m.exec(text);
  if (flow?.[1]) return flow[1] as 'maximize' | 'minimize';
  const block = /^objective\s*:\s*\n((?:[ \t]+.*\n?)*)/m.exec(text);
  const inBlock = block?.[1] ? /direction\s*:\s*(maximize|minimize)/.exec(block[1]) : null;
  return (inBlock?.[1] as 'maximize' | 'minimize' | undefined) ?? 'maximize';
}

/** What a sweep's progress notification shows, folded from its events. */
export interface SweepProgress {
  sweepRunId: string | null;
  experiment: string | null;
  /** The trial budget; null when only a time budget or the grid's size bounds the sweep. */
  total: number | null;
  /** Trials started, counting those an earlier session of a resumed sweep finished. */
  started: number;
  finished: number;
  pruned: number;
  failed: number;
  /** The metric the sweep optimizes (from `sweep-start`), or null. */
  objective: string | null;
  /** The objective's direction: from `sweep-start`, else from the experiment file. */
  direction: 'maximize' | 'minimize';
  best: { number: number; runId: string | null; value: number } | null;
  warnings: string[];
  end: Extract<SweepEvent, { event: 'sweep-end' }> | null;
}

export function emptySweepProgress(direction: 'maximize' | 'minimize' = 'maximize'): SweepProgress {
  return {
    sweepRunId: null,
    experiment: null,
    total: null,
    started: 0,
    finished: 0,
    pruned: 0,
    failed: 0,
    objective: null,
    direction,
    best: null,
    warnings: [],
    end: null,
  };
}

/** The progress after `event`; the best value so far follows the objective's direction. */
export function nextSweepProgress(progress: SweepProgress, event: SweepEvent): SweepProgress {
  switch (event.event) {
    case 'sweep-start':
      return {
        ...progress,
        sweepRunId: event.sweepRunId,
        experiment: event.experiment,
        total: event.trials,
        started: event.finished,
        finished: event.finished,
        objective: event.objective?.metric ?? null,
        direction: event.objective?.direction ?? progress.direction,
      };
    case 'trial-start':
      return { ...progress, started: progress.started + 1 };
    case 'trial-end': {
      const next = {
        ...progress,
        finished: progress.finished + 1,
        pruned: progress.pruned + (event.state === 'pruned' ? 1 : 0),
        failed: progress.failed + (event.state === 'failed' ? 1 : 0),
      };
      const value = event.value;
      if (event.state !== 'complete' || value === null || !Number.isFinite(value)) return next;
      const best = progress.best;
      const better = best === null || (progress.direction === 'minimize' ? value < best.value : value > best.value);
      return better ? { ...next, best: { number: event.number, runId: event.runId, value } } : next;
    }
    case 'warning':
      return { ...progress, warnings: [...progress.warnings, event.message] };
    case 'sweep-end':
      return { ...progress, end: event };
  }
}

/** The line of the progress notification: "trial 4/30 · best 0.9556 (trial 2)". */
export function sweepProgressMessage(progress: SweepProgress): string {
  const position = `trial ${progress.started}${progress.total === null ? '' : `/${progress.total}`}`;
  const best = progress.best ? ` · best ${formatNumber(progress.best.value)} (trial ${progress.best.number})` : '';
  const skipped = progress.pruned ? ` · ${progress.pruned} pruned` : '';
  return `${position}${best}${skipped}`;
}

/** One event of a JSON Lines stream, or null for a line that is not one. */
export function parseSweepEvent(line: string): SweepEvent | null {
  if (!line.startsWith('{')) return null;
  try {
    const value = JSON.parse(line) as { event?: unknown };
    return typeof value.event === 'string' ? (value as SweepEvent) : null;
  } catch {
    return null;
  }
}
