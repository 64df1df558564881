// Requests to tensors, checked against the model's ONNX signature: the Open Inference Protocol (V2)
// infer body, MLflow's four /invocations payloads and CSV, and plain columns (`cairn score`). Pure
// functions, no I/O. A request that does not fit the signature gets a RequestError whose message
// names the input or column, what was expected (type, shape) and what came.
//
// Columns map to inputs in one of two ways. A model with ONE 2-D input whose metadata has
// `feature_names` (the weather model: `features` float32 [N, 20]) takes the columns of those names,
// in that order, as the input's columns. Otherwise each column is one input, by name; its cells are
// scalars (input [N] or [N, 1]) or arrays (the rest of the input's shape).
import { parse as parseCsv } from 'csv-parse/sync';
import { describeTensor } from '../registry/signature';
import type { OnnxSignature, TensorSignature } from '../registry/signature';
import { isList } from './json';
import type { NumericColumns } from './record';
import { allocate, elementCount, jsonElements, supportedType, toNumbers } from './tensors';
import type { TensorData, TensorValue } from './tensors';

export type { TensorData, TensorValue } from './tensors';

/** A request decoded into the model's input tensors. */
export interface Decoded {
  tensors: Record<string, TensorValue>;
  /** Rows in the request: the size of the inputs' first (batch) dimension. */
  rows: number;
  /**
   * The features by name, one value per row, for the prediction log and drift. Computed on first
   * read (most requests are not sampled into the log, and copying 20,000 values costs time).
   */
  readonly columns: Record<string, number[] | string[]>;
  /** The same features as one float64 block, or null when an input holds text (the prediction log's form). */
  numericColumns(): NumericColumns | null;
  /** V2: the request's `id`, echoed in the response. */
  id?: string;
  /** V2 `parameters` or MLflow `params`, as sent. */
  parameters?: Record<string, unknown>;
  /** V2: the outputs the request asked for, by name (all when absent). */
  outputs?: string[];
}

/** A request that does not fit the model: always a 400, with a message for the caller. */
export interface RequestError {
  status: 400;
  message: string;
}

/** Whether a decoding result is an error. */
export function isRequestError<T extends object>(value: T | RequestError): value is RequestError {
  return (value as RequestError).status === 400 && typeof (value as RequestError).message === 'string';
}

const V2_TO_ONNX: Record<string, string> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};

const ONNX_TO_V2: Record<string, string> = Object.fromEntries(
  Object.entries(V2_TO_ONNX).map(([v2, onnx]) => [onnx, v2]),
);

/** The V2 datatype (FP32, INT64, BYTES, ...) of an ONNX element type. */
export function v2Datatype(type: string): string {
  return ONNX_TO_V2[type] ?? type.toUpperCase();
}

/** A V2 shape: symbolic and unknown dimensions are -1. */
export function v2Shape(shape: TensorSignature['shape']): number[] {
  return (shape ?? []).map((dim) => (typeof dim === 'number' ? dim : -1));
}

function fail(message: string): RequestError {
  return { status: 400, message };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value as a person reads it in an error message. */
function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string')
    return `${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)} (a string)`;
  if (typeof value === 'boolean') return `${value} (a boolean)`;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  return 'an object';
}

function typeWord(type: string): string {
  if (type === 'string') return 'strings';
  if (type === 'bool') return 'booleans';
  if (type.startsWith('float')) return `numbers (${type})`;
  return `integers (${type})`;
}

/** The signature of one input, for messages: `features float32 [N, 20]`. */
function described(input: TensorSignature): string {
  return describeTensor(input);
}

// ---------------------------------------------------------------------------------------------
// Element conversion

type Convert = (value: unknown) => number | bigint | string | undefined;

const INTEGER_RANGES: Record<string, [number, number]> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

/** Text that stands for a missing number in CSV files and spreadsheets. */
const MISSING_TEXT = new Set(['', 'NA', 'NaN', 'nan', 'N/A', 'null', 'NULL']);

/**
 * How one JSON (or, when `fromText`, CSV) value becomes an element of `type`; undefined when it
 * cannot. A null float is NaN, as pandas reads a missing value.
 */
function converter(type: string, fromText: boolean): Convert {
  const key = `${type}:${fromText}`;
  let convert = converters.get(key);
  if (!convert) {
    convert = makeConverter(type, fromText);
    converters.set(key, convert);
  }
  return convert;
}

