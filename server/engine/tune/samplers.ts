// The samplers' common interface, and the two simple strategies: random search and grid search.
// A sampler is a pure function of its seed and the history it is given: asking again with the same
// history gives the same parameters, which is what makes a sweep reproducible and resumable.
import { type Choice, type Param, type Params, type SearchSpace, isActive, stepValue } from './space';
import { type Rng, trialRng } from './random';

export type Direction = 'minimize' | 'maximize';

/** A finished trial as the samplers see it: its parameters and its objective value. */
export interface CompletedTrial {
  readonly number: number;
  readonly params: Readonly<Params>;
  readonly value: number;
}

/** What a sampler learns from: the trials finished so far, and which way is better. */
export interface History {
  readonly trials: readonly CompletedTrial[];
  readonly direction: Direction;
  /**
   * Parameters of trials started but without a value (failed, pruned or still running): the grid
   * does not repeat them, and they count in the trial number that seeds each draw.
   */
  readonly unfinished?: readonly Readonly<Params>[];
}

/** The number of the trial being asked for: every trial started before it counts. */
export function nextTrialNumber(history: History): number {
  return history.trials.length + (history.unfinished?.length ?? 0);
}

/** A search strategy: the parameters of the next trial, or undefined when it has none left. */
export interface Sampler {
  readonly name: string;
  ask(history: History): Params | undefined;
}

/** Draws one value of a parameter evenly over its range (in log space for log parameters). */
export function sampleUniform(param: Param, rng: Rng): Choice {
  switch (param.type) {
    case 'categorical':
      return param.choices[rng.below(param.choices.length)] as Choice;
    case 'float':
      if (param.step !== undefined)
        return stepValue(param.low, param.step, rng.below(Math.round((param.high - param.low) / param.step) + 1));
      return param.log
        ? Math.exp(rng.uniform(Math.log(param.low), Math.log(param.high)))
        : rng.uniform(param.low, param.high);
    case 'int': {
      if (param.log) {
        // Optuna's log int: a log-uniform draw over [low - 1/2, high + 1/2], rounded.
        const x = Math.exp(rng.uniform(Math.log(param.low - 0.5), Math.log(param.high + 0.5)));
        return roundToStep(param, x);
      }
      return param.low + param.step * rng.below((param.high - param.low) / param.step + 1);
    }
  }
}

/** The nearest value on an int parameter's steps, within its range. */
export function roundToStep(param: { low: number; high: number; step: number }, x: number): number {
  const snapped = stepValue(param.low, param.step, Math.round((x - param.low) / param.step));
  return Math.min(param.high, Math.max(param.low, snapped));
}

/** Samples every active parameter in declaration order with `draw`, skipping inactive ones. */
export function sampleActive(space: SearchSpace, draw: (param: Param) => Choice): Params {
  const params: Params = {};
  for (const param of space.params) {
    if (isActive(param, params)) params[param.name] = draw(param);
  }
  return params;
}

/** Random search: every active parameter drawn independently and evenly. */
export function randomSampler(space: SearchSpace, seed: number): Sampler {
  return {
    name: 'random',
    ask(history) {
      const rng = trialRng(seed, nextTrialNumber(history));
      return sampleActive(space, (param) => sampleUniform(param, rng));
    },
  };
}

/** The values the grid sampler tries for a parameter, or a message saying why it cannot. */
export function gridValues(param: Param): readonly Choice[] | string {
  switch (param.type) {
    case 'categorical':
      return param.choices;
    case 'int': {
      const values: number[] = [];
      for (let value = param.low; value <= param.high; value += param.step) values.push(value);
      return values;
    }
    case 'float': {
      if (param.step === undefined)
        return `Float parameter '${param.name}' has no grid points; give it a step, e.g. \`step: 0.1\`.`;
      const count = Math.round((param.high - param.low) / param.step) + 1;
      return Array.from({ length: count }, (_, k) => stepValue(param.low, param.step ?? 1, k));
    }
  }
}

/**
 * Every combination of the grid values of the active parameters, in a stable order (the first
 * parameter varies slowest). Inactive conditional parameters are left out, so a combination that
 * differs only in a parameter that does not apply is listed once.
 */
export function gridPoints(space: SearchSpace): Params[] {
  const points: Params[] = [];
  const extend = (index: number, chosen: Params): void => {
    const param = space.params[index];
    if (param === undefined) {
      points.push({ ...chosen });
      return;
    }
    if (!isActive(param, chosen)) {
      extend(index + 1, chosen);
      return;
    }
    const values = gridValues(param);
    if (typeof values === 'string') throw new Error(values);
    for (const value of values) {
      chosen[param.name] = value;
      extend(index + 1, chosen);
    }
    delete chosen[param.name];
  };
  extend(0, {});
  return points;
}

/** Why a space cannot be searched by grid (a float without grid points), or undefined if it can. */
export function gridProblem(space: SearchSpace): string | undefined {
  for (const param of space.params) {
    const values = gridValues(param);
    if (typeof values === 'string') return values;
  }
  return undefined;
}

/**
 * Grid search: the first grid point (in gridPoints order) not yet tried, then undefined once all
 * have been tried. The seed is unused: the order is fixed, so a grid sweep is reproducible as is.
 */
export function gridSampler(space: SearchSpace): Sampler & { readonly size: number } {
  const problem = gridProblem(space);
  if (problem !== undefined) throw new Error(problem);
  const points = gridPoints(space);
  return {
    name: 'grid',
    size: points.length,
    ask(history) {
      const tried = new Set(
        [...history.trials.map((trial) => trial.params), ...(history.unfinished ?? [])].map(paramsKey),
      );
      return points.find((point) => !tried.has(paramsKey(point)));
    },
  };
}

/** A canonical string for a set of parameters (key order does not matter). */
export function paramsKey(params: Readonly<Params>): string {
  return JSON.stringify(
    Object.keys(params)
      .sort()
      .map((name) => [name, params[name]]),
  );
}
