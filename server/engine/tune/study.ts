// A study: run an objective over the trials a sampler proposes, one after another, within a trial
// budget and optionally a time budget, then report the best trial and how much each parameter
// mattered. The objective is the only I/O; the clock is injected so tests control it.
import { randomSampler, gridSampler, type CompletedTrial, type Direction, type Sampler } from './samplers';
import { type Params, type SearchSpace } from './space';
import { tpeSampler } from './tpe';

export type Strategy = 'grid' | 'random' | 'tpe';

export interface StudyOptions {
  readonly space: SearchSpace;
  /** A strategy name (built with `seed`) or a sampler built by the caller. */
  readonly sampler: Strategy | Sampler;
  readonly seed: number;
  readonly direction: Direction;
  /** The objective of one trial; a NaN or a thrown error marks the trial failed. */
  readonly objective: (params: Params, trialNumber: number) => number | Promise<number>;
  readonly trials: number;
  /** Stop starting new trials once this many milliseconds have passed. */
  readonly timeBudgetMs?: number;
  /** Milliseconds since some origin; Date.now by default. */
  readonly now?: () => number;
}

export interface FailedTrial {
  readonly number: number;
  readonly params: Readonly<Params>;
  readonly error: string;
}

export interface StudyResult {
  readonly completed: readonly CompletedTrial[];
  readonly failed: readonly FailedTrial[];
  readonly best: CompletedTrial | undefined;
  /** Per parameter, its share (0..1, summing to 1 when any varied) of the explained spread. */
  readonly importance: Readonly<Record<string, number>>;
  readonly stoppedBy: 'trials' | 'time' | 'exhausted';
}

/** Builds the sampler of a strategy. */
export function createSampler(strategy: Strategy, space: SearchSpace, seed: number): Sampler {
  switch (strategy) {
    case 'grid':
      return gridSampler(space);
    case 'random':
      return randomSampler(space, seed);
    case 'tpe':
      return tpeSampler(space, seed);
  }
}

/** Runs the study sequentially and returns its trials, best trial and parameter importance. */
export async function runStudy(options: StudyOptions): Promise<StudyResult> {
  const now = options.now ?? Date.now;
  const sampler =
    typeof options.sampler === 'string' ? createSampler(options.sampler, options.space, options.seed) : options.sampler;
  const started = now();
  const completed: CompletedTrial[] = [];
  const failed: FailedTrial[] = [];
  let stoppedBy: StudyResult['stoppedBy'] = 'trials';
  for (let number = 0; number < options.trials; number++) {
    if (options.timeBudgetMs !== undefined && now() - started >= options.timeBudgetMs) {
      stoppedBy = 'time';
      break;
    }
    const params = sampler.ask({
      trials: completed,
      direction: options.direction,
      unfinished: failed.map((trial) => trial.params),
    });
    if (params === undefined) {
      stoppedBy = 'exhausted';
      break;
    }
    try {
      const value = await options.objective(params, number);
      if (Number.isNaN(value)) failed.push({ number, params, error: 'The objective returned NaN.' });
      else completed.push({ number, params, value });
    } catch (error) {
      failed.push({ number, params, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return {
    completed,
    failed,
    best: bestTrial(completed, options.direction),
    importance: parameterImportance(options.space, completed),
    stoppedBy,
  };
}

/** The trial with the best value (the earliest among equals), or undefined if there is none. */
export function bestTrial(trials: readonly CompletedTrial[], direction: Direction): CompletedTrial | undefined {
  let best: CompletedTrial | undefined;
  for (const trial of trials) {
    if (best === undefined || (direction === 'minimize' ? trial.value < best.value : trial.value > best.value))
      best = trial;
  }
  return best;
}

const BINS = 8;

/**
 * A light stand-in for fANOVA: for each parameter, the trials in which it was active are grouped
 * by its value (each choice of a categorical; for numbers, BINS equal-width bins over the observed
 * range, in log space for log parameters), and the variance of the group means of the objective
 * (weighted by group size) is that parameter's raw importance. Raw importances are divided by their
 * sum. It ignores interactions and is noisy with few trials, but ranks a dominant parameter first.
 */
export function parameterImportance(space: SearchSpace, trials: readonly CompletedTrial[]): Record<string, number> {
  const raw: Record<string, number> = {};
  for (const param of space.params) {
    const active = trials.filter((trial) => param.name in trial.params);
    if (active.length < 2) {
      raw[param.name] = 0;
      continue;
    }
    const keyOf = binner(
      param.type !== 'categorical' && param.log,
      active.map((trial) => trial.params[param.name]),
    );
    const groups = new Map<string, number[]>();
    for (const trial of active) {
      const key = keyOf(trial.params[param.name]);
      const group = groups.get(key) ?? [];
      group.push(trial.value);
      groups.set(key, group);
    }
    const mean = active.reduce((sum, trial) => sum + trial.value, 0) / active.length;
    let spread = 0;
    for (const group of groups.values()) {
      const groupMean = group.reduce((sum, value) => sum + value, 0) / group.length;
      spread += group.length * (groupMean - mean) ** 2;
    }
    raw[param.name] = spread / active.length;
  }
  const total = Object.values(raw).reduce((sum, value) => sum + value, 0);
  const importance: Record<string, number> = {};
  for (const [name, value] of Object.entries(raw)) importance[name] = total > 0 ? value / total : 0;
  return importance;
}

function binner(log: boolean, values: readonly unknown[]): (value: unknown) => string {
  if (!values.every((value) => typeof value === 'number')) return (value) => JSON.stringify(value);
  const scaled = (value: number): number => (log ? Math.log(value) : value);
  const numbers = (values as number[]).map(scaled);
  const low = Math.min(...numbers);
  const high = Math.max(...numbers);
  const distinct = new Set(numbers).size;
  if (distinct <= BINS || high === low) return (value) => String(value);
  return (value) => String(Math.min(BINS - 1, Math.floor(((scaled(value as number) - low) / (high - low)) * BINS)));
}
