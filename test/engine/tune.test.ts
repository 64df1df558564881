// Search strategies of sweeps: the search space and its validation, seeded reproducibility of every
// sampler, grid exhaustiveness, conditional parameters, TPE staying in its domain, TPE beating
// random search on Branin, and median pruning decisions.
import * as assert from 'node:assert/strict';
import { parzenEstimator, defaultWeights, bandwidths } from '../../server/engine/tune/parzen';
import { shouldPrune, percentile } from '../../server/engine/tune/prune';
import { Rng } from '../../server/engine/tune/random';
import { gridSampler, randomSampler, type CompletedTrial, type Sampler } from '../../server/engine/tune/samplers';
import { defineSpace, isInDomain, parseSpace, type Params, type SearchSpace } from '../../server/engine/tune/space';
import { bestTrial, parameterImportance, runStudy } from '../../server/engine/tune/study';
import { defaultGamma, splitObservations, tpeSampler } from '../../server/engine/tune/tpe';

const mixedSpace = defineSpace({
  model: { type: 'categorical', choices: ['tree', 'linear'] },
  max_depth: { type: 'int', low: 2, high: 12, step: 2, when: { param: 'model', values: ['tree'] } },
  alpha: { type: 'loguniform', low: 1e-5, high: 1, when: { param: 'model', values: ['linear'] } },
  estimators: { type: 'int', low: 1, high: 1000, log: true },
  dropout: { type: 'uniform', low: 0, high: 0.5 },
});

/** A deterministic objective over mixedSpace that rewards tree models of depth 6 and low dropout. */
function mixedObjective(params: Params): number {
  const dropout = params['dropout'] as number;
  const base =
    params['model'] === 'tree'
      ? Math.abs((params['max_depth'] as number) - 6)
      : 3 + Math.abs(Math.log10(params['alpha'] as number) + 2);
  return base + dropout * 4 + Math.abs(Math.log10(params['estimators'] as number) - 2) * 0.5;
}

/** Runs a sampler for n trials against an objective and returns the trials. */
function drive(sampler: Sampler, n: number, objective: (params: Params) => number): CompletedTrial[] {
  const trials: CompletedTrial[] = [];
  for (let number = 0; number < n; number++) {
    const params = sampler.ask({ trials, direction: 'minimize' });
    if (params === undefined) break;
    trials.push({ number, params, value: objective(params) });
  }
  return trials;
}

function branin(params: Params): number {
  const x1 = params['x1'] as number;
  const x2 = params['x2'] as number;
  const b = 5.1 / (4 * Math.PI ** 2);
  return (x2 - b * x1 ** 2 + (5 / Math.PI) * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * Math.PI)) * Math.cos(x1) + 10;
}

