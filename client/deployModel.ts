// What the Deployments and Alerts views, the status bar item and the alert notifications show, from
// the CLI's JSON (server/shared/deployments.ts): a deployment's line and its versions with their
// traffic, the health icon, the rollout phase, an alert's line, which alerts are new since the last
// look, and which deployment the status bar follows. Pure functions: no editor, no process, so unit
// tests (test/unit/deployModel.test.ts) run them directly.
import type {
  AlertRecord,
  DeploymentHealth,
  DeploymentStatus,
  RetrainRecord,
  RolloutState,
  ServedVersion,
} from '../server/shared/deployments';

export type { AlertRecord, DeploymentStatus, RetrainRecord };

/** `cairn deploy status --json`. */
export interface DeploymentList {
  deployments: DeploymentStatus[];
}

/** `cairn monitor alerts --json`. */
export interface AlertList {
  alerts: AlertRecord[];
}

/** `cairn monitor retrains --json`. */
export interface RetrainList {
  retrains: RetrainRecord[];
}

/** A codicon and the theme colour it is drawn in (null: the default foreground). */
export interface Icon {
  id: string;
  colour: string | null;
}

const HEALTH_ICONS: Record<DeploymentHealth, Icon> = {
  healthy: { id: 'pass-filled', colour: 'testing.iconPassed' },
  degraded: { id: 'warning', colour: 'problemsWarningIcon.foreground' },
  down: { id: 'error', colour: 'problemsErrorIcon.foreground' },
  stopped: { id: 'circle-slash', colour: 'disabledForeground' },
};

/** The icon of a deployment: its health, or a spinner while it starts or drains. */
export function deploymentIcon(deployment: DeploymentStatus): Icon {
  if (deployment.status === 'starting' || deployment.status === 'draining') return { id: 'sync~spin', colour: null };
  if (deployment.status === 'failed') return HEALTH_ICONS.down;
  if (deployment.status === 'stopped') return HEALTH_ICONS.stopped;
  return HEALTH_ICONS[deployment.health];
}

/** True while the server process runs (or is about to): the views poll it. */
export function isLive(deployment: DeploymentStatus): boolean {
  return deployment.status === 'starting' || deployment.status === 'serving' || deployment.status === 'draining';
}

/** "rain-tomorrow v3". */
export function versionName(version: ServedVersion): string {
  return `${version.model} v${version.version}`;
}

/** The rollout in words: "canary step 2/3", "A/B test", "shadow", "rolled back: reason"... or '' for none. */
export function rolloutText(rollout: RolloutState, now = Date.now()): string {
  const strategy = STRATEGY_NAMES[rollout.strategy];
  switch (rollout.phase) {
    case 'none':
      return rollout.strategy === 'direct' ? '' : strategy;
    case 'progressing':
    case 'paused': {
      const step = rollout.step !== null && rollout.steps !== null ? ` step ${rollout.step + 1}/${rollout.steps}` : '';
      const wait =
        rollout.nextStepAt !== null && rollout.nextStepAt > now
          ? `, next in ${shortDuration(rollout.nextStepAt - now)}`
          : '';
      return `${strategy}${step}${rollout.phase === 'paused' ? ' paused' : ''}${wait}`;
    }
    case 'awaiting-approval':
      return `${strategy} awaiting promotion`;
    case 'promoted':
      return `${strategy} promoted`;
    case 'aborted':
      return `${strategy} rolled back${rollout.reason ? `: ${rollout.reason}` : ''}`;
  }
}

const STRATEGY_NAMES: Record<RolloutState['strategy'], string> = {
  direct: 'direct',
  canary: 'canary',
  ab: 'A/B test',
  shadow: 'shadow',
};

/** The description beside a deployment's name: "serving · healthy · canary step 1/3". */
export function deploymentDescription(deployment: DeploymentStatus, now = Date.now()): string {
  const parts: string[] = [deployment.status];
  if (deployment.status === 'serving') parts.push(deployment.health);
  const rollout = rolloutText(deployment.rollout, now);
  if (rollout) parts.push(rollout);
  return parts.join(' · ');
}

