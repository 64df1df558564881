// The meaning of experiment and deployment specs: everything they name must exist.
import * as path from 'node:path';
import { isMap, isSeq } from 'yaml';
import { mapGet, scalarString } from './parse';
import type { YamlNode } from './parse';
import { flattenKeys, lookup } from './interpolate';
import { isRecord } from './pipeline';
import type { PipelineModel } from './pipeline';
import { unknownStage } from './pipelineChecks';
import type { AnchoredProblem } from './problems';
import { declaredEntries, experimentPipelinePath, knownMetrics, parseModelReference, stringItems } from './references';
import type { ModelNameProvider, ModelReference } from './references';
import { objectiveAlertNames } from '../shared/deployments';
import { closest, listNames } from './suggest';
import { escapesWorkspace, joinPath } from './workspace';
import type { Workspace } from './workspace';

/** Checks an experiment spec against its pipeline. */
export function checkExperiment(
  workspace: Workspace,
  file: string,
  root: YamlNode | null,
  pipelineOf: (relativePath: string) => PipelineModel | null,
): AnchoredProblem[] {
  const problems: AnchoredProblem[] = [];
  if (!isMap(root)) return problems;
  const target = experimentPipelinePath(workspace, file, root);
  const anchor = target.node ?? root.items[0]?.key ?? root;
  if (escapesWorkspace(target.path)) {
    problems.push({
      severity: 'error',
      code: 'path-escapes',
      message: `The pipeline '${target.path}' is outside the workspace.`,
      anchor,
    });
    return problems;
  }
  const pipeline = pipelineOf(target.path);
  if (!pipeline) {
    problems.push({
      severity: 'error',
      code: 'pipeline-missing',
      message: `The pipeline file '${target.path}' does not exist. Set 'pipeline:' to a pipeline.yaml or dvc.yaml in the workspace.`,
      anchor,
    });
    return problems;
  }
  const names = pipeline.definitions.map((definition) => definition.name);
  const stageReferences = [
    ...stringItems(mapGet(root, 'stages')),
    ...stringItems(mapGet(mapGet(root, 'objective'), 'stage')),
    ...stringItems(mapGet(mapGet(root, 'holdout'), 'stage')),
  ];
  for (const reference of stageReferences) {
    if (!names.includes(reference.value.split('@')[0] ?? reference.value))
      problems.push(unknownStage(reference.value, reference.node, names));
  }
  const space = mapGet(mapGet(root, 'search'), 'space');
  if (isMap(space)) {
    const paramsPath = joinPath(pipeline.folder, 'params.yaml');
    const params = workspace.dataFile(workspace.absolute(paramsPath));
    for (const pair of space.items) {
      const key = scalarString(pair.key);
      if (key === null || !params || !isRecord(params.value)) continue;
      if (lookup(params.value, key).found) continue;
      const suggestion = closest(key, flattenKeys(params.value));
      problems.push({
        severity: 'warning',
        code: 'param-missing',
        message: `The search space sets '${key}', which is not in ${paramsPath}, so no stage reads it.${suggestion ? ` Did you mean '${suggestion}'?` : ''}`,
        anchor: pair.key as YamlNode,
        fix: suggestion
          ? { kind: 'replace', replacement: suggestion }
          : { kind: 'addParam', paramsFile: paramsPath, key },
      });
    }
  }
  checkMetrics(workspace, root, pipeline, target.path, problems);
  return problems;
}

/** The metric names an experiment uses, with their nodes. */
export function experimentMetricReferences(root: YamlNode | null): { value: string; node: YamlNode }[] {
  const references = [
    ...stringItems(mapGet(mapGet(root, 'objective'), 'metric')),
    ...stringItems(mapGet(mapGet(root, 'pruning'), 'metric')),
  ];
  for (const list of [mapGet(root, 'acceptance'), mapGet(root, 'slices')]) {
    if (!isSeq(list)) continue;
    for (const item of list.items as (YamlNode | null)[]) {
      const text = scalarString(item);
      if (text !== null && item) {
        const name = /^\s*([A-Za-z_][\w.\-/]*)/.exec(text)?.[1];
        if (name) references.push({ value: name, node: item });
      } else references.push(...stringItems(mapGet(item, 'metric')));
    }
  }
  return references;
}

