// `cairn deploy ...`: serve registered models. `deploy FILE` starts the deployment's server as a
// detached process (or in the foreground) and prints its URL; status, list, promote, rollback and
// stop act on deployments by name; `retrain approve|decline ID` decides a proposed retrain. The
// hidden `deploy serve FILE` is the server process itself.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeploymentStatus } from '../../shared/deployments';
import {
  adminCall,
  ControlError,
  decideRetrain,
  deploymentStatuses,
  isRunning,
  markStopped,
  offlineAction,
  serverLogPath,
  startDetached,
  stopRunning,
} from '../../engine/deploy/control';
import { modelServerEngine } from '../../engine/deploy/modelServerEngine';
import { deploymentRow } from '../../engine/deploy/records';
import { candidateNotYetNamed, inputsDifference } from '../../engine/deploy/versions';
import { serveDeployment } from '../../engine/deploy/serve';
import { DeploymentSpecError, readDeployment, registryReference } from '../../engine/deploy/spec';
import type { DeploymentSpec } from '../../engine/deploy/spec';
import { approvalNeeded, awaitsApproval, Registry, RegistryError } from '../../engine/registry/registry';
import { Store } from '../../engine/store';
import { rejectUnknownOptions, takeFlag, takeOption, UsageError } from '../args';
import type { Command, CommandContext } from '../args';
import { renderTable } from '../format';

export const deployCommand: Command = {
  usage: [
    'deploy FILE [--foreground] [--host H] [--port P] [--json]',
    '                                Serve the deployment (a detached server; --foreground: in this process).',
    'deploy status [NAME] [--json]   Deployments: server, versions, traffic, rollout, latest events.',
    'deploy list [--json]            One line per deployment.',
    'deploy promote NAME [--reason TEXT]',
    '                                Promote the candidate now (the stable alias moves to it).',
    'deploy rollback NAME [--reason TEXT]',
    '                                Abort the rollout, or return to the version the last promotion replaced.',
    'deploy stop NAME                Drain and stop the server.',
    'deploy retrain approve|decline ID [--reason TEXT]',
    '                                Decide a retrain the loop proposed.',
  ],
  async run(context) {
    const first = context.args[0];
    try {
      switch (first) {
        case 'status':
        case 'list':
          context.args.shift();
          return statusCommand(context, first === 'list');
        case 'promote':
        case 'rollback':
          context.args.shift();
          return await actionCommand(context, first);
        case 'stop':
          context.args.shift();
          return await stopCommand(context);
        case 'retrain':
          context.args.shift();
          return retrainCommand(context);
        case 'serve':
          context.args.shift();
          return await serveCommand(context, false);
        case undefined:
          throw new UsageError(
            'deploy needs a deployment file (*.deploy.yaml) or a command: status, list, promote, rollback, stop, retrain.',
          );
        default:
          return await deployFileCommand(context);
      }
    } catch (error) {
      if (error instanceof DeploymentSpecError || error instanceof RegistryError) {
        process.stderr.write(`cairn: ${error.message}\n`);
        return 2;
      }
      if (error instanceof ControlError) {
        process.stderr.write(`cairn: ${error.message}\n`);
        return 1;
      }
      throw error;
    }
  },
};

