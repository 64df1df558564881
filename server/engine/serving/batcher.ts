// Dynamic micro-batching in front of one model worker. Requests whose inputs can be stacked along
// the batch dimension wait (at most max_latency_ms) to be sent to the worker together: one IPC
// message and one session run for many requests, which is where the throughput of small requests
// comes from. When the worker is idle a batch leaves as soon as the requests that arrived together
// are collected (one turn of the event loop), so a lone request pays no delay; while a batch runs,
// the next one fills up to max_size rows. A request larger than max_size rows goes alone.
import { concatenate, sliceRows } from './tensors';
import type { TensorValue } from './tensors';

/**
 * Batches sent to each worker before the next must wait: two, so that a worker runs one while the
 * front answers the previous one and reads new requests.
 */
const PIPELINE_PER_WORKER = 2;

export interface BatchOptions {
  /** Most rows in one batch. */
  maxSize: number;
  /** Longest time a request waits for others, in milliseconds. */
  maxLatencyMs: number;
}

/** What runs a batch: a ModelHost, or anything with the same `run`. */
export interface BatchRunner {
  run(inputs: Record<string, TensorValue>): Promise<Record<string, TensorValue>>;
}

interface Waiting {
  inputs: Record<string, TensorValue>;
  rows: number;
  /** Requests can be stacked only when their inputs agree on names, types and trailing dimensions. */
  shapeKey: string;
  resolve(outputs: Record<string, TensorValue>): void;
  reject(error: unknown): void;
}

function shapeKey(inputs: Record<string, TensorValue>): string {
  let key = '';
  for (const name in inputs) {
    const tensor = inputs[name] as TensorValue;
    key += `${name}:${tensor.type}:${tensor.dims.slice(1).join('x')};`;
  }
  return key;
}

export class Batcher {
  private queue: Waiting[] = [];
  private queuedRows = 0;
  private running = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  /** Batches in flight before the next waits. */
  private readonly pipeline: number;

  constructor(
    private readonly runner: BatchRunner,
    private readonly options: BatchOptions,
    /** Whether the model's inputs have a free batch dimension; if not, every request runs alone. */
    private readonly batchable: boolean,
    /** Told the row count of every batch sent (for the batch size histogram). */
    private readonly onBatch: (rows: number) => void = () => undefined,
    /** The workers the runner spreads batches over: each may have PIPELINE_PER_WORKER in flight. */
    workers = 1,
  ) {
    this.pipeline = PIPELINE_PER_WORKER * Math.max(1, workers);
  }

  /** Requests waiting and batches running. */
  get busy(): number {
    return this.queue.length + this.running;
  }

  /** Runs the request's rows, in a batch with others when possible; resolves with its own output rows. */
  submit(inputs: Record<string, TensorValue>, rows: number): Promise<Record<string, TensorValue>> {
    if (!this.batchable || rows >= this.options.maxSize) return this.runAlone(inputs, rows);
    return new Promise((resolve, reject) => {
      this.queue.push({ inputs, rows, shapeKey: shapeKey(inputs), resolve, reject });
      this.queuedRows += rows;
      this.schedule();
    });
  }

  private runAlone(inputs: Record<string, TensorValue>, rows: number): Promise<Record<string, TensorValue>> {
    this.running++;
    this.onBatch(rows);
    return this.runner.run(inputs).finally(() => {
      this.running--;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.queue.length === 0) return;
    if (this.queuedRows >= this.options.maxSize) {
      this.dispatch();
    } else if (this.running < this.pipeline) {
      // Collect the requests parsed in this turn of the event loop, then go.
      this.immediate ??= setImmediate(() => {
        this.immediate = null;
        if (this.running < this.pipeline || this.options.maxLatencyMs <= 0) this.dispatch();
        else this.startTimer();
      });
    } else {
      this.startTimer();
    }
  }

  private startTimer(): void {
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.dispatch();
    }, this.options.maxLatencyMs);
  }

  /** Sends the oldest requests that stack together, up to max_size rows, as one batch. */
  private dispatch(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const first = this.queue[0];
    if (!first) return;
    const batch: Waiting[] = [];
    const rest: Waiting[] = [];
    let rows = 0;
    for (const waiting of this.queue) {
      if (waiting.shapeKey === first.shapeKey && (batch.length === 0 || rows + waiting.rows <= this.options.maxSize)) {
        batch.push(waiting);
        rows += waiting.rows;
      } else {
        rest.push(waiting);
      }
    }
    this.queue = rest;
    this.queuedRows -= rows;
    this.running++;
    this.onBatch(rows);
    const inputs: Record<string, TensorValue> = {};
    for (const name in first.inputs)
      inputs[name] = concatenate(batch.map((waiting) => waiting.inputs[name] as TensorValue));
    this.runner.run(inputs).then(
      (outputs) => {
        this.running--;
        let start = 0;
        for (const waiting of batch) {
          const own: Record<string, TensorValue> = {};
          for (const name in outputs) {
            const tensor = outputs[name] as TensorValue;
            // An output without the batch dimension (a scalar, say) is the same for every request.
            own[name] = tensor.dims[0] === rows ? sliceRows(tensor, start, start + waiting.rows) : tensor;
          }
          start += waiting.rows;
          waiting.resolve(own);
        }
        this.schedule();
      },
      (error: unknown) => {
        this.running--;
        for (const waiting of batch) waiting.reject(error);
        this.schedule();
      },
    );
    // More may wait than fit in one batch.
    if (this.queuedRows >= this.options.maxSize) this.dispatch();
  }
}
