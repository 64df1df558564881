// Batch sources read into one table shape: CSV, JSON Lines, Parquet, and a SQLite table or query.
// Values are normalized to what JSON can hold (null, boolean, number, string), so inference,
// profiles and checks see the same thing whatever the format. Bad input raises a DataError that
// names the file, the line where there is one, and what to do.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { parse as parseCsvText } from 'csv-parse/sync';
import type { SourceSpec } from './spec';

export type Value = null | boolean | number | string;
export type Row = Record<string, Value>;

/** A dataset read into memory: columns in source order and rows, with each row's source line. */
export interface Table {
  columns: string[];
  rows: Row[];
  /** The 1-based line of each row in a text source (CSV, JSON Lines); absent for binary sources. */
  lines?: number[];
}

/** What an import keeps of a source: the raw bytes to version and the table read from them. */
export interface SourceSnapshot {
  /** The bytes that are hashed and copied into the version (the file itself, or an export). */
  bytes: Buffer;
  /** The file name of the copy inside the version folder. */
  fileName: string;
  table: Table;
}

/** Bad input: a message that says what is wrong, where, and how to fix it. Never a bug. */
export class DataError extends Error {}

/** Reads a batch source and returns its raw bytes with the table they hold. */
export async function readSource(source: SourceSpec, displayPath: string): Promise<SourceSnapshot> {
  if (source.type === 'sqlite') return readSqlite(source, displayPath);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(source.path);
  } catch (error) {
    throw new DataError(`${displayPath}: cannot read the file (${errorCode(error)}). Check source.path.`);
  }
  const fileName = path.basename(source.path);
  if (source.type === 'csv') return { bytes, fileName, table: parseCsv(bytes, source.options, displayPath) };
  if (source.type === 'jsonl') return { bytes, fileName, table: parseJsonLines(bytes.toString('utf8'), displayPath) };
  return { bytes, fileName, table: await parseParquet(bytes, displayPath) };
}

/** The table of a CSV text; the first record is the header unless `options.header` is false. */
export function parseCsv(bytes: Buffer, options: Record<string, unknown>, displayPath: string): Table {
  const delimiter = typeof options['delimiter'] === 'string' ? options['delimiter'] : ',';
  const header = options['header'] !== false;
  const encoding = typeof options['encoding'] === 'string' ? options['encoding'] : 'utf-8';
  let text: string;
  try {
    text = new TextDecoder(encoding).decode(bytes);
  } catch {
    throw new DataError(`${displayPath}: unknown encoding '${encoding}'. Use an encoding such as utf-8 or latin1.`);
  }
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parseCsvText(text, {
      delimiter,
      bom: true,
      info: true,
      skip_empty_lines: true,
    }) as unknown as typeof records;
  } catch (error) {
    const line = (error as { lines?: number }).lines;
    const reason = error instanceof Error ? error.message.replace(/^Invalid Record Length: /, '') : String(error);
    throw new DataError(
      `${displayPath}${line ? `:${line}` : ''}: not valid CSV: ${reason}. Fix the line, or set source.options.delimiter if the file uses another separator.`,
    );
  }
  const first = records[0]?.record ?? [];
  const columns = header
    ? first.map((name, index) => name.trim() || `column_${index + 1}`)
    : first.map((_, index) => `column_${index + 1}`);
  const body = header ? records.slice(1) : records;
  const rows: Row[] = [];
  const lines: number[] = [];
  for (const { record, info } of body) {
    const row: Row = {};
    columns.forEach((column, index) => (row[column] = castText(record[index] ?? '')));
    rows.push(row);
    // csv-parse counts the lines read so far, which is the last line of a record spanning several.
    lines.push(info.lines);
  }
  return { columns, rows, lines };
}

/** A CSV field as the value it spells: empty is null, then integer, number, boolean, else text. */
export function castText(text: string): Value {
  if (text === '') return null;
  if (/^[+-]?(0|[1-9][0-9]*)$/.test(text)) {
    const value = Number(text);
    return Number.isSafeInteger(value) ? value : text;
  }
  if (/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(text)) return Number(text);
  const lower = text.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  return text;
}

/** The table of a JSON Lines text: one JSON object per line, blank lines skipped. */
export function parseJsonLines(text: string, displayPath: string, firstLine = 1): Table {
  const columns: string[] = [];
  const seen = new Set<string>();
  const rows: Row[] = [];
  const lines: number[] = [];
  const textLines = text.split('\n');
  textLines.forEach((line, index) => {
    if (line.trim() === '') return;
    const lineNumber = firstLine + index;
    rows.push(recordOf(parseJsonLine(line, `${displayPath}:${lineNumber}`), columns, seen));
    lines.push(lineNumber);
  });
  return { columns, rows, lines };
}

