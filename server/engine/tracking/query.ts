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

/** The SQL of each run attribute over `tracked_runs r` (shared with table.ts). */
export const ATTRIBUTE_SQL: Record<string, string> = {
  id: 'r.id',
  name: 'r.name',
  status: 'r.status',
  experiment: '(SELECT name FROM experiments WHERE id = r.experiment_id)',
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

/**
 * How a metric, param or tag condition tests a run: 'exists' probes the run's row (best when runs are
 * read in a sorted index order and the page stops early); 'in' builds the set of matching runs once
 * from the (key, value) index (best when the runs table is scanned or few runs match).
 */
export type Membership = 'exists' | 'in' | 'count';

/** The conditions that must all hold: the operands of the top-level ANDs. */
function conjuncts(filter: Filter): Filter[] {
  return filter.type === 'and' ? [...conjuncts(filter.left), ...conjuncts(filter.right)] : [filter];
}

/**
 * How many runs the most selective top-level metric, param or tag condition matches at most, counted
 * on its (key, value) index; undefined when no such condition narrows the runs.
 */
function fewestMatches(db: Database.Database, filter: Filter): number | undefined {
  let fewest: number | undefined;
  for (const condition of conjuncts(filter)) {
    if (condition.type !== 'compare' && condition.type !== 'in' && condition.type !== 'like') continue;
    if (condition.column.kind === 'attribute') continue;
    if ((condition.type === 'in' || condition.type === 'like') && condition.negated) continue;
    const count = compileFilter(condition, 'count');
    const matches = (db.prepare(`SELECT ${count.text} AS count`).get(...count.values) as { count: number }).count;
    fewest = fewest === undefined ? matches : Math.min(fewest, matches);
  }
  return fewest;
}

/** Below this share of all runs, a condition's set of runs is built once ('in'); above, probed. */
const IN_SET_SHARE = 0.05;

/** The SQL condition of a filter tree over `tracked_runs r`. */
export function compileFilter(filter: Filter, membership: Membership = 'exists'): Sql {
  switch (filter.type) {
    case 'and':
    case 'or': {
      const left = compileFilter(filter.left, membership);
      const right = compileFilter(filter.right, membership);
      return {
        text: `(${left.text} ${filter.type.toUpperCase()} ${right.text})`,
        values: [...left.values, ...right.values],
      };
    }
    case 'not': {
      const operand = compileFilter(filter.operand, membership);
      return { text: `(NOT ${operand.text})`, values: operand.values };
    }
    case 'compare':
      return compileCondition(filter.column, membership, (expression, isNumber) => {
        const value = conditionValue(filter.column, filter.value, filter.at, isNumber);
        return { text: `${expression(typeof value === 'number')} ${filter.op} ?`, values: [value] };
      });
    case 'like':
      if (filter.column.kind === 'metric') {
        throw new FilterError(`LIKE needs text, and metrics.${filter.column.key} is a number`, filter.at);
      }
      return compileCondition(filter.column, membership, (expression) => ({
        text: `${expression(false)} ${filter.negated ? 'NOT LIKE' : 'LIKE'} ?`,
        values: [filter.pattern],
      }));
    case 'in':
      return compileCondition(filter.column, membership, (expression, isNumber) => {
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
  membership: Membership,
  test: (expression: (numeric: boolean) => string, isNumber: boolean) => Sql,
): Sql {
  if (column.kind === 'attribute') {
    const sql = test(() => ATTRIBUTE_SQL[column.key] ?? 'NULL', false);
    return { text: `(${sql.text})`, values: sql.values };
  }
  const table = { metric: 'latest_metrics', param: 'run_params', tag: 'run_tags' }[column.kind];
  const sql = test((numeric) => (column.kind === 'param' && numeric ? 'number' : 'value'), column.kind === 'metric');
  return {
    text:
      membership === 'exists'
        ? `EXISTS (SELECT 1 FROM ${table} WHERE run = r.seq AND key = ? AND ${sql.text})`
        : membership === 'in'
          ? `+r.seq IN (SELECT run FROM ${table} WHERE key = ? AND ${sql.text})`
          : `(SELECT COUNT(*) FROM ${table} WHERE key = ? AND ${sql.text})`,
    values: [column.key, ...sql.values],
  };
}

function conditionValue(column: Column, value: Value, at: number, isNumber: boolean): Value {
  if (isNumber) return metricValue(column, value, at);
  if (column.kind === 'attribute') return attributeValue(column, value, at);
  if (column.kind === 'tag') return String(value);
  return value;
}

const TABLES = { metric: 'latest_metrics', param: 'run_params', tag: 'run_tags' } as const;

/** Attributes that may be NULL sort their NULLs last; the others keep their index usable. */
const NULLABLE_ATTRIBUTES = new Set(['end_time', 'duration', 'git_commit', 'git_branch', 'parent']);

/** ORDER BY terms of `sorts` and the LEFT JOINs they need (aliases s1, s2, ...). */
function orderTerms(sorts: Sort[], firstAlias: number): { joins: Sql; terms: string[] } {
  const joins: string[] = [];
  const values: string[] = [];
  const terms: string[] = [];
  sorts.forEach((sort, index) => {
    const direction = sort.descending ? 'DESC' : 'ASC';
    if (sort.column.kind === 'attribute') {
      const expression = ATTRIBUTE_SQL[sort.column.key] ?? 'NULL';
      if (NULLABLE_ATTRIBUTES.has(sort.column.key)) terms.push(`${expression} IS NULL`);
      terms.push(`${expression} ${direction}`);
      return;
    }
    const alias = `s${firstAlias + index}`;
    joins.push(`LEFT JOIN ${TABLES[sort.column.kind]} ${alias} ON ${alias}.run = r.seq AND ${alias}.key = ?`);
    values.push(sort.column.key);
    terms.push(`${alias}.value IS NULL`);
    // Params sort by number when they are numbers (so 10 comes after 9), text otherwise.
    if (sort.column.kind === 'param') terms.push(`${alias}.number ${direction}`);
    terms.push(`${alias}.value ${direction}`);
  });
  return { joins: { text: joins.join(' '), values }, terms };
}

const SELECT_RUN = `SELECT r.seq, r.id, r.name, (SELECT name FROM experiments WHERE id = r.experiment_id) AS experiment,
  r.status, r.parent_run_id AS parent, r.start_time, r.end_time, (r.end_time - r.start_time) AS duration, r.git_commit`;

type PageRow = Omit<RunRow, 'params' | 'metrics' | 'tags'> & { seq: number };

/**
 * One page of runs. Sorted by a metric, param or tag, the page is read from that value's index in
 * order (so it stops after the page instead of sorting every run), and the runs without the value
 * follow in a second query; sorted by an attribute, from the runs table.
 */
/** Run attributes with an index in sort order (tracked_runs_by_start, tracked_runs_by_name). */
const INDEXED_ATTRIBUTES = new Set(['start_time', 'name']);

function page(
  db: Database.Database,
  filter: Filter | undefined,
  conditionsOf: (membership: Membership) => Sql,
  sorts: Sort[],
  limit: number,
  offset: number,
): PageRow[] {
  const [first, ...rest] = sorts;
  // Read in the order of an index, a page stops early when runs are probed one by one, unless few
  // runs match: then scanning for them costs more than building the small set of matches once.
  // Sorted by an attribute without an index, every run is read and sorted anyway: build the sets.
  let membership: Membership =
    first !== undefined && first.column.kind === 'attribute' && !INDEXED_ATTRIBUTES.has(first.column.key)
      ? 'in'
      : 'exists';
  if (membership === 'exists' && (first === undefined || first.column.kind === 'attribute') && filter !== undefined) {
    const fewest = fewestMatches(db, filter);
    const runs = (db.prepare('SELECT COALESCE(MAX(seq), 0) AS runs FROM tracked_runs').get() as { runs: number }).runs;
    if (fewest !== undefined && fewest < runs * IN_SET_SHARE) membership = 'in';
  }
  const conditions = conditionsOf(membership);
  const where = (extra: string[]): string => {
    const all = [...extra, ...(conditions.text === '' ? [] : [conditions.text])];
    return all.length > 0 ? `WHERE ${all.join(' AND ')}` : '';
  };
  if (first === undefined || first.column.kind === 'attribute') {
    const order = orderTerms(
      sorts.length > 0 ? sorts : [{ column: { kind: 'attribute', key: 'start_time' }, descending: true }],
      1,
    );
    const tieBreak = first?.descending === false ? 'r.seq ASC' : 'r.seq DESC';
    return db
      .prepare(
        `${SELECT_RUN} FROM tracked_runs r ${order.joins.text} ${where([])}
         ORDER BY ${[...order.terms, tieBreak].join(', ')} LIMIT ? OFFSET ?`,
      )
      .all(...order.joins.values, ...conditions.values, limit, offset) as PageRow[];
  }
  const direction = first.descending ? 'DESC' : 'ASC';
  const table = TABLES[first.column.kind];
  const later = orderTerms(rest, 1);
  const driving =
    first.column.kind === 'param' ? [`s0.number ${direction}`, `s0.value ${direction}`] : [`s0.value ${direction}`];
  const rows = db
    .prepare(
      `${SELECT_RUN} FROM ${table} s0 CROSS JOIN tracked_runs r ON r.seq = s0.run ${later.joins.text}
       ${where(['s0.key = ?'])}
       ORDER BY ${[...driving, ...later.terms, `s0.run ${direction}`].join(', ')} LIMIT ? OFFSET ?`,
    )
    .all(...later.joins.values, first.column.key, ...conditions.values, limit, offset) as PageRow[];
  if (rows.length === limit) return rows;
  // The page goes past the runs that have the value: fill it with the ones that do not.
  let withValue = offset + rows.length;
  if (rows.length === 0 && offset > 0) {
    withValue = (
      db
        .prepare(
          `SELECT COUNT(*) AS count FROM ${table} s0 CROSS JOIN tracked_runs r ON r.seq = s0.run ${where(['s0.key = ?'])}`,
        )
        .get(first.column.key, ...conditions.values) as { count: number }
    ).count;
  }
  const missing = db
    .prepare(
      `${SELECT_RUN} FROM tracked_runs r ${later.joins.text}
       ${where([`NOT EXISTS (SELECT 1 FROM ${table} WHERE run = r.seq AND key = ?)`])}
       ORDER BY ${[...later.terms, `r.seq ${direction}`].join(', ')} LIMIT ? OFFSET ?`,
    )
    .all(
      ...later.joins.values,
      first.column.key,
      ...conditions.values,
      limit - rows.length,
      Math.max(0, offset - withValue),
    ) as PageRow[];
  return [...rows, ...missing];
}

/** Runs matching the query, one page, with their params, latest metrics and tags. */
export function queryRuns(db: Database.Database, query: RunQuery = {}): RunRow[] {
  const filter = query.filter && query.filter.trim() !== '' ? parseFilter(query.filter) : undefined;
  const sorts = query.sort && query.sort.trim() !== '' ? parseSort(query.sort) : [];
  const conditionsOf = (membership: Membership): Sql => {
    const parts: string[] = [];
    const values: (string | number)[] = [];
    if (query.experiment !== undefined) {
      parts.push('r.experiment_id = (SELECT id FROM experiments WHERE name = ?)');
      values.push(query.experiment);
    }
    if (filter) {
      const compiled = compileFilter(filter, membership);
      parts.push(compiled.text);
      values.push(...compiled.values);
    }
    return { text: parts.join(' AND '), values };
  };
  // Compiling up front reports a bad value (a metric compared with text) even when no run is read.
  conditionsOf('exists');
  const rows = page(db, filter, conditionsOf, sorts, query.limit ?? 100, query.offset ?? 0);
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
