// The messages between the model server (parent) and a model worker (child process), over the IPC
// channel of child_process.fork with serialization 'advanced': typed arrays travel as bytes, not JSON.
import type { TensorValue } from './tensors';

/** Parent → worker. */
export type ToWorker =
  | { kind: 'load'; file: string; threads: number | null }
  | { kind: 'run'; id: number; inputs: Record<string, TensorValue> }
  | { kind: 'stop' };

/** Worker → parent. */
export type FromWorker =
  | { kind: 'ready'; loadMs: number }
  | { kind: 'failed'; message: string }
  | { kind: 'result'; id: number; outputs: Record<string, TensorValue>; runMs: number }
  | { kind: 'error'; id: number; message: string };

/** The hidden argument of the `cairn` CLI bundle that makes the process a model worker. */
export const WORKER_ARGUMENT = '__serve-worker';
