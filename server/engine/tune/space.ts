// The search space of a sweep: what each hyperparameter may be, and when it is active at all.
// Pure data and validation; the samplers read it, the experiment spec parser feeds it.
//
// A parameter is one of
//   uniform(low, high)            a float drawn evenly in [low, high]
//   loguniform(low, high)         a float whose logarithm is drawn evenly (0 < low < high)
//   int(low, high, step?, log?)   an integer on low, low + step, ... <= high (log: no step but 1)
//   categorical(choices)          one of a list of strings, numbers or booleans
// and any parameter may carry `when: { param, values }`: it is active only when that earlier
// parameter took one of those values (e.g. `max_depth` only when `model` is `tree`).
// Floats may also list `grid` points, which the grid sampler uses in place of a continuous range.

export type Choice = string | number | boolean;
export type Params = Record<string, Choice>;

/** The condition under which a parameter is sampled at all. */
export interface Condition {
  readonly param: string;
  readonly values: readonly Choice[];
}

interface Common {
  readonly name: string;
  readonly when?: Condition;
}
export interface FloatParam extends Common {
  readonly type: 'float';
  readonly low: number;
  readonly high: number;
  readonly log: boolean;
  /** Values are low, low + step, ..., high (a grid search needs it); none: any value in the range. */
  readonly step?: number;
}
export interface IntParam extends Common {
  readonly type: 'int';
  readonly low: number;
  readonly high: number;
  readonly step: number;
  readonly log: boolean;
}
export interface CategoricalParam extends Common {
  readonly type: 'categorical';
  readonly choices: readonly Choice[];
}
export type Param = FloatParam | IntParam | CategoricalParam;

/** Parameters in declaration order: a condition only names a parameter declared before it. */
export interface SearchSpace {
  readonly params: readonly Param[];
}

/** A mistake in a declared search space: where, what, and what to do about it. */
export interface SpaceProblem {
  readonly path: string;
  readonly message: string;
  readonly fix: string;
}

const KINDS = ['uniform', 'loguniform', 'int', 'categorical'] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isChoice(value: unknown): value is Choice {
  return (
    typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))
  );
}

/**
 * Reads a search space declared as `{ name: { type, ... } }` (as written in an experiment file) and
 * returns it with every problem found; the space is undefined when any problem was found.
 */
export function parseSpace(declared: unknown): { space: SearchSpace | undefined; problems: SpaceProblem[] } {
  const problems: SpaceProblem[] = [];
  if (!isRecord(declared) || Object.keys(declared).length === 0) {
    problems.push({
      path: 'space',
      message: 'The search space must be a non-empty mapping from parameter names to their ranges.',
      fix: 'Write e.g. `space: { lr: { type: loguniform, low: 0.0001, high: 0.1 } }`.',
    });
    return { space: undefined, problems };
  }
  const params: Param[] = [];
  for (const [name, spec] of Object.entries(declared)) {
    const param = parseParam(name, spec, params, problems);
    if (param !== undefined) params.push(param);
  }
  return { space: problems.length === 0 ? { params } : undefined, problems };
}

/** Like parseSpace, for spaces written in code: throws an Error listing the problems. */
export function defineSpace(declared: Record<string, unknown>): SearchSpace {
  const { space, problems } = parseSpace(declared);
  if (space === undefined) {
    throw new Error(problems.map((problem) => `${problem.path}: ${problem.message} ${problem.fix}`).join('\n'));
  }
  return space;
}

