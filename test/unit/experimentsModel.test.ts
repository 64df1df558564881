// What the Experiments and Models views show and what the sweep notification says, from the CLI's
// JSON: which runs are listed and in what order, the key metric, declared model names, the
// objective's direction, the best value so far, and the documents "Open Run" and "Show" render.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import {
  cacheObjectPath,
  declaredModelNames,
  emptySweepProgress,
  keyMetric,
  nestedMetrics,
  nextSweepProgress,
  objectiveDirection,
  objectiveOf,
  orderedTrials,
  parseSweepEvent,
  runMarkdown,
  sweepProgressMessage,
  trialOutcome,
  trialsFilter,
  versionMarkdown,
  visibleRuns,
} from '../../client/experimentsModel';
import type { RunDetail, RunRow, ShownVersion, SweepEvent } from '../../client/experimentsModel';
import { evaluateGate } from '../../server/engine/gates/evaluate';
import { ContentCache } from '../../server/engine/cache';

function run(id: string, start: number, extra: Partial<RunRow> = {}): RunRow {
  return {
    id,
    name: `run-${id}`,
    experiment: 'iris',
    status: 'succeeded',
    parent: null,
    start_time: start,
    end_time: start + 10,
    duration: 10,
    git_commit: null,
    params: {},
    metrics: {},
    tags: {},
    ...extra,
  };
}

