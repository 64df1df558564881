// Registration behind a gate: the gate declared for the model is judged on the candidate's metrics
// (and on the metrics of the versions its improvement criteria compare with); a failing gate refuses
// the registration unless it is forced, and a forced registration says so in the audit log. The CLI
// and the runner's automated path (a pipeline's `models` section) both come through here.
import * as path from 'node:path';
import type { GateSpec } from '../gates/criteria';
import { evaluateGate } from '../gates/evaluate';
import type { GateReport, Reference } from '../gates/evaluate';
import type { Store } from '../store';
import { Registry } from './registry';
import type { ModelVersion, RegisterInput } from './registry';
import { readOnnxSignature } from './signature';
import type { ModelSpec } from './spec';

export interface GatedRegisterInput extends RegisterInput {
  gate?: GateSpec;
  /** Register even when the gate fails; the failure is recorded in the audit log. */
  force?: boolean;
}

export type GatedRegisterResult =
  | { status: 'created' | 'existing'; version: ModelVersion; report: GateReport | null; forced: boolean }
  | { status: 'refused'; report: GateReport };

/** Judges the gate (if any) and registers the version when it passes or when forced. */
export function registerWithGate(registry: Registry, input: GatedRegisterInput): GatedRegisterResult {
  const { gate, force, ...rest } = input;
  // A file that is not a model is bad input whatever its metrics say.
  readOnnxSignature(input.onnxPath);
  let report: GateReport | null = null;
  if (gate) {
    report = evaluateGate(gate, input.metrics ?? {}, referencesFor(registry, input.name, gate));
    if (!report.passed && !force) return { status: 'refused', report };
  }
  const forced = report !== null && !report.passed;
  const reason = forced
    ? [`registered with --force past a failing gate: ${report?.summary ?? ''}`, input.reason].filter(Boolean).join(' ')
    : input.reason;
  const result = registry.register({
    ...rest,
    ...(report ? { gateReport: report } : {}),
    ...(reason !== undefined ? { reason } : {}),
  });
  return { ...result, report, forced };
}

/** The registered versions that the gate's improvement criteria compare with, by alias. */
export function referencesFor(registry: Registry, name: string, gate: GateSpec): Reference[] {
  if (!registry.hasModel(name)) return [];
  const references: Reference[] = [];
  for (const criterion of gate.acceptance) {
    if (criterion.kind !== 'improvement') continue;
    if (references.some((reference) => reference.alias === criterion.relativeTo)) continue;
    const version = registry.aliasVersion(name, criterion.relativeTo);
    if (version === null) continue;
    references.push({ alias: criterion.relativeTo, version, metrics: registry.version(name, version)?.metrics ?? {} });
  }
  return references;
}

/** What a pipeline run knows about the model it produced. */
export interface RunOutcome {
  runId?: string;
  /** Workspace-relative path of the pipeline file. */
  pipeline?: string;
  /** The metrics the gate judges (the evaluation stage's metrics file). */
  metrics: Record<string, unknown>;
  datasets?: unknown[];
  now?: number;
  actor?: string;
}

/**
 * Registers the artifact of a model declared in a pipeline's `models` section, behind its gate:
 * the entry point of automated registration at the end of a run.
 */
export function registerDeclaredModel(
  store: Store,
  root: string,
  model: ModelSpec,
  run: RunOutcome,
): GatedRegisterResult {
  const registry = new Registry(store, root);
  return registerWithGate(registry, {
    name: model.name,
    onnxPath: path.resolve(path.dirname(model.file), model.artifact),
    metrics: run.metrics,
    tags: model.tags,
    ...(model.description !== undefined ? { description: model.description } : {}),
    ...(model.gate ? { gate: model.gate } : {}),
    ...(run.runId !== undefined ? { runId: run.runId } : {}),
    ...(run.pipeline !== undefined ? { pipeline: run.pipeline } : {}),
    ...(run.datasets !== undefined ? { datasets: run.datasets } : {}),
    ...(run.now !== undefined ? { now: run.now } : {}),
    ...(run.actor !== undefined ? { actor: run.actor } : {}),
    reason: run.runId ? `registered by run ${run.runId}` : 'registered from the pipeline',
  });
}
