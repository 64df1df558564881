// A deployment file (*.deploy.yaml) read for serving: the stable model, the server, the rollout of a
// candidate, fallbacks, health checks and monitoring with alerts, rollback and retrain. It is checked
// against the schema the language server uses; defaults are applied, durations become milliseconds,
// model references become strings and paths become absolute. Every problem names the file and line
// and says what to do.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap, isSeq } from 'yaml';
import { mapGet, nodeStart, nodeValue, parseWhole } from '../../spec/parse';
import type { YamlNode } from '../../spec/parse';
import { resolverFor } from '../../spec/schemas';
import { validateNode } from '../../spec/schemaValidate';
import { LineIndex } from '../../spec/text';
import { durationMs } from '../sweep/spec';
import { DEFAULT_LOG_POLICY } from '../monitor/log';
import type { LogPolicy } from '../monitor/log';
import { objectiveAlertNames } from '../../shared/deployments';
import type { RolloutStrategy } from '../../shared/deployments';

/** A registered model version as the spec names it. */
export interface ModelRef {
  /** Normalized text: "name@alias" or "name:3". */
  ref: string;
  name: string;
  /** Set when the reference follows an alias (and so moves with it). */
  alias: string | null;
  /** Set when the reference pins a version. */
  version: number | null;
}

/** A check on the candidate during a canary step (or on the candidate of an A/B or shadow rollout). */
export interface AnalysisCheck {
  /** error_rate, latency_p50_ms, latency_p95_ms, latency_p99_ms, prediction_shift, or a labelled metric. */
  metric: string;
  max: number | null;
  min: number | null;
}

export interface CanaryStep {
  /** Percent of traffic sent to the candidate during the step. */
  weight: number;
  /** How long the step lasts; null: it waits for a manual promote. */
  pauseMs: number | null;
  analysis: AnalysisCheck | null;
}

export interface ServerSpec {
  host: string;
  port: number;
  workers: number;
  maxConcurrency: number | null;
  timeoutMs: number;
  /** Name of the environment variable holding the serving bearer token. */
  tokenEnv: string | null;
  batch: { maxSize: number; maxLatencyMs: number };
  protocols: ('v2' | 'mlflow')[];
}

export interface RolloutSpec {
  strategy: RolloutStrategy;
  candidate: ModelRef | null;
  /** Canary steps; empty for the other strategies. */
  steps: CanaryStep[];
  /** A/B split; null for the other strategies. */
  split: { stable: number; candidate: number; stickyKey: string | null } | null;
  /** Shadow: percent of requests mirrored to the candidate (0 for the other strategies). */
  mirrorPercent: number;
  /** Alerts that abort the rollout when they fire. */
  abortOn: string[];
}

export interface FallbackSpec {
  /** The model answering instead; null: the stable version (or `default`). */
  model: ModelRef | null;
  on: ('error' | 'timeout')[];
  timeoutMs: number | null;
  /** A fixed answer, one value (or array) per output name. */
  default: Record<string, unknown> | null;
}

export interface HealthSpec {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  failureThreshold: number;
}

export type DriftMethod = 'auto' | 'psi' | 'ks' | 'wasserstein' | 'chi2' | 'jensenshannon';

export interface AlertRule {
  name: string;
  when: string;
  severity: 'info' | 'warning' | 'critical';
  /** Workspace-relative path of the runbook. */
  runbook: string;
  /** How long the condition must hold; 0 fires at once. */
  forMs: number;
}

