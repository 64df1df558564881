// The serving engine of a deployment server: S1's ModelServer (server/engine/serving/server.ts)
// configured from the spec. The only file of the control plane that knows the data plane's class.
import os from 'node:os';
import type { ModelVersion } from '../registry/registry';
import { ModelServer } from '../serving/server';
import type { ServingVersion } from '../serving/server';
import type { EngineFactory, ServingVersions } from './engine';

/**
 * onnxruntime's threads per run in each worker: its default (a thread per core) for one worker; with
 * several, the cores shared out between them, so that they do not fight over the same cores.
 */
export function workerThreads(workers: number, cores = os.availableParallelism()): number | null {
  return workers <= 1 ? null : Math.max(1, Math.floor(cores / workers));
}

/** Builds a ModelServer for a deployment. */
export const modelServerEngine: EngineFactory = (options) => {
  const { spec } = options;
  const server = new ModelServer({
    host: options.host,
    port: options.port,
    token: options.token,
    protocols: spec.server.protocols,
    batch: spec.server.batch,
    workers: spec.server.workers,
    workerThreads: workerThreads(spec.server.workers),
    maxConcurrency: spec.server.maxConcurrency,
    timeoutMs: spec.server.timeoutMs,
    fallback: { on: spec.fallback.on, timeoutMs: spec.fallback.timeoutMs, default: spec.fallback.default },
    logger: options.log,
    onPrediction: options.onPrediction,
    onWorkerExit: options.onWorkerExit,
    adminRoutes: options.adminRoutes,
    name: spec.name,
  });
  const refs = (version: ModelVersion | null, ref: string | undefined): ServingVersion | null =>
    version ? { ...version, ...(ref !== undefined ? { ref } : {}) } : null;
  return {
    start: () => server.start(),
    setVersions: (versions: ServingVersions) => {
      const stable = refs(versions.stable, spec.model.ref);
      if (!stable) throw new Error('a deployment always serves a stable version');
      return server.setVersions({
        stable,
        candidate: refs(versions.candidate, spec.rollout.candidate?.ref),
        fallback: refs(versions.fallback, spec.fallback.model?.ref),
      });
    },
    setTraffic: (split) => server.setTraffic(split),
    workers: () => server.workers(),
    stop: (stopOptions) => server.stop(stopOptions),
  };
};
