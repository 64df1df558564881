// The experiments table: matching runs as rows of values in column order, with a column for every
// param, metric and tag key that occurs among them. Compact on purpose (arrays, not objects per run):
// the editor's table loads 10,000 runs × 50 columns from one `cairn exp table --json`.
import type Database from 'better-sqlite3';
import { parseFilter, parseSort } from './filter';
import type { Sort } from './filter';
import { ATTRIBUTE_SQL, compileFilter } from './query';
import type { RunQuery } from './query';

export type TableColumnKind = 'attribute' | 'param' | 'metric' | 'tag';

export interface TableColumn {
  /** As the filter grammar names it: `metrics.auc`, `params.lr`, `tags.team`, `status`. */
  key: string;
  kind: TableColumnKind;
}

/** A cell: a metric is a number, a param or tag its text, a time epoch milliseconds; null when absent. */
export type TableValue = string | number | null;

export interface RunTable {
  columns: TableColumn[];
  /** How many runs match, of which `rows` holds one page. */
  total: number;
  rows: TableValue[][];
}

export type TableQuery = Omit<RunQuery, 'params' | 'metrics'>;

/** The attribute columns every table starts with; `experiment` only when the table spans several. */
const ATTRIBUTE_COLUMNS = ['id', 'name', 'status', 'start_time', 'duration', 'parent'] as const;

/** Attributes that may be NULL sort their NULLs last, as in query.ts. */
const NULLABLE_ATTRIBUTES = new Set(['end_time', 'duration', 'git_commit', 'git_branch', 'parent']);

const TABLES = { metric: 'latest_metrics', param: 'run_params', tag: 'run_tags' } as const;

interface Sql {
  text: string;
  values: (string | number)[];
}

/** The WHERE condition over `tracked_runs r` of the query's experiment and filter. */
function conditionsOf(query: TableQuery): Sql {
  const parts: string[] = [];
  const values: (string | number)[] = [];
  if (query.experiment !== undefined) {
    parts.push('r.experiment_id = (SELECT id FROM experiments WHERE name = ?)');
    values.push(query.experiment);
  }
  if (query.filter !== undefined && query.filter.trim() !== '') {
    const compiled = compileFilter(parseFilter(query.filter), 'in');
    parts.push(compiled.text);
    values.push(...compiled.values);
  }
  return { text: parts.length === 0 ? '1' : parts.join(' AND '), values };
}

/**
 * The ORDER BY of `sort` (default: newest first) and the LEFT JOINs it needs: the same order as
 * `exp list` (query.ts), NULLs last, params by number when they are numbers, ties by run age. The
 * table reads every matching run anyway, so it sorts them in one statement instead of walking an index.
 */
function orderOf(sort: string | undefined): { joins: Sql; terms: string[] } {
  const sorts: Sort[] =
    sort !== undefined && sort.trim() !== ''
      ? parseSort(sort)
      : [{ column: { kind: 'attribute', key: 'start_time' }, descending: true }];
  const joins: string[] = [];
  const values: string[] = [];
  const terms: string[] = [];
  sorts.forEach((each, index) => {
    const direction = each.descending ? 'DESC' : 'ASC';
    if (each.column.kind === 'attribute') {
      const expression = ATTRIBUTE_SQL[each.column.key] ?? 'NULL';
      if (NULLABLE_ATTRIBUTES.has(each.column.key)) terms.push(`${expression} IS NULL`);
      terms.push(`${expression} ${direction}`);
      return;
    }
    const alias = `s${index}`;
    joins.push(`LEFT JOIN ${TABLES[each.column.kind]} ${alias} ON ${alias}.run = r.seq AND ${alias}.key = ?`);
    values.push(each.column.key);
    terms.push(`${alias}.value IS NULL`);
    if (each.column.kind === 'param') terms.push(`${alias}.number ${direction}`);
    terms.push(`${alias}.value ${direction}`);
  });
  terms.push(sorts[0]?.descending === false ? 'r.seq ASC' : 'r.seq DESC');
  return { joins: { text: joins.join(' '), values }, terms };
}

/**
 * The keys of `table` that occur among the runs `runs` selects, sorted. Each key of the table (read
 * in order from its key index) is kept when one selected run has it: a probe that stops at the first
 * such run, where collecting the keys of every selected run would sort hundreds of thousands of rows.
 */
function keysOf(db: Database.Database, table: string, runs: Sql | undefined): string[] {
  const sql =
    runs === undefined
      ? `SELECT DISTINCT key FROM ${table} ORDER BY key`
      : `SELECT k.key FROM (SELECT DISTINCT key FROM ${table}) k
         WHERE EXISTS (SELECT 1 FROM ${table} t WHERE t.key = k.key AND t.run IN (${runs.text})) ORDER BY k.key`;
  return db
    .prepare(sql)
    .pluck()
    .all(...(runs?.values ?? [])) as string[];
}

/** How many runs match the query. */
export function countRuns(db: Database.Database, query: TableQuery): number {
  const conditions = conditionsOf(query);
  return db
    .prepare(`SELECT COUNT(*) FROM tracked_runs r WHERE ${conditions.text}`)
    .pluck()
    .get(...conditions.values) as number;
}

