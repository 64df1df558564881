// Alert rules: a `when` condition over the monitor's figures ("error_rate > 0.02",
// "latency.p99_ms > 300", "drift.share > 0.5", "performance.accuracy < 0.7", a KPI name), held for
// `for` before it fires. Firing and resolved alerts are rows of the store's `alerts` table; the `for`
// clock lives in the prediction log so a restarted server keeps it. A webhook gets every change as a
// JSON POST; a webhook that fails is reported, never fatal.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Database from 'better-sqlite3';
import type { AlertRecord, DriftReport } from '../../shared/deployments';
import type { OperationalFigures } from './operational';
import type { AlertRule } from '../deploy/spec';

export type Comparison = '>' | '>=' | '<' | '<=' | '==' | '!=';

export interface Condition {
  metric: string;
  op: Comparison;
  value: number;
}

/** What the rules can read at one evaluation. */
export interface MonitorFigures {
  operational: OperationalFigures;
  drift: DriftReport | null;
  performance: Record<string, number | null>;
  /** Whether the concept-drift detector signalled within the window; null without labels or detector. */
  conceptDrift: boolean | null;
  /** KPI over all traffic, and per arm under "name.arm". */
  kpis: Record<string, number | null>;
  resources: { cpuPercent: number; rssBytes: number } | null;
}

/** An alert rule written wrong: names the rule and says what to write. */
export class AlertRuleError extends Error {}

const CONDITION =
  /^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*$/;
const OPERATIONAL = ['error_rate', 'rejected_rate', 'throughput', 'requests', 'cpu_percent', 'rss_mb', 'concept_drift'];
const LATENCY = ['latency.p50_ms', 'latency.p95_ms', 'latency.p99_ms'];

/** Every metric name a `when` may use, given the KPI names; `drift.<feature>` and `performance.<metric>` are open. */
export function knownMetric(metric: string, kpis: readonly string[]): boolean {
  if (OPERATIONAL.includes(metric) || LATENCY.includes(metric)) return true;
  if (/^latency_p(50|95|99)_ms$/.test(metric)) return true;
  if (/^drift\.[^.]+$/.test(metric) || /^performance\.[A-Za-z0-9_]+$/.test(metric)) return true;
  const kpi = metric.startsWith('kpi.') ? metric.slice(4) : metric;
  return kpis.some((name) => kpi === name || kpi.startsWith(`${name}.`));
}

/** Parses the `when` of a rule; throws an AlertRuleError naming the rule. */
export function parseCondition(rule: string, when: string, kpis: readonly string[] = []): Condition {
  const match = CONDITION.exec(when);
  if (!match)
    throw new AlertRuleError(
      `alert '${rule}': when '${when}' is not "metric operator number"; write for example "error_rate > 0.02" or "latency.p99_ms > 300".`,
    );
  const metric = match[1] ?? '';
  if (!knownMetric(metric, kpis))
    throw new AlertRuleError(
      `alert '${rule}': unknown metric '${metric}' in '${when}'; use error_rate, rejected_rate, throughput, latency.p50_ms, latency.p95_ms, latency.p99_ms, drift.share, drift.<feature>, performance.<metric>, concept_drift, cpu_percent, rss_mb${kpis.length > 0 ? ` or a KPI (${kpis.join(', ')})` : ''}.`,
    );
  return { metric, op: (match[2] ?? '>') as Comparison, value: Number(match[3]) };
}

/** The value of a metric in the figures; null when there is no data for it. */
export function metricValue(figures: MonitorFigures, metric: string): number | null {
  const operational = figures.operational;
  switch (metric) {
    case 'error_rate':
      return operational.errorRate;
    case 'rejected_rate':
      return operational.rejectedRate;
    case 'throughput':
      return operational.throughput;
    case 'requests':
      return operational.requests;
    case 'latency.p50_ms':
    case 'latency_p50_ms':
      return operational.p50Ms;
    case 'latency.p95_ms':
    case 'latency_p95_ms':
      return operational.p95Ms;
    case 'latency.p99_ms':
    case 'latency_p99_ms':
      return operational.p99Ms;
    case 'cpu_percent':
      return figures.resources?.cpuPercent ?? null;
    case 'rss_mb':
      return figures.resources ? figures.resources.rssBytes / (1024 * 1024) : null;
    case 'concept_drift':
      return figures.conceptDrift === null ? null : Number(figures.conceptDrift);
  }
  if (metric.startsWith('drift.')) {
    const drift = figures.drift;
    if (!drift) return null;
    const name = metric.slice(6);
    if (name === 'share') return drift.share;
    if (name === 'drifted' || name === 'drifted_features') return drift.driftedFeatures;
    if (name === 'dataset') return Number(drift.datasetDrift);
    return drift.features.find((feature) => feature.feature === name)?.statistic ?? null;
  }
  if (metric.startsWith('performance.')) return figures.performance[metric.slice(12)] ?? null;
  const kpi = metric.startsWith('kpi.') ? metric.slice(4) : metric;
  return figures.kpis[kpi] ?? null;
}

