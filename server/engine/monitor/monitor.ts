// The monitor of a deployment: from the prediction log, the reference data and the store it builds
// the MonitorReport (operational series, resources, data drift, labelled performance, concept drift,
// KPIs per arm, alerts) and evaluates the alert rules. The server process calls evaluateMonitoring
// every monitoring.interval and carries out the actions of what fired (rollback, retrain); the CLI
// builds the same report from the files alone, with the server stopped.
import type { AlertRecord, ConceptDriftState, DriftReport, KpiValue, MonitorReport } from '../../shared/deployments';
import { driftJudged } from '../../shared/deployments';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../data/sources';
import type { DeploymentSpec } from '../deploy/spec';
import { DriftError } from '../drift/report';
import { registryReference } from '../deploy/spec';
import { Registry } from '../registry/registry';
import type { Store } from '../store';
import { applyRules, holds, listAlerts, metricValue, parseCondition, postWebhook } from './alerts';
import type { MonitorFigures, RuleOutcome } from './alerts';
import { conceptDetector, driftBetween } from './driftBridge';
import { evaluateKpi, parseKpi } from './kpi';
import { ingestLabelSource } from './labelSource';
import { deploymentDir } from './log';
import type { FeedbackRow, PredictionLog, RequestSummary } from './log';
import { ALL, operationalFigures, operationalSeries } from './operational';
import { labelledRows, performanceMetrics, performanceSeries, rowError, taskOf } from './performance';
import type { LabelledRow, Task } from './performance';
import { currentColumns, readColumnsFile, referenceFile, ReferenceError } from './reference';
import { sampleResources } from './resources';

/** Operational alert figures are taken over this recent window. */
export const ALERT_WINDOW_MS = 60_000;
/**
 * The server's monitoring round looks at this period (operational series, KPIs); the CLI's report
 * takes --since. It bounds the work of a round at high request rates.
 */
export const ROUND_PERIOD_MS = 15 * 60_000;
/**
 * The report a round writes to report.json (and `cairn monitor report` builds by default): the last
 * hour in one-minute buckets. Alert rules on KPIs still read the last ROUND_PERIOD_MS of it.
 */
export const REPORT_PERIOD_MS = 3_600_000;
export const REPORT_BUCKET_MS = 60_000;
/** Labelled performance looks back this far, plus monitoring.labels.delay. */
export const PERFORMANCE_WINDOW_MS = 3_600_000;
/** The newest rows of the drift window compared with the reference at most (bounds memory and time). */
export const MAX_DRIFT_ROWS = 200_000;
/** In the server's round, drift is recomputed at most this often (the window moves slowly). */
export const DRIFT_REFRESH_MS = 60_000;
/** The built-in rule that fires when labelled performance falls below monitoring.performance.min (or the gate). */
export const PERFORMANCE_RULE = 'performance-low';
/** Fewest labelled rows before labelled performance is judged. */
export const MIN_LABELLED = 20;

export interface MonitorInput {
  root: string;
  spec: DeploymentSpec;
  log: PredictionLog;
  store: Store;
  now: number;
  /** The report's period and bucket (default: the last hour in one-minute buckets). */
  sinceMs?: number;
  bucketMs?: number;
  /** Pids of the server and its workers: when given, a CPU and memory sample is logged. */
  pids?: readonly number[];
  /** Where problems that do not stop monitoring go (a webhook down, a missing reference). */
  warn?: (message: string) => void;
}

export interface MonitorOutcome {
  report: MonitorReport;
  fired: AlertRecord[];
  resolved: AlertRecord[];
  /** What could not be computed, in words (also passed to warn). */
  warnings: string[];
}

