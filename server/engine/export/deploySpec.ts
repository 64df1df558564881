// What the exports need from a deployment file (*.deploy.yaml): its name, model references, rollout
// weights, server port and token variable, health checks and the `export` section, with the schema's
// defaults applied. The file is validated against schemas/deployment.schema.json and every problem
// names its line. This is a narrow reader of its own until the control plane's readDeployment
// (server/engine/deploy/spec.ts) lands; the exports then read through it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap } from 'yaml';
import { nodeStart, nodeValue, parseWhole } from '../../spec/parse';
import { isRecord } from '../../spec/pipeline';
import { resolverFor } from '../../spec/schemas';
import { validateNode } from '../../spec/schemaValidate';
import { LineIndex } from '../../spec/text';

/** Bad deployment file: the message names the file and line and says what to change. */
export class DeploymentFileError extends Error {}

export interface K8sQuantities {
  cpu?: string;
  memory?: string;
}

/** The deployment as the Kubernetes and KServe exports see it; durations in milliseconds. */
export interface ExportSource {
  /** Absolute path of the deployment file. */
  file: string;
  name: string;
  /** `name@alias` or `name:version`. */
  model: string;
  candidate: string | null;
  strategy: 'direct' | 'canary' | 'ab' | 'shadow';
  /** Percent of traffic the candidate gets first: the first canary step, or the A/B split. */
  candidatePercent: number | null;
  port: number;
  tokenEnv: string | null;
  health: { path: string; intervalMs: number; timeoutMs: number; failureThreshold: number };
  kubernetes: {
    namespace: string;
    image: string | null;
    replicas: number;
    serviceType: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
    resources: { requests?: K8sQuantities; limits?: K8sQuantities } | null;
    autoscaling: { minReplicas: number; maxReplicas: number; targetCpuPercent: number } | null;
  };
  kserve: {
    namespace: string;
    storageUri: string | null;
    runtime: string | null;
    canaryTrafficPercent: number | null;
    minReplicas: number | null;
    maxReplicas: number | null;
  };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A schema duration ("10s", "500ms") in milliseconds. */
export function durationMs(text: string): number {
  const match = /^([0-9]+)(ms|s|m|h|d)$/.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  return Number(match[1]) * (UNIT_MS[match[2] ?? 'ms'] ?? 1);
}

/** A model reference as a string: `name@alias` or `name:version`. */
export function modelReference(value: unknown): string {
  if (typeof value === 'string') return value;
  if (isRecord(value) && typeof value['name'] === 'string') {
    if (typeof value['alias'] === 'string') return `${value['name']}@${value['alias']}`;
    if (typeof value['version'] === 'number') return `${value['name']}:${value['version']}`;
  }
  throw new Error(`not a model reference: ${JSON.stringify(value)}`);
}

/** Reads and checks a deployment file for export. */
export function readExportSource(file: string): ExportSource {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new DeploymentFileError(
      `${file}: cannot read the deployment file (${(error as NodeJS.ErrnoException).code ?? String(error)}).`,
    );
  }
  const display = path.relative(process.cwd(), file) || file;
  const lines = new LineIndex(text);
  const at = (offset: number | undefined): string => `${display}:${lines.position(offset ?? 0).line + 1}`;
  const parsed = parseWhole(text);
  const syntax = parsed.errors[0];
  if (syntax) throw new DeploymentFileError(`${at(syntax.start)}: ${syntax.message} Fix the YAML syntax.`);
  if (!isMap(parsed.root))
    throw new DeploymentFileError(`${display}:1: the deployment file is empty. Add at least model: NAME@ALIAS.`);
  const resolver = resolverFor('deployment');
  if (resolver) {
    const problems = validateNode(parsed.root, resolver.root, resolver, null, parsed.document)
      .filter((problem) => problem.severity === 'error')
      .map((problem) => `${at(nodeStart(problem.anchor))}: ${problem.message}`);
    if (problems.length > 0) throw new DeploymentFileError(problems.join('\n'));
  }
  const spec = nodeValue(parsed.root, parsed.document) as Record<string, unknown>;
  return exportSourceOf(path.resolve(file), spec);
}

/** The export view of a deployment document that already passed the schema. */
export function exportSourceOf(file: string, spec: Record<string, unknown>): ExportSource {
  const section = (value: unknown): Record<string, unknown> => (isRecord(value) ? value : {});
  const number = (value: unknown, fallback: number): number => (typeof value === 'number' ? value : fallback);
  const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
  const server = section(spec['server']);
  const rollout = section(spec['rollout']);
  const health = section(spec['health']);
  const exports = section(spec['export']);
  const kubernetes = section(exports['kubernetes']);
  const kserve = section(exports['kserve']);
  const strategy = (text(rollout['strategy']) ?? 'direct') as ExportSource['strategy'];
  const firstStep = Array.isArray(rollout['steps']) ? section(rollout['steps'][0]) : {};
  const weights = section(section(rollout['split'])['weights']);
  const candidatePercent =
    strategy === 'canary' ? number(firstStep['weight'], 0) : strategy === 'ab' ? number(weights['candidate'], 0) : null;
  const autoscaling = isRecord(kubernetes['autoscaling']) ? kubernetes['autoscaling'] : null;
  const resources = isRecord(kubernetes['resources'])
    ? (kubernetes['resources'] as { requests?: K8sQuantities; limits?: K8sQuantities })
    : null;
  return {
    file,
    name: text(spec['name']) ?? path.basename(file).replace(/\.deploy\.ya?ml$/, ''),
    model: modelReference(spec['model']),
    candidate: rollout['candidate'] === undefined ? null : modelReference(rollout['candidate']),
    strategy,
    candidatePercent,
    port: number(server['port'], 8080),
    tokenEnv: text(server['token_env']),
    health: {
      path: text(health['path']) ?? '/v2/health/ready',
      intervalMs: durationMs(text(health['interval']) ?? '10s'),
      timeoutMs: durationMs(text(health['timeout']) ?? '1s'),
      failureThreshold: number(health['failure_threshold'], 3),
    },
    kubernetes: {
      namespace: text(kubernetes['namespace']) ?? 'default',
      image: text(kubernetes['image']),
      replicas: number(kubernetes['replicas'], 1),
      serviceType: (text(kubernetes['service_type']) ?? 'ClusterIP') as ExportSource['kubernetes']['serviceType'],
      resources,
      autoscaling: autoscaling && {
        minReplicas: number(autoscaling['min_replicas'], 1),
        maxReplicas: number(autoscaling['max_replicas'], 1),
        targetCpuPercent: number(autoscaling['target_cpu_percent'], 80),
      },
    },
    kserve: {
      namespace: text(kserve['namespace']) ?? text(kubernetes['namespace']) ?? 'default',
      storageUri: text(kserve['storage_uri']),
      runtime: text(kserve['runtime']),
      canaryTrafficPercent:
        typeof kserve['canary_traffic_percent'] === 'number' ? kserve['canary_traffic_percent'] : null,
      minReplicas: typeof kserve['min_replicas'] === 'number' ? kserve['min_replicas'] : null,
      maxReplicas: typeof kserve['max_replicas'] === 'number' ? kserve['max_replicas'] : null,
    },
  };
}
