// The control plane as the CLI (and through it the editor) uses it: start a deployment's server as
// a detached process and wait until it serves, read the status of every deployment from the store,
// and promote, roll back or stop one: through its admin API when its server runs, by editing the
// store when it does not.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeploymentStatus, RetrainRecord } from '../../shared/deployments';
import { deploymentDir } from '../monitor/log';
import { currentActor, Registry } from '../registry/registry';
import type { Store } from '../store';
import { readAdminToken, writeAdminToken } from './admin';
import {
  deploymentRow,
  deploymentRows,
  serverAlive,
  recordEvent,
  retrainRecord,
  saveDeployment,
  statusOf,
  updateRetrain,
} from './records';
import type { DeploymentRow } from './records';
import { parseModelRef, readDeployment } from './spec';

/** A control-plane request that cannot be carried out; the message says why and what to do. */
export class ControlError extends Error {}

/** The log file of a deployment's server process. */
export function serverLogPath(root: string, deployment: string): string {
  return path.join(deploymentDir(root, deployment), 'server.log');
}

/** Whether the row's server process is alive and serving (or starting, or draining). */
export function isRunning(row: DeploymentRow | null): boolean {
  return row !== null && ['starting', 'serving', 'draining'].includes(row.status) && serverAlive(row);
}

/** Status of every deployment (or of one), newest state from the store. */
export function deploymentStatuses(store: Store, name?: string): DeploymentStatus[] {
  const rows = deploymentRows(store.db).filter((row) => name === undefined || row.name === name);
  return rows.map((row) => statusOf(store.db, row));
}

export interface StartOptions {
  root: string;
  /** Workspace-relative (or absolute) path of the deployment file. */
  file: string;
  name: string;
  /** argv of the CLI: [node, cairn.js]. */
  cli: string[];
  host?: string;
  port?: number;
  timeoutMs?: number;
}

/** Starts `cairn deploy serve FILE` detached (own process group, output to server.log); resolves once it serves. */
export async function startDetached(store: Store, options: StartOptions): Promise<DeploymentStatus> {
  const logFile = serverLogPath(options.root, options.name);
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  writeAdminToken(options.root, options.name);
  const output = fs.openSync(logFile, 'a');
  // The log keeps earlier runs: a failure shows only what this one wrote.
  const logStart = fs.fstatSync(output).size;
  const env = { ...process.env };
  delete env['ELECTRON_RUN_AS_NODE'];
  const [node, cli] = options.cli;
  const child = spawn(
    node ?? process.execPath,
    [
      cli ?? '',
      'deploy',
      'serve',
      options.file,
      '--workspace',
      options.root,
      ...(options.host !== undefined ? ['--host', options.host] : []),
      ...(options.port !== undefined ? ['--port', String(options.port)] : []),
    ],
    { cwd: options.root, env, detached: true, stdio: ['ignore', output, output] },
  );
  fs.closeSync(output);
  let exited: string | null = null;
  child.on('exit', (code, signal) => {
    exited = signal ? `signal ${signal}` : `exit code ${String(code)}`;
  });
  child.unref();
  const pid = child.pid ?? -1;
  const spawnedAt = Date.now() - 1000;
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    const row = deploymentRow(store.db, options.name);
    if (row && row.pid === pid && row.status === 'serving') return statusOf(store.db, row);
    // A server that failed to start marks its row failed; it may take a moment to exit.
    const failed = row !== null && row.status === 'failed' && row.updatedAt >= spawnedAt;
    if (exited !== null || failed) {
      // The row is marked failed before the server writes why and exits: let it finish first.
      const exitDeadline = Date.now() + 3000;
      while (exited === null && Date.now() < exitDeadline) await sleep(50);
      throw new ControlError(
        `The server of ${options.name} stopped before serving${exited !== null ? ` (${String(exited)})` : ''}:\n${tail(logFile, logStart, 15)}`,
      );
    }
    if (Date.now() > deadline) {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
      throw new ControlError(`The server of ${options.name} did not become ready in time. See ${logFile}.`);
    }
    await sleep(100);
  }
}