describe('tune: search space', () => {
  function check(declared: unknown, expected: RegExp[]): void {
    const { space, problems } = parseSpace(declared);
    const messages = problems.map((problem) => `${problem.path}: ${problem.message} ${problem.fix}`);
    assert.equal(messages.length, expected.length, messages.join('\n'));
    expected.forEach((pattern, index) => assert.match(messages[index] ?? '', pattern));
    assert.equal(space === undefined, expected.length > 0);
  }

  it('accepts every kind of parameter and conditions on earlier ones', () => {
    check(
      {
        a: { type: 'uniform', low: 0, high: 1, step: 0.5 },
        b: { type: 'int', low: 0, high: 10, step: 5, when: { param: 'a', values: [0.5] } },
      },
      [],
    );
    assert.equal(mixedSpace.params.length, 5);
  });

  it('names the parameter, the mistake and the fix', () => {
    check(undefined, [/space: .*non-empty mapping/]);
    check({ lr: { type: 'normal', low: 0, high: 1 } }, [
      /space\.lr\.type: Unknown parameter type "normal"\. Use one of: uniform, loguniform, int, categorical/,
    ]);
    check({ lr: { type: 'uniform', low: 1, high: 0 } }, [/space\.lr: .*low 1 not below high 0/]);
    check({ lr: { type: 'loguniform', low: 0, high: 1 } }, [/space\.lr\.low: .*log scale.*above 0/]);
    check({ n: { type: 'int', low: 0, high: 9, step: 2 } }, [
      /space\.n\.high: .*not a whole number of steps.*Use high: 8/,
    ]);
    check({ n: { type: 'int', low: 1, high: 8, step: 2, log: true } }, [/both log: true and step 2/]);
    check({ n: { type: 'int', low: 0.5, high: 3 } }, [/must be integers/]);
    check({ m: { type: 'categorical', choices: [] } }, [/space\.m\.choices: .*non-empty list/]);
    check({ m: { type: 'categorical', choices: ['a', 'a'] } }, [/lists a choice twice/]);
    check({ x: { type: 'uniform', low: 0, high: 1, step: 0.3 } }, [
      /space\.x\.high: Range 0\.\.1 of 'x' is not a whole number of steps of 0\.3\. Use high: 0\.9\./,
    ]);
    check({ x: { type: 'loguniform', low: 0.1, high: 1, step: 0.1 } }, [/both a log scale and step 0\.1/]);
    check({ x: { type: 'uniform', low: 0, high: 1, step: 0 } }, [/space\.x\.step: .*above 0/]);
    check(
      {
        depth: { type: 'int', low: 1, high: 3, when: { param: 'model', values: ['tree'] } },
        model: { type: 'categorical', choices: ['tree'] },
      },
      [
        /space\.depth\.when\.param: 'depth' depends on 'model', which is not declared before it\. Declare 'model' above 'depth'/,
      ],
    );
    check(
      {
        model: { type: 'categorical', choices: ['tree'] },
        depth: { type: 'int', low: 1, high: 3, when: { param: 'model', values: ['forest'] } },
      },
      [/'model' can never be "forest".*Use values among \["tree"\]/],
    );
  });

  it('defineSpace throws with every problem listed', () => {
    assert.throws(() => defineSpace({ a: { type: 'uniform' }, b: { type: 'x' } }), /space\.a: .*\nspace\.b\.type/);
  });
});

