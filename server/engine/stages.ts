// From the spec model to runnable stages: the interpolated commands (values from params and vars
// quoted for the shell), the working folder, the deps, the outs with their cache/persist flags and
// the params values, for every stage instance of the workspace's pipelines, with their upstream.
import * as path from 'node:path';
import { isMap } from 'yaml';
import { Analyzer } from '../spec/analyze';
import { findInterpolations, lookup } from '../spec/interpolate';
import type { Scope } from '../spec/interpolate';
import { mapGet, nodeValue, scalarString } from '../spec/parse';
import type { PipelineModel, StageInstance } from '../spec/pipeline';
import { LineIndex } from '../spec/text';
import { escapesWorkspace, joinPath, Workspace } from '../spec/workspace';

export interface StageOut {
  /** Workspace-relative POSIX path. */
  path: string;
  kind: 'outs' | 'metrics' | 'plots';
  cache: boolean;
  persist: boolean;
}

/** A stage ready to compare with its lock entry and to run. */
export interface RunnableStage {
  /** The name used in the lock file: `train`, `train@1` for a foreach/matrix instance. */
  name: string;
  /** The name across the workspace: the name for the root pipeline, `sub/dvc.yaml:name` otherwise. */
  address: string;
  /** Absolute path of the pipeline file. */
  pipelineFile: string;
  /** 0-based line of the stage's key in the pipeline file. */
  line: number;
  /** The commands, interpolated, as written in the lock file. */
  cmd: string | string[];
  /** Absolute working folder. */
  cwd: string;
  /** Workspace-relative POSIX paths. */
  deps: string[];
  outs: StageOut[];
  /** Params file (relative to wdir, as in dvc.lock) → key → value. */
  params: Record<string, Record<string, unknown>>;
  frozen: boolean;
  alwaysChanged: boolean;
  instance: StageInstance;
}

export interface StageProblem {
  file: string;
  line: number;
  message: string;
}

export interface WorkspaceStages {
  workspace: Workspace;
  analyzer: Analyzer;
  stages: RunnableStage[];
  /** Stage address → the addresses it depends on. */
  upstream: Map<string, Set<string>>;
  /** Reasons a stage cannot run (unresolved interpolation, a path leaving the workspace, ...). */
  problems: StageProblem[];
}

/** Reads every pipeline of the workspace into runnable stages. */
export function workspaceStages(root: string): WorkspaceStages {
  const workspace = new Workspace(root);
  const analyzer = new Analyzer(workspace);
  const models = analyzer.pipelines();
  const graph = analyzer.graph();
  const problems: StageProblem[] = [];
  // What the language server reports as an error would fail at run time: refuse it up front.
  for (const model of models) {
    for (const problem of analyzer.diagnose(model.file)) {
      if (problem.severity === 'error')
        problems.push({
          file: model.file,
          line: countLines(model.parsed, problem.start) + 1,
          message: problem.message,
        });
    }
  }
  const byInstance = new Map<StageInstance, RunnableStage>();
  for (const model of models) {
    for (const instance of model.instances) {
      // A file the analysis already reported says it better than the stage it breaks.
      const reported = problems.some((problem) => problem.file === model.file);
      const stage = runnableStage(workspace, model, instance, reported ? [] : problems);
      if (stage) byInstance.set(instance, stage);
    }
  }
  const upstream = new Map<string, Set<string>>();
  for (const [instance, stage] of byInstance) {
    const set = new Set<string>();
    for (const producer of graph.upstream.get(instance) ?? []) {
      const other = byInstance.get(producer);
      if (other) set.add(other.address);
    }
    upstream.set(stage.address, set);
  }
  return { workspace, analyzer, stages: [...byInstance.values()], upstream, problems };
}

/** The address of a stage: plain for the workspace's root pipeline, prefixed by the file otherwise. */
export function stageAddress(workspace: Workspace, pipelineFile: string, name: string): string {
  const relative = workspace.relative(pipelineFile);
  return relative === 'dvc.yaml' || relative === 'pipeline.yaml' ? name : `${relative}:${name}`;
}