/** Calls the admin API of a running deployment. */
export async function adminCall(
  root: string,
  row: DeploymentRow,
  route: string,
  body: Record<string, unknown> = {},
  timeoutMs = 60_000,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const token = readAdminToken(root, row.name);
  if (!token) throw new ControlError(`No admin token for ${row.name} (.cairn/deployments/${row.name}/admin.token).`);
  const base = row.state.url;
  if (!base) throw new ControlError(`${row.name} has no address recorded.`);
  // A hung server must not hang the CLI (or the editor that spawned it); stop falls back to a signal.
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${base}/cairn/v1/${route}`, {
      method: route === 'status' ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(route === 'status' ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await response.text();
  } catch (error) {
    if (!(error instanceof Error && error.name === 'TimeoutError')) throw error;
    throw new Error(
      `The server of ${row.name} at ${base} did not answer '${route}' within ${timeoutMs / 1000} s. See ${path.relative(root, serverLogPath(root, row.name))}.`,
      { cause: error },
    );
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { error: text };
  }
  return { status: response.status, body: parsed };
}

/** Promotes or rolls back a deployment whose server is not running, in the store and the registry. */
export function offlineAction(
  store: Store,
  root: string,
  row: DeploymentRow,
  action: 'promote' | 'rollback',
  reason: string | null,
): DeploymentStatus {
  const registry = new Registry(store, root);
  const actor = currentActor();
  const state = row.state;
  const now = Date.now();
  const stableRef = parseModelRef(state.stable.ref);
  const moveAlias = (version: number): void => {
    if (stableRef?.alias && stableRef.name === state.stable.model)
      registry.setAlias(stableRef.name, stableRef.alias, version, {
        actor,
        reason: `deployment ${row.name}: ${reason ?? `${action} by ${actor}`}`,
        now,
      });
  };
  const active = ['progressing', 'paused', 'awaiting-approval'].includes(state.rollout.phase);
  if (action === 'promote') {
    const candidate = state.candidate;
    if (!candidate || !active)
      throw new ControlError(`${row.name} has no rollout in progress to promote (rollout ${state.rollout.phase}).`);
    moveAlias(candidate.version);
    state.previousStable = { model: state.stable.model, version: state.stable.version };
    state.stable = { ...state.stable, model: candidate.model, version: candidate.version };
    state.candidate = null;
    state.rollout = {
      ...state.rollout,
      phase: 'promoted',
      reason: reason ?? `promoted by ${actor}`,
      nextStepAt: null,
      traffic: { stable: 100, candidate: 0, mirror: 0 },
    };
    recordEvent(
      store.db,
      row.name,
      'promote',
      `${candidate.model}:${candidate.version} promoted (server not running): ${state.rollout.reason ?? ''}`,
      { actor, at: now },
    );
  } else {
    const why = reason ?? `rolled back by ${actor}`;
    if (active) {
      state.rollout = {
        ...state.rollout,
        phase: 'aborted',
        reason: why,
        nextStepAt: null,
        traffic: { stable: 100, candidate: 0, mirror: 0 },
      };
      recordEvent(store.db, row.name, 'abort', `rollout aborted (server not running): ${why}`, { actor, at: now });
    } else if (state.previousStable) {
      const previous = state.previousStable;
      moveAlias(previous.version);
      recordEvent(
        store.db,
        row.name,
        'rollback',
        `rolled back from ${state.stable.model}:${state.stable.version} to ${previous.model}:${previous.version} (server not running): ${why}`,
        { actor, at: now },
      );
      // The version rolled back from stays named as the candidate, so a restarted server does not
      // roll it out again (see Deployment.rollback).
      state.candidate = { ...state.stable, ref: candidateRef(root, row) ?? state.stable.ref, pid: null, ready: false };
      state.stable = { ...state.stable, model: previous.model, version: previous.version };
      state.previousStable = null;
      state.rollout = { ...state.rollout, phase: 'aborted', reason: why };
    } else
      throw new ControlError(
        `${row.name} has nothing to roll back: no rollout in progress and no earlier stable version recorded.`,
      );
  }
  saveDeployment(store.db, { ...row, state, updatedAt: now });
  const saved = deploymentRow(store.db, row.name);
  if (!saved) throw new Error('row vanished');
  return statusOf(store.db, saved);
}

/** Stops a running deployment through its admin API and waits for its process to exit. */
export async function stopRunning(root: string, row: DeploymentRow, timeoutMs = 60_000): Promise<void> {
  try {
    const answer = await adminCall(root, row, 'stop', { actor: currentActor() });
    if (answer.status >= 400) throw new ControlError(String(answer.body['error'] ?? `HTTP ${answer.status}`));
  } catch (error) {
    if (error instanceof ControlError) throw error;
    // The admin API did not answer: stop the process group with a signal, which drains too (only
    // while the pid is still the server's: a reused one belongs to somebody else).
    if (row.pid !== null && serverAlive(row)) signalGroup(row.pid, 'SIGTERM');
  }
  const deadline = Date.now() + timeoutMs;
  while (serverAlive(row)) {
    if (Date.now() > deadline) {
      if (row.pid !== null) signalGroup(row.pid, 'SIGKILL');
      throw new ControlError(`${row.name} did not stop within ${timeoutMs / 1000} s; its processes were killed.`);
    }
    await sleep(100);
  }
}

/** Marks a deployment whose server is not running as stopped. */
export function markStopped(store: Store, row: DeploymentRow): void {
  const now = Date.now();
  saveDeployment(store.db, {
    ...row,
    status: 'stopped',
    pid: null,
    state: { ...row.state, workers: [], url: null, health: 'stopped' },
    updatedAt: now,
  });
  recordEvent(store.db, row.name, 'stop', 'stopped (its server was not running)', { actor: currentActor(), at: now });
}

/** Approves or declines a proposed retrain; the server's loop starts an approved one. */
export function decideRetrain(
  store: Store,
  id: number,
  decision: 'approve' | 'decline',
  reason: string | null,
): RetrainRecord {
  const retrain = retrainRecord(store.db, id);
  if (!retrain) throw new ControlError(`No retrain #${id}. List them with: cairn monitor retrains`);
  if (retrain.status !== 'proposed')
    throw new ControlError(`Retrain #${id} is ${retrain.status}, not proposed: there is nothing to ${decision}.`);
  const actor = currentActor();
  const now = Date.now();
  updateRetrain(store.db, id, {
    status: decision === 'approve' ? 'approved' : 'declined',
    approvedBy: actor,
    ...(decision === 'decline' ? { endedAt: now, message: reason ?? `declined by ${actor}` } : {}),
  });
  recordEvent(
    store.db,
    retrain.deployment,
    'retrain',
    `retrain #${id} ${decision === 'approve' ? 'approved' : 'declined'} by ${actor}${reason ? `: ${reason}` : ''}`,
    { actor, at: now, detail: { retrain: id } },
  );
  return retrainRecord(store.db, id) ?? retrain;
}

/** The candidate reference of the deployment's file, when it still reads. */
function candidateRef(root: string, row: DeploymentRow): string | null {
  try {
    return readDeployment(path.join(root, row.file), root).rollout.candidate?.ref ?? null;
  } catch {
    return null;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

function tail(file: string, from: number, lines: number): string {
  try {
    return fs.readFileSync(file).subarray(from).toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
