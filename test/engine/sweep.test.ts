// Sweeps over a real pipeline: a Node stage scores its params, writes a metrics file, logs a loss per
// step live and copies a real ONNX model. Checked: the same seed gives the same trials, trials are
// child runs of the sweep in the store, an interrupted sweep resumes to the trials an uninterrupted
// one runs, median pruning stops bad trials, the best model is registered behind the gate (and a
// failing gate blocks it), and a bad experiment file is a clear error naming its line.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { awaitsApproval, Registry } from '../../server/engine/registry/registry';
import { Store } from '../../server/engine/store';
import { ExperimentSpecError } from '../../server/engine/sweep/spec';
import { runSweep } from '../../server/engine/sweep/sweep';
import type { SweepEvent, SweepOptions, SweepResult } from '../../server/engine/sweep/sweep';
import { writeLogisticModel } from '../helpers/onnx';

const CLI = path.resolve(__dirname, '../../dist/cli/cairn.js');

// score peaks at x = 0.3, y = 0.7; loss = 1 - score at every step, one step per `pause` ms.
const STAGE = `import * as fs from 'node:fs';
const [x, y, pause] = process.argv.slice(2).map(Number);
const score = -((x - 0.3) ** 2) - (y - 0.7) ** 2;
const live = process.env.CAIRN_METRICS_PATH;
for (let step = 1; step <= 5; step++) {
  if (live) fs.appendFileSync(live, JSON.stringify({ step, loss: 1 - score }) + '\\n');
  await new Promise((resolve) => setTimeout(resolve, pause));
}
fs.mkdirSync('out', { recursive: true });
fs.writeFileSync('out/metrics.json', JSON.stringify({ holdout: { score } }));
fs.copyFileSync('assets/model.onnx', 'out/model.onnx');
`;

const PIPELINE = `stages:
  train:
    cmd: node score.mjs \${x} \${y} \${pause}
    deps: [score.mjs, assets/model.onnx]
    params: [x, y, pause]
    outs: [out/model.onnx]
    metrics:
      - out/metrics.json:
          cache: false
`;

function experiment(extra = ''): string {
  return `name: toy
search:
  strategy: random
  seed: 3
  space:
    x: { type: uniform, low: 0, high: 1 }
    y: { type: uniform, low: 0, high: 1 }
budget: { trials: 4 }
objective: { metric: score, direction: maximize }
holdout: { split: holdout }
${extra}`;
}

function workspace(spec = experiment(), pause = 0): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-sweep-'));
  fs.writeFileSync(path.join(root, 'score.mjs'), STAGE);
  fs.writeFileSync(path.join(root, 'pipeline.yaml'), PIPELINE);
  fs.writeFileSync(path.join(root, 'params.yaml'), `# the toy's params\nx: 0.5\ny: 0.5\npause: ${pause}\n`);
  fs.writeFileSync(path.join(root, 'toy.experiment.yaml'), spec);
  writeLogisticModel(root, 'assets/model.onnx', [0.5, -0.25]);
  return root;
}

async function sweep(
  root: string,
  options: Partial<SweepOptions> = {},
): Promise<{ result: SweepResult; events: SweepEvent[] }> {
  const events: SweepEvent[] = [];
  const result = await runSweep({
    root,
    file: path.join(root, 'toy.experiment.yaml'),
    jobs: 1,
    ...options,
    onEvent: (event) => {
      events.push(event);
      options.onEvent?.(event);
    },
  });
  return { result, events };
}

function completedTrials(result: SweepResult): { number: number; params: unknown; value: number | null }[] {
  return result.trials
    .filter((trial) => trial.state === 'complete')
    .sort((a, b) => a.number - b.number)
    .map(({ number, params, value }) => ({ number, params, value }));
}

