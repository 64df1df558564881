// A pipeline as an Argo Workflows Workflow: one DAG task per stage instance (foreach and matrix
// instances expanded), dependencies from the stage graph, each task running the stage's commands in
// a container with the workspace mounted at its working folder. Pure: stages in, a Workflow out.

/** A stage as the export needs it. */
export interface ArgoStage {
  /** The stage's address across the workspace (`train`, `train@1`, `sub/dvc.yaml:prep`). */
  address: string;
  /** The interpolated commands, run in order; the first failure fails the task. */
  commands: string[];
  /** The working folder, relative to the workspace (POSIX, '' for the root). */
  wdir: string;
  /** Addresses of the stages it depends on. */
  upstream: string[];
}

export interface ArgoOptions {
  /** The Workflow's name prefix (generateName). */
  name: string;
  image: string;
  /** The PersistentVolumeClaim holding the workspace. */
  claim: string;
  /** Where the workspace is mounted in each container. */
  mountPath?: string;
  /** The pipeline file, workspace-relative, recorded as an annotation. */
  pipeline: string;
}

export type Workflow = Record<string, unknown>;

/** Argo Workflows' schema takes at most this many tasks in one DAG (and templates in one Workflow). */
export const MAX_DAG_TASKS = 199;

/** Raised for a pipeline Argo cannot take as one DAG; the message says why and what to do. */
export class ArgoExportError extends Error {}

/** The Workflow that runs the stages as a DAG. */
export function argoWorkflow(stages: readonly ArgoStage[], options: ArgoOptions): Workflow {
  // One template per task plus the DAG's own must fit the 200 templates a Workflow may hold.
  if (stages.length > MAX_DAG_TASKS)
    throw new ArgoExportError(
      `${options.pipeline}: ${stages.length} stage instances, more than the ${MAX_DAG_TASKS} tasks one Argo DAG can hold. Export a pipeline file with fewer stages, or fewer foreach/matrix items.`,
    );
  const mountPath = options.mountPath ?? '/workspace';
  const names = taskNames(stages.map((stage) => stage.address));
  const tasks = stages.map((stage) => {
    const name = names.get(stage.address) ?? stage.address;
    const dependencies = stage.upstream
      .map((address) => names.get(address))
      .filter((dependency): dependency is string => dependency !== undefined)
      .sort();
    return { name, template: name, ...(dependencies.length > 0 ? { dependencies } : {}) };
  });
  const templates = stages.map((stage) => ({
    name: names.get(stage.address) ?? stage.address,
    metadata: { annotations: { 'cairn.dev/stage': stage.address } },
    container: {
      name: 'main',
      image: options.image,
      // sh -e stops at the first failing command, as the runner does with a list of commands.
      command: ['sh', '-ec'],
      args: [stage.commands.join('\n')],
      workingDir: stage.wdir ? `${mountPath}/${stage.wdir}` : mountPath,
      volumeMounts: [{ name: 'workspace', mountPath }],
    },
  }));
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata: {
      generateName: `${dnsLabel(options.name, 50)}-`,
      labels: { 'app.kubernetes.io/part-of': 'cairn', 'app.kubernetes.io/managed-by': 'cairn' },
      annotations: { 'cairn.dev/pipeline': options.pipeline },
    },
    spec: {
      entrypoint: 'pipeline',
      volumes: [{ name: 'workspace', persistentVolumeClaim: { claimName: options.claim } }],
      templates: [{ name: 'pipeline', dag: { tasks } }, ...templates],
    },
  };
}

/**
 * Task and template names: Argo wants lowercase letters, digits and '-', so `train@lr-0.1` becomes
 * `train-lr-0-1`; names that collide after that get a number.
 */
export function taskNames(addresses: readonly string[]): Map<string, string> {
  const names = new Map<string, string>();
  const used = new Set<string>(['pipeline']);
  for (const address of addresses) {
    const base = dnsLabel(address, 56) || 'stage';
    let name = base;
    for (let counter = 2; used.has(name); counter++) name = `${base}-${counter}`;
    used.add(name);
    names.set(address, name);
  }
  return names;
}

/** Lowercase letters, digits and single '-', starting and ending with a letter or digit. */
export function dnsLabel(text: string, maxLength: number): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, maxLength)
    .replace(/^-+|-+$/g, '');
}
