// Model server benchmark, printing figures side by side (and JSON with --json):
//   1. rows/s with requests of 1,000 rows: the Cairn server against onnxruntime's InferenceSession.run
//      in this process on the same model and batch size, for an MLP 20 → 256 → 256 → 1 (inference is
//      real work) and for the weather-sized logistic regression; target ≥ 70% of in-process;
//   2. one-row requests, where HTTP is the limit: req/s of the Cairn server against a bare node:http
//      server that only answers a fixed JSON, with the same load generator settings; target ≥ 70%;
//   3. p50/p99 latency at fixed request rates (open loop, latency counted from the scheduled time).
// Every server runs in a child process of its own, so the load generator never shares its event
// loop; the Cairn server is `cairn deploy FILE --foreground` of the built CLI in a temp workspace
// where both models are registered. On a 2-core machine the generator, the front process and the
// model worker share the cores: figures are lower than on a server, and so are the references'.
//
// Usage: npm run bench:serve
//   (node --import tsx bench/serve.mjs [--duration 5] [--connections 32] [--rates 500,2000] [--json])
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { Registry } from '../server/engine/registry/registry.ts';
import { Store } from '../server/engine/store.ts';
import { mlpOnnx, sampleRows } from '../test/helpers/mlp.ts';
import { logisticOnnx } from '../test/helpers/onnx.ts';
import { runLoad } from './load.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const CLI = path.join(repo, 'dist/cli/cairn.js');
const TARGET = 0.7;
const BATCH_ROWS = 1000;
const FEATURES = 20;

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : process.argv[index + 1];
}

const durationMs = Number(option('duration', 5)) * 1000;
const warmupMs = Math.min(2000, durationMs / 2);
const connections = Number(option('connections', 32));
const bigConnections = Number(option('big-connections', 4));
const rates = String(option('rates', '500,2000')).split(',').map(Number);
const hidden = String(option('hidden', '256,256')).split(',').map(Number);
const asJson = process.argv.includes('--json');

function log(line) {
  process.stderr.write(`${line}\n`);
}

/** A V2 (Open Inference Protocol) infer body with `rows` rows of the model's one input. */
function v2Body(rows) {
  const data = sampleRows(rows, FEATURES).flat();
  return JSON.stringify({ inputs: [{ name: 'features', shape: [rows, FEATURES], datatype: 'FP32', data }] });
}

/** rows/s of InferenceSession.run in this process, one batch of `rows` rows after another. */
async function inProcessRowsPerSecond(bytes, rows) {
  const session = await ort.InferenceSession.create(bytes);
  const tensor = new ort.Tensor('float32', Float32Array.from(sampleRows(rows, FEATURES).flat()), [rows, FEATURES]);
  const measure = async (ms) => {
    let runs = 0;
    const start = performance.now();
    while (performance.now() - start < ms) {
      await session.run({ features: tensor });
      runs++;
    }
    return (runs * rows) / ((performance.now() - start) / 1000);
  };
  await measure(warmupMs);
  const rowsPerSecond = await measure(durationMs);
  await session.release();
  return Math.round(rowsPerSecond);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** GETs `url` until it answers 200 or `timeoutMs` passes; rejects with what the child printed. */
async function waitReady(url, child, output, timeoutMs = 60_000) {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}):\n${output.join('')}`);
    const ok = await new Promise((resolve) => {
      const request = http.get(url, (response) => {
        response.resume();
        resolve(response.statusCode === 200);
      });
      request.on('error', () => resolve(false));
      request.setTimeout(1000, () => request.destroy());
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms:\n${output.join('')}`);
}

/** Starts a child process and collects its output (for errors). */
function startChild(args, options = {}) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const output = [];
  const keep = (chunk) => {
    output.push(chunk.toString());
    if (output.length > 200) output.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return { child, output };
}

