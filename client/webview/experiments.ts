/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The experiments table webview: runs as rows, params, metrics and tags as columns. Only the rows in
// view are in the DOM (fixed row height, rebuilt on scroll), so 10,000 runs × 50 columns scroll
// smoothly. Sorting and filtering are the CLI's (the host re-queries); hiding columns, "only changed"
// and selection are local. Compare shows the host's `exp compare` and metric histories as SVG charts.
// It talks to the host only through the messages of experimentsContract.ts. DOM only.
import { historyChart, scatterChart, SERIES_COLOURS, tickLabel } from './experimentsCharts';
import type { ScatterPoint } from './experimentsCharts';
import type {
  ComparisonMessage,
  FilterProblem,
  HostMessage,
  RunTable,
  TableColumn,
  TableQuery,
  TableValue,
  WebviewMessage,
} from './experimentsContract';
import './experiments.css';

interface SavedState {
  hidden: string[];
  onlyChanged: boolean;
}

declare function acquireVsCodeApi(): {
  postMessage(message: WebviewMessage): void;
  getState(): SavedState | undefined;
  setState(state: SavedState): void;
};

const vscode = acquireVsCodeApi();
const ROW_HEIGHT = 24;
/** Rows drawn above and below the visible ones, so a fast scroll does not show blanks. */
const OVERSCAN = 10;
const STARRED_TAG = 'tags.cairn.starred';
/** The attributes the filter grammar knows (server/engine/tracking/filter.ts). */
const ATTRIBUTES = [
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
const KEYWORDS = ['AND', 'OR', 'NOT', 'LIKE', 'IN'];
/** Columns "only changed" never hides: without them a row names no run. */
const ALWAYS_SHOWN = new Set(['name']);

const saved = vscode.getState();
const state = {
  table: null as RunTable | null,
  query: { experiment: null, filter: '', sort: '' } as TableQuery,
  experiments: [] as string[],
  limit: 0,
  hidden: new Set<string>(saved?.hidden ?? []),
  onlyChanged: saved?.onlyChanged ?? false,
  /** Columns with one value over every loaded row. */
  constant: new Set<string>(),
  selected: new Set<string>(),
  /** Indexes into table.columns of the columns shown, in order. */
  shown: [] as number[],
  widths: [] as number[],
  comparison: null as ComparisonMessage | null,
};

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text = ''): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

function button(label: string, title: string, onClick: () => void): HTMLButtonElement {
  const node = element('button', '', label);
  node.title = title;
  node.type = 'button';
  node.addEventListener('click', onClick);
  return node;
}

// The page: toolbar, filter problem, column chooser, the grid, and the compare view.
const root = document.getElementById('root') ?? document.body;
const toolbar = element('div', 'toolbar');
const experimentPicker = element('select');
experimentPicker.title = 'Experiment';
experimentPicker.setAttribute('aria-label', 'Experiment');
const filterBox = element('div', 'filter-box');
const filterInput = element('input', 'filter');
filterInput.type = 'text';
filterInput.placeholder = "Filter, e.g. metrics.auc >= 0.8 AND params.model = 'tree'";
filterInput.setAttribute('aria-label', 'Filter runs');
filterInput.spellcheck = false;
const suggestions = element('ul', 'suggestions');
suggestions.setAttribute('role', 'listbox');
filterBox.append(filterInput, suggestions);
const applyButton = button('Apply', 'Apply the filter (Enter)', () => applyFilter());
const refreshButton = button('Refresh', 'Read the runs again', () => post({ type: 'refresh' }));
const onlyChangedLabel = element('label', 'toggle');
const onlyChangedBox = element('input');
onlyChangedBox.type = 'checkbox';
onlyChangedLabel.append(onlyChangedBox, document.createTextNode(' Only changed'));
onlyChangedLabel.title = 'Hide the columns that have one value in every run';
const columnsButton = button('Columns', 'Choose the columns to show', () => toggleColumnChooser());
const compareButton = button('Compare', 'Compare the selected runs', () =>
  post({ type: 'compare', runs: [...state.selected] }),
);
const status = element('span', 'status');
status.setAttribute('role', 'status');
toolbar.append(
  experimentPicker,
  filterBox,
  applyButton,
  refreshButton,
  onlyChangedLabel,
  columnsButton,
  compareButton,
  status,
);
const problem = element('div', 'filter-problem');
problem.setAttribute('role', 'alert');
const chooser = element('div', 'column-chooser');
const banner = element('div', 'banner');
const grid = element('div', 'grid');
grid.tabIndex = 0;
const header = element('div', 'header');
const body = element('div', 'body');
grid.append(header, body);
const compareView = element('section', 'compare');
root.append(toolbar, problem, chooser, banner, grid, compareView);

