// An experiment file (*.experiment.yaml) read for running: the pipeline and stages, the search space,
// the strategy and seed, the budget, parallelism, the objective, pruning, and the gate and registration
// of the best model. It is validated against the same schema the language server uses, and every
// problem names the file, the line and the fix.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap } from 'yaml';
import { mapGet, nodeStart, nodeValue, parseWhole } from '../../spec/parse';
import type { YamlNode } from '../../spec/parse';
import { resolverFor } from '../../spec/schemas';
import { validateNode } from '../../spec/schemaValidate';
import { LineIndex } from '../../spec/text';
import { gateFromValue } from '../gates/criteria';
import type { GateSpec } from '../gates/criteria';
import type { Direction } from '../tune/samplers';
import { parseSpace } from '../tune/space';
import type { SearchSpace } from '../tune/space';
import type { Strategy } from '../tune/study';

export interface ExperimentSpec {
  /** Absolute path of the experiment file. */
  file: string;
  name: string;
  description?: string;
  /** Absolute path of the pipeline file. */
  pipelineFile: string;
  /** Stage names to run (with their upstream stages); empty: the whole pipeline. */
  stages: string[];
  /** Undefined when the file has no search: one trial with the params as they are. */
  search?: {
    strategy: Strategy;
    space: SearchSpace;
    seed: number;
    tpe: { startupTrials?: number; candidates?: number };
  };
  budget: { trials?: number; timeMs?: number };
  parallel: number;
  objective?: { metric: string; direction: Direction; stage?: string };
  pruning?: { metric: string; warmupSteps: number; minTrials: number };
  /** The gate the best trial must pass before it is registered (holdout, acceptance, slices). */
  gate?: GateSpec;
  register?: { model: string; artifact?: string; alias?: string; requireApproval: boolean };
  /** A digest of what decides the trials (pipeline, stages, search, objective): resuming needs the same. */
  digest: string;
}

/** A mistake in an experiment file; the message names the file and line and says what to do. */
export class ExperimentSpecError extends Error {}

