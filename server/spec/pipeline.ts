// The pipeline model: stages read from a parsed pipeline file, their interpolation context, and
// their instances (foreach and matrix expanded as DVC does, `name@key`) with workspace-relative
// dep and out paths. Pure functions of the parse and of the data files the workspace provides.
import * as path from 'node:path';
import { isMap, isScalar, isSeq } from 'yaml';
import type { Pair, Scalar, YAMLMap } from 'yaml';
import { mapGet, mapPair, nodeValue, scalarString } from './parse';
import type { ParsedDocument, YamlNode } from './parse';
import { findInterpolations, interpolate, lookup, Scope } from './interpolate';
import type { AnchoredProblem } from './problems';
import { joinPath } from './workspace';
import type { Workspace } from './workspace';

export type PathKind = 'deps' | 'outs' | 'metrics' | 'plots';

/** A path listed in a stage (a dep or an out), as written. */
export interface PathEntry {
  kind: PathKind;
  node: Scalar;
  raw: string;
  /** The list item that holds it (removed by the "remove duplicate out" fix). */
  item: YamlNode;
  cache: boolean;
}

/** A params entry of a stage: `key`, `file: [key]` or `file:` (the whole file). */
export interface ParamEntry {
  node: Scalar;
  /** The params file as written (relative to wdir), or null for the default params.yaml. */
  file: string | null;
  key: string | null;
}

/** One stage as declared, before foreach/matrix expansion. */
export interface StageDefinition {
  name: string;
  pair: Pair;
  keyNode: Scalar;
  /** The stage body: the stage map, or its `do` map for a foreach stage. */
  body: YAMLMap | null;
  form: 'plain' | 'foreach' | 'matrix';
  loop: YamlNode | null;
  cmd: Scalar[];
  wdir: Scalar | null;
  deps: PathEntry[];
  outs: PathEntry[];
  params: ParamEntry[];
  vars: YamlNode | null;
}

/** A path of an instance, resolved against its context and wdir. */
export interface ResolvedPath {
  entry: PathEntry;
  /** Workspace-relative POSIX path, or null when an interpolation could not be resolved. */
  path: string | null;
  external: boolean;
}

/** A runnable stage: a plain stage, or one expansion of a foreach/matrix stage. */
export interface StageInstance {
  definition: StageDefinition;
  name: string;
  file: string;
  context: Scope;
  wdir: string;
  deps: ResolvedPath[];
  outs: ResolvedPath[];
}

/** Where part of the interpolation context comes from. */
export interface ContextSource {
  /** Absolute path of the file holding the values. */
  file: string;
  value: Record<string, unknown>;
  /** The node holding the values (a params file root or an inline vars map). */
  node: YamlNode | null;
}

/** A Cairn dataset or model declared in a pipeline. */
export interface NamedEntry {
  name: string;
  keyNode: Scalar;
  value: YamlNode | null;
}

export interface PipelineModel {
  file: string;
  /** The pipeline file's folder, workspace-relative. */
  folder: string;
  parsed: ParsedDocument;
  definitions: StageDefinition[];
  instances: StageInstance[];
  /** Each definition's instances; reused by the next model while the definition is unchanged. */
  expansions: Map<StageDefinition, Expansion>;
  context: Scope;
  sources: ContextSource[];
  /** False when a vars file could not be read, so unknown references are not reported. */
  contextComplete: boolean;
  contextProblems: AnchoredProblem[];
  /** The `vars` node and the data generation the context was built from. */
  varsNode: YamlNode | null;
  generation: number;
  datasets: NamedEntry[];
  models: NamedEntry[];
  problems: AnchoredProblem[];
}

const definitionCache = new WeakMap<Pair, StageDefinition>();
const MAX_INSTANCES_PER_STAGE = 10000;

/** One definition's instances and the problems met while expanding it. */
export interface Expansion {
  instances: StageInstance[];
  problems: AnchoredProblem[];
}

