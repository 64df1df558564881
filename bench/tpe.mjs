// Search benchmark: TPE (Optuna's defaults) against random search with the same trial budget on two
// standard test functions, averaged over seeds. Branin (2-D, x1 in [-5, 10], x2 in [0, 15], global
// minimum 0.397887) and Hartmann-6 (6-D on [0, 1]^6, global minimum -3.32237). For each function it
// prints the mean and standard deviation of the best value found, the mean gap to the global minimum,
// and TPE's win rate (the share of seeds on which TPE's best beats random's; ties count half).
// Seeds are 0..N-1 for both samplers; nothing here is tuned to either of them.
//
// Usage: node --import tsx bench/tpe.mjs [--seeds 20] [--branin-trials 60] [--hartmann-trials 100]
import { performance } from 'node:perf_hooks';
import { defineSpace } from '../server/engine/tune/space.ts';
import { runStudy } from '../server/engine/tune/study.ts';

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

function branin({ x1, x2 }) {
  const b = 5.1 / (4 * Math.PI ** 2);
  const c = 5 / Math.PI;
  const t = 1 / (8 * Math.PI);
  return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * Math.cos(x1) + 10;
}

const HARTMANN_ALPHA = [1.0, 1.2, 3.0, 3.2];
const HARTMANN_A = [
  [10, 3, 17, 3.5, 1.7, 8],
  [0.05, 10, 17, 0.1, 8, 14],
  [3, 3.5, 1.7, 10, 17, 8],
  [17, 8, 0.05, 10, 0.1, 14],
];
const HARTMANN_P = [
  [1312, 1696, 5569, 124, 8283, 5886],
  [2329, 4135, 8307, 3736, 1004, 9991],
  [2348, 1451, 3522, 2883, 3047, 6650],
  [4047, 8828, 8732, 5743, 1091, 381],
].map((row) => row.map((value) => value * 1e-4));

function hartmann6(params) {
  const x = [params.x1, params.x2, params.x3, params.x4, params.x5, params.x6];
  let sum = 0;
  for (let i = 0; i < 4; i++) {
    let inner = 0;
    for (let j = 0; j < 6; j++) inner += HARTMANN_A[i][j] * (x[j] - HARTMANN_P[i][j]) ** 2;
    sum += HARTMANN_ALPHA[i] * Math.exp(-inner);
  }
  return -sum;
}

const problems = [
  {
    name: 'branin',
    globalMin: 0.397887,
    trials: option('branin-trials', 60),
    space: defineSpace({ x1: { type: 'uniform', low: -5, high: 10 }, x2: { type: 'uniform', low: 0, high: 15 } }),
    objective: branin,
  },
  {
    name: 'hartmann6',
    globalMin: -3.32237,
    trials: option('hartmann-trials', 100),
    space: defineSpace(
      Object.fromEntries([1, 2, 3, 4, 5, 6].map((i) => [`x${i}`, { type: 'uniform', low: 0, high: 1 }])),
    ),
    objective: hartmann6,
  },
];

function stats(values) {
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const variance = values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / Math.max(1, values.length - 1);
  return { mean, std: Math.sqrt(variance) };
}

const seeds = option('seeds', 20);
const results = {};
for (const problem of problems) {
  const best = { tpe: [], random: [] };
  const started = performance.now();
  for (let seed = 0; seed < seeds; seed++) {
    for (const sampler of ['tpe', 'random']) {
      const study = await runStudy({
        space: problem.space,
        sampler,
        seed,
        direction: 'minimize',
        objective: problem.objective,
        trials: problem.trials,
      });
      best[sampler].push(study.best.value);
    }
  }
  let wins = 0;
  for (let seed = 0; seed < seeds; seed++) {
    if (best.tpe[seed] < best.random[seed]) wins += 1;
    else if (best.tpe[seed] === best.random[seed]) wins += 0.5;
  }
  const tpe = stats(best.tpe);
  const random = stats(best.random);
  results[problem.name] = {
    globalMin: problem.globalMin,
    trials: problem.trials,
    seeds,
    tpe: { meanBest: tpe.mean, std: tpe.std, meanGap: tpe.mean - problem.globalMin },
    random: { meanBest: random.mean, std: random.std, meanGap: random.mean - problem.globalMin },
    tpeWinRate: wins / seeds,
    seconds: (performance.now() - started) / 1000,
  };
}
console.log(JSON.stringify(results, null, 2));
