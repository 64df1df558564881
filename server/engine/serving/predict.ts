// The pieces of answering a request that are not HTTP: the deadline on a model's answer, the fixed
// fallback answer of the spec, and how far a shadow candidate's answer is from the stable one.
import type { OnnxSignature } from '../registry/signature';
import { allocate } from './tensors';
import type { TensorValue } from './tensors';

/** The model did not answer in time. */
export class TimeoutError extends Error {}

/** `promise`, or a TimeoutError after `ms` milliseconds (the work itself goes on; its answer is dropped). */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  // One promise and one timer per request (Promise.race with finally makes four promises).
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TimeoutError(`no answer within ${Math.round(ms)} ms`)), Math.max(0, ms));
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/**
 * The spec's fixed fallback answer (`fallback.default`: output name → a value, or a list of values,
 * per row) as output tensors of `rows` rows, typed as the model's outputs of that name.
 */
export function defaultOutputs(
  answer: Record<string, unknown>,
  signature: OnnxSignature,
  rows: number,
): Record<string, TensorValue> {
  const outputs: Record<string, TensorValue> = {};
  for (const [name, value] of Object.entries(answer)) {
    const row = Array.isArray(value) ? (value as unknown[]) : [value];
    const declared = signature.outputs.find((output) => output.name === name);
    const allStrings = row.every((item) => typeof item === 'string');
    const type = allStrings ? 'string' : declared && declared.type.startsWith('float') ? declared.type : 'float64';
    const data = allocate(type, rows * row.length);
    for (let index = 0; index < data.length; index++) {
      const item = row[index % row.length];
      (data as unknown as (number | string)[])[index] = type === 'string' ? String(item) : Number(item);
    }
    const rank1 = declared?.shape?.length === 1 && row.length === 1;
    outputs[name] = { type, dims: rank1 ? [rows] : [rows, row.length], data };
  }
  return outputs;
}

/** Mean |a − b| over the first numeric output both answers have, or null when they share none. */
export function meanAbsoluteDifference(a: Record<string, TensorValue>, b: Record<string, TensorValue>): number | null {
  for (const [name, tensor] of Object.entries(a)) {
    const other = b[name];
    if (!other || Array.isArray(tensor.data) || Array.isArray(other.data)) continue;
    const count = Math.min(tensor.data.length, other.data.length);
    if (count === 0) continue;
    let sum = 0;
    for (let index = 0; index < count; index++) sum += Math.abs(Number(tensor.data[index]) - Number(other.data[index]));
    return sum / count;
  }
  return null;
}
