// Tests of the JSON Schemas in schemas/: they compile in strict mode, every real DVC pipeline of the
// corpus validates (except the two legacy files, which fail exactly on their legacy keys), hand-written
// Cairn specs are accepted or rejected as intended, and every property carries the docs hover shows.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import * as YAML from 'yaml';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type SchemaNode = { [key: string]: Json };

const schemaDir = path.resolve(__dirname, '../../schemas');
const corpusDir = path.resolve(__dirname, '../../../shared/corpus/dvc');
const schemaFiles = ['pipeline.schema.json', 'experiment.schema.json', 'deployment.schema.json'] as const;

function readSchema(file: string): SchemaNode {
  return JSON.parse(fs.readFileSync(path.join(schemaDir, file), 'utf8')) as SchemaNode;
}

/** The validator setup the language server, CLI and engine share: strict mode, plus our one annotation keyword. */
function createAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  ajv.addKeyword({ keyword: 'markdownDescription', schemaType: 'string' });
  for (const file of schemaFiles) ajv.addSchema(readSchema(file));
  return ajv;
}

const ajv = createAjv();

function validatorFor(file: (typeof schemaFiles)[number]): ValidateFunction {
  const id = readSchema(file)['$id'];
  assert.equal(typeof id, 'string');
  const validate = ajv.getSchema(id as string);
  assert.ok(validate, `schema ${file} is registered`);
  return validate;
}

const validatePipeline = validatorFor('pipeline.schema.json');
const validateExperiment = validatorFor('experiment.schema.json');
const validateDeployment = validatorFor('deployment.schema.json');

/** Parses YAML text as the language server does (a leading BOM removed) and fails on any syntax error. */
function parseYaml(text: string): unknown {
  const doc = YAML.parseDocument(text.replace(/^\uFEFF/, ''));
  assert.deepEqual(
    doc.errors.map((e) => e.message),
    [],
    'YAML parses without errors',
  );
  return doc.toJS();
}

function describeErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
    .join('\n');
}

function assertValid(validate: ValidateFunction, data: unknown, label: string): void {
  const ok = validate(data);
  assert.ok(ok, `${label} should be valid, got:\n${describeErrors(validate.errors)}`);
}

/** Asserts the data is invalid and that one of the errors matches the expected keyword, place and params. */
function assertInvalid(
  validate: ValidateFunction,
  data: unknown,
  expected: { keyword: string; instancePath?: string; params?: Record<string, unknown> },
  label: string,
): void {
  const ok = validate(data);
  assert.equal(ok, false, `${label} should be invalid`);
  const errors = validate.errors ?? [];
  const found = errors.some(
    (e) =>
      e.keyword === expected.keyword &&
      (expected.instancePath === undefined || e.instancePath === expected.instancePath) &&
      Object.entries(expected.params ?? {}).every(([k, v]) => (e.params as Record<string, unknown>)[k] === v),
  );
  assert.ok(found, `${label}: expected a ${JSON.stringify(expected)} error, got:\n${describeErrors(errors)}`);
}

// ---------------------------------------------------------------------------------------------
// Valid examples of each kind, also useful as documentation of a complete spec.

