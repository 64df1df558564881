// The monitoring round in a process of its own, so the model server's event loop never waits for it.
// The server forks one monitor process (the CLI bundle with the hidden argument `__monitor`, or
// monitorMain.ts under tsx), sends it a round request every monitoring.interval ({now, pids, spec})
// and carries out the actions of what fired. The monitor opens its own Store and its own connection
// to the prediction log (WAL: it reads while the server writes), runs evaluateMonitoring, writes the
// round's report to report.json and answers with what fired and resolved. It exits when the server
// goes away (the IPC channel closes); a monitor that dies is started again at the next round.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AlertRecord } from '../../shared/deployments';
import type { DeploymentSpec } from '../deploy/spec';
import { workerCommand } from '../serving/modelHost';
import type { WorkerCommand } from '../serving/modelHost';
import { Store } from '../store';
import { PredictionLog } from './log';
import { evaluateMonitoring, REPORT_BUCKET_MS, REPORT_PERIOD_MS, writeRoundReport } from './monitor';

/** The hidden argument of the `cairn` CLI bundle that makes the process a deployment's monitor. */
export const MONITOR_ARGUMENT = '__monitor';

/** Server → monitor: run one round. */
export interface RoundRequest {
  kind: 'round';
  id: number;
  root: string;
  spec: DeploymentSpec;
  now: number;
  pids: number[];
}

/** Monitor → server: the round's outcome (small: the report itself goes to report.json). */
export type RoundReply =
  | { kind: 'done'; id: number; fired: AlertRecord[]; resolved: AlertRecord[]; warnings: string[]; ms: number }
  | { kind: 'failed'; id: number; message: string };

export type RoundOutcome = Extract<RoundReply, { kind: 'done' }>;

/** The monitor's priority: below the server's, so serving wins when both want the CPU. */
const MONITOR_NICENESS = 10;

/**
 * How to start the monitor in this build, the same way as a model worker (modelHost.ts): the CLI
 * bundle itself with MONITOR_ARGUMENT, or monitorMain.ts beside this file with tsx preloaded.
 */
export function monitorCommand(): WorkerCommand {
  const worker = workerCommand();
  if (__filename.endsWith('.ts'))
    return { module: path.join(__dirname, 'monitorMain.ts'), args: [], execArgv: worker.execArgv };
  return { module: worker.module, args: [MONITOR_ARGUMENT], execArgv: worker.execArgv };
}

interface Waiting {
  id: number;
  resolve(outcome: RoundOutcome): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** The server's handle on its monitor process: one round at a time. */
export class MonitorProcess {
  private child: ChildProcess | null = null;
  private waiting: Waiting | null = null;
  private nextId = 1;
  private stopped = false;

  constructor(
    private readonly options: {
      /** Where the monitor's exits are reported (the server's log). */
      log: (message: string) => void;
      command?: WorkerCommand;
      /** A round that takes longer is given up: the monitor is killed and started again. */
      timeoutMs?: number;
    },
  ) {}

