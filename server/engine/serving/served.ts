// One served model version: its worker (restarted after a crash, with a growing delay), the
// micro-batcher in front of it, and its retirement after a hot swap (drain, then stop).
import type { ServedVersion } from '../../shared/deployments';
import type { OnnxSignature } from '../registry/signature';
import { Batcher } from './batcher';
import type { BatchOptions } from './batcher';
import { ModelHost, WorkerError } from './modelHost';
import type { WorkerCommand } from './modelHost';
import type { TensorValue } from './tensors';

/** A model version to serve: what the registry's ModelVersion gives, plus the spec's reference. */
export interface ServingVersion {
  model: string;
  version: number;
  /** The ONNX file. */
  objectPath: string;
  signature: OnnxSignature;
  /** The reference written in the spec ("rain@champion"); "name:version" when absent. */
  ref?: string;
}

export interface ServedOptions {
  batch: BatchOptions;
  threads: number | null;
  command: WorkerCommand | undefined;
  /** First delay before restarting a crashed worker; doubles per crash in a row, up to 30 s. */
  restartDelayMs: number;
  onBatch(version: string, rows: number): void;
  onExit(served: Served, detail: string): void;
  onRestarted(served: Served): void;
}

const MAX_RESTART_DELAY_MS = 30_000;

/** The key a version is known by in metrics, records and the log: "name:version". */
export function versionKey(version: { model: string; version: number }): string {
  return `${version.model}:${version.version}`;
}

/** Whether every input's first dimension is free, so requests can be stacked into one batch. */
function batchable(signature: OnnxSignature): boolean {
  return signature.inputs.every(
    (input) => input.shape !== null && input.shape.length > 0 && typeof input.shape[0] !== 'number',
  );
}

export class Served {
  readonly key: string;
  readonly batcher: Batcher;
  /** The signature's inputs as text: two versions with the same text take the same tensors. */
  readonly inputsKey: string;
  private host: ModelHost;
  private retired = false;
  private crashes = 0;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly version: ServingVersion,
    private readonly options: ServedOptions,
  ) {
    this.key = versionKey(version);
    this.inputsKey = JSON.stringify(version.signature.inputs);
    this.host = this.startHost();
    this.batcher = new Batcher(
      { run: (inputs) => this.run(inputs) },
      options.batch,
      batchable(version.signature),
      (rows) => options.onBatch(this.key, rows),
    );
  }

  /** Resolves when the first worker has loaded the model. */
  get ready(): Promise<void> {
    return this.host.ready;
  }

  get isReady(): boolean {
    return this.host.isReady;
  }

  get pid(): number | null {
    return this.host.pid;
  }

  /** The ServedVersion of the status documents. */
  describe(): ServedVersion {
    return {
      model: this.version.model,
      version: this.version.version,
      ref: this.version.ref ?? this.key,
      pid: this.host.pid,
      ready: this.host.isReady,
    };
  }

  /** Runs a request's rows through the batcher. */
  submit(inputs: Record<string, TensorValue>, rows: number): Promise<Record<string, TensorValue>> {
    return this.batcher.submit(inputs, rows);
  }

  private run(inputs: Record<string, TensorValue>): Promise<Record<string, TensorValue>> {
    if (!this.host.isReady) {
      return Promise.reject(new WorkerError(this.host.exitReason ?? `the worker of ${this.key} is not ready`));
    }
    return this.host.run(inputs);
  }

  private startHost(): ModelHost {
    const host = new ModelHost(this.version.objectPath, {
      threads: this.options.threads,
      ...(this.options.command ? { command: this.options.command } : {}),
    });
    host.onExit((detail) => {
      if (this.retired) return;
      this.options.onExit(this, detail);
      this.scheduleRestart();
    });
    host.ready.then(
      () => {
        this.crashes = 0;
      },
      () => undefined,
    );
    return host;
  }

  private scheduleRestart(): void {
    const delay = Math.min(MAX_RESTART_DELAY_MS, this.options.restartDelayMs * 2 ** this.crashes);
    this.crashes++;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.retired) return;
      this.host = this.startHost();
      this.host.ready.then(
        () => this.options.onRestarted(this),
        () => undefined,
      );
    }, delay);
  }

  /** Waits (at most `drainMs`) for its queued and running batches, then stops the worker. */
  async retire(drainMs: number): Promise<void> {
    this.retired = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const deadline = Date.now() + drainMs;
    while (this.batcher.busy > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    await this.host.stop(Math.max(0, deadline - Date.now()));
  }
}