const validPipelineYaml = `
vars:
  - config/paths.yaml
  - seeds: [1, 2, 3]
params:
  - params.yaml
metrics:
  - eval/metrics.json
plots:
  - ROC:
      template: simple
      x: fpr
      y:
        eval/roc/train.json: tpr
        eval/roc/test.json: tpr
  - eval/importance.png
artifacts:
  churn-model:
    path: models/churn.onnx
    type: model
    labels: [tabular]
datasets:
  churn:
    description: Telco customer churn
    source:
      type: csv
      path: data/raw/churn.csv
      options: { delimiter: "," }
    schema:
      columns:
        customer_id: { type: string, nullable: false }
        tenure: { type: integer }
        monthly_charges: { type: number }
        churned: { type: boolean }
        signup_time: { type: timestamp }
    checks:
      - { column: customer_id, not_null: true }
      - { column: customer_id, unique: true }
      - { column: tenure, type: integer }
      - { column: tenure, range: { min: 0, max: 120 } }
      - { column: contract, allowed: [month-to-month, one-year, two-year] }
      - rows: { min: 1000 }
      - freshness: { column: signup_time, max_age: 30d }
  orders:
    source: { type: sqlite, path: data/shop.db, table: orders }
  clicks:
    stream:
      type: jsonl
      path: data/stream/clicks.jsonl
      window: { time: 1m, rows: 5000 }
stages:
  prepare:
    cmd: python src/prepare.py data/raw/churn.csv data/prepared
    deps: [src/prepare.py, data/raw/churn.csv]
    params: [prepare.split, prepare.seed]
    outs:
      - data/prepared:
          persist: false
          desc: Train and test splits
  featurize:
    foreach: [train, test]
    do:
      cmd: python src/featurize.py \${item}
      deps:
        - data/prepared/\${item}.csv
      outs:
        - features/\${item}.parquet
  train:
    matrix:
      seed: \${seeds}
      model: [xgb, mlp]
    cmd:
      - python src/train.py --seed \${item.seed} --model \${item.model}
      - python src/export_onnx.py
    wdir: .
    deps: [features/train.parquet]
    params:
      - train
      - config/model.yaml: [layers, dropout]
      - config/extra.json:
    outs:
      - models/churn.onnx
    metrics:
      - eval/metrics.json: { cache: false }
    plots:
      - eval/loss.csv:
          x: epoch
          y: loss
          template: linear
          cache: false
    desc: Train the churn model
    meta: { owner: growth }
models:
  churn:
    artifact: models/churn.onnx
    stage: train
    description: Predicts churn within 30 days
    tags: { team: growth }
    gate:
      split: holdout
      acceptance:
        - auc >= 0.8
        - { metric: log_loss, op: "<", value: 0.45 }
        - { metric: auc, improvement: { min_absolute: 0.005 }, relative_to: champion }
      slices:
        - { column: region, metric: recall, max_gap: 0.05, min: 0.6 }
`;

const validExperimentYaml = `
name: churn-sweep
description: Tune the churn model
pipeline: pipeline.yaml
stages: [train, evaluate]
search:
  strategy: tpe
  seed: 42
  tpe: { startup_trials: 10, candidates: 24 }
  space:
    train.lr: { type: loguniform, low: 0.0001, high: 0.1 }
    train.max_depth: { type: int, low: 2, high: 10, step: 2 }
    train.subsample: { type: uniform, low: 0.5, high: 1.0 }
    model.type: { type: categorical, choices: [xgb, mlp] }
    mlp.layers:
      type: int
      low: 1
      high: 4
      when: { param: model.type, equals: mlp }
budget: { trials: 100, time: 2h }
parallel: 4
objective: { metric: auc, direction: maximize, stage: evaluate }
pruning: { strategy: median, metric: val_auc, warmup_steps: 5, min_trials: 5 }
holdout: { split: holdout, stage: evaluate }
acceptance:
  - auc >= 0.8
  - { metric: f1, op: ">=", value: 0.7 }
  - { metric: auc, improvement: { min_relative: 0.01 }, relative_to: champion }
slices:
  - { column: region, metric: recall, max_gap: 0.05 }
register: { model: churn, alias: challenger, require_approval: true }
`;

const validDeploymentYaml = `
name: churn-api
model: churn@champion
server:
  host: 127.0.0.1
  port: 8080
  workers: 2
  batch: { max_size: 32, max_latency_ms: 5 }
  protocols: [v2, mlflow]
rollout:
  strategy: canary
  candidate: churn@challenger
  steps:
    - weight: 10
      pause: 10m
      analysis: { metric: error_rate, max: 0.01 }
    - { weight: 50, pause: 30m, analysis: { metric: latency_p99_ms, max: 250 } }
    - weight: 100
  abort_on: [error-rate-high]
fallback:
  model: { name: churn, version: 6 }
  on: [error, timeout]
  timeout_ms: 200
health: { path: /v2/health/ready, interval: 10s, timeout: 1s, failure_threshold: 3 }
monitoring:
  reference: { dataset: churn }
  drift:
    method: auto
    share: 0.5
    features: [tenure, monthly_charges]
    window: 1h
  concept_drift: { detector: adwin, delta: 0.002 }
  labels: { source: data/labels.jsonl, delay: 1d, join_key: request_id }
  performance: { metric: auc, min: 0.75 }
  latency: { p95_ms: 50, p99_ms: 120 }
  errors: { max_rate: 0.01 }
  kpis:
    - { name: conversion, expression: 'count(outcome == "purchase") / count()', target: 0.05, direction: maximize }
  alerts:
    - { name: error-rate-high, when: error_rate > 0.02, severity: critical, runbook: runbooks/errors.md, for: 5m }
    - { name: drift-high, when: drift.share > 0.5, severity: warning, runbook: runbooks/drift.md }
  webhook: http://127.0.0.1:9099/alerts
  rollback: { automatic: true, on: [error-rate-high] }
  retrain: { experiment: churn.experiment.yaml, on: [drift-high], approval: required }
export:
  kubernetes:
    namespace: ml
    image: ghcr.io/example/cairn-serve:0.1.0
    resources: { requests: { cpu: 500m, memory: 512Mi } }
    autoscaling: { min_replicas: 2, max_replicas: 6, target_cpu_percent: 70 }
  kserve: { namespace: ml, storage_uri: s3://models/churn/7, canary_traffic_percent: 10 }
`;