/** `cairn deploy FILE`: check the spec and the models, then start (or reload) the server. */
async function deployFileCommand(context: CommandContext): Promise<number> {
  const { args, root, json } = context;
  const foreground = takeFlag(args, '--foreground');
  const host = takeOption(args, '--host');
  const port = portOption(takeOption(args, '--port'));
  rejectUnknownOptions(args);
  const file = args.shift();
  if (!file) throw new UsageError('Give the deployment file (*.deploy.yaml).');
  if (args.length > 0) throw new UsageError(`Unexpected argument '${args[0] ?? ''}'.`);
  const absolute = path.resolve(file);
  if (!fs.existsSync(absolute)) throw new UsageError(`${file}: no such file.`);
  const spec = readDeployment(absolute, root);
  const tokenEnv = spec.server.tokenEnv;
  if (tokenEnv !== null && !process.env[tokenEnv])
    throw new UsageError(
      `${spec.relativeFile}: server.token_env names ${tokenEnv}, but ${tokenEnv} is not set. Set it (export ${tokenEnv}=...) and deploy again.`,
    );
  const exposed = exposureWarning(host ?? spec.server.host, tokenEnv);
  if (exposed) process.stderr.write(`cairn: warning: ${spec.relativeFile}: ${exposed}\n`);
  if (foreground) return serveCommand({ ...context, args: [absolute, ...hostPortArgs(host, port)] }, true);
  const store = Store.open(root);
  try {
    checkModels(store, root, spec);
    const row = deploymentRow(store.db, spec.name);
    let status: DeploymentStatus;
    if (isRunning(row) && row) {
      if (row.file !== spec.relativeFile)
        throw new ControlError(
          `A deployment named ${spec.name} already runs from ${row.file}. Stop it first (cairn deploy stop ${spec.name}) or give this one another name.`,
        );
      // Already serving: re-read the file in place (new versions, traffic, monitoring).
      const answer = await adminCall(root, row, 'reload');
      if (answer.status >= 400) throw new ControlError(String(answer.body['error'] ?? `HTTP ${answer.status}`));
      const { restartNeeded, ...rest } = answer.body as unknown as DeploymentStatus & { restartNeeded?: string[] };
      status = rest;
      if (restartNeeded && restartNeeded.length > 0)
        process.stderr.write(
          `cairn: note: ${spec.relativeFile}: ${restartNeeded.join(', ')} changed, and the running server keeps the old ` +
            `values until it restarts: cairn deploy stop ${spec.name}, then cairn deploy ${spec.relativeFile}.\n`,
        );
    } else {
      status = await startDetached(store, {
        root,
        file: absolute,
        name: spec.name,
        cli: cliArgv(),
        ...(host !== undefined ? { host } : {}),
        ...(port !== undefined ? { port } : {}),
      });
    }
    if (json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    else
      process.stdout.write(
        `${spec.name} serves ${describeStatus(status)} at ${status.url ?? '?'} (pid ${status.pid ?? '?'}; log ${path.relative(root, serverLogPath(root, spec.name))}).\n`,
      );
    return 0;
  } finally {
    store.close();
  }
}

/** Runs the server in this process until it is stopped (a signal or the admin API). */
async function serveCommand(context: CommandContext, announce: boolean): Promise<number> {
  const { args, root, json } = context;
  const host = takeOption(args, '--host');
  const port = portOption(takeOption(args, '--port'));
  rejectUnknownOptions(args);
  const file = args.shift();
  if (!file) throw new UsageError('Give the deployment file (*.deploy.yaml).');
  let running: Awaited<ReturnType<typeof serveDeployment>>;
  try {
    running = await serveDeployment({
      root,
      file: path.resolve(file),
      engine: modelServerEngine,
      cli: cliArgv(),
      ...(host !== undefined ? { host } : {}),
      ...(port !== undefined ? { port } : {}),
    });
  } catch (error) {
    if (error instanceof DeploymentSpecError || error instanceof RegistryError) throw error;
    // Cannot listen (port taken), a model that does not load, ...: said plainly, exit 1.
    process.stderr.write(
      `cairn: ${path.basename(file)}: the server did not start: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    // Whatever the failed start left behind (a worker's channel, a timer, a late reconcile) must not
    // keep this process alive, or bring it back to serve once the port is free: it ends here. Its
    // children end when their channel to it closes.
    process.exit(1);
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    void running.stop('signal', `${signal} received`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (announce) {
    const status = running.deployment.status();
    if (json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    else
      process.stdout.write(
        `${status.name} serves ${describeStatus(status)} at ${status.url ?? '?'} (Ctrl-C stops it).\n`,
      );
  }
  await running.stopped;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return 0;
}

function statusCommand({ args, root, json }: CommandContext, list: boolean): number {
  rejectUnknownOptions(args);
  const name = list ? undefined : args.shift();
  if (args.length > 0) throw new UsageError(`Unexpected argument '${args[0] ?? ''}'.`);
  const deployments = withStore(root, (store) => (store ? deploymentStatuses(store, name) : []));
  if (name !== undefined && deployments.length === 0 && !json)
    throw new ControlError(`No deployment named ${name}. Deploy one with: cairn deploy FILE`);
  if (json) {
    process.stdout.write(`${JSON.stringify({ deployments }, null, 2)}\n`);
    return 0;
  }
  if (deployments.length === 0) {
    process.stdout.write('No deployments yet. Start one with: cairn deploy FILE.deploy.yaml\n');
    return 0;
  }
  const rows = deployments.map((status) => [
    status.name,
    status.status,
    status.health,
    status.url ?? '-',
    `${status.stable.model}:${status.stable.version}`,
    status.candidate ? `${status.candidate.model}:${status.candidate.version}` : '-',
    `${status.traffic.stable}/${status.traffic.candidate}${status.traffic.mirror ? ` m${status.traffic.mirror}` : ''}`,
    rolloutText(status),
  ]);
  process.stdout.write(
    renderTable([['NAME', 'STATUS', 'HEALTH', 'URL', 'STABLE', 'CANDIDATE', 'TRAFFIC', 'ROLLOUT'], ...rows]),
  );
  if (!list) {
    for (const status of deployments) {
      process.stdout.write(`\nEvents of ${status.name}:\n`);
      for (const event of status.events.slice(0, 10))
        process.stdout.write(`  ${new Date(event.at).toISOString()}  ${event.kind.padEnd(11)} ${event.message}\n`);
    }
  }
  return 0;
}

async function actionCommand({ args, root, json }: CommandContext, action: 'promote' | 'rollback'): Promise<number> {
  const reason = takeOption(args, '--reason') ?? null;
  rejectUnknownOptions(args);
  const name = args.shift();
  if (!name) throw new UsageError(`Give the deployment to ${action}.`);
  const store = Store.open(root);
  let status: DeploymentStatus;
  try {
    const row = deploymentRow(store.db, name);
    if (!row) throw new ControlError(`No deployment named ${name}.`);
    if (isRunning(row)) {
      const answer = await adminCall(root, row, action, reason ? { reason } : {});
      if (answer.status >= 400) throw new ControlError(String(answer.body['error'] ?? `HTTP ${answer.status}`));
      status = answer.body as unknown as DeploymentStatus;
    } else status = offlineAction(store, root, row, action, reason);
  } finally {
    store.close();
  }
  if (json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
  else
    process.stdout.write(
      `${name}: ${action === 'promote' ? 'promoted' : 'rolled back'}; now ${describeStatus(status)} (${rolloutText(status)}).\n`,
    );
  return 0;
}

async function stopCommand({ args, root, json }: CommandContext): Promise<number> {
  rejectUnknownOptions(args);
  const name = args.shift();
  if (!name) throw new UsageError('Give the deployment to stop.');
  const store = Store.open(root);
  try {
    const row = deploymentRow(store.db, name);
    if (!row) throw new ControlError(`No deployment named ${name}.`);
    if (isRunning(row)) await stopRunning(root, row);
    else if (row.status !== 'stopped') markStopped(store, row);
    const stopped = deploymentStatuses(store, name)[0];
    if (json) process.stdout.write(`${JSON.stringify(stopped, null, 2)}\n`);
    else process.stdout.write(`${name} stopped.\n`);
    return 0;
  } finally {
    store.close();
  }
}

function retrainCommand({ args, root, json }: CommandContext): number {
  const reason = takeOption(args, '--reason') ?? null;
  rejectUnknownOptions(args);
  const decision = args.shift();
  if (decision !== 'approve' && decision !== 'decline')
    throw new UsageError('deploy retrain needs approve or decline, then the retrain id.');
  const id = Number(args.shift());
  if (!Number.isInteger(id) || id < 1)
    throw new UsageError('Give the retrain id (a number; see cairn monitor retrains).');
  const retrain = withStore(root, (store) => {
    if (!store) throw new ControlError(`No retrain #${id}: the workspace has no store.`);
    return decideRetrain(store, id, decision, reason);
  });
  if (json) process.stdout.write(`${JSON.stringify(retrain, null, 2)}\n`);
  else
    process.stdout.write(
      decision === 'approve'
        ? `Retrain #${id} approved; the ${retrain.deployment} server starts it within one monitoring interval.\n`
        : `Retrain #${id} declined.\n`,
    );
  return 0;
}

/**
 * Every model the spec names must resolve in the registry before a server starts, except a candidate
 * alias not set yet (such as the challenger a retrain will register): the rollout waits for it. A
 * fallback model must take the stable version's inputs; a candidate that does not is left out by
 * the server (with an event) until its reference names another version, which is said here.
 */
function checkModels(store: Store, root: string, spec: DeploymentSpec): void {
  const registry = new Registry(store, root);
  const stable = registry.resolve(registryReference(spec.model));
  if (awaitsApproval(stable))
    throw new DeploymentSpecError(`${spec.relativeFile}: ${spec.model.ref} is not served: ${approvalNeeded(stable)}.`);
  const fallback = spec.fallback.model;
  if (fallback) {
    const fallbackVersion = registry.resolve(registryReference(fallback));
    if (awaitsApproval(fallbackVersion))
      throw new DeploymentSpecError(
        `${spec.relativeFile}: the fallback ${fallback.ref} is not served: ${approvalNeeded(fallbackVersion)}.`,
      );
    const difference = inputsDifference(stable, fallbackVersion);
    if (difference !== null)
      throw new DeploymentSpecError(
        `${spec.relativeFile}: the fallback ${fallback.ref} cannot answer for ${spec.model.ref}: ${difference}. Name a version trained on the same features.`,
      );
  }
  const candidate = spec.rollout.candidate;
  if (!candidate || candidateNotYetNamed(registry, candidate)) return;
  const candidateVersion = registry.resolve(registryReference(candidate));
  if (awaitsApproval(candidateVersion))
    process.stderr.write(
      `cairn: warning: ${spec.relativeFile}: the candidate ${candidate.ref} is not rolled out yet: ${approvalNeeded(candidateVersion)}.\n`,
    );
  const difference = inputsDifference(stable, candidateVersion);
  if (difference !== null)
    process.stderr.write(
      `cairn: warning: ${spec.relativeFile}: the candidate ${candidate.ref} is not rolled out beside ${spec.model.ref}: ${difference}. The rollout waits until ${candidate.ref} names a version trained on the same features.\n`,
    );
}

function withStore<T>(root: string, work: (store: Store | null) => T): T {
  if (!fs.existsSync(path.join(root, '.cairn', 'cairn.db'))) return work(null);
  const store = Store.open(root);
  try {
    return work(store);
  } finally {
    store.close();
  }
}

/** How to start this CLI again: the node binary and the bundle. */
function cliArgv(): string[] {
  return [process.execPath, process.argv[1] ?? ''];
}

function portOption(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port needs a port number (0 picks a free one), got '${text}'.`);
  return port;
}

/** A warning when the server listens beyond this machine with no serving token; null otherwise. */
export function exposureWarning(host: string, tokenEnv: string | null): string | null {
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  if (loopback || tokenEnv !== null) return null;
  return `the server listens on ${host} without a serving token: anyone who reaches the port can predict and post labels. Set server.token_env, or keep host 127.0.0.1.`;
}

function hostPortArgs(host: string | undefined, port: number | undefined): string[] {
  return [...(host !== undefined ? ['--host', host] : []), ...(port !== undefined ? ['--port', String(port)] : [])];
}

function describeStatus(status: DeploymentStatus): string {
  const stable = `${status.stable.model}:${status.stable.version}`;
  if (!status.candidate || status.rollout.phase === 'promoted' || status.rollout.phase === 'aborted') return stable;
  return `${stable} + candidate ${status.candidate.model}:${status.candidate.version} (${status.traffic.stable}/${status.traffic.candidate}${status.traffic.mirror ? `, mirror ${status.traffic.mirror}%` : ''})`;
}

function rolloutText(status: DeploymentStatus): string {
  const rollout = status.rollout;
  if (rollout.phase === 'none') return '-';
  const step = rollout.step !== null ? ` step ${rollout.step + 1}/${rollout.steps ?? 0}` : '';
  return `${rollout.strategy} ${rollout.phase}${step}${rollout.reason ? `: ${rollout.reason}` : ''}`;
}
