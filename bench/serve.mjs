// Model server benchmark, printing figures side by side (and JSON with --json):
//   1. rows/s with requests of 1,000 rows: the Cairn server against onnxruntime's InferenceSession.run
//      in this process on the same model and batch size, for an MLP 20 → 256 → 256 → 1 (inference is
//      real work) and for the weather-sized logistic regression; target ≥ 70% of in-process. Each
//      request is sent as JSON and with the V2 binary tensor extension (a JSON header, then the raw
//      float32 bytes), as Triton's and KServe's clients send big tensors;
//   2. one-row requests, where HTTP is the limit: req/s of the Cairn server against a bare node:http
//      server that only answers a fixed JSON, with the same load generator settings; target ≥ 70%;
//   3. p50/p99 latency at fixed request rates (open loop, latency counted from the scheduled time); the
//      lowest rate shows the cost of one request on an idle server;
//   4. what this machine allows any server of this kind: skeleton servers (bench/skeleton.mjs) that do
//      only the least the serving issue asks of every request (parse and answer; run the model in a
//      process of its own; log the prediction), on the same loads, and onnxruntime in process with one
//      thread (what a server that leaves the other core to HTTP can run at most).
// Every server runs in a child process of its own, so the load generator never shares its event
// loop. Before each measurement the servers are left to finish what the previous one left them (a
// Cairn server writes its prediction log on a thread of its own, and 1,000-row requests give it
// megabytes to write), so no figure pays for the work of another; the Cairn server is `cairn deploy FILE --foreground` of the built CLI in a temp workspace
// where both models are registered. On a 2-core machine the generator, the front process and the
// model worker share the cores: figures are lower than on a server, and so are the references'.
//
// Usage: npm run bench:serve
//   (node --import tsx bench/serve.mjs [--duration 5] [--rounds 3] [--connections 32] [--big-connections 4]
//    [--rates 100,500,2000] [--hidden 256,256] [--batch-max-size 1000] [--batch-max-latency-ms 2]
//    [--workers 1] [--json]; --workers is the deployments' server.workers, model processes per version)
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
/** The skeleton servers' levels (see bench/skeleton.mjs), each adding one part to the one before. */
const SKELETON_LEVELS = ['answer', 'model', 'log'];

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : process.argv[index + 1];
}

const durationMs = Number(option('duration', 5)) * 1000;
const warmupMs = Math.min(2000, durationMs / 2);
const connections = Number(option('connections', 32));
const bigConnections = Number(option('big-connections', 4));
const rates = String(option('rates', '100,500,2000')).split(',').map(Number);
const hidden = String(option('hidden', '256,256')).split(',').map(Number);
// The server's micro-batching: the most rows in one batch, and how long a request waits for others.
const batchMaxSize = Number(option('batch-max-size', BATCH_ROWS));
const batchMaxLatencyMs = Number(option('batch-max-latency-ms', 2));
const workers = Number(option('workers', 1));
const rounds = Number(option('rounds', 3));
const asJson = process.argv.includes('--json');

function log(line) {
  process.stderr.write(`${line}\n`);
}

/** A V2 (Open Inference Protocol) infer body with `rows` rows of the model's one input. */
function v2Body(rows) {
  const data = sampleRows(rows, FEATURES).flat();
  return JSON.stringify({ inputs: [{ name: 'features', shape: [rows, FEATURES], datatype: 'FP32', data }] });
}

