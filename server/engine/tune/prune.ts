// Median pruning, after Optuna's MedianPruner with its defaults (n_startup_trials = 5,
// n_warmup_steps = 0, interval_steps = 1, n_min_trials = 1): a running trial is stopped at a step
// when its best intermediate value so far is worse than the median of the other finished trials'
// values at that same step. One simplification: with interval_steps above 1, Optuna checks at the
// first step reported in each interval; here the step itself must fall on the interval.
import type { Direction } from './samplers';

/** Intermediate objective values of one trial, by step. */
export type Intermediate = ReadonlyMap<number, number>;

export interface MedianPrunerOptions {
  /** Finished trials needed before anything is pruned. Optuna's default: 5. */
  readonly startupTrials?: number;
  /** Steps of each trial never pruned. Optuna's default: 0. */
  readonly warmupSteps?: number;
  /** Pruning is checked every this many steps after the warm-up. Optuna's default: 1. */
  readonly intervalSteps?: number;
  /** Finished trials that must have reported this step. Optuna's default: 1. */
  readonly minTrials?: number;
}

/**
 * Whether the running trial should stop at `step`. `others` are the intermediate values of the
 * finished (completed) trials; trials still running or pruned must not be passed.
 */
export function shouldPrune(
  trial: Intermediate,
  others: readonly Intermediate[],
  step: number,
  direction: Direction,
  options: MedianPrunerOptions = {},
): boolean {
  const startupTrials = options.startupTrials ?? 5;
  const warmupSteps = options.warmupSteps ?? 0;
  const intervalSteps = options.intervalSteps ?? 1;
  const minTrials = options.minTrials ?? 1;
  if (others.length < startupTrials) return false;
  if (step < warmupSteps || (step - warmupSteps) % intervalSteps !== 0) return false;
  if (trial.size === 0) return false;

  const own = [...trial.values()].filter((value) => !Number.isNaN(value));
  // A trial that has reported only NaN is hopeless: Optuna prunes it.
  if (own.length === 0) return true;
  const best = direction === 'minimize' ? Math.min(...own) : Math.max(...own);

  const atStep = others
    .map((other) => other.get(step))
    .filter((value): value is number => value !== undefined && !Number.isNaN(value));
  if (atStep.length < minTrials) return false;
  const median = percentile(atStep, 50);
  return direction === 'minimize' ? best > median : best < median;
}

/** The q-th percentile with linear interpolation between closest ranks (numpy's default). */
export function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const position = ((sorted.length - 1) * q) / 100;
  const below = Math.floor(position);
  const lower = sorted[below] as number;
  const upper = sorted[Math.min(sorted.length - 1, below + 1)] as number;
  return lower + (upper - lower) * (position - below);
}
