// One served request as the model server reports it to the prediction log (M2's PredictionLog) and
// to anyone else listening: which arm and version answered, how, how fast, and what went in and out.
import { toNumbers } from './tensors';
import type { TensorValue } from './tensors';

/** Which route answered: the stable version, the candidate, a shadow copy (never returned), or a fallback. */
export type Arm = 'stable' | 'candidate' | 'shadow' | 'fallback';

export type Protocol = 'v2' | 'mlflow';

export interface PredictionRecord {
  /** The request's x-request-id (sent by the caller or generated); labels join on it. */
  requestId: string;
  /** When the request arrived (ms since the epoch). */
  at: number;
  arm: Arm;
  /** The version that answered (or was asked, for a failed request): "name:version". */
  version: string;
  protocol: Protocol;
  /** The HTTP status of the answer (a shadow record: 200 when the candidate answered, else 500/504). */
  status: number;
  latencyMs: number;
  rows: number;
  /**
   * The features by name, one value per row (NaN for missing numbers), or null for a request that
   * could not be decoded. Computed on first read: read it only for the records you keep.
   */
  readonly inputs: Record<string, (number | string | null)[]> | null;
  /**
   * The numeric outputs by name, one value per row: `probability` for an [N, 1] output, and
   * `probability_0`, `probability_1`, ... for an [N, k] one. String outputs are left out. Null when
   * the model did not answer. Computed on first read.
   */
  readonly outputs: Record<string, number[]> | null;
  error: string | null;
  /** True when a fallback (another version or the configured default) answered instead of the routed arm. */
  fallback: boolean;
  /** The sticky routing key of the request, when it had one. */
  key: string | null;
  /**
   * The inputs as one numeric block when every input is numeric (null otherwise): what the prediction
   * log stores, made straight from the tensors rather than through `inputs`. Records made elsewhere
   * may leave it out.
   */
  numericInputs?(): NumericColumns | null;
}

/** Numeric features: their names in order and one column-major block (column c, row r at c * rows + r). */
export interface NumericColumns {
  names: string[];
  data: Float64Array;
}

/** Where a record's inputs come from: the decoded request. */
export interface RecordInputs {
  readonly columns: Record<string, (number | string | null)[]>;
  numericColumns?(): NumericColumns | null;
}

/** The numeric outputs as columns of one value per row (see PredictionRecord.outputs). */
export function outputColumns(outputs: Record<string, TensorValue>, rows: number): Record<string, number[]> {
  const columns: Record<string, number[]> = {};
  for (const [name, tensor] of Object.entries(outputs)) {
    if (Array.isArray(tensor.data) || rows === 0) continue;
    const width = tensor.data.length / rows;
    if (!Number.isInteger(width)) continue;
    const values = toNumbers(tensor.data);
    if (width === 1) {
      columns[name] = values;
      continue;
    }
    for (let column = 0; column < width; column++) {
      const series = new Array<number>(rows);
      for (let row = 0; row < rows; row++) series[row] = values[row * width + column] as number;
      columns[`${name}_${column}`] = series;
    }
  }
  return columns;
}

/** The fields of a record other than its lazily computed inputs and outputs. */
export type RecordFields = Omit<PredictionRecord, 'inputs' | 'outputs'>;

/**
 * A record whose `inputs` and `outputs` are computed from the decoded columns and output tensors only
 * when read (the getters are enumerable, so JSON.stringify and spreading still see them).
 */
export function predictionRecord(
  fields: RecordFields,
  inputs: RecordInputs | null,
  outputs: Record<string, TensorValue> | null,
): PredictionRecord {
  let inputColumns: Record<string, (number | string | null)[]> | null | undefined;
  let outputValues: Record<string, number[]> | null | undefined;
  // Fields written one by one: spreading an object into a literal with getters is several times slower.
  return {
    requestId: fields.requestId,
    at: fields.at,
    arm: fields.arm,
    version: fields.version,
    protocol: fields.protocol,
    status: fields.status,
    latencyMs: fields.latencyMs,
    rows: fields.rows,
    error: fields.error,
    fallback: fields.fallback,
    key: fields.key,
    get inputs() {
      if (inputColumns === undefined) inputColumns = inputs ? inputs.columns : null;
      return inputColumns;
    },
    numericInputs: () => inputs?.numericColumns?.() ?? null,
    get outputs() {
      if (outputValues === undefined) outputValues = outputs ? outputColumns(outputs, fields.rows) : null;
      return outputValues;
    },
  };
}
