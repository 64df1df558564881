// A model worker: a child process that loads one ONNX file with onnxruntime-node and runs the
// batches the model server sends over IPC, one at a time, in arrival order. It exits when told to,
// or when its parent goes away (the IPC channel closes), so a killed server leaves no worker behind.
// It is started as `node dist/cli/cairn.js __serve-worker` from the bundle, and from workerMain.ts
// under tsx in tests (see modelHost.ts).
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { FromWorker, ToWorker } from './protocol';
import type { TensorData, TensorValue } from './tensors';

type Ort = typeof import('onnxruntime-node');

function send(message: FromWorker): void {
  process.send?.(message);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A typed array that owns exactly its bytes (a view into a bigger buffer would copy all of it over IPC). */
function compact(data: TensorData): TensorData {
  if (Array.isArray(data)) return data;
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : (data.slice() as TensorData);
}

function toValue(tensor: Tensor): TensorValue {
  return { type: tensor.type, dims: Array.from(tensor.dims), data: compact(tensor.data as TensorData) };
}

/** A batch of one row of zeros, when every dimension but the batch is fixed, to warm the session up. */
function warmUpFeeds(
  ort: Ort,
  session: InferenceSession,
  shapes: Map<string, readonly (number | string)[]>,
): Record<string, Tensor> | null {
  const feeds: Record<string, Tensor> = {};
  for (const name of session.inputNames) {
    const shape = shapes.get(name);
    if (!shape) return null;
    const dims = shape.map((dim, index) => (index === 0 ? 1 : dim));
    if (!dims.every((dim): dim is number => typeof dim === 'number' && dim >= 0)) return null;
    const count = dims.reduce((product, dim) => product * dim, 1);
    const metadata = session.inputMetadata.find((entry) => entry.name === name);
    const type = metadata && metadata.isTensor ? metadata.type : 'float32';
    if (type === 'string') feeds[name] = new ort.Tensor('string', new Array<string>(count).fill(''), dims);
    else if (type === 'int64') feeds[name] = new ort.Tensor('int64', new BigInt64Array(count), dims);
    else if (type === 'float32') feeds[name] = new ort.Tensor('float32', new Float32Array(count), dims);
    else return null;
  }
  return feeds;
}

/**
 * The worker's main: answers load, run and stop messages until stopped or orphaned, then ends the
 * process itself (so the returned promise, for the CLI's main, never settles).
 */
export function runWorker(): Promise<number> {
  let session: InferenceSession | null = null;
  let ort: Ort | null = null;
  // Runs are chained so that a session runs one batch at a time, in the order they came.
  let queue: Promise<void> = Promise.resolve();

  const load = async (file: string, threads: number | null): Promise<void> => {
    const started = performance.now();
    try {
      ort = await import('onnxruntime-node');
      // A failed run is answered to the server (and reported with its request), not logged here too.
      // onnxruntime's threads spin while waiting for work by default: on a machine of few cores that
      // takes the CPU the HTTP front needs to parse the next requests, so they sleep instead.
      const options: InferenceSession.SessionOptions = {
        logSeverityLevel: 4,
        extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
      };
      if (threads) options.intraOpNumThreads = threads;
      session = await ort.InferenceSession.create(file, options);
      const shapes = new Map<string, readonly (number | string)[]>();
      for (const entry of session.inputMetadata) if (entry.isTensor) shapes.set(entry.name, entry.shape);
      const feeds = warmUpFeeds(ort, session, shapes);
      // A failed warm-up is not a failed load: the model may need inputs zeros do not make.
      if (feeds) await session.run(feeds).catch(() => undefined);
      send({ kind: 'ready', loadMs: performance.now() - started });
    } catch (error) {
      send({ kind: 'failed', message: `cannot load ${file}: ${describe(error)}` });
    }
  };

  const run = async (id: number, inputs: Record<string, TensorValue>): Promise<void> => {
    if (!session || !ort) {
      send({ kind: 'error', id, message: 'the model is not loaded' });
      return;
    }
    const started = performance.now();
    try {
      const feeds: Record<string, Tensor> = {};
      for (const [name, value] of Object.entries(inputs)) {
        feeds[name] = new ort.Tensor(value.type as 'float32', value.data as Float32Array, value.dims);
      }
      const results = await session.run(feeds);
      const outputs: Record<string, TensorValue> = {};
      for (const [name, tensor] of Object.entries(results)) outputs[name] = toValue(tensor);
      send({ kind: 'result', id, outputs, runMs: performance.now() - started });
    } catch (error) {
      send({ kind: 'error', id, message: describe(error) });
    }
  };

  process.on('message', (message: ToWorker) => {
    if (message.kind === 'load') queue = queue.then(() => load(message.file, message.threads));
    else if (message.kind === 'run') queue = queue.then(() => run(message.id, message.inputs));
    else if (message.kind === 'stop') void queue.then(() => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0));
  return new Promise<number>(() => undefined);
}
