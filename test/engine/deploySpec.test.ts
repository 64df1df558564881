// Deployment files read for serving: defaults applied, durations in milliseconds, model references as
// strings, and every mistake reported with the file, the line and the fix.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeploymentSpecError, readDeployment } from '../../server/engine/deploy/spec';
import { makeWorkspace, yaml } from '../helpers/workspace';

function problemsOf(root: string, file: string): string {
  try {
    readDeployment(file, root);
  } catch (error) {
    if (error instanceof DeploymentSpecError) return error.message;
    throw error;
  }
  assert.fail('expected a DeploymentSpecError');
}

describe('deployment spec', () => {
  it('applies the defaults to a minimal file', () => {
    const root = makeWorkspace({ 'weather.deploy.yaml': 'model: rain@champion\n' });
    try {
      const spec = readDeployment('weather.deploy.yaml', root);
      assert.equal(spec.name, 'weather');
      assert.equal(spec.relativeFile, 'weather.deploy.yaml');
      assert.deepEqual(spec.model, { ref: 'rain@champion', name: 'rain', alias: 'champion', version: null });
      assert.equal(spec.server.host, '127.0.0.1');
      assert.equal(spec.server.port, 8080);
      assert.deepEqual(spec.server.batch, { maxSize: 32, maxLatencyMs: 5 });
      assert.deepEqual(spec.server.protocols, ['v2', 'mlflow']);
      assert.equal(spec.server.timeoutMs, 30_000);
      assert.equal(spec.rollout.strategy, 'direct');
      assert.equal(spec.rollout.candidate, null);
      assert.deepEqual(spec.fallback.on, ['error', 'timeout']);
      assert.equal(spec.health.intervalMs, 10_000);
      assert.equal(spec.monitoring.intervalMs, 10_000);
      assert.deepEqual(spec.monitoring.log, {
        sample: 1,
        retentionMs: 7 * 86_400_000,
        maxRows: 1_000_000,
        maxBytes: 2_000_000_000,
      });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads a canary with analysis, durations in ms and monitoring', () => {
    const root = makeWorkspace({
      'deploy/churn.deploy.yaml': yaml`
        name: churn-api
        model: { name: churn, version: 3 }
        server: { port: 9000, batch: { max_size: 8 } }
        rollout:
          strategy: canary
          candidate: churn@challenger
          steps:
            - { weight: 10, pause: 200ms, analysis: { metric: error_rate, max: 0.01 } }
            - { weight: 50, pause: 2m }
            - { weight: 100 }
          abort_on: [errors]
        monitoring:
          interval: 500ms
          reference: { path: ../data/ref.csv }
          drift: { window: 5000 }
          alerts:
            - { name: errors, when: error_rate > 0.02, runbook: ../runbooks/errors.md, for: 1m }
          rollback: { automatic: true, on: [errors] }
          retrain: { experiment: ../retrain.experiment.yaml, on: [errors], schedule: 7d, data: [../data] }
          log: { sample: 0.5, retention: 12h, max_rows: 1000, max_size: 1.5GiB }
      `,
      'data/ref.csv': 'a,b\n1,2\n',
      'retrain.experiment.yaml': 'pipeline: pipeline.yaml\n',
    });
    try {
      const spec = readDeployment(path.join(root, 'deploy/churn.deploy.yaml'), root);
      assert.equal(spec.name, 'churn-api');
      assert.equal(spec.model.ref, 'churn:3');
      assert.equal(spec.server.port, 9000);
      assert.deepEqual(spec.server.batch, { maxSize: 8, maxLatencyMs: 5 });
      assert.equal(spec.rollout.candidate?.ref, 'churn@challenger');
      assert.deepEqual(spec.rollout.steps, [
        { weight: 10, pauseMs: 200, analysis: { metric: 'error_rate', max: 0.01, min: null } },
        { weight: 50, pauseMs: 120_000, analysis: null },
        { weight: 100, pauseMs: null, analysis: null },
      ]);
      assert.equal(spec.monitoring.intervalMs, 500);
      assert.deepEqual(spec.monitoring.reference, { path: path.join(root, 'data/ref.csv') });
      assert.deepEqual(spec.monitoring.drift?.window, { rows: 5000 });
      assert.equal(spec.monitoring.drift?.minRows, 100);
      assert.equal(spec.monitoring.alerts[0]?.runbook, 'runbooks/errors.md');
      assert.equal(spec.monitoring.alerts[0]?.forMs, 60_000);
      assert.deepEqual(spec.monitoring.rollback, { automatic: true, on: ['errors'] });
      assert.equal(spec.monitoring.retrain?.experiment, path.join(root, 'retrain.experiment.yaml'));
      assert.equal(spec.monitoring.retrain?.scheduleMs, 7 * 86_400_000);
      assert.equal(spec.monitoring.retrain?.approval, 'required');
      assert.deepEqual(spec.monitoring.retrain?.data, [path.join(root, 'data')]);
      assert.deepEqual(spec.monitoring.log, {
        sample: 0.5,
        retentionMs: 12 * 3_600_000,
        maxRows: 1000,
        maxBytes: 1.5 * 2 ** 30,
      });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('names the file, the line and the fix for every mistake', () => {
    const root = makeWorkspace({
      'bad.deploy.yaml': yaml`
        model: rain@champion
        rollout:
          strategy: ab
          candidate: rain@challenger
          split: { weights: { stable: 70, candidate: 20 } }
          abort_on: [nope]
        monitoring:
          retrain: { experiment: missing.experiment.yaml, schedule: 1d }
      `,
      'schema.deploy.yaml': yaml`
        model: rain@champion
        server:
          port: seventy
      `,
      'probe.deploy.yaml': yaml`
        model: rain@champion
        server: { protocols: [v2] }
        health: { path: /ping }
      `,
      'route.deploy.yaml': yaml`
        model: rain@champion
        health: { path: /healthz }
      `,
      'objectives.deploy.yaml': yaml`
        model: rain@champion
        monitoring:
          latency: { p95_ms: 40 }
          rollback: { automatic: true, on: [latency-p95-high, latency-p99-high] }
      `,
      'size.deploy.yaml': yaml`
        model: rain@champion
        monitoring:
          log: { max_size: 2 gigs }
      `,
      'steps.deploy.yaml': yaml`
        model: rain@champion
        rollout:
          strategy: canary
          candidate: rain:2
          steps:
            - { weight: 50 }
            - { weight: 10 }
      `,
    });
    try {
      const bad = problemsOf(root, 'bad.deploy.yaml');
      assert.match(bad, /^bad\.deploy\.yaml:5: the weights add up to 90, not 100\. Make stable \+ candidate = 100\./m);
      assert.match(bad, /^bad\.deploy\.yaml:6: there is no alert 'nope' under monitoring\.alerts\./m);
      assert.match(bad, /^bad\.deploy\.yaml:8: the retrain experiment 'missing\.experiment\.yaml' does not exist\./m);
      assert.match(problemsOf(root, 'schema.deploy.yaml'), /^schema\.deploy\.yaml:3: /m);
      assert.match(
        problemsOf(root, 'probe.deploy.yaml'),
        /^probe\.deploy\.yaml:3: \/ping is a route of the MLflow protocol, which server\.protocols leaves out\. Use \/v2\/health\/ready, or add mlflow/m,
      );
      assert.match(problemsOf(root, 'route.deploy.yaml'), /^route\.deploy\.yaml:2: /m);
      // The alert of a set objective may be named; one of an objective not set may not.
      assert.equal(
        problemsOf(root, 'objectives.deploy.yaml'),
        "objectives.deploy.yaml:4: there is no alert 'latency-p99-high' under monitoring.alerts. Use one of latency-p95-high.",
      );
      assert.match(
        problemsOf(root, 'size.deploy.yaml'),
        /^size\.deploy\.yaml:3: '2 gigs' is not in the expected format\. Expected something like "2GB"\./m,
      );
      assert.match(
        problemsOf(root, 'steps.deploy.yaml'),
        /^steps\.deploy\.yaml:7: step 2 sends less traffic \(10%\) than the step before \(50%\)\. Order the canary steps/m,
      );
      assert.match(problemsOf(root, 'absent.deploy.yaml'), /absent\.deploy\.yaml: cannot read the deployment file/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