const DURATION = /^([0-9]+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration such as `90s`, `30m` or `2h`. */
export function durationMs(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  return match ? Number(match[1]) * (UNIT_MS[match[2] ?? 's'] ?? 1000) : undefined;
}

/** Reads and checks an experiment file; throws an ExperimentSpecError listing every problem. */
export function readExperiment(file: string, root: string): ExperimentSpec {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ExperimentSpecError(
      `${file}: cannot read the experiment file (${(error as NodeJS.ErrnoException).code ?? String(error)}).`,
    );
  }
  const display = path.relative(process.cwd(), file) || file;
  const lines = new LineIndex(text);
  const at = (node: unknown): string => `${display}:${lines.position(nodeStart(node) ?? 0).line + 1}`;
  const parsed = parseWhole(text);
  const syntax = parsed.errors[0];
  if (syntax) {
    throw new ExperimentSpecError(
      `${display}:${lines.position(syntax.start).line + 1}: ${syntax.message} Fix the YAML syntax.`,
    );
  }
  const problems: string[] = [];
  const rootNode = parsed.root;
  const resolver = resolverFor('experiment');
  if (resolver) {
    for (const problem of validateNode(rootNode, resolver.root, resolver, null, parsed.document)) {
      if (problem.severity === 'error') problems.push(`${at(problem.anchor)}: ${problem.message}`);
    }
  }
  if (problems.length > 0) throw new ExperimentSpecError(problems.join('\n'));
  if (!isMap(rootNode)) throw new ExperimentSpecError(`${display}:1: the experiment file is empty. Add a pipeline.`);
  const value = nodeValue(rootNode, parsed.document) as Record<string, unknown>;
  const get = (key: string): YamlNode | null => mapGet(rootNode, key);

  const base = path.basename(file).replace(/\.experiment\.ya?ml$/, '');
  const name = typeof value['name'] === 'string' ? value['name'] : base;
  const pipelineFile = path.resolve(
    path.dirname(file),
    typeof value['pipeline'] === 'string' ? value['pipeline'] : 'pipeline.yaml',
  );
  const relativePipeline = path.relative(root, pipelineFile);
  if (relativePipeline.startsWith('..') || path.isAbsolute(relativePipeline)) {
    problems.push(
      `${at(get('pipeline') ?? rootNode)}: the pipeline is outside the workspace. Point it inside ${root}.`,
    );
  } else if (!fs.existsSync(pipelineFile)) {
    problems.push(
      `${at(get('pipeline') ?? rootNode)}: the pipeline ${relativePipeline} does not exist. Fix the path or create it.`,
    );
  }

  const spec: ExperimentSpec = {
    file,
    name,
    pipelineFile,
    stages: Array.isArray(value['stages']) ? (value['stages'] as string[]) : [],
    budget: {},
    parallel: typeof value['parallel'] === 'number' ? value['parallel'] : 1,
    digest: '',
  };
  if (typeof value['description'] === 'string') spec.description = value['description'];

  const search = value['search'] as Record<string, unknown> | undefined;
  if (search) {
    const { space, problems: spaceProblems } = parseSpace(search['space']);
    const spaceNode = mapGet(get('search'), 'space');
    for (const problem of spaceProblems) {
      const key = problem.path.split('.').slice(1, 2)[0];
      const node = (key !== undefined ? mapGet(spaceNode, key) : null) ?? spaceNode ?? rootNode;
      problems.push(`${at(node)}: ${problem.message} ${problem.fix}`);
    }
    const tpe = (search['tpe'] ?? {}) as Record<string, unknown>;
    if (space) {
      spec.search = {
        strategy: (search['strategy'] as Strategy | undefined) ?? 'tpe',
        space,
        seed: typeof search['seed'] === 'number' ? search['seed'] : 0,
        tpe: {
          ...(typeof tpe['startup_trials'] === 'number' ? { startupTrials: tpe['startup_trials'] } : {}),
          ...(typeof tpe['candidates'] === 'number' ? { candidates: tpe['candidates'] } : {}),
        },
      };
    }
  }

  const budget = value['budget'] as Record<string, unknown> | undefined;
  if (typeof budget?.['trials'] === 'number') spec.budget.trials = budget['trials'];
  if (typeof budget?.['time'] === 'string') {
    const ms = durationMs(budget['time']);
    if (ms === undefined)
      problems.push(
        `${at(mapGet(get('budget'), 'time'))}: '${budget['time']}' is not a duration. Write e.g. 30m or 2h.`,
      );
    else spec.budget.timeMs = ms;
  }

  const objective = value['objective'] as Record<string, unknown> | undefined;
  if (objective && typeof objective['metric'] === 'string') {
    spec.objective = {
      metric: objective['metric'],
      direction: objective['direction'] === 'minimize' ? 'minimize' : 'maximize',
      ...(typeof objective['stage'] === 'string' ? { stage: objective['stage'] } : {}),
    };
  }
  const pruning = value['pruning'] as Record<string, unknown> | undefined;
  if (pruning && pruning['strategy'] !== 'none' && spec.objective) {
    spec.pruning = {
      metric: typeof pruning['metric'] === 'string' ? pruning['metric'] : spec.objective.metric,
      warmupSteps: typeof pruning['warmup_steps'] === 'number' ? pruning['warmup_steps'] : 0,
      minTrials: typeof pruning['min_trials'] === 'number' ? pruning['min_trials'] : 5,
    };
  }

  const holdout = value['holdout'] as Record<string, unknown> | undefined;
  if (value['acceptance'] !== undefined || value['slices'] !== undefined || holdout !== undefined) {
    const { gate, problems: gateProblems } = gateFromValue(
      {
        ...(typeof holdout?.['split'] === 'string' ? { split: holdout['split'] } : {}),
        acceptance: value['acceptance'] ?? [],
        slices: value['slices'] ?? [],
      },
      spec.objective,
    );
    for (const message of gateProblems)
      problems.push(`${at(get('acceptance') ?? get('slices') ?? rootNode)}: ${message}`);
    spec.gate = gate;
  }

  const register = value['register'] as Record<string, unknown> | undefined;
  if (register && typeof register['model'] === 'string') {
    spec.register = {
      model: register['model'],
      ...(typeof register['artifact'] === 'string' ? { artifact: register['artifact'] } : {}),
      ...(typeof register['alias'] === 'string' ? { alias: register['alias'] } : {}),
      requireApproval: register['require_approval'] === true,
    };
  }

  if (problems.length > 0) throw new ExperimentSpecError(problems.join('\n'));
  spec.digest = createHash('sha256')
    .update(
      JSON.stringify({
        pipeline: relativePipeline,
        stages: spec.stages,
        search: spec.search ?? null,
        objective: spec.objective ?? null,
        pruning: spec.pruning ?? null,
      }),
    )
    .digest('hex')
    .slice(0, 16);
  return spec;
}

/**
 * The line of the search space entry of `key` (or, with key null, of the top-level `topLevel` key) in
 * the experiment file, for problems found later (a param or stage the pipeline does not have).
 */
export function spaceKeyLocation(spec: ExperimentSpec, key: string | null, topLevel?: string): string {
  const text = fs.readFileSync(spec.file, 'utf8');
  const parsed = parseWhole(text);
  const node =
    key === null ? mapGet(parsed.root, topLevel ?? '') : mapGet(mapGet(mapGet(parsed.root, 'search'), 'space'), key);
  const line = new LineIndex(text).position(nodeStart(node) ?? 0).line + 1;
  return `${path.relative(process.cwd(), spec.file) || spec.file}:${line}`;
}
