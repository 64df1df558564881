// The server process of a deployment (`cairn deploy serve FILE`, started detached by `cairn deploy
// FILE`, or in the foreground): reads the spec, starts the deployment (restoring its rollout from
// the store), and runs its clocks: the rollout controller (four times a second), the monitor and the
// retrain loop (every monitoring.interval), and the alias watcher (`.cairn/models.json` changes plus
// a poll). The monitoring round itself runs in a child process (monitor/monitorProcess.ts), so
// requests are never kept waiting by it; this process carries out what fired. SIGTERM or SIGINT, or
// POST /cairn/v1/stop, drains and stops it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MonitorProcess } from '../monitor/monitorProcess';
import { setAlertActions } from '../monitor/alerts';
import { snapshotPath } from '../registry/registry';
import { Store } from '../store';
import { adminRoutes, readAdminToken, writeAdminToken } from './admin';
import { Deployment } from './deployment';
import { describeError } from './versions';
import type { EngineFactory } from './engine';
import { RetrainLoop } from './retrain';
import { readDeployment } from './spec';
import type { DeploymentSpec } from './spec';

export interface ServeOptions {
  root: string;
  file: string;
  host?: string;
  port?: number;
  engine: EngineFactory;
  /** argv of the `cairn` CLI ([node, cairn.js]), for the retrain child process. */
  cli: string[];
  log?: (message: string) => void;
}

const ROLLOUT_TICK_MS = 250;
const ALIAS_POLL_MS = 2000;

/** A started deployment server and how to stop it. */
export interface RunningServer {
  deployment: Deployment;
  /** Resolves when the server has stopped (after a stop request or a signal). */
  stopped: Promise<void>;
  stop(actor: string, reason: string): Promise<void>;
  /** The process that runs the monitoring rounds. */
  monitor: MonitorProcess;
}

