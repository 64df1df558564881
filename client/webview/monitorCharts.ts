/// <reference lib="dom" />
// The monitoring dashboard's charts as inline SVG: lines over time (latency, throughput, errors,
// performance, resources), reference against current histograms of a feature, and the alert
// timeline. The geometry is monitorGeometry.ts's; this file only builds elements. Colours are VS
// Code's chart theme colours.
import type { AlertRecord, Histogram } from '../../server/shared/deployments';
import {
  clockLabel,
  histogramBars,
  linearScale,
  linePath,
  niceMax,
  largest,
  timelineBars,
  timeTicks,
  valueTicks,
} from './monitorGeometry';
import { SERIES_COLOURS } from './experimentsCharts';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 460;
const HEIGHT = 190;
const MARGIN = { left: 52, right: 12, top: 10, bottom: 26 };

export interface LineSeries {
  label: string;
  points: { at: number; value: number | null }[];
}

function svgElement<K extends keyof SVGElementTagNameMap>(
  name: K,
  attributes: Record<string, string | number>,
  text = '',
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text) node.textContent = text;
  return node;
}

/** A short label for an axis value. */
export function axisLabel(value: number): string {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (magnitude >= 1e3) return `${Number((value / 1e3).toPrecision(3))}k`;
  return String(Number(value.toPrecision(3)));
}

/** Lines over [from, to], one per series, the y axis from 0; a legend under it. */
export function lineChart(title: string, unit: string, series: LineSeries[], from: number, to: number): HTMLElement {
  const figure = document.createElement('figure');
  figure.className = 'chart-box';
  figure.dataset['chart'] = title;
  const caption = document.createElement('figcaption');
  caption.textContent = unit ? `${title} (${unit})` : title;
  const svg = svgElement('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    class: 'chart',
    role: 'img',
    'aria-label': title,
  });
  const plotRight = WIDTH - MARGIN.right;
  const plotBottom = HEIGHT - MARGIN.bottom;
  const max = niceMax(largest(series.flatMap((each) => each.points.map((point) => point.value))));
  const x = linearScale([from, to], [MARGIN.left, plotRight]);
  const y = linearScale([0, max], [plotBottom, MARGIN.top]);
  for (const tick of valueTicks(max)) {
    svg.append(svgElement('line', { class: 'grid', x1: MARGIN.left, x2: plotRight, y1: y(tick), y2: y(tick) }));
    svg.append(
      svgElement('text', { class: 'tick', x: MARGIN.left - 4, y: y(tick) + 4, 'text-anchor': 'end' }, axisLabel(tick)),
    );
  }
  for (const tick of timeTicks(from, to)) {
    svg.append(
      svgElement('text', { class: 'tick', x: x(tick), y: HEIGHT - 8, 'text-anchor': 'middle' }, clockLabel(tick)),
    );
  }
  svg.append(svgElement('line', { class: 'axis', x1: MARGIN.left, x2: plotRight, y1: plotBottom, y2: plotBottom }));
  const legend = document.createElement('div');
  legend.className = 'legend';
  series.forEach((each, index) => {
    const colour = SERIES_COLOURS[index % SERIES_COLOURS.length] ?? 'currentColor';
    const d = linePath(each.points, x, y);
    if (d) svg.append(svgElement('path', { d, class: 'series', stroke: colour }));
    // A single point draws no line: mark it.
    const present = each.points.filter((point) => point.value !== null);
    if (present.length === 1 && present[0])
      svg.append(
        svgElement('circle', { cx: x(present[0].at), cy: y(present[0].value ?? 0), r: 3, fill: colour, class: 'dot' }),
      );
    const item = document.createElement('span');
    item.className = 'legend-item';
    item.style.setProperty('--swatch', colour);
    item.textContent = each.label;
    legend.append(item);
  });
  if (series.every((each) => each.points.every((point) => point.value === null)))
    svg.append(
      svgElement(
        'text',
        { class: 'empty', x: (MARGIN.left + plotRight) / 2, y: HEIGHT / 2, 'text-anchor': 'middle' },
        'no data in this window',
      ),
    );
  figure.append(caption, svg, legend);
  return figure;
}

