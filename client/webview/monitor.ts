/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The monitoring dashboard of one deployment: a status header (versions, traffic, health, rollout,
// actions), the window's totals, latency, throughput and errors over time per version, drift per
// feature with reference and current histograms, performance on labels, KPIs per arm, and the alert
// timeline. The host pushes a fresh report every few seconds; the page is redrawn from it. It talks
// to the host only through the messages of monitorContract.ts. DOM only.
import { formatClock, formatValue, rolloutText, versionRows } from '../deployModel';
import type { DeploymentStatus, MonitorReport, OperationalPoint } from '../../server/shared/deployments';
import { driftJudged } from '../../server/shared/deployments';
import { alertTimeline, histogramChart, lineChart } from './monitorCharts';
import type { LineSeries } from './monitorCharts';
import { WINDOWS } from './monitorContract';
import type { HostMessage, MonitorWindow, WebviewMessage } from './monitorContract';
import { operationalValues, totals } from './monitorGeometry';
import './monitor.css';

declare function acquireVsCodeApi(): { postMessage(message: WebviewMessage): void };

const vscode = acquireVsCodeApi();
const ALL = 'all';

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text = ''): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

function button(label: string, title: string, onClick: () => void): HTMLButtonElement {
  const node = element('button', '', label);
  node.type = 'button';
  node.title = title;
  node.addEventListener('click', onClick);
  return node;
}

function post(message: WebviewMessage): void {
  vscode.postMessage(message);
}

// The page: a toolbar, an error banner, and the report's sections.
const root = document.getElementById('root') ?? document.body;
const toolbar = element('div', 'toolbar');
const windowPicker = element('select');
windowPicker.setAttribute('aria-label', 'Time window');
for (const window of WINDOWS) windowPicker.append(new Option(`last ${window}`, window));
windowPicker.value = '15m';
windowPicker.addEventListener('change', () => post({ type: 'window', window: windowPicker.value as MonitorWindow }));
const refreshButton = button('Refresh', 'Read the report again now', () => post({ type: 'refresh' }));
const updated = element('span', 'status');
updated.setAttribute('role', 'status');
toolbar.append(windowPicker, refreshButton, updated);
const banner = element('div', 'banner');
banner.setAttribute('role', 'alert');
const content = element('main', 'content');
root.append(toolbar, banner, content);

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  const message = event.data;
  switch (message.type) {
    case 'setReport':
      banner.textContent = '';
      banner.classList.remove('shown');
      windowPicker.value = message.window;
      render(message.report);
      updated.textContent = `updated ${formatClock(message.report.generatedAt)} UTC${message.nextRefreshAt ? ' · live' : ''}`;
      break;
    case 'error':
      banner.textContent = message.message;
      banner.classList.add('shown');
      break;
  }
});

function render(report: MonitorReport): void {
  const sections = [
    header(report),
    summary(report),
    operations(report),
    drift(report),
    performance(report),
    kpis(report),
    alerts(report),
  ];
  content.replaceChildren(...sections);
}

function section(title: string, ...children: (HTMLElement | SVGElement)[]): HTMLElement {
  const node = element('section', 'panel');
  node.dataset['section'] = title;
  node.append(element('h2', '', title), ...children);
  return node;
}

function header(report: MonitorReport): HTMLElement {
  const status = report.status;
  const node = element('header', 'status-header');
  const title = element('h1', '', report.deployment);
  node.append(title);
  if (!status) {
    node.append(element('p', 'muted', 'The deployment is not in the store: deploy it again.'));
    return node;
  }
  title.append(
    element('span', `badge ${status.status}`, status.status),
    element('span', `badge health-${status.health}`, status.health),
  );
  const facts = element('div', 'facts');
  if (status.url) facts.append(element('span', 'url', status.url));
  const rollout = rolloutText(status.rollout, report.generatedAt);
  if (rollout) facts.append(element('span', 'rollout', rollout));
  facts.append(element('span', 'muted', `${status.file}${status.pid ? ` · pid ${status.pid}` : ''}`));
  node.append(facts, versionsTable(status), actions(status));
  return node;
}

function versionsTable(status: DeploymentStatus): HTMLTableElement {
  const table = element('table', 'versions');
  const head = table.createTHead().insertRow();
  for (const title of ['version', 'traffic and state']) head.append(element('th', '', title));
  for (const row of versionRows(status)) {
    const line = table.insertRow();
    line.append(element('th', '', row.label), element('td', '', row.description));
  }
  return table;
}

