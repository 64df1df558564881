// Reproducing a registered version: the pipeline that produced it runs again in a working copy of
// the workspace, with the params its tracked run recorded, forced so that no stage is skipped or
// restored from a cache. Then the artifact's hash, the metrics and the data the run read are compared
// with what the version recorded, item by item. The reproduction is itself a tracked run, tagged
// `cairn.reproduces=NAME:VERSION`; it registers nothing.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isRecord } from '../gates/criteria';
import { codeVersion } from '../git';
import { md5Of } from '../data/versions';
import { runPipeline } from '../runner';
import type { RunEvent } from '../runner';
import { workspaceStages } from '../stages';
import type { Store } from '../store';
import { runDetail } from '../tracking/read';
import { applyParams, createWorkingCopy, removeWorkingCopy, workingCopiesDir } from '../workingCopy';
import type { ParamSetting } from '../workingCopy';
import { pipelineMetrics } from './automated';
import { Registry, RegistryError } from './registry';
import type { ModelVersion } from './registry';
import { readModels } from './spec';

/** One thing compared between the version and its reproduction. */
export interface ReproducedItem {
  kind: 'artifact' | 'metric' | 'dataset' | 'code';
  name: string;
  recorded: string | number | null;
  reproduced: string | number | null;
  match: boolean;
}

export interface Reproduction {
  model: string;
  version: number;
  /** The tracked run that produced the version, and the one that reproduced it. */
  sourceRunId: string;
  runId: string | null;
  pipeline: string;
  status: 'succeeded' | 'failed' | 'cancelled';
  /** The artifact and every recorded metric match (data and code are reported, not judged). */
  reproduced: boolean;
  items: ReproducedItem[];
}

export interface ReproduceOptions {
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
}

// Metrics are decimals written as text by the stages; the same run writes the same text, but a
// value read back through another float path may differ in the last bit.
const RELATIVE_TOLERANCE = 1e-9;

/** Re-runs the pipeline of `reference` (NAME@ALIAS, NAME:VERSION, NAME@VERSION) and compares. */
export async function reproduceVersion(
  store: Store,
  root: string,
  reference: string,
  options: ReproduceOptions = {},
): Promise<Reproduction> {
  const registry = new Registry(store, root);
  const version = registry.resolve(reference.replace(/^([^@:]+):/, '$1@'));
  const label = `${version.model}:${version.version}`;
  if (version.runId === null)
    throw new RegistryError(
      `${version.model} v${version.version} was registered by hand, not by a tracked run, so there are no recorded params to re-run it with.`,
    );
  const source = runDetail(store.db, version.runId);
  if (!source)
    throw new RegistryError(
      `${version.model} v${version.version} was registered by run ${version.runId}, which is no longer in the store.`,
    );
  if (version.pipeline === null)
    throw new RegistryError(`${version.model} v${version.version} does not record the pipeline that produced it.`);
  const pipeline = version.pipeline;
  if (!fs.existsSync(path.join(root, pipeline)))
    throw new RegistryError(`${pipeline}, the pipeline that produced ${label}, is no longer in the workspace.`);

  const copy = createWorkingCopy(
    root,
    path.join(
      workingCopiesDir(root, 'reproduce'),
      `${version.model}-v${version.version}-${randomBytes(4).toString('hex')}`,
    ),
  );
  try {
    // Param keys are relative to the pipeline's folder, as the stages read them.
    applyParams(path.dirname(path.join(copy, pipeline)), paramSettings(source.params));
    const result = await runPipeline({
      root: copy,
      pipelineFile: path.join(copy, pipeline),
      force: true,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      tracking: {
        store,
        experiment: source.experiment,
        name: `reproduce ${label}`,
        tags: { 'cairn.reproduces': label },
        register: false,
      },
    });
    const items: ReproducedItem[] = [artifactItem(copy, version)];
    if (result.status === 'succeeded') {
      const stages = workspaceStages(copy).stages.filter((stage) => stage.pipelineFile === path.join(copy, pipeline));
      const recorded =
        version.metrics ?? Object.fromEntries(source.metrics.map((metric) => [metric.key, metric.latest]));
      items.push(...metricItems(flattenNumbers(recorded), flattenNumbers(pipelineMetrics(copy, stages))));
    }
    const reproducedRun = result.trackedRunId ? runDetail(store.db, result.trackedRunId) : undefined;
    for (const dataset of source.datasets) {
      const now = reproducedRun?.datasets.find((input) => input.name === dataset.name);
      items.push({
        kind: 'dataset',
        name: dataset.name,
        recorded: dataset.digest,
        reproduced: now?.digest ?? null,
        match: now?.digest === dataset.digest,
      });
    }
    const code = codeVersion(root);
    if (source.git.commit !== null || code.commit !== null)
      items.push({
        kind: 'code',
        name: 'git commit',
        recorded: describeCommit(source.git.commit, source.git.dirty),
        reproduced: describeCommit(code.commit, code.dirty),
        match: source.git.commit === code.commit && !source.git.dirty && !code.dirty,
      });
    const judged = items.filter((item) => item.kind === 'artifact' || item.kind === 'metric');
    return {
      model: version.model,
      version: version.version,
      sourceRunId: source.id,
      runId: result.trackedRunId ?? null,
      pipeline,
      status: result.status,
      reproduced: result.status === 'succeeded' && judged.every((item) => item.match),
      items,
    };
  } finally {
    removeWorkingCopy(copy);
  }
}

