/// <reference lib="dom" />
// The compare view's charts, drawn as inline SVG: the histories of one metric for the selected runs,
// and one param against one metric over every loaded run (the selected runs drawn on top). Pure DOM
// building from data; no chart library. Colours are VS Code's chart theme colours.
import { tickLabel } from './experimentsFormat';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 520;
const HEIGHT = 240;
const MARGIN = { left: 56, right: 16, top: 12, bottom: 36 };

/** The chart colours of the theme, one per selected run (cycled). */
export const SERIES_COLOURS = [
  'var(--vscode-charts-blue)',
  'var(--vscode-charts-orange)',
  'var(--vscode-charts-green)',
  'var(--vscode-charts-purple)',
  'var(--vscode-charts-red)',
  'var(--vscode-charts-yellow)',
];

export interface Series {
  label: string;
  steps: number[];
  values: number[];
}

/** A point of the scatter: x is a number, or a category (a param that is not a number). */
export interface ScatterPoint {
  x: string | null;
  y: number | null;
  /** Index into SERIES_COLOURS for a selected run; -1 for the others. */
  highlight: number;
  label: string;
}

function svgElement<K extends keyof SVGElementTagNameMap>(
  name: K,
  attributes: Record<string, string | number>,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

function extent(values: number[]): [number, number] {
  let low = Infinity;
  let high = -Infinity;
  for (const value of values) {
    if (!Number.isFinite(value)) continue;
    if (value < low) low = value;
    if (value > high) high = value;
  }
  if (low === Infinity) return [0, 1];
  if (low === high) return [low - 0.5, high + 0.5];
  return [low, high];
}

interface Frame {
  svg: SVGSVGElement;
  x: (value: number) => number;
  y: (value: number) => number;
}

/** An SVG with axes over the given ranges; x ticks from `xTicks` when given (categories). */
function frame(
  title: string,
  xRange: [number, number],
  yRange: [number, number],
  xLabel: string,
  yLabel: string,
  xTicks?: { at: number; label: string }[],
): Frame {
  const svg = svgElement('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', role: 'img' });
  svg.setAttribute('aria-label', title);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (value: number): number => MARGIN.left + ((value - xRange[0]) / (xRange[1] - xRange[0] || 1)) * plotWidth;
  const y = (value: number): number =>
    MARGIN.top + plotHeight - ((value - yRange[0]) / (yRange[1] - yRange[0] || 1)) * plotHeight;
  svg.append(
    svgElement('line', {
      class: 'axis',
      x1: MARGIN.left,
      x2: MARGIN.left,
      y1: MARGIN.top,
      y2: MARGIN.top + plotHeight,
    }),
    svgElement('line', {
      class: 'axis',
      x1: MARGIN.left,
      x2: MARGIN.left + plotWidth,
      y1: MARGIN.top + plotHeight,
      y2: MARGIN.top + plotHeight,
    }),
  );
  const ticks =
    xTicks ??
    [0, 0.5, 1].map((share) => {
      const at = xRange[0] + share * (xRange[1] - xRange[0]);
      return { at, label: tickLabel(at) };
    });
  for (const tick of ticks) {
    const text = svgElement('text', {
      class: 'tick',
      x: x(tick.at),
      y: MARGIN.top + plotHeight + 14,
      'text-anchor': 'middle',
    });
    text.textContent = tick.label;
    svg.append(text);
  }
  for (const share of [0, 0.5, 1]) {
    const at = yRange[0] + share * (yRange[1] - yRange[0]);
    const text = svgElement('text', { class: 'tick', x: MARGIN.left - 4, y: y(at) + 4, 'text-anchor': 'end' });
    text.textContent = tickLabel(at);
    svg.append(text);
  }
  const xTitle = svgElement('text', {
    class: 'axis-title',
    x: MARGIN.left + plotWidth / 2,
    y: HEIGHT - 4,
    'text-anchor': 'middle',
  });
  xTitle.textContent = xLabel;
  const yTitle = svgElement('text', {
    class: 'axis-title',
    x: 12,
    y: MARGIN.top + plotHeight / 2,
    'text-anchor': 'middle',
    transform: `rotate(-90 12 ${MARGIN.top + plotHeight / 2})`,
  });
  yTitle.textContent = yLabel;
  svg.append(xTitle, yTitle);
  return { svg, x, y };
}

/** Line chart of one metric's history, one line per run. */
export function historyChart(metric: string, series: Series[]): SVGSVGElement {
  const steps = extent(series.flatMap((each) => each.steps));
  const values = extent(series.flatMap((each) => each.values));
  const chart = frame(`History of ${metric}`, steps, values, 'step', metric);
  series.forEach((each, index) => {
    const colour = SERIES_COLOURS[index % SERIES_COLOURS.length] ?? 'currentColor';
    const points = each.steps.map(
      (step, at) => `${chart.x(step).toFixed(1)},${chart.y(each.values[at] ?? 0).toFixed(1)}`,
    );
    if (points.length === 1) {
      const [cx, cy] = (points[0] ?? '0,0').split(',');
      chart.svg.append(svgElement('circle', { cx: cx ?? 0, cy: cy ?? 0, r: 3, fill: colour, class: 'series' }));
    } else {
      chart.svg.append(svgElement('polyline', { points: points.join(' '), stroke: colour, class: 'series line' }));
    }
  });
  return chart.svg;
}

/** Scatter of a param (x) against a metric (y) over every run that has both. */
export function scatterChart(param: string, metric: string, points: ScatterPoint[]): SVGSVGElement {
  const present = points.filter(
    (point): point is ScatterPoint & { x: string; y: number } => point.x !== null && point.y !== null,
  );
  const numeric = present.every((point) => point.x.trim() !== '' && Number.isFinite(Number(point.x)));
  const categories = numeric ? [] : [...new Set(present.map((point) => point.x))].sort();
  const position = new Map(categories.map((category, index) => [category, index]));
  const xOf = (point: { x: string }): number => (numeric ? Number(point.x) : (position.get(point.x) ?? 0));
  const xRange: [number, number] = numeric ? extent(present.map(xOf)) : [-0.5, Math.max(0.5, categories.length - 0.5)];
  const ticks = numeric
    ? undefined
    : categories.slice(0, 12).map((category, index) => ({ at: index, label: category.slice(0, 12) }));
  const chart = frame(
    `${param} against ${metric}`,
    xRange,
    extent(present.map((point) => point.y)),
    param,
    metric,
    ticks,
  );
  // The other runs first, faint; the selected ones on top.
  const ordered = [...present].sort((a, b) => a.highlight - b.highlight);
  for (const point of ordered) {
    const selected = point.highlight >= 0;
    const circle = svgElement('circle', {
      cx: chart.x(xOf(point)).toFixed(1),
      cy: chart.y(point.y).toFixed(1),
      r: selected ? 5 : 2.5,
      class: selected ? 'point selected' : 'point',
    });
    // A style, not a fill attribute: the stylesheet's fill of .point would win over an attribute.
    if (selected) circle.style.fill = SERIES_COLOURS[point.highlight % SERIES_COLOURS.length] ?? 'currentColor';
    if (selected) {
      const title = svgElement('title', {});
      title.textContent = `${point.label}: ${point.x}, ${tickLabel(point.y)}`;
      circle.append(title);
    }
    chart.svg.append(circle);
  }
  return chart.svg;
}
