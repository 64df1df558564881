// One served model version: its worker processes (server.workers of them, each restarted after a
// crash with a growing delay), the micro-batcher in front of them, which sends each batch to the
// least busy one, and its retirement after a hot swap (drain, then stop).
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
  /** Worker processes running this version (each loads the model); batches go to the least busy. */
  workers?: number;
  threads: number | null;
  command: WorkerCommand | undefined;
  /** First delay before restarting a crashed worker; doubles per crash in a row, up to 30 s. */
  restartDelayMs: number;
  onBatch(version: string, rows: number): void;
  onExit(served: Served, detail: string): void;
  onRestarted(served: Served, pid: number | null): void;
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

/** One worker process of a served version, and the restarts of that slot after crashes. */
interface Slot {
  host: ModelHost;
  crashes: number;
  restartTimer: NodeJS.Timeout | null;
}

export class Served {
  readonly key: string;
  readonly batcher: Batcher;
  /** The signature's inputs as text: two versions with the same text take the same tensors. */
  readonly inputsKey: string;
  private readonly slots: Slot[];
  private retired = false;
  /** Resolves when every worker has loaded the model; rejects when one could not. */
  readonly ready: Promise<void>;

  constructor(
    readonly version: ServingVersion,
    private readonly options: ServedOptions,
  ) {
    this.key = versionKey(version);
    this.inputsKey = JSON.stringify(version.signature.inputs);
    const workers = Math.max(1, options.workers ?? 1);
    this.slots = Array.from({ length: workers }, () => ({ host: this.startHost(), crashes: 0, restartTimer: null }));
    this.slots.forEach((slot) => this.watch(slot));
    this.ready = Promise.all(this.slots.map((slot) => slot.host.ready)).then(() => undefined);
    this.ready.catch(() => undefined);
    this.batcher = new Batcher(
      { run: (inputs) => this.run(inputs) },
      options.batch,
      batchable(version.signature),
      (rows) => options.onBatch(this.key, rows),
      workers,
    );
  }

  /** Whether it can answer: at least one worker has the model loaded. */
  get isReady(): boolean {
    return this.slots.some((slot) => slot.host.isReady);
  }

  /** The first live worker's pid. */
  get pid(): number | null {
    return this.slots.map((slot) => slot.host.pid).find((pid) => pid !== null) ?? null;
  }

  /** The ServedVersion of the status documents. */
  describe(): ServedVersion {
    const described: ServedVersion = {
      model: this.version.model,
      version: this.version.version,
      ref: this.version.ref ?? this.key,
      pid: this.pid,
      ready: this.isReady,
    };
    if (this.slots.length > 1)
      described.replicas = {
        pids: this.slots.map((slot) => slot.host.pid).filter((pid): pid is number => pid !== null),
        ready: this.slots.filter((slot) => slot.host.isReady).length,
        total: this.slots.length,
      };
    return described;
  }

  /** Runs a request's rows through the batcher. */
  submit(inputs: Record<string, TensorValue>, rows: number): Promise<Record<string, TensorValue>> {
    return this.batcher.submit(inputs, rows);
  }

  /** Runs a batch on the ready worker with the fewest batches in flight. */
  private run(inputs: Record<string, TensorValue>): Promise<Record<string, TensorValue>> {
    let chosen: ModelHost | null = null;
    for (const { host } of this.slots)
      if (host.isReady && (chosen === null || host.inFlight < chosen.inFlight)) chosen = host;
    if (!chosen) {
      const reason =
        this.slots.map((slot) => slot.host.exitReason).find((why) => why !== null) ??
        `the worker of ${this.key} is not ready`;
      return Promise.reject(new WorkerError(reason));
    }
    return chosen.run(inputs);
  }

  private startHost(): ModelHost {
    return new ModelHost(this.version.objectPath, {
      threads: this.options.threads,
      ...(this.options.command ? { command: this.options.command } : {}),
    });
  }

  /** Restarts the slot's worker when it exits (with a delay that doubles per crash in a row). */
  private watch(slot: Slot): void {
    const host = slot.host;
    host.onExit((detail) => {
      if (this.retired) return;
      this.options.onExit(this, detail);
      this.scheduleRestart(slot);
    });
    host.ready.then(
      () => {
        slot.crashes = 0;
      },
      () => undefined,
    );
  }

  private scheduleRestart(slot: Slot): void {
    const delay = Math.min(MAX_RESTART_DELAY_MS, this.options.restartDelayMs * 2 ** slot.crashes);
    slot.crashes++;
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      if (this.retired) return;
      slot.host = this.startHost();
      this.watch(slot);
      slot.host.ready.then(
        () => this.options.onRestarted(this, slot.host.pid),
        () => undefined,
      );
    }, delay);
  }

  /** Waits (at most `drainMs`) for its queued and running batches, then stops the workers. */
  async retire(drainMs: number): Promise<void> {
    this.retired = true;
    for (const slot of this.slots) if (slot.restartTimer) clearTimeout(slot.restartTimer);
    const deadline = Date.now() + drainMs;
    while (this.batcher.busy > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    await Promise.all(this.slots.map((slot) => slot.host.stop(Math.max(0, deadline - Date.now()))));
  }
}