async function stopChild(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** The reference for one-row requests: a node:http server in its own process answering a fixed JSON. */
async function startBareServer() {
  const port = await freePort();
  const script = fileURLToPath(import.meta.url);
  const { child, output } = startChild([...process.execArgv, script, '--bare-server', String(port)]);
  await waitReady(`http://127.0.0.1:${port}/ready`, child, output);
  return { url: `http://127.0.0.1:${port}/infer`, stop: () => stopChild(child) };
}

function bareServerMain(port) {
  const answer = JSON.stringify({
    model_name: 'bare',
    outputs: [{ name: 'probability', shape: [1, 1], datatype: 'FP32', data: [0.5] }],
  });
  http
    .createServer((request, response) => {
      // Read the whole body, as a real server must, then answer.
      request.on('data', () => {});
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
        response.end(answer);
      });
    })
    .listen(port, '127.0.0.1');
}

/** A temp workspace with the MLP and the logistic model registered, each @champion. */
function buildWorkspace(models) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-serve-'));
  const store = Store.open(root);
  const registry = new Registry(store, root);
  for (const [name, bytes] of Object.entries(models)) {
    const file = path.join(root, 'models', `${name}.onnx`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, bytes);
    const { version } = registry.register({ name, onnxPath: file, reason: 'bench' });
    registry.setAlias(name, 'champion', version.version, { reason: 'bench' });
  }
  store.close();
  return root;
}

/** `cairn deploy FILE --foreground` of the built CLI for the model `name`; resolves when ready. */
async function startCairnServer(root, name) {
  const port = await freePort();
  const file = path.join(root, `${name}.deploy.yaml`);
  fs.writeFileSync(
    file,
    [
      `name: bench-${name}`,
      `model: ${name}@champion`,
      'server:',
      `  port: ${port}`,
      '  batch:',
      `    max_size: ${BATCH_ROWS}`,
      '    max_latency_ms: 2',
      '',
    ].join('\n'),
  );
  const { child, output } = startChild([CLI, 'deploy', file, '--foreground'], { cwd: root });
  await waitReady(`http://127.0.0.1:${port}/v2/health/ready`, child, output);
  return { url: `http://127.0.0.1:${port}/v2/models/${name}/infer`, stop: () => stopChild(child) };
}

/** A warm-up run, then the measured run; fails loudly when a good request was not answered 200. */
async function measure(label, options) {
  await runLoad({ ...options, durationMs: warmupMs });
  const result = await runLoad({ ...options, durationMs });
  const failed = result.completed - (result.statuses['200'] ?? 0);
  log(
    `${label}: ${result.requestsPerSecond} req/s, ${result.rowsPerSecond} rows/s, p50 ${result.latency.p50} ms, ` +
      `p99 ${result.latency.p99} ms${failed ? `, NOT 200: ${JSON.stringify(result.statuses)}` : ''}`,
  );
  return result;
}

const percent = (value) => `${(value * 100).toFixed(0)}%`;
const verdict = (ratio) => (ratio >= TARGET ? 'meets' : 'BELOW');