const converters = new Map<string, Convert>();

function makeConverter(type: string, fromText: boolean): Convert {
  if (type === 'float32' || type === 'float64') {
    return (value) => {
      if (typeof value === 'number') return value;
      if (value === null) return NaN;
      if (fromText && typeof value === 'string') {
        const text = value.trim();
        if (MISSING_TEXT.has(text)) return NaN;
        const number = Number(text);
        return Number.isNaN(number) ? undefined : number;
      }
      return undefined;
    };
  }
  const range = INTEGER_RANGES[type];
  if (range) {
    const [low, high] = range;
    const big = type === 'int64' || type === 'uint64';
    return (value) => {
      let number = value;
      if (fromText && typeof value === 'string' && value.trim() !== '') number = Number(value);
      if (typeof number !== 'number' || !Number.isInteger(number) || number < low || number > high) return undefined;
      return big ? BigInt(number) : number;
    };
  }
  if (type === 'bool') {
    return (value) => {
      if (value === true || value === 1) return 1;
      if (value === false || value === 0) return 0;
      if (fromText && typeof value === 'string') {
        const text = value.trim().toLowerCase();
        if (text === 'true' || text === '1') return 1;
        if (text === 'false' || text === '0') return 0;
      }
      return undefined;
    };
  }
  if (type === 'string') {
    return (value) => (typeof value === 'string' ? value : fromText && value != null ? String(value) : undefined);
  }
  return () => undefined;
}

function store(data: TensorData, index: number, value: number | bigint | string): void {
  (data as unknown as (number | bigint | string)[])[index] = value;
}

function unsupported(input: TensorSignature): RequestError | null {
  if (supportedType(input.type)) return null;
  return fail(`The model's input ${described(input)} has an element type the server cannot send (${input.type}).`);
}

// ---------------------------------------------------------------------------------------------
// Open Inference Protocol (V2)

/** Appends the leaves of nested lists (JS arrays or parseJson's Float64Arrays) to `out`, in order. */
function flattenInto(value: unknown, out: unknown[]): void {
  if (Array.isArray(value)) {
    for (const item of value) {
      if (isList(item)) flattenInto(item, out);
      else out.push(item);
    }
  } else if (value instanceof Float64Array) {
    for (let index = 0; index < value.length; index++) out.push(value[index]);
  } else {
    out.push(value);
  }
}

/**
 * Copies nested lists of numbers (arrays, or parseJson's Float64Arrays) straight into a float tensor;
 * the new offset, or -1 when some leaf is not a number (then the general path says which).
 */
function copyNumbers(value: unknown, target: Float32Array | Float64Array, offset: number): number {
  if (value instanceof Float64Array) {
    if (offset + value.length > target.length) return -1;
    target.set(value, offset);
    return offset + value.length;
  }
  if (!Array.isArray(value)) return -1;
  for (let index = 0; index < value.length; index++) {
    const item: unknown = value[index];
    if (typeof item === 'number') {
      if (offset >= target.length) return -1;
      target[offset++] = item;
    } else {
      offset = copyNumbers(item, target, offset);
      if (offset < 0) return -1;
    }
  }
  return offset;
}

const inputMaps = new WeakMap<OnnxSignature, Map<string, TensorSignature>>();

function inputsByName(signature: OnnxSignature): Map<string, TensorSignature> {
  let map = inputMaps.get(signature);
  if (!map) {
    map = new Map(signature.inputs.map((input) => [input.name, input]));
    inputMaps.set(signature, map);
  }
  return map;
}

function isBatchDynamic(input: TensorSignature): boolean {
  const first = input.shape?.[0];
  return input.shape !== null && typeof first !== 'number';
}

