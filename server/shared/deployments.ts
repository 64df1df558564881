// The JSON documents the CLI prints with --json for deployments and monitoring, declared once: the
// CLI commands (`cairn deploy ...`, `cairn monitor ...`) build them and the VS Code extension
// (Deployments and Alerts views, the monitoring dashboard) reads them. Types only: this file is
// imported by both sides and by the webview, so it must not import anything.

/** A model version as a deployment refers to it. */
export interface ServedVersion {
  model: string;
  version: number;
  /** The reference written in the spec, such as "rain-tomorrow@champion" or "rain-tomorrow:3". */
  ref: string;
  /** Pid of the process that runs this version (its first model worker), when it runs. */
  pid: number | null;
  /** Whether it can answer: at least one of its workers has loaded the model. */
  ready: boolean;
  /** With server.workers above 1: every worker's pid, and how many of them are ready. */
  replicas?: { pids: number[]; ready: number; total: number };
}

export type DeploymentHealth = 'healthy' | 'degraded' | 'down' | 'stopped';
export type RolloutStrategy = 'direct' | 'canary' | 'ab' | 'shadow';
export type RolloutPhase = 'none' | 'progressing' | 'paused' | 'awaiting-approval' | 'promoted' | 'aborted';

/** Percent of live traffic per arm; `mirror` is the share of requests copied to a shadow candidate. */
export interface TrafficSplit {
  stable: number;
  candidate: number;
  mirror: number;
}

export interface RolloutState {
  strategy: RolloutStrategy;
  phase: RolloutPhase;
  /** For canary: the current step (0-based) and how many there are. */
  step: number | null;
  steps: number | null;
  /** When the current step's pause ends (ms since the epoch). */
  nextStepAt: number | null;
  /** Why it was aborted or promoted, in words. */
  reason: string | null;
}

/** One deployment in `cairn deploy status --json` (`{ deployments: DeploymentStatus[] }`). */
export interface DeploymentStatus {
  name: string;
  /** Workspace-relative path of the *.deploy.yaml file. */
  file: string;
  status: 'starting' | 'serving' | 'draining' | 'stopped' | 'failed';
  health: DeploymentHealth;
  /** Pid of the server process. */
  pid: number | null;
  /** Base URL, such as http://127.0.0.1:8080. */
  url: string | null;
  stable: ServedVersion;
  candidate: ServedVersion | null;
  traffic: TrafficSplit;
  rollout: RolloutState;
  startedAt: number | null;
  updatedAt: number;
  /** The latest events, newest first (at most 20). */
  events: DeploymentEvent[];
}

export type DeploymentEventKind =
  | 'deploy'
  | 'restore'
  | 'step'
  | 'promote'
  | 'rollback'
  | 'abort'
  | 'swap'
  | 'stop'
  | 'worker-exit'
  | 'alert'
  | 'retrain';

export interface DeploymentEvent {
  id: number;
  deployment: string;
  at: number;
  kind: DeploymentEventKind;
  message: string;
  actor: string | null;
}

/** One alert in `cairn monitor alerts --json` (`{ alerts: AlertRecord[] }`), newest first. */
export interface AlertRecord {
  id: number;
  deployment: string;
  rule: string;
  severity: 'info' | 'warning' | 'critical';
  state: 'firing' | 'resolved';
  /** The rule's condition as written, such as "drift.share > 0.5". */
  condition: string;
  /** The value that made it fire. */
  value: number | null;
  message: string;
  /** Workspace-relative path of the runbook (Markdown). */
  runbook: string | null;
  /** What was done or proposed: "rollback", "retrain-proposed", "retrain-started". */
  actions: string[];
  firedAt: number;
  resolvedAt: number | null;
}

/** One retrain of the loop, in `cairn monitor retrains --json` (`{ retrains: RetrainRecord[] }`). */
export interface RetrainRecord {
  id: number;
  deployment: string;
  alert: number | null;
  reason: string;
  status: 'proposed' | 'approved' | 'running' | 'gated-out' | 'registered' | 'rolled-out' | 'failed' | 'declined';
  experiment: string;
  runId: string | null;
  model: string | null;
  version: number | null;
  message: string | null;
  proposedAt: number;
  approvedBy: string | null;
  endedAt: number | null;
}

