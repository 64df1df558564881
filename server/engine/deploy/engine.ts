// What the control plane needs of the data plane (server/engine/serving/server.ts, the ModelServer),
// in one place: start and stop it, tell it which versions to serve and how to split traffic, and hear
// about every request and every worker that exits. The control plane codes against this interface.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServedVersion, TrafficSplit } from '../../shared/deployments';
import type { ModelVersion } from '../registry/registry';
import type { PredictionRecord } from '../serving/record';
import type { DeploymentSpec } from './spec';

export interface ServingVersions {
  stable: ModelVersion;
  candidate: ModelVersion | null;
  fallback: ModelVersion | null;
}

export interface ServingEngine {
  /** Starts listening; resolves with the port once it is ready to answer. */
  start(): Promise<{ port: number }>;
  /** Starts workers for new versions, switches routes once they are ready, drains and stops the old ones. */
  setVersions(versions: ServingVersions): Promise<void>;
  setTraffic(split: TrafficSplit & { stickyKey?: string }): void;
  workers(): ServedVersion[];
  stop(options: { drainMs: number }): Promise<void>;
}

export interface EngineOptions {
  spec: DeploymentSpec;
  host: string;
  port: number;
  token: string | null;
  onPrediction(record: PredictionRecord): void;
  onWorkerExit(version: string, detail: string): void;
  adminRoutes(request: IncomingMessage, response: ServerResponse, url: URL): boolean | Promise<boolean>;
  log(message: string): void;
}

/** A factory of serving engines; the server process passes S1's ModelServer, tests may pass another. */
export type EngineFactory = (options: EngineOptions) => ServingEngine | Promise<ServingEngine>;
