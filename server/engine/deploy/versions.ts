// Pure helpers over the versions a deployment serves: their names, whether a stored state can be
// resumed, and the workers' pids and health as the status shows them.
import type { DeploymentHealth, ServedVersion, TrafficSplit } from '../../shared/deployments';
import { currentActor } from '../registry/registry';
import type { ModelVersion, Registry } from '../registry/registry';
import type { DeploymentState } from './records';
import type { ModelRef } from './spec';

type Named = { model: string; version: number };

/** A version as the status lists it, before its worker runs. */
export function served(ref: string, version: Named): ServedVersion {
  return { model: version.model, version: version.version, ref, pid: null, ready: false };
}

export function sameVersion(a: Named, b: Named): boolean {
  return a.model === b.model && a.version === b.version;
}

/** "name:version", as the serving engine and the prediction log name a version. */
export function label(version: Named): string {
  return `${version.model}:${version.version}`;
}

/** A split in words, such as "90/10" or "100/0 (mirror 25%)". */
export function trafficText(traffic: TrafficSplit): string {
  return `${traffic.stable}/${traffic.candidate}${traffic.mirror > 0 ? ` (mirror ${traffic.mirror}%)` : ''}`;
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The actor of changes made by a person through this process. */
export function actorOf(value: unknown): string {
  return typeof value === 'string' && value.trim() ? value.trim() : currentActor();
}

/**
 * Whether a stored state is resumed: the same rollout in the spec, and the references still resolve to
 * the versions it was about (else the rollout starts over).
 */
export function canRestore(
  previous: DeploymentState | null,
  rolloutDigest: string,
  stable: Named,
  candidate: Named | null,
): previous is DeploymentState {
  return (
    previous !== null &&
    previous.rolloutDigest === rolloutDigest &&
    sameVersion(previous.stable, stable) &&
    (previous.candidate?.version ?? null) === (candidate?.version ?? null)
  );
}

/** The stable and candidate with their workers' pids and readiness, every worker pid, and the health. */
export function withWorkers(
  stable: ServedVersion,
  candidate: ServedVersion | null,
  candidateServed: boolean,
  workers: readonly ServedVersion[],
): { stable: ServedVersion; candidate: ServedVersion | null; pids: number[]; health: DeploymentHealth } {
  const find = (version: ServedVersion): ServedVersion => {
    const worker = workers.find((entry) => sameVersion(entry, version));
    const { model, version: number, ref } = version;
    return {
      model,
      version: number,
      ref,
      pid: worker?.pid ?? null,
      ready: worker?.ready ?? false,
      ...(worker?.replicas ? { replicas: worker.replicas } : {}),
    };
  };
  const stableNow = find(stable);
  const candidateNow = candidate && (candidateServed ? find(candidate) : { ...candidate, pid: null, ready: false });
  const pids = workers.flatMap((worker) => worker.replicas?.pids ?? (worker.pid === null ? [] : [worker.pid]));
  // A version with some of its workers down still answers, on fewer of them.
  const allReady = (worker: ServedVersion): boolean =>
    worker.ready && (!worker.replicas || worker.replicas.ready === worker.replicas.total);
  const health: DeploymentHealth = !stableNow.ready ? 'down' : workers.every(allReady) ? 'healthy' : 'degraded';
  return { stable: stableNow, candidate: candidateNow, pids, health };
}

/**
 * Whether a candidate reference names an alias of a registered model that is not set yet (such as
 * the challenger a retrain will register): the deployment serves without a candidate until it is.
 */
export function candidateNotYetNamed(registry: Registry, reference: ModelRef): boolean {
  return (
    reference.alias !== null &&
    registry.hasModel(reference.name) &&
    registry.aliasVersion(reference.name, reference.alias) === null
  );
}

/** Why two versions cannot share requests (their inputs differ: names, types or shapes), or null. */
export function inputsDifference(stable: ModelVersion, candidate: ModelVersion): string | null {
  const describe = (version: ModelVersion): string =>
    version.signature.inputs
      .map((input) => `${input.name} ${input.type} [${(input.shape ?? []).join(', ')}]`)
      .join('; ');
  const [was, is] = [describe(stable), describe(candidate)];
  return was === is
    ? null
    : `its inputs (${is}) differ from the stable ${label(stable)}'s (${was}), so every request sent to it would be refused`;
}
