// Engine tests of streaming datasets: a consumer in a real child process killed with SIGKILL while
// a writer appends to its JSON Lines file resumes with every record exactly once and in order; a
// partial last line waits for its newline; time windows; the HTTP endpoint on 127.0.0.1 spools,
// acknowledges and feeds the consumer.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { readDatasets } from '../../server/engine/data/spec';
import type { DatasetSpec } from '../../server/engine/data/spec';
import { consumeStream, readCompleteLines, startIngestServer } from '../../server/engine/data/stream';
import { Store } from '../../server/engine/store';
import { makeWorkspace, yaml } from '../helpers/workspace';

const repository = path.resolve(__dirname, '../..');

function declared(root: string, name: string): DatasetSpec {
  const found = readDatasets(root).datasets.find((dataset) => dataset.name === name);
  assert.ok(found, `dataset ${name} is declared`);
  return found;
}

/** Every record of every version of a dataset, read back from the immutable batch copies. */
function recordsOfVersions(root: string, name: string): unknown[] {
  const store = Store.open(root);
  try {
    return store.datasetVersions(name).flatMap((version) =>
      fs
        .readFileSync(path.join(root, version.path), 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as unknown),
    );
  } finally {
    store.close();
  }
}

function rowsRecorded(root: string, name: string): number {
  const store = Store.open(root);
  try {
    return store.datasetVersions(name).reduce((sum, version) => sum + version.rows, 0);
  } finally {
    store.close();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, timeoutMs = 15000, log = (): string => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${log()}`);
    await sleep(25);
  }
}

/** Starts `cairn data stream NAME --json` from source in a child process, collecting its stdout. */
function startConsumer(root: string, name: string): { child: ChildProcess; output: () => string } {
  const child = spawn(
    process.execPath,
    ['--require', 'tsx/cjs', path.join(repository, 'server/cli/cairn.ts'), 'data', 'stream', name, '--json'],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_PATH: path.join(repository, 'node_modules') },
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address && typeof address === 'object');
  return address.port;
}

describe('data: streams', () => {
  it('resumes after kill -9 with every record exactly once, in order, while a writer appends', async function () {
    this.timeout(40000);
    const total = 140;
    const root = makeWorkspace({
      'pipeline.yaml': yaml`
        datasets:
          events:
            stream: {type: jsonl, path: data/events.jsonl, window: {rows: 7}}
            checks:
              - {column: seq, not_null: true}
      `,
      'data/': '',
    });
    const file = path.join(root, 'data/events.jsonl');
    const line = (seq: number): string => `${JSON.stringify({ seq, payload: 'x'.repeat(seq % 13) })}\n`;
    fs.writeFileSync(file, Array.from({ length: 40 }, (_, seq) => line(seq)).join(''));
    // The writer appends the rest a few records at a time, cutting some lines in two writes so the
    // consumer sometimes sees a last line without its newline.
    let written = 40;
    const writer = (async () => {
      while (written < total) {
        const text = Array.from({ length: Math.min(3, total - written) }, (_, index) => line(written + index)).join('');
        written += Math.min(3, total - written);
        const cut = written % 2 === 0 ? Math.floor(text.length / 2) : text.length;
        fs.appendFileSync(file, text.slice(0, cut));
        await sleep(15);
        fs.appendFileSync(file, text.slice(cut));
        await sleep(15);
      }
    })();

    const first = startConsumer(root, 'events');
    await until(
      () => (first.output().match(/"version"/g) ?? []).length >= 3,
      'three batches from the first consumer',
      15000,
      first.output,
    );
    first.child.kill('SIGKILL');
    assert.equal((await exited(first.child)).signal, 'SIGKILL');
    const afterKill = rowsRecorded(root, 'events');
    assert.ok(afterKill > 0 && afterKill < total, `killed mid-way (${afterKill} of ${total} rows recorded)`);

    const second = startConsumer(root, 'events');
    await writer;
    await until(() => rowsRecorded(root, 'events') === total, `all ${total} rows recorded`, 15000, second.output);
    second.child.kill('SIGTERM');
    assert.deepEqual(await exited(second.child), { code: 0, signal: null }, second.output());

    const records = recordsOfVersions(root, 'events') as { seq: number }[];
    assert.deepEqual(
      records.map((record) => record.seq),
      Array.from({ length: total }, (_, seq) => seq),
    );
    const store = Store.open(root);
    try {
      const versions = store.datasetVersions('events');
      assert.equal(versions.length, total / 7);
      assert.ok(versions.every((version) => version.rows === 7 && version.window_start && version.window_end));
      assert.deepEqual(store.streamOffset('events'), { offset: fs.statSync(file).size, pending: '' });
    } finally {
      store.close();
    }
  });

  it('leaves a last line without its newline for later', () => {
    const root = makeWorkspace({ 'events.jsonl': '{"a": 1}\n{"a": 2}\n{"a": ' });
    const file = path.join(root, 'events.jsonl');
    const lines = readCompleteLines(file, 0, 'events.jsonl');
    assert.deepEqual(
      lines.map((line) => [line.text, line.bytes]),
      [
        ['{"a": 1}', 9],
        ['{"a": 2}', 9],
      ],
    );
    assert.deepEqual(readCompleteLines(file, 18, 'events.jsonl'), []);
    fs.appendFileSync(file, '3}\n');
    assert.deepEqual(
      readCompleteLines(file, 18, 'events.jsonl').map((line) => line.text),
      ['{"a": 3}'],
    );
    assert.throws(
      () => readCompleteLines(file, 999, 'events.jsonl'),
      /events\.jsonl: the file is shorter \(27 bytes\)/,
    );
  });

  it('cuts a time window with whatever arrived, and stops a window that fails its checks', async () => {
    const root = makeWorkspace({
      'pipeline.yaml': yaml`
        datasets:
          ticks:
            stream: {type: jsonl, path: ticks.jsonl, window: {time: 300ms}}
            checks:
              - {column: value, range: {max: 10}}
      `,
      'ticks.jsonl': '{"value": 1}\n{"value": 2}\n',
    });
    const dataset = declared(root, 'ticks');
    const store = Store.open(root);
    try {
      const started = Date.now();
      const outcome = await consumeStream({
        store,
        root,
        dataset,
        signal: new AbortController().signal,
        maxBatches: 1,
        pollMs: 20,
      });
      assert.equal(outcome.reason, 'max-batches');
      assert.equal(outcome.batches[0]?.rows, 2);
      const batch = outcome.batches[0];
      assert.ok(batch && Date.parse(batch.windowEnd) - Date.parse(batch.windowStart) >= 300);
      assert.ok(Date.now() - started >= 300);

      fs.appendFileSync(path.join(root, 'ticks.jsonl'), '{"value": 3}\n{"value": 42}\n');
      const failed = await consumeStream({ store, root, dataset, signal: new AbortController().signal, pollMs: 20 });
      assert.equal(failed.reason, 'failed');
      assert.deepEqual(
        failed.failures.map((failure) => [failure.rule, failure.violations, failure.examples]),
        [['range [-∞, 10]', 1, [{ row: 2, value: 42 }]]],
      );
      // Nothing was recorded: the offset still points after the first window.
      assert.equal(store.datasetVersions('ticks').length, 1);
      assert.equal(store.streamOffset('ticks').offset, 26);
    } finally {
      store.close();
    }
  });

  it('HTTP: acknowledges a POST once spooled, on 127.0.0.1, and the consumer turns the spool into versions', async () => {
    const port = await freePort();
    const root = makeWorkspace({
      'pipeline.yaml': yaml`
        datasets:
          clicks:
            stream: {type: http, port: ${port}, window: {rows: 3}}
      `,
    });
    const dataset = declared(root, 'clicks');
    const server = await startIngestServer(root, dataset);
    const store = Store.open(root);
    const controller = new AbortController();
    try {
      const address = server.address();
      assert.ok(address && typeof address === 'object');
      assert.equal(address.address, '127.0.0.1');
      const post = (body: string): Promise<Response> =>
        fetch(`http://127.0.0.1:${port}/ingest`, { method: 'POST', body });
      const array = await post(JSON.stringify([{ id: 1 }, { id: 2 }]));
      assert.equal(array.status, 200);
      assert.deepEqual(await array.json(), { accepted: 2 });
      // Acknowledged means on disk: the spool already holds the records.
      const spool = path.join(root, '.cairn/streams/clicks/spool.jsonl');
      assert.equal(fs.readFileSync(spool, 'utf8'), '{"id":1}\n{"id":2}\n');
      const lines = await post('{"id": 3}\n{"id": 4}\n\n{"id": 5}\n{"id": 6}');
      assert.deepEqual(await lines.json(), { accepted: 4 });
      const bad = await post('{"id": 7}\n{"id": 8');
      assert.equal(bad.status, 400);
      assert.match(((await bad.json()) as { error: string }).error, /^body line 2: not valid JSON/);
      assert.equal((await fetch(`http://127.0.0.1:${port}/ingest`)).status, 405);

      const outcome = await consumeStream({
        store,
        root,
        dataset,
        signal: controller.signal,
        maxBatches: 2,
        pollMs: 20,
      });
      assert.deepEqual(
        outcome.batches.map((batch) => batch.rows),
        [3, 3],
      );
      assert.deepEqual(
        (recordsOfVersions(root, 'clicks') as { id: number }[]).map((record) => record.id),
        [1, 2, 3, 4, 5, 6],
      );
    } finally {
      controller.abort();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      store.close();
    }
  });
});
