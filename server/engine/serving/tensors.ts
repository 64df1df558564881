// Tensors as they travel between the HTTP front, the model workers and the prediction log: an element
// type named as in the ONNX signature (float32, int64, string, ...), dimensions and a flat row-major
// array. Typed arrays cross the worker's IPC channel without JSON (serialization 'advanced').

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | string[];

export interface TensorValue {
  /** The element type as the signature names it: float32, int64, bool, string, ... */
  type: string;
  dims: number[];
  data: TensorData;
}

/** The element types a request may carry, with the array that holds them. */
const ARRAYS: Record<string, (length: number) => TensorData> = {
  float32: (length) => new Float32Array(length),
  float64: (length) => new Float64Array(length),
  int8: (length) => new Int8Array(length),
  int16: (length) => new Int16Array(length),
  int32: (length) => new Int32Array(length),
  int64: (length) => new BigInt64Array(length),
  uint8: (length) => new Uint8Array(length),
  uint16: (length) => new Uint16Array(length),
  uint32: (length) => new Uint32Array(length),
  uint64: (length) => new BigUint64Array(length),
  // onnxruntime takes booleans as one byte each.
  bool: (length) => new Uint8Array(length),
  string: (length) => new Array<string>(length).fill(''),
};

/** Whether requests can carry tensors of this element type. */
export function supportedType(type: string): boolean {
  return type in ARRAYS;
}

/** A zeroed array of `length` elements of `type`; the type must be supported. */
export function allocate(type: string, length: number): TensorData {
  const make = ARRAYS[type];
  if (!make) throw new Error(`unsupported tensor element type ${type}`);
  return make(length);
}

/** The product of the dimensions: how many elements a tensor of these dimensions holds. */
export function elementCount(dims: readonly number[]): number {
  let count = 1;
  for (const dim of dims) count *= dim;
  return count;
}

/** Joins tensors of the same type and trailing dimensions along their first dimension. */
export function concatenate(parts: readonly TensorValue[]): TensorValue {
  const first = parts[0];
  if (!first) throw new Error('nothing to concatenate');
  if (parts.length === 1) return first;
  let rows = 0;
  let length = 0;
  for (const part of parts) {
    rows += part.dims[0] ?? 1;
    length += part.data.length;
  }
  const data = allocate(first.type, length);
  let offset = 0;
  for (const part of parts) {
    if (Array.isArray(data)) {
      const strings = part.data as string[];
      for (let index = 0; index < strings.length; index++) data[offset + index] = strings[index] ?? '';
    } else {
      (data as Float32Array).set(part.data as Float32Array, offset);
    }
    offset += part.data.length;
  }
  return { type: first.type, dims: [rows, ...first.dims.slice(1)], data };
}

/** Rows `start` to `end` (exclusive) of a tensor whose first dimension is the batch. */
export function sliceRows(tensor: TensorValue, start: number, end: number): TensorValue {
  const rows = tensor.dims[0] ?? 1;
  if (start === 0 && end === rows) return tensor;
  const width = rows === 0 ? 0 : tensor.data.length / rows;
  return {
    type: tensor.type,
    dims: [end - start, ...tensor.dims.slice(1)],
    data: tensor.data.slice(start * width, end * width) as TensorData,
  };
}

/** The elements as plain numbers (bigints converted, NaN kept), for JSON and the prediction log. */
export function toNumbers(data: TensorData): number[] {
  const numbers = new Array<number>(data.length);
  for (let index = 0; index < data.length; index++) numbers[index] = Number(data[index]);
  return numbers;
}

/**
 * JSON text of the elements of a tensor. A JSON number cannot be NaN or infinite, so those become
 * null. Joining is several times faster than JSON.stringify over a copied array, and gives the same
 * digits (both use the shortest round-trip form of the number).
 */
export function jsonElements(tensor: TensorValue): string {
  const data = tensor.data;
  if (Array.isArray(data)) return JSON.stringify(data);
  if (tensor.type === 'bool')
    return `[${Array.from(data as Uint8Array, (value) => (value ? 'true' : 'false')).join(',')}]`;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return `[${data.join(',')}]`;
  const numbers = data as Float32Array;
  for (let index = 0; index < numbers.length; index++) {
    if (!Number.isFinite(numbers[index])) {
      return `[${Array.from(numbers, (value) => (Number.isFinite(value) ? String(value) : 'null')).join(',')}]`;
    }
  }
  return `[${numbers.join(',')}]`;
}
