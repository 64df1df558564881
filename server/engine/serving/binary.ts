// The binary tensor data extension of the Open Inference Protocol (Triton's and KServe's): a V2
// infer request whose body is a JSON header of `Inference-Header-Content-Length` bytes followed by
// the raw little-endian bytes of the inputs that say `"parameters": {"binary_data_size": N}`, in
// order. Large numeric requests skip JSON number parsing entirely this way.
import type { RequestError } from './inputs';

const ARRAYS: Record<string, { bytes: number; make: (buffer: ArrayBuffer, length: number) => ArrayBufferView }> = {
  FP32: { bytes: 4, make: (buffer, length) => new Float32Array(buffer, 0, length) },
  FP64: { bytes: 8, make: (buffer, length) => new Float64Array(buffer, 0, length) },
  INT8: { bytes: 1, make: (buffer, length) => new Int8Array(buffer, 0, length) },
  INT16: { bytes: 2, make: (buffer, length) => new Int16Array(buffer, 0, length) },
  INT32: { bytes: 4, make: (buffer, length) => new Int32Array(buffer, 0, length) },
  INT64: { bytes: 8, make: (buffer, length) => new BigInt64Array(buffer, 0, length) },
  UINT8: { bytes: 1, make: (buffer, length) => new Uint8Array(buffer, 0, length) },
  UINT16: { bytes: 2, make: (buffer, length) => new Uint16Array(buffer, 0, length) },
  UINT32: { bytes: 4, make: (buffer, length) => new Uint32Array(buffer, 0, length) },
  UINT64: { bytes: 8, make: (buffer, length) => new BigUint64Array(buffer, 0, length) },
  BOOL: { bytes: 1, make: (buffer, length) => new Uint8Array(buffer, 0, length) },
};

function fail(message: string): RequestError {
  return { status: 400, message };
}

/**
 * The V2 request of a binary body: the JSON header with each binary input's `data` set to a typed
 * array of its datatype (copied out of the body, so it is aligned and owns its bytes).
 */
export function readBinaryInfer(body: Buffer, headerLength: number): { request: unknown } | RequestError {
  if (!Number.isInteger(headerLength) || headerLength < 0 || headerLength > body.length) {
    return fail(`Inference-Header-Content-Length is ${headerLength}, but the body has ${body.length} bytes.`);
  }
  let header: unknown;
  try {
    header = JSON.parse(body.toString('utf8', 0, headerLength));
  } catch (error) {
    return fail(`The JSON header of the binary request is not valid JSON: ${(error as Error).message}.`);
  }
  const inputs = (header as { inputs?: unknown } | null)?.inputs;
  if (!Array.isArray(inputs)) return { request: header };
  let offset = headerLength;
  for (const input of inputs as Record<string, unknown>[]) {
    const size = (input?.['parameters'] as Record<string, unknown> | undefined)?.['binary_data_size'];
    if (size === undefined) continue;
    const name = String(input['name']);
    const datatype = String(input['datatype']);
    const kind = ARRAYS[datatype];
    if (!kind) return fail(`Input '${name}': binary data of datatype ${datatype} is not supported; send it as JSON.`);
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || size % kind.bytes !== 0) {
      return fail(`Input '${name}': binary_data_size ${String(size)} is not a whole number of ${datatype} values.`);
    }
    if (offset + size > body.length) {
      return fail(
        `Input '${name}': binary_data_size ${size} goes past the end of the body (${body.length - offset} bytes left).`,
      );
    }
    const copy = Uint8Array.prototype.slice.call(body, offset, offset + size);
    input['data'] = kind.make(copy.buffer, size / kind.bytes);
    offset += size;
  }
  if (offset !== body.length) return fail(`The binary request has ${body.length - offset} bytes after its inputs.`);
  return { request: header };
}
