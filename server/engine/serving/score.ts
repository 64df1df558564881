// Batch scoring (`cairn score`): a CSV, JSON Lines or Parquet file streamed in batches through an
// ONNX model with onnxruntime-node in this process, the outputs written as CSV or JSON Lines. Only
// one batch (or one Parquet row group) is in memory at a time. The answer goes to OUTPUT.partial
// first and is renamed to OUTPUT when every row is scored, so an interrupted or failed run never
// leaves a file that looks complete. Rows become tensors through the serving decoder
// (rowsToTensors), so a file is checked against the signature exactly as a request would be.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { OnnxSignature } from '../registry/signature';
import { parseJsonLine, plainValue } from '../data/sources';
import { isRequestError, rowsToTensors } from './inputs';
import type { TensorValue } from './tensors';
import { parquetCodecs } from '../data/sources';

/** A value of an input row: a scalar, or a list for an input that takes several values per row. */
type Cell = number | string | null | readonly Cell[];

/** One batch of input rows, column by column. */
export interface InputBatch {
  columns: Record<string, Cell[]>;
  rows: number;
  /** 0-based index of the batch's first row in the file. */
  firstRow: number;
  /** The 1-based source line of each row (text formats), for error messages. */
  lines: number[] | null;
}

export type InputFormat = 'csv' | 'jsonl' | 'parquet';
export type OutputFormat = 'csv' | 'jsonl';

export interface ScoreProgress {
  rows: number;
  /** Rows in the input: exact for Parquet, counted from lines for text formats; null if unknown. */
  total: number | null;
  elapsedMs: number;
}

export interface ScoreOptions {
  modelPath: string;
  signature: OnnxSignature;
  input: string;
  output: string;
  batchSize: number;
  /** An input column copied to the output's first column, to join answers with inputs. */
  idColumn?: string;
  signal?: AbortSignal;
  onProgress?: (progress: ScoreProgress) => void;
  /** How the input file is named in messages (default: as given). */
  display?: string;
}

export interface ScoreResult {
  status: 'succeeded' | 'cancelled';
  rows: number;
  batches: number;
  elapsedMs: number;
  /** The file written: OUTPUT, or OUTPUT.partial when cancelled. */
  file: string;
  columns: string[];
}

/**
 * Bad input or a model that cannot load (exit code 2), or a model that fails on the rows (1): the
 * message names the file, row and column.
 */
export class ScoreError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 2,
  ) {
    super(message);
  }
}

/** The format of a data file from its extension, or null. */
export function inputFormat(file: string): InputFormat | null {
  const extension = path.extname(file).toLowerCase();
  if (extension === '.csv') return 'csv';
  if (extension === '.jsonl' || extension === '.ndjson') return 'jsonl';
  if (extension === '.parquet') return 'parquet';
  return null;
}

/** The format of an output file from its extension, or null. */
export function outputFormat(file: string): OutputFormat | null {
  const format = inputFormat(file);
  return format === 'parquet' ? null : format;
}

/**
 * The input columns a model reads: its feature names when it has one 2-D input that declares them
 * (`feature_names` metadata), else its input names.
 */
export function requiredColumns(signature: OnnxSignature): string[] {
  const only = signature.inputs[0];
  const raw = signature.metadata['feature_names'];
  if (signature.inputs.length === 1 && only && only.shape?.length === 2 && raw !== undefined) {
    try {
      const names: unknown = JSON.parse(raw);
      if (Array.isArray(names) && names.every((name) => typeof name === 'string')) return names as string[];
    } catch {
      // Unreadable metadata: the input is taken by name, and the decoder says what is missing.
    }
  }
  return signature.inputs.map((input) => input.name);
}