function post(message: WebviewMessage): void {
  vscode.postMessage(message);
}

function saveState(): void {
  vscode.setState({ hidden: [...state.hidden], onlyChanged: state.onlyChanged });
}

// Formatting of cells.

function formatTime(milliseconds: number): string {
  return new Date(milliseconds).toISOString().replace('T', ' ').slice(0, 19);
}

function formatDuration(milliseconds: number): string {
  if (milliseconds < 1000) return `${milliseconds}ms`;
  const seconds = milliseconds / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes}m${Math.round(seconds % 60)}s` : `${Math.floor(minutes / 60)}h${minutes % 60}m`;
}

function formatCell(column: TableColumn, value: TableValue): string {
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
function columnName(column: TableColumn): string {
  if (column.kind === 'attribute') return column.key;
  const dot = column.key.indexOf('.');
  const key = column.key.slice(dot + 1);
  return /^[\w.\-/]+$/.test(key) ? column.key : `${column.key.slice(0, dot)}.\`${key}\``;
}

function columnWidth(column: TableColumn): number {
  if (column.key === 'id' || column.key === 'parent') return 84;
  if (column.key === 'name') return 170;
  if (column.key === 'start_time' || column.key === 'end_time') return 150;
  return Math.max(84, Math.min(220, column.key.length * 7.5 + 44));
}

// The table.

function computeConstantColumns(table: RunTable): Set<string> {
  const constant = new Set<string>();
  table.columns.forEach((column, index) => {
    const first = table.rows[0]?.[index] ?? null;
    if (table.rows.every((row) => (row[index] ?? null) === first)) constant.add(column.key);
  });
  return constant;
}

function updateShownColumns(): void {
  const table = state.table;
  state.shown = [];
  state.widths = [];
  if (!table) return;
  table.columns.forEach((column, index) => {
    if (state.hidden.has(column.key)) return;
    if (state.onlyChanged && state.constant.has(column.key) && !ALWAYS_SHOWN.has(column.key)) return;
    state.shown.push(index);
    state.widths.push(columnWidth(column));
  });
}

/** The sort of the current query: which column and which way, or null. */
function currentSort(): { name: string; descending: boolean } | null {
  const match = /^(\S+)(?:\s+(ASC|DESC))?$/i.exec(state.query.sort.trim());
  if (!match?.[1]) return null;
  return { name: match[1], descending: (match[2] ?? 'ASC').toUpperCase() === 'DESC' };
}

function renderHeader(): void {
  const table = state.table;
  header.replaceChildren();
  if (!table) return;
  const sort = currentSort();
  const total = state.widths.reduce((sum, width) => sum + width, 0) + 56;
  header.style.width = `${total}px`;
  body.style.width = `${total}px`;
  const selectAll = element('div', 'cell check');
  const star = element('div', 'cell star', '★');
  star.title = 'Starred';
  header.append(selectAll, star);
  state.shown.forEach((index, at) => {
    const column = table.columns[index];
    if (!column) return;
    const name = columnName(column);
    const cell = element('div', `cell head ${column.kind}`);
    cell.style.width = `${state.widths[at] ?? 100}px`;
    cell.dataset['column'] = column.key;
    cell.title = `${column.key} (${column.kind}): click to sort`;
    cell.setAttribute('role', 'columnheader');
    const label = element('span', 'label', column.key);
    cell.append(label);
    if (sort?.name === name) {
      cell.classList.add('sorted');
      cell.setAttribute('aria-sort', sort.descending ? 'descending' : 'ascending');
      cell.append(element('span', 'arrow', sort.descending ? '▼' : '▲'));
    }
    cell.tabIndex = 0;
    cell.addEventListener('click', () => sortBy(name));
    cell.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' && event.key !== ' ') return;
      event.preventDefault();
      sortBy(name);
    });
    header.append(cell);
  });
}