async function main() {
  const models = { mlp: mlpOnnx({ inputs: FEATURES, hidden }), logistic: logisticOnnx(sampleRows(1, FEATURES)[0]) };
  const figures = { machine: { cpus: os.cpus().length, loadavg: os.loadavg().map((v) => v.toFixed(2)) } };
  const bigBody = v2Body(BATCH_ROWS);
  const oneBody = v2Body(1);

  log(`in-process InferenceSession.run, ${BATCH_ROWS} rows per run ...`);
  figures.inProcess = {};
  for (const [name, bytes] of Object.entries(models)) {
    figures.inProcess[name] = await inProcessRowsPerSecond(bytes, BATCH_ROWS);
    log(`  ${name}: ${figures.inProcess[name]} rows/s`);
  }

  log('bare node:http server, one-row requests ...');
  const bare = await startBareServer();
  figures.bare = { closed: await measure('  bare closed loop', { url: bare.url, body: oneBody, connections }) };
  figures.bare.open = {};
  for (const rate of rates) {
    figures.bare.open[rate] = await measure(`  bare at ${rate} req/s`, {
      url: bare.url,
      body: oneBody,
      connections,
      rate,
    });
  }
  await bare.stop();

  figures.cairn = {};
  const root = buildWorkspace(models);
  try {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first.`);
    for (const name of Object.keys(models)) {
      log(`Cairn server (cairn deploy --foreground), model ${name} ...`);
      const server = await startCairnServer(root, name);
      try {
        const entry = {};
        entry.big = await measure(`  ${BATCH_ROWS}-row requests`, {
          url: server.url,
          body: bigBody,
          rows: BATCH_ROWS,
          connections: bigConnections,
        });
        if (name === 'logistic') {
          entry.closed = await measure('  one-row closed loop', { url: server.url, body: oneBody, connections });
          entry.open = {};
          for (const rate of rates) {
            entry.open[rate] = await measure(`  one-row at ${rate} req/s`, {
              url: server.url,
              body: oneBody,
              connections,
              rate,
            });
          }
        }
        figures.cairn[name] = entry;
      } finally {
        await server.stop();
      }
    }
  } catch (error) {
    // The references are still worth printing; the run fails.
    figures.cairnError = error instanceof Error ? error.message : String(error);
    process.exitCode = 1;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }

  print(figures);
}

function print(figures) {
  if (asJson) {
    console.log(JSON.stringify(figures, null, 2));
    return;
  }
  const lines = [`machine: ${figures.machine.cpus} cores, load average ${figures.machine.loadavg.join(' ')}`, ''];
  lines.push(`1. rows/s with ${BATCH_ROWS}-row requests (${bigConnections} connections), target ≥ ${percent(TARGET)}`);
  lines.push('   model      in-process      Cairn server    ratio');
  for (const name of Object.keys(figures.inProcess)) {
    const inProcess = figures.inProcess[name];
    const served = figures.cairn[name]?.big.rowsPerSecond ?? 0;
    const ratio = served / inProcess;
    lines.push(
      `   ${name.padEnd(10)} ${String(inProcess).padStart(10)}   ${String(served).padStart(12)}    ${percent(ratio)} ${verdict(ratio)}`,
    );
  }
  const bareClosed = figures.bare.closed;
  const cairnClosed = figures.cairn.logistic?.closed;
  lines.push('');
  lines.push(`2. one-row requests, closed loop, ${connections} connections, target ≥ ${percent(TARGET)}`);
  lines.push('                 bare node:http    Cairn (logistic)    ratio');
  if (cairnClosed) {
    const ratio = cairnClosed.requestsPerSecond / bareClosed.requestsPerSecond;
    lines.push(
      `   req/s         ${String(bareClosed.requestsPerSecond).padStart(14)}    ${String(cairnClosed.requestsPerSecond).padStart(16)}    ${percent(ratio)} ${verdict(ratio)}`,
    );
    lines.push(
      `   p50/p99 ms    ${`${bareClosed.latency.p50} / ${bareClosed.latency.p99}`.padStart(14)}    ${`${cairnClosed.latency.p50} / ${cairnClosed.latency.p99}`.padStart(16)}`,
    );
  }
  lines.push('');
  lines.push('3. one-row requests at a fixed rate (open loop), latency from the scheduled time');
  lines.push('   rate          bare p50 / p99 ms    Cairn p50 / p99 ms    Cairn answered');
  for (const rate of Object.keys(figures.bare.open)) {
    const bareRun = figures.bare.open[rate];
    const cairnRun = figures.cairn.logistic?.open?.[rate];
    const cairnText = cairnRun ? `${cairnRun.latency.p50} / ${cairnRun.latency.p99}` : '-';
    const answered = cairnRun ? `${cairnRun.requestsPerSecond} req/s` : '-';
    lines.push(
      `   ${`${rate} req/s`.padEnd(12)}  ${`${bareRun.latency.p50} / ${bareRun.latency.p99}`.padStart(17)}    ${cairnText.padStart(18)}    ${answered}`,
    );
  }
  if (figures.cairnError) lines.push('', `The Cairn server could not be measured: ${figures.cairnError}`);
  console.log(lines.join('\n'));
}

if (process.argv[2] === '--bare-server') bareServerMain(Number(process.argv[3]));
else
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  });