/**
 * Builds the model of a pipeline file. With the previous model of the same file, the context is
 * reused while `vars` and the data files are unchanged, and so are the instances of every stage
 * whose definition did not change: an edit to one stage re-expands only that stage.
 */
export function pipelineModel(
  workspace: Workspace,
  file: string,
  parsed: ParsedDocument,
  previous: PipelineModel | null = null,
): PipelineModel {
  const folder = workspace.relative(path.dirname(file));
  const root = parsed.root;
  const varsNode = mapGet(root, 'vars');
  const reuse = previous !== null && previous.varsNode === varsNode && previous.generation === workspace.dataGeneration;
  const contextProblems: AnchoredProblem[] = reuse ? previous.contextProblems : [];
  const { context, sources, complete } = reuse
    ? { context: previous.context, sources: previous.sources, complete: previous.contextComplete }
    : globalContext(workspace, file, folder, root, contextProblems);
  const definitions: StageDefinition[] = [];
  const stages = mapGet(root, 'stages');
  if (isMap(stages)) {
    for (const pair of stages.items) {
      let definition = definitionCache.get(pair as Pair);
      if (!definition) {
        const made = stageDefinition(pair as Pair);
        if (!made) continue;
        definition = made;
        definitionCache.set(pair as Pair, definition);
      }
      definitions.push(definition);
    }
  }
  const expansions = new Map<StageDefinition, Expansion>();
  const instances: StageInstance[] = [];
  const problems = [...contextProblems];
  for (const definition of definitions) {
    let expansion = reuse ? previous.expansions.get(definition) : undefined;
    if (!expansion) {
      const expansionProblems: AnchoredProblem[] = [];
      expansion = {
        instances: expand(workspace, file, folder, definition, context, complete, expansionProblems),
        problems: expansionProblems,
      };
    }
    expansions.set(definition, expansion);
    instances.push(...expansion.instances);
    problems.push(...expansion.problems);
  }
  return {
    file,
    folder,
    parsed,
    definitions,
    instances,
    expansions,
    context,
    sources,
    contextComplete: complete,
    contextProblems,
    varsNode,
    generation: workspace.dataGeneration,
    datasets: namedEntries(mapGet(root, 'datasets')),
    models: namedEntries(mapGet(root, 'models')),
    problems,
  };
}

function namedEntries(node: YamlNode | null): NamedEntry[] {
  if (!isMap(node)) return [];
  const entries: NamedEntry[] = [];
  for (const pair of node.items) {
    if (isScalar(pair.key))
      entries.push({ name: String(pair.key.value), keyNode: pair.key, value: (pair.value as YamlNode | null) ?? null });
  }
  return entries;
}

/** Reads the vars files and params.yaml that make up the top-level interpolation context. */
function globalContext(
  workspace: Workspace,
  file: string,
  folder: string,
  root: YamlNode | null,
  problems: AnchoredProblem[],
): { context: Scope; sources: ContextSource[]; complete: boolean } {
  const sources: ContextSource[] = [];
  let complete = true;
  // DVC loads params.yaml next to dvc.yaml into the context by default.
  const defaultParams = workspace.absolute(joinPath(folder, 'params.yaml'));
  const defaults = workspace.dataFile(defaultParams);
  if (defaults && isRecord(defaults.value))
    sources.push({ file: defaultParams, value: defaults.value, node: defaults.parsed?.root ?? null });
  const vars = mapGet(root, 'vars');
  const entries = isSeq(vars) ? vars.items : vars ? [vars] : [];
  for (const entry of entries as (YamlNode | null)[]) {
    const loaded = varsEntry(workspace, file, folder, entry, problems);
    if (loaded === 'incomplete') complete = false;
    else if (loaded) sources.push(loaded);
  }
  return { context: new Scope(sources.map((source) => source.value)), sources, complete };
}

