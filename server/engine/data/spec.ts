// The `datasets` section of the workspace's pipeline files (Cairn's mapping form), read into typed
// dataset declarations. Each dataset is validated against `$defs/dataset` of the pipeline schema, so
// the engine accepts exactly what the language server accepts; problems carry file and line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap } from 'yaml';
import { mapGet, nodeStart, nodeValue, parseWhole } from '../../spec/parse';
import type { YamlNode } from '../../spec/parse';
import { isRecord } from '../../spec/pipeline';
import { resolverFor } from '../../spec/schemas';
import { validateNode } from '../../spec/schemaValidate';
import { LineIndex } from '../../spec/text';
import { escapesWorkspace, Workspace } from '../../spec/workspace';

export type ColumnType = 'integer' | 'number' | 'string' | 'boolean' | 'timestamp';

export interface SourceSpec {
  type: 'csv' | 'jsonl' | 'parquet' | 'sqlite';
  /** Absolute path of the data file. */
  path: string;
  table?: string;
  query?: string;
  options: Record<string, unknown>;
}

export interface StreamSpec {
  type: 'jsonl' | 'http';
  /** For jsonl: the absolute path of the followed file. */
  file?: string;
  /** For http: the URL path that receives rows, besides /ingest. */
  urlPath: string;
  port: number;
  host: string;
  /** Cut a window after this many rows. */
  rows?: number;
  /** Cut a window after this many milliseconds. */
  timeMs?: number;
}

export interface DeclaredColumn {
  name: string;
  type: ColumnType;
  nullable: boolean;
}

/** One declared check, with the 1-based line of its entry in the pipeline file. */
export type CheckSpec = { line: number } & (
  | { kind: 'type'; column: string; type: ColumnType }
  | { kind: 'not_null'; column: string }
  | { kind: 'range'; column: string; min?: number; max?: number }
  | { kind: 'allowed'; column: string; values: unknown[] }
  | { kind: 'unique'; column: string }
  | { kind: 'rows'; min?: number; max?: number }
  | { kind: 'freshness'; column: string; maxAgeMs: number; maxAge: string }
);

export interface DatasetSpec {
  name: string;
  /** The absolute path of the pipeline file that declares it, and the 1-based line of its name. */
  file: string;
  line: number;
  source?: SourceSpec;
  stream?: StreamSpec;
  columns: DeclaredColumn[];
  checks: CheckSpec[];
}

/** A problem in a pipeline file's `datasets` section. */
export interface SpecProblem {
  file: string;
  line: number;
  message: string;
}