function actions(status: DeploymentStatus): HTMLElement {
  const bar = element('div', 'actions');
  const live = status.status === 'serving' || status.status === 'starting';
  if (live && status.candidate)
    bar.append(
      button('Promote', 'Make the candidate the stable version', () => post({ type: 'action', action: 'promote' })),
    );
  if (live)
    bar.append(
      button('Roll Back', 'Send all traffic back to the stable version (or the previous one)', () =>
        post({ type: 'action', action: 'rollback' }),
      ),
      button('Stop', 'Stop the server', () => post({ type: 'action', action: 'stop' })),
    );
  return bar;
}

/** The operational series of the whole deployment: "all" when the CLI gives it, else the first. */
function overall(report: MonitorReport): OperationalPoint[] {
  return report.operational[ALL] ?? Object.values(report.operational)[0] ?? [];
}

function versions(report: MonitorReport): [string, OperationalPoint[]][] {
  return Object.entries(report.operational).filter(([name]) => name !== ALL);
}

function summary(report: MonitorReport): HTMLElement {
  const series = overall(report);
  const sum = totals(series);
  const latest = [...series].reverse().find((point) => point.requests > 0) ?? null;
  const cards = element('div', 'cards');
  const card = (name: string, value: string, figure: string, extra = ''): void => {
    const node = element('div', `card ${extra}`);
    node.dataset['figure'] = figure;
    node.append(element('div', 'value', value), element('div', 'name', name));
    cards.append(node);
  };
  card('requests', String(sum.requests), 'requests');
  card(
    'error rate',
    sum.errorRate === null ? '—' : `${(sum.errorRate * 100).toFixed(2)}%`,
    'error-rate',
    sum.errors ? 'bad' : '',
  );
  card('p95 latency (latest)', latest?.p95Ms == null ? '—' : `${formatValue(latest.p95Ms)} ms`, 'p95');
  card('throughput (latest)', latest ? `${formatValue(latest.throughput)}/s` : '—', 'throughput');
  if (report.drift)
    card(
      'features drifted',
      driftJudged(report.drift) ? `${report.drift.driftedFeatures}/${report.drift.features.length}` : '—',
      'drift',
      driftJudged(report.drift) && report.drift.datasetDrift ? 'bad' : '',
    );
  return cards;
}

function operations(report: MonitorReport): HTMLElement {
  const all = overall(report);
  const perVersion = versions(report);
  const byVersion = (figure: 'throughput' | 'errors'): LineSeries[] =>
    (perVersion.length ? perVersion : [[ALL, all] as [string, OperationalPoint[]]]).map(([name, series]) => ({
      label: name,
      points: operationalValues(series, figure),
    }));
  const latency: LineSeries[] = (['p50Ms', 'p95Ms', 'p99Ms'] as const).map((figure) => ({
    label: figure.replace('Ms', ''),
    points: operationalValues(all, figure),
  }));
  const charts = element('div', 'charts');
  charts.append(
    lineChart('Latency', 'ms', latency, report.from, report.to),
    lineChart('Throughput', 'requests/s', byVersion('throughput'), report.from, report.to),
    lineChart('Errors', 'per bucket', byVersion('errors'), report.from, report.to),
  );
  if (report.resources.length > 0) {
    charts.append(
      lineChart(
        'CPU',
        '% of a core',
        [
          {
            label: 'server and workers',
            points: report.resources.map((point) => ({ at: point.at, value: point.cpuPercent })),
          },
        ],
        report.from,
        report.to,
      ),
      lineChart(
        'Memory',
        'MB',
        [
          {
            label: 'resident',
            points: report.resources.map((point) => ({ at: point.at, value: point.rssBytes / 1e6 })),
          },
        ],
        report.from,
        report.to,
      ),
    );
  }
  return section('Operations', charts);
}