/** Decodes a V2 infer request body (`{id?, parameters?, inputs: [{name, shape, datatype, data}], outputs?}`). */
export function decodeV2Infer(body: unknown, signature: OnnxSignature): Decoded | RequestError {
  if (!isRecord(body)) {
    return fail('The request body must be a JSON object with "inputs": [{"name", "shape", "datatype", "data"}].');
  }
  const inputs = body['inputs'];
  if (!Array.isArray(inputs) || inputs.length === 0) {
    return fail(
      `The request needs "inputs": a list of {"name", "shape", "datatype", "data"}; the model takes ${signature.inputs.map(described).join(', ')}.`,
    );
  }
  const expected = inputsByName(signature);
  const tensors: Record<string, TensorValue> = {};
  let rows: number | null = null;
  for (const [position, entry] of inputs.entries()) {
    if (!isRecord(entry))
      return fail(`inputs[${position}] must be an object with "name", "shape", "datatype" and "data".`);
    const name = entry['name'];
    if (typeof name !== 'string') return fail(`inputs[${position}] has no "name".`);
    const input = expected.get(name);
    if (!input) {
      return fail(
        `The model has no input named '${name}'; its inputs are ${signature.inputs.map((each) => `'${each.name}'`).join(', ')}.`,
      );
    }
    if (tensors[name]) return fail(`Input '${name}' is given twice.`);
    const problem = unsupported(input);
    if (problem) return problem;
    const datatype = entry['datatype'];
    const wanted = v2Datatype(input.type);
    if (typeof datatype !== 'string' || V2_TO_ONNX[datatype] !== input.type) {
      return fail(
        `Input '${name}' must have datatype ${wanted} (the model takes ${described(input)}); the request says ${typeof datatype === 'string' ? datatype : describeValue(datatype)}.`,
      );
    }
    const shape = entry['shape'];
    if (
      !Array.isArray(shape) ||
      !shape.every((dim: unknown) => typeof dim === 'number' && Number.isInteger(dim) && dim >= 0)
    ) {
      return fail(`Input '${name}' needs "shape": a list of sizes such as [1, ${input.shape?.[1] ?? 1}].`);
    }
    const dims = shape as number[];
    const shapeProblem = checkShape(input, dims);
    if (shapeProblem) return fail(shapeProblem);
    const data = entry['data'];
    if (!isList(data) && !ArrayBuffer.isView(data))
      return fail(`Input '${name}' needs "data": a list of ${typeWord(input.type)}.`);
    const tensor = v2Elements(input, data, dims);
    if (isRequestError(tensor)) return tensor;
    tensors[name] = { type: input.type, dims, data: tensor };
    if (isBatchDynamic(input)) {
      const size = dims[0] ?? 0;
      if (rows !== null && rows !== size) {
        return fail(`The inputs disagree on the number of rows: '${name}' has ${size}, another input has ${rows}.`);
      }
      rows = size;
    }
  }
  const missing = signature.inputs.filter((input) => !tensors[input.name]);
  if (missing.length > 0) return fail(`The request is missing input ${missing.map(described).join(', ')}.`);
  const rowCount = rows ?? 1;
  if (rowCount === 0) return fail('The request has no rows.');
  const decoded = withColumns({ tensors, rows: rowCount }, signature);
  if (typeof body['id'] === 'string') decoded.id = body['id'];
  if (isRecord(body['parameters'])) decoded.parameters = body['parameters'];
  const outputs = body['outputs'];
  if (Array.isArray(outputs)) {
    const names: string[] = [];
    for (const output of outputs) {
      const outputName = isRecord(output) ? output['name'] : undefined;
      if (typeof outputName !== 'string' || !signature.outputs.some((each) => each.name === outputName)) {
        return fail(
          `The request asks for output ${typeof outputName === 'string' ? `'${outputName}'` : describeValue(output)}; the model's outputs are ${signature.outputs.map((each) => `'${each.name}'`).join(', ')}.`,
        );
      }
      names.push(outputName);
    }
    if (names.length > 0) decoded.outputs = names;
  }
  return decoded;
}

/** The elements of a V2 input's "data" (flat or nested) as a tensor of `dims`. */
function v2Elements(input: TensorSignature, data: unknown, dims: number[]): TensorData | RequestError {
  const name = input.name;
  const count = elementCount(dims);
  if (ArrayBuffer.isView(data) && !(data instanceof Float64Array && input.type !== 'float64')) {
    // Binary tensor data (binary.ts): already an array of the input's element type.
    const length = (data as TensorData).length;
    if (length !== count) {
      return fail(
        `Input '${name}' has shape [${dims.join(', ')}], which holds ${count} values, but its binary data has ${length}.`,
      );
    }
    return data as TensorData;
  }
  if (input.type === 'float32' || input.type === 'float64') {
    const tensor = allocate(input.type, count) as Float32Array | Float64Array;
    if (copyNumbers(data, tensor, 0) === count) return tensor;
  }
  const values: unknown[] = [];
  flattenInto(data, values);
  if (values.length !== count) {
    return fail(
      `Input '${name}' has shape [${dims.join(', ')}], which holds ${count} values, but "data" has ${values.length}.`,
    );
  }
  const convert = converter(input.type, false);
  const tensor = allocate(input.type, count);
  for (let index = 0; index < count; index++) {
    const value = convert(values[index]);
    if (value === undefined) {
      return fail(
        `Input '${name}' holds ${typeWord(input.type)}; element ${index} of "data" is ${describeValue(values[index])}.`,
      );
    }
    store(tensor, index, value);
  }
  return tensor;
}

