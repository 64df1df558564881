// Schema inference: each column's type (integer, number, boolean, timestamp, string) and whether it
// holds nulls, from the values read. A column with mixed types is a string column; a column with
// no values at all is a nullable string column.
import type { Table, Value } from './sources';
import type { ColumnType } from './spec';

export interface InferredColumn {
  name: string;
  type: ColumnType;
  nullable: boolean;
}

export interface InferredSchema {
  columns: InferredColumn[];
}

/** ISO 8601 dates and date-times: 2024-05-01, 2024-05-01T12:30:00Z, 2024-05-01 12:30:00.5+02:00. */
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** Whether a string is an ISO 8601 date or date-time that names a real instant. */
export function isTimestampText(text: string): boolean {
  return ISO_TIMESTAMP.test(text) && !Number.isNaN(Date.parse(text));
}

/** The type of one non-null value. */
export function typeOfValue(value: Exclude<Value, null>): ColumnType {
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return isTimestampText(value) ? 'timestamp' : 'string';
}

/** The narrowest type that holds values of both types. */
function widen(a: ColumnType, b: ColumnType): ColumnType {
  if (a === b) return a;
  if ((a === 'integer' && b === 'number') || (a === 'number' && b === 'integer')) return 'number';
  return 'string';
}

/** The inferred schema of a table. */
export function inferSchema(table: Table): InferredSchema {
  return {
    columns: table.columns.map((name) => {
      let type: ColumnType | null = null;
      let nullable = false;
      for (const row of table.rows) {
        const value = row[name] ?? null;
        if (value === null) nullable = true;
        else type = type === null ? typeOfValue(value) : widen(type, typeOfValue(value));
      }
      return { name, type: type ?? 'string', nullable: nullable || table.rows.length === 0 };
    }),
  };
}
