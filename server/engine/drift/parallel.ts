// Sorting columns on worker threads: a million-row reference and current sample of 20 features
// is forty sorts, which two cores do in about half the time of one. The workers run the source of
// the functions themselves (each self-contained: what it calls comes in as a parameter), so this
// works the same from the bundled CLI and from TypeScript run by tsx; sorted arrays come back as
// transferred buffers, never copied.
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { sortFloat64 } from './sort';
import type { SortWorkspace } from './sort';
import { compareSorted, sortedRuns, standardDeviation } from './statistics';
import type { SortedComparison, SortedRuns } from './statistics';

/**
 * One side of a numeric feature: its sample already sorted; a caller's column, which is left as it
 * is (a worker gets a copy); or an array of numbers of our own, which the worker takes whole.
 */
export type NumericSide = { sorted: Float64Array } | { column: Float64Array } | { numbers: Float64Array };

/** A numeric feature prepared: both sides sorted with their figures, and the walk over both. */
export interface PreparedFeature {
  reference: PreparedSide;
  current: PreparedSide;
  comparison: SortedComparison;
}

/** A side sorted by the worker, with its figures; a side that came sorted has none. */
export interface PreparedSide {
  sorted: Float64Array;
  runs?: SortedRuns;
  deviation?: number;
}

/** Value counts are kept for samples with at most this many distinct values (Evidently bins up to 20 per value). */
const RUN_LIMIT = 64;

/** The functions a task calls, passed in so that the task's source is self-contained. */
interface Helpers {
  sortFloat64: typeof sortFloat64;
  sortedRuns: typeof sortedRuns;
  standardDeviation: typeof standardDeviation;
  compareSorted: typeof compareSorted;
  workspace: SortWorkspace;
  runLimit: number;
}

/**
 * What a feature task carries: per side, its values, whether they are sorted already, and if not
 * where the sorted sample goes (a place in shared memory as long as the values).
 */
interface FeatureTask {
  sides: { values: Float64Array; sorted: boolean; target: Float64Array | null }[];
}

interface FeatureReply {
  /** The values are null for a side that came sorted: the caller has them already. */
  sides: { values: Float64Array | null; runs: SortedRuns | null; deviation: number | null }[];
  comparison: SortedComparison;
}

/**
 * Cleans (drops NaN and ±Infinity in place) and sorts the sides (reference, current) that need it,
 * counts their distinct values, the reference's deviation, and walks both. Self-contained: its source runs in the workers.
 */