/** Why `dims` does not fit the input's shape, or null when it does. */
function checkShape(input: TensorSignature, dims: number[]): string | null {
  if (!input.shape) return null;
  const fits =
    dims.length === input.shape.length &&
    input.shape.every((dim, index) => typeof dim !== 'number' || dim === dims[index]);
  if (fits) return null;
  return `Input '${input.name}' must have shape [${input.shape.map((dim) => dim ?? '?').join(', ')}] (${described(input)}); the request has [${dims.join(', ')}].`;
}

// ---------------------------------------------------------------------------------------------
// Columns (MLflow data frames, instances, inputs, CSV, `cairn score`)

/** Cells by column name: `cell(row)` of a column that exists, or undefined for a missing column. */
interface Table {
  rows: number;
  /** The column names present, in order (for messages and positional matching). */
  names: string[];
  column(name: string): ((row: number) => unknown) | undefined;
  /** True when the values come from text (CSV), so "1.5" is a number. */
  fromText: boolean;
}

/** How the signature's inputs take columns. */
interface Layout {
  /** Set when one 2-D input takes the named columns (`feature_names`) in order. */
  features: { input: TensorSignature; names: string[] } | null;
}

const layouts = new WeakMap<OnnxSignature, Layout>();

function layoutOf(signature: OnnxSignature): Layout {
  let layout = layouts.get(signature);
  if (!layout) {
    layout = { features: featureLayout(signature) };
    layouts.set(signature, layout);
  }
  return layout;
}

function featureLayout(signature: OnnxSignature): Layout['features'] {
  const input = signature.inputs[0];
  if (signature.inputs.length !== 1 || !input || input.shape?.length !== 2) return null;
  const raw = signature.metadata['feature_names'];
  if (!raw) return null;
  let names: unknown;
  try {
    names = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!Array.isArray(names) || !names.every((name) => typeof name === 'string')) return null;
  const width = input.shape[1];
  if (typeof width === 'number' && width !== names.length) return null;
  return { input, names: names as string[] };
}

/** The column names the model takes, for messages. */
function expectedColumns(signature: OnnxSignature): string {
  const features = layoutOf(signature).features;
  if (features) {
    return `the model's input '${features.input.name}' takes the ${features.names.length} columns ${features.names.join(', ')}`;
  }
  return `the model takes the columns ${signature.inputs.map(described).join(', ')}`;
}

/** Fills the input tensors from a table. */
function tableToTensors(signature: OnnxSignature, table: Table): Decoded | RequestError {
  if (table.rows === 0) return fail('The request has no rows.');
  const tensors: Record<string, TensorValue> = {};
  const features = layoutOf(signature).features;
  if (features) {
    const problem = unsupported(features.input);
    if (problem) return problem;
    const byName = features.names.map((name) => table.column(name));
    if (byName.every((cell) => cell !== undefined)) {
      const result = namedFeatures(features.input, features.names, byName as ((row: number) => unknown)[], table);
      if (isRequestError(result)) return result;
      tensors[features.input.name] = result;
      return withColumns({ tensors, rows: table.rows }, signature);
    }
    const whole = table.column(features.input.name);
    if (!whole) {
      const missing = features.names.filter((_, index) => byName[index] === undefined);
      return fail(
        `The request is missing column${missing.length > 1 ? 's' : ''} ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? `, … (${missing.length} in all)` : ''}: ${expectedColumns(signature)}.`,
      );
    }
    const result = cellsToTensor(features.input, whole, table);
    if (isRequestError(result)) return result;
    tensors[features.input.name] = result;
    return withColumns({ tensors, rows: table.rows }, signature);
  }
  const only = signature.inputs.length === 1 ? signature.inputs[0] : undefined;
  for (const input of signature.inputs) {
    const problem = unsupported(input);
    if (problem) return problem;
    const cell = table.column(input.name);
    if (!cell && only && only.shape?.length === 2 && typeof only.shape[1] === 'number') {
      // One 2-D input without feature names: as many columns as it is wide are taken in order.
      const width = only.shape[1];
      if (table.names.length === width) {
        const cells = table.names.map((name) => table.column(name) as (row: number) => unknown);
        const result = namedFeatures(only, table.names, cells, table);
        if (isRequestError(result)) return result;
        tensors[only.name] = result;
        continue;
      }
    }
    if (!cell) {
      return fail(
        `The request has no column '${input.name}' (${described(input)}); ${table.names.length > 0 ? `it has ${table.names.slice(0, 10).join(', ')}` : 'it has no named columns'}.`,
      );
    }
    const result = cellsToTensor(input, cell, table);
    if (isRequestError(result)) return result;
    tensors[input.name] = result;
  }
  return withColumns({ tensors, rows: table.rows }, signature);
}

