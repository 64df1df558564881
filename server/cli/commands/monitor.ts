// `cairn monitor ...`: what the deployments' monitors saw. Labels and business events join the
// prediction log by request id; alerts and retrains are read from the store; a report (operational
// series, drift, labelled performance, KPIs, alerts) is built from the log file and the store, so it
// works with the server stopped; `monitor drift` compares two data files (monitorDrift.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, parseCsv, parseJsonLine } from '../../engine/data/sources';
import { durationMs } from '../../engine/data/spec';
import { DeploymentSpecError, readDeployment } from '../../engine/deploy/spec';
import type { DeploymentSpec } from '../../engine/deploy/spec';
import { deploymentRow, deploymentRows, statusOf } from '../../engine/deploy/records';
import { listRetrains } from '../../engine/deploy/records';
import { formatDuration, formatNumber, listAlerts } from '../../engine/monitor/alerts';
import { FeedbackError, monitorDbPath, PredictionLog } from '../../engine/monitor/log';
import { buildReport, readRoundReport, REPORT_BUCKET_MS, REPORT_PERIOD_MS } from '../../engine/monitor/monitor';
import { ALL } from '../../engine/monitor/operational';
import { stateDir, Store } from '../../engine/store';
import type { AlertRecord, MonitorReport, OperationalPoint, RetrainRecord } from '../../shared/deployments';
import { driftJudged } from '../../shared/deployments';
import { rejectUnknownOptions, takeOption, UsageError } from '../args';
import type { Command, CommandContext } from '../args';
import { renderTable } from '../format';
import { monitorDriftUsage, runDriftCommand } from './monitorDrift';

export const monitorCommand: Command = {
  usage: [
    'monitor labels FILE --deployment NAME [--join-key FIELD]',
    '                              Join ground-truth labels and business events (JSON Lines or CSV, one',
    '                              row per request id) to the logged predictions.',
    'monitor alerts [NAME] [--json] Alerts of every deployment (or one), newest first.',
    'monitor report NAME [--since 1h] [--bucket 1m] [--json]',
    '                              Latency, throughput, errors per version, drift, labelled performance,',
    '                              KPIs per arm and alerts of the period (works with the server stopped;',
    "                              while it serves, the last hour is the monitor's latest round).",
    'monitor retrains [NAME] [--json]',
    '                              Retrains the loop proposed or ran.',
    ...monitorDriftUsage,
  ],
  async run(context) {
    const action = context.args.shift();
    switch (action) {
      case 'labels':
        return labelsCommand(context);
      case 'alerts':
        return alertsCommand(context);
      case 'report':
        return reportCommand(context);
      case 'retrains':
        return retrainsCommand(context);
      case 'drift':
        return runDriftCommand(context);
      default:
        throw new UsageError(
          action
            ? `Unknown monitor command '${action}'. Use labels, alerts, report, retrains or drift.`
            : 'monitor needs a command: labels, alerts, report, retrains or drift.',
        );
    }
  },
};

function hasStore(root: string): boolean {
  return fs.existsSync(path.join(stateDir(root), 'cairn.db'));
}

function withStore<T>(root: string, work: (store: Store) => T): T {
  const store = Store.open(root);
  try {
    return work(store);
  } finally {
    store.close();
  }
}

function optionalName(args: string[]): string | undefined {
  const name = args.shift();
  if (args.length > 0) throw new UsageError(`Unexpected argument '${args[0]}'.`);
  return name;
}

// labels -------------------------------------------------------------------------------------------

