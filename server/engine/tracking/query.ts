// Runs by filter, sort and page. A filter tree becomes parameterized SQL (user values are always
// bound, never spliced into the text); metric and param conditions are subqueries over the indexed
// latest-value and param tables, so a query never reads a metric history. Only the runs of the page
// get their params, metrics and tags loaded.
import type Database from 'better-sqlite3';
import { FilterError, parseFilter, parseSort } from './filter';
import type { Column, Filter, Sort, Value } from './filter';

export interface RunQuery {
  experiment?: string;
  /** Filter text, as the user wrote it (see filter.ts). */
  filter?: string;
  /** Sort text: `metrics.auc DESC`, several separated by commas. Default: newest first. */
  sort?: string;
  limit?: number;
  offset?: number;
  /** Which params and metrics the rows carry; omitted, all of them. */
  params?: string[];
  metrics?: string[];
}

export interface RunRow {
  id: string;
  name: string;
  experiment: string;
  status: string;
  parent: string | null;
  start_time: number;
  end_time: number | null;
  duration: number | null;
  git_commit: string | null;
  params: Record<string, string>;
  metrics: Record<string, number>;
  tags: Record<string, string>;
}

interface Sql {
  text: string;
  values: (string | number)[];
}

const ATTRIBUTE_SQL: Record<string, string> = {
  id: 'r.id',
  name: 'r.name',
  status: 'r.status',
  experiment: 'e.name',
  start_time: 'r.start_time',
  end_time: 'r.end_time',
  duration: '(r.end_time - r.start_time)',
  git_commit: 'r.git_commit',
  git_branch: 'r.git_branch',
  parent: 'r.parent_run_id',
};

const TIME_ATTRIBUTES = new Set(['start_time', 'end_time']);

/** A time attribute compares with epoch milliseconds or a date such as '2026-11-27T10:00'. */
function attributeValue(column: Column, value: Value, at: number): Value {
  if (!TIME_ATTRIBUTES.has(column.key) || typeof value === 'number') return value;
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new FilterError(`'${value}' is not a date for ${column.key}`, at);
  return time;
}

function metricValue(column: Column, value: Value, at: number): number {
  if (typeof value === 'number') return value;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number)) {
    throw new FilterError(`metrics.${column.key} is a number and cannot be compared with '${value}'`, at);
  }
  return number;
}

/** The SQL condition of a filter tree over `tracked_runs r JOIN experiments e`. */
export function compileFilter(filter: Filter): Sql {
  switch (filter.type) {
    case 'and':
    case 'or': {
      const left = compileFilter(filter.left);
      const right = compileFilter(filter.right);
      return {
        text: `(${left.text} ${filter.type.toUpperCase()} ${right.text})`,
        values: [...left.values, ...right.values],
      };
    }
    case 'not': {
      const operand = compileFilter(filter.operand);
      return { text: `(NOT ${operand.text})`, values: operand.values };
    }
    case 'compare':
      return compileCondition(filter.column, (expression, isNumber) => {
        const value = conditionValue(filter.column, filter.value, filter.at, isNumber);
        return { text: `${expression(typeof value === 'number')} ${filter.op} ?`, values: [value] };
      });
    case 'like':
      if (filter.column.kind === 'metric') {
        throw new FilterError(`LIKE needs text, and metrics.${filter.column.key} is a number`, filter.at);
      }
      return compileCondition(filter.column, (expression) => ({
        text: `${expression(false)} ${filter.negated ? 'NOT LIKE' : 'LIKE'} ?`,
        values: [filter.pattern],
      }));
    case 'in':
      return compileCondition(filter.column, (expression, isNumber) => {
        const values = filter.values.map((value) => conditionValue(filter.column, value, filter.at, isNumber));
        const numbers = values.filter((value) => typeof value === 'number');
        const texts = values.filter((value) => typeof value === 'string');
        const parts: string[] = [];
        if (numbers.length > 0) parts.push(`${expression(true)} IN (${numbers.map(() => '?').join(', ')})`);
        if (texts.length > 0) parts.push(`${expression(false)} IN (${texts.map(() => '?').join(', ')})`);
        const test = parts.length === 1 ? (parts[0] ?? '') : `(${parts.join(' OR ')})`;
        return { text: filter.negated ? `NOT ${test}` : test, values: [...numbers, ...texts] };
      });
  }
}

/**
 * Wraps a test on a value into the condition of its column. `expression(numeric)` names the value
 * in SQL: for a param, its number when compared with a number and its text otherwise.
 */
