// What experiment and deployment specs refer to: their pipeline, its stages, its metrics, the
// models and datasets declared in pipelines, and the alerts of a deployment. Shared by the checks
// and by completion, hover and go-to-definition.
import * as path from 'node:path';
import { isMap, isScalar, isSeq } from 'yaml';
import { mapGet, scalarString } from './parse';
import type { YamlNode } from './parse';
import { flattenKeys } from './interpolate';
import type { NamedEntry, PipelineModel } from './pipeline';
import { joinPath } from './workspace';
import type { Workspace } from './workspace';

/** Resolves an experiment's `pipeline:` (default pipeline.yaml) to a workspace-relative path. */
export function experimentPipelinePath(
  workspace: Workspace,
  experimentFile: string,
  root: YamlNode | null,
): { path: string; node: YamlNode | null } {
  const node = mapGet(root, 'pipeline');
  const raw = scalarString(node) ?? 'pipeline.yaml';
  return { path: joinPath(workspace.relative(path.dirname(experimentFile)), raw), node };
}

/** A metric name and the metrics file it was read from. */
export interface KnownMetric {
  name: string;
  file: string;
  stage: string;
}

/** The metric names a pipeline produces, read from the metrics files its stages declare that exist. */
export function knownMetrics(
  workspace: Workspace,
  model: PipelineModel,
): { metrics: KnownMetric[]; declaredFiles: number } {
  const metrics: KnownMetric[] = [];
  let declaredFiles = 0;
  for (const instance of model.instances) {
    for (const out of instance.outs) {
      if (out.entry.kind !== 'metrics' || out.path === null) continue;
      declaredFiles++;
      const data = workspace.dataFile(workspace.absolute(out.path));
      if (!data) continue;
      for (const name of flattenKeys(data.value)) metrics.push({ name, file: out.path, stage: instance.name });
    }
  }
  return { metrics, declaredFiles };
}

/** A model reference (`name@alias`, `name:3`, or `{name, alias|version}`) split into parts. */
export interface ModelReference {
  name: string;
  /** The node that holds the name (the whole scalar for `name@alias`). */
  node: YamlNode;
  qualifier: string | null;
  /** Whether the qualifier names an alias (`@`, `alias:`) or a version (`:`, `version:`). */
  qualifierKind: 'alias' | 'version' | null;
  /** The node that holds the qualifier on its own (`alias:` or `version:` of the mapping form). */
  qualifierNode: YamlNode | null;
}

export function parseModelReference(node: YamlNode | null): ModelReference | null {
  if (!node) return null;
  const text = scalarString(node);
  if (text !== null) {
    const match = /^([^@:]+)(?:([@:])(.*))?$/.exec(text);
    if (!match) return null;
    const qualifier = match[3] ?? null;
    return {
      name: match[1] ?? text,
      node,
      qualifier,
      qualifierKind: qualifier === null ? null : match[2] === '@' ? 'alias' : 'version',
      qualifierNode: null,
    };
  }
  if (isMap(node)) {
    const nameNode = mapGet(node, 'name');
    const name = scalarString(nameNode);
    if (!name || !nameNode) return null;
    const aliasNode = mapGet(node, 'alias');
    const versionNode = mapGet(node, 'version');
    const alias = scalarString(aliasNode);
    const version = scalarString(versionNode);
    return {
      name,
      node: nameNode,
      qualifier: alias ?? version,
      qualifierKind: alias !== null ? 'alias' : version !== null ? 'version' : null,
      qualifierNode: alias !== null ? aliasNode : version !== null ? versionNode : null,
    };
  }
  return null;
}

/** A source of model names beyond the pipelines' `models` sections: the registry (its `.cairn/models.json`). */
export interface ModelNameProvider {
  /** Known model names with their aliases. */
  models(): { name: string; aliases: string[]; versions: number[] }[];
}

/** Every model and dataset declared across the workspace's pipelines. */
export function declaredEntries(
  models: readonly PipelineModel[],
  which: 'models' | 'datasets',
): (NamedEntry & { file: string })[] {
  const entries: (NamedEntry & { file: string })[] = [];
  for (const model of models) for (const entry of model[which]) entries.push({ ...entry, file: model.file });
  return entries;
}

/** Names listed in a sequence of strings, with their nodes. */
export function stringItems(node: YamlNode | null): { value: string; node: YamlNode }[] {
  if (!isSeq(node)) {
    const single = scalarString(node);
    return single !== null && node ? [{ value: single, node }] : [];
  }
  const items: { value: string; node: YamlNode }[] = [];
  for (const item of node.items as (YamlNode | null)[]) {
    const value = scalarString(item);
    if (value !== null && item && isScalar(item)) items.push({ value, node: item });
  }
  return items;
}
