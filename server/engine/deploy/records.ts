// The deployments' rows in the workspace store: one `deployments` row per deployment (status, pid,
// address and the state a restarted server resumes from), its `deployment_events`, and the
// `retrains` of the loop. Small typed functions over better-sqlite3; every writer is the server
// process of that deployment, or the CLI when that server is not running.
import type Database from 'better-sqlite3';
import type {
  DeploymentEvent,
  DeploymentEventKind,
  DeploymentStatus,
  RetrainRecord,
  ServedVersion,
} from '../../shared/deployments';
import { isSameProcess } from '../processes';
import type { RolloutMemory } from './rollout';

/** What a deployment row's `state` column holds. */
export interface DeploymentState {
  /** The spec's rollout digest the state belongs to (a changed rollout starts over). */
  rolloutDigest: string;
  stable: ServedVersion;
  candidate: ServedVersion | null;
  rollout: RolloutMemory;
  /** The stable version before the last promotion, for a rollback ("name:version"). */
  previousStable: { model: string; version: number } | null;
  /** Pids of the model workers. */
  workers: number[];
  /** Base URL once listening. */
  url: string | null;
  health: DeploymentStatus['health'];
  /**
   * The server process's identity (processIdentity: its boot and start time), so that a pid the
   * system gave to another process since (after a reboot, say) is not taken for the server.
   */
  serverProcess?: string | null;
}

export interface DeploymentRow {
  name: string;
  file: string;
  status: DeploymentStatus['status'];
  pid: number | null;
  host: string | null;
  port: number | null;
  state: DeploymentState;
  startedAt: number | null;
  updatedAt: number;
}

interface RawRow {
  name: string;
  file: string;
  status: string;
  pid: number | null;
  host: string | null;
  port: number | null;
  state: string;
  started_at: number | null;
  updated_at: number;
}

function rowOf(raw: RawRow): DeploymentRow {
  return {
    name: raw.name,
    file: raw.file,
    status: raw.status as DeploymentRow['status'],
    pid: raw.pid,
    host: raw.host,
    port: raw.port,
    state: JSON.parse(raw.state) as DeploymentState,
    startedAt: raw.started_at,
    updatedAt: raw.updated_at,
  };
}

/** The row of one deployment, or null. */
export function deploymentRow(db: Database.Database, name: string): DeploymentRow | null {
  const raw = db.prepare('SELECT * FROM deployments WHERE name = ?').get(name) as RawRow | undefined;
  return raw ? rowOf(raw) : null;
}

/** Every deployment row, by name. */
export function deploymentRows(db: Database.Database): DeploymentRow[] {
  return (db.prepare('SELECT * FROM deployments ORDER BY name').all() as RawRow[]).map(rowOf);
}

/** Inserts or replaces a deployment row. */
export function saveDeployment(db: Database.Database, row: DeploymentRow): void {
  db.prepare(
    `INSERT INTO deployments (name, file, status, pid, host, port, state, started_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET file = excluded.file, status = excluded.status, pid = excluded.pid,
       host = excluded.host, port = excluded.port, state = excluded.state, started_at = excluded.started_at,
       updated_at = excluded.updated_at`,
  ).run(
    row.name,
    row.file,
    row.status,
    row.pid,
    row.host,
    row.port,
    JSON.stringify(row.state),
    row.startedAt,
    row.updatedAt,
  );
}

/** Records an event of a deployment; returns it. */
export function recordEvent(
  db: Database.Database,
  deployment: string,
  kind: DeploymentEventKind,
  message: string,
  options: { at?: number; actor?: string | null; detail?: unknown } = {},
): DeploymentEvent {
  const at = options.at ?? Date.now();
  const actor = options.actor ?? null;
  const result = db
    .prepare('INSERT INTO deployment_events (deployment, at, kind, message, detail, actor) VALUES (?, ?, ?, ?, ?, ?)')
    .run(deployment, at, kind, message, options.detail === undefined ? null : JSON.stringify(options.detail), actor);
  return { id: Number(result.lastInsertRowid), deployment, at, kind, message, actor };
}

/** The latest events of a deployment, newest first. */
export function deploymentEvents(db: Database.Database, deployment: string, limit = 20): DeploymentEvent[] {
  return db
    .prepare(
      'SELECT id, deployment, at, kind, message, actor FROM deployment_events WHERE deployment = ? ORDER BY id DESC LIMIT ?',
    )
    .all(deployment, limit) as DeploymentEvent[];
}

/** Whether the row's server process still runs (its pid, and where /proc tells, the same process). */
export function serverAlive(row: DeploymentRow): boolean {
  return isSameProcess(row.pid, row.state.serverProcess);
}