function prepareFeature(task: FeatureTask, helpers: Helpers): FeatureReply {
  const arrays = task.sides.map((side) => {
    const values = side.values;
    const target = side.target;
    if (side.sorted || !target) return values;
    let size = 0;
    for (let at = 0; at < values.length; at++) {
      const value = values[at] as number;
      if (value - value === 0) target[size++] = value; // finite: NaN and ±Infinity give NaN
    }
    return helpers.sortFloat64(target.subarray(0, size), helpers.workspace);
  });
  const comparison = helpers.compareSorted(arrays[0] as Float64Array, arrays[1] as Float64Array);
  const sides = arrays.map((values, index) => {
    if (task.sides[index]?.sorted) return { values: null, runs: null, deviation: null };
    // The walk counted each side's distinct values: the value counts are taken only when few.
    const distinct = index === 0 ? comparison.referenceDistinct : comparison.currentDistinct;
    return {
      values,
      runs:
        distinct <= helpers.runLimit
          ? helpers.sortedRuns(values, helpers.runLimit)
          : { distinct, values: null, counts: null },
      // Only the reference's deviation is used (it norms the Wasserstein distance).
      deviation: index === 0 && values.length > 0 ? helpers.standardDeviation(values) : null,
    };
  });
  return { sides, comparison };
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
// Bundlers that keep function names call __name(fn, "name") inside function bodies.
const __name = (target) => target;
const sortFloat64 = (${sortFloat64.toString()});
const prepareFeature = (${prepareFeature.toString()});
const helpers = {
  sortFloat64,
  sortedRuns: (${sortedRuns.toString()}),
  standardDeviation: (${standardDeviation.toString()}),
  compareSorted: (${compareSorted.toString()}),
  workspace: { values: new Float64Array(0), buckets: new Int32Array(0) },
  runLimit: ${RUN_LIMIT},
};
parentPort.on('message', ({ id, task }) => {
  if (task.sort) {
    sortFloat64(new Float64Array(task.buffer, 0, task.length), helpers.workspace);
    parentPort.postMessage({ id, reply: task }, [task.buffer]);
    return;
  }
  const reply = prepareFeature(task, helpers);
  // The sorted samples are in shared memory: the reply carries views, nothing is copied.
  parentPort.postMessage({ id, reply });
});
`;

interface Job {
  /** Builds the message when the job is sent (so that copies of columns are made one at a time). */
  task: () => { task: unknown; transfer: ArrayBuffer[] };
  done: (reply: unknown) => void;
}

/**
 * Runs the jobs on up to `threads` workers, two in flight per worker so that none waits for the
 * main thread between jobs (it may be busy counting categories).
 */
async function runOnWorkers(jobs: Job[], threads: number): Promise<void> {
  const workers = Array.from(
    { length: Math.min(threads, jobs.length) },
    () => new Worker(WORKER_SOURCE, { eval: true }),
  );
  let next = 0;
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            let inFlight = 0;
            const send = (): void => {
              const id = next++;
              const job = jobs[id];
              if (!job) {
                if (inFlight === 0) resolve();
                return;
              }
              const { task, transfer } = job.task();
              inFlight++;
              worker.postMessage({ id, task }, transfer);
            };
            worker.on('message', (message: { id: number; reply: unknown }) => {
              inFlight--;
              (jobs[message.id] as Job).done(message.reply);
              send();
            });
            worker.on('error', reject);
            send();
            send();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

/** Sorts every array (each a view from offset 0 of a buffer of its own), on up to `threads` workers. */
export async function sortAllInParallel(arrays: Float64Array[], threads = defaultThreads()): Promise<Float64Array[]> {
  if (Math.min(threads, arrays.length) <= 1) {
    const workspace = { values: new Float64Array(0), buckets: new Int32Array(0) };
    return arrays.map((values) => sortFloat64(values, workspace));
  }
  const sorted: Float64Array[] = new Array<Float64Array>(arrays.length);
  // Largest first, so that the workers finish together.
  const order = arrays.map((_, index) => index).sort((a, b) => lengthOf(arrays[b]) - lengthOf(arrays[a]));
  await runOnWorkers(
    order.map((index) => {
      const values = arrays[index] as Float64Array;
      return {
        task: () => ({
          task: { sort: true, buffer: values.buffer, length: values.length },
          transfer: [values.buffer as ArrayBuffer],
        }),
        done: (reply) => {
          const { buffer, length } = reply as { buffer: ArrayBuffer; length: number };
          sorted[index] = new Float64Array(buffer, 0, length);
        },
      };
    }),
    threads,
  );
  return sorted;
}

/**
 * Prepares numeric features, each a [reference, current] pair, on up to `threads` workers (on this
 * thread when one): `onPrepared` gets each feature as it is ready, by its index.
 */
export async function prepareFeaturesInParallel(
  features: [NumericSide, NumericSide][],
  threads = defaultThreads(),
  onPrepared: (index: number, feature: PreparedFeature) => void,
): Promise<void> {
  const answer = (index: number, reply: FeatureReply): void => {
    const pair = features[index] as [NumericSide, NumericSide];
    const [reference, current] = reply.sides.map((side, at): PreparedSide => ({
      sorted: side.values ?? sortedOf(pair[at] as NumericSide),
      ...(side.runs ? { runs: side.runs } : {}),
      ...(side.deviation !== null ? { deviation: side.deviation } : {}),
    }));
    onPrepared(index, {
      reference: reference as PreparedSide,
      current: current as PreparedSide,
      comparison: reply.comparison,
    });
  };
  // The sorted samples go to shared memory, one block per side, allocated once: 32 arrays of 8 MB
  // a report, each allocated apart on this thread, would bring on collections of its whole heap.
  // (Two blocks, so that a reference kept for later reports does not keep the current sample.)
  const sideLength = (side: NumericSide): number =>
    'column' in side ? side.column.length : 'numbers' in side ? side.numbers.length : 0;
  const blocks = [0, 1].map(
    (at) => new SharedArrayBuffer(8 * features.reduce((sum, pair) => sum + sideLength(pair[at] as NumericSide), 0)),
  );
  const offsets = [0, 0];
  const targets = features.map((pair) =>
    pair.map((side, at) => {
      const length = sideLength(side);
      if (length === 0) return null;
      const target = new Float64Array(blocks[at] as SharedArrayBuffer, (offsets[at] as number) * 8, length);
      offsets[at] = (offsets[at] as number) + length;
      return target;
    }),
  );
  // A column is copied once, straight into its place in shared memory, where the worker cleans
  // and sorts it (a structured clone would copy it twice: into the message and out of it).
  const taskOf = (index: number): { task: FeatureTask; transfer: ArrayBuffer[] } => {
    const sides = (features[index] as [NumericSide, NumericSide]).map((side, at) => {
      const target = targets[index]?.[at] ?? null;
      if ('sorted' in side) {
        // A view on part of a larger buffer would clone the whole buffer: its own part is sliced first.
        const whole = side.sorted.byteOffset === 0 && side.sorted.byteLength === side.sorted.buffer.byteLength;
        return { values: whole ? side.sorted : side.sorted.slice(), sorted: true, target: null };
      }
      const values = 'column' in side ? side.column : side.numbers;
      if (!target) return { values, sorted: false, target };
      target.set(values);
      return { values: target, sorted: false, target };
    });
    return { task: { sides }, transfer: [] };
  };
  if (Math.min(threads, features.length) <= 1) {
    const helpers: Helpers = {
      sortFloat64,
      sortedRuns,
      standardDeviation,
      compareSorted,
      workspace: { values: new Float64Array(0), buckets: new Int32Array(0) },
      runLimit: RUN_LIMIT,
    };
    features.forEach((_, index) => answer(index, prepareFeature(taskOf(index).task, helpers)));
    return;
  }
  await runOnWorkers(
    features.map((_, index) => ({
      task: () => taskOf(index),
      done: (reply) => answer(index, reply as FeatureReply),
    })),
    threads,
  );
}

function sortedOf(side: NumericSide): Float64Array {
  if (!('sorted' in side)) throw new Error('a side that was not sorted came back without its buffer');
  return side.sorted;
}

function lengthOf(values: Float64Array | undefined): number {
  return values?.length ?? 0;
}

/** One worker per core, at most four: the sorts are memory-bound beyond that. */
export function defaultThreads(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(4, cores));
}
