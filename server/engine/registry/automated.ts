// The automated path into the registry: at the end of a successful run, each model a pipeline's
// `models` section declares whose artifact this run produced is judged by its gate, on the metrics
// files that pipeline's stages declare (merged, so split `holdout` finds `holdout.auc`), and
// registered with the tracked run, the pipeline and the datasets the run read. A failing gate blocks
// the registration; either way the report is kept with the tracked run (gates/reports.ts).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isRecord } from '../gates/criteria';
import type { GateReport } from '../gates/evaluate';
import { recordRunGate, wasJudged } from '../gates/reports';
import type { RunnableStage } from '../stages';
import type { Store } from '../store';
import type { DatasetInput } from '../tracking/tracker';
import { registerDeclaredModel } from './register';
import { modelsOfFile } from './spec';
import type { ModelSpec, ModelSpecProblem } from './spec';

/** What became of one declared model at the end of a run. */
export interface ModelRegistration {
  model: string;
  /**
   * registered: a new version; existing: the gate passed and the same bytes were already a version;
   * refused: the gate failed, nothing registered; failed: the artifact could not be registered.
   */
  status: 'registered' | 'existing' | 'refused' | 'failed';
  version?: number;
  /** The gate's report; null when the model declares no gate or it could not be judged. */
  report: GateReport | null;
  /** One line for the person who ran the pipeline, saying what happened and why. */
  message: string;
}

export interface RunStage {
  stage: RunnableStage;
  /** Whether the stage's command ran in this run (not skipped or restored). */
  ran: boolean;
}

export interface RunModelsInput {
  store: Store;
  root: string;
  /** The tracked run the versions are registered from. */
  trackedRunId: string;
  /** The run's stages, in the order they were planned. */
  stages: RunStage[];
  datasets: DatasetInput[];
  now?: number;
}

/**
 * Judges and registers every declared model whose artifact this run produced: its stage ran, or it
 * was part of the run and either a metrics-writing stage of its pipeline ran or its artifact's bytes
 * were never judged before.
 */
export function registerRunModels(input: RunModelsInput): { registrations: ModelRegistration[]; warnings: string[] } {
  const { root, store } = input;
  // Only the run's pipeline files can declare a model it produced; most declare none, so their
  // text is checked for the section before it is parsed.
  const models: ModelSpec[] = [];
  const problems: ModelSpecProblem[] = [];
  for (const file of new Set(input.stages.map(({ stage }) => stage.pipelineFile))) {
    const text = fs.readFileSync(file, 'utf8');
    if (!/^models\s*:/m.test(text)) continue;
    const found = modelsOfFile(file, text);
    models.push(...found.models);
    problems.push(...found.problems);
  }
  const warnings = problems.map((problem) => `${relativePath(root, problem.file)}:${problem.line}: ${problem.message}`);
  const registrations: ModelRegistration[] = [];
  for (const model of models) {
    const artifact = relativePath(root, path.resolve(path.dirname(model.file), model.artifact));
    const producer = producingStage(model, artifact, input.stages);
    if (!producer) continue;
    const file = path.join(root, artifact);
    let md5: string;
    try {
      md5 = createHash('md5').update(fs.readFileSync(file)).digest('hex');
    } catch (error) {
      registrations.push({
        model: model.name,
        status: 'failed',
        report: null,
        message: `${model.name} not registered: ${artifact} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}); does stage '${producer.stage.name}' write it?`,
      });
      continue;
    }
    // An artifact is judged again when it or the pipeline's metrics were remade in this run.
    const metricsRan = input.stages.some(
      ({ stage, ran }) => ran && stage.pipelineFile === model.file && stage.outs.some((out) => out.kind === 'metrics'),
    );
    if (!producer.ran && !metricsRan && (wasJudged(store, model.name, md5) || isRegistered(store, model.name, md5)))
      continue;
    registrations.push(registerOne(input, model, md5));
  }
  return { registrations, warnings };
}

function registerOne(input: RunModelsInput, model: ModelSpec, md5: string): ModelRegistration {
  const { root, store, trackedRunId } = input;
  const metrics = pipelineMetrics(
    root,
    input.stages.filter(({ stage }) => stage.pipelineFile === model.file).map(({ stage }) => stage),
  );
  let registration: ModelRegistration;
  try {
    const result = registerDeclaredModel(store, root, model, {
      runId: trackedRunId,
      pipeline: relativePath(root, model.file),
      metrics,
      datasets: input.datasets,
      ...(input.now !== undefined ? { now: input.now } : {}),
    });
    if (result.status === 'refused') {
      const failed = result.report.criteria.filter((criterion) => !criterion.passed);
      registration = {
        model: model.name,
        status: 'refused',
        report: result.report,
        message: `${model.name} not registered: the gate failed${result.report.split ? ` (split ${result.report.split})` : ''}: ${failed.map((criterion) => `${criterion.criterion}: ${criterion.reason}`).join(' ')}`,
      };
    } else {
      const version = result.version.version;
      const gate = result.report ? ` (gate passed: ${result.report.summary.replace(/\.$/, '')})` : '';
      registration = {
        model: model.name,
        status: result.status === 'created' ? 'registered' : 'existing',
        version,
        report: result.report,
        message:
          result.status === 'created'
            ? `Registered ${model.name} v${version} from this run${gate}.`
            : `${model.name}: the artifact is already v${version}; nothing new registered${gate}.`,
      };
    }
  } catch (error) {
    return {
      model: model.name,
      status: 'failed',
      report: null,
      message: `${model.name} not registered: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  recordRunGate(store, trackedRunId, {
    model: model.name,
    md5,
    report: registration.report,
    version: registration.version ?? null,
  });
  return registration;
}

/** The run's stage that writes the model's artifact (the declared `stage` when given), if it ran in this run. */
function producingStage(model: ModelSpec, artifact: string, stages: RunStage[]): RunStage | undefined {
  const ofPipeline = stages.filter(({ stage }) => stage.pipelineFile === model.file);
  const named =
    model.stage === undefined
      ? ofPipeline
      : ofPipeline.filter(({ stage }) => stage.name === model.stage || stage.name.startsWith(`${model.stage}@`));
  return (
    named.find(({ stage }) => stage.outs.some((out) => out.path === artifact)) ?? (model.stage ? named[0] : undefined)
  );
}

function isRegistered(store: Store, model: string, md5: string): boolean {
  return store.db.prepare('SELECT 1 FROM model_versions WHERE model = ? AND md5 = ?').get(model, md5) !== undefined;
}

/**
 * The metrics files the stages declare, read and merged as nested objects in stage order (so an
 * evaluation stage's values win over a training stage's of the same name). Unreadable files are skipped.
 */
export function pipelineMetrics(root: string, stages: RunnableStage[]): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  for (const stage of stages)
    for (const out of stage.outs) {
      if (out.kind !== 'metrics') continue;
      const value = readMetricsFile(path.join(root, out.path));
      if (isRecord(value)) mergeInto(merged, value);
    }
  return merged;
}

/** A JSON or YAML metrics file's content; undefined when it is missing or not valid. */
export function readMetricsFile(file: string): unknown {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch {
    return undefined;
  }
}

function mergeInto(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (isRecord(existing) && isRecord(value)) mergeInto(existing, value);
    else target[key] = isRecord(value) ? structuredClone(value) : value;
  }
}

function relativePath(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join('/');
}
