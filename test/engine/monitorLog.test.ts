// The prediction log on a real SQLite file: batched appends at the rate a busy server logs (measured
// and printed), input sampling, retention by age and by rows, labels and events by request id, and
// queries by window, version and arm.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { DEFAULT_LOG_POLICY, FeedbackError, monitorDbPath, PredictionLog } from '../../server/engine/monitor/log';
import { LogWriterThread } from '../../server/engine/monitor/logWriter';
import type { PredictionInsert } from '../../server/engine/monitor/logWriter';
import { sampleResources } from '../../server/engine/monitor/resources';
import { workerCommand } from '../../server/engine/serving/modelHost';
import type { PredictionRecord } from '../../server/engine/serving/record';
import { makeWorkspace } from '../helpers/workspace';

const FEATURES = Array.from({ length: 20 }, (_, index) => `f${index}`);

function record(index: number, at: number, extra: Partial<PredictionRecord> = {}): PredictionRecord {
  const inputs: Record<string, number[]> = {};
  for (const feature of FEATURES) inputs[feature] = [index % 97];
  return {
    requestId: `r${index}`,
    at,
    arm: 'stable',
    version: 'weather:1',
    protocol: 'v2',
    status: 200,
    latencyMs: 1 + (index % 10),
    rows: 1,
    inputs,
    outputs: { probability: [0.5] },
    error: null,
    fallback: false,
    key: null,
    ...extra,
  };
}

/** The insert's arguments of a one-row prediction, as the log hands them to its writer thread. */
function insertRow(requestId: string): PredictionInsert {
  return [requestId, 1000, 'stable', 'weather:1', 'v2', 200, 1, 1, 0, null, null, null, null, '{"p":[0.5]}'];
}