/** Scores the input file into the output file; resolves when done or stopped through the signal. */
export async function scoreFile(options: ScoreOptions): Promise<ScoreResult> {
  const display = options.display ?? options.input;
  const format = inputFormat(options.input);
  const target = outputFormat(options.output);
  if (!format)
    throw new ScoreError(`${display}: unknown input format. Give a .csv, .jsonl (or .ndjson) or .parquet file.`);
  if (!target) throw new ScoreError(`${options.output}: unknown output format. Give a .csv or .jsonl file name.`);
  if (path.resolve(options.input) === path.resolve(options.output))
    throw new ScoreError(`${options.output} is the input file. Give another output file.`);
  if (!fs.existsSync(options.input)) throw new ScoreError(`${display}: no such file.`);
  const needed = requiredColumns(options.signature);
  const wanted = options.idColumn === undefined ? needed : [...new Set([...needed, options.idColumn])];
  const ort = await import('onnxruntime-node');
  let session: Awaited<ReturnType<typeof ort.InferenceSession.create>>;
  try {
    session = await ort.InferenceSession.create(options.modelPath);
  } catch (error) {
    throw new ScoreError(`${options.modelPath}: onnxruntime cannot load the model (${messageOf(error)}).`);
  }
  const source =
    format === 'csv'
      ? csvBatches(options.input, display, wanted, options.batchSize)
      : format === 'jsonl'
        ? jsonLinesBatches(options.input, display, wanted, options.batchSize)
        : parquetBatches(options.input, display, wanted, options.batchSize);
  const total = format === 'parquet' ? null : await countRows(options.input, format);
  const partial = `${options.output}.partial`;
  fs.mkdirSync(path.dirname(path.resolve(partial)), { recursive: true });
  const descriptor = fs.openSync(partial, 'w');
  const started = Date.now();
  let rows = 0;
  let batches = 0;
  let columns: string[] = [];
  let knownTotal = total;
  let closed = false;
  const close = (): void => {
    if (!closed) fs.closeSync(descriptor);
    closed = true;
  };
  try {
    for await (const batch of source.batches()) {
      knownTotal = source.total() ?? knownTotal;
      if (options.signal?.aborted) break;
      // The decoder takes a list per row for an input wider than one value, though its type says scalars.
      const inputColumns = pick(batch.columns, needed) as Record<string, (number | string | null)[]>;
      const decoded = rowsToTensors(options.signature, inputColumns, batch.rows);
      if (isRequestError(decoded)) throw new ScoreError(locate(decoded.message, batch, display));
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (const [name, tensor] of Object.entries(decoded.tensors))
        feeds[name] = new ort.Tensor(tensor.type as 'float32', tensor.data as Float32Array, tensor.dims);
      let results: Record<string, { type: string; dims: readonly number[]; data: unknown }>;
      try {
        results = await session.run(feeds);
      } catch (error) {
        throw new ScoreError(
          `${options.modelPath}: the model failed on rows ${batch.firstRow + 1}-${batch.firstRow + batch.rows} of ${display} (${messageOf(error)}).`,
          1,
        );
      }
      const outputs: Record<string, TensorValue> = {};
      for (const name of session.outputNames) {
        const result = results[name];
        if (result)
          outputs[name] = { type: result.type, dims: [...result.dims], data: result.data as TensorValue['data'] };
      }
      const table = outputTable(outputs, batch.rows);
      if (batches === 0) {
        columns = [
          ...(options.idColumn === undefined ? [] : [options.idColumn]),
          ...table.map((column) => column.name),
        ];
        if (target === 'csv') fs.writeSync(descriptor, `${columns.map(csvField).join(',')}\n`);
      }
      const ids = options.idColumn === undefined ? null : (batch.columns[options.idColumn] ?? []);
      fs.writeSync(
        descriptor,
        target === 'csv' ? csvRows(table, ids, batch.rows) : jsonRows(table, ids, options.idColumn, batch.rows),
      );
      rows += batch.rows;
      batches++;
      options.onProgress?.({ rows, total: knownTotal, elapsedMs: Date.now() - started });
    }
  } finally {
    close();
    await source.close();
  }
  const elapsedMs = Date.now() - started;
  if (options.signal?.aborted) return { status: 'cancelled', rows, batches, elapsedMs, file: partial, columns };
  if (batches === 0 && target === 'csv') {
    // An input without rows still gets a header, so the file reads as an empty table.
    columns = [...(options.idColumn === undefined ? [] : [options.idColumn]), ...session.outputNames];
    fs.writeFileSync(partial, `${columns.map(csvField).join(',')}\n`);
  }
  fs.renameSync(partial, options.output);
  return { status: 'succeeded', rows, batches, elapsedMs, file: options.output, columns };
}

/** A readable source of batches. */
interface BatchSource {
  batches(): AsyncGenerator<InputBatch>;
  /** The exact row count once known (Parquet's footer). */
  total(): number | null;
  close(): Promise<void>;
}

function pick(columns: Record<string, Cell[]>, names: string[]): Record<string, Cell[]> {
  const picked: Record<string, Cell[]> = {};
  for (const name of names) {
    const values = columns[name];
    if (values) picked[name] = values;
  }
  return picked;
}

