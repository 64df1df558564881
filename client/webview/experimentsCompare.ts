/// <reference lib="dom" />
// The compare view of the experiments table: the params that differ between the selected runs,
// their latest metrics with deltas from the first run, the history of one metric for each run, and
// one param against one metric over every loaded run, the selected runs highlighted.
import { historyChart, scatterChart, SERIES_COLOURS } from './experimentsCharts';
import type { ScatterPoint } from './experimentsCharts';
import type { ComparisonMessage, RunTable } from './experimentsContract';
import { button, element } from './experimentsDom';
import { tickLabel } from './experimentsFormat';

/** Shows the comparison in `view`; `table` gives the scatter its points, `sorted` the default metric. */
export function renderComparison(
  view: HTMLElement,
  message: ComparisonMessage,
  table: RunTable | null,
  sorted: string | null,
): void {
  const { comparison } = message;
  const runs = comparison.runs;
  const close = button('Close', 'Close the comparison', () => {
    view.classList.remove('open');
    view.replaceChildren();
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
  view.replaceChildren(heading, legend, tables, chartsOf(message, table, sorted));
  view.classList.add('open');
}

function chartsOf(message: ComparisonMessage, table: RunTable | null, sorted: string | null): HTMLElement {
  const { comparison, histories } = message;
  const charts = element('div', 'charts');
  // History of one metric for the selected runs.
  const metrics = [...new Set(histories.map((history) => history.metric))];
  const historyBox = element('figure', 'chart-box history');
  const metricPicker = element('select');
  metricPicker.setAttribute('aria-label', 'Metric history to chart');
  for (const metric of metrics) metricPicker.append(new Option(metric, metric));
  const sortedMetric = sorted?.replace(/^metrics\./, '');
  if (sortedMetric && metrics.includes(sortedMetric)) metricPicker.value = sortedMetric;
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
      if (sorted && tableMetrics.some((column) => column.key === sorted)) objectivePicker.value = sorted;
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