/** One served version as a row under its deployment. */
export interface VersionRow {
  role: 'stable' | 'candidate';
  label: string;
  description: string;
  tooltip: string;
  ready: boolean;
}

/** The stable version and the candidate (when there is one), with their share of traffic. */
export function versionRows(deployment: DeploymentStatus): VersionRow[] {
  const { traffic } = deployment;
  const rows: VersionRow[] = [versionRow('stable', deployment.stable, `${traffic.stable}%`, deployment)];
  const candidate = deployment.candidate;
  if (candidate) {
    const share =
      deployment.rollout.strategy === 'shadow' || (traffic.candidate === 0 && traffic.mirror > 0)
        ? `shadow ${traffic.mirror}% mirrored`
        : `${traffic.candidate}%`;
    rows.push(versionRow('candidate', candidate, share, deployment));
  }
  return rows;
}

function versionRow(
  role: VersionRow['role'],
  version: ServedVersion,
  share: string,
  deployment: DeploymentStatus,
): VersionRow {
  const live = isLive(deployment);
  const replicas = version.replicas;
  const state = !live
    ? ''
    : replicas
      ? `${replicas.ready} of ${replicas.total} workers ready`
      : version.ready
        ? 'ready'
        : 'not ready';
  const pids = replicas ? replicas.pids : version.pid === null ? [] : [version.pid];
  const description = [share, state, version.ref, pids.length === 0 || !live ? '' : `pid ${pids.join(', ')}`]
    .filter(Boolean)
    .join(' · ');
  return {
    role,
    label: `${role}: ${versionName(version)}`,
    description,
    tooltip: `${role === 'stable' ? 'Stable' : 'Candidate'} version ${versionName(version)} (${version.ref}), ${share} of the traffic${state ? `, ${state}` : ''}`,
    ready: version.ready,
  };
}

/** The context value of a deployment row: menus show Promote only with a candidate, Stop only while it runs. */
export function deploymentContext(deployment: DeploymentStatus): string {
  const parts = ['cairn.deployment', isLive(deployment) ? 'live' : 'stopped'];
  if (deployment.candidate) parts.push('candidate');
  return parts.join('.');
}

/** A Markdown tooltip of a deployment: URL, versions, traffic, rollout and the latest events. */
export function deploymentMarkdown(deployment: DeploymentStatus, now = Date.now()): string {
  const lines = [
    `**${markdownEscape(deployment.name)}** (${markdownEscape(deployment.file)}): ${deployment.status}, ${deployment.health}`,
    '',
  ];
  if (deployment.url) lines.push(`URL: ${deployment.url}`, '');
  for (const row of versionRows(deployment))
    lines.push(`- ${markdownEscape(row.label)}: ${markdownEscape(row.description)}`);
  const rollout = rolloutText(deployment.rollout, now);
  if (rollout) lines.push('', `Rollout: ${markdownEscape(rollout)}`);
  if (deployment.events.length > 0) {
    lines.push('', 'Latest events:', '');
    for (const event of deployment.events.slice(0, 5))
      lines.push(`- ${formatClock(event.at)} ${event.kind}: ${markdownEscape(event.message)}`);
  }
  return lines.join('\n');
}

const SEVERITY_ICONS: Record<AlertRecord['severity'], Icon> = {
  critical: { id: 'error', colour: 'problemsErrorIcon.foreground' },
  warning: { id: 'warning', colour: 'problemsWarningIcon.foreground' },
  info: { id: 'info', colour: 'problemsInfoIcon.foreground' },
};

/** A firing alert shows its severity; a resolved one a check mark. */
export function alertIcon(alert: AlertRecord): Icon {
  return alert.state === 'resolved' ? { id: 'pass', colour: 'testing.iconPassed' } : SEVERITY_ICONS[alert.severity];
}

/** "critical · firing · rain · drift.share > 0.5 (0.75) · 08:12:03". */
export function alertDescription(alert: AlertRecord): string {
  const value = alert.value === null ? '' : ` (${formatValue(alert.value)})`;
  return [alert.severity, alert.state, alert.deployment, `${alert.condition}${value}`, formatClock(alert.firedAt)].join(
    ' · ',
  );
}