function compileCondition(
  column: Column,
  test: (expression: (numeric: boolean) => string, isNumber: boolean) => Sql,
): Sql {
  if (column.kind === 'attribute') {
    const sql = test(() => ATTRIBUTE_SQL[column.key] ?? 'NULL', false);
    return { text: `(${sql.text})`, values: sql.values };
  }
  const table = { metric: 'latest_metrics', param: 'run_params', tag: 'run_tags' }[column.kind];
  const sql = test((numeric) => (column.kind === 'param' && numeric ? 'number' : 'value'), column.kind === 'metric');
  return {
    text: `r.seq IN (SELECT run FROM ${table} WHERE key = ? AND ${sql.text})`,
    values: [column.key, ...sql.values],
  };
}

function conditionValue(column: Column, value: Value, at: number, isNumber: boolean): Value {
  if (isNumber) return metricValue(column, value, at);
  if (column.kind === 'attribute') return attributeValue(column, value, at);
  if (column.kind === 'tag') return String(value);
  return value;
}

/** ORDER BY terms and the joins they need; runs without the sorted value come last. */
function compileSort(sorts: Sort[]): { joins: Sql; order: string } {
  const joins: string[] = [];
  const values: string[] = [];
  const terms: string[] = [];
  sorts.forEach((sort, index) => {
    const direction = sort.descending ? 'DESC' : 'ASC';
    if (sort.column.kind === 'attribute') {
      const expression = ATTRIBUTE_SQL[sort.column.key] ?? 'NULL';
      terms.push(`${expression} IS NULL`, `${expression} ${direction}`);
      return;
    }
    const alias = `s${index}`;
    const table = { metric: 'latest_metrics', param: 'run_params', tag: 'run_tags' }[sort.column.kind];
    joins.push(`LEFT JOIN ${table} ${alias} ON ${alias}.run = r.seq AND ${alias}.key = ?`);
    values.push(sort.column.key);
    terms.push(`${alias}.value IS NULL`);
    // Params sort by number when they are numbers (so 10 comes after 9), text otherwise.
    if (sort.column.kind === 'param') terms.push(`${alias}.number ${direction}`);
    terms.push(`${alias}.value ${direction}`);
  });
  terms.push('r.start_time DESC', 'r.id');
  return { joins: { text: joins.join(' '), values }, order: terms.join(', ') };
}

/** Runs matching the query, one page, with their params, latest metrics and tags. */
export function queryRuns(db: Database.Database, query: RunQuery = {}): RunRow[] {
  const filter = query.filter && query.filter.trim() !== '' ? compileFilter(parseFilter(query.filter)) : undefined;
  const sort = compileSort(query.sort && query.sort.trim() !== '' ? parseSort(query.sort) : []);
  const where: string[] = [];
  const values: (string | number)[] = [...sort.joins.values];
  if (query.experiment !== undefined) {
    where.push('e.name = ?');
    values.push(query.experiment);
  }
  if (filter) {
    where.push(filter.text);
    values.push(...filter.values);
  }
  values.push(query.limit ?? 100, query.offset ?? 0);
  const rows = db
    .prepare(
      `SELECT r.seq, r.id, r.name, e.name AS experiment, r.status, r.parent_run_id AS parent, r.start_time, r.end_time,
         (r.end_time - r.start_time) AS duration, r.git_commit
       FROM tracked_runs r JOIN experiments e ON e.id = r.experiment_id ${sort.joins.text}
       ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY ${sort.order} LIMIT ? OFFSET ?`,
    )
    .all(...values) as (Omit<RunRow, 'params' | 'metrics' | 'tags'> & { seq: number })[];
  const result: RunRow[] = [];
  const bySeq = new Map<number, RunRow>();
  for (const { seq, ...row } of rows) {
    const run = { ...row, params: {}, metrics: {}, tags: {} };
    result.push(run);
    bySeq.set(seq, run);
  }
  if (result.length === 0) return result;
  const seqs = [...bySeq.keys()];
  const marks = seqs.map(() => '?').join(', ');
  const keysFilter = (keys: string[] | undefined): Sql =>
    keys === undefined
      ? { text: '', values: [] }
      : { text: ` AND key IN (${keys.map(() => '?').join(', ') || 'NULL'})`, values: keys };
  const fill = (table: string, keys: Sql, into: (row: RunRow) => Record<string, string | number>): void => {
    const found = db
      .prepare(`SELECT run, key, value FROM ${table} WHERE run IN (${marks})${keys.text}`)
      .all(...seqs, ...keys.values) as { run: number; key: string; value: string | number }[];
    for (const row of found) {
      const run = bySeq.get(row.run);
      if (run) into(run)[row.key] = row.value;
    }
  };
  fill('run_params', keysFilter(query.params), (row) => row.params);
  fill('latest_metrics', keysFilter(query.metrics), (row) => row.metrics);
  fill('run_tags', { text: '', values: [] }, (row) => row.tags);
  return result;
}