/** A decoder message about "row N" of a batch, located in the file: `file:line: ... row R ...`. */
function locate(message: string, batch: InputBatch, display: string): string {
  const match = /\brow (\d+)\b/.exec(message);
  if (!match) return `${display}: ${message}`;
  const index = Number(match[1]);
  const line = batch.lines?.[index];
  const located = message.replace(/\brow (\d+)\b/, `row ${batch.firstRow + index + 1}`);
  return `${display}${line === undefined ? '' : `:${line}`}: ${located}`;
}

function missingColumns(display: string, line: number | null, present: readonly string[], wanted: string[]): never {
  const missing = wanted.filter((name) => !present.includes(name));
  throw new ScoreError(
    `${display}${line === null ? '' : `:${line}`}: no column ${missing.map((name) => `'${name}'`).join(', ')}; the model reads ${wanted.join(', ')}. Add the column, or score a file that has it.`,
  );
}

function csvBatches(file: string, display: string, wanted: string[], batchSize: number): BatchSource {
  // Streams open when reading starts: a stream opened earlier would flow before anyone listens.
  let stream: fs.ReadStream | null = null;
  return {
    total: () => null,
    async close() {
      stream?.destroy();
    },
    async *batches() {
      stream = fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
      const splitter = new CsvSplitter(display);
      let header: string[] | null = null;
      let positions: [string, number][] = [];
      let batch = emptyBatch(wanted, 0);
      let row = 0;
      const take = (records: CsvRecord[]): InputBatch[] => {
        const full: InputBatch[] = [];
        for (const { fields, line } of records) {
          if (header === null) {
            header = fields.map((name) => name.trim());
            if (wanted.some((name) => !header?.includes(name))) missingColumns(display, line, header, wanted);
            positions = wanted.map((name) => [name, header?.indexOf(name) ?? -1]);
            continue;
          }
          if (fields.length !== header.length)
            throw new ScoreError(
              `${display}:${line}: ${fields.length} fields, the header has ${header.length}. Fix the line (a value with a comma needs quotes).`,
            );
          for (const [name, position] of positions) batch.columns[name]?.push(fields[position] ?? '');
          batch.lines?.push(line);
          batch.rows++;
          row++;
          if (batch.rows === batchSize) {
            full.push(batch);
            batch = emptyBatch(wanted, row);
          }
        }
        return full;
      };
      for await (const chunk of stream as AsyncIterable<string>) yield* take(splitter.push(chunk));
      yield* take(splitter.end());
      if (header === null) throw new ScoreError(`${display}: the file is empty; it needs a header row.`);
      if (batch.rows > 0) yield batch;
    },
  };
}

/** A CSV record and the 1-based line it starts on. */
export interface CsvRecord {
  fields: string[];
  line: number;
}

/**
 * Splits CSV text that arrives in chunks into records (RFC 4180: fields in double quotes may hold
 * commas, quotes written twice and line breaks; CRLF or LF line ends; blank lines skipped). Text
 * without quotes takes a fast path through String.split, which is what most scored files are.
 */
export class CsvSplitter {
  private rest = '';
  /** Lines before `rest`. */
  private line = 0;
  private started = false;

  constructor(private readonly display: string) {}

  /** The records completed by this chunk. */
  push(chunk: string): CsvRecord[] {
    let text = this.rest + chunk;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    return this.split(text, false);
  }

  /** The last record, when the text does not end with a line break. */
  end(): CsvRecord[] {
    const text = this.rest;
    this.rest = '';
    return this.split(text, true);
  }