describe('tune: samplers', () => {
  const samplers: Array<[string, (seed: number) => Sampler]> = [
    [
      'grid',
      () =>
        gridSampler(
          defineSpace({
            a: { type: 'categorical', choices: ['x', 'y'] },
            b: { type: 'int', low: 0, high: 4 },
            c: { type: 'uniform', low: 0.1, high: 0.9, step: 0.8 },
          }),
        ),
    ],
    ['random', (seed) => randomSampler(mixedSpace, seed)],
    ['tpe', (seed) => tpeSampler(mixedSpace, seed)],
  ];
  for (const [name, build] of samplers) {
    it(`${name}: the same seed gives the same trial sequence`, () => {
      const objective = name === 'grid' ? () => 1 : mixedObjective;
      const first = drive(build(7), 30, objective);
      const second = drive(build(7), 30, objective);
      assert.deepEqual(second, first);
      if (name !== 'grid') assert.notDeepEqual(drive(build(8), 30, objective), first);
    });
  }

  it('the random stream is fixed by its seed (so trials match across machines)', () => {
    const rng = new Rng(42);
    const draws = [rng.next(), rng.next(), rng.next()];
    const again = new Rng(42);
    assert.deepEqual([again.next(), again.next(), again.next()], draws);
    assert.ok(draws.every((x) => x >= 0 && x < 1));
  });

  it('grid: tries every combination once, then says it is exhausted', () => {
    const sampler = gridSampler(
      defineSpace({
        a: { type: 'categorical', choices: ['x', 'y'] },
        b: { type: 'int', low: 0, high: 4, step: 2 },
        c: { type: 'uniform', low: 0.1, high: 0.9, step: 0.8 },
      }),
    );
    assert.equal(sampler.size, 12);
    const trials = drive(sampler, 100, () => 0);
    assert.equal(trials.length, 12);
    assert.equal(new Set(trials.map((trial) => JSON.stringify(trial.params))).size, 12);
    assert.equal(sampler.ask({ trials, direction: 'minimize' }), undefined);
  });

  it('grid: a conditional parameter multiplies only the branch where it is active', () => {
    const sampler = gridSampler(
      defineSpace({
        model: { type: 'categorical', choices: ['tree', 'linear'] },
        depth: { type: 'int', low: 1, high: 3, when: { param: 'model', values: ['tree'] } },
      }),
    );
    assert.deepEqual(
      drive(sampler, 10, () => 0).map((trial) => trial.params),
      [{ model: 'tree', depth: 1 }, { model: 'tree', depth: 2 }, { model: 'tree', depth: 3 }, { model: 'linear' }],
    );
  });

  it('a float with a step: the grid takes each step, random search draws only steps', () => {
    const space = defineSpace({ rate: { type: 'uniform', low: 0.1, high: 0.5, step: 0.1 } });
    const grid = drive(gridSampler(space), 10, () => 0).map((trial) => trial.params['rate']);
    assert.deepEqual(grid, [0.1, 0.2, 0.3, 0.4, 0.5]);
    const drawn = new Set(drive(randomSampler(space, 5), 60, () => 0).map((trial) => trial.params['rate']));
    assert.deepEqual([...drawn].sort(), [0.1, 0.2, 0.3, 0.4, 0.5]);
  });

  it('grid: refuses a float without grid points, saying what to add', () => {
    assert.throws(
      () => gridSampler(defineSpace({ lr: { type: 'uniform', low: 0, high: 1 } })),
      /'lr' has no grid points; give it a step, e\.g\. `step: 0\.1`/,
    );
  });

  for (const name of ['random', 'tpe'] as const) {
    it(`${name}: conditional parameters are present exactly when active, every value in its domain`, () => {
      const sampler = name === 'random' ? randomSampler(mixedSpace, 3) : tpeSampler(mixedSpace, 3);
      const trials = drive(sampler, 80, mixedObjective);
      for (const { params } of trials) {
        assert.equal('max_depth' in params, params['model'] === 'tree', JSON.stringify(params));
        assert.equal('alpha' in params, params['model'] === 'linear', JSON.stringify(params));
        for (const param of mixedSpace.params) {
          const value = params[param.name];
          if (value !== undefined) assert.ok(isInDomain(param, value), `${param.name} = ${value}`);
        }
      }
    });
  }
});