export interface MonitoringSpec {
  /** How often the monitor and the rollout analysis run. */
  intervalMs: number;
  /** The drift reference: a dataset of a pipeline or a workspace file (absolute path). */
  reference: { dataset: string; version: string | null } | { path: string } | null;
  drift: {
    method: DriftMethod;
    threshold: number | null;
    share: number;
    features: string[] | null;
    window: { ms: number } | { rows: number };
    /** Fewest current rows at which drift is judged (and its alerts may fire). */
    minRows: number;
  } | null;
  conceptDrift: { detector: 'adwin' | 'ddm'; delta: number } | null;
  /** source is absolute. */
  labels: { source: string; delayMs: number | null; joinKey: string } | null;
  performance: { metric: string; min: number | null } | null;
  latency: { p95Ms: number | null; p99Ms: number | null } | null;
  errors: { maxRate: number } | null;
  kpis: { name: string; expression: string; target: number | null; direction: 'maximize' | 'minimize' }[];
  alerts: AlertRule[];
  webhook: string | null;
  rollback: { automatic: boolean; on: string[] } | null;
  retrain: {
    /** Absolute path of the experiment file. */
    experiment: string;
    on: string[];
    approval: 'required' | 'automatic';
    scheduleMs: number | null;
    /** Absolute paths of files or folders whose change triggers a retrain. */
    data: string[];
  } | null;
  log: LogPolicy;
}

export interface KubernetesExportSpec {
  namespace: string;
  image: string | null;
  replicas: number;
  serviceType: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  resources: {
    requests: { cpu?: string; memory?: string } | null;
    limits: { cpu?: string; memory?: string } | null;
  };
  autoscaling: { minReplicas: number; maxReplicas: number; targetCpuPercent: number } | null;
}

export interface KserveExportSpec {
  namespace: string;
  storageUri: string | null;
  runtime: string | null;
  canaryTrafficPercent: number | null;
  minReplicas: number | null;
  maxReplicas: number | null;
}

export interface DeploymentSpec {
  /** Absolute path of the deployment file. */
  file: string;
  /** Workspace-relative path, with forward slashes. */
  relativeFile: string;
  name: string;
  model: ModelRef;
  server: ServerSpec;
  rollout: RolloutSpec;
  fallback: FallbackSpec;
  health: HealthSpec;
  monitoring: MonitoringSpec;
  export: { kubernetes: KubernetesExportSpec; kserve: KserveExportSpec };
  /**
   * A digest of what decides the rollout (models, strategy, steps, split, mirror): a restarted server
   * resumes the stored step and traffic only when it is unchanged.
   */
  rolloutDigest: string;
}

/** A mistake in a deployment file; the message names the file and line and says what to do. */
export class DeploymentSpecError extends Error {}

/** The name a deployment file gets when it has no `name`: the file name without .deploy.yaml. */
export function defaultDeploymentName(file: string): string {
  return path
    .basename(file)
    .replace(/\.deploy\.ya?ml$/, '')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
}

/** Parses "name@alias" / "name:3" (or the object form's value) into a ModelRef; null if it is neither. */
export function parseModelRef(value: unknown): ModelRef | null {
  if (typeof value === 'string') {
    const pinned = /^([A-Za-z0-9][A-Za-z0-9_.-]*):([1-9][0-9]*)$/.exec(value);
    if (pinned) return { ref: value, name: pinned[1] ?? '', alias: null, version: Number(pinned[2]) };
    const aliased = /^([A-Za-z0-9][A-Za-z0-9_.-]*)@([A-Za-z0-9][A-Za-z0-9_.-]*)$/.exec(value);
    if (aliased) return { ref: value, name: aliased[1] ?? '', alias: aliased[2] ?? '', version: null };
    return null;
  }
  if (value && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if (typeof object['name'] !== 'string') return null;
    if (typeof object['alias'] === 'string') return parseModelRef(`${object['name']}@${object['alias']}`);
    if (typeof object['version'] === 'number') return parseModelRef(`${object['name']}:${object['version']}`);
  }
  return null;
}

/** The reference the registry's `resolve` reads: "name@alias" or "name@3". */
export function registryReference(model: ModelRef): string {
  return model.alias !== null ? `${model.name}@${model.alias}` : `${model.name}@${model.version ?? ''}`;
}

