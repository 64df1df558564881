// Data quality checks over a table: the declared schema (column types, nullability) and the checks
// listed with a dataset (type, not_null, range, allowed, unique, rows, freshness). Each failure names
// the column, the rule, how many rows violate it and up to five examples with their row numbers.
import { isTimestampText } from './infer';
import type { Table, Value } from './sources';
import type { CheckSpec, ColumnType, DatasetSpec } from './spec';

export interface Example {
  /** 1-based row number in the data (the header of a CSV is not a row). */
  row: number;
  /** 1-based line in the source file, for text sources. */
  line?: number;
  value: Value;
}

export interface CheckFailure {
  /** The rule as written, such as "range [0, 120]" or "not_null". */
  rule: string;
  column?: string;
  /** The line of the check (or of the dataset, for schema declarations) in the pipeline file. */
  specLine: number;
  violations: number;
  examples: Example[];
  /** One sentence: what failed and what to do. */
  message: string;
}

const EXAMPLES = 5;

/** Whether a value has a declared type; `string` accepts any value, since CSV text is cast. */
export function hasType(value: Exclude<Value, null>, type: ColumnType): boolean {
  switch (type) {
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'timestamp':
      // ISO 8601 text or epoch seconds, as the schema documents.
      return typeof value === 'number' || (typeof value === 'string' && isTimestampText(value));
    case 'string':
      return true;
  }
}

/** The failures of a table against a dataset's schema and checks; empty when it passes. */
export function runChecks(table: Table, dataset: DatasetSpec, now: number): CheckFailure[] {
  const failures: CheckFailure[] = [];
  const present = new Set(table.columns);
  for (const column of dataset.columns) {
    const base = { column: column.name, specLine: dataset.line };
    if (!present.has(column.name)) {
      failures.push(missingColumn(column.name, `schema`, dataset.line, table));
      continue;
    }
    failures.push(
      ...violations(table, column.name, { ...base, rule: `type ${column.type}` }, (value) =>
        value === null ? false : !hasType(value, column.type),
      ),
    );
    if (!column.nullable)
      failures.push(...violations(table, column.name, { ...base, rule: 'nullable: false' }, (value) => value === null));
  }
  for (const check of dataset.checks) failures.push(...runCheck(table, check, now));
  return failures;
}

function runCheck(table: Table, check: CheckSpec, now: number): CheckFailure[] {
  if (check.kind === 'rows') {
    const count = table.rows.length;
    if ((check.min === undefined || count >= check.min) && (check.max === undefined || count <= check.max)) return [];
    const rule = `rows ${bounds(check.min, check.max)}`;
    return [
      {
        rule,
        specLine: check.line,
        violations: count,
        examples: [],
        message: `${count} rows, outside ${bounds(check.min, check.max)}. Check the source, or change the bounds of the rows check.`,
      },
    ];
  }
  if (!table.columns.includes(check.column)) return [missingColumn(check.column, check.kind, check.line, table)];
  const base = { column: check.column, specLine: check.line };
  switch (check.kind) {
    case 'type':
      return violations(table, check.column, { ...base, rule: `type ${check.type}` }, (value) =>
        value === null ? false : !hasType(value, check.type),
      );
    case 'not_null':
      return violations(table, check.column, { ...base, rule: 'not_null' }, (value) => value === null);
    case 'range':
      return violations(
        table,
        check.column,
        { ...base, rule: `range ${bounds(check.min, check.max)}` },
        (value) =>
          value !== null &&
          (typeof value !== 'number' ||
            (check.min !== undefined && value < check.min) ||
            (check.max !== undefined && value > check.max)),
      );
    case 'allowed': {
      const allowed = new Set(check.values.map((value) => String(value)));
      return violations(
        table,
        check.column,
        { ...base, rule: `allowed [${check.values.map((value) => JSON.stringify(value)).join(', ')}]` },
        (value) => value !== null && !allowed.has(String(value)),
      );
    }
    case 'unique': {
      const seen = new Set<Value>();
      return violations(table, check.column, { ...base, rule: 'unique' }, (value) => {
        if (value === null) return false;
        if (seen.has(value)) return true;
        seen.add(value);
        return false;
      });
    }
    case 'freshness':
      return freshness(table, check, now);
  }
}

function freshness(table: Table, check: Extract<CheckSpec, { kind: 'freshness' }>, now: number): CheckFailure[] {
  let newest: { time: number; example: Example } | null = null;
  table.rows.forEach((row, index) => {
    const value = row[check.column] ?? null;
    const time = instantOf(value);
    if (time === null || (newest && newest.time >= time)) return;
    newest = { time, example: example(table, index, value) };
  });
  const rule = `freshness max_age ${check.maxAge}`;
  const found = newest as { time: number; example: Example } | null;
  if (found === null)
    return [
      {
        rule,
        column: check.column,
        specLine: check.line,
        violations: table.rows.length,
        examples: [],
        message: `column '${check.column}' holds no timestamp. Give ISO 8601 texts or epoch seconds.`,
      },
    ];
  if (now - found.time <= check.maxAgeMs) return [];
  return [
    {
      rule,
      column: check.column,
      specLine: check.line,
      violations: 1,
      examples: [found.example],
      message: `the newest '${check.column}' is ${new Date(found.time).toISOString()}, older than ${check.maxAge}. Refresh the source, or raise max_age.`,
    },
  ];
}

/** The instant of a timestamp value in milliseconds (epoch seconds for numbers), or null. */
function instantOf(value: Value): number | null {
  if (typeof value === 'number') return value * 1000;
  if (typeof value === 'string' && isTimestampText(value)) return Date.parse(value);
  return null;
}

function violations(
  table: Table,
  column: string,
  failure: { rule: string; column: string; specLine: number },
  violates: (value: Value) => boolean,
): CheckFailure[] {
  let count = 0;
  const examples: Example[] = [];
  table.rows.forEach((row, index) => {
    const value = row[column] ?? null;
    if (!violates(value)) return;
    count++;
    if (examples.length < EXAMPLES) examples.push(example(table, index, value));
  });
  if (count === 0) return [];
  return [
    {
      ...failure,
      violations: count,
      examples,
      message: `${count} violating row${count === 1 ? '' : 's'}. Fix the data, or change the check if the data is right.`,
    },
  ];
}

function missingColumn(column: string, rule: string, specLine: number, table: Table): CheckFailure {
  return {
    rule,
    column,
    specLine,
    violations: table.rows.length,
    examples: [],
    message: `column '${column}' is not in the data (its columns: ${table.columns.join(', ') || 'none'}). Fix the column name.`,
  };
}

function example(table: Table, index: number, value: Value): Example {
  const line = table.lines?.[index];
  return line === undefined ? { row: index + 1, value } : { row: index + 1, line, value };
}

function bounds(min: number | undefined, max: number | undefined): string {
  return `[${min ?? '-∞'}, ${max ?? '∞'}]`;
}