function varsEntry(
  workspace: Workspace,
  file: string,
  folder: string,
  entry: YamlNode | null,
  problems: AnchoredProblem[],
): ContextSource | 'incomplete' | null {
  if (isMap(entry)) {
    const value = nodeValue(entry);
    return isRecord(value) ? { file, value, node: entry } : null;
  }
  const raw = scalarString(entry);
  if (raw === null || !entry) return null;
  const [name = '', keyList] = raw.split(':');
  const relativePath = joinPath(folder, name);
  const absolutePath = workspace.absolute(relativePath);
  if (!/\.(ya?ml|json)$/.test(name)) return 'incomplete';
  const data = workspace.dataFile(absolutePath);
  if (!data) {
    if (!relativePath.startsWith('../')) {
      problems.push({
        severity: 'warning',
        code: 'vars-file-missing',
        message: `The vars file '${name}' does not exist (looked for ${relativePath}); references to its values cannot be checked.`,
        anchor: entry,
        fix: { kind: 'createFile', path: relativePath },
      });
    }
    return 'incomplete';
  }
  if (!isRecord(data.value)) return null;
  return { file: absolutePath, value: selectKeys(data.value, keyList), node: data.parsed?.root ?? null };
}

/** The values a vars entry `file:key1,key2` loads: only those keys; without a list, the whole file. */
function selectKeys(value: Record<string, unknown>, keyList: string | undefined): Record<string, unknown> {
  if (!keyList) return value;
  const selected: Record<string, unknown> = {};
  for (const key of keyList.split(',').map((part) => part.trim())) {
    const found = lookup(value, key);
    if (found.found) selected[key] = found.value;
  }
  return selected;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Reads a stage's declaration from its pair in `stages:`. */
function stageDefinition(pair: Pair): StageDefinition | null {
  if (!isScalar(pair.key)) return null;
  const stage = pair.value as YamlNode | null;
  const foreach = mapPair(stage, 'foreach');
  const matrix = mapPair(stage, 'matrix');
  const form = foreach ? 'foreach' : matrix ? 'matrix' : 'plain';
  const body = form === 'foreach' ? mapGet(stage, 'do') : stage;
  const definition: StageDefinition = {
    name: String(pair.key.value),
    pair,
    keyNode: pair.key,
    body: isMap(body) ? body : null,
    form,
    loop: ((foreach ?? matrix)?.value as YamlNode | null | undefined) ?? null,
    cmd: [],
    wdir: null,
    deps: [],
    outs: [],
    params: [],
    vars: mapGet(body, 'vars'),
  };
  if (!isMap(body)) return definition;
  const cmd = mapGet(body, 'cmd');
  if (isScalar(cmd)) definition.cmd.push(cmd);
  else if (isSeq(cmd)) for (const item of cmd.items) if (isScalar(item)) definition.cmd.push(item);
  const wdir = mapGet(body, 'wdir');
  if (isScalar(wdir)) definition.wdir = wdir;
  for (const kind of ['deps', 'outs', 'metrics', 'plots'] as const) {
    const list = mapGet(body, kind);
    if (!isSeq(list)) continue;
    for (const item of list.items as (YamlNode | null)[]) {
      const entry = pathEntry(kind, item);
      if (entry) (kind === 'deps' ? definition.deps : definition.outs).push(entry);
    }
  }
  const params = mapGet(body, 'params');
  if (isSeq(params)) {
    for (const item of params.items as (YamlNode | null)[]) {
      if (isScalar(item) && scalarString(item) !== null)
        definition.params.push({ node: item, file: null, key: String(item.value) });
      else if (isMap(item)) {
        for (const filePair of item.items) {
          if (!isScalar(filePair.key)) continue;
          const fileName = String(filePair.key.value);
          const keys = filePair.value as YamlNode | null;
          if (isSeq(keys) && keys.items.length > 0) {
            for (const key of keys.items)
              if (isScalar(key)) definition.params.push({ node: key, file: fileName, key: String(key.value) });
          } else definition.params.push({ node: filePair.key, file: fileName, key: null });
        }
      }
    }
  }
  return definition;
}

function pathEntry(kind: PathKind, item: YamlNode | null): PathEntry | null {
  if (!item) return null;
  if (isScalar(item)) {
    const raw = scalarString(item);
    return raw === null ? null : { kind, node: item, raw, item, cache: true };
  }
  if (isMap(item)) {
    const first = item.items[0];
    if (!first || !isScalar(first.key)) return null;
    const options = nodeValue(first.value);
    const cache = !(isRecord(options) && options['cache'] === false);
    return { kind, node: first.key, raw: String(first.key.value), item, cache };
  }
  return null;
}

/** Expands a definition into its instances. */
function expand(
  workspace: Workspace,
  file: string,
  folder: string,
  definition: StageDefinition,
  global: Scope,
  complete: boolean,
  problems: AnchoredProblem[],
): StageInstance[] {
  const stageContext = global.with(stageVars(workspace, folder, definition));
  if (definition.form === 'plain')
    return [instance(workspace, file, folder, definition, definition.name, stageContext)];
  const iterations =
    definition.form === 'foreach'
      ? foreachIterations(definition, stageContext, complete, problems)
      : matrixIterations(definition, stageContext, complete, problems);
  return iterations
    .slice(0, MAX_INSTANCES_PER_STAGE)
    .map(({ suffix, extra }) =>
      instance(workspace, file, folder, definition, `${definition.name}@${suffix}`, stageContext.with(extra)),
    );
}

function stageVars(workspace: Workspace, folder: string, definition: StageDefinition): Record<string, unknown> {
  const vars = definition.vars;
  const entries = isSeq(vars) ? vars.items : vars ? [vars] : [];
  const context: Record<string, unknown> = {};
  const wdir = scalarString(definition.wdir) ?? '.';
  for (const entry of entries as (YamlNode | null)[]) {
    if (isMap(entry)) Object.assign(context, nodeValue(entry));
    const raw = scalarString(entry);
    if (raw) {
      const [name = '', keyList] = raw.split(':');
      const data = workspace.dataFile(workspace.absolute(joinPath(folder, wdir, name)));
      if (data && isRecord(data.value)) Object.assign(context, selectKeys(data.value, keyList));
    }
  }
  return context;
}

interface Iteration {
  suffix: string;
  extra: Record<string, unknown>;
}

/** Resolves a loop value: a literal, or a `${...}` reference to one. Null when it cannot be known. */
function loopValue(node: YamlNode | null, context: Scope): { value: unknown; reference: string | null } | null {
  const raw = scalarString(node);
  if (raw !== null) {
    const references = findInterpolations(raw, 0);
    const only = references[0];
    if (references.length === 1 && only && only.start === 0 && only.end === raw.length) {
      const found = context.lookup(only.expression);
      return found.found ? { value: found.value, reference: only.expression } : null;
    }
    return { value: raw, reference: null };
  }
  return { value: nodeValue(node), reference: null };
}

function foreachIterations(
  definition: StageDefinition,
  context: Scope,
  complete: boolean,
  problems: AnchoredProblem[],
): Iteration[] {
  const resolved = loopValue(definition.loop, context);
  if (!resolved) return [];
  const { value, reference } = resolved;
  if (Array.isArray(value)) {
    const scalars = value.every((item) => item === null || typeof item !== 'object');
    return value.map((item, index) => ({ suffix: scalars ? String(item) : String(index), extra: { item } }));
  }
  if (isRecord(value)) return Object.entries(value).map(([key, item]) => ({ suffix: key, extra: { key, item } }));
  if (complete && definition.loop) {
    const what = reference ? `'\${${reference}}' is ${describe(value)}` : `This is ${describe(value)}`;
    problems.push({
      severity: 'error',
      code: 'foreach-invalid',
      message: `foreach needs a list or a mapping to iterate over, but ${what}.`,
      anchor: definition.loop,
    });
  }
  return [];
}

function matrixIterations(
  definition: StageDefinition,
  context: Scope,
  complete: boolean,
  problems: AnchoredProblem[],
): Iteration[] {
  const matrix = definition.loop;
  if (!isMap(matrix)) return [];
  let combinations: Iteration[] = [{ suffix: '', extra: { item: {} } }];
  for (const pair of matrix.items) {
    if (!isScalar(pair.key)) continue;
    const axis = String(pair.key.value);
    const resolved = loopValue(pair.value as YamlNode | null, context);
    if (!resolved) return [];
    if (!Array.isArray(resolved.value)) {
      if (complete)
        problems.push({
          severity: 'error',
          code: 'matrix-invalid',
          message: `The matrix axis '${axis}' must be a list of values, but it is ${describe(resolved.value)}.`,
          anchor: (pair.value as YamlNode | null) ?? pair.key,
        });
      return [];
    }
    const values = resolved.value;
    const next: Iteration[] = [];
    for (const combination of combinations) {
      values.forEach((value, index) => {
        const label = value !== null && typeof value === 'object' ? `${axis}${index}` : String(value);
        next.push({
          suffix: combination.suffix ? `${combination.suffix}-${label}` : label,
          extra: { item: { ...(combination.extra['item'] as Record<string, unknown>), [axis]: value } },
        });
      });
      if (next.length > MAX_INSTANCES_PER_STAGE) break;
    }
    combinations = next;
  }
  // DVC also offers `${key}`, the suffix that names the generated stage.
  return combinations.map((combination) => ({
    ...combination,
    extra: { ...combination.extra, key: combination.suffix },
  }));
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `the ${typeof value} ${JSON.stringify(value)}`;
}

function instance(
  workspace: Workspace,
  file: string,
  folder: string,
  definition: StageDefinition,
  name: string,
  context: Scope,
): StageInstance {
  const wdirRaw = scalarString(definition.wdir) ?? '.';
  const wdirText = interpolate(wdirRaw, context) ?? wdirRaw;
  const wdir = joinPath(folder, wdirText);
  const resolve = (entry: PathEntry): ResolvedPath => {
    const external = /^[a-z][a-z0-9+.-]*:\/\//i.test(entry.raw) || entry.raw.startsWith('remote://');
    if (external) return { entry, path: null, external };
    const text = interpolate(entry.raw, context);
    if (text === null) return { entry, path: null, external };
    // An absolute path stays absolute: relative to the workspace it starts with '..'.
    return { entry, path: path.isAbsolute(text) ? workspace.relative(text) : joinPath(wdir, text), external };
  };
  return {
    definition,
    name,
    file,
    context,
    wdir,
    deps: definition.deps.map(resolve),
    outs: definition.outs.map(resolve),
  };
}

/** Finds the key node that defines a dotted reference in the context sources (last one wins). */
export function definitionOf(
  model: PipelineModel,
  expression: string,
): { source: ContextSource; node: YamlNode | null } | null {
  for (let index = model.sources.length - 1; index >= 0; index--) {
    const source = model.sources[index];
    if (!source || !lookup(source.value, expression).found) continue;
    return { source, node: keyNodeAt(source.node, expression.split('.')) };
  }
  return null;
}

/** Walks a YAML tree by dotted keys and returns the key node of the last one. */
export function keyNodeAt(root: YamlNode | null, keys: string[]): YamlNode | null {
  let current: YamlNode | null = root;
  let keyNode: YamlNode | null = null;
  for (const key of keys) {
    const pair = mapPair(current, key);
    if (!pair) return keyNode;
    keyNode = pair.key as YamlNode;
    current = (pair.value as YamlNode | null) ?? null;
  }
  return keyNode;
}