  private split(text: string, final: boolean): CsvRecord[] {
    const records: CsvRecord[] = [];
    if (!text.includes('"')) {
      const end = final ? text.length : text.lastIndexOf('\n');
      if (end === -1) {
        this.rest = text;
        return records;
      }
      this.rest = final ? '' : text.slice(end + 1);
      const lines = text.slice(0, end).split('\n');
      for (const raw of lines) {
        this.line++;
        const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
        if (line !== '') records.push({ fields: line.split(','), line: this.line });
      }
      return records;
    }
    // Quoted fields: a character at a time, keeping an unfinished record for the next chunk.
    let fields: string[] = [];
    let field = '';
    let quoted = false;
    let recordStart = 0;
    let recordLine = this.line + 1;
    let lines = this.line;
    let index = 0;
    const finish = (at: number): void => {
      fields.push(field.endsWith('\r') && !quoted ? field.slice(0, -1) : field);
      if (!(fields.length === 1 && fields[0] === '')) records.push({ fields, line: recordLine });
      fields = [];
      field = '';
      recordStart = at;
      recordLine = lines + 1;
    };
    while (index < text.length) {
      const character = text[index] as string;
      if (quoted) {
        if (character === '"') {
          if (text[index + 1] === '"') {
            field += '"';
            index += 2;
            continue;
          }
          if (index + 1 === text.length && !final) break;
          quoted = false;
        } else {
          if (character === '\n') lines++;
          field += character;
        }
        index++;
        continue;
      }
      if (character === '"' && field === '') quoted = true;
      else if (character === ',') {
        fields.push(field);
        field = '';
      } else if (character === '\n') {
        lines++;
        finish(index + 1);
      } else field += character;
      index++;
    }
    if (final) {
      if (quoted)
        throw new ScoreError(`${this.display}:${recordLine}: a quoted field is not closed. Add the closing ".`);
      if (field !== '' || fields.length > 0) finish(text.length);
      this.line = lines;
      this.rest = '';
      return records;
    }
    this.rest = text.slice(recordStart);
    this.line = recordLine - 1;
    return records;
  }
}

function jsonLinesBatches(file: string, display: string, wanted: string[], batchSize: number): BatchSource {
  let stream: fs.ReadStream | null = null;
  return {
    total: () => null,
    async close() {
      stream?.destroy();
    },
    async *batches() {
      stream = fs.createReadStream(file, { encoding: 'utf8' });
      const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
      let batch = emptyBatch(wanted, 0);
      let row = 0;
      let lineNumber = 0;
      for await (const text of lines) {
        lineNumber++;
        if (text.trim() === '') continue;
        let object: Record<string, unknown>;
        try {
          object = parseJsonLine(text, `${display}:${lineNumber}`);
        } catch (error) {
          throw new ScoreError(messageOf(error));
        }
        for (const name of wanted) {
          if (!(name in object)) missingColumns(display, lineNumber, Object.keys(object), wanted);
          batch.columns[name]?.push(cell(object[name]));
        }
        batch.lines?.push(lineNumber);
        batch.rows++;
        row++;
        if (batch.rows === batchSize) {
          yield batch;
          batch = emptyBatch(wanted, row);
        }
      }
      if (batch.rows > 0) yield batch;
    },
  };
}

function parquetBatches(file: string, display: string, wanted: string[], batchSize: number): BatchSource {
  let total: number | null = null;
  return {
    total: () => total,
    async close() {},
    async *batches() {
      const { asyncBufferFromFile, parquetMetadataAsync, parquetRead } = await import('hyparquet');
      const buffer = await asyncBufferFromFile(file);
      let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
      try {
        metadata = await parquetMetadataAsync(buffer);
      } catch (error) {
        throw new ScoreError(
          `${display}: cannot read Parquet (${messageOf(error)}). Check that the file is a Parquet file.`,
        );
      }
      const names = metadata.schema.slice(1).flatMap((element) => (element.num_children ? [] : [element.name]));
      if (wanted.some((name) => !names.includes(name))) missingColumns(display, null, names, wanted);
      total = Number(metadata.num_rows);
      // One row group in memory at a time, column by column (rows as objects would take ten times
      // the memory), cut into batches.
      let groupStart = 0;
      for (const group of metadata.row_groups) {
        const groupRows = Number(group.num_rows);
        const chunks = new Map<string, { rowStart: number; data: ArrayLike<unknown> }[]>();
        try {
          await parquetRead({
            file: buffer,
            metadata,
            columns: wanted,
            rowStart: groupStart,
            rowEnd: groupStart + groupRows,
            compressors: parquetCodecs(),
            onChunk: (chunk) => {
              const list = chunks.get(chunk.columnName) ?? [];
              list.push({ rowStart: chunk.rowStart, data: chunk.columnData as ArrayLike<unknown> });
              chunks.set(chunk.columnName, list);
            },
          });
        } catch (error) {
          throw new ScoreError(`${display}: cannot read Parquet (${messageOf(error)}).`);
        }
        const columns = new Map(wanted.map((name) => [name, columnOf(chunks.get(name) ?? [], groupStart, groupRows)]));
        for (let start = 0; start < groupRows; start += batchSize) {
          const end = Math.min(groupRows, start + batchSize);
          const batch = emptyBatch(wanted, groupStart + start, false);
          for (const name of wanted) {
            const values = columns.get(name);
            const target = batch.columns[name] as Cell[];
            for (let row = start; row < end; row++) target.push(cell(values?.[row]));
          }
          batch.rows = end - start;
          yield batch;
        }
        groupStart += groupRows;
      }
    },
  };
}

