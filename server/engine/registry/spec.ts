// The `models` section of the workspace's pipeline files: which ONNX artifact becomes which
// registered model, its description and tags, and its gate. Each entry is validated against
// `$defs/model` of the pipeline schema, so the engine accepts what the language server accepts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap } from 'yaml';
import { mapGet, nodeStart, nodeValue, parseWhole } from '../../spec/parse';
import type { YamlNode } from '../../spec/parse';
import { isRecord } from '../../spec/pipeline';
import { resolverFor } from '../../spec/schemas';
import { validateNode } from '../../spec/schemaValidate';
import { LineIndex } from '../../spec/text';
import { Workspace } from '../../spec/workspace';
import { gateFromValue } from '../gates/criteria';
import type { GateSpec } from '../gates/criteria';

export interface ModelSpec {
  name: string;
  /** The absolute path of the pipeline file that declares it, and the 1-based line of its name. */
  file: string;
  line: number;
  /** The artifact as written, relative to the pipeline file's folder. */
  artifact: string;
  stage?: string;
  description?: string;
  tags: Record<string, string>;
  gate?: GateSpec;
}

export interface ModelSpecProblem {
  file: string;
  line: number;
  message: string;
}

/** Every model declared in the pipeline files of the workspace at `root`, and the problems found. */
export function readModels(root: string): { models: ModelSpec[]; problems: ModelSpecProblem[] } {
  const models: ModelSpec[] = [];
  const problems: ModelSpecProblem[] = [];
  for (const file of new Workspace(root).specs('pipeline')) {
    const found = modelsOfFile(file, fs.readFileSync(file, 'utf8'));
    problems.push(...found.problems);
    for (const model of found.models) {
      const earlier = models.find((other) => other.name === model.name);
      if (earlier)
        problems.push({
          file,
          line: model.line,
          message: `model '${model.name}' is also declared in ${path.relative(root, earlier.file)}:${earlier.line}. Rename one of them.`,
        });
      else models.push(model);
    }
  }
  return { models, problems };
}

/** The models declared in one pipeline file's text. */
export function modelsOfFile(file: string, text: string): { models: ModelSpec[]; problems: ModelSpecProblem[] } {
  const parsed = parseWhole(text);
  const lines = new LineIndex(text);
  const lineOf = (node: unknown): number => lines.position(nodeStart(node) ?? 0).line + 1;
  const problems: ModelSpecProblem[] = [];
  const section = mapGet(parsed.root, 'models');
  if (!isMap(section)) return { models: [], problems };
  const resolver = resolverFor('pipeline');
  const schema = resolver?.lookup('#/$defs/model');
  const models: ModelSpec[] = [];
  for (const pair of section.items) {
    const name = String(nodeValue(pair.key));
    const body = (pair.value as YamlNode | null) ?? null;
    const invalid =
      resolver && schema !== undefined
        ? validateNode(body, schema, resolver, pair.key as YamlNode, parsed.document)
        : [];
    const errors = invalid.filter((problem) => problem.severity === 'error');
    for (const problem of errors)
      problems.push({ file, line: lineOf(problem.anchor), message: `model '${name}': ${problem.message}` });
    if (errors.length > 0) continue;
    const value = nodeValue(body, parsed.document);
    if (!isRecord(value) || typeof value['artifact'] !== 'string') continue;
    const model: ModelSpec = { name, file, line: lineOf(pair.key), artifact: value['artifact'], tags: {} };
    if (typeof value['stage'] === 'string') model.stage = value['stage'];
    if (typeof value['description'] === 'string') model.description = value['description'];
    if (isRecord(value['tags']))
      for (const [key, tag] of Object.entries(value['tags'])) if (typeof tag === 'string') model.tags[key] = tag;
    if (value['gate'] !== undefined) {
      const { gate, problems: gateProblems } = gateFromValue(value['gate']);
      const gateLine = lineOf(mapGet(body, 'gate') ?? pair.key);
      for (const message of gateProblems)
        problems.push({ file, line: gateLine, message: `model '${name}': ${message}` });
      model.gate = gate;
    }
    models.push(model);
  }
  return { models, problems };
}