/** Firing alerts first, newest first within each state. */
export function orderedAlerts(alerts: AlertRecord[]): AlertRecord[] {
  return [...alerts].sort(
    (a, b) => Number(b.state === 'firing') - Number(a.state === 'firing') || b.firedAt - a.firedAt || b.id - a.id,
  );
}

/**
 * The alerts to notify about: firing ones not seen firing before. `seen` holds the ids already
 * known; the first look (seen === null) only learns them, so opening the editor does not replay
 * every old alert.
 */
export function newlyFiring(alerts: AlertRecord[], seen: ReadonlySet<number> | null): AlertRecord[] {
  if (seen === null) return [];
  return alerts.filter((alert) => alert.state === 'firing' && !seen.has(alert.id));
}

/** The retrain an alert proposed that still waits for approval, if any. */
export function proposedRetrain(alert: AlertRecord, retrains: RetrainRecord[]): RetrainRecord | null {
  return retrains.find((retrain) => retrain.alert === alert.id && retrain.status === 'proposed') ?? null;
}

/** The notification's text of a new alert. */
export function alertNotification(alert: AlertRecord): string {
  const value = alert.value === null ? '' : ` (value ${formatValue(alert.value)})`;
  const actions = alert.actions.length ? ` Actions: ${alert.actions.join(', ')}.` : '';
  return `Cairn alert ${alert.severity}: ${alert.rule} on ${alert.deployment}: ${alert.condition}${value}. ${alert.message}${actions}`.trim();
}

/**
 * The deployment the status bar follows: the preferred one (the dashboard last opened) while it
 * runs, else the live one updated last, else the preferred one (to show it stopped), else none.
 */
export function activeDeployment(deployments: DeploymentStatus[], preferred: string | null): DeploymentStatus | null {
  const chosen = preferred === null ? undefined : deployments.find((deployment) => deployment.name === preferred);
  if (chosen && isLive(chosen)) return chosen;
  const live = deployments.filter(isLive).sort((a, b) => b.updatedAt - a.updatedAt);
  return live[0] ?? chosen ?? null;
}

/** The status bar's text and tooltip for a deployment. */
export function statusBarText(deployment: DeploymentStatus): { text: string; tooltip: string } {
  const icon = deploymentIcon(deployment).id;
  const state = deployment.status === 'serving' ? deployment.health : deployment.status;
  const traffic = deployment.candidate
    ? ` (${deployment.traffic.stable}/${deployment.rollout.strategy === 'shadow' ? `shadow ${deployment.traffic.mirror}` : deployment.traffic.candidate})`
    : '';
  return {
    text: `$(${icon}) ${deployment.name}: ${state}${traffic}`,
    tooltip: `Cairn deployment ${deployment.name}: ${deploymentDescription(deployment)}${deployment.url ? ` at ${deployment.url}` : ''}. Click to open its monitoring dashboard.`,
  };
}

/** The deployment `cairn deploy FILE --json` printed: the status itself, or a list holding it. */
export function deployedStatus(output: unknown): DeploymentStatus | null {
  if (typeof output !== 'object' || output === null) return null;
  const record = output as Record<string, unknown>;
  if (typeof record['name'] === 'string' && typeof record['status'] === 'string') return output as DeploymentStatus;
  const nested = record['deployment'];
  if (typeof nested === 'object' && nested !== null) return deployedStatus(nested);
  const list = record['deployments'];
  if (Array.isArray(list) && list.length > 0) return deployedStatus(list[0]);
  return null;
}

/** "2m 5s", "40s", "1h 3m". */
export function shortDuration(milliseconds: number): string {
  const seconds = Math.max(0, Math.round(milliseconds / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

/** "08:12:03" (UTC), the time of day an alert fired or an event happened. */
export function formatClock(milliseconds: number): string {
  return new Date(milliseconds).toISOString().slice(11, 19);
}

/** A value at four significant digits. */
export function formatValue(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

function markdownEscape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