/** A 2-D input filled from one column per feature. */
function namedFeatures(
  input: TensorSignature,
  names: string[],
  cells: ((row: number) => unknown)[],
  table: Table,
): TensorValue | RequestError {
  const width = names.length;
  const data = allocate(input.type, table.rows * width);
  const convert = converter(input.type, table.fromText);
  for (let row = 0; row < table.rows; row++) {
    for (let column = 0; column < width; column++) {
      const raw = (cells[column] as (row: number) => unknown)(row);
      const value = convert(raw);
      if (value === undefined) {
        return fail(
          `Column '${names[column]}' holds ${typeWord(input.type)} (input ${described(input)}); row ${row} has ${describeValue(raw)}.`,
        );
      }
      store(data, row * width + column, value);
    }
  }
  return { type: input.type, dims: [table.rows, width], data };
}

/** An input filled from one column whose cells are scalars or nested lists (the rest of the shape). */
function cellsToTensor(
  input: TensorSignature,
  cell: (row: number) => unknown,
  table: Table,
): TensorValue | RequestError {
  const rest = (input.shape ?? [null]).slice(1);
  const first = cell(0);
  // The trailing dimensions: from the signature where fixed, else from the first row's nesting.
  const firstShape: number[] = [];
  for (let value = first; Array.isArray(value); value = value[0]) firstShape.push(value.length);
  let trailing: number[];
  if (rest.length === 0) trailing = [];
  else if (rest.length === 1 && rest[0] === 1 && firstShape.length === 0) trailing = [1];
  else trailing = rest.map((dim, index) => (typeof dim === 'number' ? dim : (firstShape[index] ?? -1)));
  if (trailing.some((dim) => dim < 0) || (firstShape.length > 0 && firstShape.length !== trailing.length)) {
    return fail(
      `Column '${input.name}' must hold, per row, ${rest.length === 0 ? 'one value' : `a list of shape [${rest.map((dim) => dim ?? '?').join(', ')}]`} (input ${described(input)}); row 0 has ${describeValue(first)}.`,
    );
  }
  const width = elementCount(trailing);
  const data = allocate(input.type, table.rows * width);
  const convert = converter(input.type, table.fromText);
  const values: unknown[] = [];
  for (let row = 0; row < table.rows; row++) {
    const raw = cell(row);
    values.length = 0;
    if (firstShape.length === 0) values.push(raw);
    else flattenInto(raw, values);
    if (values.length !== width || (firstShape.length > 0 && !Array.isArray(raw))) {
      return fail(
        `Column '${input.name}' must hold, per row, ${width === 1 ? 'one value' : `${width} values (shape [${trailing.join(', ')}])`} (input ${described(input)}); row ${row} has ${describeValue(raw)}.`,
      );
    }
    for (let index = 0; index < width; index++) {
      const value = convert(values[index]);
      if (value === undefined) {
        return fail(
          `Column '${input.name}' holds ${typeWord(input.type)} (input ${described(input)}); row ${row} has ${describeValue(values[index])}.`,
        );
      }
      store(data, row * width + index, value);
    }
  }
  return { type: input.type, dims: [table.rows, ...trailing], data };
}

/** Decoded tensors whose `columns` (the features by name) are computed on first read. */
class DecodedRequest implements Decoded {
  private cached: Record<string, number[] | string[]> | undefined;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs?: string[];

  constructor(
    readonly tensors: Record<string, TensorValue>,
    readonly rows: number,
    private readonly signature: OnnxSignature,
  ) {}

  get columns(): Record<string, number[] | string[]> {
    this.cached ??= featureColumns(this.tensors, this.rows, this.signature);
    return this.cached;
  }

