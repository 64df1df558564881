// A skeleton model server for bench/serve.mjs: the least a server can do and still be the server the
// serving issue asks for, so the benchmark can show what this machine allows any such server, beside
// what Cairn reaches. It has no metrics, no limits, no timeouts, no rollouts, no fallbacks and no
// signature checks beyond the one input's name, type and width; each level adds one part that the
// issue requires of every request:
//   answer  parse the V2 request (JSON, or the binary tensor extension) and answer rows of a constant:
//           HTTP and the request's encoding, nothing else;
//   model   run the rows in a model process of their own (onnxruntime-node, requests stacked into
//           one batch per turn of the event loop, sent over IPC), as a model that can crash or be
//           killed without the server must run;
//   log     also log every prediction (id, time, latency, inputs, outputs) to SQLite, from a thread of
//           its own in batches every 200 ms.
// Usage (from bench/serve.mjs, under tsx): node bench/skeleton.mjs PORT LEVEL MODEL_FILE FEATURES
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const script = fileURLToPath(import.meta.url);

/** The model process: runs each batch it is sent, answers its output data. */
async function modelMain(file) {
  const loaded = await import('onnxruntime-node');
  const ort = loaded.default ?? loaded;
  const session = await ort.InferenceSession.create(file, {
    logSeverityLevel: 4,
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  });
  const [input] = session.inputNames;
  const [output] = session.outputNames;
  process.on('message', async ({ id, data, rows, width }) => {
    const results = await session.run({ [input]: new ort.Tensor('float32', data, [rows, width]) });
    process.send({ id, data: results[output].data.slice() });
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true });
}

/** The log thread: inserts the rows it is sent, one transaction per message. */
async function logMain(file) {
  const loaded = await import('better-sqlite3');
  const Database = loaded.default ?? loaded;
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(
    'CREATE TABLE IF NOT EXISTS predictions (id TEXT, at REAL, latency_ms REAL, rows INTEGER, inputs BLOB, outputs TEXT)',
  );
  const insert = db.prepare('INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?)');
  const write = db.transaction((rows) => {
    for (const row of rows) insert.run(row);
  });
  parentPort.on('message', (rows) => write(rows));
}

/** The request's one input as float32 rows, or an error text. */
function decode(body, headers, width) {
  const headerLength = headers['inference-header-content-length'];
  const jsonEnd = headerLength === undefined ? body.length : Number(headerLength);
  const request = JSON.parse(body.toString('utf8', 0, jsonEnd));
  const input = request.inputs?.[0];
  if (!input || input.name !== 'features' || input.datatype !== 'FP32' || input.shape?.[1] !== width) {
    return 'expected one FP32 input "features" of shape [rows, width]';
  }
  const rows = input.shape[0];
  if (headerLength === undefined) {
    if (!Array.isArray(input.data) || input.data.length !== rows * width) return 'wrong data length';
    return { rows, data: Float32Array.from(input.data) };
  }
  const bytes = body.subarray(jsonEnd);
  if (bytes.length !== rows * width * 4) return 'wrong binary data length';
  return { rows, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) };
}

function front(port, level, modelFile, width) {
  let model = null;
  const pending = new Map();
  let nextBatch = 1;
  let queue = [];
  if (level !== 'answer') {
    model = fork(script, ['--model', modelFile], { serialization: 'advanced', stdio: 'inherit' });
    model.on('message', (message) => {
      if (message.ready) return listen();
      const done = pending.get(message.id);
      pending.delete(message.id);
      done(message.data);
    });
  }
  let logThread = null;
  let logRows = [];
  if (level === 'log') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-skeleton-'));
    logThread = new Worker(script, { workerData: { logFile: path.join(dir, 'monitor.db') } });
    process.on('SIGTERM', () => {
      void logThread.terminate().finally(() => {
        fs.rmSync(dir, { recursive: true, force: true });
        process.exit(0);
      });
    });
    setInterval(() => {
      if (logRows.length === 0) return;
      logThread.postMessage(logRows);
      logRows = [];
    }, 200).unref();
  }

  // Requests stacked into one batch per turn of the event loop, sent to the model process at once.
  const dispatch = () => {
    const batch = queue;
    queue = [];
    const rows = batch.reduce((sum, request) => sum + request.rows, 0);
    const data = new Float32Array(rows * width);
    let offset = 0;
    for (const request of batch) {
      data.set(request.data, offset * width);
      offset += request.rows;
    }
    const id = nextBatch++;
    pending.set(id, (outputs) => {
      let start = 0;
      for (const request of batch) {
        request.done(outputs.subarray(start, start + request.rows));
        start += request.rows;
      }
    });
    model.send({ id, data, rows, width });
  };

  let sequence = 0;
  const server = http.createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const started = performance.now();
      let decoded;
      try {
        decoded = decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), request.headers, width);
      } catch (error) {
        decoded = error.message;
      }
      if (typeof decoded === 'string') {
        response.writeHead(400, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: decoded }));
        return;
      }
      const id = String(++sequence);
      const answer = (outputs) => {
        const data = Array.from(outputs);
        const text = JSON.stringify({
          model_name: 'skeleton',
          id,
          outputs: [{ name: 'probability', shape: [decoded.rows, 1], datatype: 'FP32', data }],
        });
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        response.end(text);
        if (logThread) {
          const inputs = Buffer.from(decoded.data.buffer, decoded.data.byteOffset, decoded.data.byteLength);
          logRows.push([id, Date.now(), performance.now() - started, decoded.rows, inputs, JSON.stringify(data)]);
        }
      };
      if (!model) {
        answer(new Float32Array(decoded.rows).fill(0.5));
        return;
      }
      if (queue.length === 0) setImmediate(dispatch);
      queue.push({ ...decoded, done: answer });
    });
  });
  const listen = () => server.listen(port, '127.0.0.1');
  if (!model) listen();
}

if (!isMainThread) void logMain(workerData.logFile);
else if (process.argv[2] === '--model') void modelMain(process.argv[3]);
else front(Number(process.argv[2]), process.argv[3], process.argv[4], Number(process.argv[5]));
