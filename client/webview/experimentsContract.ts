// The one message contract between the experiments table's host (client/experimentsTable.ts) and its
// webview (client/webview/experiments.ts). Types only: the webview imports nothing else from the host.

/** What a table column holds; `key` is how the filter grammar names it. */
export interface TableColumn {
  /** `metrics.auc`, `params.lr`, `tags.team`, or an attribute: `id`, `name`, `status`, `start_time`... */
  key: string;
  kind: 'attribute' | 'param' | 'metric' | 'tag';
}

/** A cell: a metric is a number, a param or tag its text, a time epoch milliseconds; null when absent. */
export type TableValue = string | number | null;

/** The output of `cairn exp table --json`: one page of matching runs, newest first unless sorted. */
export interface RunTable {
  columns: TableColumn[];
  /** How many runs match; `rows` may hold fewer (the host asks for at most `limit`). */
  total: number;
  /** Values in column order; the `id` column is always first. */
  rows: TableValue[][];
}

/** The table's query, as the CLI takes it. */
export interface TableQuery {
  /** null: every experiment. */
  experiment: string | null;
  filter: string;
  /** `metrics.auc DESC`, or '' for newest first. */
  sort: string;
}

/** A filter the CLI refused: its message, and the 1-based column it points at (0 when it names none). */
export interface FilterProblem {
  message: string;
  column: number;
}

/** Sent by the host: the table for a query (after `initialized`, each query, refresh and store change). */
export interface SetDataMessage {
  type: 'setData';
  /**
   * The `cairn exp table --json` output as the CLI printed it: the webview parses it, so megabytes of
   * rows are not parsed in the extension host and cloned again into the webview.
   */
  tableJson: string;
  query: TableQuery;
  /** Every experiment's name, most recently used first, for the experiment picker. */
  experiments: string[];
  /** At most this many rows are loaded; the status line says so when `total` is larger. */
  limit: number;
}

/** Sent by the host when the CLI refused the filter; the table keeps its rows. */
export interface FilterErrorMessage {
  type: 'filterError';
  query: TableQuery;
  problem: FilterProblem;
}

/** Sent by the host while it asks the CLI. */
export interface LoadingMessage {
  type: 'loading';
}

/** Sent by the host when the table could not be read; `message` says what and what to do. */
export interface ErrorMessage {
  type: 'error';
  message: string;
}

/** The output of `cairn exp compare --json` the compare view shows. */
export interface RunComparison {
  runs: { id: string; name: string; status: string }[];
  params: { key: string; values: (string | null)[]; differs: boolean }[];
  metrics: { key: string; values: (number | null)[]; deltas: (number | null)[] }[];
}

/** One metric's history of one run, from `cairn exp history --json`. */
export interface MetricHistory {
  run: string;
  name: string;
  metric: string;
  steps: number[];
  values: number[];
}

/** Sent by the host: the comparison of selected runs, with every metric history of theirs. */
export interface ComparisonMessage {
  type: 'comparison';
  comparison: RunComparison;
  histories: MetricHistory[];
}

export type HostMessage = SetDataMessage | FilterErrorMessage | LoadingMessage | ErrorMessage | ComparisonMessage;

/** Sent by the webview once its script runs, so the host knows it can push data. */
export interface InitializedMessage {
  type: 'initialized';
}

/** Sent by the webview when the user changes the experiment, filter or sort. */
export interface QueryMessage {
  type: 'query';
  query: TableQuery;
}

/** Sent by the webview's Refresh button. */
export interface RefreshMessage {
  type: 'refresh';
}

/** Sent by the webview's Compare button with the selected run ids (two or more). */
export interface CompareMessage {
  type: 'compare';
  runs: string[];
}

/** Sent by the webview's star toggle: the host tags the run `cairn.starred=true` or removes the tag. */
export interface StarMessage {
  type: 'star';
  run: string;
  starred: boolean;
}

export type WebviewMessage = InitializedMessage | QueryMessage | RefreshMessage | CompareMessage | StarMessage;