  numericColumns(): NumericColumns | null {
    return numericFeatureColumns(this.tensors, this.rows, this.signature);
  }
}

function withColumns(base: { tensors: Record<string, TensorValue>; rows: number }, signature: OnnxSignature): Decoded {
  return new DecodedRequest(base.tensors, base.rows, signature);
}

/** The features by name: feature_names for the one-input layout, else `input` or `input_j` per element. */
function featureColumns(
  tensors: Record<string, TensorValue>,
  rows: number,
  signature: OnnxSignature,
): Record<string, number[] | string[]> {
  const columns: Record<string, number[] | string[]> = {};
  const features = layoutOf(signature).features;
  for (const [name, tensor] of Object.entries(tensors)) {
    const width = rows === 0 ? 0 : tensor.data.length / rows;
    const all = Array.isArray(tensor.data) ? tensor.data : toNumbers(tensor.data);
    for (let column = 0; column < width; column++) {
      const values = new Array<number | string>(rows);
      for (let row = 0; row < rows; row++) values[row] = all[row * width + column] as number | string;
      columns[columnName(name, column, width, features)] = values as number[] | string[];
    }
  }
  return columns;
}

/** featureColumns' features as one column-major float64 block, or null when an input holds text. */
function numericFeatureColumns(
  tensors: Record<string, TensorValue>,
  rows: number,
  signature: OnnxSignature,
): NumericColumns | null {
  let size = 0;
  for (const name in tensors) {
    const data = (tensors[name] as TensorValue).data;
    if (Array.isArray(data)) return null;
    size += data.length;
  }
  const features = layoutOf(signature).features;
  const names: string[] = [];
  const block = new Float64Array(size);
  let offset = 0;
  for (const [name, tensor] of Object.entries(tensors)) {
    const data = tensor.data as Exclude<TensorValue['data'], string[]>;
    const width = rows === 0 ? 0 : data.length / rows;
    const big = data instanceof BigInt64Array || data instanceof BigUint64Array;
    for (let column = 0; column < width; column++) {
      names.push(columnName(name, column, width, features));
      if (big) for (let row = 0; row < rows; row++) block[offset + row] = Number(data[row * width + column]);
      else for (let row = 0; row < rows; row++) block[offset + row] = data[row * width + column] as number;
      offset += rows;
    }
  }
  return { names, data: offset === size ? block : block.subarray(0, offset) };
}

/** The feature name of element `column` of input `name`: feature_names for the one-input layout, else `name` or `name_j`. */
function columnName(name: string, column: number, width: number, features: Layout['features']): string {
  if (features && features.input.name === name) return features.names[column] ?? `${name}_${column}`;
  return width === 1 ? name : `${name}_${column}`;
}

/** A table over `{column: values}`; every column must have `rows` values. */
function columnarTable(columns: Record<string, ArrayLike<unknown>>, rows: number, fromText: boolean): Table {
  return {
    rows,
    names: Object.keys(columns),
    fromText,
    column(name) {
      if (!Object.prototype.hasOwnProperty.call(columns, name)) return undefined;
      const values = columns[name] as ArrayLike<unknown>;
      return (row) => values[row];
    },
  };
}

/**
 * Tensors from columns of values by name (numbers, or text as read from CSV: "1.5", "" for a
 * missing float). Used by `cairn score`.
 */
export function rowsToTensors(
  signature: OnnxSignature,
  columns: Record<string, ArrayLike<number | string | null>>,
  rowCount: number,
): Decoded | RequestError {
  for (const [name, values] of Object.entries(columns)) {
    if (values.length !== rowCount) return fail(`Column '${name}' has ${values.length} values; expected ${rowCount}.`);
  }
  return tableToTensors(signature, columnarTable(columns, rowCount, true));
}