/** The rows of a JSON Lines or CSV file, with each row's line. */
function readFeedbackFile(file: string, display: string): { rows: Record<string, unknown>[]; lines: number[] } {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    // Bad input rather than a misused command: exit 2 with the reason, without the usage hint.
    const code = (error as NodeJS.ErrnoException).code;
    throw new DataError(
      `${display}: cannot read the file (${code === 'ENOENT' ? 'it does not exist' : (code ?? String(error))}).`,
    );
  }
  const extension = path.extname(file).toLowerCase();
  if (extension === '.csv') {
    const table = parseCsv(bytes, {}, display);
    return { rows: table.rows, lines: table.lines ?? [] };
  }
  if (extension !== '.jsonl' && extension !== '.ndjson')
    throw new UsageError(`${display}: give a JSON Lines (.jsonl) or CSV (.csv) file of labels or events.`);
  const rows: Record<string, unknown>[] = [];
  const lines: number[] = [];
  bytes
    .toString('utf8')
    .split('\n')
    .forEach((line, index) => {
      if (line.trim() === '') return;
      // Unlike a dataset, a label may be a list (one per row of a multi-row request): keep values as sent.
      rows.push(parseJsonLine(line, `${display}:${index + 1}`));
      lines.push(index + 1);
    });
  return { rows, lines };
}

/** The deployment's name, checked to be one the workspace has (a row or a prediction log). */
function knownDeployment(root: string, name: string): void {
  if (fs.existsSync(monitorDbPath(root, name))) return;
  if (hasStore(root) && withStore(root, (store) => deploymentRow(store.db, name)) !== null) return;
  const known = hasStore(root) ? withStore(root, (store) => deploymentRows(store.db).map((row) => row.name)) : [];
  throw new UsageError(
    `No deployment '${name}' in ${root}.${known.length > 0 ? ` Deployments: ${known.join(', ')}.` : ' Deploy one with: cairn deploy FILE'}`,
  );
}

function labelsCommand({ root, json, args }: CommandContext): number {
  const deployment = takeOption(args, '--deployment');
  const joinKey = takeOption(args, '--join-key');
  rejectUnknownOptions(args);
  const file = args.shift();
  if (!file) throw new UsageError('monitor labels needs a FILE of labels (JSON Lines or CSV).');
  if (args.length > 0) throw new UsageError(`Unexpected argument '${args[0]}'.`);
  if (!deployment)
    throw new UsageError('monitor labels needs --deployment NAME: the deployment whose predictions they label.');
  knownDeployment(root, deployment);
  const absolute = path.resolve(root, file);
  let counts: { labels: number; events: number; matched: number };
  try {
    const { rows, lines } = readFeedbackFile(absolute, file);
    const log = PredictionLog.open(root, deployment);
    try {
      const key = joinKey ?? 'request_id';
      log.addFeedback(rows, { now: Date.now(), joinKey: key, where: file, lines });
      const labels = rows.filter((row) => row['label'] !== undefined).length;
      counts = {
        labels,
        events: rows.length - labels,
        matched: log.matchingRequests(rows.map((row) => String(row[key]))),
      };
    } finally {
      log.close();
    }
  } catch (error) {
    if (!(error instanceof FeedbackError) && !(error instanceof DataError)) throw error;
    process.stderr.write(`cairn: ${error.message}\n`);
    return 2;
  }
  if (json) {
    process.stdout.write(`${JSON.stringify({ deployment, ...counts })}\n`);
    return 0;
  }
  const unmatched =
    counts.labels + counts.events > 0 && counts.matched === 0 ? ' None matches a logged prediction yet.' : '';
  process.stdout.write(
    `Recorded ${counts.labels} label${counts.labels === 1 ? '' : 's'} and ${counts.events} event${counts.events === 1 ? '' : 's'} for ${deployment}; ${counts.matched} request id${counts.matched === 1 ? '' : 's'} match logged predictions.${unmatched}\n`,
  );
  return 0;
}

// alerts and retrains ------------------------------------------------------------------------------

function alertsCommand({ root, json, args }: CommandContext): number {
  rejectUnknownOptions(args);
  const name = optionalName(args);
  if (name !== undefined) knownDeployment(root, name);
  const alerts: AlertRecord[] = hasStore(root)
    ? withStore(root, (store) => listAlerts(store.db, name === undefined ? {} : { deployment: name }))
    : [];
  if (json) {
    process.stdout.write(`${JSON.stringify({ alerts }, null, 2)}\n`);
    return 0;
  }
  if (alerts.length === 0) {
    process.stdout.write(`No alerts${name ? ` for ${name}` : ''}.\n`);
    return 0;
  }
  process.stdout.write(alertTable(alerts));
  return 0;
}