describe('tune: TPE', () => {
  it('uses Optuna defaults: gamma, weights, 10 random start-up trials', () => {
    assert.deepEqual([1, 10, 11, 100, 250, 1000].map(defaultGamma), [1, 1, 2, 10, 25, 25]);
    assert.deepEqual(defaultWeights(3), [1, 1, 1]);
    const weights = defaultWeights(30);
    assert.equal(weights.length, 30);
    assert.ok(Math.abs((weights[0] ?? 0) - 1 / 30) < 1e-12);
    assert.deepEqual(weights.slice(5), new Array<number>(25).fill(1));
    // The first 10 trials of TPE are exactly random search's with the same seed.
    const objective = mixedObjective;
    assert.deepEqual(
      drive(tpeSampler(mixedSpace, 5), 10, objective),
      drive(randomSampler(mixedSpace, 5), 10, objective),
    );
  });

  it('splits good from bad by objective, per direction, keeping trial order', () => {
    const space = defineSpace({ x: { type: 'uniform', low: 0, high: 100 } });
    const param = space.params[0]!;
    const trials = [5, 3, 9, 1, 7, 2, 8, 4, 6, 0, 10].map((value, number) => ({
      number,
      params: { x: value * 10 },
      value,
    }));
    assert.deepEqual(splitObservations(param, { trials, direction: 'minimize' }).good, [10, 0]);
    assert.deepEqual(splitObservations(param, { trials, direction: 'maximize' }).good, [90, 100]);
    // The split is over all trials: a conditional parameter whose branch never did well has no good values.
    const depth = mixedSpace.params[1]!;
    const branches = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((number) =>
      number < 2
        ? { number, params: { model: 'linear' }, value: number }
        : { number, params: { model: 'tree', max_depth: 4 }, value: number },
    );
    assert.deepEqual(splitObservations(depth, { trials: branches, direction: 'minimize' }), {
      good: [],
      bad: new Array<number>(9).fill(4),
    });
  });

  it('bandwidths follow the neighbour rule with the prior and the magic clip', () => {
    // Observations 2 and 3 on [0, 10]; the prior mean 5 sits among them: sorted 0 | 2 3 5 | 10.
    // Outermost observations use their inner gap: 2 → 1, 5 (prior) → 2; 3 → max(1, 2) = 2.
    // Magic clip: min sigma = 10 / min(100, 1 + 2 + 1) = 2.5, so all become 2.5.
    assert.deepEqual(bandwidths([2, 3], { low: 0, high: 10, step: 0, log: false }), [2.5, 2.5]);
    const many = Array.from({ length: 20 }, (_, index) => index * 0.5);
    const sigmas = bandwidths(many, { low: 0, high: 10, step: 0, log: false });
    assert.ok(sigmas.every((sigma) => sigma >= 10 / 22 - 1e-12 && sigma <= 10));
  });

  it('estimators sample within bounds, on steps, and in log space', () => {
    const space = defineSpace({
      x: { type: 'uniform', low: -2, high: 3 },
      lr: { type: 'loguniform', low: 1e-6, high: 1 },
      n: { type: 'int', low: 4, high: 64, step: 4 },
      rate: { type: 'uniform', low: 0.1, high: 0.9, step: 0.1 },
      units: { type: 'int', low: 1, high: 4096, log: true },
      kind: { type: 'categorical', choices: ['a', 'b', 'c'] },
    });
    const observed: Record<string, Array<string | number>> = {
      x: [2.9, 3, -2],
      lr: [1e-6, 2e-6],
      n: [4, 64, 60],
      rate: [0.3, 0.3, 0.9],
      units: [1, 2, 4096],
      kind: ['a', 'a'],
    };
    const rng = new Rng(1);
    for (const param of space.params) {
      const estimator = parzenEstimator(param, observed[param.name] ?? []);
      const draws = Array.from({ length: 2000 }, () => estimator.sample(rng));
      assert.ok(
        draws.every((value) => isInDomain(param, value)),
        param.name,
      );
      if (param.name === 'lr') {
        // Modelled in log space: around the observations at 1e-6, most draws sit far below 1e-3,
        // where a linear-space model over [0, 1] would put almost none.
        assert.ok(draws.filter((value) => (value as number) < 1e-3).length > 1000);
      }
      if (param.name === 'kind') {
        const share = draws.filter((value) => value === 'a').length / draws.length;
        // Weighted counts: rows (1/3 + 1 on 'a') / 2, twice, plus a uniform prior row, averaged.
        const expected = (2 * ((1 / 3 + 1) / 2) + 1 / 3) / 3;
        assert.ok(Math.abs(share - expected) < 0.04, `${share} vs ${expected}`);
      }
      // log l(x) is finite over the domain, so the candidates can always be ranked.
      for (const value of draws.slice(0, 50)) assert.ok(Number.isFinite(estimator.logPdf(value)));
    }
  });

  it('beats random search on Branin averaged over seeds (same 50-trial budget)', () => {
    const space = defineSpace({
      x1: { type: 'uniform', low: -5, high: 10 },
      x2: { type: 'uniform', low: 0, high: 15 },
    });
    const seeds = [0, 1, 2, 3, 4, 5, 6, 7];
    const meanBest = (build: (seed: number) => Sampler): number =>
      seeds.reduce((sum, seed) => sum + (bestTrial(drive(build(seed), 50, branin), 'minimize')?.value ?? Infinity), 0) /
      seeds.length;
    const tpe = meanBest((seed) => tpeSampler(space, seed));
    const random = meanBest((seed) => randomSampler(space, seed));
    assert.ok(tpe < random, `TPE ${tpe} vs random ${random}`);
    assert.ok(tpe < 1.2, `TPE mean best ${tpe} should approach the minimum 0.397887`);
  });
});