function runnableStage(
  workspace: Workspace,
  model: PipelineModel,
  instance: StageInstance,
  problems: StageProblem[],
): RunnableStage | null {
  const definition = instance.definition;
  const keyStart = definition.keyNode.range?.[0] ?? 0;
  const line = countLines(model.parsed, keyStart);
  const fail = (message: string): null => {
    problems.push({ file: model.file, line: line + 1, message: `Stage '${instance.name}': ${message}` });
    return null;
  };
  const commands: string[] = [];
  for (const node of definition.cmd) {
    const raw = scalarString(node);
    if (raw === null) continue;
    const command = shellInterpolate(raw, instance.context);
    if (typeof command !== 'string') return fail(command.error);
    commands.push(command);
  }
  if (commands.length === 0) return fail('it has no cmd to run.');
  if (escapesWorkspace(instance.wdir)) return fail(`its wdir '${instance.wdir}' leaves the workspace.`);
  const deps: string[] = [];
  for (const dep of instance.deps) {
    if (dep.path === null) return fail(`the dep '${dep.entry.raw}' uses a value that is not defined.`);
    if (dep.external || escapesWorkspace(dep.path)) return fail(`the dep '${dep.entry.raw}' leaves the workspace.`);
    deps.push(dep.path);
  }
  const outs: StageOut[] = [];
  for (const out of instance.outs) {
    if (out.path === null) return fail(`the out '${out.entry.raw}' uses a value that is not defined.`);
    if (out.external || escapesWorkspace(out.path)) return fail(`the out '${out.entry.raw}' leaves the workspace.`);
    const options = isMap(out.entry.item) ? nodeValue(out.entry.item) : null;
    const flags = options && typeof options === 'object' ? (Object.values(options)[0] as unknown) : null;
    const persist = !!flags && typeof flags === 'object' && (flags as Record<string, unknown>)['persist'] === true;
    outs.push({ path: out.path, kind: out.entry.kind as StageOut['kind'], cache: out.entry.cache, persist });
  }
  const params: Record<string, Record<string, unknown>> = {};
  const wdirFolder = workspace.absolute(instance.wdir);
  for (const entry of definition.params) {
    const fileName = entry.file ?? 'params.yaml';
    const absolute = path.join(wdirFolder, fileName);
    const data = workspace.dataFile(absolute);
    if (!data) return fail(`its params file '${joinPath(instance.wdir, fileName)}' does not exist.`);
    const values = (params[fileName] ??= {});
    if (entry.key === null) {
      if (data.value && typeof data.value === 'object') Object.assign(values, data.value);
      continue;
    }
    const found = lookup(data.value as Record<string, unknown>, entry.key);
    if (!found.found) return fail(`the param '${entry.key}' is not in ${joinPath(instance.wdir, fileName)}.`);
    values[entry.key] = found.value;
  }
  const body = definition.body;
  return {
    name: instance.name,
    address: stageAddress(workspace, model.file, instance.name),
    pipelineFile: model.file,
    line,
    cmd: commands.length === 1 ? (commands[0] ?? '') : commands,
    cwd: wdirFolder,
    deps,
    outs,
    params,
    frozen: nodeValue(mapGet(body, 'frozen')) === true,
    alwaysChanged: nodeValue(mapGet(body, 'always_changed')) === true,
    instance,
  };
}

const lineIndexes = new WeakMap<object, LineIndex>();

/** The 0-based line of an offset in a parsed file's text (one line index per parse). */
function countLines(parsed: { text: string }, offset: number): number {
  let index = lineIndexes.get(parsed);
  if (!index) {
    index = new LineIndex(parsed.text);
    lineIndexes.set(parsed, index);
  }
  return index.lineOf(offset);
}

/** Characters that need no quoting in a POSIX shell word. */
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes a value for /bin/sh when it holds anything but plain word characters. */
export function shellQuote(value: string): string {
  if (value !== '' && SHELL_SAFE.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * A mapping in a command, unpacked into arguments as DVC does: `--key value` for each entry, a true
 * boolean as the bare flag `--key` (a false one, a null or an empty list give nothing), a list as `--key a b`, and a nested
 * mapping with dotted keys (`--nested.key value`). Every value is quoted like any other.
 */
function unpack(mapping: Record<string, unknown>, prefix = ''): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(mapping)) {
    const flag = `--${prefix}${key}`;
    if (value === true) parts.push(shellQuote(flag));
    // A false boolean, a null and an empty list give no argument.
    else if (value === false || value === null || (Array.isArray(value) && value.length === 0)) continue;
    else if (Array.isArray(value)) parts.push([flag, ...value.map((item) => String(item))].map(shellQuote).join(' '));
    else if (value !== null && typeof value === 'object') {
      const nested = unpack(value as Record<string, unknown>, `${prefix}${key}.`);
      if (nested) parts.push(nested);
    } else parts.push(`${shellQuote(flag)} ${shellQuote(String(value))}`);
  }
  return parts.join(' ');
}

/**
 * Replaces `${...}` in a command with values from params and vars. A value is data, not code: one
 * that holds spaces or shell characters is quoted, so a params file cannot inject a command.
 */
export function shellInterpolate(command: string, scope: Scope): string | { error: string } {
  if (!command.includes('${')) return command;
  let result = '';
  let last = 0;
  for (const reference of findInterpolations(command, 0)) {
    const found = scope.lookup(reference.expression);
    if (!found.found) return { error: `'\${${reference.expression}}' is not defined in params.yaml or vars.` };
    const value = found.value;
    if (Array.isArray(value)) return { error: `'\${${reference.expression}}' is a list, not a value.` };
    const text =
      value !== null && typeof value === 'object'
        ? unpack(value as Record<string, unknown>)
        : shellQuote(String(value));
    result += command.slice(last, reference.start) + text;
    last = reference.end;
  }
  return result + command.slice(last);
}
