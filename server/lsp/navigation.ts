// Go to definition, find references and rename, across pipelines, params files and the
// experiment and deployment specs that point at them.
import * as path from 'node:path';
import { isScalar, visit } from 'yaml';
import { LSPErrorCodes, ResponseError } from 'vscode-languageserver/node';
import { URI } from 'vscode-uri';
import type {
  DefinitionParams,
  Location,
  PrepareRenameParams,
  Range,
  ReferenceParams,
  RenameParams,
  TextEdit,
  WorkspaceEdit,
} from 'vscode-languageserver/node';
import type { Analyzer } from '../spec/analyze';
import { producersOf } from '../spec/graph';
import { findInterpolations } from '../spec/interpolate';
import { mapGet, scalarString } from '../spec/parse';
import type { YamlNode } from '../spec/parse';
import { definitionOf, keyNodeAt } from '../spec/pipeline';
import type { PipelineModel } from '../spec/pipeline';
import { declaredEntries, experimentPipelinePath, knownMetrics, stringItems } from '../spec/references';
import { LineIndex } from '../spec/text';
import { joinPath } from '../spec/workspace';
import { specFolder, targetAt } from './locate';
import type { DocumentState, Session } from './session';

/** A location of a node (or offsets) in a file, read through the workspace (open text first). */
function location(analyzer: Analyzer, file: string, start: number, end: number): Location {
  const text = analyzer.workspace.text(file) ?? '';
  const lines = new LineIndex(text);
  return { uri: URI.file(file).toString(), range: lines.range(start, end) };
}

function nodeLocation(
  analyzer: Analyzer,
  file: string,
  node: { range?: [number, number, number] | null } | null,
): Location {
  return location(analyzer, file, node?.range?.[0] ?? 0, node?.range?.[1] ?? 0);
}

export function definition(session: Session, params: DefinitionParams): Location[] | null {
  const state = session.document(params.textDocument.uri);
  if (!state) return null;
  const analyzer = state.analyzer;
  const workspace = analyzer.workspace;
  const target = targetAt(state, state.offset(params.position));
  switch (target.kind) {
    case 'interpolation': {
      const origin = definitionOf(target.model, target.expression);
      return origin ? [nodeLocation(analyzer, origin.source.file, origin.node)] : null;
    }
    case 'path': {
      const instance = target.model.instances.find((candidate) => candidate.definition === target.definition);
      const resolved = instance
        ? [...instance.deps, ...instance.outs].find((entry) => entry.entry === target.entry)?.path
        : null;
      if (!resolved) return null;
      if (target.entry.kind === 'deps') {
        const producers = producersOf(analyzer.graph(), resolved);
        if (producers.length > 0)
          return producers.map((producer) => nodeLocation(analyzer, producer.instance.file, producer.out.entry.node));
      }
      const absolutePath = workspace.absolute(resolved);
      return workspace.exists(absolutePath) ? [location(analyzer, absolutePath, 0, 0)] : null;
    }
    case 'param': {
      const folder =
        target.model.instances.find((instance) => instance.definition === target.definition)?.wdir ??
        target.model.folder;
      const file = workspace.absolute(joinPath(folder, target.file ?? 'params.yaml'));
      const data = workspace.dataFile(file);
      if (!data) return null;
      return [
        nodeLocation(analyzer, file, target.key ? keyNodeAt(data.parsed?.root ?? null, target.key.split('.')) : null),
      ];
    }
    case 'reference':
      return referenceDefinition(state, target.role, target.value, target.model);
    default:
      return null;
  }
}