/** Whether `value op threshold` holds; never with no value. */
export function holds(value: number | null, condition: Condition): boolean {
  if (value === null || Number.isNaN(value)) return false;
  switch (condition.op) {
    case '>':
      return value > condition.value;
    case '>=':
      return value >= condition.value;
    case '<':
      return value < condition.value;
    case '<=':
      return value <= condition.value;
    case '==':
      return value === condition.value;
    case '!=':
      return value !== condition.value;
  }
}

/** The `for` clock of each rule: kept by the prediction log, so it survives a restart. */
export interface PendingClock {
  pendingSince(rule: string): number | null;
  setPending(rule: string, since: number | null): void;
}

export interface RuleOutcome {
  rule: AlertRule;
  condition: Condition;
  value: number | null;
  holding: boolean;
}

/** One evaluation: which alerts fire and which resolve; the store rows are written here. */
export function applyRules(input: {
  db: Database.Database;
  deployment: string;
  root: string;
  outcomes: readonly RuleOutcome[];
  clock: PendingClock;
  now: number;
  /** Actions a firing alert carries, by rule name (rollback, retrain-proposed). */
  actionsOf: (rule: string) => string[];
}): { fired: AlertRecord[]; resolved: AlertRecord[] } {
  const fired: AlertRecord[] = [];
  const resolved: AlertRecord[] = [];
  for (const outcome of input.outcomes) {
    const { rule } = outcome;
    const open = firingAlert(input.db, input.deployment, rule.name);
    if (!outcome.holding) {
      input.clock.setPending(rule.name, null);
      if (open) {
        input.db.prepare("UPDATE alerts SET state = 'resolved', resolved_at = ? WHERE id = ?").run(input.now, open.id);
        resolved.push({ ...open, state: 'resolved', resolvedAt: input.now });
      }
      continue;
    }
    if (open) continue;
    let since = input.clock.pendingSince(rule.name);
    if (since === null) {
      since = input.now;
      input.clock.setPending(rule.name, since);
    }
    if (input.now - since < rule.forMs) continue;
    input.clock.setPending(rule.name, null);
    fired.push(
      insertAlert(input.db, {
        deployment: input.deployment,
        rule: rule.name,
        severity: rule.severity,
        condition: rule.when,
        value: outcome.value,
        message: alertMessage(outcome, input.root),
        runbook: rule.runbook === '' ? null : rule.runbook,
        actions: input.actionsOf(rule.name),
        firedAt: input.now,
      }),
    );
  }
  return { fired, resolved };
}

/** The sentence an alert carries: what held, the value, and a missing runbook if it is missing. */
function alertMessage(outcome: RuleOutcome, root: string): string {
  const value = outcome.value === null ? 'no value' : formatNumber(outcome.value);
  const lasting = outcome.rule.forMs > 0 ? ` for ${formatDuration(outcome.rule.forMs)}` : '';
  let message = `${outcome.condition.metric} is ${value} (${outcome.rule.when})${lasting}.`;
  if (outcome.rule.runbook !== '' && !fs.existsSync(path.resolve(root, outcome.rule.runbook)))
    message += ` The runbook ${outcome.rule.runbook} does not exist: write it.`;
  return message;
}

