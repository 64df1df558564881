// Sorting columns on worker threads: a million-row reference and current sample of 20 features
// is forty sorts, which two cores do in about half the time of one. The workers run the source of
// sortFloat64 itself (it is self-contained), so this works the same from the bundled CLI and from
// TypeScript run by tsx; the arrays travel as transferred buffers, never copied.
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { sortFloat64 } from './sort';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
// Bundlers that keep function names call __name(fn, "name") inside function bodies.
const __name = (target) => target;
const sortFloat64 = (${sortFloat64.toString()});
const workspace = { values: new Float64Array(0), buckets: new Int32Array(0) };
parentPort.on('message', (message) => {
  const values = new Float64Array(message.buffer, 0, message.length);
  sortFloat64(values, workspace);
  parentPort.postMessage({ id: message.id, buffer: message.buffer, length: message.length }, [message.buffer]);
});
`;

/** Sorts every array (each a view from offset 0 of a buffer of its own), on up to `threads` workers. */
export async function sortAllInParallel(arrays: Float64Array[], threads = defaultThreads()): Promise<Float64Array[]> {
  const count = Math.min(threads, arrays.length);
  if (count <= 1) {
    const workspace = { values: new Float64Array(0), buckets: new Int32Array(0) };
    return arrays.map((values) => sortFloat64(values, workspace));
  }
  const sorted: Float64Array[] = new Array<Float64Array>(arrays.length);
  // Largest first, so that the workers finish together.
  const queue = arrays
    .map((_, index) => index)
    .sort((a, b) => (arrays[b] as Float64Array).length - (arrays[a] as Float64Array).length);
  const workers = Array.from({ length: count }, () => new Worker(WORKER_SOURCE, { eval: true }));
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const sendNext = (): void => {
              const id = queue.shift();
              if (id === undefined) {
                resolve();
                return;
              }
              const values = arrays[id] as Float64Array;
              worker.postMessage({ id, buffer: values.buffer, length: values.length }, [values.buffer as ArrayBuffer]);
            };
            worker.on('message', (message: { id: number; buffer: ArrayBuffer; length: number }) => {
              sorted[message.id] = new Float64Array(message.buffer, 0, message.length);
              sendNext();
            });
            worker.on('error', reject);
            sendNext();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
  return sorted;
}

/** One worker per core, at most four: the sorts are memory-bound beyond that. */
export function defaultThreads(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(4, cores));
}