function alertTable(alerts: readonly AlertRecord[]): string {
  const rows = alerts.map((alert) => [
    String(alert.id),
    alert.deployment,
    alert.rule,
    alert.severity,
    alert.state,
    alert.value === null ? '-' : formatNumber(alert.value),
    timestamp(alert.firedAt),
    alert.resolvedAt === null ? '-' : timestamp(alert.resolvedAt),
    alert.actions.join(',') || '-',
    alert.runbook ?? '-',
  ]);
  return renderTable([
    ['ID', 'DEPLOYMENT', 'RULE', 'SEVERITY', 'STATE', 'VALUE', 'FIRED', 'RESOLVED', 'ACTIONS', 'RUNBOOK'],
    ...rows,
  ]);
}

function retrainsCommand({ root, json, args }: CommandContext): number {
  rejectUnknownOptions(args);
  const name = optionalName(args);
  if (name !== undefined) knownDeployment(root, name);
  const retrains: RetrainRecord[] = hasStore(root) ? withStore(root, (store) => listRetrains(store.db, name)) : [];
  if (json) {
    process.stdout.write(`${JSON.stringify({ retrains }, null, 2)}\n`);
    return 0;
  }
  if (retrains.length === 0) {
    process.stdout.write(`No retrains${name ? ` for ${name}` : ''}.\n`);
    return 0;
  }
  const rows = retrains.map((retrain) => [
    String(retrain.id),
    retrain.deployment,
    retrain.status,
    retrain.reason,
    timestamp(retrain.proposedAt),
    retrain.model === null ? '-' : `${retrain.model}${retrain.version === null ? '' : ` v${retrain.version}`}`,
    retrain.approvedBy ?? '-',
    retrain.message ?? '-',
  ]);
  process.stdout.write(
    renderTable([['ID', 'DEPLOYMENT', 'STATUS', 'REASON', 'PROPOSED', 'MODEL', 'APPROVED BY', 'MESSAGE'], ...rows]),
  );
  return 0;
}

// report -------------------------------------------------------------------------------------------

function durationOption(args: string[], name: string, fallback: number): number {
  const value = takeOption(args, name);
  if (value === undefined) return fallback;
  const ms = durationMs(value);
  if (!Number.isFinite(ms) || ms <= 0)
    throw new UsageError(`${name} needs a duration such as 30s, 15m, 1h or 7d, not '${value}'.`);
  return ms;
}

/** The deployment's spec: the file its row records, or a *.deploy.yaml path given as the name. */
function specOf(root: string, store: Store, name: string): DeploymentSpec {
  const row = deploymentRow(store.db, name);
  const file = row?.file ?? (/\.deploy\.ya?ml$/.test(name) ? name : null);
  if (file === null) {
    const known = deploymentRows(store.db).map((candidate) => candidate.name);
    throw new UsageError(
      `No deployment '${name}' in ${root}.${known.length > 0 ? ` Deployments: ${known.join(', ')}.` : ' Deploy one with: cairn deploy FILE'}`,
    );
  }
  return readDeployment(file, root);
}

