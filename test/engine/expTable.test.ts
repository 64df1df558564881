// `cairn exp experiments|tag|untag|table|history` through the built CLI (dist/cli/cairn.js, built by
// `npm test`) on a workspace whose runs were logged with the Tracker.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from '../../server/engine/store';
import { runTable } from '../../server/engine/tracking/table';
import { Tracker } from '../../server/engine/tracking/tracker';
import { makeWorkspace } from '../helpers/workspace';

const CLI = path.resolve(__dirname, '../../dist/cli/cairn.js');

function cairn(root: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [CLI, ...args, '--workspace', root], { encoding: 'utf8', timeout: 60000 });
}

function cairnJson<T>(root: string, ...args: string[]): T {
  const result = cairn(root, ...args, '--json');
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as T;
}

describe('cairn exp experiments, tag and untag', () => {
  let root: string;
  const ids: string[] = [];

  before(() => {
    root = makeWorkspace({});
    const tracker = Tracker.open(root);
    // 'old' has two finished runs from Monday; 'new' one finished and one still running from Tuesday.
    const plan: [string, number, boolean][] = [
      ['old', Date.UTC(2026, 10, 23, 9), true],
      ['old', Date.UTC(2026, 10, 23, 10), true],
      ['new', Date.UTC(2026, 10, 24, 9), true],
      ['new', Date.UTC(2026, 10, 24, 11), false],
    ];
    for (const [index, [experiment, start, finished]] of plan.entries()) {
      const run = tracker.startRun({ experiment, name: `run-${index}`, startTime: start });
      if (finished) tracker.endRun(run, 'succeeded', start + 1000);
      ids.push(run);
    }
    tracker.createExperiment('empty', Date.UTC(2026, 10, 25));
    tracker.close();
  });

  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('lists experiments newest first with their run counts', () => {
    const { experiments } = cairnJson<{ experiments: unknown[] }>(root, 'exp', 'experiments');
    assert.deepEqual(experiments, [
      { name: 'new', runs: 2, lastRunAt: Date.UTC(2026, 10, 24, 11), running: 1 },
      { name: 'old', runs: 2, lastRunAt: Date.UTC(2026, 10, 23, 10), running: 0 },
      { name: 'empty', runs: 0, lastRunAt: null, running: 0 },
    ]);
    const table = cairn(root, 'exp', 'experiments');
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^EXPERIMENT\s+RUNS\s+RUNNING\s+LAST RUN\nnew\s+2\s+1\s+2026-11-24 11:00:00\n/);
  });

  it('reports no experiments in a workspace without a store, and creates none', () => {
    const empty = makeWorkspace({});
    try {
      assert.deepEqual(cairnJson(empty, 'exp', 'experiments'), { experiments: [] });
      assert.equal(fs.existsSync(path.join(empty, '.cairn', 'cairn.db')), false);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('stars a run with a tag, changes a tag, and removes tags', () => {
    const run = ids[0] ?? '';
    const starred = cairnJson<{ run: string; tags: Record<string, string> }>(
      root,
      'exp',
      'tag',
      'run-0',
      'cairn.starred=true',
      'note=a=b',
    );
    assert.equal(starred.run, run);
    assert.deepEqual(starred.tags, { 'cairn.starred': 'true', note: 'a=b' });
    const filtered = cairnJson<{ runs: { name: string }[] }>(
      root,
      'exp',
      'list',
      '--filter',
      "tags.cairn.starred = 'true'",
    );
    assert.deepEqual(
      filtered.runs.map((row) => row.name),
      ['run-0'],
    );
    cairnJson(root, 'exp', 'tag', run.slice(0, 10), 'note=changed');
    const removed = cairnJson<{ changed: string[]; tags: Record<string, string> }>(
      root,
      'exp',
      'untag',
      'run-0',
      'cairn.starred',
      'never-set',
    );
    assert.deepEqual(removed.changed, ['cairn.starred']);
    assert.deepEqual(removed.tags, { note: 'changed' });
    const text = cairn(root, 'exp', 'untag', 'run-0', 'note');
    assert.equal(text.status, 0, text.stderr);
    assert.equal(text.stdout, `Removed note on run ${run.slice(0, 8)}.\n`);
  });

  it('exits with 2 on a tag without a value, an unknown run, or no store', () => {
    const bad = cairn(root, 'exp', 'tag', 'run-1', 'starred');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /exp tag needs KEY=VALUE, got 'starred'/);
    const unknown = cairn(root, 'exp', 'untag', 'no-such-run', 'x');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /No run 'no-such-run'/);
    const missing = cairn(root, 'exp', 'tag', 'run-1');
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /needs a run and at least one KEY=VALUE/);
  });
});

