// `cairn export k8s|argo`: a deployment as Kubernetes manifests and a KServe InferenceService, and a
// pipeline as an Argo Workflows DAG, written as YAML for `kubectl apply` / `argo submit`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { ArgoExportError, argoWorkflow, dnsLabel } from '../../engine/export/argo';
import { DeploymentSpecError, readExportSource } from '../../engine/export/deploySpec';
import { ExportError, kubernetesResources } from '../../engine/export/kubernetes';
import { pipelineStages } from '../../engine/export/pipelineStages';
import { specKindOf } from '../../spec/schemas';
import { rejectUnknownOptions, takeOption, UsageError } from '../args';
import type { Command, CommandContext } from '../args';

export const exportCommand: Command = {
  usage: [
    'export k8s DEPLOY_FILE [--out DIR] [--image IMAGE]',
    '                              Kubernetes manifests (Deployment, Service, HorizontalPodAutoscaler) and a',
    '                              KServe InferenceService for a deployment (default DIR: k8s/NAME).',
    'export argo PIPELINE_FILE --image IMAGE [--claim PVC] [--out FILE]',
    '                              The pipeline as an Argo Workflows DAG, one task per stage, the workspace',
    '                              mounted from the PersistentVolumeClaim PVC (default: cairn-workspace).',
  ],
  run(context) {
    const target = context.args.shift();
    try {
      switch (target) {
        case 'k8s':
        case 'kubernetes':
          return exportKubernetes(context);
        case 'argo':
          return exportArgo(context);
        default:
          throw new UsageError(
            target ? `Unknown export target '${target}'. Use k8s or argo.` : 'export needs a target: k8s or argo.',
          );
      }
    } catch (error) {
      if (error instanceof DeploymentSpecError || error instanceof ExportError || error instanceof ArgoExportError)
        throw new UsageError(error.message);
      throw error;
    }
  },
};

/** YAML that Kubernetes' YAML 1.1 reader reads back as written (`"on"`, `"yes"` stay strings). */
export function manifestYaml(resource: unknown): string {
  return stringify(resource, { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false });
}

function exportKubernetes({ root, json, args }: CommandContext): number {
  const out = takeOption(args, '--out');
  const image = takeOption(args, '--image');
  rejectUnknownOptions(args);
  const file = requireFile(args, 'deployment', 'the deployment file (NAME.deploy.yaml)');
  const relative = path.relative(root, file).split(path.sep).join('/');
  if (relative.startsWith('..'))
    throw new UsageError(`${file} is outside the workspace ${root}; the image holds the workspace, so export from it.`);
  const source = readExportSource(file, root);
  const exported = kubernetesResources(source, {
    specPath: source.relativeFile,
    ...(image !== undefined ? { image } : {}),
  });
  const folder = path.resolve(out ?? path.join(root, 'k8s', source.name));
  fs.mkdirSync(folder, { recursive: true });
  const written: string[] = [];
  for (const { file: name, resource } of exported.resources) {
    fs.writeFileSync(path.join(folder, name), manifestYaml(resource));
    written.push(name);
  }
  // kubectl apply -k applies the plain Kubernetes resources; the InferenceService is the alternative.
  const plain = written.filter((name) => name !== 'inferenceservice.yaml');
  fs.writeFileSync(
    path.join(folder, 'kustomization.yaml'),
    manifestYaml({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: plain }),
  );
  written.push('kustomization.yaml');
  const files = written.map((name) => path.join(folder, name));
  if (json) {
    process.stdout.write(`${JSON.stringify({ deployment: source.name, files, notes: exported.notes }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(`Wrote ${written.length} files to ${shown(folder)}: ${written.join(', ')}\n`);
  for (const note of exported.notes) process.stdout.write(`  note: ${note}\n`);
  process.stdout.write(
    `Apply with: kubectl apply -k ${shown(folder)}${written.includes('inferenceservice.yaml') ? ' (or, on KServe, kubectl apply -f inferenceservice.yaml)' : ''}\n`,
  );
  return 0;
}

function exportArgo({ root, json, args }: CommandContext): number {
  const out = takeOption(args, '--out');
  const image = takeOption(args, '--image');
  const claim = takeOption(args, '--claim') ?? 'cairn-workspace';
  rejectUnknownOptions(args);
  const file = requireFile(args, 'pipeline', 'the pipeline file (dvc.yaml, pipeline.yaml or NAME.pipeline.yaml)');
  if (image === undefined)
    throw new UsageError(
      '--image is needed: the container image each stage runs in (it needs the tools the stages call).',
    );
  const relative = path.relative(root, file).split(path.sep).join('/');
  if (relative.startsWith('..'))
    throw new UsageError(`${file} is outside the workspace ${root}. Give --workspace DIR of the pipeline's workspace.`);
  const stages = pipelineStages(root, file);
  const base = path.basename(file).replace(/(\.pipeline)?\.ya?ml$/, '');
  const name = ['dvc', 'pipeline'].includes(base) ? path.basename(path.dirname(file)) : base;
  const workflow = argoWorkflow(stages, { name: dnsLabel(name, 50) || 'pipeline', image, claim, pipeline: relative });
  const text = manifestYaml(workflow);
  if (out === undefined) {
    process.stdout.write(text);
    return 0;
  }
  const target = path.resolve(out);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, text);
  if (json) process.stdout.write(`${JSON.stringify({ pipeline: relative, file: target, tasks: stages.length })}\n`);
  else process.stdout.write(`Wrote ${shown(target)}: ${stages.length} tasks. Submit with: argo submit ${out}\n`);
  return 0;
}

/** A path as the user reads it best: relative below the current folder, absolute elsewhere. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative === '' ? '.' : relative.startsWith('..') ? file : relative;
}

function requireFile(args: string[], kind: 'deployment' | 'pipeline', what: string): string {
  const argument = args.shift();
  if (argument === undefined) throw new UsageError(`Give ${what}.`);
  if (args.length > 0) throw new UsageError(`Unexpected argument '${args[0] ?? ''}'.`);
  const file = path.resolve(argument);
  if (!fs.existsSync(file)) throw new UsageError(`${argument}: no such file.`);
  if (specKindOf(file) !== kind) throw new UsageError(`${argument}: not ${what}.`);
  return file;
}