function referenceDefinition(
  state: DocumentState,
  role: string,
  value: string,
  model: PipelineModel | null,
): Location[] | null {
  const analyzer = state.analyzer;
  const workspace = analyzer.workspace;
  const folder = specFolder(state);
  switch (role) {
    case 'stage': {
      const stage = model?.definitions.find((candidate) => candidate.name === value.split('@')[0]);
      return stage && model ? [nodeLocation(analyzer, model.file, stage.keyNode)] : null;
    }
    case 'pipeline-file':
    case 'experiment-file':
    case 'file':
    case 'folder': {
      const file = workspace.absolute(joinPath(folder, value));
      return workspace.exists(file) ? [location(analyzer, file, 0, 0)] : null;
    }
    case 'param-key': {
      if (!model) return null;
      const file = workspace.absolute(joinPath(model.folder, 'params.yaml'));
      const data = workspace.dataFile(file);
      return data ? [nodeLocation(analyzer, file, keyNodeAt(data.parsed?.root ?? null, value.split('.')))] : null;
    }
    case 'metric': {
      if (!model) return null;
      return knownMetrics(workspace, model)
        .metrics.filter((metric) => metric.name === value || metric.name.endsWith(`.${value}`))
        .slice(0, 5)
        .map((metric) => {
          const file = workspace.absolute(metric.file);
          const data = workspace.dataFile(file);
          return nodeLocation(analyzer, file, keyNodeAt(data?.parsed?.root ?? null, metric.name.split('.')));
        });
    }
    case 'model':
    case 'dataset': {
      const name = value.split(/[@:]/)[0];
      const entries = declaredEntries(analyzer.pipelines(), role === 'model' ? 'models' : 'datasets').filter(
        (entry) => entry.name === name,
      );
      return entries.length ? entries.map((entry) => nodeLocation(analyzer, entry.file, entry.keyNode)) : null;
    }
    case 'alert': {
      const alerts = mapGet(mapGet(state.parsed?.root ?? null, 'monitoring'), 'alerts');
      const found: Location[] = [];
      visit(alerts, {
        Pair(_key, pair) {
          if (scalarString(pair.key) === 'name' && scalarString(pair.value) === value)
            found.push(nodeLocation(analyzer, state.file, pair.value as YamlNode));
        },
      });
      return found;
    }
    default:
      return null;
  }
}

/** A rename or reference hit: a file and an offset range. */
interface Hit {
  file: string;
  start: number;
  end: number;
}

/** Everything that refers to a stage: its key and the experiment and model references to it. */
function stageHits(analyzer: Analyzer, model: PipelineModel, name: string): Hit[] {
  const hits: Hit[] = [];
  const definition = model.definitions.find((candidate) => candidate.name === name);
  if (definition?.keyNode.range)
    hits.push({ file: model.file, start: definition.keyNode.range[0], end: definition.keyNode.range[1] });
  for (const entry of model.models) {
    const stage = mapGet(entry.value, 'stage');
    if (scalarString(stage) === name && stage?.range)
      hits.push({ file: model.file, start: stage.range[0], end: stage.range[1] });
  }
  for (const file of analyzer.workspace.specs('experiment')) {
    const root = analyzer.workspace.parse(file)?.root ?? null;
    if (analyzer.workspace.absolute(experimentPipelinePath(analyzer.workspace, file, root).path) !== model.file)
      continue;
    const references = [
      ...stringItems(mapGet(root, 'stages')),
      ...stringItems(mapGet(mapGet(root, 'objective'), 'stage')),
      ...stringItems(mapGet(mapGet(root, 'holdout'), 'stage')),
    ];
    for (const reference of references) {
      if (reference.value === name && reference.node.range)
        hits.push({ file, start: reference.node.range[0], end: reference.node.range[1] });
    }
  }
  return hits;
}