/** Clicking a header sorts by it, best (largest) first; clicking again flips the direction. */
function sortBy(name: string): void {
  const sort = currentSort();
  const descending = sort?.name === name ? !sort.descending : true;
  post({ type: 'query', query: { ...state.query, sort: `${name} ${descending ? 'DESC' : 'ASC'}` } });
}

/**
 * The rows in the DOM by row index. Scrolling reuses the elements of rows that left the view for the
 * rows that entered it, changing only their texts: far cheaper than building ~3,000 cells anew. A
 * change of columns (force) starts over.
 */
const drawn = new Map<number, HTMLElement>();

/** An empty row element with one cell per shown column. */
function rowElement(table: RunTable): HTMLElement {
  const row = element('div', 'row');
  row.setAttribute('role', 'row');
  const check = element('div', 'cell check');
  const box = element('input');
  box.type = 'checkbox';
  check.append(box);
  row.append(check, element('div', 'cell star'));
  state.shown.forEach((columnIndex, at) => {
    const column = table.columns[columnIndex];
    const cell = element('div', `cell ${column?.kind ?? ''}`);
    cell.style.width = `${state.widths[at] ?? 100}px`;
    cell.dataset['column'] = column?.key ?? '';
    row.append(cell);
  });
  return row;
}

/** Writes row `index` of the table into a row element. */
function fillRow(row: HTMLElement, table: RunTable, index: number, idColumn: number, starColumn: number): void {
  const values = table.rows[index] ?? [];
  const runId = String(values[idColumn] ?? '');
  const selected = state.selected.has(runId);
  row.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
  row.dataset['rowIndex'] = String(index);
  row.dataset['run'] = runId;
  row.classList.toggle('selected', selected);
  const cells = row.children;
  const box = cells[0]?.firstElementChild;
  if (box instanceof HTMLInputElement) {
    box.checked = selected;
    box.dataset['run'] = runId;
    box.setAttribute('aria-label', `Select run ${runId.slice(0, 8)}`);
  }
  const star = cells[1];
  if (star instanceof HTMLElement) {
    const starred = starColumn !== -1 && values[starColumn] === 'true';
    star.classList.toggle('on', starred);
    star.textContent = starred ? '★' : '☆';
    star.title = starred ? 'Unstar' : 'Star';
    star.dataset['run'] = runId;
    star.dataset['starred'] = String(starred);
  }
  state.shown.forEach((columnIndex, at) => {
    const cell = cells[at + 2];
    const column = table.columns[columnIndex];
    if (!(cell instanceof HTMLElement) || !column) return;
    const value = values[columnIndex] ?? null;
    cell.textContent = formatCell(column, value);
    if (value === null) cell.removeAttribute('title');
    else cell.title = String(value);
  });
}

function renderRows(force = false): void {
  const table = state.table;
  if (force || !table) {
    drawn.clear();
    body.replaceChildren();
  }
  if (!table) {
    body.style.height = '0px';
    return;
  }
  body.style.height = `${table.rows.length * ROW_HEIGHT}px`;
  const top = Math.max(0, grid.scrollTop - header.offsetHeight);
  const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(table.rows.length, Math.ceil((top + grid.clientHeight) / ROW_HEIGHT) + OVERSCAN);
  const free: HTMLElement[] = [];
  for (const [index, row] of drawn) {
    if (index >= first && index < last) continue;
    drawn.delete(index);
    free.push(row);
  }
  const idColumn = table.columns.findIndex((column) => column.key === 'id');
  const starColumn = table.columns.findIndex((column) => column.key === STARRED_TAG);
  const added = document.createDocumentFragment();
  for (let index = first; index < last; index++) {
    if (drawn.has(index)) continue;
    let row = free.pop();
    if (!row) {
      row = rowElement(table);
      added.append(row);
    }
    fillRow(row, table, index, idColumn, starColumn);
    drawn.set(index, row);
  }
  for (const row of free) row.remove();
  body.append(added);
}

