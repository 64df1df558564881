// `cairn exp experiments|tag|untag|table|history` through the built CLI (dist/cli/cairn.js, built by
// `npm test`) on a workspace whose runs were logged with the Tracker.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
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
