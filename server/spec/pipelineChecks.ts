// The meaning of a pipeline: references, params, deps, outs, cycles and paths. Errors for what
// would fail at run time, warnings for likely mistakes that depend on files outside the spec.
import * as path from 'node:path';
import { isMap, isScalar, isSeq, visit } from 'yaml';
import type { Scalar } from 'yaml';
import { cycles, producersOf } from './graph';
import type { StageGraph } from './graph';
import { findInterpolations, flattenKeys, lookup } from './interpolate';
import { mapGet, scalarString } from './parse';
import type { YamlNode } from './parse';
import { isRecord } from './pipeline';
import type { PipelineModel, StageDefinition, StageInstance } from './pipeline';
import type { AnchoredProblem } from './problems';
import { closest, listNames } from './suggest';
import { escapesWorkspace, joinPath } from './workspace';
import type { Workspace } from './workspace';

/** Checks the meaning of one pipeline against the workspace-wide stage graph. */
export function checkPipeline(workspace: Workspace, model: PipelineModel, graph: StageGraph): AnchoredProblem[] {
  const problems: AnchoredProblem[] = [...model.problems];
  const byDefinition = new Map<StageDefinition, StageInstance[]>();
  for (const instance of model.instances) {
    const list = byDefinition.get(instance.definition);
    if (list) list.push(instance);
    else byDefinition.set(instance.definition, [instance]);
  }
  // A pipeline in a subfolder whose paths start with that folder was likely written from the root.
  const prefix = `${model.folder}/`;
  const rootRelative =
    model.folder !== '' &&
    model.folder !== '.' &&
    model.definitions.some((definition) =>
      [...definition.deps, ...definition.outs].some((entry) => entry.raw.startsWith(prefix)),
    );
  for (const definition of model.definitions) {
    const instances = model.expansions.get(definition)?.instances ?? [];
    problems.push(...definitionProblems(workspace, model, definition, instances));
    checkPaths(workspace, definition, instances, graph, rootRelative, problems);
  }
  checkCycles(model, graph, problems);
  checkModels(workspace, model, graph, problems);
  return problems;
}

const definitionProblemCache = new WeakMap<StageInstance[], AnchoredProblem[]>();

/**
 * The checks that depend only on one stage and the context: cached by the stage's instances,
 * which the model reuses while the stage's text, vars and the data files are unchanged.
 */
function definitionProblems(
  workspace: Workspace,
  model: PipelineModel,
  definition: StageDefinition,
  instances: StageInstance[],
): AnchoredProblem[] {
  let cached = definitionProblemCache.get(instances);
  if (!cached) {
    cached = [];
    checkReferences(model, definition, instances, cached);
    checkParams(workspace, model, definition, instances, cached);
    definitionProblemCache.set(instances, cached);
  }
  return cached;
}