// One listener for every row's checkbox and star, instead of one per cell.
body.addEventListener('change', (event) => {
  const target = event.target;
  if (!(target instanceof HTMLInputElement) || target.dataset['run'] === undefined) return;
  const run = target.dataset['run'];
  if (target.checked) state.selected.add(run);
  else state.selected.delete(run);
  target.closest('.row')?.classList.toggle('selected', target.checked);
  updateStatus();
});
body.addEventListener('click', (event) => {
  const target = event.target;
  if (!(target instanceof HTMLElement) || !target.classList.contains('star') || target.dataset['run'] === undefined)
    return;
  post({ type: 'star', run: target.dataset['run'], starred: target.dataset['starred'] !== 'true' });
});

let scrollScheduled = false;
grid.addEventListener('scroll', () => {
  if (scrollScheduled) return;
  scrollScheduled = true;
  requestAnimationFrame(() => {
    scrollScheduled = false;
    renderRows();
  });
});
new ResizeObserver(() => renderRows()).observe(grid);

function updateStatus(): void {
  const table = state.table;
  compareButton.disabled = state.selected.size < 2;
  compareButton.textContent = state.selected.size >= 2 ? `Compare ${state.selected.size}` : 'Compare';
  if (!table) return;
  const shown = table.rows.length;
  const runs = `${table.total.toLocaleString('en-US')} run${table.total === 1 ? '' : 's'}`;
  const loaded = shown < table.total ? `first ${shown.toLocaleString('en-US')} of ${runs}` : runs;
  const hidden = table.columns.length - state.shown.length;
  status.textContent = `${loaded} · ${state.shown.length} columns${hidden > 0 ? ` (${hidden} hidden)` : ''}${
    state.selected.size > 0 ? ` · ${state.selected.size} selected` : ''
  }`;
}

function renderTable(): void {
  updateShownColumns();
  renderHeader();
  renderRows(true);
  updateStatus();
  if (chooser.classList.contains('open')) renderColumnChooser();
}

function renderExperiments(): void {
  const options = [element('option', '', 'All experiments')];
  options[0]!.value = '';
  for (const name of state.experiments) {
    const option = element('option', '', name);
    option.value = name;
    options.push(option);
  }
  experimentPicker.replaceChildren(...options);
  experimentPicker.value = state.query.experiment ?? '';
}

experimentPicker.addEventListener('change', () => {
  const experiment = experimentPicker.value === '' ? null : experimentPicker.value;
  post({ type: 'query', query: { ...state.query, experiment } });
});
onlyChangedBox.addEventListener('change', () => {
  state.onlyChanged = onlyChangedBox.checked;
  saveState();
  renderTable();
});

// The column chooser.

function toggleColumnChooser(): void {
  chooser.classList.toggle('open');
  if (chooser.classList.contains('open')) renderColumnChooser();
}

function renderColumnChooser(): void {
  const table = state.table;
  const items: HTMLElement[] = [];
  const actions = element('div', 'chooser-actions');
  actions.append(
    button('Show all', 'Show every column', () => {
      state.hidden.clear();
      saveState();
      renderTable();
    }),
    button('Close', 'Close the column chooser', () => chooser.classList.remove('open')),
  );
  items.push(actions);
  for (const column of table?.columns ?? []) {
    const label = element('label', 'choice');
    const box = element('input');
    box.type = 'checkbox';
    box.checked = !state.hidden.has(column.key);
    box.addEventListener('change', () => {
      if (box.checked) state.hidden.delete(column.key);
      else state.hidden.add(column.key);
      saveState();
      renderTable();
    });
    const constant = state.constant.has(column.key) ? ' (one value)' : '';
    label.append(box, document.createTextNode(` ${column.key}${constant}`));
    items.push(label);
  }
  chooser.replaceChildren(...items);
}

