// Model servers for tests: real ModelServer instances on 127.0.0.1 (port 0) with real worker
// processes, the records they report, and a few request helpers.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readOnnxSignature } from '../../server/engine/registry/signature';
import type { PredictionRecord } from '../../server/engine/serving/record';
import { ModelServer } from '../../server/engine/serving/server';
import type { ModelServerOptions, ServingVersion, Versions } from '../../server/engine/serving/server';
import { writeLogisticModel } from './onnx';

export const FEATURES = Array.from({ length: 20 }, (_, index) => `f${index}`);

export interface TestServer {
  server: ModelServer;
  url: string;
  records: PredictionRecord[];
  workerExits: { version: string; detail: string }[];
  logs: string[];
}

const running: ModelServer[] = [];

/** A temporary directory for model files. */
export function modelDirectory(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-serving-'));
}

/** A weather-like model: logistic regression over 20 features, every weight `weight`, with feature_names. */
export function weatherVersion(directory: string, version: number, weight: number, model = 'rain'): ServingVersion {
  const file = writeLogisticModel(directory, `${model}-${version}.onnx`, new Array<number>(20).fill(weight), 0, {
    feature_names: JSON.stringify(FEATURES),
  });
  return { model, version, objectPath: file, signature: readOnnxSignature(file) };
}

/** A version for any ONNX file. */
export function fileVersion(file: string, model: string, version: number): ServingVersion {
  return { model, version, objectPath: file, signature: readOnnxSignature(file) };
}

/** What the weather-like model answers for a row: sigmoid(weight · sum(row)). */
export function expectedProbability(row: number[], weight: number): number {
  return Math.fround(1 / (1 + Math.exp(-weight * row.reduce((sum, value) => sum + value, 0))));
}

/** Fails unless the two lists have the same length and agree to 1e-6 (float32 rounding differs by kernel). */
export function assertClose(actual: unknown, expected: number[], message = ''): void {
  if (!Array.isArray(actual) || actual.length !== expected.length) {
    throw new Error(`${message} expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
  actual.forEach((value, index) => {
    if (typeof value !== 'number' || Math.abs(value - (expected[index] as number)) > 1e-6) {
      throw new Error(`${message} expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    }
  });
}

/** Starts a server with these versions; it is stopped by stopServers(). */
export async function startServer(versions: Versions, options: Partial<ModelServerOptions> = {}): Promise<TestServer> {
  const records: PredictionRecord[] = [];
  const workerExits: { version: string; detail: string }[] = [];
  const logs: string[] = [];
  const server = new ModelServer({
    host: '127.0.0.1',
    port: 0,
    batch: { maxSize: 32, maxLatencyMs: 5 },
    timeoutMs: 10_000,
    logger: (message) => logs.push(message),
    onPrediction: (record) => records.push(record),
    onWorkerExit: (version, detail) => workerExits.push({ version, detail }),
    ...options,
  });
  running.push(server);
  const { port } = await server.start();
  await server.setVersions(versions);
  return { server, url: `http://127.0.0.1:${port}`, records, workerExits, logs };
}

/** Stops every server started by startServer. */
export async function stopServers(): Promise<void> {
  await Promise.all(running.splice(0).map((server) => server.stop({ drainMs: 2000 })));
}

/** A V2 infer body for rows of the weather-like model. */
export function v2Body(rows: number[][], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    inputs: [{ name: 'features', shape: [rows.length, 20], datatype: 'FP32', data: rows.flat() }],
    ...extra,
  });
}

/** A row of 20 feature values derived from `seed`. */
export function featureRow(seed: number): number[] {
  return FEATURES.map((_, index) => ((seed * 7 + index * 3) % 11) / 10 - 0.5);
}

export interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** POSTs `body` and reads the answer (JSON when it parses). */
export async function post(
  url: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const response = await fetch(url, {
    method: 'POST',
    // A Blob carries bytes for any lib typing of fetch's body.
    body: typeof body === 'string' ? body : new Blob([Uint8Array.from(body)]),
    headers: { 'content-type': 'application/json', ...headers },
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: parseJson(text), text };
}

/** GETs `url`. */
export async function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  const response = await fetch(url, { headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: parseJson(text), text };
}

/** The first output's data of a V2 answer. */
export function v2Data(reply: Reply): number[] {
  const outputs = (reply.body as { outputs?: { data: number[] }[] } | null)?.outputs;
  if (!outputs?.[0]) throw new Error(`not a V2 answer (${reply.status}): ${reply.text}`);
  return outputs[0].data;
}

/** Waits until `check` is true (polling), or fails after `ms`. */
export async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Whether a process is alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