/** One monitoring round: report, alert rules (store rows, webhook), retention; S2 acts on `fired`. */
export async function evaluateMonitoring(input: MonitorInput): Promise<MonitorOutcome> {
  const { spec, log, now } = input;
  const monitoring = spec.monitoring;
  log.flush();
  log.policy = monitoring.log;
  log.applyRetention(now);
  if (input.pids && input.pids.length > 0) {
    const sample = sampleResources(input.pids, now);
    if (sample) log.addResourceSample(sample);
  }
  if (monitoring.labels) {
    const source = monitoring.labels.source;
    const display = path.relative(input.root, source).split(path.sep).join('/');
    const ingested = ingestLabelSource(log, source, display, monitoring.labels.joinKey, now);
    for (const problem of ingested.problems) input.warn?.(`Labels: ${problem}`);
  }
  const built = await buildReport(
    { ...input, sinceMs: input.sinceMs ?? ROUND_PERIOD_MS },
    { cacheDrift: true, figuresSinceMs: ROUND_PERIOD_MS },
  );
  const warnings = built.warnings;
  const figures = built.figures;

  const kpiNames = monitoring.kpis.map((kpi) => kpi.name);
  // Drift of too few rows (or none) is not judged: its alerts neither fire nor resolve until there
  // are enough; a quiet hour does not resolve a drift alert.
  const driftUnjudged = monitoring.drift !== null && (built.report.drift === null || !driftJudged(built.report.drift));
  const outcomes: RuleOutcome[] = [];
  for (const rule of monitoring.alerts) {
    let condition;
    try {
      condition = parseCondition(rule.name, rule.when, kpiNames);
    } catch (error) {
      warnings.push(error instanceof Error ? error.message : String(error));
      continue;
    }
    if (driftUnjudged && condition.metric.startsWith('drift.')) continue;
    const value = metricValue(figures, condition.metric);
    outcomes.push({ rule, condition, value, holding: holds(value, condition) });
  }
  for (const objective of objectiveRules(input, built.performanceMin, outcomes)) {
    const value = metricValue(figures, objective.condition.metric);
    outcomes.push({ ...objective, value, holding: holds(value, objective.condition) });
  }

  const { fired, resolved } = input.store.db
    .transaction(() =>
      applyRules({
        db: input.store.db,
        deployment: spec.name,
        root: input.root,
        outcomes,
        clock: log,
        now,
        actionsOf: (rule) => [
          // With automatic: false, the rollback is proposed: the editor's notification and the
          // webhook's receiver ask a person.
          ...(monitoring.rollback?.on.includes(rule)
            ? [monitoring.rollback.automatic ? 'rollback' : 'rollback-proposed']
            : []),
          ...(spec.rollout.abortOn.includes(rule) ? ['abort-rollout'] : []),
          ...(monitoring.retrain?.on.includes(rule) ? ['retrain-proposed'] : []),
        ],
      }),
    )
    .immediate();

  if (monitoring.webhook) {
    for (const alert of [...fired, ...resolved]) {
      const failure = await postWebhook(monitoring.webhook, { deployment: spec.name, state: alert.state, alert });
      if (failure) warnings.push(`Alert '${alert.rule}' was not delivered: ${failure}.`);
    }
  }
  const report = {
    ...built.report,
    alerts: listAlerts(input.store.db, { deployment: spec.name, since: built.report.from }),
  };
  for (const warning of warnings) input.warn?.(warning);
  return { report, fired, resolved, warnings };
}

/**
 * The built-in rules of the spec's objectives: `performance-low` below monitoring.performance's min
 * (or the gate), `error-rate-high` above monitoring.errors.max_rate, `latency-p95-high` and
 * `latency-p99-high` above monitoring.latency. Each is left out when the spec declares an alert of
 * its name, or one that fires whenever it would (`performance.auc < 0.75` for a min of 0.75): two
 * alerts for one fall would be noise.
 */
