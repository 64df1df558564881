// How the prediction log stores a request's inputs: numeric columns as one float64 blob (a tenth of
// the cost of JSON for 20 features, and read back straight into typed arrays), text as JSON.
import type { NumericColumns, PredictionRecord } from '../serving/record';

/**
 * Inputs as stored: all-numeric columns as one float64 blob, row-major by column (a tenth of the cost
 * of JSON for 20 features), with the column names beside it; columns holding text as JSON.
 */
export function encodeInputs(
  inputs: Record<string, (number | string | null)[]> | null,
  rows: number,
): { names: string; data: Buffer | string } | null {
  if (inputs === null) return null;
  const names = Object.keys(inputs);
  const data = new Float64Array(names.length * rows);
  let offset = 0;
  for (const name of names) {
    const values = inputs[name] ?? [];
    if (values.length !== rows) return { names: '', data: JSON.stringify(inputs) };
    for (let row = 0; row < rows; row++) {
      const value = values[row];
      if (typeof value === 'number') data[offset++] = value;
      else if (value === null) data[offset++] = NaN;
      else return { names: '', data: JSON.stringify(inputs) };
    }
  }
  return encodeNumericColumns({ names, data });
}

/** A record's inputs as stored: from its numeric block when it has one (no per-feature arrays), else from `inputs`. */
export function storedInputsOf(
  record: Pick<PredictionRecord, 'inputs' | 'rows' | 'numericInputs'>,
): { names: string; data: Buffer | string } | null {
  const block = record.numericInputs?.();
  return block ? encodeNumericColumns(block) : encodeInputs(record.inputs, record.rows);
}

function encodeNumericColumns({ names, data }: NumericColumns): { names: string; data: Buffer } {
  return { names: namesText(names), data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
}

// Every request of a deployment has the same features: their JSON is made once.
let lastNames: { key: string; text: string } = { key: '', text: '[]' };
function namesText(names: string[]): string {
  const key = names.join('\u0000');
  if (key !== lastNames.key) lastNames = { key, text: JSON.stringify(names) };
  return lastNames.text;
}

export function decodeInputs(
  names: string | null,
  data: Buffer | string | null,
  rows: number,
): Record<string, (number | string | null)[]> | null {
  if (data === null) return null;
  if (typeof data === 'string' || !names) return JSON.parse(String(data)) as Record<string, (number | string | null)[]>;
  const columns = JSON.parse(names) as string[];
  const values = new Float64Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const inputs: Record<string, (number | null)[]> = {};
  columns.forEach((name, index) => {
    const column: (number | null)[] = new Array(rows);
    for (let row = 0; row < rows; row++) {
      const value = values[index * rows + row] ?? NaN;
      column[row] = Number.isNaN(value) ? null : value;
    }
    inputs[name] = column;
  });
  return inputs;
}