async function reportCommand({ root, json, args }: CommandContext): Promise<number> {
  const sinceMs = durationOption(args, '--since', REPORT_PERIOD_MS);
  const bucketMs = durationOption(args, '--bucket', REPORT_BUCKET_MS);
  rejectUnknownOptions(args);
  const name = args.shift();
  if (!name) throw new UsageError('monitor report needs the deployment NAME.');
  if (args.length > 0) throw new UsageError(`Unexpected argument '${args[0]}'.`);
  const store = Store.open(root);
  try {
    let spec: DeploymentSpec;
    try {
      spec = specOf(root, store, name);
    } catch (error) {
      if (!(error instanceof DeploymentSpecError)) throw error;
      process.stderr.write(`cairn: ${error.message}\n`);
      return 2;
    }
    const row = deploymentRow(store.db, spec.name);
    const status = row ? statusOf(store.db, row) : null;
    // A serving deployment's monitor writes this period's report every round: no need to build it again.
    const latest =
      status?.status === 'serving'
        ? readRoundReport(root, spec.name, {
            sinceMs,
            bucketMs,
            intervalMs: spec.monitoring.intervalMs,
            now: Date.now(),
          })
        : null;
    if (latest) {
      latest.status = status;
      latest.alerts = listAlerts(store.db, { deployment: spec.name, since: latest.from });
      process.stdout.write(json ? `${JSON.stringify(latest)}\n` : formatMonitorReport(latest));
      return 0;
    }
    // Read-only when the server has written a log, so a running server is never disturbed.
    const exists = fs.existsSync(monitorDbPath(root, spec.name));
    const log = PredictionLog.open(root, spec.name, exists ? { readonly: true } : {});
    try {
      const { report, warnings } = await buildReport({ root, spec, log, store, now: Date.now(), sinceMs, bucketMs });
      report.status = status;
      for (const warning of warnings) process.stderr.write(`cairn: ${warning}\n`);
      process.stdout.write(json ? `${JSON.stringify(report)}\n` : formatMonitorReport(report));
      return 0;
    } finally {
      log.close();
    }
  } finally {
    store.close();
  }
}

function total(points: readonly OperationalPoint[]): {
  requests: number;
  errors: number;
  rejected: number;
  fallbacks: number;
} {
  return points.reduce(
    (sum, point) => ({
      requests: sum.requests + point.requests,
      errors: sum.errors + point.errors,
      rejected: sum.rejected + point.rejected,
      fallbacks: sum.fallbacks + point.fallbacks,
    }),
    { requests: 0, errors: 0, rejected: 0, fallbacks: 0 },
  );
}

function milliseconds(value: number | null): string {
  return value === null ? '-' : `${formatNumber(value)} ms`;
}

