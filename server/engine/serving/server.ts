// The model server's front: one node:http listener that speaks the Open Inference Protocol (V2 REST)
// and MLflow's /invocations, checks requests against the model signature, routes them to the stable
// version or the candidate (with a shadow copy and fallbacks), micro-batches them into the model
// workers, reports every request (onPrediction) and serves /metrics. The control plane (deploy/)
// decides which versions and what traffic split; this file only carries them out.
//
// Architecture Invariant: a request never waits on the prediction log or the control plane: the
// record is handed over after the response is written (the prediction log reduces it to its row at
// once and writes it on a thread of its own: monitor/logWriter.ts).
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServedVersion, TrafficSplit } from '../../shared/deployments';
import type { OnnxSignature } from '../registry/signature';
import type { BatchOptions } from './batcher';
import { readBinaryInfer } from './binary';
import { BodyTooLarge, ClientGone, hasToken, readBody, send } from './http';
import { parseJson } from './json';
import {
  decodeMlflow,
  decodeV2Infer,
  encodeMlflowOutputs,
  encodeV2Outputs,
  isRequestError,
  v2Datatype,
  v2Shape,
} from './inputs';
import type { Decoded } from './inputs';
import { Limiter, RETRY_AFTER_BUSY_SECONDS, RETRY_AFTER_UNAVAILABLE_SECONDS } from './limiter';
import { PROMETHEUS_CONTENT_TYPE, ServingMetrics } from './metrics';
import type { WorkerCommand } from './modelHost';
import { defaultOutputs, meanAbsoluteDifference, TimeoutError, withTimeout } from './predict';
import { predictionRecord } from './record';
import type { Arm, PredictionRecord, Protocol } from './record';
import { chooseArm, requestKey, shouldMirror } from './router';
import type { Traffic } from './router';
import { Served } from './served';
import type { ServingVersion } from './served';
import { ArmCounter, ShadowCounter } from './stats';
import type { ServerStats } from './stats';
import type { TensorValue } from './tensors';

export type { ServingVersion } from './served';

export interface FallbackOptions {
  /** Which failures fall back. */
  on: ('error' | 'timeout')[];
  /** How long to wait for the routed version before falling back (with 'timeout'). */
  timeoutMs: number | null;
  /** The fixed answer when no version can answer: output name → value (or list of values) per row. */
  default: Record<string, unknown> | null;
}

export interface ModelServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Bearer token required on model and metrics routes (health routes stay open for probes). */
  token?: string | null;
  protocols?: Protocol[];
  batch: BatchOptions;
  /** Most requests handled at once; beyond it 429 with Retry-After. */
  maxConcurrency?: number | null;
  /** Longest time a request may take (504 unless a fallback answers). */
  timeoutMs: number;
  /** Without it: a failed candidate falls back to the stable version, nothing else. */
  fallback?: FallbackOptions | null;
  logger?: (message: string) => void;
  /** Every answered request, after its response is written. */
  onPrediction?(record: PredictionRecord): void;
  /** A worker exited unexpectedly ("name:version", why); it is restarted after a delay. */
  onWorkerExit?(version: string, detail: string): void;
  /** Handles /cairn/v1/* (body not read, no serving token check); false → 404. */
  adminRoutes?(request: IncomingMessage, response: ServerResponse, url: URL): boolean | Promise<boolean>;
  /** The deployment's name, accepted as the V2 model name besides the model's own. */
  name?: string;
  /** Worker processes per served version (default 1). */
  workers?: number;
  /** onnxruntime's threads per run in each worker; null: its default. */
  workerThreads?: number | null;
  restartDelayMs?: number;
  maxBodyBytes?: number;
  /** How to start workers (tests and the bundle differ; see modelHost.ts). */
  workerCommand?: WorkerCommand;
  random?: () => number;
}

export interface Versions {
  stable: ServingVersion;
  candidate?: ServingVersion | null;
  fallback?: ServingVersion | null;
}

type ArmName = 'stable' | 'candidate' | 'fallback';

