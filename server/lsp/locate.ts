// What the cursor points at, in terms the navigation features share: an interpolation, a stage,
// a dep or out, a params entry, a param key in params.yaml, or a reference in another spec.
import * as path from 'node:path';
import { isScalar } from 'yaml';
import { findInterpolations } from '../spec/interpolate';
import { scalarString } from '../spec/parse';
import type { YamlNode } from '../spec/parse';
import type { PathEntry, PipelineModel, StageDefinition } from '../spec/pipeline';
import { experimentPipelinePath } from '../spec/references';
import { nodeAt, pathKeys } from './session';
import type { DocumentState, NodeAt } from './session';
import { roleAt } from './roles';
import type { Role } from './roles';

export type Target =
  | { kind: 'interpolation'; expression: string; start: number; end: number; model: PipelineModel }
  | { kind: 'stage'; definition: StageDefinition; model: PipelineModel; node: YamlNode }
  | { kind: 'path'; entry: PathEntry; definition: StageDefinition; model: PipelineModel }
  | {
      kind: 'param';
      key: string;
      file: string | null;
      definition: StageDefinition;
      model: PipelineModel;
      node: YamlNode;
    }
  | { kind: 'params-key'; key: string; node: YamlNode }
  | { kind: 'reference'; role: Role; value: string; node: YamlNode; model: PipelineModel | null }
  | { kind: 'schema-key'; keys: (string | number)[]; node: YamlNode }
  | { kind: 'none'; at: NodeAt };

/** Classifies what is under the cursor. */
export function targetAt(state: DocumentState, offset: number): Target {
  const parsed = state.parsed;
  const at = nodeAt(parsed?.root ?? null, offset);
  const node = at.node;
  const keys = pathKeys(at.path);
  if (state.kind === 'params') {
    if (at.onKey && node)
      return { kind: 'params-key', key: keys.filter((key) => typeof key === 'string').join('.'), node };
    return { kind: 'none', at };
  }
  const model =
    state.kind === 'pipeline'
      ? state.analyzer.model(state.file)
      : state.kind === 'experiment'
        ? state.analyzer.pipelineAt(
            experimentPipelinePath(state.analyzer.workspace, state.file, parsed?.root ?? null).path,
          )
        : null;
  if (node && isScalar(node) && typeof node.value === 'string' && node.range && model && state.kind === 'pipeline') {
    const source = state.text.slice(node.range[0], node.range[1]);
    for (const reference of findInterpolations(source, node.range[0])) {
      if (offset >= reference.start && offset <= reference.end)
        return {
          kind: 'interpolation',
          expression: reference.expression,
          start: reference.start,
          end: reference.end,
          model,
        };
    }
  }
  if (state.kind === 'pipeline' && model && keys[0] === 'stages' && typeof keys[1] === 'string') {
    const definition = model.definitions.find((candidate) => candidate.name === keys[1]);
    if (definition) {
      if (keys.length === 2 && at.onKey && node) return { kind: 'stage', definition, model, node };
      const entry = [...definition.deps, ...definition.outs].find((candidate) => candidate.node === node);
      if (entry) return { kind: 'path', entry, definition, model };
      const param = definition.params.find((candidate) => candidate.node === node);
      if (param && node) return { kind: 'param', key: param.key ?? '', file: param.file, definition, model, node };
    }
  }
  if (node && isScalar(node) && !at.onKey) {
    const last = keys[keys.length - 1];
    const containerKeys = typeof last === 'string' ? keys.slice(0, -1) : keys;
    const role = roleAt(state.kind, containerKeys, typeof last === 'string' ? last : null);
    const value = scalarString(node);
    if (role && value !== null) return { kind: 'reference', role, value, node, model };
  }
  if (
    node &&
    at.onKey &&
    state.kind === 'experiment' &&
    keys[0] === 'search' &&
    keys[1] === 'space' &&
    keys.length === 3
  ) {
    return { kind: 'reference', role: 'param-key', value: String(keys[2]), node, model };
  }
  if (node && at.onKey) return { kind: 'schema-key', keys, node };
  return { kind: 'none', at };
}

/** The folder of a spec, workspace-relative. */
export function specFolder(state: DocumentState): string {
  return state.analyzer.workspace.relative(path.dirname(state.file));
}