function objectiveRules(
  input: MonitorInput,
  performanceMin: number | null,
  declared: readonly RuleOutcome[],
): Omit<RuleOutcome, 'value' | 'holding'>[] {
  const monitoring = input.spec.monitoring;
  const objectives: { name: string; metric: string; op: '<' | '>'; bound: number | null }[] = [
    {
      name: PERFORMANCE_RULE,
      metric: `performance.${monitoring.performance?.metric ?? ''}`,
      op: '<',
      bound: monitoring.performance ? performanceMin : null,
    },
    { name: 'error-rate-high', metric: 'error_rate', op: '>', bound: monitoring.errors?.maxRate ?? null },
    { name: 'latency-p95-high', metric: 'latency.p95_ms', op: '>', bound: monitoring.latency?.p95Ms ?? null },
    { name: 'latency-p99-high', metric: 'latency.p99_ms', op: '>', bound: monitoring.latency?.p99Ms ?? null },
  ];
  // A rule the spec names in an action list always runs; another is left out when a declared alert
  // fires whenever it would (the same metric, the same way, a bound at least as strict, no `for`).
  const named = new Set([
    ...(monitoring.rollback?.on ?? []),
    ...(monitoring.retrain?.on ?? []),
    ...input.spec.rollout.abortOn,
  ]);
  const sameMetric = (a: string, b: string): boolean => a.replace(/^latency_/, 'latency.') === b;
  const covers = ({ rule, condition }: RuleOutcome, metric: string, op: '<' | '>', bound: number): boolean =>
    rule.forMs === 0 &&
    sameMetric(condition.metric, metric) &&
    (op === '<'
      ? (condition.op === '<' || condition.op === '<=') && condition.value >= bound
      : (condition.op === '>' || condition.op === '>=') && condition.value <= bound);
  const rules: Omit<RuleOutcome, 'value' | 'holding'>[] = [];
  for (const { name, metric, op, bound } of objectives) {
    if (bound === null || monitoring.alerts.some((rule) => rule.name === name)) continue;
    if (!named.has(name) && declared.some((outcome) => covers(outcome, metric, op, bound))) continue;
    rules.push({
      rule: { name, when: `${metric} ${op} ${bound}`, severity: 'warning', runbook: '', forMs: 0 },
      condition: { metric, op, value: bound },
    });
  }
  return rules;
}

/** The lowest acceptable value of the performance metric: the spec's min, else the served version's gate threshold. */
export function performanceMinimum(input: Pick<MonitorInput, 'root' | 'spec' | 'store'>): number | null {
  const performance = input.spec.monitoring.performance;
  if (!performance) return null;
  if (performance.min !== null) return performance.min;
  try {
    const version = new Registry(input.store, input.root).resolve(registryReference(input.spec.model));
    const criterion = version.gateReport?.criteria.find(
      (result) =>
        result.kind === 'threshold' &&
        (result.metric === performance.metric ||
          result.metric.endsWith(`.${performance.metric}`) ||
          result.metric.endsWith(`/${performance.metric}`)),
    );
    const threshold = criterion ? /[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?/.exec(criterion.threshold) : null;
    return threshold ? Number(threshold[0]) : null;
  } catch {
    // A model that is not (or no longer) registered has no gate to read.
    return null;
  }
}

/** The report of a period and the figures alert rules read at its end. */
export async function buildReport(
  input: MonitorInput,
  /** figuresSinceMs: KPI alert figures over only the end of the period (the report keeps the whole). */
  options: { cacheDrift?: boolean; figuresSinceMs?: number } = {},
): Promise<{
  report: MonitorReport;
  figures: MonitorFigures;
  performanceMin: number | null;
  warnings: string[];
}> {
  const { spec, log, now } = input;
  const monitoring = spec.monitoring;
  const bucketMs = Math.max(1000, input.bucketMs ?? 60_000);
  // The period is (now - since, now]: a request logged at `now` is in it, and it holds whole buckets.
  const to = now + 1;
  const from = to - (input.sinceMs ?? 3_600_000);
  const warnings: string[] = [];

  const summaries = log.summaries({ from, to });
  const operational = operationalSeries(summaries, from, to, bucketMs);
  const recent = summaries.filter((summary) => summary.at >= now - ALERT_WINDOW_MS);
  const resources = log.resources(from, to);

  // Labelled performance over the period, per version and over all answered traffic.
  // Labels arrive late: predictions are judged back to the performance window plus the delay.
  const labelledFrom = Math.min(from, to - PERFORMANCE_WINDOW_MS - (monitoring.labels?.delayMs ?? 0));
  await nextTurn();
  const joined = log.joined({ from: labelledFrom, to });
  const labelled = labelledRows(joined);
  const task: Task = taskOf(labelled, monitoring.performance?.metric);
  const performance: MonitorReport['performance'] = {};
  const answered = labelled.filter((row) => row.arm !== 'shadow');
  if (labelled.length > 0) {
    performance[ALL] = performanceSeries(answered, task, from, to, bucketMs);
    for (const version of new Set(labelled.map((row) => row.version)))
      performance[version] = performanceSeries(
        labelled.filter((row) => row.version === version),
        task,
        from,
        to,
        bucketMs,
      );
  }
  const currentPerformance = answered.length >= MIN_LABELLED ? performanceMetrics(answered, task) : {};

  const conceptDrift = monitoring.conceptDrift ? conceptDriftOf(answered, task, monitoring.conceptDrift) : null;

  let drift: DriftReport | null = null;
  try {
    await nextTurn();
    drift = options.cacheDrift ? await cachedDrift(input) : await driftOf(input);
  } catch (error) {
    // A missing or unreadable reference, or a feature with no values: said, and the rest goes on.
    if (!(error instanceof ReferenceError) && !(error instanceof DataError) && !(error instanceof DriftError))
      throw error;
    warnings.push(`Drift: ${error.message}`);
  }

  await nextTurn();
  const feedback = log.feedbackOfWindow({ from, to });
  const kpis = kpisOf(input, summaries, feedback, warnings);
  const figuresFrom = options.figuresSinceMs === undefined ? from : Math.max(from, to - options.figuresSinceMs);
  const figureKpis =
    figuresFrom === from
      ? kpis
      : kpisOf(
          input,
          summaries.filter((summary) => summary.at >= figuresFrom),
          feedback,
          [],
        );
  const kpiFigures: Record<string, number | null> = {};
  for (const kpi of figureKpis) {
    kpiFigures[kpi.name] = kpi.byArm[ALL] ?? null;
    for (const [arm, value] of Object.entries(kpi.byArm)) kpiFigures[`${kpi.name}.${arm}`] = value;
  }

  const lastResource = resources.at(-1);
  const figures: MonitorFigures = {
    operational: operationalFigures(recent, ALERT_WINDOW_MS / 1000),
    drift,
    performance: currentPerformance,
    conceptDrift: conceptDrift === null ? null : conceptDrift.detections.some((at) => at >= from),
    kpis: kpiFigures,
    resources: lastResource ? { cpuPercent: lastResource.cpuPercent, rssBytes: lastResource.rssBytes } : null,
  };

  const report: MonitorReport = {
    deployment: spec.name,
    generatedAt: now,
    from,
    to,
    bucketMs,
    operational,
    resources,
    drift,
    performance,
    conceptDrift,
    kpis,
    alerts: listAlerts(input.store.db, { deployment: spec.name, since: from }),
    status: null,
  };
  return { report, figures, performanceMin: performanceMinimum(input), warnings };
}

/** Where the server's monitor process keeps the report of its latest round. */
export function roundReportPath(root: string, deployment: string): string {
  return path.join(deploymentDir(root, deployment), 'report.json');
}

/** Writes a round's report whole (a temporary file renamed over the old one): a reader never sees half. */
export function writeRoundReport(root: string, report: MonitorReport): void {
  const file = roundReportPath(root, report.deployment);
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(report));
  fs.renameSync(temporary, file);
}