// The filter: apply on Enter, complete column names, show the CLI's problem under the box.

function applyFilter(): void {
  hideSuggestions();
  post({ type: 'query', query: { ...state.query, filter: filterInput.value } });
}

function showProblem(filter: string, found: FilterProblem | null): void {
  problem.replaceChildren();
  filterInput.classList.toggle('invalid', found !== null);
  filterInput.setAttribute('aria-invalid', String(found !== null));
  if (!found) return;
  problem.append(element('div', 'message', found.message));
  if (found.column > 0) {
    const pointer = element('pre', 'pointer', `${filter}\n${' '.repeat(found.column - 1)}^`);
    problem.append(pointer);
  }
}

/** Every name the filter may use: the table's columns, the attributes, and the keywords. */
function completionNames(): string[] {
  const names = new Set<string>(ATTRIBUTES);
  for (const column of state.table?.columns ?? []) if (column.kind !== 'attribute') names.add(columnName(column));
  return [...names, ...KEYWORDS];
}

/** The word being typed at the caret: where it starts and what it is. */
function wordAtCaret(): { start: number; end: number; word: string } {
  const caret = filterInput.selectionStart ?? filterInput.value.length;
  const text = filterInput.value;
  let start = caret;
  while (start > 0 && /[\w.`\-/]/.test(text[start - 1] ?? '')) start--;
  return { start, end: caret, word: text.slice(start, caret) };
}

let activeSuggestion = 0;

function updateSuggestions(force = false): void {
  const { word } = wordAtCaret();
  if (word === '' && !force) {
    hideSuggestions();
    return;
  }
  const lower = word.toLowerCase();
  const matches = completionNames()
    .filter((name) => name.toLowerCase().startsWith(lower) && name.toLowerCase() !== lower)
    .slice(0, 12);
  if (matches.length === 0) {
    hideSuggestions();
    return;
  }
  activeSuggestion = 0;
  suggestions.replaceChildren(
    ...matches.map((name, index) => {
      const item = element('li', index === 0 ? 'active' : '', name);
      item.setAttribute('role', 'option');
      item.addEventListener('mousedown', (event) => {
        event.preventDefault();
        acceptSuggestion(name);
      });
      return item;
    }),
  );
  suggestions.classList.add('open');
}

function hideSuggestions(): void {
  suggestions.classList.remove('open');
  suggestions.replaceChildren();
}

function acceptSuggestion(name: string): void {
  const { start, end } = wordAtCaret();
  const text = filterInput.value;
  const keyword = KEYWORDS.includes(name);
  const insert = name.endsWith('.') || keyword ? `${name}${keyword ? ' ' : ''}` : `${name} `;
  filterInput.value = text.slice(0, start) + insert + text.slice(end);
  const caret = start + insert.length;
  filterInput.setSelectionRange(caret, caret);
  hideSuggestions();
  filterInput.focus();
}

filterInput.addEventListener('input', () => updateSuggestions());
filterInput.addEventListener('blur', () => hideSuggestions());
filterInput.addEventListener('keydown', (event) => {
  const items = [...suggestions.children] as HTMLElement[];
  const open = suggestions.classList.contains('open') && items.length > 0;
  if (event.key === ' ' && event.ctrlKey) {
    event.preventDefault();
    updateSuggestions(true);
  } else if (open && (event.key === 'ArrowDown' || event.key === 'ArrowUp')) {
    event.preventDefault();
    items[activeSuggestion]?.classList.remove('active');
    activeSuggestion = (activeSuggestion + (event.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
    items[activeSuggestion]?.classList.add('active');
  } else if (open && (event.key === 'Tab' || event.key === 'Enter')) {
    event.preventDefault();
    acceptSuggestion(items[activeSuggestion]?.textContent ?? '');
  } else if (event.key === 'Escape') {
    hideSuggestions();
  } else if (event.key === 'Enter') {
    event.preventDefault();
    applyFilter();
  }
});

// The compare view.

function renderComparison(message: ComparisonMessage): void {
  const { comparison } = message;
  const runs = comparison.runs;
  const close = button('Close', 'Close the comparison', () => {
    state.comparison = null;
    compareView.classList.remove('open');
    compareView.replaceChildren();
  });
  const heading = element('div', 'compare-heading');
  heading.append(element('h2', '', `Comparing ${runs.length} runs`), close);
  const legend = element('div', 'legend');
  runs.forEach((run, index) => {
    const item = element('span', 'legend-item', `${run.name} (${run.id.slice(0, 8)})`);
    item.style.setProperty('--swatch', SERIES_COLOURS[index % SERIES_COLOURS.length] ?? 'currentColor');
    legend.append(item);
  });
  const tables = element('div', 'compare-tables');
  const differs = comparison.params.filter((param) => param.differs);
  const paramTable = element('table', 'diff params');
  paramTable.createCaption().textContent =
    differs.length === 0
      ? 'Params: all the same'
      : `Params that differ (${comparison.params.length - differs.length} the same)`;
  if (differs.length > 0) {
    const head = paramTable.createTHead().insertRow();
    for (const title of ['param', ...runs.map((run) => run.name)]) head.append(element('th', '', title));
    for (const param of differs) {
      const row = paramTable.insertRow();
      row.append(element('th', '', param.key));
      for (const value of param.values) row.append(element('td', value === null ? 'absent' : '', value ?? '—'));
    }
  }
  const metricTable = element('table', 'diff metrics');
  metricTable.createCaption().textContent = 'Metrics (latest, delta from the first run)';
  const metricHead = metricTable.createTHead().insertRow();
  for (const title of ['metric', ...runs.map((run) => run.name)]) metricHead.append(element('th', '', title));
  for (const metric of comparison.metrics) {
    const row = metricTable.insertRow();
    row.append(element('th', '', metric.key));
    metric.values.forEach((value, index) => {
      const cell = element('td', '', value === null ? '—' : tickLabel(value));
      const delta = metric.deltas[index];
      if (index > 0 && delta !== null && delta !== undefined && delta !== 0) {
        cell.append(
          element('span', delta > 0 ? 'delta up' : 'delta down', ` ${delta > 0 ? '+' : ''}${tickLabel(delta)}`),
        );
      }
      row.append(cell);
    });
  }
  tables.append(paramTable, metricTable);
  compareView.replaceChildren(heading, legend, tables, chartsOf(message));
  compareView.classList.add('open');
}

function chartsOf(message: ComparisonMessage): HTMLElement {
  const { comparison, histories } = message;
  const charts = element('div', 'charts');
  // History of one metric for the selected runs.
  const metrics = [...new Set(histories.map((history) => history.metric))];
  const historyBox = element('figure', 'chart-box history');
  const metricPicker = element('select');
  metricPicker.setAttribute('aria-label', 'Metric history to chart');
  for (const metric of metrics) metricPicker.append(new Option(metric, metric));
  const sorted = currentSort()?.name.replace(/^metrics\./, '');
  if (sorted && metrics.includes(sorted)) metricPicker.value = sorted;
  const historyPlot = element('div', 'plot');
  const drawHistory = (): void => {
    const metric = metricPicker.value;
    const series = comparison.runs.map((run) => {
      const history = histories.find((each) => each.run === run.id && each.metric === metric);
      return { label: run.name, steps: history?.steps ?? [], values: history?.values ?? [] };
    });
    historyPlot.replaceChildren(historyChart(metric, series));
  };
  metricPicker.addEventListener('change', drawHistory);
  const historyCaption = element('figcaption', '', 'History of ');
  historyCaption.append(metricPicker);
  historyBox.append(historyCaption, historyPlot);
  if (metrics.length > 0) drawHistory();
  else historyPlot.textContent = 'The selected runs logged no metric history.';
  charts.append(historyBox);
  // A param against a metric over every loaded run.
  const table = state.table;
  if (table) {
    const params = table.columns.filter((column) => column.kind === 'param');
    const tableMetrics = table.columns.filter((column) => column.kind === 'metric');
    if (params.length > 0 && tableMetrics.length > 0) {
      const scatterBox = element('figure', 'chart-box scatter');
      const paramPicker = element('select');
      paramPicker.setAttribute('aria-label', 'Param on the x axis');
      for (const column of params) paramPicker.append(new Option(column.key, column.key));
      const firstDiffering = comparison.params.find((param) => param.differs);
      if (firstDiffering) paramPicker.value = `params.${firstDiffering.key}`;
      const objectivePicker = element('select');
      objectivePicker.setAttribute('aria-label', 'Metric on the y axis');
      for (const column of tableMetrics) objectivePicker.append(new Option(column.key, column.key));
      const sortedMetric = currentSort()?.name;
      if (sortedMetric && tableMetrics.some((column) => column.key === sortedMetric))
        objectivePicker.value = sortedMetric;
      const scatterPlot = element('div', 'plot');
      const drawScatter = (): void => {
        const x = table.columns.findIndex((column) => column.key === paramPicker.value);
        const y = table.columns.findIndex((column) => column.key === objectivePicker.value);
        const idColumn = table.columns.findIndex((column) => column.key === 'id');
        const nameColumn = table.columns.findIndex((column) => column.key === 'name');
        const selected = new Map(comparison.runs.map((run, index) => [run.id, index]));
        const points: ScatterPoint[] = table.rows.map((row) => {
          const xValue = row[x] ?? null;
          const yValue = row[y] ?? null;
          return {
            x: xValue === null ? null : String(xValue),
            y: typeof yValue === 'number' ? yValue : null,
            highlight: selected.get(String(row[idColumn] ?? '')) ?? -1,
            label: String(row[nameColumn] ?? ''),
          };
        });
        scatterPlot.replaceChildren(scatterChart(paramPicker.value, objectivePicker.value, points));
      };
      paramPicker.addEventListener('change', drawScatter);
      objectivePicker.addEventListener('change', drawScatter);
      const caption = element('figcaption');
      caption.append(
        paramPicker,
        document.createTextNode(' against '),
        objectivePicker,
        document.createTextNode(' (all loaded runs)'),
      );
      scatterBox.append(caption, scatterPlot);
      drawScatter();
      charts.append(scatterBox);
    }
  }
  return charts;
}

// Messages from the host.

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  const message = event.data;
  switch (message.type) {
    case 'loading':
      toolbar.classList.add('loading');
      break;
    case 'setData': {
      toolbar.classList.remove('loading');
      banner.replaceChildren();
      const sameRuns =
        state.query.experiment === message.query.experiment && state.query.filter === message.query.filter;
      state.query = message.query;
      state.experiments = message.experiments;
      state.limit = message.limit;
      state.table = JSON.parse(message.tableJson) as RunTable;
      state.constant = computeConstantColumns(state.table);
      // A selection survives a refresh or a new sort; another filter or experiment starts afresh.
      if (!sameRuns) state.selected.clear();
      if (document.activeElement !== filterInput) filterInput.value = message.query.filter;
      showProblem(message.query.filter, null);
      renderExperiments();
      renderTable();
      break;
    }
    case 'filterError':
      toolbar.classList.remove('loading');
      showProblem(message.query.filter, message.problem);
      break;
    case 'error':
      toolbar.classList.remove('loading');
      banner.replaceChildren(element('div', 'error', message.message));
      break;
    case 'comparison':
      state.comparison = message;
      renderComparison(message);
      break;
  }
});

onlyChangedBox.checked = state.onlyChanged;
updateStatus();
post({ type: 'initialized' });