/** The values of one column of a row group, from the chunks hyparquet decoded, in row order. */
function columnOf(
  chunks: { rowStart: number; data: ArrayLike<unknown> }[],
  groupStart: number,
  rows: number,
): ArrayLike<unknown> {
  if (chunks.length === 1 && chunks[0]?.rowStart === groupStart && chunks[0].data.length === rows)
    return chunks[0].data;
  const values = new Array<unknown>(rows).fill(null);
  for (const chunk of chunks)
    for (let index = 0; index < chunk.data.length; index++) {
      const row = chunk.rowStart - groupStart + index;
      if (row >= 0 && row < rows) values[row] = chunk.data[index];
    }
  return values;
}

function emptyBatch(wanted: string[], firstRow: number, withLines = true): InputBatch {
  return {
    columns: Object.fromEntries(wanted.map((name) => [name, [] as Cell[]])),
    rows: 0,
    firstRow,
    lines: withLines ? [] : null,
  };
}

/** A value from JSON or Parquet as a cell: booleans as 1/0, lists kept, other nested values as JSON text. */
function cell(value: unknown): Cell {
  if (Array.isArray(value)) return value.map(cell);
  const plain = plainValue(value);
  return typeof plain === 'boolean' ? Number(plain) : plain;
}

/** The rows of a text file, counted from its line ends (CSV: less the header). */
async function countRows(file: string, format: 'csv' | 'jsonl'): Promise<number> {
  let lines = 0;
  let last = 10;
  for await (const chunk of fs.createReadStream(file) as AsyncIterable<Buffer>) {
    for (let index = chunk.indexOf(10); index !== -1; index = chunk.indexOf(10, index + 1)) lines++;
    last = chunk[chunk.length - 1] ?? last;
  }
  if (last !== 10) lines++;
  return Math.max(0, format === 'csv' ? lines - 1 : lines);
}

interface OutputColumn {
  name: string;
  /** The value of a row. */
  value(row: number): number | string | boolean;
  /** For JSON Lines: the output this column belongs to, and its width. */
  output: string;
  width: number;
}

/** Output tensors as columns: `name` for one value per row, `name_0`, `name_1`, ... for several. */
function outputTable(outputs: Record<string, TensorValue>, rows: number): OutputColumn[] {
  const columns: OutputColumn[] = [];
  for (const [name, tensor] of Object.entries(outputs)) {
    const width = rows === 0 ? 1 : tensor.data.length / rows;
    if (!Number.isInteger(width)) continue;
    const data = tensor.data;
    const bool = tensor.type === 'bool';
    const at = (index: number): number | string | boolean => {
      const value = data[index];
      if (bool) return value === 1;
      return typeof value === 'bigint' ? Number(value) : (value ?? '');
    };
    if (width === 1) columns.push({ name, value: (row) => at(row), output: name, width });
    else
      for (let column = 0; column < width; column++)
        columns.push({ name: `${name}_${column}`, value: (row) => at(row * width + column), output: name, width });
  }
  return columns;
}

function csvField(value: Cell | boolean): string {
  if (value === null) return '';
  const text = Array.isArray(value) ? JSON.stringify(value) : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvRows(table: OutputColumn[], ids: Cell[] | null, rows: number): string {
  let text = '';
  for (let row = 0; row < rows; row++) {
    const fields = table.map((column) => csvField(column.value(row)));
    text += `${ids ? `${csvField(ids[row] ?? null)},` : ''}${fields.join(',')}\n`;
  }
  return text;
}

function jsonRows(table: OutputColumn[], ids: Cell[] | null, idColumn: string | undefined, rows: number): string {
  let text = '';
  for (let row = 0; row < rows; row++) {
    const object: Record<string, unknown> = {};
    if (ids && idColumn !== undefined) object[idColumn] = ids[row] ?? null;
    for (const column of table) {
      if (column.width === 1) object[column.output] = column.value(row);
      else ((object[column.output] ??= []) as unknown[]).push(column.value(row));
    }
    text += `${JSON.stringify(object)}\n`;
  }
  return text;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