/** A table over a pandas "split" frame: `{columns, data: [[...], ...]}`. */
function splitTable(frame: Record<string, unknown>, signature: OnnxSignature, fromText: boolean): Table | RequestError {
  const data = frame['data'];
  if (!Array.isArray(data)) return fail('"dataframe_split" needs "data": a list of rows (lists of values).');
  for (const [index, row] of data.entries()) {
    if (!Array.isArray(row))
      return fail(`"dataframe_split" row ${index} is ${describeValue(row)}, not a list of values.`);
  }
  const rows = data as unknown[][];
  const columns = frame['columns'];
  if (columns === undefined) return positionalTable(rows, signature, fromText);
  if (!Array.isArray(columns) || !columns.every((name) => typeof name === 'string')) {
    return fail('"dataframe_split" has "columns" that are not a list of column names.');
  }
  const names = columns as string[];
  for (const [index, row] of rows.entries()) {
    if (row.length !== names.length) {
      return fail(`"dataframe_split" row ${index} has ${row.length} values for ${names.length} columns.`);
    }
  }
  const positions = new Map(names.map((name, index) => [name, index]));
  return {
    rows: rows.length,
    names,
    fromText,
    column(name) {
      const position = positions.get(name);
      if (position === undefined) return undefined;
      return (row) => (rows[row] as unknown[])[position];
    },
  };
}

/** Rows without column names: each row is the whole (single) input's row. */
function positionalTable(rows: unknown[], signature: OnnxSignature, fromText: boolean): Table | RequestError {
  const only = signature.inputs[0];
  if (signature.inputs.length !== 1 || !only) {
    return fail(`Rows without column names fit only a model with one input; ${expectedColumns(signature)}.`);
  }
  return {
    rows: rows.length,
    names: [],
    fromText,
    column: (name) => (name === only.name ? (row: number) => rows[row] : undefined),
  };
}

/** A table over records: `[{column: value}, ...]`. */
function recordsTable(records: unknown[], what: string): Table | RequestError {
  for (const [index, record] of records.entries()) {
    if (!isRecord(record))
      return fail(`${what} item ${index} is ${describeValue(record)}, not an object of column values.`);
  }
  const objects = records as Record<string, unknown>[];
  const first = objects[0] ?? {};
  return {
    rows: objects.length,
    names: Object.keys(first),
    fromText: false,
    column(name) {
      // A column is present when the first record has it; a later record without it is a bad row.
      if (!Object.prototype.hasOwnProperty.call(first, name)) return undefined;
      return (row) => (objects[row] as Record<string, unknown>)[name];
    },
  };
}

/** MLflow `inputs`: `{input: tensor, ...}` by input name (or by column), or one tensor for a one-input model. */
function inputsTable(inputs: unknown, signature: OnnxSignature): Table | RequestError {
  if (Array.isArray(inputs)) return positionalTable(inputs, signature, false);
  if (!isRecord(inputs)) return fail('"inputs" must be a list (one input) or an object of input name → values.');
  let rows: number | null = null;
  for (const [name, values] of Object.entries(inputs)) {
    if (!Array.isArray(values)) return fail(`"inputs"."${name}" must be a list with one item per row.`);
    if (rows !== null && values.length !== rows) {
      return fail(`"inputs" disagree on the number of rows: '${name}' has ${values.length}, another has ${rows}.`);
    }
    rows = values.length;
  }
  return columnarTable(inputs as Record<string, unknown[]>, rows ?? 0, false);
}

const MLFLOW_FORMS = ['dataframe_split', 'dataframe_records', 'instances', 'inputs'];

/**
 * Decodes an MLflow /invocations body: JSON (`dataframe_split`, `dataframe_records`, `instances`,
 * `inputs`, with optional `params`) already parsed, or CSV text when `contentType` is text/csv.
 */
export function decodeMlflow(body: unknown, signature: OnnxSignature, contentType: string): Decoded | RequestError {
  if (contentType.toLowerCase().startsWith('text/csv')) {
    if (typeof body !== 'string') return fail('A text/csv request needs a CSV body with a header row.');
    const table = csvTable(body);
    return isRequestError(table) ? table : tableToTensors(signature, table);
  }
  if (!isRecord(body)) {
    return fail(
      `The request body must be a JSON object with one of ${MLFLOW_FORMS.map((form) => `"${form}"`).join(', ')}.`,
    );
  }
  const forms = MLFLOW_FORMS.filter((form) => form in body);
  if (forms.length !== 1) {
    return fail(
      forms.length === 0
        ? `The request body needs one of ${MLFLOW_FORMS.map((form) => `"${form}"`).join(', ')}; it has ${
            Object.keys(body)
              .map((key) => `"${key}"`)
              .join(', ') || 'no fields'
          }.`
        : `The request body has ${forms.map((form) => `"${form}"`).join(' and ')}; give only one.`,
    );
  }
  const form = forms[0] as string;
  const value = body[form];
  let table: Table | RequestError;
  if (form === 'dataframe_split') {
    table = isRecord(value)
      ? splitTable(value, signature, false)
      : fail('"dataframe_split" must be an object {"columns", "data"}.');
  } else if (form === 'dataframe_records') {
    table = Array.isArray(value)
      ? recordsTable(value, '"dataframe_records"')
      : fail('"dataframe_records" must be a list of objects.');
  } else if (form === 'instances') {
    if (!Array.isArray(value)) table = fail('"instances" must be a list with one item per row.');
    else if (value.length > 0 && isRecord(value[0])) table = recordsTable(value, '"instances"');
    else table = positionalTable(value, signature, false);
  } else {
    table = inputsTable(value, signature);
  }
  if (isRequestError(table)) return table;
  const decoded = tableToTensors(signature, table);
  if (!isRequestError(decoded) && isRecord(body['params'])) decoded.parameters = body['params'];
  return decoded;
}