/** Problems with rules before anything runs: bad conditions and missing runbooks. */
export function checkRules(rules: readonly AlertRule[], kpis: readonly string[], root: string): string[] {
  const problems: string[] = [];
  for (const rule of rules) {
    try {
      parseCondition(rule.name, rule.when, kpis);
    } catch (error) {
      if (!(error instanceof AlertRuleError)) throw error;
      problems.push(error.message);
    }
    if (!fs.existsSync(path.resolve(root, rule.runbook)))
      problems.push(`alert '${rule.name}': the runbook ${rule.runbook} does not exist; write it or fix the path.`);
  }
  return problems;
}

export function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

// Store rows -------------------------------------------------------------------------------------

interface AlertRow {
  id: number;
  deployment: string;
  rule: string;
  severity: string;
  state: string;
  condition: string;
  value: number | null;
  message: string;
  runbook: string | null;
  actions: string | null;
  fired_at: number;
  resolved_at: number | null;
}

function alertOf(row: AlertRow): AlertRecord {
  return {
    id: row.id,
    deployment: row.deployment,
    rule: row.rule,
    severity: row.severity === 'info' || row.severity === 'critical' ? row.severity : 'warning',
    state: row.state === 'resolved' ? 'resolved' : 'firing',
    condition: row.condition,
    value: row.value,
    message: row.message,
    runbook: row.runbook,
    actions: row.actions === null ? [] : (JSON.parse(row.actions) as string[]),
    firedAt: row.fired_at,
    resolvedAt: row.resolved_at,
  };
}

/** The firing alert of a rule, if there is one. */
export function firingAlert(db: Database.Database, deployment: string, rule: string): AlertRecord | null {
  const row = db
    .prepare("SELECT * FROM alerts WHERE deployment = ? AND rule = ? AND state = 'firing' ORDER BY id DESC LIMIT 1")
    .get(deployment, rule) as AlertRow | undefined;
  return row ? alertOf(row) : null;
}

/** Records a firing alert and returns it with its id. */
export function insertAlert(
  db: Database.Database,
  alert: Omit<AlertRecord, 'id' | 'state' | 'resolvedAt'>,
): AlertRecord {
  const result = db
    .prepare(
      `INSERT INTO alerts (deployment, rule, severity, state, condition, value, message, runbook, actions, fired_at)
       VALUES (?, ?, ?, 'firing', ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      alert.deployment,
      alert.rule,
      alert.severity,
      alert.condition,
      alert.value,
      alert.message,
      alert.runbook,
      JSON.stringify(alert.actions),
      alert.firedAt,
    );
  return { ...alert, id: Number(result.lastInsertRowid), state: 'firing', resolvedAt: null };
}

/** Replaces the actions an alert records (S2 after carrying them out: "rollback", "retrain-started"). */
export function setAlertActions(db: Database.Database, id: number, actions: readonly string[]): void {
  db.prepare('UPDATE alerts SET actions = ? WHERE id = ?').run(JSON.stringify(actions), id);
}

/** Alerts newest first: of one deployment or all, optionally only those fired since or still firing at `since`. */
export function listAlerts(
  db: Database.Database,
  options: { deployment?: string; since?: number; limit?: number } = {},
): AlertRecord[] {
  const conditions: string[] = [];
  const values: (string | number)[] = [];
  if (options.deployment !== undefined) {
    conditions.push('deployment = ?');
    values.push(options.deployment);
  }
  if (options.since !== undefined) {
    conditions.push("(fired_at >= ? OR state = 'firing' OR resolved_at >= ?)");
    values.push(options.since, options.since);
  }
  const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
  const rows = db
    .prepare(`SELECT * FROM alerts ${where} ORDER BY id DESC LIMIT ${Math.floor(options.limit ?? 1000)}`)
    .all(...values) as AlertRow[];
  return rows.map(alertOf);
}

// Webhook ----------------------------------------------------------------------------------------

/** Posts `payload` as JSON to `url`; resolves with null when delivered, else the reason it was not. */
export async function postWebhook(url: string, payload: unknown, timeoutMs = 5000): Promise<string | null> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'cairn-monitor' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
    });
    // Drain the body so the connection is released.
    await response.arrayBuffer();
    return response.ok ? null : `the webhook answered ${response.status} ${response.statusText}`;
  } catch (error) {
    const reason =
      error instanceof Error
        ? error.name === 'TimeoutError'
          ? `no answer within ${timeoutMs} ms`
          : error.message
        : String(error);
    return `the webhook ${url} failed: ${reason}`;
  }
}
