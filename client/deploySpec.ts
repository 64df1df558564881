// What "Cairn: Deploy Model" writes into a deployment file (*.deploy.yaml): the stable model and the
// rollout of a candidate, chosen with quick picks. A new file gets a short commented spec; an
// existing one keeps everything else, its comments included (the `yaml` package's document model
// edits the two keys in place). Pure: text in, text out, so unit tests run it without an editor.
import { isMap, parse, parseDocument } from 'yaml';
import type { Document, YAMLMap } from 'yaml';
import type { RolloutStrategy } from '../server/shared/deployments';

/** The choices of the quick picks. */
export interface DeployChoice {
  /** The stable version: "name@alias" or "name:version". */
  model: string;
  strategy: RolloutStrategy;
  /** The version rolled out beside the stable one; required unless the strategy is direct. */
  candidate: string | null;
}

/** A canary's steps when the file has none: a tenth, then half, then all of the traffic. */
export const DEFAULT_CANARY_STEPS = [
  { weight: 10, pause: '1m', analysis: { metric: 'error_rate', max: 0.05 } },
  { weight: 50, pause: '1m', analysis: { metric: 'error_rate', max: 0.05 } },
  { weight: 100 },
];
export const DEFAULT_AB_WEIGHTS = { stable: 50, candidate: 50 };

/** A deployment name (a Kubernetes name: lowercase letters, digits and "-"), or why it is not one. */
export function deploymentNameProblem(name: string): string | null {
  if (name.length === 0) return 'Give the deployment a name.';
  if (name.length > 63) return 'At most 63 characters.';
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name))
    return 'Lowercase letters, digits and "-", starting and ending with a letter or digit.';
  return null;
}

/** A deployment name made from a model name ("Rain_Tomorrow" → "rain-tomorrow"). */
export function suggestedDeploymentName(model: string): string {
  const name = model
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return name || 'model';
}

/** The `rollout` section of a choice, or null for a direct deployment of the stable version. */
export function rolloutOf(choice: DeployChoice): Record<string, unknown> | null {
  if (choice.strategy === 'direct' || choice.candidate === null) return null;
  switch (choice.strategy) {
    case 'canary':
      return { strategy: 'canary', candidate: choice.candidate, steps: DEFAULT_CANARY_STEPS };
    case 'ab':
      return { strategy: 'ab', candidate: choice.candidate, split: { weights: DEFAULT_AB_WEIGHTS } };
    case 'shadow':
      return { strategy: 'shadow', candidate: choice.candidate, mirror_percent: 100 };
  }
}

/** The text of a new deployment file for a choice, its server on `port` of 127.0.0.1. */
export function newDeploymentText(name: string, choice: DeployChoice, port: number): string {
  const document = parseDocument(
    [
      `# The deployment ${name}, written by "Cairn: Deploy Model". Deploy it again with`,
      `#   cairn deploy ${name}.deploy.yaml`,
      '# Every key is described in schemas/deployment.schema.json (hover a key to read it).',
      `name: ${name}`,
      `model: ${choice.model}`,
      'server:',
      '  host: 127.0.0.1',
      '  # A port that was free when the file was written; change it at will.',
      `  port: ${port}`,
      '',
    ].join('\n'),
  );
  const rollout = rolloutOf(choice);
  if (rollout) document.set('rollout', document.createNode(rollout));
  return document.toString({ lineWidth: 0 });
}

/**
 * The text of an existing deployment file with the choice written into its `model` and `rollout`
 * keys; every other key and every comment stays. A canary's own steps, an A/B test's own split and
 * a shadow's own mirror share are kept when the strategy stays the same. Throws (with the parser's
 * message) when the file is not YAML a person should have edited by hand first.
 */
export function updatedDeploymentText(text: string, choice: DeployChoice): string {
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    const error = document.errors[0];
    throw new Error(`it is not valid YAML (${error?.message ?? 'parse error'}); fix it, then deploy again`);
  }
  if (document.contents !== null && !isMap(document.contents))
    throw new Error('it does not hold a mapping of keys (model, server, rollout...); fix it, then deploy again');
  document.set('model', choice.model);
  const rollout = rolloutOf(choice);
  if (!rollout) {
    document.delete('rollout');
    return document.toString({ lineWidth: 0 });
  }
  const existing = document.get('rollout', true);
  if (!isMap(existing)) {
    document.set('rollout', document.createNode(rollout));
    return document.toString({ lineWidth: 0 });
  }
  updateRollout(document, existing, rollout, choice.strategy);
  return document.toString({ lineWidth: 0 });
}

/** Keys of `rollout` that belong to one strategy only. */
const STRATEGY_KEYS: Record<string, RolloutStrategy> = { steps: 'canary', split: 'ab', mirror_percent: 'shadow' };

function updateRollout(
  document: Document,
  existing: YAMLMap,
  rollout: Record<string, unknown>,
  strategy: RolloutStrategy,
): void {
  const previous = existing.get('strategy');
  existing.set('strategy', strategy);
  existing.set('candidate', rollout['candidate']);
  for (const [key, owner] of Object.entries(STRATEGY_KEYS)) {
    if (owner !== strategy) existing.delete(key);
    else if (previous !== strategy || !existing.has(key)) existing.set(key, document.createNode(rollout[key]));
  }
}

/**
 * One line saying what a deployment file will do, for the confirmation: the rollout as the written
 * `text` holds it (a canary keeps the file's own steps, an A/B test its own split).
 */
export function choiceSummary(choice: DeployChoice, text: string): string {
  const stable = `${choice.model} serves`;
  if (choice.strategy === 'direct' || choice.candidate === null) return `${stable} all traffic (direct)`;
  const spec: unknown = parse(text);
  const rollout = isRecord(spec) && isRecord(spec['rollout']) ? spec['rollout'] : {};
  switch (choice.strategy) {
    case 'canary': {
      const steps = Array.isArray(rollout['steps']) ? rollout['steps'] : [];
      const weights = steps.map((step) => (isRecord(step) ? `${String(step['weight'])}%` : '?'));
      return `${stable}; canary of ${choice.candidate}: ${weights.join(' → ')}`;
    }
    case 'ab': {
      const split =
        isRecord(rollout['split']) && isRecord(rollout['split']['weights']) ? rollout['split']['weights'] : {};
      return `${stable}; A/B test with ${choice.candidate} (${String(split['stable'] ?? '?')}/${String(split['candidate'] ?? '?')})`;
    }
    case 'shadow':
      return `${stable}; ${choice.candidate} in shadow on ${String(rollout['mirror_percent'] ?? 100)}% of requests (answers logged, never returned)`;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