/** Parses one JSON Lines line into an object, or raises a DataError located at `where`. */
export function parseJsonLine(line: string, where: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DataError(`${where}: not valid JSON (${reason}). Each line must hold one JSON object.`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new DataError(
      `${where}: a JSON Lines record must be an object such as {"id": 1}, not ${JSON.stringify(value).slice(0, 40)}.`,
    );
  return value as Record<string, unknown>;
}

/** A row from a parsed object; columns are collected in the order they first appear. */
export function recordOf(object: Record<string, unknown>, columns: string[], seen: Set<string>): Row {
  const row: Row = {};
  for (const [key, value] of Object.entries(object)) {
    if (!seen.has(key)) {
      seen.add(key);
      columns.push(key);
    }
    row[key] = plainValue(value);
  }
  return row;
}

/** Any value a reader returns, as a JSON scalar: big integers, dates, bytes and nested values too. */
export function plainValue(value: unknown): Value {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? inner.toString() : inner));
}

async function parseParquet(bytes: Buffer, displayPath: string): Promise<Table> {
  // hyparquet is an ES module: a dynamic import loads it from tsx and is bundled by esbuild.
  const { parquetMetadata, parquetReadObjects } = await import('hyparquet');
  const file = new Uint8Array(bytes).buffer;
  let columns: string[];
  let objects: Record<string, unknown>[];
  try {
    const metadata = parquetMetadata(file);
    // The first schema element is the root; its direct children are the columns.
    columns = metadata.schema.slice(1).flatMap((element) => (element.num_children ? [] : [element.name]));
    objects = (await parquetReadObjects({ file, metadata, compressors: parquetCodecs() })) as Record<string, unknown>[];
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const fix = /compression codec/.test(reason)
      ? `Write the file with ${Object.keys(parquetCodecs()).join(', ')}, SNAPPY or no compression`
      : 'Check that the file is a Parquet file';
    throw new DataError(`${displayPath}: cannot read Parquet (${reason}). ${fix}.`);
  }
  const seen = new Set(columns);
  return { columns, rows: objects.map((object) => recordOf(object, columns, seen)) };
}

/**
 * Decompressors for the Parquet codecs that hyparquet leaves to the caller, from node:zlib. ZSTD
 * exists in node:zlib only from Node 22.15, so on Node 20 ZSTD files are refused with a fix.
 */
export function parquetCodecs(): Record<string, (input: Uint8Array, outputLength: number) => Uint8Array> {
  const codecs: Record<string, (input: Uint8Array, outputLength: number) => Uint8Array> = {
    GZIP: (input) => zlib.gunzipSync(input),
    BROTLI: (input) => zlib.brotliDecompressSync(input),
  };
  const zstd = (zlib as { zstdDecompressSync?: (input: Uint8Array) => Buffer }).zstdDecompressSync;
  if (zstd) codecs['ZSTD'] = (input) => zstd(input);
  return codecs;
}

function readSqlite(source: SourceSpec, displayPath: string): SourceSnapshot {
  let database: Database.Database;
  try {
    database = new Database(source.path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new DataError(`${displayPath}: cannot open the SQLite database (${errorMessage(error)}). Check source.path.`);
  }
  try {
    const query = source.query ?? `SELECT * FROM "${(source.table ?? '').replace(/"/g, '""')}"`;
    let statement: Database.Statement;
    try {
      statement = database.prepare(query);
    } catch (error) {
      const fix = source.query ? 'Fix source.query' : 'Check source.table against the tables of the database';
      throw new DataError(`${displayPath}: ${errorMessage(error)}. ${fix}.`);
    }
    if (!statement.reader)
      throw new DataError(`${displayPath}: source.query does not return rows. Give a SELECT statement.`);
    const columns = statement.columns().map((column) => column.name);
    const seen = new Set(columns);
    const rows = (statement.all() as Record<string, unknown>[]).map((object) => recordOf(object, columns, seen));
    // A table or query has no file of its own to version: its rows, exported as JSON Lines, are.
    const bytes = Buffer.from(rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
    const fileName = `${source.table ?? 'query'}.jsonl`;
    return { bytes, fileName, table: { columns, rows } };
  } finally {
    database.close();
  }
}

function errorCode(error: unknown): string {
  return (error as { code?: string }).code ?? errorMessage(error);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
