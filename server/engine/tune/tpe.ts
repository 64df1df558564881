// The Tree-structured Parzen Estimator sampler, following Optuna's TPESampler with its defaults
// (Optuna 3.x/4.x source and docs, read for the algorithm; this is our own code):
//   - n_startup_trials = 10: the first 10 trials are random search;
//   - gamma(n) = min(ceil(0.1 * n), 25): the best gamma(n) of the n finished trials are "good";
//   - each parameter is sampled on its own (univariate, multivariate = false), from a Parzen
//     estimator l(x) of its values in the good trials and g(x) of those in the others (see
//     parzen.ts for the bandwidths, magic clip, prior and weights); a conditional parameter is
//     modelled from the trials in which it was active (see splitObservations);
//   - n_ei_candidates = 24 values are drawn from l(x), and the one with the greatest
//     log l(x) - log g(x) (the expected-improvement proxy) is taken.
// Simplifications, on purpose:
//   - Ties in the objective are broken by trial number; there is no constraint handling, no
//     multi-objective split, no `group` or `multivariate` mode, and failed or pruned trials are
//     simply absent from the history (Optuna can rank pruned trials by their last intermediate value).
//   - The random stream is ours (see random.ts), so the trials differ from Optuna's for the same seed.
import { parzenEstimator } from './parzen';
import { trialRng } from './random';
import { type History, type Sampler, nextTrialNumber, sampleActive, sampleUniform } from './samplers';
import type { Choice, Param, SearchSpace } from './space';

export interface TpeOptions {
  /** Random trials before the model is used. Optuna's default: 10. */
  readonly startupTrials?: number;
  /** Candidates drawn from l(x) per parameter. Optuna's default: 24. */
  readonly candidates?: number;
}

/** Optuna's default split: how many of n finished trials count as good. */
export function defaultGamma(n: number): number {
  return Math.min(Math.ceil(0.1 * n), 25);
}

/** The TPE sampler over a space, seeded. */
export function tpeSampler(space: SearchSpace, seed: number, options: TpeOptions = {}): Sampler {
  const startupTrials = options.startupTrials ?? 10;
  const candidates = options.candidates ?? 24;
  return {
    name: 'tpe',
    ask(history) {
      const rng = trialRng(seed, nextTrialNumber(history));
      if (history.trials.length < startupTrials) return sampleActive(space, (param) => sampleUniform(param, rng));
      return sampleActive(space, (param) => {
        const split = splitObservations(param, history);
        const good = parzenEstimator(param, split.good);
        const bad = parzenEstimator(param, split.bad);
        let best: Choice | undefined;
        let bestScore = -Infinity;
        for (let index = 0; index < candidates; index++) {
          const candidate = good.sample(rng);
          const score = good.logPdf(candidate) - bad.logPdf(candidate);
          if (best === undefined || score > bestScore) {
            best = candidate;
            bestScore = score;
          }
        }
        return best ?? sampleUniform(param, rng);
      });
    },
  };
}

/**
 * The values a parameter took in the good and the bad trials, each list oldest first (the order
 * Optuna's weights expect). As in Optuna, the split is made over all finished trials (the best
 * gamma(n) of all n are good) and only then narrowed to the trials in which the parameter was set,
 * so a conditional parameter whose branch never did well has no good observations and l(x) is
 * the prior alone.
 */
export function splitObservations(param: Param, history: History): { good: Choice[]; bad: Choice[] } {
  const sign = history.direction === 'minimize' ? 1 : -1;
  const trials = history.trials.filter((trial) => !Number.isNaN(trial.value));
  const ranked = [...trials].sort((a, b) => sign * (a.value - b.value) || a.number - b.number);
  const goodNumbers = new Set(ranked.slice(0, defaultGamma(trials.length)).map((trial) => trial.number));
  const chronological = [...trials].sort((a, b) => a.number - b.number);
  const good: Choice[] = [];
  const bad: Choice[] = [];
  for (const trial of chronological) {
    const value = trial.params[param.name];
    if (value !== undefined) (goodNumbers.has(trial.number) ? good : bad).push(value);
  }
  return { good, bad };
}