describe('cairn exp table and history', () => {
  let root: string;
  const ids: string[] = [];
  type Table = { columns: { key: string; kind: string }[]; total: number; rows: (string | number | null)[][] };

  before(() => {
    root = makeWorkspace({});
    const tracker = Tracker.open(root);
    // Four runs of 'sweep' (the last one lacks metrics.auc and has an extra param), one of 'other'.
    for (let index = 0; index < 4; index++) {
      const start = Date.UTC(2026, 10, 27, 10, index);
      const run = tracker.startRun({ experiment: 'sweep', name: `trial-${index}`, startTime: start });
      tracker.logParams(run, { lr: [0.1, 0.01, 0.5, 2][index] ?? 0, model: index % 2 === 0 ? 'tree' : 'linear' });
      if (index === 3) tracker.logParams(run, { depth: 4 });
      const points = Array.from({ length: 3 }, (_, step) => ({ key: 'loss', value: 1 - step / 10 - index, step }));
      if (index < 3) points.push({ key: 'auc', value: [0.7, 0.9, 0.8][index] ?? 0, step: 2 });
      tracker.logMetrics(run, points);
      tracker.endRun(run, 'succeeded', start + 5000);
      ids.push(run);
    }
    tracker.setTags(ids[1] ?? '', { 'cairn.starred': 'true' });
    const other = tracker.startRun({ experiment: 'other', name: 'lonely', startTime: Date.UTC(2026, 10, 28) });
    tracker.logParams(other, { alpha: 1 });
    tracker.close();
  });

  after(() => fs.rmSync(root, { recursive: true, force: true }));

  function cell(table: Table, row: number, key: string): string | number | null | undefined {
    const column = table.columns.findIndex((each) => each.key === key);
    assert.notEqual(column, -1, `no column ${key}`);
    return table.rows[row]?.[column];
  }

  it('has a column for every param, metric and tag of the experiment, newest run first', () => {
    const table = cairnJson<Table>(root, 'exp', 'table', '--experiment', 'sweep');
    assert.deepEqual(
      table.columns.map((column) => `${column.kind}:${column.key}`),
      [
        'attribute:id',
        'attribute:name',
        'attribute:status',
        'attribute:start_time',
        'attribute:duration',
        'attribute:parent',
        'metric:metrics.auc',
        'metric:metrics.loss',
        'param:params.depth',
        'param:params.lr',
        'param:params.model',
        'tag:tags.cairn.starred',
      ],
    );
    assert.equal(table.total, 4);
    assert.deepEqual(
      table.rows.map((row) => row[1]),
      ['trial-3', 'trial-2', 'trial-1', 'trial-0'],
    );
    assert.deepEqual(table.rows[0], [
      ids[3],
      'trial-3',
      'succeeded',
      Date.UTC(2026, 10, 27, 10, 3),
      5000,
      null,
      null,
      -2.2,
      '4',
      '2',
      'linear',
      null,
    ]);
    assert.equal(cell(table, 2, 'tags.cairn.starred'), 'true');
    assert.equal(cell(table, 2, 'metrics.auc'), 0.9);
  });

  it('sorts by a metric in the engine, runs without it last, and pages with a total', () => {
    const table = cairnJson<Table>(root, 'exp', 'table', '--experiment', 'sweep', '--sort', 'metrics.auc DESC');
    assert.deepEqual(
      table.rows.map((row) => row[1]),
      ['trial-1', 'trial-2', 'trial-0', 'trial-3'],
    );
    const byParam = cairnJson<Table>(
      root,
      'exp',
      'table',
      '--experiment',
      'sweep',
      '--sort',
      'params.lr',
      '--limit',
      '2',
      '--offset',
      '1',
    );
    assert.equal(byParam.total, 4);
    // Numeric params sort by number: 0.01, 0.1, 0.5, 2.
    assert.deepEqual(
      byParam.rows.map((row) => row[1]),
      ['trial-0', 'trial-2'],
    );
  });

  it('filters with the exp list grammar and spans experiments without --experiment', () => {
    const filtered = cairnJson<Table>(root, 'exp', 'table', '--filter', "params.model = 'tree' AND metrics.auc > 0.75");
    assert.equal(filtered.total, 1);
    assert.equal(cell(filtered, 0, 'name'), 'trial-2');
    assert.equal(cell(filtered, 0, 'experiment'), 'sweep');
    // Columns are the keys of the matching runs: 'other' has alpha, and no matching run does.
    assert.equal(
      filtered.columns.some((column) => column.key === 'params.alpha'),
      false,
    );
    const everything = cairnJson<Table>(root, 'exp', 'table');
    assert.equal(everything.total, 5);
    assert.equal(cell(everything, 0, 'params.alpha'), '1');
  });

  it('exits with 2 and points at the column of a bad filter', () => {
    const result = cairn(root, 'exp', 'table', '--filter', 'metrics.auc >> 1', '--json');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /bad --filter: .* at column 14/);
    const noJson = cairn(root, 'exp', 'table');
    assert.equal(noJson.status, 2);
    assert.match(noJson.stderr, /add --json/);
  });

  it('gives the metric histories of selected runs step by step', () => {
    const { histories } = cairnJson<{
      histories: { name: string; metric: string; steps: number[]; values: number[] }[];
    }>(root, 'exp', 'history', 'trial-0', 'trial-3', '--metric', 'loss');
    assert.deepEqual(
      histories.map((history) => [history.name, history.metric, history.steps, history.values]),
      [
        ['trial-0', 'loss', [0, 1, 2], [1, 0.9, 0.8]],
        ['trial-3', 'loss', [0, 1, 2], [-2, -2.1, -2.2]],
      ],
    );
    const all = cairnJson<{ histories: { metric: string }[] }>(root, 'exp', 'history', 'trial-1');
    assert.deepEqual(
      all.histories.map((history) => history.metric),
      ['auc', 'loss'],
    );
  });
});