describe('monitor: the prediction log', function () {
  this.timeout(60000);

  it('appends tens of thousands of one-row predictions with 20 features per second', () => {
    const root = makeWorkspace({});
    const log = PredictionLog.open(root, 'weather-api');
    const total = 200_000;
    const batch = 2_000;
    const records = Array.from({ length: total }, (_, index) => record(index, 1_000_000 + index));
    const started = performance.now();
    for (let start = 0; start < total; start += batch) {
      log.append(records.slice(start, start + batch));
      // The server flushes every 200 ms; at this rate that is one flush per a few thousand records.
      log.flush();
    }
    const seconds = (performance.now() - started) / 1000;
    const rate = total / seconds;
    console.log(`      prediction log: ${total} records in ${seconds.toFixed(2)} s = ${Math.round(rate)} records/s`);
    assert.equal(log.count(), total);
    // The machine running the tests may be busy: the bound leaves room, the figure is printed.
    assert.ok(rate > 10_000, `only ${Math.round(rate)} records/s`);
    log.close();
    assert.ok(fs.existsSync(monitorDbPath(root, 'weather-api')));
  });

  it('writes on a writer thread exactly what it writes in process, and says when it is in the file', async () => {
    const records = Array.from({ length: 5_000 }, (_, index) => record(index, 2_000_000 + index));
    records[7] = record(7, 2_000_007, { status: 500, error: 'the model failed', outputs: null, fallback: true });
    const inProcess = PredictionLog.open(makeWorkspace({}), 'd');
    inProcess.append(records);
    inProcess.flush();
    const errors: Error[] = [];
    const root = makeWorkspace({});
    const threaded = PredictionLog.open(root, 'd', { writerThread: true, onError: (error) => errors.push(error) });
    threaded.append(records.slice(0, 2_500));
    threaded.flush();
    threaded.append(records.slice(2_500));
    await threaded.written();
    // Another connection (as `cairn monitor report` or the monitor process) sees every row.
    const reader = PredictionLog.open(root, 'd', { readonly: true });
    const strip = (rows: ReturnType<PredictionLog['predictions']>): unknown[] =>
      rows.map(({ seq: _seq, ...rest }) => rest);
    assert.equal(reader.count(), records.length);
    assert.deepEqual(strip(reader.predictions()), strip(inProcess.predictions()));
    assert.deepEqual(errors, []);
    reader.close();
    inProcess.close();
    await threaded.close();
  });

  it('writes what was appended last when the threaded log closes, and reports a failed write', async () => {
    const root = makeWorkspace({});
    const errors: string[] = [];
    const log = PredictionLog.open(root, 'd', { writerThread: true, onError: (error) => errors.push(error.message) });
    // A row the table refuses (no request id) fails its flush, is reported, and later flushes go on.
    log.append([record(1, 10, { requestId: null as unknown as string })]);
    await log.written();
    assert.equal(errors.length, 1);
    assert.match(errors[0] ?? '', /1 predictions were not logged: NOT NULL constraint failed: predictions.request_id/);
    log.append([record(2, 20), record(3, 30)]);
    await log.close();
    const reader = PredictionLog.open(root, 'd', { readonly: true });
    assert.deepEqual(
      reader.predictions().map((prediction) => prediction.requestId),
      ['r2', 'r3'],
    );
    reader.close();
  });

  it('drops and reports flushes while its writer thread is too far behind, and logs again once it caught up', async () => {
    const root = makeWorkspace({});
    const errors: string[] = [];
    // About 400 bytes per one-row record with 20 features: a 3 kB allowance takes one flush of 5.
    const log = PredictionLog.open(root, 'd', {
      writerThread: true,
      maxQueuedBytes: 3_000,
      onError: (error) => errors.push(error.message),
    });
    log.append([0, 1, 2, 3, 4].map((index) => record(index, index)));
    log.flush();
    // The thread cannot have answered yet (this turn of the event loop has not ended): these wait on it.
    log.append([5, 6, 7, 8, 9].map((index) => record(index, index)));
    log.flush();
    assert.equal(errors.length, 1);
    assert.match(errors[0] ?? '', /the log writer is 0 MB behind; 5 predictions were not logged so far/);
    // Within the next 10 s drops are counted, not reported; the count is reported once it keeps up.
    log.append([11, 12, 13, 14, 15].map((index) => record(index, index)));
    log.flush();
    assert.equal(errors.length, 1);
    await log.written();
    assert.equal(errors.length, 2);
    assert.match(errors[1] ?? '', /the log writer has caught up; 10 predictions were not logged so far/);
    log.append([record(10, 10)]);
    await log.close();
    assert.equal(errors.length, 2);
    const reader = PredictionLog.open(root, 'd', { readonly: true });
    assert.deepEqual(
      reader.predictions().map((prediction) => prediction.requestId),
      ['r0', 'r1', 'r2', 'r3', 'r4', 'r10'],
    );
    reader.close();
  });

  it('starts its writer thread again when it exits, with the flushes it had not written, each written once', async () => {
    const root = makeWorkspace({});
    const errors: string[] = [];
    const log = PredictionLog.open(root, 'd', { writerThread: true, onError: (error) => errors.push(error.message) });
    log.append([record(0, 0)]);
    await log.written();
    // The thread exits as a crash would end it: rows just handed over may or may not be written yet.
    const { writer } = log as unknown as { writer: { worker: Worker } };
    log.append([record(1, 1), record(2, 2)]);
    log.flush();
    await writer.worker.terminate();
    log.append([record(3, 3)]);
    await log.written();
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0] ?? '', /the log writer exited \(code 1\); it is started again \(1 of 3 in a row\)/);
    // Thrice more and the count of restarts in a row is back at one: a flush was written in between.
    await writer.worker.terminate();
    log.append([record(4, 4)]);
    log.flush();
    // Closing while the thread has just died: it is started again to write what it held, then closes.
    void writer.worker.terminate();
    await log.close();
    assert.match(errors[1] ?? '', /started again \(1 of 3 in a row\) with the [01] predictions/);
    assert.ok(!errors.some((error) => /not logged/.test(error)), errors.join('\n'));
    const reader = PredictionLog.open(root, 'd', { readonly: true });
    assert.deepEqual(
      reader.predictions().map((prediction) => prediction.requestId),
      ['r0', 'r1', 'r2', 'r3', 'r4'],
    );
    reader.close();
  });

  it('has a writer thread write a flush handed to it again only once', async () => {
    const root = makeWorkspace({});
    PredictionLog.open(root, 'd').close();
    const thread = new Worker(path.join(__dirname, '../../server/engine/monitor/logWriterMain.ts'), {
      execArgv: workerCommand().execArgv,
    });
    const answers: unknown[] = [];
    const answered = (count: number): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => (answers.length >= count ? resolve() : void setTimeout(check, 10));
        check();
      });
    thread.on('message', (message) => answers.push(message));
    thread.postMessage({ kind: 'open', file: monitorDbPath(root, 'd') });
    const rows = [insertRow('r1'), insertRow('r2')];
    thread.postMessage({ kind: 'insert', id: 1, rows });
    // As a thread started after one that wrote flush 1 but exited before it could say so gets it.
    thread.postMessage({ kind: 'insert', id: 1, rows, again: true });
    thread.postMessage({ kind: 'insert', id: 2, rows: [insertRow('r3')], again: true });
    await answered(3);
    thread.postMessage({ kind: 'close' });
    await new Promise((resolve) => thread.once('exit', resolve));
    assert.deepEqual(answers, [
      { kind: 'written', id: 1 },
      { kind: 'written', id: 1 },
      { kind: 'written', id: 2 },
    ]);
    const reader = PredictionLog.open(root, 'd', { readonly: true });
    assert.deepEqual(
      reader.predictions().map((prediction) => prediction.requestId),
      ['r1', 'r2', 'r3'],
    );
    reader.close();
  });

  it('stops its writer thread after it exited four times in a row, and says how many predictions were lost', async () => {
    const root = makeWorkspace({});
    const errors: string[] = [];
    // The thread cannot open a file in a folder that does not exist: it exits at every start.
    const writer = new LogWriterThread(path.join(root, 'missing', 'monitor.db'), (error) => errors.push(error.message));
    writer.write([insertRow('r0')]);
    await writer.settled();
    assert.equal(errors.filter((error) => /it is started again/.test(error)).length, 3, errors.join('\n'));
    assert.match(
      errors.at(-1) ?? '',
      /the log writer exited 4 times in a row and is not started again; 1 predictions were not logged so far/,
    );
    writer.write([insertRow('r1')]);
    await writer.close();
    assert.ok(!fs.existsSync(path.join(root, 'missing')));
  });

  it('keeps a process alive while rows wait for its writer thread, and not after', () => {
    const root = makeWorkspace({});
    const module = path.resolve(__dirname, '../../server/engine/monitor/log.ts');
    // A process that appends and ends without closing: the rows are written, then it exits.
    const script = `
      const { PredictionLog } = require(${JSON.stringify(module)});
      const log = PredictionLog.open(${JSON.stringify(root)}, 'd', { writerThread: true });
      log.append([${JSON.stringify(record(1, 1))}]);
      log.flush();
    `;
    const started = Date.now();
    const result = spawnSync(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], {
      timeout: 30_000,
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, `exit ${result.status} ${result.signal ?? ''}: ${result.stderr}`);
    assert.ok(Date.now() - started < 30_000);
    const reader = PredictionLog.open(root, 'd', { readonly: true });
    assert.deepEqual(
      reader.predictions().map((prediction) => prediction.requestId),
      ['r1'],
    );
    reader.close();
  });

  it('keeps inputs for the sampled share only, and always the outputs and latency', () => {
    const root = makeWorkspace({});
    let state = 1;
    const random = () => {
      state = (state * 48271) % 2147483647;
      return state / 2147483647;
    };
    const log = PredictionLog.open(root, 'd', {
      policy: { ...DEFAULT_LOG_POLICY, sample: 0.25, retentionMs: 86_400_000, maxRows: 100_000 },
      random,
    });
    log.append(Array.from({ length: 4000 }, (_, index) => record(index, 1000 + index)));
    log.flush();
    const all = log.predictions();
    const sampled = all.filter((prediction) => prediction.inputs !== null).length;
    assert.ok(sampled > 800 && sampled < 1200, `${sampled} of 4000 sampled`);
    assert.ok(all.every((prediction) => prediction.outputs !== null && prediction.latencyMs > 0));
    assert.equal(log.predictions({ withInputs: true }).length, sampled);
    log.close();
  });

  it('removes entries older than the retention, then the oldest beyond max rows', () => {
    const root = makeWorkspace({});
    const log = PredictionLog.open(root, 'd', { policy: { ...DEFAULT_LOG_POLICY, retentionMs: 10_000, maxRows: 50 } });
    log.append(Array.from({ length: 100 }, (_, index) => record(index, 1000 + index * 100)));
    log.flush();
    log.addFeedback([{ request_id: 'r0', label: 1, at: 1000 }], { now: 1000 });
    // At 15,000 the retention keeps at >= 5,000: requests 40..99 (60 of them); max rows keeps the last 50.
    assert.equal(log.applyRetention(15_000), 50);
    const kept = log.predictions();
    assert.equal(kept.length, 50);
    assert.equal(kept[0]?.requestId, 'r50');
    assert.equal(kept.at(-1)?.requestId, 'r99');
    assert.deepEqual(log.feedback(), []);
    log.close();
  });

  it('removes the oldest predictions until the file fits max bytes, when large requests fill it first', () => {
    const root = makeWorkspace({});
    const maxBytes = 2_000_000;
    const log = PredictionLog.open(root, 'd', { policy: { ...DEFAULT_LOG_POLICY, maxBytes } });
    // Requests of 1,000 rows: about 160 kB of inputs each, so 100 of them are 16 MB, far beyond max
    // bytes and far within max rows.
    const rows = 1000;
    const big = (index: number): PredictionRecord => {
      const inputs: Record<string, number[]> = {};
      for (const feature of FEATURES) inputs[feature] = Array.from({ length: rows }, (_, row) => index + row / rows);
      return {
        ...record(index, 1000 + index),
        rows,
        inputs,
        outputs: { probability: new Array<number>(rows).fill(0.5) },
      };
    };
    for (let index = 0; index < 100; index++) log.append([big(index)]);
    log.flush();
    assert.ok(log.usedBytes() > 8 * maxBytes, `the log holds only ${log.usedBytes()} bytes`);
    const removed = log.applyRetention(2000);
    const kept = log.predictions();
    assert.equal(removed + kept.length, 100);
    assert.ok(log.usedBytes() <= maxBytes, `${log.usedBytes()} bytes used after the retention`);
    // The newest stay, and no more went than needed: the kept ones fill at least half of the limit.
    assert.equal(kept.at(-1)?.requestId, 'r99');
    assert.deepEqual(
      kept.map((prediction) => prediction.requestId),
      Array.from({ length: kept.length }, (_, index) => `r${100 - kept.length + index}`),
    );
    assert.ok(kept.length * 160_000 >= maxBytes / 2, `only ${kept.length} predictions kept`);
    // The freed pages are reused: logging more leaves the file no larger than before.
    log.db.pragma('wal_checkpoint(TRUNCATE)');
    const fileBefore = fs.statSync(monitorDbPath(root, 'd')).size;
    for (let index = 100; index < 110; index++) log.append([big(index)]);
    log.flush();
    log.applyRetention(3000);
    assert.ok(log.usedBytes() <= maxBytes);
    log.db.pragma('wal_checkpoint(TRUNCATE)');
    assert.ok(fs.statSync(monitorDbPath(root, 'd')).size <= fileBefore, 'the file grew although pages were free');
    log.close();
  });

  it('joins labels and events to predictions by request id, and says which row is wrong', () => {
    const root = makeWorkspace({});
    const log = PredictionLog.open(root, 'd');
    log.append([
      record(1, 1000),
      record(2, 2000, { arm: 'candidate', version: 'weather:2' }),
      record(3, 3000, { arm: 'shadow', version: 'weather:2', requestId: 'r1' }),
    ]);
    log.flush();
    assert.equal(
      log.addFeedback(
        [
          { request_id: 'r1', label: 1 },
          { request_id: 'r2', outcome: 'purchase', revenue: 12.5, at: '2026-01-01T00:00:00Z' },
        ],
        { now: 5000 },
      ),
      2,
    );
    const joined = log.joined();
    assert.deepEqual(
      joined.map(({ prediction, feedback }) => [prediction.requestId, prediction.arm, feedback.map((row) => row.kind)]),
      [
        ['r1', 'stable', ['label']],
        ['r2', 'candidate', ['event']],
        ['r1', 'shadow', ['label']],
      ],
    );
    assert.deepEqual(joined[1]?.feedback[0]?.fields, { outcome: 'purchase', revenue: 12.5 });
    assert.equal(joined[1]?.feedback[0]?.at, Date.parse('2026-01-01T00:00:00Z'));
    assert.deepEqual(
      log.predictions({ version: 'weather:2' }).map((prediction) => prediction.arm),
      ['candidate', 'shadow'],
    );
    assert.deepEqual(
      log.predictions({ from: 1500, to: 3000 }).map((prediction) => prediction.requestId),
      ['r2'],
    );
    assert.deepEqual(
      log.summaries({ arm: 'stable' }).map((summary) => summary.at),
      [1000],
    );
    assert.throws(
      () => log.addFeedback([{ request_id: 'r1', label: 1 }, { label: 0 }], { now: 0, where: 'labels.jsonl' }),
      (error: unknown) =>
        error instanceof FeedbackError && /labels.jsonl, row 2: 'request_id' is missing/.test(error.message),
    );
    assert.throws(
      () => log.addFeedback([{ id: 'r1', label: { a: 1 } }], { now: 0, joinKey: 'id' }),
      /label must be a number/,
    );
    assert.equal(log.feedback().length, 2, 'a rejected batch records nothing');
    log.close();
  });

  it('reads a log another process writes, read-only', () => {
    const root = makeWorkspace({});
    const writer = PredictionLog.open(root, 'd', { autoFlush: true });
    writer.append([record(1, 1000)]);
    writer.flush();
    const reader = PredictionLog.open(root, 'd', { readonly: true });
    assert.equal(reader.count(), 1);
    assert.throws(() => reader.addFeedback([{ request_id: 'r1', label: 1 }], { now: 0 }), /read-only/);
    reader.close();
    writer.close();
  });
  it('samples the CPU and memory of real processes and keeps them in the log', () => {
    const first = sampleResources([process.pid], 1000);
    assert.ok(first && first.rssBytes > 10 * 1024 * 1024, JSON.stringify(first));
    // Busy work until 300 ms of CPU were used (however loaded the machine is): the next sample must
    // report that share of the elapsed time, as the kernel counts it (10 ms ticks).
    const cpuBefore = process.cpuUsage();
    const started = Date.now();
    let spin = 0;
    while (process.cpuUsage(cpuBefore).user < 300_000) spin += Math.sqrt(spin + 1);
    const used = process.cpuUsage(cpuBefore);
    const elapsed = Date.now() - started;
    const second = sampleResources([process.pid], 1000 + elapsed);
    const expected = ((used.user + used.system) / 1000 / elapsed) * 100;
    assert.ok(second, 'a second sample');
    assert.ok(
      Math.abs(second.cpuPercent - expected) < 5 + (2000 / elapsed) * 2,
      `cpu ${second.cpuPercent}% measured, ${expected}% used (spin ${spin > 0})`,
    );
    assert.equal(sampleResources([2 ** 22 + 12345], 5000), null, 'a pid that does not exist gives no sample');
    const root = makeWorkspace({});
    const log = PredictionLog.open(root, 'd');
    log.addResourceSample(second);
    assert.deepEqual(log.resources(0, 10_000), [second]);
    log.close();
  });
});