/** The status document of a row, as `cairn deploy status --json` prints it; a dead server shows as failed. */
export function statusOf(db: Database.Database, row: DeploymentRow): DeploymentStatus {
  const running = row.status === 'stopped' || row.status === 'failed' ? false : serverAlive(row);
  const status: DeploymentStatus['status'] =
    row.status === 'stopped' || row.status === 'failed' || running ? row.status : 'failed';
  const live = status === 'serving' || status === 'starting' || status === 'draining';
  const workerPid = (version: ServedVersion | null): ServedVersion | null =>
    version && !live ? { ...version, pid: null, ready: false } : version;
  const { rollout } = row.state;
  return {
    name: row.name,
    file: row.file,
    status,
    health: status === 'stopped' ? 'stopped' : live ? row.state.health : 'down',
    pid: live ? row.pid : null,
    url: live ? row.state.url : null,
    stable: workerPid(row.state.stable) ?? row.state.stable,
    candidate: workerPid(row.state.candidate),
    traffic: rollout.traffic,
    rollout: {
      strategy: rollout.strategy,
      phase: rollout.phase,
      step: rollout.step,
      steps: rollout.steps,
      nextStepAt: rollout.nextStepAt,
      reason: rollout.reason,
    },
    startedAt: row.startedAt,
    updatedAt: row.updatedAt,
    events: deploymentEvents(db, row.name),
  };
}

interface RetrainRaw {
  id: number;
  deployment: string;
  alert: number | null;
  reason: string;
  status: string;
  experiment: string;
  run_id: string | null;
  model: string | null;
  version: number | null;
  detail: string | null;
  proposed_at: number;
  approved_by: string | null;
  started_at: number | null;
  ended_at: number | null;
}

function retrainOf(raw: RetrainRaw): RetrainRecord {
  const detail = raw.detail ? (JSON.parse(raw.detail) as { message?: string }) : {};
  return {
    id: raw.id,
    deployment: raw.deployment,
    alert: raw.alert,
    reason: raw.reason,
    status: raw.status as RetrainRecord['status'],
    experiment: raw.experiment,
    runId: raw.run_id,
    model: raw.model,
    version: raw.version,
    message: detail.message ?? null,
    proposedAt: raw.proposed_at,
    approvedBy: raw.approved_by,
    endedAt: raw.ended_at,
  };
}

/** Records a proposed (or, with automatic approval, approved) retrain; returns it. */
export function proposeRetrain(
  db: Database.Database,
  input: {
    deployment: string;
    alert: number | null;
    reason: string;
    experiment: string;
    now: number;
    approved: boolean;
  },
): RetrainRecord {
  const result = db
    .prepare(
      'INSERT INTO retrains (deployment, alert, reason, status, experiment, proposed_at, approved_by) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    .run(
      input.deployment,
      input.alert,
      input.reason,
      input.approved ? 'approved' : 'proposed',
      input.experiment,
      input.now,
      input.approved ? 'automatic' : null,
    );
  return retrainRecord(db, Number(result.lastInsertRowid)) as RetrainRecord;
}

export function retrainRecord(db: Database.Database, id: number): RetrainRecord | null {
  const raw = db.prepare('SELECT * FROM retrains WHERE id = ?').get(id) as RetrainRaw | undefined;
  return raw ? retrainOf(raw) : null;
}

/** Retrains of the loop newest first, of one deployment or all. */
export function listRetrains(db: Database.Database, deployment?: string): RetrainRecord[] {
  const rows = (
    deployment === undefined
      ? db.prepare('SELECT * FROM retrains ORDER BY id DESC').all()
      : db.prepare('SELECT * FROM retrains WHERE deployment = ? ORDER BY id DESC').all(deployment)
  ) as RetrainRaw[];
  return rows.map(retrainOf);
}

/** Retrains of a deployment in a status, oldest first. */
export function retrainsIn(
  db: Database.Database,
  deployment: string,
  statuses: RetrainRecord['status'][],
): RetrainRecord[] {
  const rows = db
    .prepare(
      `SELECT * FROM retrains WHERE deployment = ? AND status IN (${statuses.map(() => '?').join(', ')}) ORDER BY id`,
    )
    .all(deployment, ...statuses) as RetrainRaw[];
  return rows.map(retrainOf);
}

/** Updates a retrain's status and the fields given. */
export function updateRetrain(
  db: Database.Database,
  id: number,
  change: {
    status: RetrainRecord['status'];
    approvedBy?: string;
    runId?: string | null;
    model?: string | null;
    version?: number | null;
    message?: string;
    startedAt?: number;
    endedAt?: number;
  },
): void {
  const current = db.prepare('SELECT * FROM retrains WHERE id = ?').get(id) as RetrainRaw | undefined;
  if (!current) return;
  const detail = current.detail ? (JSON.parse(current.detail) as Record<string, unknown>) : {};
  if (change.message !== undefined) detail['message'] = change.message;
  db.prepare(
    `UPDATE retrains SET status = ?, approved_by = ?, run_id = ?, model = ?, version = ?, detail = ?, started_at = ?,
       ended_at = ? WHERE id = ?`,
  ).run(
    change.status,
    change.approvedBy ?? current.approved_by,
    change.runId === undefined ? current.run_id : change.runId,
    change.model === undefined ? current.model : change.model,
    change.version === undefined ? current.version : change.version,
    JSON.stringify(detail),
    change.startedAt ?? current.started_at,
    change.endedAt ?? current.ended_at,
    id,
  );
}