describe('runTable in the engine', () => {
  let root: string;

  before(() => {
    root = makeWorkspace({});
    const tracker = Tracker.open(root);
    // Runs that log different keys, in different orders, some with odd characters.
    const plans: Record<string, number>[] = [{ 'val loss': 0.5, acc: 0.7 }, { acc: 0.8, zeta: 1 }, { acc: 0.9 }, {}];
    plans.forEach((metrics, index) => {
      const run = tracker.startRun({ experiment: 'odd', name: `odd-${index}`, startTime: Date.UTC(2026, 0, 1, index) });
      tracker.logParams(run, index % 2 === 0 ? { 'b"q': `quote"${index}`, a: index } : { a: index });
      tracker.logMetrics(
        run,
        Object.entries(metrics).map(([key, value]) => ({ key, value, step: 1 })),
      );
    });
    tracker.close();
  });

  after(() => fs.rmSync(root, { recursive: true, force: true }));

  function open<T>(work: (db: Store['db']) => T): T {
    const store = Store.open(root);
    try {
      return work(store.db);
    } finally {
      store.close();
    }
  }

  it('puts every value under its own column whatever keys each run logged', () => {
    const table = open((db) => runTable(db, { experiment: 'odd', sort: 'start_time ASC' }));
    const keys = table.columns.map((column) => column.key);
    assert.deepEqual(keys.slice(6), ['metrics.acc', 'metrics.val loss', 'metrics.zeta', 'params.a', 'params.b"q']);
    const byName = Object.fromEntries(table.rows.map((row) => [row[1], row.slice(6)]));
    assert.deepEqual(byName, {
      'odd-0': [0.7, 0.5, null, '0', 'quote"0'],
      'odd-1': [0.8, null, 1, '1', null],
      'odd-2': [0.9, null, null, '2', 'quote"2'],
      'odd-3': [null, null, null, '3', null],
    });
  });

  it('keeps the columns of every matching run on a smaller page', () => {
    const page = open((db) => runTable(db, { experiment: 'odd', sort: 'start_time ASC', limit: 1, offset: 3 }));
    assert.equal(page.total, 4);
    assert.deepEqual(
      page.rows.map((row) => row[1]),
      ['odd-3'],
    );
    assert.equal(page.columns.length, 11);
    assert.deepEqual(page.rows[0]?.slice(6), [null, null, null, '3', null]);
  });

  it('has only the attribute columns when no run matches', () => {
    const none = open((db) => runTable(db, { experiment: 'odd', filter: 'metrics.acc > 5' }));
    assert.deepEqual(none, {
      columns: ['id', 'name', 'status', 'start_time', 'duration', 'parent'].map((key) => ({ key, kind: 'attribute' })),
      total: 0,
      rows: [],
    });
  });
});
