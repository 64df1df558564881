// `cairn export k8s` and `cairn export argo`: the written YAML is read back and every resource is
// validated against its schema (kubernetes-models for Deployment, Service and the autoscaler,
// @kubernetes-models/argo-workflows for the Workflow, a reduced InferenceService schema for KServe),
// then checked for what a user relies on: probes on the health endpoints with the spec's timings,
// the token from a Secret, the canary percent, one task per stage instance with the graph's edges.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { layOutCorpus } from '../helpers/corpus';
import { makeWorkspace, yaml } from '../helpers/workspace';
import { readExportSource } from '../../server/engine/export/deploySpec';
import type { ExportSource } from '../../server/engine/export/deploySpec';
import { argoWorkflow, MAX_DAG_TASKS, taskNames } from '../../server/engine/export/argo';
import { kubernetesResources } from '../../server/engine/export/kubernetes';
import { pipelineStages } from '../../server/engine/export/pipelineStages';
import { workspaceStages } from '../../server/engine/stages';

const repository = path.resolve(__dirname, '../..');
const cli = path.join(repository, 'dist/cli/cairn.js');

interface Validatable {
  validate(): void;
}
type Model = new (data: Record<string, unknown>) => Validatable;

interface Models {
  Deployment: Model;
  Service: Model;
  HorizontalPodAutoscaler: Model;
  Workflow: Model;
}

// The model packages are ES modules only; a dynamic import loads them from the CommonJS tests.
async function loadModels(): Promise<Models> {
  const apps = (await import('kubernetes-models/apps/v1')) as unknown as { Deployment: Model };
  const core = (await import('kubernetes-models/v1')) as unknown as { Service: Model };
  const autoscaling = (await import('kubernetes-models/autoscaling/v2')) as unknown as {
    HorizontalPodAutoscaler: Model;
  };
  const argo = (await import('@kubernetes-models/argo-workflows/argoproj.io/v1alpha1')) as unknown as {
    Workflow: Model;
  };
  return {
    Deployment: apps.Deployment,
    Service: core.Service,
    HorizontalPodAutoscaler: autoscaling.HorizontalPodAutoscaler,
    Workflow: argo.Workflow,
  };
}

const kserveSchema = JSON.parse(
  fs.readFileSync(path.join(__dirname, 'fixtures/kserve-inferenceservice.schema.json'), 'utf8'),
) as object;
const validateInferenceService = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(kserveSchema);