  /** The monitor's process id, or null while none runs. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Starts the monitor process unless it runs (rounds start it too; this hides its start-up time). */
  start(): void {
    if (this.child || this.stopped) return;
    const command = this.options.command ?? monitorCommand();
    const child = fork(command.module, command.args, {
      execArgv: command.execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    try {
      if (child.pid !== undefined) os.setPriority(child.pid, MONITOR_NICENESS);
    } catch {
      // Not allowed here: the monitor runs at the server's priority.
    }
    child.on('message', (message: RoundReply) => this.receive(message));
    child.on('error', (error) => this.gone(child, `the monitor process failed: ${error.message}`));
    child.on('exit', (code, signal) =>
      this.gone(child, `the monitor process exited (${signal ?? `code ${code ?? '?'}`})`),
    );
  }

  /** Runs one round in the monitor process; rejects when it fails, dies or takes too long. */
  round(request: Omit<RoundRequest, 'kind' | 'id'>): Promise<RoundOutcome> {
    if (this.stopped) return Promise.reject(new Error('the monitor is stopped'));
    if (this.waiting) return Promise.reject(new Error('a monitoring round is still running'));
    this.start();
    const child = this.child;
    if (!child?.connected) return Promise.reject(new Error('the monitor process is not connected'));
    const id = this.nextId++;
    return new Promise<RoundOutcome>((resolve, reject) => {
      const timeoutMs = this.options.timeoutMs ?? 600_000;
      const timer = setTimeout(() => {
        this.fail(new Error(`the monitoring round took longer than ${Math.round(timeoutMs / 1000)} s`));
        child.kill('SIGKILL');
      }, timeoutMs);
      this.waiting = { id, resolve, reject, timer };
      const message: RoundRequest = { kind: 'round', id, ...request };
      child.send(message, (error) => {
        if (error) this.fail(new Error(`cannot reach the monitor process: ${error.message}`));
      });
    });
  }

  /** Stops the monitor (closing the channel makes it exit; killed if it has not within a second). */
  stop(): void {
    this.stopped = true;
    const child = this.child;
    this.fail(new Error('the monitor is stopped'));
    if (!child) return;
    if (child.connected) child.disconnect();
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, 1000);
    timer.unref();
  }

  private receive(message: RoundReply): void {
    const waiting = this.waiting;
    if (!waiting || message.id !== waiting.id) return;
    this.waiting = null;
    clearTimeout(waiting.timer);
    if (message.kind === 'done') waiting.resolve(message);
    else waiting.reject(new Error(message.message));
  }

  private fail(error: Error): void {
    const waiting = this.waiting;
    if (!waiting) return;
    this.waiting = null;
    clearTimeout(waiting.timer);
    waiting.reject(error);
  }

  private gone(child: ChildProcess, reason: string): void {
    if (this.child !== child) return;
    this.child = null;
    if (this.stopped) return;
    this.options.log(`monitor: ${reason}; it is started again at the next round`);
    this.fail(new Error(reason));
  }
}

/** The monitor process's main: answers round requests until the server closes the channel. */
export function runMonitorProcess(): Promise<number> {
  const send = process.send?.bind(process);
  if (!send) {
    process.stderr.write('cairn: __monitor is started by a deployment server, not by hand.\n');
    return Promise.resolve(2);
  }
  // The server is gone (stopped, or killed): so is its monitor, whatever round it was in.
  process.on('disconnect', () => process.exit(0));
  let opened: { root: string; name: string; store: Store; log: PredictionLog } | null = null;
  const open = (root: string, spec: DeploymentSpec): { store: Store; log: PredictionLog } => {
    if (opened && opened.root === root && opened.name === spec.name) return opened;
    if (opened) {
      opened.log.close();
      opened.store.close();
    }
    const store = Store.open(root);
    const log = PredictionLog.open(root, spec.name, { policy: spec.monitoring.log });
    opened = { root, name: spec.name, store, log };
    return opened;
  };
  let queue = Promise.resolve();
  const round = async (request: RoundRequest): Promise<RoundReply> => {
    const started = Date.now();
    try {
      const { store, log } = open(request.root, request.spec);
      const outcome = await evaluateMonitoring({
        root: request.root,
        spec: request.spec,
        log,
        store,
        now: request.now,
        pids: request.pids,
        sinceMs: REPORT_PERIOD_MS,
        bucketMs: REPORT_BUCKET_MS,
      });
      writeRoundReport(request.root, outcome.report);
      return {
        kind: 'done',
        id: request.id,
        fired: outcome.fired,
        resolved: outcome.resolved,
        warnings: outcome.warnings,
        ms: Date.now() - started,
      };
    } catch (error) {
      return {
        kind: 'failed',
        id: request.id,
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
      };
    }
  };
  process.on('message', (message: RoundRequest) => {
    if (message.kind !== 'round') return;
    queue = queue.then(async () => {
      const reply = await round(message);
      if (process.connected) send(reply);
    });
  });
  return new Promise<number>(() => undefined);
}