function drift(report: MonitorReport): HTMLElement {
  const result = report.drift;
  if (!result)
    return section(
      'Drift',
      element('p', 'muted', 'No drift yet: it needs a reference (monitoring.reference) and logged requests.'),
    );
  const verdict = driftJudged(result)
    ? element(
        'p',
        result.datasetDrift ? 'verdict bad' : 'verdict',
        `${result.datasetDrift ? 'Dataset drift' : 'No dataset drift'}: ${result.driftedFeatures} of ${result.features.length} features drifted (share ${formatValue(result.share)}, threshold ${formatValue(result.shareThreshold)}); ${result.currentRows} current rows against ${result.referenceRows} reference rows.`,
      )
    : element(
        'p',
        'verdict',
        `Too few rows to judge drift: ${result.currentRows} current rows, and drift is judged from ${result.minRows ?? 0} (monitoring.drift.min_rows). The figures below are shown, and drift alerts wait.`,
      );
  const grid = element('div', 'features');
  const ordered = [...result.features].sort(
    (a, b) => Number(b.drifted) - Number(a.drifted) || a.feature.localeCompare(b.feature),
  );
  for (const feature of ordered) {
    const card = element('div', `feature${feature.drifted ? ' drifted' : ''}`);
    card.dataset['feature'] = feature.feature;
    const title = element('div', 'feature-title');
    title.append(element('span', 'mark', feature.drifted ? '⚠ drifted' : '✓'), element('strong', '', feature.feature));
    const stat = element(
      'div',
      'muted',
      `${feature.test} ${formatValue(feature.statistic)}${feature.pValue === null ? '' : `, p ${formatValue(feature.pValue)}`} · threshold ${formatValue(feature.threshold)}`,
    );
    card.append(title, histogramChart(feature.feature, feature.histogram, feature.drifted), stat);
    grid.append(card);
  }
  const legend = element('div', 'legend');
  legend.append(
    element('span', 'legend-item reference', 'reference'),
    element('span', 'legend-item current', 'current'),
  );
  return section('Drift', verdict, legend, grid);
}

function performance(report: MonitorReport): HTMLElement {
  const entries = Object.entries(report.performance);
  const metrics = [
    ...new Set(entries.flatMap(([, points]) => points.flatMap((point) => Object.keys(point.metrics)))),
  ].sort();
  const concept = report.conceptDrift;
  const notes: HTMLElement[] = [];
  if (concept)
    notes.push(
      element(
        'p',
        concept.detections.length ? 'verdict bad' : 'muted',
        `Concept drift (${concept.detector}): ${concept.detections.length ? `detected at ${concept.detections.map(formatClock).join(', ')}` : 'none detected'}${concept.errorRate === null ? '' : `; error rate ${formatValue(concept.errorRate)}`}.`,
      ),
    );
  if (metrics.length === 0)
    return section(
      'Performance on labels',
      ...notes,
      element('p', 'muted', 'No labelled predictions in this window yet.'),
    );
  const charts = element('div', 'charts');
  for (const metric of metrics)
    charts.append(
      lineChart(
        metric,
        '',
        entries.map(([version, points]) => ({
          label: version,
          points: points.map((point) => ({ at: point.at, value: point.metrics[metric] ?? null })),
        })),
        report.from,
        report.to,
      ),
    );
  return section('Performance on labels', ...notes, charts);
}

function kpis(report: MonitorReport): HTMLElement {
  if (report.kpis.length === 0) return section('KPIs', element('p', 'muted', 'The deployment declares no KPIs.'));
  const arms = [...new Set(report.kpis.flatMap((kpi) => Object.keys(kpi.byArm)))].sort(
    (a, b) => Number(a === ALL) - Number(b === ALL) || a.localeCompare(b),
  );
  const table = element('table', 'kpis');
  const head = table.createTHead().insertRow();
  for (const title of ['KPI', 'target', ...arms]) head.append(element('th', '', title));
  for (const kpi of report.kpis) {
    const row = table.insertRow();
    row.append(
      element('th', '', `${kpi.name} (${kpi.direction})`),
      element('td', '', kpi.target === null ? '—' : formatValue(kpi.target)),
    );
    for (const arm of arms) {
      const value = kpi.byArm[arm] ?? null;
      const meets =
        value === null || kpi.target === null
          ? ''
          : (kpi.direction === 'maximize' ? value >= kpi.target : value <= kpi.target)
            ? 'good'
            : 'bad';
      row.append(element('td', meets, value === null ? '—' : `${formatValue(value)} (${kpi.events[arm] ?? 0} events)`));
    }
  }
  return section('KPIs per arm', table);
}

function alerts(report: MonitorReport): HTMLElement {
  const timeline = alertTimeline(report.alerts, report.from, report.to, (alert) =>
    post({ type: 'openRunbook', alert: alert.id }),
  );
  const list = element('ul', 'alert-list');
  for (const alert of report.alerts.slice(0, 20)) {
    const item = element('li', `alert-item ${alert.severity} ${alert.state}`);
    item.textContent = `${formatClock(alert.firedAt)} ${alert.severity} ${alert.rule} (${alert.state}): ${alert.condition}${alert.value === null ? '' : ` = ${formatValue(alert.value)}`}. ${alert.message}`;
    if (alert.runbook) {
      item.append(
        ' ',
        button('Runbook', alert.runbook, () => post({ type: 'openRunbook', alert: alert.id })),
      );
    }
    list.append(item);
  }
  return section('Alerts', timeline, list);
}

post({ type: 'initialized' });