/** The report as a person reads it: traffic per version, latest bucket latencies, drift, performance, KPIs, alerts. */
export function formatMonitorReport(report: MonitorReport): string {
  const sections: string[] = [];
  const span = formatDuration(Math.round((report.to - 1 - report.from) / 1000) * 1000);
  sections.push(
    `${report.deployment}: the last ${span} (${timestamp(report.from)} to ${timestamp(report.generatedAt)}), buckets of ${formatDuration(report.bucketMs)}` +
      (report.status
        ? `; ${report.status.status}, ${report.status.health}${report.status.url ? ` at ${report.status.url}` : ''}`
        : ''),
  );
  const versions = Object.keys(report.operational).sort((a, b) =>
    a === ALL ? 1 : b === ALL ? -1 : a.localeCompare(b),
  );
  const operationalRows = versions.map((version) => {
    const points = report.operational[version] ?? [];
    const sums = total(points);
    const seconds = Math.max(1, (report.to - report.from) / 1000);
    const busiest = points.filter((point) => point.requests > 0).at(-1);
    return [
      version,
      String(sums.requests),
      sums.requests > 0 ? `${formatNumber((100 * sums.errors) / sums.requests)}%` : '-',
      String(sums.rejected),
      String(sums.fallbacks),
      formatNumber(sums.requests / seconds),
      milliseconds(busiest?.p50Ms ?? null),
      milliseconds(busiest?.p95Ms ?? null),
      milliseconds(busiest?.p99Ms ?? null),
    ];
  });
  sections.push(
    `Traffic (latency of the latest bucket with requests):\n${renderTable(
      [['VERSION', 'REQUESTS', 'ERRORS', 'REJECTED', 'FALLBACKS', 'REQ/S', 'P50', 'P95', 'P99'], ...operationalRows],
      '  ',
    )}`.trimEnd(),
  );
  const resource = report.resources.at(-1);
  if (resource)
    sections.push(
      `Resources: CPU ${formatNumber(resource.cpuPercent)}%, memory ${formatNumber(resource.rssBytes / 1048576)} MiB`,
    );
  const drift = report.drift;
  if (drift) {
    const rows = drift.features.map((feature) => [
      feature.feature,
      feature.test,
      formatNumber(feature.statistic),
      formatNumber(feature.score),
      formatNumber(feature.threshold),
      feature.drifted ? 'DRIFT' : 'ok',
    ]);
    const verdict = driftJudged(drift)
      ? `${drift.driftedFeatures} of ${drift.features.length} features drifted (share ${formatNumber(drift.share)}${drift.datasetDrift ? ', dataset drift' : ''})`
      : `too few to judge: drift is judged from ${drift.minRows ?? 0} rows (monitoring.drift.min_rows), and its alerts wait until then`;
    sections.push(
      `Drift (${drift.currentRows} recent rows against ${drift.referenceRows} reference rows): ${verdict}\n${renderTable(
        [['FEATURE', 'TEST', 'STATISTIC', 'SCORE', 'THRESHOLD', 'RESULT'], ...rows],
        '  ',
      )}`.trimEnd(),
    );
  } else sections.push('Drift: no reference or no logged inputs in the window.');
  const performanceVersions = Object.keys(report.performance);
  if (performanceVersions.length > 0) {
    const metricNames = [
      ...new Set(
        performanceVersions.flatMap((version) =>
          (report.performance[version] ?? []).flatMap((point) => Object.keys(point.metrics)),
        ),
      ),
    ];
    const rows = performanceVersions.map((version) => {
      const labelled = (report.performance[version] ?? []).filter((point) => point.labelled > 0);
      const latest = labelled.at(-1);
      return [
        version,
        String(labelled.reduce((sum, point) => sum + point.labelled, 0)),
        ...metricNames.map((metric) => {
          const value = latest?.metrics[metric];
          return value === null || value === undefined ? '-' : formatNumber(value);
        }),
      ];
    });
    sections.push(
      `Performance on labels (latest bucket with labels):\n${renderTable([['VERSION', 'LABELLED', ...metricNames.map((metric) => metric.toUpperCase())], ...rows], '  ')}`.trimEnd(),
    );
  } else sections.push('Performance: no labelled predictions in the period.');
  if (report.conceptDrift)
    sections.push(
      `Concept drift (${report.conceptDrift.detector}): ${report.conceptDrift.detections.length === 0 ? 'none detected' : `detected at ${report.conceptDrift.detections.map(timestamp).join(', ')}`}${report.conceptDrift.errorRate === null ? '' : `; error rate ${formatNumber(report.conceptDrift.errorRate)}`}`,
    );
  if (report.kpis.length > 0) {
    const arms = [...new Set(report.kpis.flatMap((kpi) => Object.keys(kpi.byArm)))].sort((a, b) =>
      a === ALL ? 1 : b === ALL ? -1 : a.localeCompare(b),
    );
    const rows = report.kpis.map((kpi) => [
      kpi.name,
      ...arms.map((arm) => {
        const value = kpi.byArm[arm];
        return value === null || value === undefined ? '-' : `${formatNumber(value)} (${kpi.events[arm] ?? 0})`;
      }),
      kpi.target === null ? '-' : `${kpi.direction === 'maximize' ? '>=' : '<='} ${formatNumber(kpi.target)}`,
    ]);
    sections.push(
      `KPIs per arm (value and requests):\n${renderTable([['KPI', ...arms.map((arm) => arm.toUpperCase()), 'TARGET'], ...rows], '  ')}`.trimEnd(),
    );
  }
  sections.push(
    report.alerts.length === 0
      ? 'Alerts: none in the period.'
      : `Alerts:\n${alertTable(report.alerts).replace(/^/gm, '  ')}`.trimEnd(),
  );
  return `${sections.join('\n\n')}\n`;
}

function timestamp(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}