/** Recorded params (text) back into values: numbers and booleans as such, JSON lists and maps parsed. */
function paramSettings(params: Record<string, string>): Record<string, ParamSetting> {
  const settings: Record<string, ParamSetting> = {};
  for (const [key, text] of Object.entries(params)) {
    if (text === 'true' || text === 'false') settings[key] = text === 'true';
    else if (text.trim() !== '' && Number.isFinite(Number(text)) && String(Number(text)) === text)
      settings[key] = Number(text);
    else if (/^[[{]|^null$/.test(text)) {
      try {
        // A list or map was recorded as JSON; YAML writes it back as the same structure.
        settings[key] = JSON.parse(text) as ParamSetting;
      } catch {
        settings[key] = text;
      }
    } else settings[key] = text;
  }
  return settings;
}

function artifactItem(copy: string, version: ModelVersion): ReproducedItem {
  const declared = readModels(copy).models.find((model) => model.name === version.model);
  const relative = declared
    ? path
        .relative(copy, path.resolve(path.dirname(declared.file), declared.artifact))
        .split(path.sep)
        .join('/')
    : version.sourcePath;
  let md5: string | null = null;
  if (relative !== null && !path.isAbsolute(relative)) {
    try {
      md5 = md5Of(fs.readFileSync(path.join(copy, relative)));
    } catch {
      md5 = null;
    }
  }
  return {
    kind: 'artifact',
    name: relative ?? '(unknown path)',
    recorded: version.md5,
    reproduced: md5,
    match: md5 === version.md5,
  };
}

function metricItems(recorded: Record<string, number>, reproduced: Record<string, number>): ReproducedItem[] {
  return Object.entries(recorded).map(([key, value]) => {
    const now = reproduced[key];
    const match =
      now !== undefined && Math.abs(now - value) <= RELATIVE_TOLERANCE * Math.max(1, Math.abs(now), Math.abs(value));
    return { kind: 'metric', name: key, recorded: value, reproduced: now ?? null, match };
  });
}

/** The numbers of a nested metrics object as dotted keys (`holdout.auc`). */
export function flattenNumbers(value: Record<string, unknown>, prefix = ''): Record<string, number> {
  const flat: Record<string, number> = {};
  for (const [key, inner] of Object.entries(value)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (typeof inner === 'number' && Number.isFinite(inner)) flat[name] = inner;
    else if (isRecord(inner)) Object.assign(flat, flattenNumbers(inner, name));
  }
  return flat;
}

function describeCommit(commit: string | null, dirty: boolean | null): string {
  if (commit === null) return 'not a git repository';
  return `${commit.slice(0, 12)}${dirty ? ' (with uncommitted changes)' : ''}`;
}