/** Reads and checks a deployment file; throws a DeploymentSpecError listing every problem. */
export function readDeployment(file: string, root: string): DeploymentSpec {
  const absolute = path.resolve(root, file);
  let text: string;
  try {
    text = fs.readFileSync(absolute, 'utf8');
  } catch (error) {
    throw new DeploymentSpecError(
      `${file}: cannot read the deployment file (${(error as NodeJS.ErrnoException).code ?? String(error)}). Check the path.`,
    );
  }
  const relativeFile = path.relative(root, absolute).split(path.sep).join('/');
  const display = relativeFile.startsWith('..') ? absolute : relativeFile;
  const lines = new LineIndex(text);
  const at = (node: unknown): string => `${display}:${lines.position(nodeStart(node) ?? 0).line + 1}`;
  const parsed = parseWhole(text);
  const syntax = parsed.errors[0];
  if (syntax) {
    throw new DeploymentSpecError(
      `${display}:${lines.position(syntax.start).line + 1}: ${syntax.message} Fix the YAML syntax.`,
    );
  }
  const rootNode = parsed.root;
  if (!isMap(rootNode))
    throw new DeploymentSpecError(`${display}:1: the deployment file is empty. Add at least model: NAME@ALIAS.`);
  const problems: string[] = [];
  const resolver = resolverFor('deployment');
  if (resolver) {
    for (const problem of validateNode(rootNode, resolver.root, resolver, null, parsed.document)) {
      if (problem.severity === 'error') problems.push(`${at(problem.anchor)}: ${problem.message}`);
    }
  }
  if (problems.length > 0) throw new DeploymentSpecError(problems.join('\n'));
  const value = nodeValue(rootNode, parsed.document) as Record<string, unknown>;
  /** The node at a path of keys, for locating a problem; falls back to the nearest parent. */
  const nodeAt = (...keys: (string | number)[]): YamlNode => {
    let node: YamlNode = rootNode;
    for (const key of keys) {
      const next: unknown =
        typeof key === 'number' ? (isSeq(node) ? (node.items[key] as YamlNode | undefined) : null) : mapGet(node, key);
      if (!next) break;
      node = next as YamlNode;
    }
    return node;
  };
  const folder = path.dirname(absolute);
  /** A path relative to the deployment file, which must stay inside the workspace; null if it escapes. */
  const insideWorkspace = (relative: string, keys: (string | number)[], what: string): string | null => {
    const target = path.resolve(folder, relative);
    const fromRoot = path.relative(root, target);
    if (fromRoot.startsWith('..') || path.isAbsolute(fromRoot)) {
      problems.push(
        `${at(nodeAt(...keys))}: the ${what} '${relative}' is outside the workspace. Point it inside ${root}.`,
      );
      return null;
    }
    return target;
  };

  const name = typeof value['name'] === 'string' ? value['name'] : defaultDeploymentName(absolute);
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name))
    problems.push(
      `${at(nodeAt('name'))}: cannot name the deployment after the file ('${path.basename(absolute)}'). Add name: with lowercase letters, digits and '-'.`,
    );
  const model = parseModelRef(value['model']) ?? { ref: '', name: '', alias: null, version: null };

  const server = record(value['server']);
  const batch = record(server['batch']);
  const serverSpec: ServerSpec = {
    host: stringOr(server['host'], '127.0.0.1'),
    port: numberOr(server['port'], 8080),
    workers: numberOr(server['workers'], 1),
    maxConcurrency: numberOrNull(server['max_concurrency']),
    timeoutMs: numberOr(server['timeout_ms'], 30_000),
    tokenEnv: stringOrNull(server['token_env']),
    batch: { maxSize: numberOr(batch['max_size'], 32), maxLatencyMs: numberOr(batch['max_latency_ms'], 5) },
    protocols: Array.isArray(server['protocols']) ? (server['protocols'] as ('v2' | 'mlflow')[]) : ['v2', 'mlflow'],
  };

  const rollout = record(value['rollout']);
  const strategy = (rollout['strategy'] as RolloutStrategy | undefined) ?? 'direct';
  const candidate = parseModelRef(rollout['candidate']);
  const steps: CanaryStep[] = [];
  if (strategy === 'canary' && Array.isArray(rollout['steps'])) {
    (rollout['steps'] as Record<string, unknown>[]).forEach((step, index) => {
      const analysis = record(step['analysis']);
      steps.push({
        weight: numberOr(step['weight'], 0),
        pauseMs: duration(step['pause'], ['rollout', 'steps', index, 'pause']),
        analysis:
          typeof analysis['metric'] === 'string'
            ? { metric: analysis['metric'], max: numberOrNull(analysis['max']), min: numberOrNull(analysis['min']) }
            : null,
      });
    });
    steps.forEach((step, index) => {
      const previous = steps[index - 1];
      if (previous && step.weight < previous.weight)
        problems.push(
          `${at(nodeAt('rollout', 'steps', index, 'weight'))}: step ${index + 1} sends less traffic (${step.weight}%) than the step before (${previous.weight}%). Order the canary steps by increasing weight.`,
        );
    });
  }
  let split: RolloutSpec['split'] = null;
  if (strategy === 'ab') {
    const splitValue = record(rollout['split']);
    const weights = record(splitValue['weights']);
    split = {
      stable: numberOr(weights['stable'], 0),
      candidate: numberOr(weights['candidate'], 0),
      stickyKey: stringOrNull(splitValue['sticky_key']),
    };
    if (split.stable + split.candidate !== 100)
      problems.push(
        `${at(nodeAt('rollout', 'split', 'weights'))}: the weights add up to ${split.stable + split.candidate}, not 100. Make stable + candidate = 100.`,
      );
  }
  if (candidate && candidate.ref === model.ref)
    problems.push(
      `${at(nodeAt('rollout', 'candidate'))}: the candidate is the stable model itself (${model.ref}). Name another version or alias, such as ${model.name}@challenger.`,
    );
  const rolloutSpec: RolloutSpec = {
    strategy,
    candidate,
    steps,
    split,
    mirrorPercent: strategy === 'shadow' ? numberOr(rollout['mirror_percent'], 100) : 0,
    abortOn: stringList(rollout['abort_on']),
  };

  const fallback = record(value['fallback']);
  const fallbackSpec: FallbackSpec = {
    model: parseModelRef(fallback['model']),
    on: Array.isArray(fallback['on']) ? (fallback['on'] as ('error' | 'timeout')[]) : ['error', 'timeout'],
    timeoutMs: numberOrNull(fallback['timeout_ms']),
    default:
      fallback['default'] && typeof fallback['default'] === 'object'
        ? (fallback['default'] as Record<string, unknown>)
        : null,
  };

  const health = record(value['health']);
  const healthSpec: HealthSpec = {
    path: stringOr(health['path'], '/v2/health/ready'),
    intervalMs: duration(health['interval'], ['health', 'interval']) ?? 10_000,
    timeoutMs: duration(health['timeout'], ['health', 'timeout']) ?? 1000,
    failureThreshold: numberOr(health['failure_threshold'], 3),
  };
  if ((healthSpec.path === '/ping' || healthSpec.path === '/health') && !serverSpec.protocols.includes('mlflow'))
    problems.push(
      `${at(nodeAt('health', 'path'))}: ${healthSpec.path} is a route of the MLflow protocol, which server.protocols leaves out. Use /v2/health/ready, or add mlflow to server.protocols.`,
    );

  const monitoring = record(value['monitoring']);
  const monitoringSpec = readMonitoring(monitoring);

  const exportValue = record(value['export']);
  const kubernetes = record(exportValue['kubernetes']);
  const resources = record(kubernetes['resources']);
  const autoscaling = kubernetes['autoscaling'] === undefined ? null : record(kubernetes['autoscaling']);
  const kserve = record(exportValue['kserve']);
  const exportSpec: DeploymentSpec['export'] = {
    kubernetes: {
      namespace: stringOr(kubernetes['namespace'], 'default'),
      image: stringOrNull(kubernetes['image']),
      replicas: numberOr(kubernetes['replicas'], 1),
      serviceType: (kubernetes['service_type'] as KubernetesExportSpec['serviceType'] | undefined) ?? 'ClusterIP',
      resources: {
        requests: resources['requests'] ? (record(resources['requests']) as { cpu?: string; memory?: string }) : null,
        limits: resources['limits'] ? (record(resources['limits']) as { cpu?: string; memory?: string }) : null,
      },
      autoscaling: autoscaling
        ? {
            minReplicas: numberOr(autoscaling['min_replicas'], 1),
            maxReplicas: numberOr(autoscaling['max_replicas'], 1),
            targetCpuPercent: numberOr(autoscaling['target_cpu_percent'], 80),
          }
        : null,
    },
    kserve: {
      namespace: stringOr(kserve['namespace'], 'default'),
      storageUri: stringOrNull(kserve['storage_uri']),
      runtime: stringOrNull(kserve['runtime']),
      canaryTrafficPercent: numberOrNull(kserve['canary_traffic_percent']),
      minReplicas: numberOrNull(kserve['min_replicas']),
      maxReplicas: numberOrNull(kserve['max_replicas']),
    },
  };

  if (problems.length > 0) throw new DeploymentSpecError(problems.join('\n'));
  const rolloutDigest = createHash('sha256')
    .update(
      JSON.stringify({
        model: model.ref,
        candidate: rolloutSpec.candidate?.ref ?? null,
        strategy,
        steps,
        split,
        mirror: rolloutSpec.mirrorPercent,
      }),
    )
    .digest('hex')
    .slice(0, 16);
  return {
    file: absolute,
    relativeFile,
    name,
    model,
    server: serverSpec,
    rollout: rolloutSpec,
    fallback: fallbackSpec,
    health: healthSpec,
    monitoring: monitoringSpec,
    export: exportSpec,
    rolloutDigest,
  };

  function duration(text: unknown, keys: (string | number)[]): number | null {
    if (typeof text !== 'string') return null;
    const ms = durationMs(text);
    if (ms === undefined) {
      problems.push(`${at(nodeAt(...keys))}: '${text}' is not a duration. Write e.g. 500ms, 30s, 10m or 1h.`);
      return null;
    }
    return ms;
  }

  function size(text: unknown, keys: (string | number)[]): number | null {
    if (typeof text !== 'string') return null;
    const bytes = sizeBytes(text);
    if (bytes === undefined) {
      problems.push(`${at(nodeAt(...keys))}: '${text}' is not a size. Write e.g. 500MB, 2GB or 10GiB.`);
      return null;
    }
    return bytes;
  }

  function readMonitoring(section: Record<string, unknown>): MonitoringSpec {
    const alerts: AlertRule[] = [];
    if (Array.isArray(section['alerts'])) {
      (section['alerts'] as Record<string, unknown>[]).forEach((alert, index) => {
        const runbook = stringOr(alert['runbook'], '');
        const runbookPath = insideWorkspace(runbook, ['monitoring', 'alerts', index, 'runbook'], 'runbook');
        alerts.push({
          name: stringOr(alert['name'], ''),
          when: stringOr(alert['when'], ''),
          severity: (alert['severity'] as AlertRule['severity'] | undefined) ?? 'warning',
          runbook: runbookPath ? path.relative(root, runbookPath).split(path.sep).join('/') : runbook,
          forMs: duration(alert['for'], ['monitoring', 'alerts', index, 'for']) ?? 0,
        });
      });
    }
    const alertNames = alerts.map((alert) => alert.name);
    alerts.forEach((alert, index) => {
      if (alertNames.indexOf(alert.name) !== index)
        problems.push(
          `${at(nodeAt('monitoring', 'alerts', index, 'name'))}: a second alert is named '${alert.name}'. Give each alert its own name.`,
        );
    });
    // The alerts of the objectives (performance-low, ...) may be named too, once their setting is there.
    const known = [
      ...alertNames,
      ...objectiveAlertNames(
        (keys) => keys.reduce<unknown>((node, key) => record(node)[key], section) !== undefined,
      ).filter((name) => !alertNames.includes(name)),
    ];
    const checkAlertNames = (names: string[], keys: string[]): void => {
      names.forEach((alertName, index) => {
        if (!known.includes(alertName))
          problems.push(
            `${at(nodeAt(...keys, index))}: there is no alert '${alertName}' under monitoring.alerts. ${known.length > 0 ? `Use one of ${known.join(', ')}` : 'Declare it under monitoring.alerts'}.`,
          );
      });
    };
    checkAlertNames(stringList(record(value['rollout'])['abort_on']), ['rollout', 'abort_on']);

    const referenceValue = section['reference'] === undefined ? null : record(section['reference']);
    let reference: MonitoringSpec['reference'] = null;
    if (referenceValue && typeof referenceValue['path'] === 'string') {
      const target = insideWorkspace(referenceValue['path'], ['monitoring', 'reference', 'path'], 'reference data');
      if (target && !fs.existsSync(target))
        problems.push(
          `${at(nodeAt('monitoring', 'reference', 'path'))}: the reference data '${referenceValue['path']}' does not exist. Fix the path or write the file.`,
        );
      reference = { path: target ?? referenceValue['path'] };
    } else if (referenceValue && typeof referenceValue['dataset'] === 'string') {
      reference = { dataset: referenceValue['dataset'], version: stringOrNull(referenceValue['version']) };
    }

    const driftValue = section['drift'] === undefined ? null : record(section['drift']);
    let drift: MonitoringSpec['drift'] = null;
    if (driftValue) {
      const window = driftValue['window'];
      drift = {
        method: (driftValue['method'] as DriftMethod | undefined) ?? 'auto',
        threshold: numberOrNull(driftValue['threshold']),
        share: numberOr(driftValue['share'], 0.5),
        features: Array.isArray(driftValue['features']) ? stringList(driftValue['features']) : null,
        window:
          typeof window === 'number'
            ? { rows: window }
            : { ms: duration(window, ['monitoring', 'drift', 'window']) ?? 3_600_000 },
        minRows: numberOr(driftValue['min_rows'], DEFAULT_DRIFT_MIN_ROWS),
      };
    }

    const concept = section['concept_drift'] === undefined ? null : record(section['concept_drift']);
    const labels = section['labels'] === undefined ? null : record(section['labels']);
    let labelsSpec: MonitoringSpec['labels'] = null;
    if (labels && typeof labels['source'] === 'string') {
      const source = insideWorkspace(labels['source'], ['monitoring', 'labels', 'source'], 'labels file');
      labelsSpec = {
        source: source ?? labels['source'],
        delayMs: duration(labels['delay'], ['monitoring', 'labels', 'delay']),
        joinKey: stringOr(labels['join_key'], 'request_id'),
      };
    }
    const performance = section['performance'] === undefined ? null : record(section['performance']);
    const latency = section['latency'] === undefined ? null : record(section['latency']);
    const errors = section['errors'] === undefined ? null : record(section['errors']);
    const rollback = section['rollback'] === undefined ? null : record(section['rollback']);
    if (rollback) checkAlertNames(stringList(rollback['on']), ['monitoring', 'rollback', 'on']);

    const retrain = section['retrain'] === undefined ? null : record(section['retrain']);
    let retrainSpec: MonitoringSpec['retrain'] = null;
    if (retrain && typeof retrain['experiment'] === 'string') {
      checkAlertNames(stringList(retrain['on']), ['monitoring', 'retrain', 'on']);
      const experiment = insideWorkspace(retrain['experiment'], ['monitoring', 'retrain', 'experiment'], 'experiment');
      if (experiment && !fs.existsSync(experiment))
        problems.push(
          `${at(nodeAt('monitoring', 'retrain', 'experiment'))}: the retrain experiment '${retrain['experiment']}' does not exist. Fix the path or create the experiment file.`,
        );
      const data: string[] = [];
      stringList(retrain['data']).forEach((entry, index) => {
        const target = insideWorkspace(entry, ['monitoring', 'retrain', 'data', index], 'data path');
        if (target) data.push(target);
      });
      retrainSpec = {
        experiment: experiment ?? retrain['experiment'],
        on: stringList(retrain['on']),
        approval: retrain['approval'] === 'automatic' ? 'automatic' : 'required',
        scheduleMs: duration(retrain['schedule'], ['monitoring', 'retrain', 'schedule']),
        data,
      };
    }
    const log = record(section['log']);
    return {
      intervalMs: duration(section['interval'], ['monitoring', 'interval']) ?? 10_000,
      reference,
      drift,
      conceptDrift: concept
        ? { detector: concept['detector'] === 'ddm' ? 'ddm' : 'adwin', delta: numberOr(concept['delta'], 0.002) }
        : null,
      labels: labelsSpec,
      performance:
        performance && typeof performance['metric'] === 'string'
          ? { metric: performance['metric'], min: numberOrNull(performance['min']) }
          : null,
      latency: latency ? { p95Ms: numberOrNull(latency['p95_ms']), p99Ms: numberOrNull(latency['p99_ms']) } : null,
      errors: errors ? { maxRate: numberOr(errors['max_rate'], 1) } : null,
      kpis: Array.isArray(section['kpis'])
        ? (section['kpis'] as Record<string, unknown>[]).map((kpi) => ({
            name: stringOr(kpi['name'], ''),
            expression: stringOr(kpi['expression'], ''),
            target: numberOrNull(kpi['target']),
            direction: kpi['direction'] === 'minimize' ? 'minimize' : 'maximize',
          }))
        : [],
      alerts,
      webhook: stringOrNull(section['webhook']),
      rollback: rollback ? { automatic: rollback['automatic'] === true, on: stringList(rollback['on']) } : null,
      retrain: retrainSpec,
      log: {
        sample: numberOr(log['sample'], DEFAULT_LOG_POLICY.sample),
        retentionMs: duration(log['retention'], ['monitoring', 'log', 'retention']) ?? DEFAULT_LOG_POLICY.retentionMs,
        maxRows: numberOr(log['max_rows'], DEFAULT_LOG_POLICY.maxRows),
        maxBytes: size(log['max_size'], ['monitoring', 'log', 'max_size']) ?? DEFAULT_LOG_POLICY.maxBytes,
      },
    };
  }
}

/**
 * Fewest current rows before drift is judged. The distance tests Evidently picks for a large
 * reference (Wasserstein, Jensen-Shannon, PSI) have no sample-size correction: on a few dozen
 * requests their noise alone passes the default threshold of 0.1.
 */
export const DEFAULT_DRIFT_MIN_ROWS = 100;

const SIZE = /^([0-9]+(?:\.[0-9]+)?)(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/;
const UNIT_BYTES: Record<string, number> = {
  B: 1,
  kB: 1e3,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
};

/** Bytes of a size such as `500MB`, `2GB` or `10GiB` (kB, MB, GB: powers of 1000; KiB, MiB, GiB: of 1024). */
export function sizeBytes(text: string): number | undefined {
  const match = SIZE.exec(text.trim());
  return match ? Math.round(Number(match[1]) * (UNIT_BYTES[match[2] ?? 'B'] ?? 1)) : undefined;
}

function record(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}