describe('sweeps (cairn exp run)', function () {
  this.timeout(60_000);
  const roots: string[] = [];
  const make = (spec?: string, pause?: number): string => {
    const root = workspace(spec, pause);
    roots.push(root);
    return root;
  };
  after(() => {
    for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
  });

  it('gives the same trials for the same seed, tracked as child runs of the sweep', async () => {
    const first = await sweep(make());
    const second = await sweep(make());
    assert.equal(first.result.status, 'succeeded');
    assert.equal(first.result.trials.length, 4);
    assert.deepEqual(completedTrials(first.result), completedTrials(second.result));
    // The values are the stage's own computation of its params.
    for (const trial of first.result.trials) {
      const { x, y } = trial.params as { x: number; y: number };
      assert.ok(Math.abs((trial.value ?? NaN) - (-((x - 0.3) ** 2) - (y - 0.7) ** 2)) < 1e-9);
    }
    const best = first.result.best;
    assert.ok(best);
    assert.equal(best.value, Math.max(...first.result.trials.map((trial) => trial.value ?? -Infinity)));

    const store = Store.open(roots[0] as string);
    try {
      const children = store.db
        .prepare(
          `SELECT r.id, r.name, r.status, e.name AS experiment FROM tracked_runs r JOIN experiments e ON e.id = r.experiment_id
            WHERE r.parent_run_id = ? ORDER BY r.name`,
        )
        .all(first.result.sweepRunId) as { id: string; name: string; status: string; experiment: string }[];
      assert.deepEqual(
        children.map((child) => child.name),
        ['trial-0', 'trial-1', 'trial-2', 'trial-3'],
      );
      assert.ok(children.every((child) => child.status === 'succeeded' && child.experiment === 'toy'));
      const bestTag = store.db
        .prepare(
          "SELECT value FROM run_tags WHERE run = (SELECT seq FROM tracked_runs WHERE id = ?) AND key = 'cairn.best_run'",
        )
        .get(first.result.sweepRunId) as { value: string };
      assert.equal(bestTag.value, best.runId);
      // The trials' params were written into their working copies: the tracked params say so.
      const params = store.db
        .prepare("SELECT value FROM run_params WHERE run = (SELECT seq FROM tracked_runs WHERE id = ?) AND key = 'x'")
        .get(best.runId) as { value: string };
      assert.equal(Number(params.value), (best.params as { x: number }).x);
    } finally {
      store.close();
    }
    // The workspace itself is untouched and the working copies are gone.
    assert.match(
      fs.readFileSync(path.join(roots[0] as string, 'params.yaml'), 'utf8'),
      /^# the toy's params\nx: 0.5\n/,
    );
    assert.ok(!fs.existsSync(path.join(roots[0] as string, 'out')));
    assert.deepEqual(fs.readdirSync(path.join(roots[0] as string, '.cairn', 'worktrees')), []);
  });

  it('resumes an interrupted sweep with the trials an uninterrupted one runs', async () => {
    const reference = await sweep(make(experiment(), 50));
    const root = make(experiment(), 50);
    const controller = new AbortController();
    const interrupted = await sweep(root, {
      signal: controller.signal,
      onEvent: (event) => {
        if (event.event === 'trial-start' && event.number === 2) setTimeout(() => controller.abort(), 120);
      },
    });
    assert.equal(interrupted.result.status, 'cancelled');
    assert.deepEqual(
      interrupted.result.trials.map((trial) => [trial.number, trial.state]),
      [
        [0, 'complete'],
        [1, 'complete'],
        [2, 'interrupted'],
      ],
    );
    const resumed = await sweep(root);
    const start = resumed.events.find((event) => event.event === 'sweep-start');
    assert.ok(start && start.event === 'sweep-start');
    assert.equal(start.resumed, true);
    assert.equal(start.finished, 2);
    assert.equal(resumed.result.sweepRunId, interrupted.result.sweepRunId);
    assert.deepEqual(
      resumed.events.filter((event) => event.event === 'trial-start').map((event) => event.number),
      [2, 3],
    );
    assert.equal(resumed.result.status, 'succeeded');
    assert.deepEqual(completedTrials(resumed.result), completedTrials(reference.result));
    // A finished sweep does not resume: running again starts a new one.
    const again = await sweep(root, { trials: 1 });
    assert.notEqual(again.result.sweepRunId, resumed.result.sweepRunId);
  });

  it('registers a best trial that ran before the interruption, from the cache', async () => {
    const root = make(
      experiment('register: { model: toy-model, artifact: out/model.onnx }\n').replace('trials: 4', 'trials: 3'),
      50,
    );
    const controller = new AbortController();
    await sweep(root, {
      signal: controller.signal,
      onEvent: (event) => {
        if (event.event === 'trial-start' && event.number === 2) setTimeout(() => controller.abort(), 120);
      },
    });
    const { result, events } = await sweep(root);
    const end = events.find((event) => event.event === 'sweep-end');
    assert.ok(end && end.event === 'sweep-end');
    assert.equal(end.notRegistered, undefined);
    assert.equal(end.registered?.model, 'toy-model');
    const store = Store.open(root);
    try {
      assert.equal(new Registry(store, root).version('toy-model', 1)?.runId, result.best?.runId);
    } finally {
      store.close();
    }
  });

  it('starts over with --restart, and a later plain run does not resume the abandoned sweep', async () => {
    const root = make(experiment(), 50);
    const controller = new AbortController();
    const first = await sweep(root, {
      signal: controller.signal,
      onEvent: (event) => {
        if (event.event === 'trial-start' && event.number === 1) setTimeout(() => controller.abort(), 120);
      },
    });
    assert.equal(first.result.status, 'cancelled');
    const restarted = await sweep(root, { restart: true, trials: 1 });
    assert.notEqual(restarted.result.sweepRunId, first.result.sweepRunId);
    const later = await sweep(root, { trials: 1 });
    const start = later.events.find((event) => event.event === 'sweep-start');
    assert.ok(start && start.event === 'sweep-start');
    assert.equal(start.resumed, false);
    assert.notEqual(later.result.sweepRunId, first.result.sweepRunId);
  });

  it('prunes trials whose intermediate loss is worse than the median of earlier trials', async () => {
    const root = make(experiment('pruning: { metric: loss, min_trials: 2 }\n').replace('trials: 4', 'trials: 8'), 150);
    // Metrics left in the workspace by an earlier run: a pruned trial must not report them as its own.
    fs.mkdirSync(path.join(root, 'out'));
    fs.writeFileSync(path.join(root, 'out', 'metrics.json'), JSON.stringify({ holdout: { score: 99 } }));
    const { result } = await sweep(root);
    const pruned = result.trials.filter((trial) => trial.state === 'pruned');
    const complete = result.trials.filter((trial) => trial.state === 'complete');
    assert.ok(pruned.length >= 1, `expected a pruned trial, got ${JSON.stringify(result.trials)}`);
    assert.equal(pruned.length + complete.length, 8);
    for (const trial of pruned) {
      assert.match(trial.reason ?? '', /pruned at step \d+: loss = /);
      // A pruned trial was worse than the median of the trials completed before it.
      const { x, y } = trial.params as { x: number; y: number };
      const score = -((x - 0.3) ** 2) - (y - 0.7) ** 2;
      const earlier = complete.filter((other) => other.number < trial.number).map((other) => other.value as number);
      earlier.sort((a, b) => a - b);
      const middle = (earlier.length - 1) / 2;
      const median = ((earlier[Math.floor(middle)] as number) + (earlier[Math.ceil(middle)] as number)) / 2;
      assert.ok(score < median + 1e-9 || earlier.length < 2);
    }
    const store = Store.open(root);
    try {
      const states = store.db
        .prepare("SELECT value FROM run_tags WHERE key = 'cairn.trial_state' AND value = 'pruned'")
        .all() as { value: string }[];
      assert.equal(states.length, pruned.length);
      for (const trial of pruned) {
        const keys = (
          store.db
            .prepare('SELECT key FROM latest_metrics WHERE run = (SELECT seq FROM tracked_runs WHERE id = ?)')
            .all(trial.runId) as { key: string }[]
        ).map((row) => row.key);
        // The loss it logged before it was stopped, and nothing from the stale metrics file.
        assert.deepEqual(keys, ['loss'], `metrics of pruned trial ${trial.number}`);
      }
    } finally {
      store.close();
    }
  });

  it('registers the best model behind the gate, and a failing gate blocks it', async () => {
    const passing = make(
      experiment(
        'acceptance:\n  - score >= -1\nregister: { model: toy-model, artifact: out/model.onnx, alias: champion, require_approval: true }\n',
      ),
    );
    const { result, events } = await sweep(passing);
    const end = events.find((event) => event.event === 'sweep-end');
    assert.ok(end && end.event === 'sweep-end');
    assert.deepEqual(end.registered, { model: 'toy-model', version: 1, status: 'created', alias: 'champion' });
    assert.equal(end.gate?.passed, true);
    const store = Store.open(passing);
    try {
      const registry = new Registry(store, passing);
      const version = registry.version('toy-model', 1);
      assert.equal(version?.runId, result.best?.runId);
      assert.equal(registry.aliasVersion('toy-model', 'champion'), 1);
      // require_approval: the version waits for a person before a deployment may serve it.
      assert.ok(version && awaitsApproval(version), JSON.stringify(version?.tags));
      registry.approve('toy-model', 1);
      assert.equal(awaitsApproval(registry.version('toy-model', 1) ?? version), false);
    } finally {
      store.close();
    }

    const failing = make(
      experiment('acceptance:\n  - score >= 5\nregister: { model: toy-model, artifact: out/model.onnx }\n'),
    );
    const blocked = await sweep(failing);
    const blockedEnd = blocked.events.find((event) => event.event === 'sweep-end');
    assert.ok(blockedEnd && blockedEnd.event === 'sweep-end');
    assert.equal(blockedEnd.registered, null);
    assert.equal(blockedEnd.gate?.passed, false);
    assert.match(blockedEnd.notRegistered ?? '', /the gate failed: .*score >= 5/);
    const blockedStore = Store.open(failing);
    try {
      assert.equal(new Registry(blockedStore, failing).hasModel('toy-model'), false);
    } finally {
      blockedStore.close();
    }
  });

  it('stops at the time budget, and streams its events as JSON Lines from the CLI', () => {
    const root = make(experiment().replace('budget: { trials: 4 }', 'budget: { trials: 4, time: 1ms }'));
    const cli = spawnSync(process.execPath, [CLI, 'exp', 'run', 'toy.experiment.yaml', '--json'], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(cli.status, 0, cli.stderr);
    const events = cli.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as SweepEvent);
    assert.deepEqual(
      events.map((event) => event.event),
      ['sweep-start', 'trial-start', 'trial-end', 'sweep-end'],
    );
    const end = events[3];
    assert.ok(end && end.event === 'sweep-end');
    assert.equal(end.stoppedBy, 'time');
    assert.equal(end.best?.number, 0);
  });

  it('says which line of the experiment file is wrong', async () => {
    const root = make(experiment().replace('    y: { type: uniform', '    z: { type: uniform'));
    await assert.rejects(sweep(root), (error: unknown) => {
      assert.ok(error instanceof ExperimentSpecError);
      assert.match(error.message, /toy\.experiment\.yaml:7: 'z' is not in params\.yaml/);
      return true;
    });
    const cli = spawnSync(process.execPath, [CLI, 'exp', 'run', 'toy.experiment.yaml'], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(cli.status, 2);
    assert.match(cli.stderr, /toy\.experiment\.yaml:7: 'z' is not in params\.yaml/);
    fs.writeFileSync(
      path.join(root, 'toy.experiment.yaml'),
      experiment().replace('strategy: random', 'strategy: annealing'),
    );
    const bad = spawnSync(process.execPath, [CLI, 'exp', 'run', 'toy.experiment.yaml'], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /toy\.experiment\.yaml:3: 'annealing' is not one of 'grid', 'random', 'tpe'/);
  });
});