describe('experiments model', () => {
  it('lists top-level runs, starred first, newest first otherwise, and says when some are left out', () => {
    // `exp list --sort "start_time DESC"` order: newest first.
    const rows = [
      run('e', 50),
      run('t1', 45, { parent: 'd' }),
      run('d', 40, { tags: { 'cairn.objective': 'accuracy' } }),
      run('c', 30, { tags: { 'cairn.starred': 'true' } }),
      run('b', 20),
      run('a', 10, { tags: { 'cairn.starred': 'true' } }),
    ];
    const all = visibleRuns(rows, 1000);
    assert.deepEqual(
      all.runs.map((row) => row.id),
      ['c', 'a', 'e', 'd', 'b'],
    );
    assert.equal(all.more, false);
    const capped = visibleRuns(rows, 1000, 3);
    assert.deepEqual(
      capped.runs.map((row) => row.id),
      ['c', 'a', 'e'],
    );
    assert.equal(capped.more, true);
    // The list the CLI returned was itself cut: there may be more.
    assert.equal(visibleRuns(rows, rows.length).more, true);
  });

  it('orders trials as they ran, starred first', () => {
    const trials = [run('3', 30), run('1', 10), run('2', 20, { tags: { 'cairn.starred': 'true' } })];
    assert.deepEqual(
      orderedTrials(trials).map((row) => row.id),
      ['2', '1', '3'],
    );
  });

  it('shows the objective beside a run when it has it, else its first metric by name', () => {
    const rows = [
      run('old', 1, { tags: { 'cairn.objective': 'loss minimize' } }),
      run('new', 2, { tags: { 'cairn.objective': 'accuracy maximize' } }),
    ];
    assert.equal(objectiveOf(rows), 'accuracy');
    assert.equal(
      objectiveOf([run('j', 1, { tags: { 'cairn.objective': '{"metric":"f1","direction":"maximize"}' } })]),
      'f1',
    );
    assert.equal(objectiveOf([run('x', 1)]), null);
    const scored = run('s', 1, { metrics: { zeta: 3, score: 0.93, beta: 1.5 } });
    assert.deepEqual(keyMetric(scored, 'score'), { key: 'score', value: 0.93 });
    // A run without the objective (a pruned trial) shows no other metric in its place.
    assert.equal(keyMetric(scored, 'missing'), null);
    assert.deepEqual(keyMetric(scored, null), { key: 'beta', value: 1.5 });
    assert.equal(keyMetric(run('none', 1), null), null);
  });

  it("reads a trial's outcome from its state tag", () => {
    const trial = (number: number, state: string, auc: number | undefined, lr: string): RunRow =>
      run(`t${number}`, number, {
        name: `trial-${number}`,
        parent: 'sweep',
        status: state === 'complete' ? 'succeeded' : 'cancelled',
        params: { 'train.lr': lr, 'train.kind': 'sgd' },
        metrics: auc === undefined ? { loss: 0.4 } : { auc, loss: 0.3 },
        tags: { 'cairn.trial_state': state },
      });
    const trials = [
      trial(0, 'complete', 0.8, '0.1'),
      trial(1, 'pruned', undefined, '0.0123456789'),
      trial(2, 'complete', 0.9, '0.2'),
      trial(3, 'failed', undefined, '0.3'),
    ];
    assert.equal(trialOutcome(trials[1] as RunRow), 'pruned');
    assert.equal(trialOutcome(trials[0] as RunRow), null);
  });

  it("puts a run's recorded metrics back in the shape its gate reads", () => {
    const flat = {
      'test.accuracy': 0.95,
      'test.slices.species.setosa.recall': 1,
      'test.slices.species.virginica.recall': 0.7,
      auc: 0.8,
      auc_extra: 1,
    };
    const nested = nestedMetrics(flat);
    assert.deepEqual(nested, {
      auc: 0.8,
      auc_extra: 1,
      test: { accuracy: 0.95, slices: { species: { setosa: { recall: 1 }, virginica: { recall: 0.7 } } } },
    });
    // The engine's gate judges the nested metrics as it would the metrics file.
    const report = evaluateGate(
      {
        split: 'test',
        acceptance: [{ kind: 'threshold', metric: 'accuracy', op: '>=', value: 0.9 }],
        slices: [{ column: 'species', metric: 'recall', min: 0.8, minRows: 0 }],
      },
      nested,
    );
    assert.deepEqual(
      report.criteria.map((criterion) => criterion.passed),
      [true, false],
    );
    // A key that is both a value and a section keeps the value, and the longer key stays flat.
    assert.deepEqual(nestedMetrics({ loss: 0.3, 'loss.val': 0.4 }), { loss: 0.3, 'loss.val': 0.4 });
  });

  it("finds a cached object where the engine's content cache keeps it", () => {
    const md5 = '6a6ab82bc8bf0e17965fc908b93074d9';
    const root = path.resolve('/workspace');
    assert.equal(path.join(root, ...cacheObjectPath(md5).split('/')), new ContentCache(root).objectPath(md5));
  });

  it("quotes a sweep's id in the trials filter", () => {
    assert.equal(trialsFilter('abc123'), "parent = 'abc123'");
    assert.equal(trialsFilter("o'brien"), "parent = 'o''brien'");
  });

  it('reads the model names a pipeline declares', () => {
    const text = [
      'stages:',
      '  train:',
      '    cmd: python train.py',
      '# registry',
      'models:',
      '  iris-classifier:',
      '    artifact: models/model.onnx',
      '    gate:',
      '      acceptance: [accuracy >= 0.9]',
      '',
      '  "churn.v2":',
      '    artifact: models/churn.onnx',
      'datasets:',
      '  iris:',
      '    source: { type: csv }',
    ].join('\n');
    assert.deepEqual(declaredModelNames(text), ['iris-classifier', 'churn.v2']);
    assert.deepEqual(declaredModelNames('stages: {}\n'), []);
  });

  it("reads the direction of an experiment's objective", () => {
    assert.equal(objectiveDirection('name: a\nobjective: { metric: loss, direction: minimize }\n'), 'minimize');
    assert.equal(
      objectiveDirection(
        'objective:\n  metric: accuracy\n  direction: maximize\nacceptance:\n  - { direction: minimize }\n',
      ),
      'maximize',
    );
    assert.equal(objectiveDirection('objective:\n  direction: minimize\n  metric: rmse\n'), 'minimize');
  });

  it("follows a sweep's events to trial i/N and the best value so far", () => {
    const start = (objective: string) =>
      `{"event":"sweep-start","sweepRunId":"s1","experiment":"iris-sweep","strategy":"tpe","trials":4,"parallel":2,"objective":${objective},"resumed":false,"finished":0}`;
    const trials = [
      '{"event":"trial-start","number":0,"params":{"train.lr":0.1}}',
      '{"event":"trial-start","number":1,"params":{"train.lr":0.2}}',
      '{"event":"trial-end","number":0,"runId":"r0","params":{"train.lr":0.1},"state":"complete","value":0.31,"durationMs":900}',
      '{"event":"trial-end","number":1,"runId":"r1","params":{"train.lr":0.2},"state":"complete","value":0.12,"durationMs":800}',
      '{"event":"trial-start","number":2,"params":{"train.lr":0.3}}',
      '{"event":"trial-end","number":2,"runId":"r2","params":{"train.lr":0.3},"state":"pruned","value":0.01,"durationMs":100}',
      'not an event',
      '{"event":"warning","message":"trial 3 failed to start"}',
    ];
    const fold = (lines: string[], fileDirection: 'maximize' | 'minimize') =>
      lines
        .map(parseSweepEvent)
        .filter((event): event is SweepEvent => event !== null)
        .reduce((state, event) => nextSweepProgress(state, event), emptySweepProgress(fileDirection));
    // The direction announced by the sweep wins over the one read from the file.
    const minimized = fold([start('{"metric":"loss","direction":"minimize"}'), ...trials], 'maximize');
    assert.equal(minimized.sweepRunId, 's1');
    assert.deepEqual(minimized.best, { number: 1, runId: 'r1', value: 0.12 });
    assert.equal(sweepProgressMessage(minimized), 'trial 3/4 · best 0.12 (trial 1) · 1 pruned');
    assert.deepEqual(minimized.warnings, ['trial 3 failed to start']);
    // A pruned trial's value is not a result: the best stays the best complete trial.
    const maximized = fold([start('null'), ...trials], 'maximize');
    assert.deepEqual(maximized.best, { number: 0, runId: 'r0', value: 0.31 });
    const resumed = fold(
      [
        '{"event":"sweep-start","sweepRunId":"s1","experiment":"e","strategy":"grid","trials":null,"parallel":1,"objective":null,"resumed":true,"finished":5}',
        trials[0] ?? '',
      ],
      'maximize',
    );
    assert.equal(sweepProgressMessage(resumed), 'trial 6');
  });

  it('renders a run as a Markdown document', () => {
    const detail: RunDetail = {
      id: 'abc',
      name: 'trial-3',
      experiment: 'iris-sweep',
      parent: 'sweep1',
      status: 'succeeded',
      start_time: Date.UTC(2026, 10, 27, 10, 0, 0),
      end_time: Date.UTC(2026, 10, 27, 10, 0, 5),
      duration: 5000,
      git: { commit: '0123456789abcdef', branch: 'main', dirty: true, diffHash: 'ff' },
      environment: {},
      note: null,
      params: { 'train.lr': '0.1' },
      metrics: [
        { key: 'accuracy', latest: 0.955555, latestStep: 3, count: 4, min: 0.5, max: 0.96, firstStep: 0, lastStep: 3 },
      ],
      tags: { 'cairn.starred': 'true' },
      datasets: [],
      artifacts: [{ path: 'models/model.onnx', md5: 'd41d8', size: 120 }],
      children: [],
    };
    const text = runMarkdown(detail);
    assert.match(text, /^# Run trial-3\n/);
    assert.match(text, /\| Started \| 2026-11-27 10:00:00 \|/);
    assert.match(text, /\| Git \| `0123456789ab` on main \(dirty\) \|/);
    assert.match(text, /\| accuracy \| 0\.95556 \| 3 \| 4 \| 0\.5 \| 0\.96 \|/);
    assert.match(text, /\| models\/model\.onnx \| d41d8 \| 120 \|/);
    assert.doesNotMatch(text, /## Child runs/);
  });

  it('renders a model version with its gate report and audit', () => {
    const shown: ShownVersion = {
      version: {
        model: 'iris-classifier',
        version: 2,
        md5: 'abc',
        size: 300,
        signature: {
          inputs: [{ name: 'x', type: 'float32', shape: [null, 4] }],
          outputs: [{ name: 'y', type: 'float32', shape: [null, 3] }],
          opsets: { 'ai.onnx': 13 },
          irVersion: 8,
          producer: 'test',
          graphName: 'g',
          metadata: {},
        },
        sourcePath: 'models/model.onnx',
        runId: null,
        pipeline: 'pipeline.yaml',
        datasets: [],
        metrics: { accuracy: 0.95 },
        gateReport: {
          passed: false,
          split: 'test',
          summary: '1 of 1 criteria failed: accuracy >= 0.97.',
          criteria: [
            {
              kind: 'threshold',
              criterion: 'accuracy >= 0.97',
              metric: 'accuracy',
              value: 0.95,
              threshold: '>= 0.97',
              passed: false,
              reason: 'accuracy is 0.95, below >= 0.97.',
            },
          ],
        },
        description: null,
        tags: {},
        createdAt: Date.UTC(2026, 10, 27, 9, 0, 0),
        approved: true,
        approvedBy: 'ana',
        approvedAt: Date.UTC(2026, 10, 27, 9, 30, 0),
        aliases: ['champion'],
        objectPath: '/tmp/x',
      },
      aliases: { champion: 2 },
      audit: [
        {
          id: 1,
          at: Date.UTC(2026, 10, 27, 9, 30, 0),
          model: 'iris-classifier',
          version: 2,
          action: 'approve',
          from: null,
          to: 'approved',
          actor: 'ana',
          reason: 'reviewed the slices',
        },
      ],
    };
    const text = versionMarkdown(shown);
    assert.match(text, /^# iris-classifier v2\n/);
    assert.match(text, /\| Aliases \| champion \|/);
    assert.match(text, /\| Approved \| yes, by ana at 2026-11-27 09:30:00 \|/);
    assert.match(text, /\| Gate \| failed \|/);
    assert.match(text, /\| input \| x \| float32 \| \[\?, 4\] \|/);
    assert.match(text, /\*\*Gate \(split test\): failed\.\*\* 1 of 1 criteria failed/);
    assert.match(text, /\| FAIL \| accuracy >= 0\.97 \| 0\.95 \| >= 0\.97 \| accuracy is 0\.95, below >= 0\.97\. \|/);
    assert.match(text, /\| 2026-11-27 09:30:00 \| approve \| - \| approved \| ana \| reviewed the slices \|/);
  });
});