/** Reference (outlined) against current (filled) shares per bin of one feature. */
export function histogramChart(feature: string, histogram: Histogram, drifted: boolean): SVGSVGElement {
  const width = 220;
  const height = 70;
  const svg = svgElement('svg', {
    viewBox: `0 0 ${width} ${height + 14}`,
    class: `histogram${drifted ? ' drifted' : ''}`,
    role: 'img',
    'aria-label': `${feature}: reference against current distribution`,
  });
  const bars = histogramBars(histogram, width, height);
  for (const [kind, list] of [
    ['reference', bars.reference],
    ['current', bars.current],
  ] as const) {
    for (const bar of list) {
      const rect = svgElement('rect', {
        class: kind,
        x: bar.x.toFixed(1),
        y: bar.y.toFixed(1),
        width: bar.width.toFixed(1),
        height: Math.max(0, bar.height).toFixed(1),
      });
      rect.append(svgElement('title', {}, `${kind} ${bar.label}: ${(bar.share * 100).toFixed(1)}%`));
      svg.append(rect);
    }
  }
  const first = bars.reference[0]?.label ?? '';
  const last = histogram.bins[histogram.bins.length - 1];
  svg.append(svgElement('text', { class: 'tick', x: 0, y: height + 12 }, first));
  svg.append(
    svgElement(
      'text',
      { class: 'tick', x: width, y: height + 12, 'text-anchor': 'end' },
      typeof last === 'number' ? String(Number(last.toPrecision(3))) : (last ?? ''),
    ),
  );
  return svg;
}

/** The alerts of the window as bars, one row per rule; a click on a bar calls `onClick`. */
export function alertTimeline(
  alerts: AlertRecord[],
  from: number,
  to: number,
  onClick: (alert: AlertRecord) => void,
): SVGSVGElement {
  const rules = [...new Set(alerts.map((alert) => alert.rule))].sort();
  const labelWidth = 120;
  const width = 900;
  const rowHeight = 18;
  const height = Math.max(1, rules.length) * rowHeight + 22;
  const svg = svgElement('svg', {
    viewBox: `0 0 ${width} ${height}`,
    class: 'timeline',
    role: 'img',
    'aria-label': 'Alert timeline',
  });
  rules.forEach((rule, row) => {
    svg.append(
      svgElement('text', { class: 'tick', x: labelWidth - 6, y: row * rowHeight + 13, 'text-anchor': 'end' }, rule),
    );
  });
  const x = linearScale([from, to], [labelWidth, width - 8]);
  for (const tick of timeTicks(from, to, 10))
    svg.append(
      svgElement('text', { class: 'tick', x: x(tick), y: height - 4, 'text-anchor': 'middle' }, clockLabel(tick)),
    );
  for (const bar of timelineBars(alerts, from, to, width - 8 - labelWidth)) {
    const rect = svgElement('rect', {
      class: `alert ${bar.alert.severity} ${bar.alert.state}`,
      x: (labelWidth + bar.x).toFixed(1),
      y: bar.row * rowHeight + 3,
      width: bar.width.toFixed(1),
      height: rowHeight - 6,
      rx: 2,
    });
    rect.append(
      svgElement(
        'title',
        {},
        `${bar.alert.rule} (${bar.alert.severity}, ${bar.alert.state}) ${bar.alert.condition}: ${bar.alert.message}`,
      ),
    );
    if (bar.alert.runbook) {
      rect.classList.add('link');
      rect.addEventListener('click', () => onClick(bar.alert));
    }
    svg.append(rect);
  }
  if (alerts.length === 0)
    svg.append(
      svgElement('text', { class: 'empty', x: width / 2, y: 14, 'text-anchor': 'middle' }, 'no alerts in this window'),
    );
  return svg;
}