/**
 * The report of the latest round when it covers this period and bucket and is recent: written less
 * than two intervals ago (two rounds ago when a round takes longer than the interval). Else null.
 */
export function readRoundReport(
  root: string,
  deployment: string,
  wanted: { sinceMs: number; bucketMs: number; intervalMs: number; now: number },
): MonitorReport | null {
  const file = roundReportPath(root, deployment);
  let text: string;
  let written: number;
  try {
    written = fs.statSync(file).mtimeMs;
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  let report: MonitorReport;
  try {
    report = JSON.parse(text) as MonitorReport;
  } catch {
    return null;
  }
  if (report.deployment !== deployment || report.bucketMs !== wanted.bucketMs) return null;
  if (report.to - report.from !== wanted.sinceMs) return null;
  const roundMs = Math.max(0, written - report.generatedAt);
  return wanted.now - written <= 2 * Math.max(wanted.intervalMs, roundMs) ? report : null;
}

/**
 * Lets the event loop run between the heavy phases of a round: in the server process, requests
 * waiting behind the monitor are answered between them instead of after the whole round.
 */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

const driftCache = new Map<string, { at: number; report: DriftReport | null }>();

/** The drift report of the server's round, recomputed at most every DRIFT_REFRESH_MS per log. */
async function cachedDrift(input: MonitorInput): Promise<DriftReport | null> {
  const cached = driftCache.get(input.log.file);
  if (cached && input.now >= cached.at && input.now - cached.at < DRIFT_REFRESH_MS) return cached.report;
  const report = await driftOf(input);
  driftCache.set(input.log.file, { at: input.now, report });
  return report;
}

/** The drift of the current window against the reference; null without a drift section or data. */
async function driftOf(input: MonitorInput): Promise<DriftReport | null> {
  const monitoring = input.spec.monitoring;
  if (!monitoring.drift) return null;
  let trainedOn: unknown[] = [];
  if (monitoring.reference && 'dataset' in monitoring.reference) {
    try {
      trainedOn = new Registry(input.store, input.root).resolve(registryReference(input.spec.model)).datasets;
    } catch {
      trainedOn = [];
    }
  }
  const source = referenceFile(input.root, input.store, monitoring.reference, trainedOn);
  if (!source) return null;
  const current = currentColumns(input.log, monitoring.drift.window, input.now, MAX_DRIFT_ROWS);
  const reference = await readColumnsFile(source.file, source.display, source.options);
  const features = (monitoring.drift.features ?? Object.keys(current)).filter(
    (feature) => feature in reference && feature in current,
  );
  if (features.length === 0 || (current[features[0] ?? '']?.length ?? 0) === 0) return null;
  const report = driftBetween(reference, current, {
    method: monitoring.drift.method,
    threshold: monitoring.drift.threshold,
    share: monitoring.drift.share,
    features,
  });
  return { ...report, minRows: monitoring.drift.minRows };
}

/** Runs the configured detector over the error stream of labelled rows, oldest first. */
function conceptDriftOf(
  rows: readonly LabelledRow[],
  task: Task,
  settings: { detector: 'adwin' | 'ddm'; delta: number },
): ConceptDriftState {
  // DDM reads a stream of mistakes (0/1); regression errors are not, so ADWIN watches them instead.
  const kind = task === 'regression' ? 'adwin' : settings.detector;
  const detector = conceptDetector(kind, settings.delta);
  const detections: number[] = [];
  for (const row of [...rows].sort((a, b) => a.at - b.at))
    if (detector.update(rowError(row, task))) detections.push(row.at);
  return {
    detector: kind,
    detections: detections.reverse(),
    errorRate: rows.length > 0 ? detector.estimation() : null,
  };
}

/**
 * KPIs per arm over the period. The rows are the answered requests, each with the fields of its
 * labels and events (the latest value of a field wins) plus label, latency_ms, status and version.
 */
function kpisOf(
  input: MonitorInput,
  requests: readonly RequestSummary[],
  feedback: ReadonlyMap<string, readonly FeedbackRow[]>,
  warnings: string[],
): KpiValue[] {
  if (input.spec.monitoring.kpis.length === 0) return [];
  const rowsByArm = new Map<string, Record<string, unknown>[]>([[ALL, []]]);
  for (const request of requests) {
    if (request.arm === 'shadow') continue;
    const row: Record<string, unknown> = {
      latency_ms: request.latencyMs,
      status: request.status,
      version: request.version,
      arm: request.arm,
    };
    for (const entry of feedback.get(request.requestId) ?? []) {
      Object.assign(row, entry.fields);
      if (entry.label !== null) row['label'] = entry.label;
    }
    // A fallback answered a request routed to one arm: it counts for the arm it was routed to.
    const arm = request.arm === 'fallback' ? 'stable' : request.arm;
    const list = rowsByArm.get(arm) ?? [];
    list.push(row);
    rowsByArm.set(arm, list);
    rowsByArm.get(ALL)?.push(row);
  }
  const values: KpiValue[] = [];
  for (const kpi of input.spec.monitoring.kpis) {
    let node;
    try {
      node = parseKpi(kpi.name, kpi.expression);
    } catch (error) {
      warnings.push(error instanceof Error ? error.message : String(error));
      continue;
    }
    const byArm: Record<string, number | null> = {};
    const events: Record<string, number> = {};
    for (const [arm, rows] of rowsByArm) {
      byArm[arm] = rows.length > 0 ? evaluateKpi(node, rows) : null;
      events[arm] = rows.length;
    }
    values.push({ name: kpi.name, target: kpi.target, direction: kpi.direction, byArm, events });
  }
  return values;
}
