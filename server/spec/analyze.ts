// The analysis of a workspace: parses, models and checks every spec, caching what an edit does not
// touch. The language server and the CLI both diagnose through it.
import * as path from 'node:path';
import { isMap, isScalar } from 'yaml';
import type { Pair } from 'yaml';
import { stageGraph } from './graph';
import type { StageGraph } from './graph';
import { mapGet } from './parse';
import type { ParsedDocument, YamlNode } from './parse';
import { pipelineModel } from './pipeline';
import type { PipelineModel } from './pipeline';
import { checkPipeline, checkTabs } from './pipelineChecks';
import { locate } from './problems';
import type { AnchoredProblem, Problem } from './problems';
import type { ModelNameProvider } from './references';
import { resolverFor, specKindOf, stageSchema } from './schemas';
import type { SpecKind } from './schemas';
import { validateNode } from './schemaValidate';
import type { SchemaObject } from './schemaValidate';
import { checkDeployment, checkExperiment } from './specChecks';
import type { Workspace } from './workspace';

/** At most this many problems are reported for one file; the rest are counted in a notice. */
export const MAX_PROBLEMS = 1000;

const stageProblemCache = new WeakMap<Pair, AnchoredProblem[]>();

export class Analyzer {
  private readonly models = new Map<string, { parsed: ParsedDocument; generation: number; model: PipelineModel }>();
  private graphCache: { models: PipelineModel[]; graph: StageGraph } | null = null;

  constructor(
    readonly workspace: Workspace,
    readonly modelNameProvider: ModelNameProvider | null = null,
  ) {}

  /** The model of a pipeline file, rebuilt only when its text or a data file changed. */
  model(file: string): PipelineModel | null {
    const parsed = this.workspace.parse(file);
    if (!parsed) {
      this.models.delete(file);
      return null;
    }
    const cached = this.models.get(file);
    if (cached && cached.parsed === parsed && cached.generation === this.workspace.dataGeneration) return cached.model;
    const model = pipelineModel(this.workspace, file, parsed, cached?.model ?? null);
    this.models.set(file, { parsed, generation: this.workspace.dataGeneration, model });
    return model;
  }

  /** The models of every pipeline in the workspace. */
  pipelines(): PipelineModel[] {
    const result: PipelineModel[] = [];
    for (const file of this.workspace.specs('pipeline')) {
      const model = this.model(file);
      if (model) result.push(model);
    }
    return result;
  }

  /** The stage graph across all pipelines. */
  graph(): StageGraph {
    const models = this.pipelines();
    const cached = this.graphCache;
    if (
      cached &&
      cached.models.length === models.length &&
      cached.models.every((model, index) => model === models[index])
    )
      return cached.graph;
    const graph = stageGraph(models);
    this.graphCache = { models, graph };
    return graph;
  }

  /** The pipeline model for a workspace-relative path, if that file exists. */
  pipelineAt(relativePath: string): PipelineModel | null {
    const file = this.workspace.absolute(relativePath);
    return this.workspace.exists(file) ? this.model(file) : null;
  }

  /** Every problem in a spec file, suppressions applied, capped at MAX_PROBLEMS. */
  diagnose(file: string): Problem[] {
    const kind = specKindOf(file);
    const parsed = this.workspace.parse(file);
    if (!kind || !parsed) return [];
    const anchored = this.check(file, kind, parsed);
    const problems: Problem[] = parsed.errors.map((error) => ({
      severity: 'error',
      code: `yaml-${error.code.toLowerCase()}`,
      message: error.message,
      start: error.start,
      end: error.end,
    }));
    for (const problem of anchored) problems.push(locate(problem));
    const kept = suppress(parsed.text, problems).sort((a, b) => a.start - b.start || a.end - b.end);
    if (kept.length <= MAX_PROBLEMS) return kept;
    const shown = kept.slice(0, MAX_PROBLEMS);
    shown.push({
      severity: 'information',
      code: 'problems-capped',
      message: `Showing the first ${MAX_PROBLEMS} of ${kept.length} problems in this file. Run 'cairn validate ${path.basename(file)}' for all of them.`,
      start: 0,
      end: 0,
    });
    return shown;
  }

  private check(file: string, kind: SpecKind, parsed: ParsedDocument): AnchoredProblem[] {
    const problems: AnchoredProblem[] = [];
    const root = parsed.root;
    if (kind === 'params') return problems;
    if (root !== null && !isMap(root)) {
      problems.push({
        severity: 'error',
        code: 'schema-type',
        message: 'A spec file must be a mapping of keys to values at the top level.',
        anchor: root,
      });
      return problems;
    }
    problems.push(...this.schemaProblems(kind, parsed));
    if (kind === 'pipeline') {
      checkTabs(parsed.text, root, problems);
      const model = this.model(file);
      if (model) problems.push(...checkPipeline(this.workspace, model, this.graph()));
    } else if (kind === 'experiment') {
      problems.push(...checkExperiment(this.workspace, file, root, (relativePath) => this.pipelineAt(relativePath)));
    } else if (kind === 'deployment') {
      problems.push(...checkDeployment(this.workspace, file, root, this.pipelines(), this.modelNameProvider));
    }
    return problems;
  }

  /** Schema problems; for pipelines each stage is validated on its own and cached by its node. */
  private schemaProblems(kind: SpecKind, parsed: ParsedDocument): AnchoredProblem[] {
    const resolver = resolverFor(kind);
    if (!resolver || !parsed.root) return [];
    if (kind !== 'pipeline') return validateNode(parsed.root, resolver.root, resolver, null, parsed.document);
    const problems = validateNode(parsed.root, rootWithoutStages(resolver.root), resolver, null, parsed.document);
    const stages = mapGet(parsed.root, 'stages');
    if (!isMap(stages)) return problems;
    const schema = stageSchema();
    for (const pair of stages.items as Pair[]) {
      let cached = parsed.document ? undefined : stageProblemCache.get(pair);
      if (!cached) {
        cached = validateNode(
          (pair.value as YamlNode | null) ?? null,
          schema,
          resolver,
          isScalar(pair.key) ? pair.key : null,
          parsed.document,
        );
        if (!parsed.document) stageProblemCache.set(pair, cached);
      }
      problems.push(...cached);
    }
    return problems;
  }
}

const withoutStages = new WeakMap<SchemaObject, SchemaObject>();

/** The pipeline root schema with each stage left to the per-stage validation. */
function rootWithoutStages(root: SchemaObject): SchemaObject {
  let schema = withoutStages.get(root);
  if (!schema) {
    schema = { ...root, properties: { ...(root.properties ?? {}), stages: { type: ['object', 'null'] } } };
    withoutStages.set(root, schema);
  }
  return schema;
}

const IGNORE = /#\s*cairn:\s*ignore\b([\w\s,-]*)$/;

/** Drops problems whose line is preceded by `# cairn: ignore` (all) or `# cairn: ignore CODE, ...`. */
export function suppress(text: string, problems: Problem[]): Problem[] {
  if (!text.includes('cairn:')) return problems;
  return problems.filter((problem) => {
    const lineStart = text.lastIndexOf('\n', Math.max(0, problem.start - 1)) + 1;
    if (lineStart === 0) return true;
    const previousStart = text.lastIndexOf('\n', lineStart - 2) + 1;
    const previous = text
      .slice(previousStart, lineStart - 1)
      .replace(/\r$/, '')
      .trim();
    const match = IGNORE.exec(previous);
    if (!match) return true;
    const codes = (match[1] ?? '').split(/[\s,]+/).filter(Boolean);
    return codes.length > 0 && !codes.includes(problem.code);
  });
}