describe('tune: median pruning', () => {
  const curve = (...values: number[]): Map<number, number> => new Map(values.map((value, step) => [step, value]));
  const finished = [
    curve(1.0, 0.8, 0.6),
    curve(0.9, 0.7, 0.5),
    curve(1.1, 0.9, 0.7),
    curve(1.2, 1.0, 0.8),
    curve(0.8, 0.6, 0.4),
  ];

  it('prunes a trial worse than the median of finished trials at that step', () => {
    // Medians by step: 1.0, 0.8, 0.6.
    assert.equal(percentile([1.0, 0.9, 1.1, 1.2, 0.8], 50), 1.0);
    assert.equal(shouldPrune(curve(1.3), finished, 0, 'minimize'), true);
    assert.equal(shouldPrune(curve(0.95), finished, 0, 'minimize'), false);
    // The trial's best value so far counts, not its latest.
    assert.equal(shouldPrune(curve(0.7, 0.85), finished, 1, 'minimize'), false);
    assert.equal(shouldPrune(curve(0.9, 0.85), finished, 1, 'minimize'), true);
    // Maximizing flips the comparison.
    assert.equal(shouldPrune(curve(1.3), finished, 0, 'maximize'), false);
    assert.equal(shouldPrune(curve(0.95), finished, 0, 'maximize'), true);
  });

  it('waits for 5 finished trials, and for others to have reached the step', () => {
    assert.equal(shouldPrune(curve(9), finished.slice(0, 4), 0, 'minimize'), false);
    assert.equal(shouldPrune(curve(9, 9, 9, 9), finished, 3, 'minimize'), false);
    assert.equal(shouldPrune(curve(9), finished, 0, 'minimize', { warmupSteps: 1 }), false);
    assert.equal(shouldPrune(curve(Number.NaN), finished, 0, 'minimize'), true);
  });
});

describe('tune: study', () => {
  const space: SearchSpace = defineSpace({
    x: { type: 'uniform', low: -1, high: 1 },
    noise: { type: 'uniform', low: 0, high: 1 },
  });

  it('runs the budget, returns the best trial and ranks the parameter that matters first', async () => {
    const result = await runStudy({
      space,
      sampler: 'random',
      seed: 1,
      direction: 'minimize',
      trials: 60,
      objective: (params) => (params['x'] as number) ** 2 * 10 + (params['noise'] as number) * 0.01,
    });
    assert.equal(result.completed.length, 60);
    assert.equal(result.stoppedBy, 'trials');
    assert.equal(result.best, bestTrial(result.completed, 'minimize'));
    assert.ok((result.importance['x'] ?? 0) > 0.9, JSON.stringify(result.importance));
    assert.ok(Math.abs((result.importance['x'] ?? 0) + (result.importance['noise'] ?? 0) - 1) < 1e-9);
  });

  it('stops on the time budget and on an exhausted grid; failed trials are recorded apart', async () => {
    let clock = 0;
    const timed = await runStudy({
      space,
      sampler: 'tpe',
      seed: 1,
      direction: 'maximize',
      trials: 100,
      timeBudgetMs: 5,
      now: () => clock,
      objective: () => ++clock,
    });
    assert.equal(timed.stoppedBy, 'time');
    assert.equal(timed.completed.length, 5);
    assert.equal(timed.best?.value, 5);

    const grid = defineSpace({ k: { type: 'int', low: 1, high: 3 } });
    const result = await runStudy({
      space: grid,
      sampler: 'grid',
      seed: 0,
      direction: 'minimize',
      trials: 10,
      objective: (params) => {
        if (params['k'] === 2) throw new Error('diverged');
        return params['k'] as number;
      },
    });
    assert.equal(result.stoppedBy, 'exhausted');
    assert.deepEqual(
      result.failed.map((trial) => [trial.number, trial.params, trial.error]),
      [[1, { k: 2 }, 'diverged']],
    );
    assert.deepEqual(
      result.completed.map((trial) => trial.params['k']),
      [1, 3],
    );
    assert.equal(result.best?.params['k'], 1);
  });

  it('importance is 0 for a parameter that never varied with the objective', () => {
    const trials = [0, 1, 2, 3].map((number) => ({ number, params: { x: number, noise: 0.5 }, value: number }));
    assert.deepEqual(parameterImportance(space, trials), { x: 1, noise: 0 });
  });
});