/** Every `${...}` in a stage must name a key of params.yaml, vars, or the foreach item. */
function checkReferences(
  model: PipelineModel,
  definition: StageDefinition,
  instances: StageInstance[],
  problems: AnchoredProblem[],
): void {
  const body = definition.pair.value as YamlNode | null;
  if (!body) return;
  const text = model.parsed.text;
  const contexts = instances.length > 0 ? instances.slice(0, 50).map((instance) => instance.context) : null;
  const loopUnknown = definition.form !== 'plain' && instances.length === 0;
  forEachInterpolatedScalar(body, (node) => {
    if (!node.range) return;
    const source = text.slice(node.range[0], node.range[1]);
    for (const reference of findInterpolations(source, node.range[0])) {
      const head = reference.expression.split(/[.[]/)[0] ?? '';
      if (head === 'item' || head === 'key') {
        if (definition.form === 'plain') {
          problems.push({
            severity: 'error',
            code: 'ref-loop-outside',
            message: `'\${${reference.expression}}' refers to the loop variable '${head}', which exists only in foreach and matrix stages.`,
            anchor: insideNode(node, reference.start, reference.end),
          });
          continue;
        }
        if (loopUnknown) continue;
      }
      if (!model.contextComplete && head !== 'item' && head !== 'key') continue;
      const candidates = contexts ?? [model.context];
      if (candidates.some((context) => context.lookup(reference.expression).found)) continue;
      const known = flattenKeys((candidates[0] ?? model.context).merged());
      const suggestion = closest(reference.expression, known);
      const where =
        model.sources.length > 0 ? 'params.yaml or vars' : 'vars (and there is no params.yaml next to this pipeline)';
      const problem: AnchoredProblem = {
        severity: 'error',
        code: 'ref-undefined',
        message: `'\${${reference.expression}}' is not defined in ${where}.${suggestion ? ` Did you mean '${suggestion}'?` : known.length ? ` Known keys: ${listNames(known, 6)}.` : ''}`,
        anchor: insideNode(node, reference.start + 2, reference.end - 1),
      };
      if (suggestion) problem.fix = { kind: 'replace', replacement: suggestion };
      problems.push(problem);
    }
  });
}

/** Calls `visit` for every string scalar under `node` that holds a `${`. */
export function forEachInterpolatedScalar(node: unknown, visit: (scalar: Scalar) => void, depth = 0): void {
  if (depth > 100 || node === null || node === undefined) return;
  if (isScalar(node)) {
    if (typeof node.value === 'string' && node.value.includes('${')) visit(node);
  } else if (isMap(node)) {
    for (const pair of node.items) {
      forEachInterpolatedScalar(pair.key, visit, depth + 1);
      forEachInterpolatedScalar(pair.value, visit, depth + 1);
    }
  } else if (isSeq(node)) {
    for (const item of node.items) forEachInterpolatedScalar(item, visit, depth + 1);
  }
}

/** A stand-in anchor for a range inside a scalar. */
function rangeNode(start: number, end: number): { range: [number, number, number] } {
  return { range: [start, end, end] };
}

/** An anchor for part of a scalar that follows the scalar when an edit above moves it. */
function insideNode(
  node: { range?: [number, number, number] | null },
  start: number,
  end: number,
): { readonly range: [number, number, number] } {
  const base = node.range?.[0] ?? 0;
  return {
    get range(): [number, number, number] {
      const shift = (node.range?.[0] ?? base) - base;
      return [start + shift, end + shift, end + shift];
    },
  };
}

/** Stage params must exist in their params file. */
function checkParams(
  workspace: Workspace,
  model: PipelineModel,
  definition: StageDefinition,
  instances: StageInstance[],
  problems: AnchoredProblem[],
): void {
  const wdir = instances[0]?.wdir ?? joinPath(model.folder, scalarString(definition.wdir) ?? '.');
  for (const entry of definition.params) {
    if ((entry.key ?? '').includes('${') || (entry.file ?? '').includes('${')) continue;
    const fileName = entry.file ?? 'params.yaml';
    const relativePath = joinPath(wdir, fileName);
    if (escapesWorkspace(relativePath)) {
      problems.push({
        severity: 'error',
        code: 'path-escapes',
        message: `The params file '${fileName}' resolves to '${relativePath}', outside the workspace. Keep params files inside the workspace.`,
        anchor: entry.node,
      });
      continue;
    }
    const absolutePath = workspace.absolute(relativePath);
    if (!/\.(ya?ml|json)$/.test(fileName)) {
      if (!workspace.exists(absolutePath)) problems.push(missingParamsFile(fileName, relativePath, entry.node));
      continue;
    }
    const data = workspace.dataFile(absolutePath);
    if (!data) {
      problems.push(missingParamsFile(fileName, relativePath, entry.node));
      continue;
    }
    if (entry.key === null || entry.key.includes('*')) continue;
    if (!isRecord(data.value) || !lookup(data.value, entry.key).found) {
      const known = flattenKeys(data.value);
      const suggestion = closest(entry.key, known);
      const problem: AnchoredProblem = {
        severity: 'error',
        code: 'param-missing',
        message: `The param '${entry.key}' is missing from ${relativePath}.${suggestion ? ` Did you mean '${suggestion}'?` : ` Add it to ${fileName}.`}`,
        anchor: entry.node,
        fix: suggestion
          ? { kind: 'replace', replacement: suggestion }
          : { kind: 'addParam', paramsFile: relativePath, key: entry.key },
      };
      problems.push(problem);
    }
  }
}

function missingParamsFile(fileName: string, relativePath: string, node: Scalar): AnchoredProblem {
  return {
    severity: 'warning',
    code: 'params-file-missing',
    message: `The params file '${fileName}' does not exist (looked for ${relativePath}).`,
    anchor: node,
    fix: { kind: 'createFile', path: relativePath },
  };
}

/** Deps must be produced or present; outs must be unique, not overlap, and not be deps. */
function checkPaths(
  workspace: Workspace,
  definition: StageDefinition,
  instances: StageInstance[],
  graph: StageGraph,
  rootRelative: boolean,
  problems: AnchoredProblem[],
): void {
  const reported = new Set<unknown>();
  const once = (node: unknown, problem: AnchoredProblem): void => {
    if (reported.has(node)) return;
    reported.add(node);
    problems.push(problem);
  };
  if (definition.wdir && instances[0] && escapesWorkspace(instances[0].wdir)) {
    once(definition.wdir, {
      severity: 'error',
      code: 'path-escapes',
      message: `wdir resolves to '${instances[0].wdir}', outside the workspace. Cairn runs stages only inside the workspace.`,
      anchor: definition.wdir,
    });
  }
  for (const instance of instances) {
    const depPaths = new Set<string>();
    for (const dep of instance.deps) {
      if (dep.path === null) continue;
      depPaths.add(dep.path);
      if (reported.has(dep.entry.node)) continue;
      if (escapesWorkspace(dep.path)) {
        once(dep.entry.node, {
          severity: 'error',
          code: 'path-escapes',
          message: `The dep '${dep.entry.raw}' resolves to '${dep.path}', outside the workspace.`,
          anchor: dep.entry.node,
        });
        continue;
      }
      if (producersOf(graph, dep.path).length > 0) continue;
      const absolutePath = workspace.absolute(dep.path);
      if (workspace.exists(absolutePath) || workspace.exists(`${absolutePath}.dvc`)) continue;
      once(dep.entry.node, {
        severity: 'warning',
        code: 'dep-missing',
        message: `'${dep.path}' is not produced by any stage and does not exist on disk.${relativePathHint(workspace, instance, dep.entry.raw, rootRelative)} Create it, pull it (dvc pull), or add a stage that outputs it.`,
        anchor: dep.entry.node,
        fix: { kind: 'createStage', path: dep.path },
      });
    }
    const seen = new Set<string>();
    for (const out of instance.outs) {
      if (out.path === null || reported.has(out.entry.node)) continue;
      if (escapesWorkspace(out.path)) {
        once(out.entry.node, {
          severity: 'error',
          code: 'path-escapes',
          message: `The output '${out.entry.raw}' resolves to '${out.path}', outside the workspace.`,
          anchor: out.entry.node,
        });
        continue;
      }
      if (seen.has(out.path)) {
        once(out.entry.node, {
          severity: 'error',
          code: 'out-duplicate',
          message: `'${out.path}' is listed twice as an output of this stage.`,
          anchor: out.entry.node,
          fix: { kind: 'removeItem' },
        });
        continue;
      }
      seen.add(out.path);
      if (depPaths.has(out.path)) {
        once(out.entry.node, {
          severity: 'error',
          code: 'out-is-dep',
          message: `'${out.path}' is both a dep and an output of stage '${instance.name}': a stage cannot depend on what it produces. Remove it from deps, or write to a new path.`,
          anchor: out.entry.node,
        });
      }
      const others = (graph.producers.get(out.path) ?? []).filter((producer) => producer.instance !== instance);
      if (others.length > 0) {
        const first = others[0] as { instance: StageInstance };
        const where = first.instance.file === instance.file ? '' : ` in ${workspace.relative(first.instance.file)}`;
        once(out.entry.node, {
          severity: 'error',
          code: 'out-duplicate',
          message: `'${out.path}' is also an output of stage '${first.instance.name}'${where}. An output can have only one producing stage.`,
          anchor: out.entry.node,
          fix: { kind: 'removeItem' },
        });
        continue;
      }
      for (
        let folder = path.posix.dirname(out.path);
        folder !== '.' && folder !== '/';
        folder = path.posix.dirname(folder)
      ) {
        const holder = (graph.producers.get(folder) ?? []).find((producer) => producer.instance !== instance);
        if (holder) {
          once(out.entry.node, {
            severity: 'error',
            code: 'out-overlap',
            message: `'${out.path}' lies inside '${folder}', an output of stage '${holder.instance.name}'. Outputs must not overlap.`,
            anchor: out.entry.node,
          });
          break;
        }
      }
    }
  }
}

/**
 * A hint for a path written relative to the repository root in a pipeline that lives in a
 * subfolder (`models/x.pt` in models/dvc.yaml), a common mistake: DVC resolves it against the
 * stage's wdir, which is the pipeline's folder.
 */
function relativePathHint(workspace: Workspace, instance: StageInstance, raw: string, rootRelative: boolean): string {
  if (instance.wdir === '.' || raw.startsWith('.') || raw.includes('${')) return '';
  const folder = instance.wdir;
  const fromRoot = joinPath(raw);
  const withinFolder = fromRoot.startsWith(`${folder}/`) ? fromRoot.slice(folder.length + 1) : null;
  if (withinFolder !== null)
    return ` Paths here are relative to ${folder}/, so this looks for ${folder}/${fromRoot}: did you mean '${withinFolder}'?`;
  const fromFolder = path.posix.relative(folder, fromRoot);
  if (workspace.exists(workspace.absolute(fromRoot)))
    return ` Paths here are relative to ${folder}/; '${fromRoot}' exists at the workspace root: did you mean '${fromFolder}'?`;
  if (rootRelative)
    return ` Other paths in this pipeline start with '${folder}/' as if written from the repository root, but DVC resolves them from ${folder}/; if this one is too, write '${fromFolder}'.`;
  return '';
}

/** Cycles in the stage graph, shown as the loop they form. */
function checkCycles(model: PipelineModel, graph: StageGraph, problems: AnchoredProblem[]): void {
  for (const component of cycles(graph)) {
    const members = new Set(component);
    const reported = new Set<StageDefinition>();
    for (const instance of component) {
      if (instance.file !== model.file || reported.has(instance.definition)) continue;
      reported.add(instance.definition);
      // Each stage in the loop is told the cycle starting from itself.
      const loop = cyclePath(instance, members, graph);
      const names = [...loop, loop[0] as StageInstance].map((member) => member.name).join(' → ');
      problems.push({
        severity: 'error',
        code: 'cycle',
        message: `Dependency cycle: ${names}. Each stage needs an output of the next; break the loop by removing one dep.`,
        anchor: instance.definition.keyNode,
      });
    }
  }
}

/** A path that goes once around a cycle, following produced-by edges. */
function cyclePath(start: StageInstance, members: Set<StageInstance>, graph: StageGraph): StageInstance[] {
  const previous = new Map<StageInstance, StageInstance>();
  const queue = [start];
  while (queue.length > 0) {
    const current = queue.shift() as StageInstance;
    for (const next of graph.downstream.get(current) ?? []) {
      if (!members.has(next)) continue;
      if (next === start) {
        const loop = [current];
        for (let step = previous.get(current); step; step = previous.get(step)) loop.push(step);
        return loop.reverse();
      }
      if (!previous.has(next)) {
        previous.set(next, current);
        queue.push(next);
      }
    }
  }
  return [start];
}

/** Cairn's models section: the artifact must be produced by a stage, the stage must exist. */
function checkModels(workspace: Workspace, model: PipelineModel, graph: StageGraph, problems: AnchoredProblem[]): void {
  const stageNames = model.definitions.map((definition) => definition.name);
  for (const entry of model.models) {
    const artifact = mapGet(entry.value, 'artifact');
    const artifactPath = scalarString(artifact);
    if (artifact && artifactPath) {
      const resolved = joinPath(model.folder, artifactPath);
      if (escapesWorkspace(resolved)) {
        problems.push({
          severity: 'error',
          code: 'path-escapes',
          message: `The artifact '${artifactPath}' is outside the workspace.`,
          anchor: artifact,
        });
      } else if (producersOf(graph, resolved).length === 0 && !workspace.exists(workspace.absolute(resolved))) {
        problems.push({
          severity: 'error',
          code: 'model-artifact-unknown',
          message: `No stage outputs '${resolved}', so model '${entry.name}' has nothing to register. List it under a stage's outs.`,
          anchor: artifact,
          fix: { kind: 'createStage', path: resolved },
        });
      }
    }
    const stage = mapGet(entry.value, 'stage');
    const stageName = scalarString(stage);
    if (stage && stageName && !stageNames.includes(stageName))
      problems.push(unknownStage(stageName, stage, stageNames));
  }
}

/** A reference to a stage that does not exist, with a suggestion. */
export function unknownStage(name: string, node: YamlNode, known: readonly string[]): AnchoredProblem {
  const suggestion = closest(name, known);
  const problem: AnchoredProblem = {
    severity: 'error',
    code: 'stage-unknown',
    message: `There is no stage '${name}'.${suggestion ? ` Did you mean '${suggestion}'?` : known.length ? ` Stages: ${listNames(known)}.` : ''}`,
    anchor: node,
  };
  if (suggestion) problem.fix = { kind: 'replace', replacement: suggestion };
  return problem;
}

/** Tabs outside quoted and block scalars: PyYAML (which DVC uses) rejects them. */
export function checkTabs(text: string, root: YamlNode | null, problems: AnchoredProblem[]): void {
  let index = text.indexOf('\t');
  if (index === -1) return;
  const safe: [number, number][] = [];
  visit(root, {
    Scalar(_key, node) {
      if (node.range && node.type !== 'PLAIN') safe.push([node.range[0], node.range[1]]);
    },
  });
  while (index !== -1) {
    const at = index;
    const lineStart = text.lastIndexOf('\n', at) + 1;
    const line = text.slice(lineStart, text.indexOf('\n', at) === -1 ? text.length : text.indexOf('\n', at));
    const inComment = /(^|\s)#/.test(text.slice(lineStart, at));
    const inScalar = safe.some(([start, end]) => at >= start && at < end);
    const leading = line.slice(0, at - lineStart).trim() === '';
    if (!inComment && !inScalar && !leading) {
      problems.push({
        severity: 'error',
        code: 'yaml-tab',
        message:
          'A tab character here: DVC reads YAML with PyYAML, which rejects tabs outside quoted strings ("found character \'\\t\' that cannot start any token"). Replace it with a space or remove it.',
        anchor: rangeNode(at, at + 1),
        fix: { kind: 'replace', replacement: '' },
      });
    }
    index = text.indexOf('\t', at + 1);
  }
}

/** Names of every stage definition in a model, for completion and suggestions. */
export function stageNames(model: PipelineModel): string[] {
  return model.definitions.map((definition) => definition.name);
}