function csvTable(text: string): Table | RequestError {
  let records: string[][];
  try {
    records = parseCsv(text, { relax_column_count: false, skip_empty_lines: true, bom: true }) as string[][];
  } catch (error) {
    return fail(`The CSV body cannot be read: ${error instanceof Error ? error.message : String(error)}.`);
  }
  const header = records.shift();
  if (!header) return fail('The CSV body is empty; it needs a header row with the column names, then the rows.');
  const positions = new Map(header.map((name, index) => [name.trim(), index]));
  return {
    rows: records.length,
    names: [...positions.keys()],
    fromText: true,
    column(name) {
      const position = positions.get(name);
      if (position === undefined) return undefined;
      return (row) => (records[row] as string[])[position];
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Responses

export interface V2Response {
  modelName: string;
  modelVersion: string;
  id?: string | undefined;
  parameters?: Record<string, unknown> | undefined;
  /** Only these outputs, in this order (all when absent). */
  outputs?: string[] | undefined;
}

/** The JSON text of a V2 infer response for the model's output tensors. */
export function encodeV2Outputs(outputs: Record<string, TensorValue>, response: V2Response): string {
  const names = response.outputs ?? Object.keys(outputs);
  const parts: string[] = [];
  for (const name of names) {
    const tensor = outputs[name];
    if (!tensor) continue;
    parts.push(
      `{"name":${JSON.stringify(name)},"datatype":"${v2Datatype(tensor.type)}","shape":[${tensor.dims.join(',')}],"data":${jsonElements(tensor)}}`,
    );
  }
  const head = [
    `"model_name":${JSON.stringify(response.modelName)}`,
    `"model_version":${JSON.stringify(response.modelVersion)}`,
  ];
  if (response.id !== undefined) head.push(`"id":${JSON.stringify(response.id)}`);
  if (response.parameters) head.push(`"parameters":${JSON.stringify(response.parameters)}`);
  return `{${head.join(',')},"outputs":[${parts.join(',')}]}`;
}

/**
 * The JSON text of an MLflow response: `{"predictions": [...]}` with one item per row: the value
 * (a one-value output row) or list, or, for several outputs, an object of output name → value.
 */
export function encodeMlflowOutputs(outputs: Record<string, TensorValue>, rows: number): string {
  const names = Object.keys(outputs);
  const only = names.length === 1 ? outputs[names[0] as string] : undefined;
  if (only && (only.dims.length === 1 || (only.dims.length === 2 && only.dims[1] === 1)) && only.dims[0] === rows) {
    return `{"predictions":${jsonElements(only)}}`;
  }
  const perRow = (tensor: TensorValue): unknown[] => {
    const width = rows === 0 ? 0 : tensor.data.length / rows;
    const values: unknown[] = Array.isArray(tensor.data)
      ? tensor.data
      : tensor.type === 'bool'
        ? Array.from(tensor.data as Uint8Array, Boolean)
        : toNumbers(tensor.data).map((value) => (Number.isFinite(value) ? value : null));
    if (width === 1) return values;
    return Array.from({ length: rows }, (_, row) => values.slice(row * width, (row + 1) * width));
  };
  if (only) return JSON.stringify({ predictions: perRow(only) });
  const columns = names.map((name) => [name, perRow(outputs[name] as TensorValue)] as const);
  const predictions = Array.from({ length: rows }, (_, row) =>
    Object.fromEntries(columns.map(([name, values]) => [name, values[row]])),
  );
  return JSON.stringify({ predictions });
}