/** Starts the deployment's server in this process; resolves once it serves. */
export async function serveDeployment(options: ServeOptions): Promise<RunningServer> {
  const log = options.log ?? ((message: string) => process.stderr.write(`${new Date().toISOString()} ${message}\n`));
  const spec = readDeployment(options.file, options.root);
  const serveToken = servingToken(spec);
  const store = Store.open(options.root);
  const deployment = new Deployment(options.root, spec, store, log);
  const adminToken = readAdminToken(options.root, spec.name) ?? writeAdminToken(options.root, spec.name);
  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    resolveStopped = resolve;
  });
  const timers: NodeJS.Timeout[] = [];
  let watcher: fs.FSWatcher | null = null;
  let stopping: Promise<void> | null = null;
  // A round that has not answered after many intervals is stuck: the monitor is started afresh.
  const monitor = new MonitorProcess({ log, timeoutMs: Math.max(600_000, 20 * spec.monitoring.intervalMs) });
  const stop = (actor: string, reason: string): Promise<void> => {
    if (stopping) return stopping;
    for (const timer of timers) clearInterval(timer);
    watcher?.close();
    monitor.stop();
    stopping = deployment
      .stop(actor, reason)
      .catch((error: unknown) => log(`stop: ${describeError(error)}`))
      .finally(() => {
        store.close();
        resolveStopped();
      });
    return stopping;
  };
  const retrain = new RetrainLoop(deployment, { cli: options.cli });
  const reload = async (): Promise<string[]> => {
    const next = readDeployment(options.file, options.root);
    if (next.name !== deployment.spec.name) throw new Error('The deployment name changed: stop it and deploy again.');
    // Against the file the server started with: what it runs until it restarts.
    const restart = settingsNeedingRestart(spec, next);
    deployment.spec = next;
    deployment.predictionLog.policy = next.monitoring.log;
    await deployment.reconcile('the deployment file was reloaded');
    if (restart.length > 0)
      log(`reload: ${restart.join(', ')} changed; the running server keeps the old values until it restarts`);
    return restart;
  };
  try {
    await deployment.start(options.engine, {
      host: options.host ?? spec.server.host,
      port: options.port ?? spec.server.port,
      serveToken,
      adminRoutes: adminRoutes(
        deployment,
        { admin: adminToken, serve: serveToken },
        {
          stop: (actor) => void stop(actor, `requested by ${actor}`),
          reload,
        },
      ),
    });
  } catch (error) {
    log(`failed to start: ${describeError(error)}`);
    deployment.event('stop', `failed to start: ${describeError(error)}`);
    await deployment.predictionLog.close();
    monitor.stop();
    store.db
      .prepare("UPDATE deployments SET status = 'failed', pid = NULL, updated_at = ? WHERE name = ?")
      .run(Date.now(), spec.name);
    store.close();
    throw error;
  }

  timers.push(setInterval(() => void deployment.tick(), ROLLOUT_TICK_MS));
  monitor.start();
  let monitoring = false;
  timers.push(
    setInterval(() => {
      if (monitoring) return;
      monitoring = true;
      void runMonitor(deployment, options.root, monitor, retrain, log).finally(() => {
        monitoring = false;
      });
    }, spec.monitoring.intervalMs),
  );
  // The registry rewrites models.json inside its write transaction, before the commit: a reader
  // woken by the change may still see the old aliases, so the change is looked at again a moment
  // later, and a poll catches whatever a watcher misses.
  const checkAliases = (trigger: string): void => {
    void deployment.reconcile(trigger);
    const again = setTimeout(() => void deployment.reconcile(trigger), 300);
    again.unref();
  };
  timers.push(setInterval(() => void deployment.reconcile('registry poll'), ALIAS_POLL_MS));
  try {
    watcher = fs.watch(path.dirname(snapshotPath(options.root)), (_event, name) => {
      if (name === path.basename(snapshotPath(options.root))) checkAliases('registry change');
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    // The poll still notices alias moves.
  }
  return { deployment, stopped, stop, monitor };
}

/**
 * The settings of `next` that differ from `current` and that a running server cannot take on: the
 * HTTP server's and the serving engine's (its workers, batching, limits, fallback answers), and the
 * monitoring interval. Versions, rollout, monitoring rules and the log's policy are reloaded.
 */
export function settingsNeedingRestart(current: DeploymentSpec, next: DeploymentSpec): string[] {
  const changed: string[] = [];
  const snake = (key: string): string => key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
  const compare = (section: string, before: object, after: object, keys: string[]): void => {
    for (const key of keys) {
      const was = (before as Record<string, unknown>)[key];
      const now = (after as Record<string, unknown>)[key];
      if (JSON.stringify(was) !== JSON.stringify(now)) changed.push(`${section}.${snake(key)}`);
    }
  };
  compare('server', current.server, next.server, Object.keys(next.server));
  compare('fallback', current.fallback, next.fallback, ['on', 'timeoutMs', 'default']);
  if (current.monitoring.intervalMs !== next.monitoring.intervalMs) changed.push('monitoring.interval');
  return changed;
}

/**
 * One monitoring round: M2's monitor in the monitor process (on the log as flushed just before),
 * then the actions of what fired (abort, rollback, retrain). A monitor that died or failed is
 * logged; serving goes on and the next round starts a new one.
 */
async function runMonitor(
  deployment: Deployment,
  root: string,
  monitor: MonitorProcess,
  retrain: RetrainLoop,
  log: (message: string) => void,
): Promise<void> {
  if (!deployment.running) return;
  const spec = deployment.spec;
  try {
    await deployment.predictionLog.written();
    const outcome = await monitor.round({ root, spec, now: Date.now(), pids: deployment.pids() });
    for (const warning of outcome.warnings) log(`monitor: ${warning}`);
    if (!deployment.running) return;
    for (const alert of outcome.fired) {
      deployment.event('alert', `alert ${alert.rule} (${alert.severity}) fired: ${alert.message}`, null, {
        alert: alert.id,
      });
      const actions = [...alert.actions];
      if (actions.includes('abort-rollout')) await deployment.abort(`alert ${alert.rule} fired: ${alert.message}`);
      if (actions.includes('rollback')) {
        await deployment
          .rollback('cairn-monitor', `alert ${alert.rule} fired: ${alert.message}`)
          .catch((error: unknown) => log(`rollback on alert ${alert.rule}: ${describeError(error)}`));
      }
      if (actions.includes('retrain-proposed')) {
        const proposed = retrain.propose(`alert ${alert.rule} fired: ${alert.message}`, alert.id);
        if (proposed && spec.monitoring.retrain?.approval === 'automatic')
          setAlertActions(deployment.store.db, alert.id, [
            ...actions.filter((action) => action !== 'retrain-proposed'),
            'retrain-started',
          ]);
      }
    }
  } catch (error) {
    // A round cut short by the server's own stop is not worth a line.
    if (deployment.running) log(`monitor: ${describeError(error)}`);
  }
  try {
    retrain.tick();
  } catch (error) {
    log(`retrain: ${describeError(error)}`);
  }
}

/** The serving bearer token from the environment variable the spec names, or null. */
function servingToken(spec: DeploymentSpec): string | null {
  const variable = spec.server.tokenEnv;
  if (variable === null) return null;
  const token = process.env[variable];
  if (!token)
    throw new Error(
      `${spec.relativeFile}: server.token_env names ${variable}, but ${variable} is not set. Set it in the environment of cairn deploy.`,
    );
  return token;
}