/** The outcome of running a request: outputs and who answered, or the failure. */
interface Answer {
  outputs: Record<string, TensorValue> | null;
  /** The version that answered ("default" for the fixed answer), null when nothing did. */
  answeredBy: Served | 'default' | null;
  fallback: boolean;
  error: string | null;
  timedOut: boolean;
}

const JSON_TYPE = 'application/json';
/** From this size on, a V2 body is read with parseJson rather than JSON.parse. */
const LARGE_BODY_BYTES = 16 * 1024;

export class ModelServer {
  private readonly server: http.Server;
  private readonly metrics = new ServingMetrics();
  private readonly limiter: Limiter;
  private readonly token: Buffer | null;
  private readonly protocols: Set<Protocol>;
  private readonly fallback: FallbackOptions;
  private readonly random: () => number;
  private readonly log: (message: string) => void;
  private arms: Record<ArmName, Served | null> = { stable: null, candidate: null, fallback: null };
  private traffic: Traffic = { stable: 100, candidate: 0, mirror: 0 };
  private swapChain: Promise<void> = Promise.resolve();
  private readonly retiring = new Set<Promise<void>>();
  private draining = false;
  private stopping: Promise<void> | null = null;
  private readonly counters = { stable: new ArmCounter(), candidate: new ArmCounter() };
  private readonly shadow = new ShadowCounter();
  private refused = 0;
  private readonly since = Date.now();

  constructor(private readonly options: ModelServerOptions) {
    this.limiter = new Limiter(options.maxConcurrency ?? null);
    this.token = options.token ? Buffer.from(options.token) : null;
    this.protocols = new Set(options.protocols ?? ['v2', 'mlflow']);
    this.fallback = options.fallback ?? { on: ['error'], timeoutMs: null, default: null };
    this.random = options.random ?? Math.random;
    this.log = options.logger ?? (() => undefined);
    this.server = http.createServer((request, response) => this.handle(request, response));
    this.server.keepAliveTimeout = 65_000;
  }

