// What the exports need from a deployment file (*.deploy.yaml), read through the control plane's
// readDeployment (server/engine/deploy/spec.ts): its name, model references, the candidate's first
// share of traffic, server port and token variable, health checks and the `export` section.
import { readDeployment } from '../deploy/spec';
import type { DeploymentSpec } from '../deploy/spec';

export { DeploymentSpecError } from '../deploy/spec';

export interface K8sQuantities {
  cpu?: string;
  memory?: string;
}

/** The deployment as the Kubernetes and KServe exports see it; durations in milliseconds. */
export interface ExportSource {
  /** Absolute path of the deployment file. */
  file: string;
  /** Workspace-relative path, with forward slashes. */
  relativeFile: string;
  name: string;
  /** `name@alias` or `name:version`. */
  model: string;
  candidate: string | null;
  strategy: DeploymentSpec['rollout']['strategy'];
  /** Percent of traffic the candidate gets first: the first canary step, or the A/B split. */
  candidatePercent: number | null;
  port: number;
  tokenEnv: string | null;
  health: DeploymentSpec['health'];
  kubernetes: Omit<DeploymentSpec['export']['kubernetes'], 'resources'> & {
    resources: { requests?: K8sQuantities; limits?: K8sQuantities } | null;
  };
  kserve: DeploymentSpec['export']['kserve'];
}

/** Reads and checks a deployment file for export; throws DeploymentSpecError with file:line. */
export function readExportSource(file: string, root: string): ExportSource {
  return exportSourceOf(readDeployment(file, root));
}

/** The export view of a deployment spec. */
export function exportSourceOf(spec: DeploymentSpec): ExportSource {
  const rollout = spec.rollout;
  const candidatePercent =
    rollout.strategy === 'canary'
      ? (rollout.steps[0]?.weight ?? null)
      : rollout.strategy === 'ab'
        ? (rollout.split?.candidate ?? null)
        : null;
  const { requests, limits } = spec.export.kubernetes.resources;
  const resources = {
    ...(requests ? { requests } : {}),
    ...(limits ? { limits } : {}),
  };
  return {
    file: spec.file,
    relativeFile: spec.relativeFile,
    name: spec.name,
    model: spec.model.ref,
    candidate: rollout.candidate?.ref ?? null,
    strategy: rollout.strategy,
    candidatePercent,
    port: spec.server.port,
    tokenEnv: spec.server.tokenEnv,
    health: spec.health,
    kubernetes: { ...spec.export.kubernetes, resources: requests || limits ? resources : null },
    kserve: spec.export.kserve,
  };
}