function parseParam(name: string, spec: unknown, earlier: Param[], problems: SpaceProblem[]): Param | undefined {
  const at = `space.${name}`;
  const before = problems.length;
  const problem = (path: string, message: string, fix: string): void => void problems.push({ path, message, fix });
  if (!isRecord(spec)) {
    problem(
      at,
      `Parameter '${name}' must be a mapping with a type.`,
      `Write \`${name}: { type: uniform, low: 0, high: 1 }\`.`,
    );
    return undefined;
  }
  const kind = spec['type'];
  if (typeof kind !== 'string' || !(KINDS as readonly string[]).includes(kind)) {
    problem(`${at}.type`, `Unknown parameter type ${JSON.stringify(kind)}.`, `Use one of: ${KINDS.join(', ')}.`);
    return undefined;
  }
  const when = parseCondition(name, spec['when'], earlier, problems);
  const conditional = when === undefined ? {} : { when };

  if (kind === 'categorical') {
    const choices = spec['choices'];
    if (!Array.isArray(choices) || choices.length === 0 || !choices.every(isChoice)) {
      problem(
        `${at}.choices`,
        `Parameter '${name}' needs a non-empty list of choices (strings, numbers or booleans).`,
        'Write e.g. `choices: [tree, linear]`.',
      );
      return undefined;
    }
    if (new Set(choices).size !== choices.length) {
      problem(`${at}.choices`, `Parameter '${name}' lists a choice twice.`, 'Remove the duplicate.');
    }
    return problems.length === before ? { name, type: 'categorical', choices, ...conditional } : undefined;
  }

  const low = spec['low'];
  const high = spec['high'];
  if (typeof low !== 'number' || !Number.isFinite(low) || typeof high !== 'number' || !Number.isFinite(high)) {
    problem(at, `Parameter '${name}' needs numeric low and high.`, 'Write e.g. `low: 0, high: 1`.');
    return undefined;
  }
  if (!(low < high) && !(kind === 'int' && low === high)) {
    problem(at, `Parameter '${name}' has low ${low} not below high ${high}.`, 'Swap them or widen the range.');
  }
  const log = kind === 'loguniform' || spec['log'] === true;
  if (log && low <= 0) {
    problem(
      `${at}.low`,
      `Parameter '${name}' is on a log scale, so low must be above 0 (got ${low}).`,
      'Use a positive low.',
    );
  }
  if (spec['log'] !== undefined && typeof spec['log'] !== 'boolean') {
    problem(`${at}.log`, `'log' of '${name}' must be true or false.`, 'Write `log: true`.');
  }

  if (kind === 'int') {
    const step = spec['step'] ?? 1;
    if (!Number.isInteger(low) || !Number.isInteger(high)) {
      problem(at, `Parameter '${name}' is an int, so low and high must be integers.`, 'Round them.');
    }
    if (problems.length > before) return undefined;
    if (typeof step !== 'number' || !Number.isInteger(step) || step < 1) {
      problem(`${at}.step`, `Step of '${name}' must be a positive integer.`, 'Write e.g. `step: 2`.');
    } else if (log && step !== 1) {
      problem(`${at}.step`, `Parameter '${name}' cannot have both log: true and step ${step}.`, 'Drop one of them.');
    } else if ((high - low) % step !== 0) {
      problem(
        `${at}.high`,
        `Range ${low}..${high} of '${name}' is not a whole number of steps of ${step}.`,
        `Use high: ${high - ((high - low) % step)}.`,
      );
    }
    if (problems.length > before || typeof step !== 'number') return undefined;
    return { name, type: 'int', low, high, step, log, ...conditional };
  }

  const step = spec['step'];
  if (step !== undefined) {
    const steps = typeof step === 'number' ? (high - low) / step : NaN;
    if (typeof step !== 'number' || !(step > 0)) {
      problem(`${at}.step`, `Step of '${name}' must be a number above 0.`, 'Write e.g. `step: 0.1`.');
    } else if (log) {
      problem(`${at}.step`, `Parameter '${name}' cannot have both a log scale and step ${step}.`, 'Drop one of them.');
    } else if (Math.abs(steps - Math.round(steps)) > 1e-9 * Math.max(1, steps)) {
      problem(
        `${at}.high`,
        `Range ${low}..${high} of '${name}' is not a whole number of steps of ${step}.`,
        `Use high: ${stepValue(low, step, Math.floor(steps))}.`,
      );
    }
  }
  if (problems.length > before) return undefined;
  return { name, type: 'float', low, high, log, ...(typeof step === 'number' ? { step } : {}), ...conditional };
}

/** The k-th value of a stepped range, without the binary noise of low + k * step (0.1 + 2 * 0.1). */
export function stepValue(low: number, step: number, k: number): number {
  return Number((low + k * step).toPrecision(12));
}

function parseCondition(
  name: string,
  when: unknown,
  earlier: Param[],
  problems: SpaceProblem[],
): Condition | undefined {
  if (when === undefined) return undefined;
  const at = `space.${name}.when`;
  if (
    !isRecord(when) ||
    typeof when['param'] !== 'string' ||
    !Array.isArray(when['values']) ||
    when['values'].length === 0
  ) {
    problems.push({
      path: at,
      message: `'when' of '${name}' needs a param and a non-empty list of values.`,
      fix: 'Write e.g. `when: { param: model, values: [tree] }`.',
    });
    return undefined;
  }
  const parentName = when['param'];
  const values = when['values'];
  const parent = earlier.find((param) => param.name === parentName);
  if (parent === undefined) {
    problems.push({
      path: `${at}.param`,
      message: `'${name}' depends on '${parentName}', which is not declared before it.`,
      fix: `Declare '${parentName}' above '${name}'.`,
    });
    return undefined;
  }
  const impossible = values.filter((value) => !isChoice(value) || !canTake(parent, value));
  if (impossible.length > 0) {
    problems.push({
      path: `${at}.values`,
      message: `'${parentName}' can never be ${impossible.map((value) => JSON.stringify(value)).join(', ')}, so '${name}' would be inactive for those.`,
      fix:
        parent.type === 'categorical'
          ? `Use values among ${JSON.stringify(parent.choices)}.`
          : `Use values within ${parent.low}..${parent.high}.`,
    });
    return undefined;
  }
  return { param: parentName, values: values as Choice[] };
}

function canTake(param: Param, value: unknown): boolean {
  if (param.type === 'categorical') return param.choices.includes(value as Choice);
  if (typeof value !== 'number' || value < param.low || value > param.high) return false;
  if (param.type === 'int') return (value - param.low) % param.step === 0;
  if (param.step === undefined) return true;
  const k = Math.round((value - param.low) / param.step);
  return stepValue(param.low, param.step, k) === value;
}

/** Whether a parameter is sampled given the values chosen so far for earlier parameters. */
export function isActive(param: Param, chosen: Readonly<Params>): boolean {
  if (param.when === undefined) return true;
  const value = chosen[param.when.param];
  return value !== undefined && param.when.values.includes(value);
}

/** Whether a value lies in a parameter's domain (in range, on its step, among its choices). */
export function isInDomain(param: Param, value: Choice): boolean {
  return canTake(param, value);
}