/** The same request with the V2 binary tensor data extension: its body and headers. */
function v2BinaryRequest(rows) {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: 'features',
          shape: [rows, FEATURES],
          datatype: 'FP32',
          parameters: { binary_data_size: rows * FEATURES * 4 },
        },
      ],
    }),
  );
  const data = Float32Array.from(sampleRows(rows, FEATURES).flat());
  return {
    body: Buffer.concat([header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
    headers: { 'inference-header-content-length': String(header.length), 'content-type': 'application/octet-stream' },
  };
}

/** An in-process reference: `measure(ms)` gives rows/s of InferenceSession.run, one batch after another. */
async function inProcessRunner(bytes, rows, sessionOptions = {}) {
  const session = await ort.InferenceSession.create(bytes, sessionOptions);
  const tensor = new ort.Tensor('float32', Float32Array.from(sampleRows(rows, FEATURES).flat()), [rows, FEATURES]);
  return async (ms) => {
    let runs = 0;
    const start = performance.now();
    while (performance.now() - start < ms) {
      await session.run({ features: tensor });
      runs++;
    }
    return Math.round((runs * rows) / ((performance.now() - start) / 1000));
  };
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
  return { url: `http://127.0.0.1:${port}/infer`, pid: child.pid, stop: () => stopChild(child) };
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

/** A skeleton server (bench/skeleton.mjs) at `level` for the ONNX file `modelFile`, in its own process. */
async function startSkeleton(level, modelFile) {
  const port = await freePort();
  const script = path.join(here, 'skeleton.mjs');
  const { child, output } = startChild([...process.execArgv, script, String(port), level, modelFile, String(FEATURES)]);
  const url = `http://127.0.0.1:${port}/infer`;
  // The skeleton has no health route: a one-row request answered 200 is ready.
  const probe = v2Body(1);
  const start = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the skeleton server exited (${child.exitCode}):\n${output.join('')}`);
    const result = await runLoad({ url, body: probe, connections: 1, requests: 1, timeoutMs: 1000 }).catch(() => null);
    if (result?.statuses['200'] === 1) break;
    if (Date.now() - start > 60_000)
      throw new Error(`the skeleton server is not ready after 60 s:\n${output.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { url, pid: child.pid, stop: () => stopChild(child) };
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

/**
 * `cairn deploy FILE --foreground` of the built CLI for the model `name` (as the deployment
 * `bench-DEPLOYMENT`); resolves when ready.
 */
async function startCairnServer(root, name, deployment = name) {
  const port = await freePort();
  const file = path.join(root, `${deployment}.deploy.yaml`);
  fs.writeFileSync(
    file,
    [
      `name: bench-${deployment}`,
      `model: ${name}@champion`,
      'server:',
      `  port: ${port}`,
      `  workers: ${workers}`,
      '  batch:',
      `    max_size: ${batchMaxSize}`,
      `    max_latency_ms: ${batchMaxLatencyMs}`,
      '',
    ].join('\n'),
  );
  const { child, output } = startChild([CLI, 'deploy', file, '--foreground'], { cwd: root });
  await waitReady(`http://127.0.0.1:${port}/v2/health/ready`, child, output);
  return { url: `http://127.0.0.1:${port}/v2/models/${name}/infer`, pid: child.pid, stop: () => stopChild(child) };
}

/** CPU time (clock ticks) used so far by the processes `pids` and their descendants; null without /proc. */
function treeTicks(pids) {
  let ticks = 0;
  const children = new Map();
  let entries;
  try {
    entries = fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return null;
  }
  const stats = new Map();
  for (const entry of entries) {
    try {
      // Fields after the command name: state (0), ppid (1), ..., utime (11), stime (12).
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      stats.set(pid, Number(fields[11]) + Number(fields[12]));
      const parent = Number(fields[1]);
      children.set(parent, [...(children.get(parent) ?? []), pid]);
    } catch {
      // The process ended meanwhile.
    }
  }
  const queue = [...pids];
  while (queue.length > 0) {
    const pid = queue.pop();
    ticks += stats.get(pid) ?? 0;
    queue.push(...(children.get(pid) ?? []));
  }
  return ticks;
}

/** Waits (at most 60 s) until the servers use less than 5% of a core: the previous run's work is done. */
async function settle() {
  const deadline = Date.now() + 60_000;
  let before = treeTicks(serverPids);
  while (before !== null && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = treeTicks(serverPids);
    if (after === null || after - before <= 2) return;
    before = after;
  }
  if (before !== null) log('  (the servers were still busy after 60 s: the next figure may include their work)');
}

const serverPids = [];

/** One measured load run, once the servers are quiet; logs a line and says when a request was not answered 200. */
async function measure(label, options) {
  await settle();
  const result = await runLoad({ ...options, durationMs });
  const failed = result.completed - (result.statuses['200'] ?? 0);
  log(
    `  ${label}: ${result.requestsPerSecond} req/s, ${result.rowsPerSecond} rows/s, p50 ${result.latency.p50} ms, ` +
      `p99 ${result.latency.p99} ms${failed ? `, NOT 200: ${JSON.stringify(result.statuses)}` : ''}`,
  );
  return result;
}

const percent = (value) => `${(value * 100).toFixed(0)}%`;
const verdict = (ratio) => (ratio >= TARGET ? 'meets' : 'BELOW');
const best = (results, key) => results.reduce((top, result) => (result[key] > top[key] ? result : top));

/**
 * The figures. Other work on the machine changes every figure from one second to the next, so each
 * comparison is measured in `rounds` interleaved rounds (reference, then Cairn, then again) and the
 * best run of each side is compared: the best run is the one least slowed by the rest of the machine.
 */
async function main() {
  const models = { mlp: mlpOnnx({ inputs: FEATURES, hidden }), logistic: logisticOnnx(sampleRows(1, FEATURES)[0]) };
  const figures = {
    machine: { cpus: os.cpus().length, loadavg: os.loadavg().map((value) => value.toFixed(2)) },
    rounds,
    inProcess: { mlp: [], logistic: [] },
    big: { mlp: [], logistic: [] },
    bigBinary: { mlp: [], logistic: [] },
    bare: { closed: [], open: {} },
    cairn: { closed: [], open: {} },
    // Section 4: the skeletons on one-row requests by level, on the MLP's 1,000-row binary requests,
    // and the MLP in process on one thread.
    skeleton: { answer: [], model: [], log: [] },
    skeletonBig: [],
    inProcessOneThread: [],
  };
  const bigBody = v2Body(BATCH_ROWS);
  const bigBinary = v2BinaryRequest(BATCH_ROWS);
  const oneBody = v2Body(1);
  const root = buildWorkspace(models);
  const stops = [];
  try {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first.`);
    log('starting the bare node:http server and a Cairn server per model (cairn deploy --foreground) ...');
    // One-row requests go to a deployment of their own (the same logistic model), so that its
    // monitoring works on one-row traffic only, not on what the 1,000-row runs logged.
    const [bare, mlpServer, logisticServer, oneRowServer] = await Promise.all([
      startBareServer(),
      startCairnServer(root, 'mlp'),
      startCairnServer(root, 'logistic'),
      startCairnServer(root, 'logistic', 'one-row'),
    ]);
    const modelFile = (name) => path.join(root, 'models', `${name}.onnx`);
    const skeletons = {};
    for (const level of SKELETON_LEVELS) skeletons[level] = await startSkeleton(level, modelFile('logistic'));
    const skeletonBig = await startSkeleton('log', modelFile('mlp'));
    const started = [bare, mlpServer, logisticServer, oneRowServer, ...Object.values(skeletons), skeletonBig];
    stops.push(...started.map((server) => server.stop));
    serverPids.push(...started.map((server) => server.pid));
    const servers = { mlp: mlpServer, logistic: logisticServer };
    const inProcess = {
      mlp: await inProcessRunner(models.mlp, BATCH_ROWS),
      logistic: await inProcessRunner(models.logistic, BATCH_ROWS),
    };
    const inProcessOneThread = await inProcessRunner(models.mlp, BATCH_ROWS, { intraOpNumThreads: 1 });
    const bigLoad = (name) => ({
      url: servers[name].url,
      body: bigBody,
      rows: BATCH_ROWS,
      connections: bigConnections,
    });
    const bigBinaryLoad = (name) => ({ ...bigLoad(name), ...bigBinary });
    const oneLoad = (url) => ({ url, body: oneBody, connections });

    log('warming up ...');
    for (const name of Object.keys(models)) {
      await inProcess[name](warmupMs);
      await runLoad({ ...bigLoad(name), durationMs: warmupMs });
      await runLoad({ ...bigBinaryLoad(name), durationMs: warmupMs });
    }
    await runLoad({ ...oneLoad(bare.url), durationMs: warmupMs });
    await runLoad({ ...oneLoad(oneRowServer.url), durationMs: warmupMs });
    for (const level of SKELETON_LEVELS) await runLoad({ ...oneLoad(skeletons[level].url), durationMs: warmupMs });
    await runLoad({ ...bigBinaryLoad('mlp'), url: skeletonBig.url, durationMs: warmupMs });
    await inProcessOneThread(warmupMs);

    for (let round = 1; round <= rounds; round++) {
      log(`round ${round} of ${rounds}`);
      for (const name of Object.keys(models)) {
        await settle();
        const rowsPerSecond = await inProcess[name](durationMs);
        log(`  ${name} in-process: ${rowsPerSecond} rows/s`);
        figures.inProcess[name].push(rowsPerSecond);
        figures.big[name].push(await measure(`${name} Cairn, ${BATCH_ROWS}-row JSON requests`, bigLoad(name)));
        figures.bigBinary[name].push(
          await measure(`${name} Cairn, ${BATCH_ROWS}-row binary requests`, bigBinaryLoad(name)),
        );
      }
      figures.bare.closed.push(await measure('bare node:http, one-row requests', oneLoad(bare.url)));
      figures.cairn.closed.push(await measure('Cairn logistic, one-row requests', oneLoad(oneRowServer.url)));
      for (const level of SKELETON_LEVELS) {
        figures.skeleton[level].push(
          await measure(`skeleton "${level}" logistic, one-row requests`, oneLoad(skeletons[level].url)),
        );
      }
      figures.skeletonBig.push(
        await measure(`skeleton "log" mlp, ${BATCH_ROWS}-row binary requests`, {
          ...bigBinaryLoad('mlp'),
          url: skeletonBig.url,
        }),
      );
      await settle();
      const oneThread = await inProcessOneThread(durationMs);
      log(`  mlp in-process, one onnxruntime thread: ${oneThread} rows/s`);
      figures.inProcessOneThread.push(oneThread);
    }
    for (const rate of rates) {
      figures.bare.open[rate] = await measure(`bare at ${rate} req/s`, { ...oneLoad(bare.url), rate });
      figures.cairn.open[rate] = await measure(`Cairn at ${rate} req/s`, { ...oneLoad(oneRowServer.url), rate });
    }
  } catch (error) {
    figures.error = error instanceof Error ? error.message : String(error);
    process.exitCode = 1;
  } finally {
    for (const stop of stops) await stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
  figures.machine.loadavgAfter = os.loadavg().map((value) => value.toFixed(2));
  print(figures);
}

function print(figures) {
  if (asJson) {
    console.log(JSON.stringify(figures, null, 2));
    return;
  }
  const lines = [
    `machine: ${figures.machine.cpus} cores, load average ${figures.machine.loadavg.join(' ')} before the run, ` +
      `${figures.machine.loadavgAfter.join(' ')} after (other work slows every figure)`,
    `server: cairn deploy --foreground, workers ${workers}, batch max_size ${batchMaxSize}, max_latency_ms ${batchMaxLatencyMs}; ` +
      `${(durationMs / 1000).toFixed(0)} s per run, best of ${figures.rounds} interleaved rounds`,
    '',
  ];
  if (figures.error) {
    console.log([...lines, `The benchmark failed: ${figures.error}`].join('\n'));
    return;
  }
  lines.push(`1. rows/s with ${BATCH_ROWS}-row requests (${bigConnections} connections), target ≥ ${percent(TARGET)}`);
  lines.push('   model      request    in-process    Cairn server    ratio');
  for (const name of Object.keys(figures.inProcess)) {
    const inProcess = Math.max(...figures.inProcess[name]);
    for (const [kind, runs] of [
      ['JSON', figures.big[name]],
      ['binary', figures.bigBinary[name]],
    ]) {
      const served = best(runs, 'rowsPerSecond');
      const ratio = served.rowsPerSecond / inProcess;
      lines.push(
        `   ${name.padEnd(10)} ${kind.padEnd(7)} ${String(inProcess).padStart(12)}    ${String(served.rowsPerSecond).padStart(12)}    ${percent(ratio)} ${verdict(ratio)}` +
          `   (Cairn p50 ${served.latency.p50} ms, p99 ${served.latency.p99} ms per request)`,
      );
    }
  }
  const bare = best(figures.bare.closed, 'requestsPerSecond');
  const cairn = best(figures.cairn.closed, 'requestsPerSecond');
  const ratio = cairn.requestsPerSecond / bare.requestsPerSecond;
  lines.push('');
  lines.push(`2. one-row requests, closed loop, ${connections} connections, target ≥ ${percent(TARGET)}`);
  lines.push('                 bare node:http    Cairn (logistic)    ratio');
  lines.push(
    `   req/s       ${String(bare.requestsPerSecond).padStart(16)}    ${String(cairn.requestsPerSecond).padStart(16)}    ${percent(ratio)} ${verdict(ratio)}`,
  );
  lines.push(
    `   p50/p99 ms  ${`${bare.latency.p50} / ${bare.latency.p99}`.padStart(16)}    ${`${cairn.latency.p50} / ${cairn.latency.p99}`.padStart(16)}`,
  );
  lines.push('');
  lines.push('3. one-row requests at a fixed rate (open loop, latency from the scheduled time)');
  lines.push('   rate          bare p50 / p99 ms    Cairn p50 / p99 ms    Cairn answered    Cairn not 200');
  for (const rate of Object.keys(figures.bare.open)) {
    const bareRun = figures.bare.open[rate];
    const cairnRun = figures.cairn.open[rate];
    const failed = cairnRun.completed - (cairnRun.statuses['200'] ?? 0);
    lines.push(
      `   ${`${rate} req/s`.padEnd(12)}  ${`${bareRun.latency.p50} / ${bareRun.latency.p99}`.padStart(17)}    ` +
        `${`${cairnRun.latency.p50} / ${cairnRun.latency.p99}`.padStart(18)}    ${`${cairnRun.requestsPerSecond} req/s`.padStart(14)}    ${failed}`,
    );
  }
  lines.push('');
  lines.push(printCeiling(figures, bare.requestsPerSecond).join('\n'));
  console.log(lines.join('\n'));
}

/**
 * Section 4: the skeletons beside the references. A skeleton does less than Cairn on every request, so
 * its ratio is the most any server doing the same parts could reach on this machine.
 */
function printCeiling(figures, bareRequests) {
  const row = (label, value, ratio) => `   ${label.padEnd(50)} ${String(value).padStart(10)}    ${ratio}`;
  const describe = {
    answer: 'skeleton: parse the request, answer a constant',
    model: 'skeleton: + run the model in its own process',
    log: 'skeleton: + log every prediction to SQLite',
  };
  const lines = [
    '4. what this machine allows: skeleton servers doing only the least the issue asks (bench/skeleton.mjs)',
    row(`one-row requests, ${connections} connections`, 'req/s', 'of bare node:http'),
  ];
  for (const level of SKELETON_LEVELS) {
    const served = best(figures.skeleton[level], 'requestsPerSecond').requestsPerSecond;
    lines.push(row(describe[level], served, percent(served / bareRequests)));
  }
  const inProcess = Math.max(...figures.inProcess.mlp);
  const oneThread = Math.max(...figures.inProcessOneThread);
  const skeletonRows = best(figures.skeletonBig, 'rowsPerSecond').rowsPerSecond;
  lines.push(row(`mlp, ${BATCH_ROWS}-row requests`, 'rows/s', 'of in-process (two threads)'));
  lines.push(row('in process, one onnxruntime thread', oneThread, percent(oneThread / inProcess)));
  lines.push(row('skeleton with the log, binary requests', skeletonRows, percent(skeletonRows / inProcess)));
  return lines;
}

if (process.argv[2] === '--bare-server') bareServerMain(Number(process.argv[3]));
else
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  });
