// `cairn exp list|show|compare` through the built CLI (dist/cli/cairn.js, built by `npm test`) on a
// workspace whose runs were logged with the Tracker.
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

describe('cairn exp', () => {
  let root: string;
  const ids: string[] = [];

  before(() => {
    root = makeWorkspace({});
    const tracker = Tracker.open(root);
    for (const [index, model] of ['tree', 'linear', 'tree'].entries()) {
      const start = Date.UTC(2026, 10, 27, 10, index);
      const run = tracker.startRun({ experiment: 'rain', name: `trial-${index}`, startTime: start, note: 'n' });
      tracker.logParams(run, { model, lr: 0.1 * (index + 1), seed: 7 });
      tracker.logMetrics(
        run,
        Array.from({ length: 5 }, (_, step) => ({ key: 'loss', value: 1 - step / 10 - index / 100, step })),
      );
      tracker.logMetrics(run, [{ key: 'auc', value: 0.8 + index / 20, step: 4 }]);
      tracker.setTags(run, { team: index === 1 ? 'b' : 'a' });
      tracker.logDatasetInput(run, { name: 'weather', version: '2', digest: 'd41d8cd9' });
      tracker.endRun(run, 'succeeded', start + 42_000);
      ids.push(run);
    }
    tracker.close();
  });

  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('lists runs filtered and sorted, as a table and as JSON', () => {
    const table = cairn(root, 'exp', 'list', '--filter', "params.model = 'tree'", '--sort', 'metrics.auc DESC');
    assert.equal(table.status, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(
      lines[0] ?? '',
      /^RUN\s+NAME\s+EXPERIMENT\s+STATUS\s+STARTED\s+DURATION\s+metrics\.auc\s+metrics\.loss\s+params\.lr/,
    );
    assert.equal(lines.length, 3);
    assert.match(lines[1] ?? '', /trial-2\s+rain\s+succeeded\s+2026-11-27 10:02:00\s+42\.0s\s+0\.9\s+0\.58/);
    assert.match(lines[2] ?? '', /trial-0\s+rain\s+succeeded/);
    const json = cairn(root, 'exp', 'list', '--experiment', 'rain', '--sort', 'params.lr', '--limit', '2', '--json');
    assert.equal(json.status, 0, json.stderr);
    const runs = (JSON.parse(json.stdout) as { runs: { name: string; params: Record<string, string> }[] }).runs;
    assert.deepEqual(
      runs.map((run) => run.name),
      ['trial-0', 'trial-1'],
    );
    assert.equal(runs[1]?.params['model'], 'linear');
  });

  it('exits with 2 and points at the mistake of a bad filter', () => {
    const result = cairn(root, 'exp', 'list', '--filter', 'metrics.auc >= ');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /bad --filter: expected a value after '>=' but found the end at column 16/);
    const sort = cairn(root, 'exp', 'list', '--sort', 'metrics.auc SIDEWAYS');
    assert.equal(sort.status, 2);
    assert.match(sort.stderr, /bad --sort: expected ASC or DESC/);
  });

  it('shows one run in full by id prefix or name, with its metric histories summarized', () => {
    const result = cairn(root, 'exp', 'show', ids[1]?.slice(0, 10) ?? '');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /Name:\s+trial-1/);
    assert.match(result.stdout, /Params\n {2}lr = 0\.2\n {2}model = linear\n {2}seed = 7/);
    assert.match(result.stdout, /loss\s+0\.59\s+4\s+5\s+0\.59\s+0\.99\s+0\.\.4/);
    assert.match(result.stdout, /Datasets\n {2}weather@2 d41d8cd9/);
    const json = cairn(root, 'exp', 'show', 'trial-1', '--json');
    assert.equal(json.status, 0, json.stderr);
    const detail = JSON.parse(json.stdout) as { id: string; tags: Record<string, string>; duration: number };
    assert.equal(detail.id, ids[1]);
    assert.deepEqual(detail.tags, { team: 'b' });
    assert.equal(detail.duration, 42_000);
    const missing = cairn(root, 'exp', 'show', 'trial-9');
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /No run 'trial-9'/);
  });

  it("sets a run's note, shown by exp show", () => {
    const result = cairn(root, 'exp', 'note', 'trial-2', 'best', 'so', 'far');
    assert.equal(result.status, 0, result.stderr);
    assert.match(cairn(root, 'exp', 'show', 'trial-2').stdout, /Note:\s+best so far\n/);
    assert.equal(cairn(root, 'exp', 'note', 'trial-2').status, 2);
  });

  it('compares runs: the params that differ and metric deltas from the first run', () => {
    const result = cairn(root, 'exp', 'compare', 'trial-0', 'trial-1', 'trial-2');
    assert.equal(result.status, 0, result.stderr);
    assert.match(
      result.stdout,
      /Params that differ\n\s+PARAM.*\n\s+lr\s+0\.1\s+0\.2\s+0\.30000000000000004\n\s+model\s+tree\s+linear\s+tree\n\n/,
    );
    assert.doesNotMatch(result.stdout, /seed/);
    assert.match(result.stdout, /auc\s+0\.8\s+0\.85 \(\+0\.05\)\s+0\.9 \(\+0\.1\)/);
    const json = cairn(root, 'exp', 'compare', 'trial-0', 'trial-2', '--json');
    const comparison = JSON.parse(json.stdout) as {
      metrics: { key: string; deltas: (number | null)[] }[];
      params: { key: string; differs: boolean }[];
    };
    const loss = comparison.metrics.find((metric) => metric.key === 'loss');
    assert.equal(loss?.deltas[0], 0);
    assert.ok(Math.abs((loss?.deltas[1] ?? 0) + 0.02) < 1e-9);
    assert.deepEqual(
      comparison.params.filter((param) => param.differs).map((param) => param.key),
      ['lr'],
    );
    const one = cairn(root, 'exp', 'compare', 'trial-0');
    assert.equal(one.status, 2);
  });
});
