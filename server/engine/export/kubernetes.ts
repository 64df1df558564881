// A deployment as Kubernetes resources: a Deployment running the Cairn model server image on the same
// deployment file, a Service in front of it, a HorizontalPodAutoscaler when the spec asks for
// autoscaling, and a KServe InferenceService (ONNX, Open Inference Protocol v2) as the alternative
// for clusters that run KServe. Pure: data in, plain resource objects out; the CLI writes them.
import type { ExportSource } from './deploySpec';

/** A Kubernetes resource as a plain object, ready to be written as YAML. */
export type Resource = Record<string, unknown>;

export interface ExportedResource {
  /** The file name it is written to. */
  file: string;
  resource: Resource;
}

export interface KubernetesExport {
  resources: ExportedResource[];
  /** Things the user should know: resources not written and why, assumptions made. */
  notes: string[];
}

export interface KubernetesOptions {
  /** The deployment file's path inside the image, relative to the workspace (POSIX). */
  specPath: string;
  /** Overrides export.kubernetes.image. */
  image?: string;
  /** Where the workspace sits inside the image. */
  workspaceDir?: string;
}

/** Raised when the spec lacks something a manifest cannot do without; the message says what to add. */
export class ExportError extends Error {}

const LIVE_PATH = '/v2/health/live';

/** The Kubernetes and KServe resources of a deployment. */
export function kubernetesResources(source: ExportSource, options: KubernetesOptions): KubernetesExport {
  const image = options.image ?? source.kubernetes.image;
  if (!image)
    throw new ExportError(
      `${source.file}: no container image for the model server. Add export.kubernetes.image (an image that runs cairn with this workspace in it), or give --image.`,
    );
  const notes: string[] = [
    `The container runs \`cairn deploy ${options.specPath} --foreground\` in ${options.workspaceDir ?? '/workspace'}: the image must hold the workspace with its .cairn registry (the models ${source.model}${source.candidate ? ` and ${source.candidate}` : ''} resolve there).`,
  ];
  const labels = {
    'app.kubernetes.io/name': source.name,
    'app.kubernetes.io/component': 'model-server',
    'app.kubernetes.io/part-of': 'cairn',
    'app.kubernetes.io/managed-by': 'cairn',
  };
  const selector = { 'app.kubernetes.io/name': source.name, 'app.kubernetes.io/component': 'model-server' };
  const annotations: Record<string, string> = { 'cairn.dev/model': source.model, 'cairn.dev/spec': options.specPath };
  if (source.candidate) annotations['cairn.dev/candidate'] = source.candidate;
  const metadata = { name: source.name, namespace: source.kubernetes.namespace, labels };
  const resources: ExportedResource[] = [
    { file: 'deployment.yaml', resource: deployment(source, image, options, metadata, annotations, selector) },
    { file: 'service.yaml', resource: service(source, metadata, selector) },
  ];
  const autoscaling = source.kubernetes.autoscaling;
  if (autoscaling) resources.push({ file: 'hpa.yaml', resource: autoscaler(source, metadata, autoscaling) });
  else
    notes.push(
      `No export.kubernetes.autoscaling: hpa.yaml not written; the Deployment runs ${source.kubernetes.replicas} replica(s).`,
    );
  if (source.tokenEnv)
    notes.push(
      `The server reads its token from ${source.tokenEnv}, taken from the Secret '${source.name}-token' (key 'token'): create it with kubectl create secret generic ${source.name}-token --from-literal=token=...`,
    );
  const inference = inferenceService(source, annotations, notes);
  if (inference) resources.push({ file: 'inferenceservice.yaml', resource: inference });
  return { resources, notes };
}

