// One model version in its own worker process: start it, wait until it has loaded the model, run
// batches, hear when it exits, and stop it after its batches are done. A batch sent to a worker that
// has died fails at once with the reason (so the router can fall back), never hangs.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { WORKER_ARGUMENT } from './protocol';
import type { FromWorker, ToWorker } from './protocol';
import type { TensorValue } from './tensors';

/** How to start a worker process: a module, its arguments and node's own arguments. */
export interface WorkerCommand {
  module: string;
  args: string[];
  execArgv: string[];
}

/**
 * The worker's entry in this build. From the esbuild bundle (dist/cli/cairn.js) this file's code is
 * inside cairn.js, which becomes a worker when its first argument is `__serve-worker`. Under tsx
 * (tests, `node --import tsx`), this file is a .ts source beside workerMain.ts, which is forked with
 * tsx's CommonJS hook preloaded.
 */
export function workerCommand(): WorkerCommand {
  if (__filename.endsWith('.ts')) {
    // A name in a variable: the bundler must not try to resolve (or bundle) tsx, which only tests use.
    const tsx = 'tsx/cjs';
    return {
      module: path.join(__dirname, 'workerMain.ts'),
      args: [],
      execArgv: ['--require', require.resolve(tsx)],
    };
  }
  return { module: __filename, args: [WORKER_ARGUMENT], execArgv: [] };
}

/** Raised (as a rejection of run) when the worker failed the batch or is gone. */
export class WorkerError extends Error {}

export interface HostOptions {
  /** Threads onnxruntime may use inside one run (intraOpNumThreads); null: its default. */
  threads?: number | null;
  command?: WorkerCommand;
}

interface Pending {
  resolve(outputs: Record<string, TensorValue>): void;
  reject(error: Error): void;
}

export class ModelHost {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited: string | null = null;
  private loaded = false;
  private readonly exitListeners: ((detail: string) => void)[] = [];
  private readonly idleListeners: (() => void)[] = [];
  /** Resolves when the model is loaded; rejects when loading failed or the worker died first. */
  readonly ready: Promise<void>;

  constructor(
    /** The ONNX file. */
    readonly file: string,
    options: HostOptions = {},
  ) {
    const command = options.command ?? workerCommand();
    this.child = fork(command.module, command.args, {
      execArgv: command.execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (message: FromWorker): void => {
        if (message.kind === 'ready') {
          this.loaded = true;
          resolve();
        } else if (message.kind === 'failed') {
          reject(new WorkerError(message.message));
          this.kill();
        }
      };
      this.child.on('message', onMessage);
      this.child.once('exit', (code, signal) =>
        reject(new WorkerError(`the worker exited before loading the model (${signal ?? `code ${code ?? '?'}`})`)),
      );
    });
    // Nobody may be waiting on `ready` when it fails (a worker killed later); that is not a crash.
    this.ready.catch(() => undefined);
    this.child.on('message', (message: FromWorker) => this.receive(message));
    this.child.on('error', (error) => this.finish(`worker error: ${error.message}`));
    this.child.on('exit', (code, signal) =>
      this.finish(signal ? `the worker was killed by ${signal}` : `the worker exited with code ${code ?? '?'}`),
    );
    this.post({ kind: 'load', file, threads: options.threads ?? null });
  }

  /** The worker's process id (null once it has exited). */
  get pid(): number | null {
    return this.exited === null ? (this.child.pid ?? null) : null;
  }

  /** Whether the model is loaded and the worker alive. */
  get isReady(): boolean {
    return this.loaded && this.exited === null;
  }

  /** Why the worker is gone, or null while it runs. */
  get exitReason(): string | null {
    return this.exited;
  }

  /** Batches sent and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Runs one batch; rejects with a WorkerError when the model fails it or the worker is gone. */
  run(inputs: Record<string, TensorValue>): Promise<Record<string, TensorValue>> {
    if (this.exited !== null) return Promise.reject(new WorkerError(this.exited));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post({ kind: 'run', id, inputs });
    });
  }

  /** Calls `listener` with the reason when the worker exits (not when stopped through stop()). */
  onExit(listener: (detail: string) => void): void {
    this.exitListeners.push(listener);
  }

  /**
   * Stops the worker once its batches are answered (or after `drainMs`), then kills it if it has not
   * exited within a second.
   */
  async stop(drainMs = 5000): Promise<void> {
    if (this.exited !== null) return;
    this.exitListeners.length = 0;
    if (this.pending.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainMs);
        this.idleListeners.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    if (this.exited !== null) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.post({ kind: 'stop' });
    const timer = setTimeout(() => this.kill(), 1000);
    await gone;
    clearTimeout(timer);
  }

  private kill(): void {
    if (this.exited === null) this.child.kill('SIGKILL');
  }

  private post(message: ToWorker): void {
    if (!this.child.connected) return;
    this.child.send(message, (error) => {
      if (error) this.finish(`cannot reach the worker: ${error.message}`);
    });
  }

  private receive(message: FromWorker): void {
    if (message.kind !== 'result' && message.kind !== 'error') return;
    const waiting = this.pending.get(message.id);
    if (!waiting) return;
    this.pending.delete(message.id);
    if (message.kind === 'result') waiting.resolve(message.outputs);
    else waiting.reject(new WorkerError(message.message));
    if (this.pending.size === 0) for (const listener of this.idleListeners.splice(0)) listener();
  }

  private finish(reason: string): void {
    if (this.exited !== null) return;
    this.exited = reason;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    for (const waiting of this.pending.values()) waiting.reject(new WorkerError(reason));
    this.pending.clear();
    for (const listener of this.idleListeners.splice(0)) listener();
    for (const listener of this.exitListeners) listener(reason);
  }
}
