/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The experiments table webview: runs as rows, params, metrics and tags as columns. Only the rows in
// view are in the DOM (fixed row height, rebuilt on scroll), so 10,000 runs × 50 columns scroll
// smoothly. Sorting and filtering are the CLI's (the host re-queries); hiding columns, "only changed"
// and selection are local. Compare shows the host's `exp compare` and metric histories as SVG charts.
// It talks to the host only through the messages of experimentsContract.ts. DOM only.
import { renderComparison } from './experimentsCompare';
import type { FilterProblem, HostMessage, RunTable, TableQuery, WebviewMessage } from './experimentsContract';
import { button, element } from './experimentsDom';
import { attachCompletion } from './experimentsFilter';
import {
  columnName,
  columnWidth,
  completionNames,
  constantColumns,
  formatCell,
  nextSort,
  parseSortText,
} from './experimentsFormat';
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
};

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

// The table.

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

function renderHeader(): void {
  const table = state.table;
  header.replaceChildren();
  if (!table) return;
  const sort = parseSortText(state.query.sort);
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

/** Clicking a header sorts by it, largest first; clicking again flips the direction. */
function sortBy(name: string): void {
  post({ type: 'query', query: { ...state.query, sort: nextSort(state.query.sort, name) } });
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

const completion = attachCompletion(
  filterInput,
  suggestions,
  () => completionNames(state.table?.columns ?? []),
  () => applyFilter(),
);

function applyFilter(): void {
  completion.hide();
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
      state.constant = constantColumns(state.table);
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
      renderComparison(compareView, message, state.table, parseSortText(state.query.sort)?.name ?? null);
      break;
  }
});

onlyChangedBox.checked = state.onlyChanged;
updateStatus();
post({ type: 'initialized' });