const DATASET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration such as "30s" or "1d" (the schema's `duration` pattern). */
export function durationMs(text: string): number {
  const match = /^([0-9]+)(ms|s|m|h|d)$/.exec(text);
  if (!match) return NaN;
  return Number(match[1]) * (UNITS[match[2] ?? ''] ?? NaN);
}

/** Every dataset declared in the pipeline files of the workspace at `root`, and the problems found. */
export function readDatasets(root: string): { datasets: DatasetSpec[]; problems: SpecProblem[] } {
  const workspace = new Workspace(root);
  const datasets: DatasetSpec[] = [];
  const problems: SpecProblem[] = [];
  for (const file of workspace.specs('pipeline')) {
    const found = datasetsOfFile(root, file, fs.readFileSync(file, 'utf8'));
    problems.push(...found.problems);
    for (const dataset of found.datasets) {
      const earlier = datasets.find((other) => other.name === dataset.name);
      if (earlier)
        problems.push({
          file,
          line: dataset.line,
          message: `dataset '${dataset.name}' is also declared in ${path.relative(root, earlier.file)}:${earlier.line}. Rename one of them.`,
        });
      else datasets.push(dataset);
    }
  }
  return { datasets, problems };
}

/** The datasets declared in one pipeline file's text. */
export function datasetsOfFile(
  root: string,
  file: string,
  text: string,
): { datasets: DatasetSpec[]; problems: SpecProblem[] } {
  const parsed = parseWhole(text);
  const lines = new LineIndex(text);
  const lineOf = (node: unknown): number => lines.position(nodeStart(node) ?? 0).line + 1;
  const problems: SpecProblem[] = parsed.errors.map((error) => ({
    file,
    line: lines.position(error.start).line + 1,
    message: error.message,
  }));
  const section = mapGet(parsed.root, 'datasets');
  // The list form is DVC's (references to other repositories); Cairn imports only the mapping form.
  if (!isMap(section)) return { datasets: [], problems };
  const resolver = resolverFor('pipeline');
  const schema = resolver?.lookup('#/$defs/dataset');
  const datasets: DatasetSpec[] = [];
  for (const pair of section.items) {
    const name = String(nodeValue(pair.key));
    const body = (pair.value as YamlNode | null) ?? null;
    // The name becomes a folder under .cairn/data/, so it must be a plain file name.
    if (!DATASET_NAME.test(name)) {
      problems.push({
        file,
        line: lineOf(pair.key),
        message: `dataset name '${name}' can hold only letters, digits, '_', '-' and '.', and must start with a letter or digit. Rename it.`,
      });
      continue;
    }
    const invalid =
      resolver && schema !== undefined
        ? validateNode(body, schema, resolver, pair.key as YamlNode, parsed.document)
        : [];
    const errors = invalid.filter((problem) => problem.severity === 'error');
    for (const problem of errors)
      problems.push({ file, line: lineOf(problem.anchor), message: `dataset '${name}': ${problem.message}` });
    if (errors.length > 0) continue;
    const value = nodeValue(body, parsed.document);
    if (!isRecord(value)) continue;
    const checkNodes = mapGet(body, 'checks');
    const checkLine = (index: number): number => {
      const item = (checkNodes as { items?: unknown[] } | null)?.items?.[index];
      return item ? lineOf(item) : lineOf(pair.key);
    };
    const dataset: DatasetSpec = {
      name,
      file,
      line: lineOf(pair.key),
      columns: declaredColumns(value['schema']),
      checks: Array.isArray(value['checks'])
        ? value['checks'].flatMap((check, index) => checkOf(check, checkLine(index)))
        : [],
    };
    const base = path.dirname(file);
    const located = (relative: string, key: string): string | null => {
      const absolute = path.resolve(base, relative);
      if (escapesWorkspace(path.relative(root, absolute).split(path.sep).join('/'))) {
        problems.push({
          file,
          line: lineOf(mapGet(mapGet(body, key), 'path') ?? pair.key),
          message: `dataset '${name}': ${key}.path '${relative}' leaves the workspace. Move the data inside the workspace.`,
        });
        return null;
      }
      return absolute;
    };
    const source = value['source'];
    if (isRecord(source)) {
      const absolute = located(String(source['path']), 'source');
      if (absolute === null) continue;
      dataset.source = {
        type: source['type'] as SourceSpec['type'],
        path: absolute,
        options: isRecord(source['options']) ? source['options'] : {},
      };
      if (typeof source['table'] === 'string') dataset.source.table = source['table'];
      if (typeof source['query'] === 'string') dataset.source.query = source['query'];
    }
    const stream = value['stream'];
    if (isRecord(stream)) {
      const window = isRecord(stream['window']) ? stream['window'] : {};
      const spec: StreamSpec = {
        type: stream['type'] as StreamSpec['type'],
        urlPath: '/',
        port: typeof stream['port'] === 'number' ? stream['port'] : 0,
        host: typeof stream['host'] === 'string' ? stream['host'] : '127.0.0.1',
      };
      if (typeof window['rows'] === 'number') spec.rows = window['rows'];
      if (typeof window['time'] === 'string') spec.timeMs = durationMs(window['time']);
      if (spec.type === 'jsonl') {
        const absolute = located(String(stream['path']), 'stream');
        if (absolute === null) continue;
        spec.file = absolute;
      } else if (typeof stream['path'] === 'string') spec.urlPath = stream['path'];
      dataset.stream = spec;
    }
    datasets.push(dataset);
  }
  return { datasets, problems };
}

function declaredColumns(schema: unknown): DeclaredColumn[] {
  if (!isRecord(schema) || !isRecord(schema['columns'])) return [];
  return Object.entries(schema['columns']).flatMap(([name, column]) =>
    isRecord(column) ? [{ name, type: column['type'] as ColumnType, nullable: column['nullable'] !== false }] : [],
  );
}

function checkOf(check: unknown, line: number): CheckSpec[] {
  if (!isRecord(check)) return [];
  const column = typeof check['column'] === 'string' ? check['column'] : '';
  const bounds = (value: unknown): { min?: number; max?: number } => {
    const result: { min?: number; max?: number } = {};
    if (isRecord(value) && typeof value['min'] === 'number') result.min = value['min'];
    if (isRecord(value) && typeof value['max'] === 'number') result.max = value['max'];
    return result;
  };
  if (typeof check['type'] === 'string') return [{ line, kind: 'type', column, type: check['type'] as ColumnType }];
  if (check['not_null'] === true) return [{ line, kind: 'not_null', column }];
  if (check['range'] !== undefined) return [{ line, kind: 'range', column, ...bounds(check['range']) }];
  if (Array.isArray(check['allowed'])) return [{ line, kind: 'allowed', column, values: check['allowed'] }];
  if (check['unique'] === true) return [{ line, kind: 'unique', column }];
  if (check['rows'] !== undefined) return [{ line, kind: 'rows', ...bounds(check['rows']) }];
  const freshness = check['freshness'];
  if (isRecord(freshness) && typeof freshness['column'] === 'string' && typeof freshness['max_age'] === 'string')
    return [
      {
        line,
        kind: 'freshness',
        column: freshness['column'],
        maxAgeMs: durationMs(freshness['max_age']),
        maxAge: freshness['max_age'],
      },
    ];
  // `not_null: false` and `unique: false` ask for nothing.
  return [];
}
