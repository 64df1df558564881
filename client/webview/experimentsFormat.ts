// Pure helpers of the experiments table webview: cell text, column names as the filter grammar
// writes them, the sort of a query, columns with one value, and filter completion. No DOM, so they
// are unit-tested in Node (test/unit/expTableFormat.test.ts).
import type { RunTable, TableColumn, TableValue } from './experimentsContract';

/** The attributes the filter grammar knows (server/engine/tracking/filter.ts). */
export const ATTRIBUTES = [
  'id',
  'name',
  'status',
  'experiment',
  'start_time',
  'end_time',
  'duration',
  'git_commit',
  'git_branch',
  'parent',
];
export const KEYWORDS = ['AND', 'OR', 'NOT', 'LIKE', 'IN'];
const PREFIXES = ['metrics.', 'params.', 'tags.'];

/** A short label for a number: integers as they are, others to 4 significant digits. */
export function tickLabel(value: number): string {
  if (Number.isInteger(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e6)) return value.toExponential(2);
  return String(Number(value.toPrecision(4)));
}

export function formatTime(milliseconds: number): string {
  return new Date(milliseconds).toISOString().replace('T', ' ').slice(0, 19);
}

export function formatDuration(milliseconds: number): string {
  if (milliseconds < 1000) return `${milliseconds}ms`;
  const seconds = milliseconds / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes}m${Math.round(seconds % 60)}s` : `${Math.floor(minutes / 60)}h${minutes % 60}m`;
}

/** The text of a cell: times and durations readable, ids short, numbers to 4 significant digits. */
export function formatCell(column: TableColumn, value: TableValue): string {
  if (value === null) return '';
  if (typeof value === 'number') {
    if (column.key === 'start_time' || column.key === 'end_time') return formatTime(value);
    if (column.key === 'duration') return formatDuration(value);
    return tickLabel(value);
  }
  if (column.key === 'id' || column.key === 'parent') return value.slice(0, 8);
  return value;
}

/** How the sort and the filter name a column: keys with odd characters go in backticks. */
export function columnName(column: TableColumn): string {
  if (column.kind === 'attribute') return column.key;
  const dot = column.key.indexOf('.');
  const key = column.key.slice(dot + 1);
  return /^[\w.\-/]+$/.test(key) ? column.key : `${column.key.slice(0, dot)}.\`${key}\``;
}

export function columnWidth(column: TableColumn): number {
  if (column.key === 'id' || column.key === 'parent') return 84;
  if (column.key === 'name') return 170;
  if (column.key === 'start_time' || column.key === 'end_time') return 150;
  return Math.max(84, Math.min(240, column.key.length * 7.5 + 60));
}

/** The columns that have one value (absent counts as a value) in every row. */
export function constantColumns(table: RunTable): Set<string> {
  const constant = new Set<string>();
  table.columns.forEach((column, index) => {
    const first = table.rows[0]?.[index] ?? null;
    if (table.rows.every((row) => (row[index] ?? null) === first)) constant.add(column.key);
  });
  return constant;
}

/** The column and direction of a one-column sort (`metrics.auc DESC`), or null. */
export function parseSortText(sort: string): { name: string; descending: boolean } | null {
  const match = /^(\S+)(?:\s+(ASC|DESC))?$/i.exec(sort.trim());
  if (!match?.[1]) return null;
  return { name: match[1], descending: (match[2] ?? 'ASC').toUpperCase() === 'DESC' };
}

/** The sort after clicking a column's header: largest first, and the other way on a second click. */
export function nextSort(current: string, name: string): string {
  const sort = parseSortText(current);
  const descending = sort?.name === name ? !sort.descending : true;
  return `${name} ${descending ? 'DESC' : 'ASC'}`;
}

/** Every name the filter may use: the kinds, the table's columns, the attributes, the keywords. */
export function completionNames(columns: readonly TableColumn[]): string[] {
  const names = new Set<string>([...PREFIXES, ...ATTRIBUTES]);
  for (const column of columns) if (column.kind !== 'attribute') names.add(columnName(column));
  return [...names, ...KEYWORDS];
}

/** The word being typed before `caret`: where it starts and what it is. */
export function wordAt(text: string, caret: number): { start: number; word: string } {
  let start = caret;
  while (start > 0 && /[\w.`\-/]/.test(text[start - 1] ?? '')) start--;
  return { start, word: text.slice(start, caret) };
}

/** The names that complete `word` (case-insensitive prefix, not the word itself), at most `limit`. */
export function completionsOf(names: readonly string[], word: string, limit = 12): string[] {
  const lower = word.toLowerCase();
  return names.filter((name) => name.toLowerCase().startsWith(lower) && name.toLowerCase() !== lower).slice(0, limit);
}

/**
 * The text and caret after accepting `name` for the word before `caret`. A kind (`metrics.`) stays
 * open for its key; a column or keyword is followed by a space.
 */
export function acceptCompletion(text: string, caret: number, name: string): { text: string; caret: number } {
  const { start } = wordAt(text, caret);
  const insert = name.endsWith('.') ? name : `${name} `;
  return { text: text.slice(0, start) + insert + text.slice(caret), caret: start + insert.length };
}