/** Everything that uses a param key of a params file: `${...}`, stage params, search spaces. */
function paramHits(analyzer: Analyzer, paramsFile: string, key: string, includeDefinition: boolean): Hit[] {
  const hits: Hit[] = [];
  const workspace = analyzer.workspace;
  const data = workspace.dataFile(paramsFile);
  if (includeDefinition && data) {
    const node = keyNodeAt(data.parsed?.root ?? null, key.split('.'));
    if (node?.range) hits.push({ file: paramsFile, start: node.range[0], end: node.range[1] });
  }
  const matches = (expression: string): boolean =>
    expression === key || expression.startsWith(`${key}.`) || expression.startsWith(`${key}[`);
  for (const model of analyzer.pipelines()) {
    const readsFile = model.sources.some((source) => source.file === paramsFile);
    if (readsFile) {
      const text = model.parsed.text;
      visit(mapGet(model.parsed.root, 'stages'), {
        Scalar(_key, node) {
          if (typeof node.value !== 'string' || !node.value.includes('${') || !node.range) return;
          for (const reference of findInterpolations(text.slice(node.range[0], node.range[1]), node.range[0])) {
            if (!matches(reference.expression)) continue;
            const start = text.indexOf(key, reference.start);
            hits.push({ file: model.file, start, end: start + key.length });
          }
        },
      });
    }
    for (const instance of model.instances) {
      for (const entry of instance.definition.params) {
        if (entry.key === null || !matches(entry.key)) continue;
        if (
          workspace.absolute(joinPath(instance.wdir, entry.file ?? 'params.yaml')) !== paramsFile ||
          !entry.node.range
        )
          continue;
        const hit = { file: model.file, start: entry.node.range[0], end: entry.node.range[0] + key.length };
        if (!hits.some((other) => other.file === hit.file && other.start === hit.start)) hits.push(hit);
      }
    }
  }
  for (const file of workspace.specs('experiment')) {
    const root = workspace.parse(file)?.root ?? null;
    const pipelinePath = experimentPipelinePath(workspace, file, root).path;
    if (workspace.absolute(joinPath(path.posix.dirname(pipelinePath), 'params.yaml')) !== paramsFile) continue;
    const space = mapGet(mapGet(root, 'search'), 'space');
    visit(space, {
      Pair(_key, pair) {
        const name = scalarString(pair.key);
        if (name !== null && matches(name) && isScalar(pair.key) && pair.key.range)
          hits.push({ file, start: pair.key.range[0], end: pair.key.range[0] + key.length });
        return visit.SKIP;
      },
    });
  }
  return hits;
}

/** The params file and key that the cursor is on, if any. */
function paramAt(
  state: DocumentState,
  offset: number,
): { file: string; key: string; start: number; end: number } | null {
  const target = targetAt(state, offset);
  const workspace = state.analyzer.workspace;
  if (target.kind === 'params-key' && target.node.range)
    return { file: state.file, key: target.key, start: target.node.range[0], end: target.node.range[1] };
  if (target.kind === 'interpolation') {
    const origin = definitionOf(target.model, target.expression);
    if (!origin || origin.source.file === state.file) return null;
    // The key is the part of the expression up to the segment under the cursor.
    const inner = target.start + 2;
    const expression = target.expression;
    const segmentEnd = expression.indexOf('.', Math.max(0, offset - inner));
    const key = segmentEnd === -1 ? expression : expression.slice(0, segmentEnd);
    const segmentStart = key.lastIndexOf('.') + 1;
    return { file: origin.source.file, key, start: inner + segmentStart, end: inner + key.length };
  }
  if (target.kind === 'param' && target.node.range) {
    const folder =
      target.model.instances.find((instance) => instance.definition === target.definition)?.wdir ?? target.model.folder;
    const start = target.node.range[0];
    return {
      file: workspace.absolute(joinPath(folder, target.file ?? 'params.yaml')),
      key: target.key,
      start: start + target.key.lastIndexOf('.') + 1,
      end: start + target.key.length,
    };
  }
  if (target.kind === 'reference' && target.role === 'param-key' && target.model && target.node.range) {
    const start = target.node.range[0];
    return {
      file: workspace.absolute(joinPath(target.model.folder, 'params.yaml')),
      key: target.value,
      start: start + target.value.lastIndexOf('.') + 1,
      end: start + target.value.length,
    };
  }
  return null;
}