/** Operational figures of one version (or "all") over one time bucket. */
export interface OperationalPoint {
  /** Start of the bucket (ms since the epoch). */
  at: number;
  requests: number;
  rows: number;
  /** Requests answered with a 5xx or by a fallback because the model failed. */
  errors: number;
  /** Requests refused as malformed (4xx). */
  rejected: number;
  fallbacks: number;
  /** Requests per second over the bucket. */
  throughput: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface ResourcePoint {
  at: number;
  /** CPU use of the server process and its workers, in percent of one core. */
  cpuPercent: number;
  rssBytes: number;
}

/** A histogram over shared bin edges, for drawing reference against current. */
export interface Histogram {
  /** Bin edges (numeric) or category labels (categorical). */
  bins: (number | string)[];
  /** Share of rows per bin (numeric: edges.length - 1 bins). */
  reference: number[];
  current: number[];
}

export interface FeatureDrift {
  feature: string;
  kind: 'numeric' | 'categorical';
  /** The test used: ks, chi2, z, wasserstein, jensenshannon, psi. */
  test: string;
  /** The test's statistic (KS D, chi-squared, z, normed Wasserstein distance, JS distance, PSI). */
  statistic: number;
  /** The p-value, for tests that have one (ks, chi2, z). */
  pValue: number | null;
  /** The value compared with the threshold: the p-value for ks/chi2/z, else the statistic. */
  score: number;
  threshold: number;
  drifted: boolean;
  histogram: Histogram;
}

/** The drift report of `cairn monitor drift --json` and of a deployment's window. */
export interface DriftReport {
  referenceRows: number;
  currentRows: number;
  features: FeatureDrift[];
  driftedFeatures: number;
  /** driftedFeatures / features.length */
  share: number;
  /** The share at which the dataset counts as drifted (default 0.5). */
  shareThreshold: number;
  datasetDrift: boolean;
  /**
   * Deployment monitoring only: the fewest current rows at which drift is judged
   * (monitoring.drift.min_rows). With fewer, the figures are shown and no drift alert fires.
   */
  minRows?: number;
}

/**
 * The alerts a deployment's objectives declare by themselves, each with the monitoring setting that
 * declares it (see monitor.ts objectiveRules). Rollback, retrain and abort lists may name them.
 */
export const OBJECTIVE_ALERTS: Readonly<Record<string, readonly string[]>> = {
  'performance-low': ['performance'],
  'error-rate-high': ['errors', 'max_rate'],
  'latency-p95-high': ['latency', 'p95_ms'],
  'latency-p99-high': ['latency', 'p99_ms'],
};

/** The names of OBJECTIVE_ALERTS whose setting `has` finds under monitoring. */
export function objectiveAlertNames(has: (keys: readonly string[]) => boolean): string[] {
  return Object.entries(OBJECTIVE_ALERTS)
    .filter(([, keys]) => has(keys))
    .map(([name]) => name);
}

/** Whether a drift report holds enough current rows to be judged (a report of two files always is). */
export function driftJudged(report: DriftReport): boolean {
  return report.currentRows >= (report.minRows ?? 0);
}

export interface PerformancePoint {
  at: number;
  /** Labelled predictions in the bucket. */
  labelled: number;
  /** Metric name → value, such as accuracy, auc, log_loss, mae. */
  metrics: Record<string, number | null>;
}

export interface ConceptDriftState {
  detector: 'adwin' | 'ddm';
  /** Times the detector signalled drift on the error stream, newest first. */
  detections: number[];
  /** The detector's current estimate of the error rate. */
  errorRate: number | null;
}

export interface KpiValue {
  name: string;
  target: number | null;
  direction: 'maximize' | 'minimize';
  /** The KPI per arm ("stable", "candidate") and over all traffic ("all"). */
  byArm: Record<string, number | null>;
  /** Counts of events behind each arm's value. */
  events: Record<string, number>;
}

/** The monitoring dashboard's data: `cairn monitor report NAME --json [--since DURATION] [--bucket DURATION]`. */
export interface MonitorReport {
  deployment: string;
  generatedAt: number;
  from: number;
  to: number;
  bucketMs: number;
  /** Operational series per served version ("name:version") and "all". */
  operational: Record<string, OperationalPoint[]>;
  resources: ResourcePoint[];
  /** Drift of the recent window against the reference, or null when there is no reference or no data. */
  drift: DriftReport | null;
  /** Labelled performance per bucket and per version. */
  performance: Record<string, PerformancePoint[]>;
  conceptDrift: ConceptDriftState | null;
  kpis: KpiValue[];
  /** Alerts of the period, newest first. */
  alerts: AlertRecord[];
  status: DeploymentStatus | null;
}
