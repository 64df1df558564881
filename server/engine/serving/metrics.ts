// The model server's metrics in the Prometheus text exposition format (version 0.0.4): counters and
// histograms with labels, kept in memory and written out on GET /metrics.

/** The Content-Type of the text format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Record<string, string>;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabel(value)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length > 0 ? `{${parts.join(',')}}` : '';
}

/** The key of a series in memory: its label values in order (a metric always uses the same names). */
function seriesKey(labels: Labels): string {
  let key = '';
  for (const name in labels) key += `${labels[name] as string}\u0000`;
  return key;
}

function numberText(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return Number.isNaN(value) ? 'NaN' : String(value);
}

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(lines: string[]): void;
}

/** A counter or gauge with labels. */
export class Counter implements Family {
  readonly type: 'counter' | 'gauge';
  private readonly series = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    gauge = false,
  ) {
    this.type = gauge ? 'gauge' : 'counter';
  }

  /** Adds `amount` (default 1) to the series of these labels. */
  add(labels: Labels, amount = 1): void {
    const key = seriesKey(labels);
    const entry = this.series.get(key);
    if (entry) entry.value += amount;
    else this.series.set(key, { labels, value: amount });
  }

  /** Sets a gauge's series. */
  set(labels: Labels, value: number): void {
    this.series.set(seriesKey(labels), { labels, value });
  }

  /** Drops every series (for gauges rebuilt from the current state). */
  clear(): void {
    this.series.clear();
  }

  value(labels: Labels): number {
    return this.series.get(seriesKey(labels))?.value ?? 0;
  }

  render(lines: string[]): void {
    for (const entry of this.series.values())
      lines.push(`${this.name}${labelText(entry.labels)} ${numberText(entry.value)}`);
  }
}

/** A histogram with fixed bucket bounds (upper bounds, inclusive), per label set. */
export class Histogram implements Family {
  readonly type = 'histogram';
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: number[],
  ) {}

  observe(labels: Labels, value: number): void {
    const key = seriesKey(labels);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { labels, counts: new Array<number>(this.bounds.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, entry);
    }
    for (let index = 0; index < this.bounds.length; index++) {
      if (value <= (this.bounds[index] as number)) {
        entry.counts[index] = (entry.counts[index] as number) + 1;
        break;
      }
    }
    entry.sum += value;
    entry.count++;
  }

  /** How many observations of these labels were at most `bound` (a bucket bound). */
  countAtMost(labels: Labels, bound: number): number {
    const entry = this.series.get(seriesKey(labels));
    if (!entry) return 0;
    let total = 0;
    for (let index = 0; index < this.bounds.length && (this.bounds[index] as number) <= bound; index++) {
      total += entry.counts[index] as number;
    }
    return total;
  }

  /** Observations of these labels. */
  count(labels: Labels): number {
    return this.series.get(seriesKey(labels))?.count ?? 0;
  }

  render(lines: string[]): void {
    for (const entry of this.series.values()) {
      let cumulative = 0;
      for (let index = 0; index < this.bounds.length; index++) {
        cumulative += entry.counts[index] as number;
        lines.push(
          `${this.name}_bucket${labelText(entry.labels, ['le', numberText(this.bounds[index] as number)])} ${cumulative}`,
        );
      }
      lines.push(`${this.name}_bucket${labelText(entry.labels, ['le', '+Inf'])} ${entry.count}`);
      lines.push(`${this.name}_sum${labelText(entry.labels)} ${numberText(entry.sum)}`);
      lines.push(`${this.name}_count${labelText(entry.labels)} ${entry.count}`);
    }
  }
}

/** The metrics of one model server. */
export class ServingMetrics {
  readonly requests = new Counter(
    'cairn_requests_total',
    'Requests answered, by model version, HTTP status and protocol.',
  );
  readonly duration = new Histogram(
    'cairn_request_duration_seconds',
    'Time from the request to the answer, by model version and protocol.',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  readonly batchSize = new Histogram(
    'cairn_batch_size',
    'Rows per batch sent to a model worker, by model version.',
    [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096],
  );
  readonly rows = new Counter('cairn_rows_total', 'Rows predicted, by model version.');
  readonly fallbacks = new Counter(
    'cairn_fallbacks_total',
    'Requests answered by a fallback because the routed version failed, by routed version, reason and what answered.',
  );
  readonly shadowComparisons = new Counter(
    'cairn_shadow_comparisons_total',
    'Requests mirrored to a shadow candidate, by candidate version and outcome (compared or failed).',
  );
  readonly shadowDifference = new Histogram(
    'cairn_shadow_abs_difference',
    "Mean absolute difference between the shadow candidate's first numeric output and the stable version's, per request.",
    [0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 1],
  );
  readonly modelInfo = new Counter('cairn_model_info', 'The model versions served (1), by version and arm.', true);
  readonly workersUp = new Counter(
    'cairn_worker_up',
    'Whether the worker of a served version is ready (1) or not (0).',
    true,
  );
  readonly inFlight = new Counter('cairn_requests_in_flight', 'Requests being handled now.', true);

  private readonly families: Family[] = [
    this.requests,
    this.duration,
    this.batchSize,
    this.rows,
    this.fallbacks,
    this.shadowComparisons,
    this.shadowDifference,
    this.modelInfo,
    this.workersUp,
    this.inFlight,
  ];

  /** The text exposition of every metric. */
  render(): string {
    const lines: string[] = [];
    for (const family of this.families) {
      lines.push(`# HELP ${family.name} ${family.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
      lines.push(`# TYPE ${family.name} ${family.type}`);
      family.render(lines);
    }
    return `${lines.join('\n')}\n`;
  }
}