export function references(session: Session, params: ReferenceParams): Location[] | null {
  const state = session.document(params.textDocument.uri);
  if (!state) return null;
  const analyzer = state.analyzer;
  const offset = state.offset(params.position);
  const include = params.context.includeDeclaration;
  const param = paramAt(state, offset);
  if (param)
    return paramHits(analyzer, param.file, param.key, include).map((hit) =>
      location(analyzer, hit.file, hit.start, hit.end),
    );
  const target = targetAt(state, offset);
  const graph = analyzer.graph();
  if (target.kind === 'stage') {
    const mine = new Set(target.model.instances.filter((instance) => instance.definition === target.definition));
    const hits: Location[] = include ? [nodeLocation(analyzer, target.model.file, target.definition.keyNode)] : [];
    for (const instance of mine) {
      for (const consumer of graph.downstream.get(instance) ?? []) {
        for (const dep of consumer.deps) {
          if (
            dep.path &&
            instance.outs.some(
              (out) =>
                out.path &&
                (out.path === dep.path || dep.path?.startsWith(`${out.path}/`) || out.path.startsWith(`${dep.path}/`)),
            )
          )
            hits.push(nodeLocation(analyzer, consumer.file, dep.entry.node));
        }
      }
    }
    for (const hit of stageHits(analyzer, target.model, target.definition.name))
      if (hit.file !== target.model.file || include) hits.push(location(analyzer, hit.file, hit.start, hit.end));
    return dedupe(hits);
  }
  if (target.kind === 'path') {
    const instance = target.model.instances.find((candidate) => candidate.definition === target.definition);
    const resolved = instance
      ? [...instance.deps, ...instance.outs].find((entry) => entry.entry === target.entry)?.path
      : null;
    if (!resolved) return null;
    const hits: Location[] = include ? [nodeLocation(analyzer, target.model.file, target.entry.node)] : [];
    for (const other of graph.instances) {
      for (const dep of other.deps)
        if (dep.path === resolved && dep.entry !== target.entry)
          hits.push(nodeLocation(analyzer, other.file, dep.entry.node));
    }
    return dedupe(hits);
  }
  return null;
}

function dedupe(locations: Location[]): Location[] {
  const seen = new Set<string>();
  return locations.filter((entry) => {
    const key = `${entry.uri}:${entry.range.start.line}:${entry.range.start.character}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function prepareRename(
  session: Session,
  params: PrepareRenameParams,
): { range: Range; placeholder: string } | null {
  const state = session.document(params.textDocument.uri);
  if (!state) return null;
  const offset = state.offset(params.position);
  const param = paramAt(state, offset);
  if (param) {
    const name = param.key.split('.').pop() ?? param.key;
    return { range: state.lines.range(param.start, param.end), placeholder: name };
  }
  const target = targetAt(state, offset);
  if (target.kind === 'stage' && target.definition.keyNode.range) {
    return {
      range: state.lines.range(target.definition.keyNode.range[0], target.definition.keyNode.range[1]),
      placeholder: target.definition.name,
    };
  }
  if (target.kind === 'reference' && target.role === 'stage' && target.node.range)
    return { range: state.lines.range(target.node.range[0], target.node.range[1]), placeholder: target.value };
  throw new ResponseError(LSPErrorCodes.RequestFailed, 'Only a stage name or a param key can be renamed here.');
}

export function rename(session: Session, params: RenameParams): WorkspaceEdit | null {
  const state = session.document(params.textDocument.uri);
  if (!state) return null;
  const analyzer = state.analyzer;
  const offset = state.offset(params.position);
  const newName = params.newName.trim();
  if (!/^[\w-]+$/.test(newName))
    throw new ResponseError(
      LSPErrorCodes.RequestFailed,
      `'${params.newName}' is not a valid name: use letters, digits, '_' and '-'.`,
    );
  let hits: Hit[];
  let oldName: string;
  const param = paramAt(state, offset);
  if (param) {
    oldName = param.key.split('.').pop() ?? param.key;
    hits = paramHits(analyzer, param.file, param.key, true).map((hit) => ({
      file: hit.file,
      start: hit.end - oldName.length,
      end: hit.end,
    }));
  } else {
    const target = targetAt(state, offset);
    const model =
      target.kind === 'stage' || (target.kind === 'reference' && target.role === 'stage') ? target.model : null;
    const name = target.kind === 'stage' ? target.definition.name : target.kind === 'reference' ? target.value : null;
    if (!model || !name) return null;
    oldName = name;
    hits = stageHits(analyzer, model, name);
  }
  const changes: Record<string, TextEdit[]> = {};
  for (const hit of hits) {
    const text = analyzer.workspace.text(hit.file) ?? '';
    if (text.slice(hit.start, hit.end) !== oldName) continue;
    const lines = new LineIndex(text);
    const uri = URI.file(hit.file).toString();
    (changes[uri] ??= []).push({ range: lines.range(hit.start, hit.end), newText: newName });
  }
  return { changes };
}