function checkMetrics(
  workspace: Workspace,
  root: YamlNode,
  pipeline: PipelineModel,
  pipelinePath: string,
  problems: AnchoredProblem[],
): void {
  const references = experimentMetricReferences(root);
  if (references.length === 0) return;
  const { metrics, declaredFiles } = knownMetrics(workspace, pipeline);
  if (declaredFiles === 0) {
    for (const reference of references) {
      problems.push({
        severity: 'error',
        code: 'metric-unknown',
        message: `No stage of ${pipelinePath} declares a metrics file, so the metric '${reference.value}' is never produced. Add the file that holds it under a stage's 'metrics:'.`,
        anchor: reference.node,
      });
    }
    return;
  }
  if (metrics.length === 0) return;
  const names = [...new Set(metrics.map((metric) => metric.name))];
  for (const reference of references) {
    if (names.some((name) => name === reference.value || name.endsWith(`.${reference.value}`))) continue;
    const suggestion = closest(reference.value, names);
    const problem: AnchoredProblem = {
      severity: 'warning',
      code: 'metric-unknown',
      message: `No stage of ${pipelinePath} produces the metric '${reference.value}'.${suggestion ? ` Did you mean '${suggestion}'?` : ` Known metrics: ${listNames(names, 6)}.`}`,
      anchor: reference.node,
    };
    if (suggestion) problem.fix = { kind: 'replace', replacement: suggestion };
    problems.push(problem);
  }
}