function deployment(
  source: ExportSource,
  image: string,
  options: KubernetesOptions,
  metadata: Resource,
  annotations: Record<string, string>,
  selector: Record<string, string>,
): Resource {
  const workspace = options.workspaceDir ?? '/workspace';
  const container: Resource = {
    name: 'model-server',
    image,
    workingDir: workspace,
    // Pods must listen on every address: the kubelet's probes and the Service reach the pod's IP.
    args: ['deploy', options.specPath, '--foreground', '--host', '0.0.0.0', '--port', String(source.port)],
    ports: [{ name: 'http', containerPort: source.port, protocol: 'TCP' }],
    livenessProbe: probe(source, LIVE_PATH),
    readinessProbe: probe(source, source.health.path),
  };
  if (source.tokenEnv)
    container['env'] = [
      { name: source.tokenEnv, valueFrom: { secretKeyRef: { name: `${source.name}-token`, key: 'token' } } },
    ];
  if (source.kubernetes.resources) container['resources'] = source.kubernetes.resources;
  const spec: Resource = {
    selector: { matchLabels: selector },
    template: { metadata: { labels: metadata['labels'], annotations }, spec: { containers: [container] } },
  };
  // With an autoscaler the replica count is its to set; a fixed count would fight it on every apply.
  if (!source.kubernetes.autoscaling) spec['replicas'] = source.kubernetes.replicas;
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { ...metadata, annotations }, spec };
}

function probe(source: ExportSource, path: string): Resource {
  return {
    httpGet: { path, port: 'http' },
    periodSeconds: seconds(source.health.intervalMs),
    timeoutSeconds: seconds(source.health.timeoutMs),
    failureThreshold: source.health.failureThreshold,
  };
}

/** Probe times are whole seconds, at least one. */
function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

function service(source: ExportSource, metadata: Resource, selector: Record<string, string>): Resource {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata,
    spec: {
      type: source.kubernetes.serviceType,
      selector,
      ports: [{ name: 'http', port: source.port, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}

function autoscaler(
  source: ExportSource,
  metadata: Resource,
  autoscaling: NonNullable<ExportSource['kubernetes']['autoscaling']>,
): Resource {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata,
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: source.name },
      minReplicas: autoscaling.minReplicas,
      maxReplicas: Math.max(autoscaling.minReplicas, autoscaling.maxReplicas),
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: autoscaling.targetCpuPercent } },
        },
      ],
    },
  };
}

/**
 * The KServe InferenceService. KServe splits traffic between the last revision that took all of it
 * and the one being applied: applying this with canaryTrafficPercent starts the canary of the
 * model at storage_uri, which is why the percent comes from the rollout's first step.
 */
function inferenceService(source: ExportSource, annotations: Record<string, string>, notes: string[]): Resource | null {
  const kserve = source.kserve;
  if (!kserve.storageUri) {
    notes.push(
      'No export.kserve.storage_uri: inferenceservice.yaml not written. Add the URI KServe downloads the ONNX model from (s3://, gs://, pvc://).',
    );
    return null;
  }
  const percent = kserve.canaryTrafficPercent ?? source.candidatePercent;
  if (source.strategy === 'shadow')
    notes.push('KServe has no shadow traffic: the InferenceService serves the model at storage_uri alone.');
  const model: Resource = { modelFormat: { name: 'onnx' }, protocolVersion: 'v2', storageUri: kserve.storageUri };
  if (kserve.runtime) model['runtime'] = kserve.runtime;
  if (source.kubernetes.resources) model['resources'] = source.kubernetes.resources;
  const predictor: Resource = { model };
  if (kserve.minReplicas !== null) predictor['minReplicas'] = kserve.minReplicas;
  if (kserve.maxReplicas !== null) predictor['maxReplicas'] = kserve.maxReplicas;
  if (percent !== null && percent < 100) {
    predictor['canaryTrafficPercent'] = percent;
    notes.push(
      `inferenceservice.yaml sends ${percent}% of traffic to ${kserve.storageUri}: KServe keeps the rest on the revision that last took all traffic, so apply it over the InferenceService of the stable model (${source.model}).`,
    );
  }
  return {
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: {
      name: source.name,
      namespace: kserve.namespace,
      labels: { 'app.kubernetes.io/part-of': 'cairn', 'app.kubernetes.io/managed-by': 'cairn' },
      annotations,
    },
    spec: { predictor },
  };
}
