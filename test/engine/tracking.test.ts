// Experiment tracking on real temporary workspaces and a real SQLite store: write-once params, metric
// histories and the latest-value table, every recorded field, live JSON Lines ingestion, and
// concurrent writers in separate processes.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from '../../server/engine/store';
import { runSource } from '../../server/engine/tracking/environment';
import { ingestMetricsFile } from '../../server/engine/tracking/live';
import { metricHistory, runDetail } from '../../server/engine/tracking/read';
import { Tracker, TrackingError } from '../../server/engine/tracking/tracker';
import { makeWorkspace } from '../helpers/workspace';

describe('tracking', () => {
  let root: string;
  let tracker: Tracker;

  beforeEach(() => {
    root = makeWorkspace({ 'package-lock.json': '{"lockfileVersion": 3}\n', 'requirements-dev.txt': 'numpy==2.0\n' });
    tracker = Tracker.open(root);
  });

  afterEach(() => {
    tracker.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('keeps params write-once: the same value again is fine, another value names the param', () => {
    const run = tracker.startRun({ experiment: 'weather' });
    tracker.logParams(run, { lr: 0.1, model: 'tree' });
    tracker.logParams(run, { lr: 0.1 });
    assert.throws(
      () => tracker.logParams(run, { depth: 3, lr: 0.2 }),
      (error: Error) => {
        assert.ok(error instanceof TrackingError);
        assert.match(error.message, /Param 'lr' .* already logged as '0\.1'.*'0\.2'/);
        return true;
      },
    );
    // The failed batch is one transaction: depth, logged before lr in it, was not kept either.
    assert.deepEqual(runDetail(tracker.store.db, run)?.params, { lr: '0.1', model: 'tree' });
  });

  it('keeps the latest-value table in step with the metric history, by step then timestamp', () => {
    const run = tracker.startRun({ experiment: 'weather' });
    tracker.logMetrics(run, [
      { key: 'loss', value: 0.9, step: 0, timestamp: 1000 },
      { key: 'loss', value: 0.5, step: 2, timestamp: 1002 },
      { key: 'loss', value: 0.7, step: 1, timestamp: 1001 },
      { key: 'auc', value: 0.6, step: 0, timestamp: 1000 },
    ]);
    // A late point of an earlier step goes into the history but does not become the latest value.
    tracker.logMetrics(run, [{ key: 'loss', value: 0.8, step: 1, timestamp: 2000 }]);
    tracker.logMetrics(run, [{ key: 'auc', value: 0.65, step: 0, timestamp: 1500 }]);
    const history = metricHistory(tracker.store.db, run, 'loss');
    assert.deepEqual(
      history.map((point) => [point.step, point.value]),
      [
        [0, 0.9],
        [1, 0.7],
        [1, 0.8],
        [2, 0.5],
      ],
    );
    const detail = runDetail(tracker.store.db, run);
    const loss = detail?.metrics.find((metric) => metric.key === 'loss');
    assert.deepEqual(loss, {
      key: 'loss',
      latest: 0.5,
      latestStep: 2,
      count: 4,
      min: 0.5,
      max: 0.9,
      firstStep: 0,
      lastStep: 2,
    });
    assert.equal(detail?.metrics.find((metric) => metric.key === 'auc')?.latest, 0.65);
    assert.throws(() => tracker.logMetrics(run, [{ key: 'loss', value: Number.NaN }]), /Metric 'loss' needs a number/);
    assert.throws(() => tracker.logMetrics('nope', [{ key: 'loss', value: 1 }]), /No run 'nope'/);
  });

  it('records experiment, parent, git, environment, note, tags, datasets, artifacts, status and duration', async () => {
    fs.writeFileSync(path.join(root, 'model.onnx'), 'not really a model');
    const sweep = tracker.startRun({ experiment: 'weather', name: 'sweep', startTime: 1_000 });
    const trial = tracker.startRun({
      experiment: 'weather',
      name: 'trial-1',
      parentRunId: sweep,
      note: 'first trial',
      source: runSource(root),
      startTime: 2_000,
    });
    tracker.setTags(trial, { team: 'a' });
    tracker.setTags(trial, { team: 'b', owner: 'kim' });
    tracker.logDatasetInput(trial, { name: 'weather', version: '3', digest: 'abc123' });
    const artifact = await tracker.logArtifactFile(trial, path.join(root, 'model.onnx'), 'model.onnx');
    tracker.endRun(trial, 'succeeded', 5_500);
    const detail = runDetail(tracker.store.db, trial);
    assert.ok(detail);
    assert.equal(detail.experiment, 'weather');
    assert.equal(detail.parent, sweep);
    assert.equal(detail.note, 'first trial');
    assert.equal(detail.status, 'succeeded');
    assert.equal(detail.duration, 3_500);
    assert.deepEqual(detail.tags, { owner: 'kim', team: 'b' });
    assert.deepEqual(detail.datasets, [{ name: 'weather', version: '3', digest: 'abc123' }]);
    assert.deepEqual(detail.artifacts, [{ path: 'model.onnx', md5: artifact.md5, size: 18 }]);
    assert.equal(artifact.md5, createHash('md5').update('not really a model').digest('hex'));
    // The temp workspace is no git repository.
    assert.deepEqual(detail.git, { commit: null, branch: null, dirty: null, diffHash: null });
    assert.equal(detail.environment.node, process.version);
    assert.deepEqual(Object.keys(detail.environment.lockFiles ?? {}), ['package-lock.json', 'requirements-dev.txt']);
    assert.equal(detail.environment.os?.platform, process.platform);
    assert.deepEqual(runDetail(tracker.store.db, sweep)?.children, [trial]);
    assert.throws(() => tracker.startRun({ experiment: 'weather', parentRunId: 'missing' }), /No run 'missing'/);
    assert.throws(() => tracker.createExperiment('weather'), /already exists/);
  });

  it('records the git commit, branch, dirty state and a diff hash that changes with the diff', () => {
    const git = (...args: string[]): void => {
      const { status, stderr } = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
      assert.equal(status, 0, stderr);
    };
    git('init', '-q', '-b', 'main');
    git('-c', 'user.name=t', '-c', 'user.email=t@t', 'add', '.');
    git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'first');
    const clean = runSource(root).git;
    assert.equal(clean.branch, 'main');
    assert.equal(clean.dirty, false);
    assert.equal(clean.diffHash, null);
    fs.appendFileSync(path.join(root, 'requirements-dev.txt'), 'pandas\n');
    const dirty = runSource(root).git;
    assert.equal(dirty.commit, clean.commit);
    assert.equal(dirty.dirty, true);
    fs.appendFileSync(path.join(root, 'requirements-dev.txt'), 'scipy\n');
    const dirtier = runSource(root).git;
    assert.match(dirty.diffHash ?? '', /^[0-9a-f]{64}$/);
    assert.notEqual(dirtier.diffHash, dirty.diffHash);
  });

  it('ingests live JSON Lines across calls, leaving a partial last line for the next call', () => {
    const run = tracker.startRun({ experiment: 'weather' });
    const file = path.join(root, 'metrics.jsonl');
    fs.writeFileSync(file, '{"step": 0, "loss": 0.9, "acc": 0.5, "phase": "train"}\n{"step": 1, "loss": 0.');
    const first = ingestMetricsFile(tracker, run, file, 10_000);
    assert.equal(first.points, 2);
    assert.deepEqual(first.problems, []);
    // The rest of line 2 arrives, then a point in the key/value shape (timestamp in seconds), and a bad line.
    fs.appendFileSync(
      file,
      '7, "acc": 0.6}\n{"key": "loss", "value": 0.4, "step": 2, "timestamp": 1700000000}\nnot json\n',
    );
    const second = ingestMetricsFile(tracker, run, file, 20_000);
    assert.equal(second.points, 3);
    assert.equal(second.problems.length, 1);
    assert.equal(second.problems[0]?.line, 4);
    assert.equal(second.offset, fs.statSync(file).size);
    // Nothing new: nothing ingested twice, even from a new tracker (the offset is in the store).
    const reopened = Tracker.open(root);
    assert.equal(ingestMetricsFile(reopened, run, file).points, 0);
    reopened.close();
    const loss = metricHistory(tracker.store.db, run, 'loss');
    assert.deepEqual(
      loss.map((point) => [point.step, point.value, point.timestamp]),
      [
        [0, 0.9, 10_000],
        [1, 0.7, 20_000],
        [2, 0.4, 1_700_000_000_000],
      ],
    );
    assert.equal(runDetail(tracker.store.db, run)?.metrics.find((metric) => metric.key === 'acc')?.latest, 0.6);
  });

  it('loses no point when several processes log into the same store at once', async () => {
    const writers = 3;
    const points = 20_000;
    tracker.close();
    const code = `
      const { Tracker } = require(${JSON.stringify(path.resolve(__dirname, '../../server/engine/tracking/tracker.ts'))});
      const tracker = Tracker.open(process.argv[1]);
      const run = tracker.startRun({ experiment: 'concurrent', name: process.argv[2] });
      for (let batch = 0; batch < ${points} / 500; batch++) {
        tracker.logMetrics(run, Array.from({ length: 500 }, (_, i) => ({ key: 'loss', value: i, step: batch * 500 + i })));
      }
      tracker.endRun(run, 'succeeded');
      tracker.close();
    `;
    const exits = await Promise.all(
      Array.from(
        { length: writers },
        (_, index) =>
          new Promise<{ code: number | null; stderr: string }>((resolve) => {
            const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', code, root, `writer-${index}`], {
              stdio: ['ignore', 'ignore', 'pipe'],
            });
            let stderr = '';
            child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
            child.on('exit', (exitCode) => resolve({ code: exitCode, stderr }));
          }),
      ),
    );
    for (const exit of exits) assert.equal(exit.code, 0, exit.stderr);
    const store = Store.open(root);
    const counts = store.db
      .prepare(
        `SELECT r.name, COUNT(h.step) AS points, MAX(h.step) AS last FROM tracked_runs r
         JOIN metric_history h ON h.run = r.seq GROUP BY r.seq ORDER BY r.name`,
      )
      .all() as { name: string; points: number; last: number }[];
    store.close();
    tracker = Tracker.open(root);
    assert.deepEqual(
      counts,
      Array.from({ length: writers }, (_, index) => ({ name: `writer-${index}`, points, last: points - 1 })),
    );
  });
});