/** Checks a deployment spec: models, datasets, alerts, runbooks and the retrain experiment. */
export function checkDeployment(
  workspace: Workspace,
  file: string,
  root: YamlNode | null,
  pipelines: readonly PipelineModel[],
  provider: ModelNameProvider | null,
): AnchoredProblem[] {
  const problems: AnchoredProblem[] = [];
  if (!isMap(root)) return problems;
  const folder = workspace.relative(path.dirname(file));
  const models = new Set([
    ...declaredEntries(pipelines, 'models').map((entry) => entry.name),
    ...(provider?.models().map((model) => model.name) ?? []),
  ]);
  const rollout = mapGet(root, 'rollout');
  for (const node of [mapGet(root, 'model'), mapGet(rollout, 'candidate'), mapGet(mapGet(root, 'fallback'), 'model')]) {
    const reference = parseModelReference(node);
    if (reference && models.has(reference.name)) {
      const registered = provider?.models().find((model) => model.name === reference.name);
      if (registered) problems.push(...checkQualifier(reference, registered));
    }
    if (!reference || models.has(reference.name)) continue;
    const suggestion = closest(reference.name, models);
    problems.push({
      severity: 'warning',
      code: 'model-unknown',
      message: `No pipeline declares the model '${reference.name}' and the registry does not know it.${suggestion ? ` Did you mean '${suggestion}'?` : models.size ? ` Models: ${listNames([...models])}.` : " Declare it in a pipeline's 'models:' section."}`,
      anchor: reference.node,
      ...(suggestion ? { fix: { kind: 'replace' as const, replacement: suggestion } } : {}),
    });
  }
  const monitoring = mapGet(root, 'monitoring');
  const datasetNode = mapGet(mapGet(monitoring, 'reference'), 'dataset');
  const dataset = scalarString(datasetNode);
  if (dataset && datasetNode) {
    const datasets = declaredEntries(pipelines, 'datasets').map((entry) => entry.name);
    if (!datasets.includes(dataset)) {
      const suggestion = closest(dataset, datasets);
      problems.push({
        severity: 'warning',
        code: 'dataset-unknown',
        message: `No pipeline declares the dataset '${dataset}'.${suggestion ? ` Did you mean '${suggestion}'?` : ''}`,
        anchor: datasetNode,
        ...(suggestion ? { fix: { kind: 'replace' as const, replacement: suggestion } } : {}),
      });
    }
  }
  const referencePathNode = mapGet(mapGet(monitoring, 'reference'), 'path');
  problems.push(...checkDataPath(workspace, folder, referencePathNode, 'drift reference'));
  for (const item of stringItems(mapGet(mapGet(monitoring, 'retrain'), 'data')))
    problems.push(...checkDataPath(workspace, folder, item.node, 'retrain data'));
  // Labels arrive after deploying, so a missing file is normal; only where it points is checked.
  const labelsNode = mapGet(mapGet(monitoring, 'labels'), 'source');
  problems.push(
    ...checkDataPath(workspace, folder, labelsNode, 'labels file').filter((problem) => problem.severity === 'error'),
  );
  const alerts = mapGet(monitoring, 'alerts');
  const alertNames: string[] = [];
  if (isSeq(alerts)) {
    for (const alert of alerts.items as (YamlNode | null)[]) {
      const name = scalarString(mapGet(alert, 'name'));
      if (name) alertNames.push(name);
      const runbookNode = mapGet(alert, 'runbook');
      const runbook = scalarString(runbookNode);
      if (!runbook || !runbookNode || /^[a-z]+:\/\//i.test(runbook)) continue;
      const relativePath = joinPath(folder, runbook);
      if (escapesWorkspace(relativePath))
        problems.push({
          severity: 'error',
          code: 'path-escapes',
          message: `The runbook '${runbook}' is outside the workspace.`,
          anchor: runbookNode,
        });
      else if (!workspace.exists(workspace.absolute(relativePath))) {
        problems.push({
          severity: 'warning',
          code: 'runbook-missing',
          message: `The runbook '${relativePath}' does not exist; whoever gets this alert will have nothing to follow.`,
          anchor: runbookNode,
          fix: { kind: 'createFile', path: relativePath },
        });
      }
    }
  }
  // The alerts of the objectives (performance-low, ...) may be named too, once their setting is there.
  alertNames.push(
    ...objectiveAlertNames(
      (keys) => keys.reduce<YamlNode | null>((node, key) => mapGet(node, key), monitoring) !== null,
    ),
  );
  for (const section of [mapGet(monitoring, 'rollback'), mapGet(monitoring, 'retrain')]) {
    for (const reference of stringItems(mapGet(section, 'on'))) {
      if (alertNames.includes(reference.value)) continue;
      const suggestion = closest(reference.value, alertNames);
      problems.push({
        severity: 'error',
        code: 'alert-unknown',
        message: `There is no alert '${reference.value}' under monitoring.alerts.${suggestion ? ` Did you mean '${suggestion}'?` : alertNames.length ? ` Alerts: ${listNames(alertNames)}.` : ''}`,
        anchor: reference.node,
        ...(suggestion ? { fix: { kind: 'replace' as const, replacement: suggestion } } : {}),
      });
    }
  }
  const experimentNode = mapGet(mapGet(monitoring, 'retrain'), 'experiment');
  const experiment = scalarString(experimentNode);
  if (experiment && experimentNode) {
    const relativePath = joinPath(folder, experiment);
    if (escapesWorkspace(relativePath))
      problems.push({
        severity: 'error',
        code: 'path-escapes',
        message: `The experiment '${experiment}' is outside the workspace.`,
        anchor: experimentNode,
      });
    else if (!workspace.exists(workspace.absolute(relativePath)))
      problems.push({
        severity: 'error',
        code: 'experiment-missing',
        message: `The retrain experiment '${relativePath}' does not exist.`,
        anchor: experimentNode,
      });
  }
  return problems;
}

/** A data file named by a deployment (drift reference, retrain trigger): inside the workspace, and there. */
function checkDataPath(workspace: Workspace, folder: string, node: YamlNode | null, what: string): AnchoredProblem[] {
  const value = scalarString(node);
  if (!value || !node) return [];
  const relativePath = joinPath(folder, value);
  // joinPath would turn '/etc/x' into 'etc/x': an absolute path escapes by itself.
  if (path.posix.isAbsolute(value) || path.win32.isAbsolute(value) || escapesWorkspace(relativePath))
    return [
      {
        severity: 'error',
        code: 'path-escapes',
        message: `The ${what} '${value}' is outside the workspace.`,
        anchor: node,
      },
    ];
  if (workspace.exists(workspace.absolute(relativePath))) return [];
  return [
    {
      severity: 'warning',
      code: 'path-missing',
      message: `The ${what} '${relativePath}' does not exist yet; run the stage that writes it, or fix the path.`,
      anchor: node,
    },
  ];
}

/** A registered model's alias or version that the registry does not have (as of its snapshot). */
function checkQualifier(
  reference: ModelReference,
  registered: { name: string; aliases: string[]; versions: number[] },
): AnchoredProblem[] {
  const { qualifier, qualifierKind } = reference;
  if (qualifier === null || qualifierKind === null) return [];
  const anchor = reference.qualifierNode ?? reference.node;
  const replacement = (value: string): string =>
    reference.qualifierNode ? value : `${reference.name}${qualifierKind === 'alias' ? '@' : ':'}${value}`;
  if (qualifierKind === 'alias') {
    if (registered.aliases.includes(qualifier)) return [];
    const suggestion = closest(qualifier, registered.aliases);
    return [
      {
        severity: 'warning',
        code: 'model-alias-unknown',
        message: `The registered model '${reference.name}' has no alias '${qualifier}'.${suggestion ? ` Did you mean '${suggestion}'?` : registered.aliases.length ? ` Aliases: ${listNames(registered.aliases)}.` : ` It has no alias yet; set one with 'cairn models alias ${reference.name} ${qualifier} VERSION'.`}`,
        anchor,
        ...(suggestion ? { fix: { kind: 'replace' as const, replacement: replacement(suggestion) } } : {}),
      },
    ];
  }
  const version = Number(qualifier.replace(/^v/, ''));
  if (registered.versions.includes(version)) return [];
  return [
    {
      severity: 'warning',
      code: 'model-version-unknown',
      message: `The registered model '${reference.name}' has no version '${qualifier}'. Versions: ${listNames(registered.versions.map(String))}.`,
      anchor,
    },
  ];
}