/** A deep copy of a parsed example with one change applied, for the invalid cases. */
function variant(yamlText: string, change: (doc: Record<string, Json>) => void): Record<string, Json> {
  const doc = parseYaml(yamlText) as Record<string, Json>;
  change(doc);
  return doc;
}

function at(doc: Json, ...keys: (string | number)[]): Record<string, Json> {
  let node: Json = doc;
  for (const key of keys) node = (node as Record<string, Json>)[key] as Json;
  return node as Record<string, Json>;
}

// ---------------------------------------------------------------------------------------------

describe('schemas', () => {
  describe('compile', () => {
    for (const file of schemaFiles) {
      it(`${file} compiles with Ajv 2020-12 in strict mode`, () => {
        const fresh = new Ajv2020({ strict: true, allErrors: true });
        fresh.addKeyword({ keyword: 'markdownDescription', schemaType: 'string' });
        const schema = readSchema(file);
        assert.equal(schema['$schema'], 'https://json-schema.org/draft/2020-12/schema');
        assert.equal(schema['$id'], `https://cairn.dev/schemas/${file}`);
        fresh.compile(schema);
      });
    }

    it('lets the language server validate one stage at a time through $defs.stage', () => {
      const pipeline = readSchema('pipeline.schema.json');
      const stages = at(pipeline, 'properties', 'stages');
      assert.equal(stages['type'], 'object');
      assert.deepEqual(stages['additionalProperties'], { $ref: '#/$defs/stage' });
      const validateStage = ajv.getSchema('https://cairn.dev/schemas/pipeline.schema.json#/$defs/stage');
      assert.ok(validateStage);
      assertValid(validateStage, { cmd: 'python train.py', outs: ['model.onnx'] }, 'a single stage');
      assertInvalid(
        validateStage,
        { cmd: 'x', outz: [] },
        { keyword: 'additionalProperties', params: { additionalProperty: 'outz' } },
        'typo',
      );
    });
  });

  describe('DVC corpus', () => {
    // Files that current DVC itself rejects: stage-level `live:` (old DVCLive) and out-level `checkpoint:`.
    const legacy: Record<string, { instancePath: string; key: string }[]> = {
      '33': [{ instancePath: '/stages/train', key: 'live' }],
      '34': [
        { instancePath: '/stages/train', key: 'live' },
        { instancePath: '/stages/train/outs/0/model.pt', key: 'checkpoint' },
      ],
    };
    const dirs = fs
      .readdirSync(corpusDir)
      .filter((d) => fs.existsSync(path.join(corpusDir, d, 'dvc.yaml')))
      .sort();

    it('has the 40 pipelines described in SOURCES.md', () => {
      assert.equal(dirs.length, 40);
    });

    for (const dir of dirs) {
      const number = dir.slice(0, 2);
      const expectedLegacy = legacy[number];
      const text = fs.readFileSync(path.join(corpusDir, dir, 'dvc.yaml'), 'utf8');

      if (expectedLegacy === undefined) {
        it(`${dir} validates`, () => {
          assertValid(validatePipeline, parseYaml(text), dir);
        });
        continue;
      }

      it(`${dir} fails exactly on its legacy keys`, () => {
        const data = parseYaml(text) as Record<string, Json>;
        assert.equal(validatePipeline(data), false);
        const unknown = (validatePipeline.errors ?? [])
          .filter((e) => e.keyword === 'additionalProperties')
          .map((e) => ({
            instancePath: e.instancePath,
            key: (e.params as { additionalProperty: string }).additionalProperty,
          }));
        assert.deepEqual(unknown, expectedLegacy);
        // Without the legacy keys nothing else is wrong with the file.
        for (const { instancePath, key } of expectedLegacy) {
          delete at(data, ...instancePath.split('/').slice(1))[key];
        }
        assertValid(validatePipeline, data, `${dir} without legacy keys`);
      });
    }

    it('35: the trailing tab that PyYAML rejects is plain whitespace to the yaml package (YAML 1.2)', () => {
      const file = dirs.find((d) => d.startsWith('35-'));
      assert.ok(file);
      const text = fs.readFileSync(path.join(corpusDir, file, 'dvc.yaml'), 'utf8');
      assert.ok(text.includes('load_dataset.py\t\n'), 'the corpus file still has its trailing tab');
      const doc = YAML.parseDocument(text);
      assert.deepEqual(doc.errors, []);
      assert.deepEqual(doc.warnings, []);
      assert.deepEqual(at(doc.toJS() as Json, 'stages', 'tokenizer_transformer')['deps'], ['src/data/load_dataset.py']);
    });

    it('37: starts with a BOM, which is stripped before parsing', () => {
      const file = dirs.find((d) => d.startsWith('37-'));
      assert.ok(file);
      const text = fs.readFileSync(path.join(corpusDir, file, 'dvc.yaml'), 'utf8');
      assert.equal(text.charCodeAt(0), 0xfeff);
      const data = parseYaml(text) as Record<string, Json>;
      assert.ok('stages' in data);
    });
  });

  describe('pipeline', () => {
    it('accepts the full example', () => {
      assertValid(validatePipeline, parseYaml(validPipelineYaml), 'pipeline example');
    });

    it('accepts DVC list-form datasets', () => {
      const data = parseYaml(`
datasets:
  - { name: images, type: dvc, url: "git@github.com:example/registry.git", path: images, rev: main }
  - { name: raw, type: url, url: "s3://bucket/raw" }
stages:
  train: { cmd: python train.py, deps: ["ds://images"] }
`);
      assertValid(validatePipeline, data, 'DVC datasets');
    });

    const cases: [string, (doc: Record<string, Json>) => void, Parameters<typeof assertInvalid>[2]][] = [
      [
        'a misspelled stage key',
        (d) => (at(d, 'stages', 'prepare')['dep'] = ['x']),
        { keyword: 'additionalProperties', instancePath: '/stages/prepare', params: { additionalProperty: 'dep' } },
      ],
      [
        'a stage without cmd',
        (d) => delete at(d, 'stages', 'prepare')['cmd'],
        { keyword: 'required', instancePath: '/stages/prepare', params: { missingProperty: 'cmd' } },
      ],
      [
        'a live section',
        (d) => (at(d, 'stages', 'prepare')['live'] = { dvclive: { html: true } }),
        { keyword: 'additionalProperties', params: { additionalProperty: 'live' } },
      ],
      [
        'checkpoint on an out',
        (d) => (at(d, 'stages', 'train')['outs'] = [{ 'model.pt': { checkpoint: true } }]),
        {
          keyword: 'additionalProperties',
          instancePath: '/stages/train/outs/0/model.pt',
          params: { additionalProperty: 'checkpoint' },
        },
      ],
      [
        'a foreach stage with cmd beside do',
        (d) => (at(d, 'stages', 'featurize')['cmd'] = 'x'),
        { keyword: 'enum', instancePath: '/stages/featurize' },
      ],
      [
        'do without foreach',
        (d) => delete at(d, 'stages', 'featurize')['foreach'],
        { keyword: 'required', params: { missingProperty: 'foreach' } },
      ],
      [
        'a foreach string that is not ${...}',
        (d) => (at(d, 'stages', 'featurize')['foreach'] = 'datasets'),
        { keyword: 'pattern', instancePath: '/stages/featurize/foreach' },
      ],
      [
        'frozen as a string',
        (d) => (at(d, 'stages', 'prepare')['frozen'] = 'yes'),
        { keyword: 'type', instancePath: '/stages/prepare/frozen' },
      ],
      [
        'an unknown top-level key',
        (d) => (d['stagez'] = {}),
        { keyword: 'additionalProperties', instancePath: '', params: { additionalProperty: 'stagez' } },
      ],
      [
        'an unknown column type',
        (d) => (at(d, 'datasets', 'churn', 'schema', 'columns', 'tenure')['type'] = 'int'),
        { keyword: 'enum', instancePath: '/datasets/churn/schema/columns/tenure/type' },
      ],
      [
        'a check with two kinds',
        (d) => (at(d, 'datasets', 'churn', 'checks', 0)['unique'] = true),
        { keyword: 'oneOf', instancePath: '/datasets/churn/checks/0' },
      ],
      [
        'a column check without column',
        (d) => delete at(d, 'datasets', 'churn', 'checks', 1)['column'],
        { keyword: 'dependentRequired', instancePath: '/datasets/churn/checks/1' },
      ],
      [
        'sqlite without table or query',
        (d) => delete at(d, 'datasets', 'orders', 'source')['table'],
        { keyword: 'required', instancePath: '/datasets/orders/source', params: { missingProperty: 'table' } },
      ],
      [
        'table on a csv source',
        (d) => (at(d, 'datasets', 'churn', 'source')['table'] = 't'),
        { keyword: 'false schema', instancePath: '/datasets/churn/source/table' },
      ],
      [
        'a stream window in words',
        (d) => (at(d, 'datasets', 'clicks', 'stream', 'window')['time'] = '1 minute'),
        { keyword: 'pattern', instancePath: '/datasets/clicks/stream/window/time' },
      ],
      [
        'a model artifact that is not ONNX',
        (d) => (at(d, 'models', 'churn')['artifact'] = 'models/churn.pkl'),
        { keyword: 'pattern', instancePath: '/models/churn/artifact' },
      ],
      [
        'a malformed criterion',
        (d) => (at(d, 'models', 'churn', 'gate')['acceptance'] = ['auc >>= 0.8']),
        { keyword: 'pattern', instancePath: '/models/churn/gate/acceptance/0' },
      ],
    ];
    for (const [label, change, expected] of cases) {
      it(`rejects ${label}`, () =>
        assertInvalid(validatePipeline, variant(validPipelineYaml, change), expected, label));
    }
  });

  describe('experiment', () => {
    it('accepts the full example', () => {
      assertValid(validateExperiment, parseYaml(validExperimentYaml), 'experiment example');
    });

    it('accepts a minimal experiment (pipeline defaults to pipeline.yaml)', () => {
      assertValid(validateExperiment, parseYaml('name: smoke\nstages: [train]\n'), 'minimal');
      assertValid(validateExperiment, parseYaml('pipeline: dvc.yaml\n'), 'dvc.yaml pipeline');
    });

    it('accepts a grid search over finite parameters', () => {
      const data = parseYaml(`
search:
  strategy: grid
  space:
    train.lr: { type: uniform, low: 0.01, high: 0.1, step: 0.01 }
    train.depth: { type: int, low: 2, high: 8 }
    model.type: { type: categorical, choices: [xgb, mlp] }
objective: { metric: auc, direction: maximize }
`);
      assertValid(validateExperiment, data, 'grid');
    });

    const cases: [string, (doc: Record<string, Json>) => void, Parameters<typeof assertInvalid>[2]][] = [
      [
        'search without objective',
        (d) => delete d['objective'],
        { keyword: 'dependentRequired', params: { missingProperty: 'objective' } },
      ],
      [
        'search without space',
        (d) => delete at(d, 'search')['space'],
        { keyword: 'required', instancePath: '/search', params: { missingProperty: 'space' } },
      ],
      [
        'a misspelled top-level key',
        (d) => (d['objectve'] = {}),
        { keyword: 'additionalProperties', params: { additionalProperty: 'objectve' } },
      ],
      [
        'an unknown strategy',
        (d) => (at(d, 'search')['strategy'] = 'bayes'),
        { keyword: 'enum', instancePath: '/search/strategy' },
      ],
      [
        'an unknown distribution',
        (d) => (at(d, 'search', 'space', 'train.lr')['type'] = 'normal'),
        { keyword: 'enum', instancePath: '/search/space/train.lr/type' },
      ],
      [
        'categorical without choices',
        (d) => (at(d, 'search', 'space')['model.type'] = { type: 'categorical' }),
        { keyword: 'required', params: { missingProperty: 'choices' } },
      ],
      [
        'uniform without high',
        (d) => delete at(d, 'search', 'space', 'train.subsample')['high'],
        { keyword: 'required', params: { missingProperty: 'high' } },
      ],
      [
        'loguniform from 0',
        (d) => (at(d, 'search', 'space', 'train.lr')['low'] = 0),
        { keyword: 'exclusiveMinimum', instancePath: '/search/space/train.lr/low' },
      ],
      [
        'int with a float bound',
        (d) => (at(d, 'search', 'space', 'train.max_depth')['high'] = 10.5),
        { keyword: 'type', instancePath: '/search/space/train.max_depth/high' },
      ],
      [
        'tpe settings with random search',
        (d) => (at(d, 'search')['strategy'] = 'random'),
        { keyword: 'const', instancePath: '/search/strategy' },
      ],
      [
        'a grid over a continuous range',
        (d) => (at(d, 'search')['strategy'] = 'grid'),
        { keyword: 'anyOf', instancePath: '/search/space/train.lr' },
      ],
      [
        'a condition with neither equals nor in',
        (d) => delete at(d, 'search', 'space', 'mlp.layers', 'when')['equals'],
        { keyword: 'oneOf', instancePath: '/search/space/mlp.layers/when' },
      ],
      [
        'an objective without direction',
        (d) => delete at(d, 'objective')['direction'],
        { keyword: 'required', params: { missingProperty: 'direction' } },
      ],
      [
        'a budget time in words',
        (d) => (at(d, 'budget')['time'] = '2 hours'),
        { keyword: 'pattern', instancePath: '/budget/time' },
      ],
      ['zero parallel trials', (d) => (d['parallel'] = 0), { keyword: 'minimum', instancePath: '/parallel' }],
      [
        'a malformed criterion',
        (d) => (d['acceptance'] = ['auc is good']),
        { keyword: 'pattern', instancePath: '/acceptance/0' },
      ],
      [
        'an unknown operator',
        (d) => (d['acceptance'] = [{ metric: 'auc', op: '=>', value: 0.8 }]),
        { keyword: 'enum', instancePath: '/acceptance/0/op' },
      ],
      [
        'both improvement kinds',
        (d) => (d['acceptance'] = [{ metric: 'auc', improvement: { min_absolute: 0.01, min_relative: 0.01 } }]),
        { keyword: 'maxProperties', instancePath: '/acceptance/0/improvement' },
      ],
      [
        'a threshold mixed with an improvement',
        (d) => (d['acceptance'] = [{ metric: 'auc', op: '>=', value: 0.8, improvement: { min_absolute: 0.01 } }]),
        { keyword: 'oneOf', instancePath: '/acceptance/0' },
      ],
      [
        'a slice with no bound',
        (d) => (d['slices'] = [{ column: 'region', metric: 'recall' }]),
        { keyword: 'anyOf', instancePath: '/slices/0' },
      ],
      [
        'register without model',
        (d) => delete at(d, 'register')['model'],
        { keyword: 'required', params: { missingProperty: 'model' } },
      ],
      [
        'a pipeline that is not a pipeline file',
        (d) => (d['pipeline'] = 'params.yaml'),
        { keyword: 'pattern', instancePath: '/pipeline' },
      ],
    ];
    for (const [label, change, expected] of cases) {
      it(`rejects ${label}`, () =>
        assertInvalid(validateExperiment, variant(validExperimentYaml, change), expected, label));
    }
  });

  describe('deployment', () => {
    it('accepts the full example', () => {
      assertValid(validateDeployment, parseYaml(validDeploymentYaml), 'deployment example');
    });

    it('accepts a minimal direct deployment, an A/B test and a shadow rollout', () => {
      assertValid(validateDeployment, parseYaml('model: churn:7\n'), 'minimal');
      assertValid(
        validateDeployment,
        parseYaml(`
model: { name: churn, alias: champion }
rollout:
  strategy: ab
  candidate: churn@challenger
  split: { weights: { stable: 80, candidate: 20 }, sticky_key: user_id }
`),
        'ab',
      );
      assertValid(
        validateDeployment,
        parseYaml(`
model: churn@champion
rollout: { strategy: shadow, candidate: churn:8, mirror_percent: 25 }
monitoring:
  reference: { dataset: churn, version: a1b2c3d }
  drift: { method: psi, threshold: 0.2, window: 5000 }
`),
        'shadow',
      );
    });

    const cases: [string, (doc: Record<string, Json>) => void, Parameters<typeof assertInvalid>[2]][] = [
      [
        'a model without alias or version',
        (d) => (d['model'] = 'churn'),
        { keyword: 'pattern', instancePath: '/model' },
      ],
      [
        'a model object with alias and version',
        (d) => (d['model'] = { name: 'churn', alias: 'champion', version: 3 }),
        { keyword: 'oneOf', instancePath: '/model' },
      ],
      ['no model', (d) => delete d['model'], { keyword: 'required', params: { missingProperty: 'model' } }],
      [
        'a misspelled server key',
        (d) => (at(d, 'server')['prot'] = 8080),
        { keyword: 'additionalProperties', instancePath: '/server', params: { additionalProperty: 'prot' } },
      ],
      [
        'a port out of range',
        (d) => (at(d, 'server')['port'] = 70000),
        { keyword: 'maximum', instancePath: '/server/port' },
      ],
      [
        'an unknown protocol',
        (d) => (at(d, 'server')['protocols'] = ['grpc']),
        { keyword: 'enum', instancePath: '/server/protocols/0' },
      ],
      [
        'a canary without steps',
        (d) => delete at(d, 'rollout')['steps'],
        { keyword: 'required', instancePath: '/rollout', params: { missingProperty: 'steps' } },
      ],
      [
        'a canary without candidate',
        (d) => delete at(d, 'rollout')['candidate'],
        { keyword: 'required', instancePath: '/rollout', params: { missingProperty: 'candidate' } },
      ],
      [
        'steps on an A/B test',
        (d) => (at(d, 'rollout')['strategy'] = 'ab'),
        { keyword: 'false schema', instancePath: '/rollout/steps' },
      ],
      [
        'a step weight above 100',
        (d) => (at(d, 'rollout', 'steps', 0)['weight'] = 150),
        { keyword: 'maximum', instancePath: '/rollout/steps/0/weight' },
      ],
      [
        'an analysis with no bound',
        (d) => delete at(d, 'rollout', 'steps', 0, 'analysis')['max'],
        { keyword: 'anyOf', instancePath: '/rollout/steps/0/analysis' },
      ],
      [
        'a timeout fallback without timeout_ms',
        (d) => delete at(d, 'fallback')['timeout_ms'],
        { keyword: 'required', instancePath: '/fallback', params: { missingProperty: 'timeout_ms' } },
      ],
      [
        'an unknown fallback trigger',
        (d) => (at(d, 'fallback')['on'] = ['crash']),
        { keyword: 'enum', instancePath: '/fallback/on/0' },
      ],
      [
        'a health path that is not a route of the server',
        (d) => (at(d, 'health')['path'] = '/healthz'),
        { keyword: 'enum', instancePath: '/health/path' },
      ],
      [
        'an unknown drift method',
        (d) => (at(d, 'monitoring', 'drift')['method'] = 'kl'),
        { keyword: 'enum', instancePath: '/monitoring/drift/method' },
      ],
      [
        'a drift share above 1',
        (d) => (at(d, 'monitoring', 'drift')['share'] = 50),
        { keyword: 'maximum', instancePath: '/monitoring/drift/share' },
      ],
      [
        'drift without reference',
        (d) => delete at(d, 'monitoring')['reference'],
        { keyword: 'dependentRequired', instancePath: '/monitoring' },
      ],
      [
        'an unknown concept drift detector',
        (d) => (at(d, 'monitoring', 'concept_drift')['detector'] = 'page-hinkley'),
        { keyword: 'enum' },
      ],
      [
        'an unknown severity',
        (d) => (at(d, 'monitoring', 'alerts', 0)['severity'] = 'high'),
        { keyword: 'enum', instancePath: '/monitoring/alerts/0/severity' },
      ],
      [
        'a runbook that is not Markdown',
        (d) => (at(d, 'monitoring', 'alerts', 0)['runbook'] = 'runbooks/errors.txt'),
        { keyword: 'pattern', instancePath: '/monitoring/alerts/0/runbook' },
      ],
      [
        'an alert without when',
        (d) => delete at(d, 'monitoring', 'alerts', 1)['when'],
        { keyword: 'required', params: { missingProperty: 'when' } },
      ],
      [
        'a retrain experiment that is not an experiment file',
        (d) => (at(d, 'monitoring', 'retrain')['experiment'] = 'train.yaml'),
        { keyword: 'pattern', instancePath: '/monitoring/retrain/experiment' },
      ],
      [
        'an unknown approval mode',
        (d) => (at(d, 'monitoring', 'retrain')['approval'] = 'maybe'),
        { keyword: 'enum', instancePath: '/monitoring/retrain/approval' },
      ],
      [
        'a misspelled export target',
        (d) => (at(d, 'export')['k8s'] = {}),
        { keyword: 'additionalProperties', instancePath: '/export', params: { additionalProperty: 'k8s' } },
      ],
    ];
    for (const [label, change, expected] of cases) {
      it(`rejects ${label}`, () =>
        assertInvalid(validateDeployment, variant(validDeploymentYaml, change), expected, label));
    }
  });

  describe('documentation in the schemas', () => {
    // Keywords under which a subschema only adds constraints to an instance that is documented elsewhere.
    const constraintKeywords = new Set(['if', 'then', 'else', 'not', 'propertyNames', 'contains', 'dependentSchemas']);
    const applicatorKeywords = ['items', 'additionalProperties', 'oneOf', 'anyOf', 'allOf', 'prefixItems'];

    interface Documented {
      pointer: string;
      schema: SchemaNode;
    }

    /** Every property and $defs entry of a schema, with its JSON pointer; constraint-only subschemas are skipped. */
    function documentedSchemas(root: SchemaNode): { documented: Documented[]; objects: Documented[] } {
      const documented: Documented[] = [];
      const objects: Documented[] = [];
      const visit = (node: Json, pointer: string, constraintOnly: boolean): void => {
        if (node === null || typeof node !== 'object' || Array.isArray(node)) return;
        const schema = node as SchemaNode;
        const properties = schema['properties'];
        // Properties of an untyped subschema (a oneOf branch such as {required: [a], properties: {b: false}})
        // only constrain an object documented by its parent.
        const constraint = constraintOnly || schema['type'] === undefined;
        if (properties && typeof properties === 'object' && !Array.isArray(properties) && !constraint) {
          objects.push({ pointer, schema });
          for (const [name, sub] of Object.entries(properties)) {
            if (typeof sub === 'boolean') continue;
            documented.push({ pointer: `${pointer}/properties/${name}`, schema: sub as SchemaNode });
          }
        }
        if (properties && typeof properties === 'object' && !Array.isArray(properties)) {
          for (const [name, sub] of Object.entries(properties)) visit(sub, `${pointer}/properties/${name}`, constraint);
        }
        const defs = schema['$defs'];
        if (defs && typeof defs === 'object' && !Array.isArray(defs)) {
          for (const [name, sub] of Object.entries(defs)) {
            documented.push({ pointer: `${pointer}/$defs/${name}`, schema: sub as SchemaNode });
            visit(sub, `${pointer}/$defs/${name}`, false);
          }
        }
        for (const keyword of applicatorKeywords) {
          const sub = schema[keyword];
          if (Array.isArray(sub)) sub.forEach((s, i) => visit(s, `${pointer}/${keyword}/${i}`, constraintOnly));
          else visit(sub as Json, `${pointer}/${keyword}`, constraintOnly);
        }
        for (const keyword of constraintKeywords) {
          const sub = schema[keyword];
          if (keyword === 'dependentSchemas' && sub && typeof sub === 'object' && !Array.isArray(sub)) {
            for (const [name, s] of Object.entries(sub)) visit(s, `${pointer}/${keyword}/${name}`, true);
          } else {
            visit(sub as Json, `${pointer}/${keyword}`, true);
          }
        }
      };
      visit(root, '#', false);
      return { documented, objects };
    }

    for (const file of schemaFiles) {
      const schema = readSchema(file);
      const { documented, objects } = documentedSchemas(schema);

      it(`${file}: every property and $defs entry has a description and examples`, () => {
        assert.ok(documented.length > 20);
        const missing = documented.filter(({ schema: s }) => {
          const description = s['description'];
          const examples = s['examples'];
          return !(
            typeof description === 'string' &&
            description.length > 10 &&
            Array.isArray(examples) &&
            examples.length > 0
          );
        });
        assert.deepEqual(
          missing.map((m) => m.pointer),
          [],
        );
      });

      it(`${file}: every object with properties rejects unknown keys, so typos are caught`, () => {
        const open = objects.filter(({ schema: s }) => s['additionalProperties'] !== false);
        assert.deepEqual(
          open.map((o) => o.pointer),
          [],
        );
      });

      it(`${file}: every example is valid against the schema it documents`, () => {
        const id = schema['$id'] as string;
        const failures: string[] = [];
        for (const { pointer, schema: s } of documented) {
          const validate = ajv.getSchema(`${id}${pointer}`);
          assert.ok(validate, `no validator for ${pointer}`);
          for (const example of s['examples'] as Json[]) {
            if (!validate(example))
              failures.push(`${pointer} ${JSON.stringify(example)}: ${describeErrors(validate.errors)}`);
          }
        }
        assert.deepEqual(failures, []);
      });
    }
  });
});