function cairn(root: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args, '--workspace', root], { cwd: root, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The export view of a deployment document, written to a file of its own and read as the CLI reads it. */
function sourceOf(spec: Json): ExportSource {
  const root = makeWorkspace({ 'churn.deploy.yaml': stringify(spec) });
  return readExportSource(path.join(root, 'churn.deploy.yaml'), root);
}

/** Argo's own rules for a DAG that the model package does not check: names, references, no cycle. */
function checkDag(workflow: Json): void {
  const templates = new Map<string, Json>((workflow['spec']['templates'] as Json[]).map((t) => [t['name'], t]));
  const tasks = templates.get(workflow['spec']['entrypoint'])?.['dag']['tasks'] as Json[];
  assert.ok(tasks, 'the entrypoint is a DAG template');
  const names = new Set(tasks.map((task) => task['name'] as string));
  assert.equal(names.size, tasks.length, 'task names are unique');
  for (const task of tasks) {
    assert.match(task['name'], /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    assert.ok(templates.has(task['template']), `task ${task['name']} names an existing template`);
    for (const dependency of task['dependencies'] ?? []) assert.ok(names.has(dependency), `${dependency} exists`);
  }
  // Kahn's algorithm: every task is reached, so there is no cycle.
  const remaining = new Map(tasks.map((task) => [task['name'] as string, (task['dependencies'] ?? []).length]));
  let ready = [...remaining].filter(([, count]) => count === 0).map(([name]) => name);
  let done = 0;
  while (ready.length > 0) {
    done += ready.length;
    const next: string[] = [];
    for (const task of tasks)
      for (const dependency of task['dependencies'] ?? [])
        if (ready.includes(dependency)) {
          const left = (remaining.get(task['name']) ?? 0) - 1;
          remaining.set(task['name'], left);
          if (left === 0) next.push(task['name']);
        }
    ready = next;
  }
  assert.equal(done, tasks.length, 'the DAG has no cycle');
}

const DEPLOY = yaml`
  model: rain-tomorrow@champion
  server: { port: 9000, token_env: CAIRN_SERVING_TOKEN }
  rollout:
    strategy: canary
    candidate: rain-tomorrow@challenger
    steps: [{ weight: 15, pause: 10m }, { weight: 60, pause: 10m }, { weight: 100 }]
  health: { interval: 15s, timeout: 1500ms, failure_threshold: 4 }
  export:
    kubernetes:
      image: ghcr.io/example/cairn-serve:0.1.0
      namespace: ml
      service_type: LoadBalancer
      resources: { requests: { cpu: 500m, memory: 512Mi }, limits: { cpu: "2", memory: 1Gi } }
      autoscaling: { min_replicas: 2, max_replicas: 6, target_cpu_percent: 70 }
    kserve: { storage_uri: "s3://models/rain/7", min_replicas: 1, max_replicas: 3 }
`;

describe('cairn export k8s and argo', function () {
  this.timeout(120000);
  let models: Models;

  before(async () => {
    models = await loadModels();
    const build = spawnSync('npm', ['run', 'build'], { cwd: repository, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
  });

  it('writes a Deployment, Service, autoscaler and InferenceService that pass their schemas', () => {
    const root = makeWorkspace({ 'deploy/rain.deploy.yaml': DEPLOY });
    const result = cairn(root, 'export', 'k8s', 'deploy/rain.deploy.yaml', '--json');
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { files: string[]; notes: string[] };
    const folder = path.join(root, 'k8s/rain');
    assert.deepEqual(
      report.files.map((file) => path.relative(folder, file)),
      ['deployment.yaml', 'service.yaml', 'hpa.yaml', 'inferenceservice.yaml', 'kustomization.yaml'],
    );
    const read = (name: string): Json => {
      const documents = parseAllDocuments(fs.readFileSync(path.join(folder, name), 'utf8'), { version: '1.1' });
      assert.equal(documents.length, 1);
      return documents[0]?.toJS() as Json;
    };
    const deployment = read('deployment.yaml');
    new models.Deployment(deployment).validate();
    const container = deployment['spec']['template']['spec']['containers'][0] as Json;
    assert.equal(container['image'], 'ghcr.io/example/cairn-serve:0.1.0');
    assert.deepEqual(container['ports'], [{ name: 'http', containerPort: 9000, protocol: 'TCP' }]);
    assert.deepEqual(container['livenessProbe'], {
      httpGet: { path: '/v2/health/live', port: 'http' },
      periodSeconds: 15,
      timeoutSeconds: 2,
      failureThreshold: 4,
    });
    assert.equal(container['readinessProbe']['httpGet']['path'], '/v2/health/ready');
    assert.deepEqual(container['env'], [
      { name: 'CAIRN_SERVING_TOKEN', valueFrom: { secretKeyRef: { name: 'rain-token', key: 'token' } } },
    ]);
    assert.deepEqual(container['resources']['limits'], { cpu: '2', memory: '1Gi' });
    assert.deepEqual(container['args'].slice(0, 2), ['deploy', 'deploy/rain.deploy.yaml']);
    assert.equal(deployment['spec']['replicas'], undefined, 'the autoscaler owns the replica count');
    assert.deepEqual(
      deployment['spec']['selector']['matchLabels'],
      Object.fromEntries(
        Object.entries(deployment['spec']['template']['metadata']['labels'] as Json).filter(([key]) =>
          ['app.kubernetes.io/name', 'app.kubernetes.io/component'].includes(key),
        ),
      ),
    );

    const service = read('service.yaml');
    new models.Service(service).validate();
    assert.equal(service['spec']['type'], 'LoadBalancer');
    assert.deepEqual(service['spec']['selector'], deployment['spec']['selector']['matchLabels']);
    assert.equal(service['spec']['ports'][0]['targetPort'], 'http');

    const autoscaler = read('hpa.yaml');
    new models.HorizontalPodAutoscaler(autoscaler).validate();
    assert.equal(autoscaler['apiVersion'], 'autoscaling/v2');
    assert.deepEqual(autoscaler['spec']['scaleTargetRef'], { apiVersion: 'apps/v1', kind: 'Deployment', name: 'rain' });
    assert.equal(autoscaler['spec']['metrics'][0]['resource']['target']['averageUtilization'], 70);

    const inference = read('inferenceservice.yaml');
    assert.ok(validateInferenceService(inference), JSON.stringify(validateInferenceService.errors));
    assert.deepEqual(inference['spec']['predictor'], {
      model: {
        modelFormat: { name: 'onnx' },
        protocolVersion: 'v2',
        storageUri: 's3://models/rain/7',
        resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: '2', memory: '1Gi' } },
      },
      minReplicas: 1,
      maxReplicas: 3,
      canaryTrafficPercent: 15,
    });
    assert.deepEqual(read('kustomization.yaml')['resources'], ['deployment.yaml', 'service.yaml', 'hpa.yaml']);
    assert.ok(report.notes.some((note) => note.includes('rain-token')));
  });

  it('takes the canary percent from export.kserve over the rollout, the A/B split otherwise, and none for direct', () => {
    const base = {
      model: 'churn:3',
      export: { kubernetes: { image: 'img' }, kserve: { storage_uri: 'pvc://models/churn' } },
    };
    const percent = (spec: Json): unknown =>
      kubernetesResources(sourceOf(spec), {
        specPath: 'churn.deploy.yaml',
      }).resources.find((entry) => entry.file === 'inferenceservice.yaml')?.resource['spec'];
    const canary = {
      ...base,
      rollout: { strategy: 'canary', candidate: 'churn:4', steps: [{ weight: 20 }] },
    };
    assert.equal((percent(canary) as Json)['predictor']['canaryTrafficPercent'], 20);
    const overridden = {
      ...canary,
      export: { ...base.export, kserve: { ...base.export.kserve, canary_traffic_percent: 5 } },
    };
    assert.equal((percent(overridden) as Json)['predictor']['canaryTrafficPercent'], 5);
    const ab = {
      ...base,
      rollout: { strategy: 'ab', candidate: 'churn:4', split: { weights: { stable: 70, candidate: 30 } } },
    };
    assert.equal((percent(ab) as Json)['predictor']['canaryTrafficPercent'], 30);
    assert.equal((percent(base) as Json)['predictor']['canaryTrafficPercent'], undefined);
    for (const spec of [canary, overridden, ab, base]) {
      const resource = kubernetesResources(sourceOf(spec), { specPath: 'x' }).resources;
      for (const { resource: written } of resource)
        if (written['kind'] === 'InferenceService')
          assert.ok(validateInferenceService(written), JSON.stringify(validateInferenceService.errors));
        else if (written['kind'] === 'Deployment') new models.Deployment(written).validate();
    }
  });

  it('without autoscaling or storage_uri: a fixed replica count, no autoscaler, no InferenceService, and says so', () => {
    const source = sourceOf({
      name: 'churn-api',
      model: { name: 'churn', alias: 'champion' },
      export: { kubernetes: { image: 'img', replicas: 3 } },
    });
    const exported = kubernetesResources(source, { specPath: 'churn.deploy.yaml' });
    assert.deepEqual(
      exported.resources.map((entry) => entry.file),
      ['deployment.yaml', 'service.yaml'],
    );
    const deployment = exported.resources[0]?.resource as Json;
    new models.Deployment(deployment).validate();
    assert.equal(deployment['spec']['replicas'], 3);
    assert.equal(deployment['metadata']['annotations']['cairn.dev/model'], 'churn@champion');
    assert.equal(exported.notes.length, 3);
    assert.match(exported.notes[0] ?? '', /the image must hold the workspace with its \.cairn registry/);
    assert.match(exported.notes.join('\n'), /hpa\.yaml not written[\s\S]*storage_uri/);
  });

  it('refuses a deployment file without an image, or with a schema error, naming the file and line', () => {
    const root = makeWorkspace({
      'a.deploy.yaml': 'model: churn@champion\n',
      'b.deploy.yaml': 'model: churn@champion\nexport:\n  kubernetes:\n    replicas: zero\n',
    });
    let result = cairn(root, 'export', 'k8s', 'a.deploy.yaml');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /a\.deploy\.yaml: no container image[\s\S]*export\.kubernetes\.image[\s\S]*--image/);
    result = cairn(root, 'export', 'k8s', 'a.deploy.yaml', '--image', 'img:1', '--out', 'out/k8s');
    assert.equal(result.status, 0, result.stderr);
    assert.ok(fs.existsSync(path.join(root, 'out/k8s/deployment.yaml')));
    result = cairn(root, 'export', 'k8s', 'b.deploy.yaml');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /b\.deploy\.yaml:4: /);
    assert.throws(() => readExportSource(path.join(root, 'missing.deploy.yaml'), root), /missing\.deploy\.yaml/);
  });

  it('writes the weather pipeline as an Argo DAG: one task per stage, edges from the stage graph', () => {
    const root = makeWorkspace({});
    fs.cpSync(path.join(repository, 'examples/weather'), root, { recursive: true });
    const out = path.join(root, 'argo/weather.yaml');
    const result = cairn(root, 'export', 'argo', 'pipeline.yaml', '--image', 'node:20', '--out', out, '--json');
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { pipeline: 'pipeline.yaml', file: out, tasks: 6 });
    const workflow = parse(fs.readFileSync(out, 'utf8'), { version: '1.1' }) as Json;
    new models.Workflow(workflow).validate();
    checkDag(workflow);
    const tasks = workflow['spec']['templates'][0]['dag']['tasks'] as Json[];
    const edges = Object.fromEntries(tasks.map((task) => [task['name'], task['dependencies'] ?? []]));
    assert.deepEqual(edges, {
      ingest: [],
      check: ['ingest'],
      split: ['check', 'ingest'],
      featurize: ['split'],
      train: ['featurize'],
      evaluate: ['featurize', 'train'],
    });
    const train = (workflow['spec']['templates'] as Json[]).find((template) => template['name'] === 'train') as Json;
    assert.deepEqual(train['container'], {
      name: 'main',
      image: 'node:20',
      command: ['sh', '-ec'],
      args: ['node src/train.mjs'],
      workingDir: '/workspace',
      volumeMounts: [{ name: 'workspace', mountPath: '/workspace' }],
    });
    assert.deepEqual(workflow['spec']['volumes'], [
      { name: 'workspace', persistentVolumeClaim: { claimName: 'cairn-workspace' } },
    ]);
    // Without --out the Workflow goes to stdout; without --image the command says what is missing.
    const printed = cairn(root, 'export', 'argo', 'pipeline.yaml', '--image', 'node:20', '--claim', 'data');
    assert.equal(printed.status, 0, printed.stderr);
    assert.equal((parse(printed.stdout) as Json)['spec']['volumes'][0]['persistentVolumeClaim']['claimName'], 'data');
    const missing = cairn(root, 'export', 'argo', 'pipeline.yaml');
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /--image is needed/);
  });

  it('expands foreach and matrix instances into tasks, runs lists of commands in order, keeps wdir', () => {
    const root = makeWorkspace({
      'params.yaml': 'lrs: [0.1, 0.01]\n',
      'dvc.yaml': yaml`
        stages:
          prepare:
            cmd: [mkdir -p data, echo ok > data/raw.txt]
            outs: [data/raw.txt]
          train:
            foreach: \${lrs}
            do:
              cmd: python train.py --lr \${item}
              deps: [data/raw.txt]
              outs:
                - models/model-\${item}.bin
          report:
            matrix:
              kind: [a, b]
            wdir: reports
            cmd: python report.py \${item.kind}
            deps: [../models/model-0.1.bin]
            outs:
              - report-\${item.kind}.md
      `,
    });
    const stages = pipelineStages(root, path.join(root, 'dvc.yaml'));
    const workflow = argoWorkflow(stages, { name: 'demo', image: 'python:3.12', claim: 'ws', pipeline: 'dvc.yaml' });
    new models.Workflow(workflow).validate();
    checkDag(workflow);
    const tasks = (workflow['spec'] as Json)['templates'][0]['dag']['tasks'] as Json[];
    assert.deepEqual(
      tasks.map((task) => [task['name'], task['dependencies'] ?? []]),
      [
        ['prepare', []],
        ['train-0-1', ['prepare']],
        ['train-0-01', ['prepare']],
        ['report-a', ['train-0-1']],
        ['report-b', ['train-0-1']],
      ],
    );
    const templates = (workflow['spec'] as Json)['templates'] as Json[];
    const prepare = templates.find((template) => template['name'] === 'prepare') as Json;
    assert.deepEqual(prepare['container']['args'], ['mkdir -p data\necho ok > data/raw.txt']);
    const report = templates.find((template) => template['name'] === 'report-b') as Json;
    assert.equal(report['container']['workingDir'], '/workspace/reports');
    assert.equal(report['container']['args'][0], 'python report.py b');
    assert.equal(report['metadata']['annotations']['cairn.dev/stage'], 'report@b');
  });

  it('gives distinct Argo names to stage addresses that read alike', () => {
    const names = taskNames(['train@A', 'train@a', 'pipeline', 'sub/dvc.yaml:prep', '@@']);
    assert.deepEqual([...names.values()], ['train-a', 'train-a-2', 'pipeline-2', 'sub-dvc-yaml-prep', 'stage']);
  });

  it('exports the corpus pipelines that the runner can run, each a valid DAG with every stage instance', () => {
    let exported = 0;
    let tooLarge = 0;
    for (const entry of layOutCorpus()) {
      const { stages, problems } = workspaceStages(entry.root);
      const own = stages.filter((stage) => stage.pipelineFile === entry.pipeline);
      let workflow: Json;
      try {
        workflow = argoWorkflow(pipelineStages(entry.root, entry.pipeline), {
          name: entry.id,
          image: 'python:3.12',
          claim: 'ws',
          pipeline: 'dvc.yaml',
        });
      } catch (error) {
        // Past Argo's size limit the export says so; a pipeline the runner refuses is refused with
        // the runner's located problems.
        if (own.length > MAX_DAG_TASKS) {
          assert.match(String(error), /more than the 199 tasks one Argo DAG can hold/);
          tooLarge++;
          continue;
        }
        assert.ok(problems.some((problem) => problem.file === entry.pipeline) || own.length === 0, entry.id);
        assert.match(String(error), /dvc\.yaml(:\d+)?: /, entry.id);
        continue;
      }
      new models.Workflow(workflow).validate();
      checkDag(workflow);
      const tasks = (workflow['spec'] as Json)['templates'][0]['dag']['tasks'] as Json[];
      assert.ok(tasks.length >= own.length, entry.id);
      exported++;
    }
    assert.ok(exported >= 20, `only ${exported} corpus pipelines exported (${tooLarge} too large for one DAG)`);
  });
});