/** Each run's keys (joined by U+001F, in the table's key order) and values (a JSON array), by run seq. */
type Aggregated = Map<number, [keys: string, values: string]>;

/**
 * The keys and values of every run that `runs` selects (every run when undefined), one row per run.
 * SQLite writes the JSON: building 250,000 JavaScript values and stringifying them again costs
 * several times more than the query.
 */
function aggregate(db: Database.Database, table: string, runs: Sql | undefined): Aggregated {
  const where = runs === undefined ? '' : `WHERE run IN (${runs.text})`;
  const rows = db
    .prepare(`SELECT run, group_concat(key, char(31)), json_group_array(value) FROM ${table} ${where} GROUP BY run`)
    .raw()
    .all(...(runs?.values ?? [])) as [number, string, string][];
  return new Map(rows.map(([run, keys, values]) => [run, [keys, values]]));
}

/** Every key of the aggregated runs, sorted; runs that log the same keys are split once. */
function keysIn(aggregated: Aggregated): string[] {
  const seen = new Set<string>();
  const keys = new Set<string>();
  for (const [runKeys] of aggregated.values()) {
    if (seen.has(runKeys)) continue;
    seen.add(runKeys);
    for (const key of runKeys.split('\u001f')) keys.add(key);
  }
  return [...keys].sort();
}

/** The row cells of `keys` from a run's aggregated keys and values (`null` where it has none). */
function cellsOf(
  keys: string[],
  complete: string,
  position: Map<string, number>,
  found: [string, string] | undefined,
): string {
  if (found === undefined) return new Array<string>(keys.length).fill('null').join(',');
  const [runKeys, values] = found;
  // Both aggregates see a run's rows in the same order, so when the keys are all there in order the
  // values are too (the common case: every run of a sweep logs the same keys).
  if (runKeys === complete) return values.slice(1, -1);
  const cells: string[] = new Array<string>(keys.length).fill('null');
  const parsed = JSON.parse(values) as (string | number)[];
  runKeys.split('\u001f').forEach((key, index) => {
    const at = position.get(key);
    if (at !== undefined) cells[at] = JSON.stringify(parsed[index] ?? null);
  });
  return cells.join(',');
}

/** One page of matching runs as a table, as JSON text (see RunTable), sorted and filtered in SQLite. */
export function runTableJson(db: Database.Database, query: TableQuery): string {
  const conditions = conditionsOf(query);
  const order = orderOf(query.sort);
  const limit = query.limit ?? 100;
  const offset = query.offset ?? 0;
  const total = countRuns(db, query);
  const everyRun = query.experiment === undefined && (query.filter === undefined || query.filter.trim() === '');
  const matching: Sql | undefined = everyRun
    ? undefined
    : { text: `SELECT r.seq FROM tracked_runs r WHERE ${conditions.text}`, values: conditions.values };
  const attributes: string[] = [...ATTRIBUTE_COLUMNS, ...(query.experiment === undefined ? ['experiment'] : [])];
  const pageSql = `FROM tracked_runs r ${order.joins.text} WHERE ${conditions.text}
    ORDER BY ${order.terms.join(', ')} LIMIT ? OFFSET ?`;
  const pageValues = [...order.joins.values, ...conditions.values, limit, offset];
  const page = db
    .prepare(`SELECT r.seq, json_array(${attributes.map((key) => ATTRIBUTE_SQL[key] ?? 'NULL').join(', ')}) ${pageSql}`)
    .raw()
    .all(...pageValues) as [number, string][];
  // The columns are the keys of every matching run, so they stay put while the user pages. A page of
  // every matching run gives them from its own values; a smaller page asks for them apart.
  const whole = page.length === total;
  const pageRuns: Sql | undefined = whole ? matching : { text: `SELECT r.seq ${pageSql}`, values: pageValues };
  const parts = (['latest_metrics', 'run_params', 'run_tags'] as const).map((table) => {
    const values = aggregate(db, table, pageRuns);
    const keys = whole ? keysIn(values) : keysOf(db, table, matching);
    return { keys, values, complete: keys.join('\u001f'), position: new Map(keys.map((key, index) => [key, index])) };
  });
  const [metrics, params, tags] = parts.map((part) => part.keys) as [string[], string[], string[]];
  const columns: TableColumn[] = [
    ...attributes.map((key) => ({ key, kind: 'attribute' as const })),
    ...metrics.map((key) => ({ key: `metrics.${key}`, kind: 'metric' as const })),
    ...params.map((key) => ({ key: `params.${key}`, kind: 'param' as const })),
    ...tags.map((key) => ({ key: `tags.${key}`, kind: 'tag' as const })),
  ];
  const rows = page.map(([seq, attributeValues]) => {
    let row = attributeValues.slice(0, -1);
    for (const part of parts) {
      if (part.keys.length > 0) row += `,${cellsOf(part.keys, part.complete, part.position, part.values.get(seq))}`;
    }
    return `${row}]`;
  });
  return `{"columns":${JSON.stringify(columns)},"total":${total},"rows":[${rows.join(',')}]}`;
}

/** One page of matching runs as a table (see runTableJson). */
export function runTable(db: Database.Database, query: TableQuery): RunTable {
  return JSON.parse(runTableJson(db, query)) as RunTable;
}