  /** Listens; resolves with the port. Model requests get 503 until setVersions has a ready stable version. */
  start(): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve({ port: (this.server.address() as AddressInfo).port });
      });
    });
  }

  /**
   * Serves these versions: starts workers for new ones, waits until they are ready, switches the
   * routes, then drains and stops workers no longer used (in the background). Resolves when switched;
   * rejects (and changes nothing) when a new version cannot be loaded.
   */
  setVersions(versions: Versions): Promise<void> {
    const run = this.swapChain.then(() => this.switchVersions(versions));
    this.swapChain = run.catch(() => undefined);
    return run;
  }

  private async switchVersions(versions: Versions): Promise<void> {
    const current = new Map<string, Served>();
    for (const served of Object.values(this.arms)) if (served) current.set(served.key, served);
    const next: Record<ArmName, Served | null> = { stable: null, candidate: null, fallback: null };
    const started: Served[] = [];
    for (const arm of ['stable', 'candidate', 'fallback'] as const) {
      const version = versions[arm];
      if (!version) continue;
      const key = `${version.model}:${version.version}`;
      let served = current.get(key) ?? started.find((each) => each.key === key);
      if (!served) {
        served = this.serve(version);
        started.push(served);
      }
      next[arm] = served;
    }
    try {
      await Promise.all(started.map((served) => served.ready));
    } catch (error) {
      for (const served of started) void served.retire(0);
      throw new Error(`cannot serve ${started.map((served) => served.key).join(', ')}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const previous = [...current.values()];
    this.arms = next;
    const kept = new Set(Object.values(next));
    for (const served of previous) {
      if (kept.has(served)) continue;
      this.log(`retiring ${served.key}`);
      const retiring = served.retire(this.options.timeoutMs).catch(() => undefined);
      this.retiring.add(retiring);
      void retiring.finally(() => this.retiring.delete(retiring));
    }
    this.log(
      `serving ${(['stable', 'candidate', 'fallback'] as const).map((arm) => `${arm} ${next[arm]?.key ?? '-'}`).join(', ')}`,
    );
  }

  private serve(version: ServingVersion): Served {
    return new Served(version, {
      batch: this.options.batch,
      workers: this.options.workers ?? 1,
      threads: this.options.workerThreads ?? null,
      command: this.options.workerCommand,
      restartDelayMs: this.options.restartDelayMs ?? 1000,
      onBatch: (key, rows) => this.metrics.batchSize.observe({ version: key }, rows),
      onExit: (served, detail) => {
        this.log(`worker of ${served.key} exited: ${detail}`);
        this.options.onWorkerExit?.(served.key, detail);
      },
      onRestarted: (served, pid) => this.log(`worker of ${served.key} restarted (pid ${pid ?? '?'})`),
    });
  }

  /** The traffic split (and sticky key) from now on. */
  setTraffic(split: TrafficSplit & { stickyKey?: string }): void {
    this.traffic = { ...split };
  }

  /** The served versions (stable, candidate, fallback model; each once) with their worker pids. */
  workers(): ServedVersion[] {
    const seen = new Set<Served>();
    const list: ServedVersion[] = [];
    for (const served of Object.values(this.arms)) {
      if (!served || seen.has(served)) continue;
      seen.add(served);
      list.push(served.describe());
    }
    return list;
  }

  /** In-memory counters per arm since the server started. */
  stats(): ServerStats {
    return {
      stable: this.counters.stable.snapshot(this.arms.stable?.key ?? null),
      candidate: this.counters.candidate.snapshot(this.arms.candidate?.key ?? null),
      shadow: this.shadow.snapshot(this.arms.candidate?.key ?? null),
      refused: this.refused,
      since: this.since,
    };
  }

  /** Stops accepting requests, lets those in flight finish (at most drainMs), then stops the workers. */
  stop(options: { drainMs: number }): Promise<void> {
    this.stopping ??= this.shutdown(options.drainMs);
    return this.stopping;
  }

  private async shutdown(drainMs: number): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const deadline = Date.now() + drainMs;
    while (this.limiter.inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    this.server.closeAllConnections();
    await closed;
    await this.swapChain;
    const all = new Set(Object.values(this.arms).filter((served): served is Served => served !== null));
    await Promise.all([...all].map((served) => served.retire(Math.max(0, deadline - Date.now()))));
    await Promise.all([...this.retiring]);
    this.log('stopped');
  }

  // ---------------------------------------------------------------------------------------------
  // Requests

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const given = request.headers['x-request-id'];
    const requestId = typeof given === 'string' && given !== '' && given.length <= 200 ? given : randomUUID();
    response.setHeader('x-request-id', requestId);
    if (this.draining) response.setHeader('connection', 'close');
    const raw = request.url ?? '/';
    const query = raw.indexOf('?');
    const path = query < 0 ? raw : raw.slice(0, query);
    if (path.startsWith('/cairn/v1/')) {
      void this.admin(request, response, raw);
      return;
    }
    const method = request.method ?? 'GET';
    if (path === '/v2/health/live') return this.json(response, 200, { live: true });
    if (path === '/v2/health/ready') return this.json(response, this.ready() ? 200 : 503, { ready: this.ready() });
    if (path === '/ping' || path === '/health') {
      if (!this.protocols.has('mlflow')) return this.notFound(response, path);
      return send(response, this.ready() ? 200 : 503, '\n', 'text/plain');
    }
    if (this.token && !hasToken(request, this.token)) {
      const header = request.headers.authorization
        ? 'Bearer realm="cairn", error="invalid_token"'
        : 'Bearer realm="cairn"';
      return this.json(
        response,
        401,
        { error: 'This server needs a bearer token: send "Authorization: Bearer <token>".' },
        { 'www-authenticate': header },
      );
    }
    if (path === '/metrics' && method === 'GET') return this.renderMetrics(response);
    if (path === '/invocations' && this.protocols.has('mlflow')) {
      if (method !== 'POST')
        return this.json(response, 405, { error: 'Use POST for /invocations.' }, { allow: 'POST' });
      void this.infer(request, response, requestId, 'mlflow', null);
      return;
    }
    if (path === '/v2' && this.protocols.has('v2'))
      return this.json(response, 200, { name: 'cairn', version: '2', extensions: [] });
    if (path.startsWith('/v2/models/') && this.protocols.has('v2'))
      return this.v2Model(request, response, requestId, path, method);
    this.notFound(response, path);
  }

  private async admin(request: IncomingMessage, response: ServerResponse, raw: string): Promise<void> {
    try {
      const handled = this.options.adminRoutes
        ? await this.options.adminRoutes(request, response, new URL(raw, 'http://localhost'))
        : false;
      if (!handled && !response.headersSent) this.notFound(response, raw);
    } catch (error) {
      this.log(`admin route ${raw} failed: ${(error as Error).stack ?? String(error)}`);
      if (!response.headersSent) this.json(response, 500, { error: (error as Error).message });
    }
  }

  private ready(): boolean {
    return !this.draining && this.arms.stable !== null && this.arms.stable.isReady;
  }

  private json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    send(response, status, JSON.stringify(body), JSON_TYPE, headers);
  }

  private notFound(response: ServerResponse, path: string): void {
    this.json(response, 404, { error: `No route ${path}.` });
  }

  private renderMetrics(response: ServerResponse): void {
    this.metrics.modelInfo.clear();
    this.metrics.workersUp.clear();
    for (const arm of ['stable', 'candidate', 'fallback'] as const) {
      const served = this.arms[arm];
      if (!served) continue;
      this.metrics.modelInfo.set({ version: served.key, arm }, 1);
      this.metrics.workersUp.set({ version: served.key }, served.isReady ? 1 : 0);
    }
    this.metrics.inFlight.set({}, this.limiter.inFlight);
    send(response, 200, this.metrics.render(), PROMETHEUS_CONTENT_TYPE);
  }

  /** /v2/models/{name}[/versions/{v}][/ready|/infer] */
  private v2Model(
    request: IncomingMessage,
    response: ServerResponse,
    requestId: string,
    path: string,
    method: string,
  ): void {
    const parts = path.slice('/v2/models/'.length).split('/').map(decodeURIComponent);
    const name = parts.shift() ?? '';
    let version: string | null = null;
    if (parts[0] === 'versions') {
      version = parts[1] ?? '';
      parts.splice(0, 2);
    }
    const action = parts.join('/');
    if (!this.arms.stable) {
      // Before the first version is loaded nothing can be named yet: not ready, rather than not found.
      return this.json(
        response,
        503,
        { error: 'The model is not ready yet.' },
        { 'retry-after': String(RETRY_AFTER_UNAVAILABLE_SECONDS) },
      );
    }
    const target = this.findServed(name, version);
    if (typeof target === 'string') return this.json(response, 404, { error: target });
    if (action === 'infer') {
      if (method !== 'POST') return this.json(response, 405, { error: 'Use POST for infer.' }, { allow: 'POST' });
      void this.infer(request, response, requestId, 'v2', version === null ? null : target);
      return;
    }
    if (action === 'ready')
      return this.json(response, target.isReady ? 200 : 503, { name, ready: target.isReady && !this.draining });
    if (action === '') return this.json(response, 200, this.metadata(target, name));
    this.notFound(response, path);
  }

  /** The served version a V2 path names (the stable one without a version), or why there is none. */
  private findServed(name: string, version: string | null): Served | string {
    const served = Object.values(this.arms).filter((each): each is Served => each !== null);
    const names = new Set(served.map((each) => each.version.model));
    if (this.options.name) names.add(this.options.name);
    if (!names.has(name))
      return `No model named '${name}'; this server serves ${[...names].map((each) => `'${each}'`).join(', ') || 'no model yet'}.`;
    if (version === null) return this.arms.stable ?? 'No model version is being served yet.';
    const match = served.find(
      (each) => String(each.version.version) === version && (each.version.model === name || name === this.options.name),
    );
    return (
      match ??
      `Version ${version} of '${name}' is not served; served versions: ${served.map((each) => each.key).join(', ')}.`
    );
  }

  private metadata(served: Served, name: string): unknown {
    const tensor = (each: OnnxSignature['inputs'][number]): unknown => ({
      name: each.name,
      datatype: v2Datatype(each.type),
      shape: v2Shape(each.shape),
    });
    const versions = Object.values(this.arms)
      .filter((each): each is Served => each !== null && each.version.model === served.version.model)
      .map((each) => String(each.version.version));
    return {
      name,
      versions: [...new Set(versions)],
      platform: 'onnxruntime_onnx',
      inputs: served.version.signature.inputs.map(tensor),
      outputs: served.version.signature.outputs.map(tensor),
    };
  }

  private async infer(
    request: IncomingMessage,
    response: ServerResponse,
    requestId: string,
    protocol: Protocol,
    pinned: Served | null,
  ): Promise<void> {
    const at = Date.now();
    const started = performance.now();
    const fail = (status: number, message: string, headers: Record<string, string> = {}): void => {
      const body =
        protocol === 'mlflow'
          ? {
              error_code: mlflowErrorCode(status),
              message,
            }
          : { error: message };
      this.json(response, status, body, headers);
    };
    if (!this.ready()) {
      this.refused++;
      request.resume();
      return fail(503, this.draining ? 'The server is stopping.' : 'The model is not ready yet.', {
        'retry-after': String(RETRY_AFTER_UNAVAILABLE_SECONDS),
      });
    }
    if (!this.limiter.tryAcquire()) {
      this.refused++;
      request.resume();
      return fail(429, `The server is handling ${this.options.maxConcurrency ?? 0} requests; try again shortly.`, {
        'retry-after': String(RETRY_AFTER_BUSY_SECONDS),
      });
    }
    try {
      let body: unknown;
      const contentType = request.headers['content-type'] ?? JSON_TYPE;
      const isCsv = protocol === 'mlflow' && contentType.startsWith('text/csv');
      if (protocol === 'mlflow' && !isCsv && !contentType.startsWith('application/json')) {
        request.resume();
        return fail(415, `Content-Type ${contentType} is not supported; send application/json or text/csv.`);
      }
      try {
        const bytes = await readBody(request, this.options.maxBodyBytes ?? 64 * 1024 * 1024);
        // Big V2 bodies are read with parseJson (long number lists as Float64Arrays, see json.ts);
        // small ones and MLflow's rows and records are read as fast by JSON.parse.
        const binaryHeader = request.headers['inference-header-content-length'];
        if (protocol === 'v2' && typeof binaryHeader === 'string') {
          const binary = readBinaryInfer(bytes, Number(binaryHeader));
          if (isRequestError(binary)) return fail(400, binary.message);
          body = binary.request;
        } else {
          body = isCsv
            ? bytes.toString('utf8')
            : protocol === 'v2' && bytes.length >= LARGE_BODY_BYTES
              ? parseJson(bytes)
              : JSON.parse(bytes.toString('utf8'));
        }
      } catch (error) {
        if (error instanceof BodyTooLarge) return fail(413, error.message);
        if (error instanceof ClientGone) return;
        return fail(400, `The request body is not valid JSON: ${(error as Error).message}.`);
      }
      const key = requestKey(request.headers, body, this.traffic.stickyKey);
      const armName: 'stable' | 'candidate' = pinned
        ? pinned === this.arms.candidate && pinned !== this.arms.stable
          ? 'candidate'
          : 'stable'
        : chooseArm(this.traffic, this.arms.candidate !== null, key, this.random);
      const served = pinned ?? this.arms[armName] ?? (this.arms.stable as Served);
      const decode = (target: Served): Decoded | { status: 400; message: string } =>
        protocol === 'v2'
          ? decodeV2Infer(body, target.version.signature)
          : decodeMlflow(body, target.version.signature, contentType);
      const decoded = decode(served);
      const fields = { requestId, at, arm: armName as Arm, version: served.key, protocol, key };
      if (isRequestError(decoded)) {
        fail(400, decoded.message);
        this.finish(fields, 400, started, 0, null, null, false, decoded.message);
        return;
      }
      const candidate = this.arms.candidate;
      const mirror =
        !pinned &&
        armName === 'stable' &&
        candidate &&
        candidate !== served &&
        shouldMirror(this.traffic, true, this.random)
          ? this.mirror(candidate, served, decoded, decode, requestId, at, protocol, key)
          : null;
      const answer = await this.answer(served, decoded, decode);
      const headers: Record<string, string> = {
        'x-cairn-version': answer.answeredBy instanceof Served ? answer.answeredBy.key : served.key,
      };
      if (answer.fallback) headers['x-cairn-fallback'] = 'true';
      let status = 200;
      if (answer.outputs) {
        const answering = answer.answeredBy instanceof Served ? answer.answeredBy : served;
        const text =
          protocol === 'v2'
            ? encodeV2Outputs(answer.outputs, {
                modelName: answering.version.model,
                modelVersion: String(answering.version.version),
                id: decoded.id,
                parameters: answer.fallback ? { fallback: true } : undefined,
                outputs: decoded.outputs,
              })
            : encodeMlflowOutputs(answer.outputs, decoded.rows);
        send(response, 200, text, JSON_TYPE, headers);
      } else {
        status = answer.timedOut ? 504 : 500;
        fail(
          status,
          answer.timedOut
            ? `The model did not answer within ${this.options.timeoutMs} ms.`
            : `The model failed: ${answer.error ?? 'unknown error'}.`,
          headers,
        );
      }
      this.finish(fields, status, started, decoded.rows, decoded, answer.outputs, answer.fallback, answer.error);
      if (mirror && answer.outputs) {
        const stableOutputs = answer.outputs;
        void mirror.then((compare) => compare(stableOutputs));
      }
    } catch (error) {
      this.log(`request ${requestId} failed: ${(error as Error).stack ?? String(error)}`);
      if (!response.headersSent) fail(500, `Internal error: ${(error as Error).message}`);
    } finally {
      this.limiter.release();
    }
  }

  /** Runs the request on its version; on a failure the spec lets fall back, the fallback answers. */
  private async answer(
    served: Served,
    decoded: Decoded,
    decode: (target: Served) => Decoded | { status: 400; message: string },
  ): Promise<Answer> {
    const deadline = performance.now() + this.options.timeoutMs;
    const fallbackOnTimeout = this.fallback.on.includes('timeout') && this.fallback.timeoutMs !== null;
    const firstWait = fallbackOnTimeout
      ? Math.min(this.fallback.timeoutMs as number, this.options.timeoutMs)
      : this.options.timeoutMs;
    let failure: unknown;
    try {
      const outputs = await withTimeout(served.submit(decoded.tensors, decoded.rows), firstWait);
      return { outputs, answeredBy: served, fallback: false, error: null, timedOut: false };
    } catch (error) {
      failure = error;
    }
    const timedOut = failure instanceof TimeoutError;
    const message = timedOut
      ? `no answer from ${served.key} within ${firstWait} ms`
      : `${served.key}: ${(failure as Error).message}`;
    if (!this.fallback.on.includes(timedOut ? 'timeout' : 'error'))
      return { outputs: null, answeredBy: null, fallback: false, error: message, timedOut };
    const target =
      this.arms.fallback && this.arms.fallback !== served
        ? this.arms.fallback
        : served !== this.arms.stable
          ? this.arms.stable
          : null;
    if (target) {
      const tensors = target.inputsKey === served.inputsKey ? decoded : decode(target);
      const remaining = deadline - performance.now();
      if (!isRequestError(tensors) && remaining > 0) {
        try {
          const outputs = await withTimeout(target.submit(tensors.tensors, tensors.rows), remaining);
          this.metrics.fallbacks.add({ version: served.key, reason: timedOut ? 'timeout' : 'error', by: target.key });
          return { outputs, answeredBy: target, fallback: true, error: message, timedOut };
        } catch {
          // The fixed default, if any, answers next.
        }
      }
    }
    const signature = (this.arms.stable ?? served).version.signature;
    if (this.fallback.default) {
      this.metrics.fallbacks.add({ version: served.key, reason: timedOut ? 'timeout' : 'error', by: 'default' });
      return {
        outputs: defaultOutputs(this.fallback.default, signature, decoded.rows),
        answeredBy: 'default',
        fallback: true,
        error: message,
        timedOut,
      };
    }
    return { outputs: null, answeredBy: null, fallback: false, error: message, timedOut };
  }

  /** Sends a copy to the shadow candidate; resolves with how to compare its answer to the stable one. */
  private mirror(
    candidate: Served,
    stable: Served,
    decoded: Decoded,
    decode: (target: Served) => Decoded | { status: 400; message: string },
    requestId: string,
    at: number,
    protocol: Protocol,
    key: string | null,
  ): Promise<(stableOutputs: Record<string, TensorValue>) => void> {
    const started = performance.now();
    const tensors = candidate.inputsKey === stable.inputsKey ? decoded : decode(candidate);
    const run = isRequestError(tensors)
      ? Promise.reject(new Error(tensors.message))
      : withTimeout(candidate.submit(tensors.tensors, tensors.rows), this.options.timeoutMs);
    return run.then(
      (outputs) => (stableOutputs) => {
        const difference = meanAbsoluteDifference(outputs, stableOutputs);
        this.shadow.record(difference, false);
        this.metrics.shadowComparisons.add({ version: candidate.key, outcome: 'compared' });
        if (difference !== null) this.metrics.shadowDifference.observe({ version: candidate.key }, difference);
        this.report(
          { requestId, at, arm: 'shadow', version: candidate.key, protocol, key },
          200,
          performance.now() - started,
          decoded,
          outputs,
          false,
          null,
        );
      },
      (error: unknown) => () => {
        this.shadow.record(null, true);
        this.metrics.shadowComparisons.add({ version: candidate.key, outcome: 'failed' });
        const status = error instanceof TimeoutError ? 504 : 500;
        this.report(
          { requestId, at, arm: 'shadow', version: candidate.key, protocol, key },
          status,
          performance.now() - started,
          decoded,
          null,
          false,
          (error as Error).message,
        );
      },
    );
  }

  /** Counts a finished request and reports it. */
  private finish(
    fields: { requestId: string; at: number; arm: Arm; version: string; protocol: Protocol; key: string | null },
    status: number,
    started: number,
    rows: number,
    decoded: Decoded | null,
    outputs: Record<string, TensorValue> | null,
    fallback: boolean,
    error: string | null,
  ): void {
    const latencyMs = performance.now() - started;
    const labels = { version: fields.version, status: String(status), protocol: fields.protocol };
    this.metrics.requests.add(labels);
    this.metrics.duration.observe({ version: fields.version, protocol: fields.protocol }, latencyMs / 1000);
    if (rows > 0 && status < 400) this.metrics.rows.add({ version: fields.version }, rows);
    const counter = fields.arm === 'candidate' ? this.counters.candidate : this.counters.stable;
    counter.record(status, latencyMs, rows, fallback, error !== null);
    this.report(fields, status, latencyMs, decoded, outputs, fallback, error);
  }

  private report(
    fields: { requestId: string; at: number; arm: Arm; version: string; protocol: Protocol; key: string | null },
    status: number,
    latencyMs: number,
    decoded: Decoded | null,
    outputs: Record<string, TensorValue> | null,
    fallback: boolean,
    error: string | null,
  ): void {
    const listener = this.options.onPrediction;
    if (!listener) return;
    try {
      listener(
        predictionRecord(
          {
            requestId: fields.requestId,
            at: fields.at,
            arm: fields.arm,
            version: fields.version,
            protocol: fields.protocol,
            key: fields.key,
            status,
            latencyMs,
            rows: decoded?.rows ?? 0,
            error,
            fallback,
          },
          decoded,
          outputs,
        ),
      );
    } catch (failure) {
      this.log(`onPrediction failed: ${(failure as Error).message}`);
    }
  }
}

/** MLflow's error code for an HTTP status: limits are REQUEST_LIMIT_EXCEEDED, not every other 4xx. */
function mlflowErrorCode(status: number): string {
  if (status === 413 || status === 429) return 'REQUEST_LIMIT_EXCEEDED';
  if (status === 503) return 'TEMPORARILY_UNAVAILABLE';
  if (status >= 500) return 'INTERNAL_ERROR';
  if (status === 404) return 'RESOURCE_DOES_NOT_EXIST';
  if (status === 401) return 'UNAUTHENTICATED';
  return 'BAD_REQUEST';
}
