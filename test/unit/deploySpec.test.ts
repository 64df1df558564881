// What "Cairn: Deploy Model" writes into a deployment file: a new file that the deployment schema
// accepts, and an existing file whose `model` and `rollout` change while its other keys and its
// comments stay.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { parse } from 'yaml';
import {
  choiceSummary,
  deploymentNameProblem,
  newDeploymentText,
  suggestedDeploymentName,
  updatedDeploymentText,
} from '../../client/deploySpec';
import type { DeployChoice } from '../../client/deploySpec';

const schema = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', 'schemas', 'deployment.schema.json'), 'utf8'),
) as object;
const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);

function assertValid(text: string): void {
  const ok = validate(parse(text));
  assert.ok(ok, `not a valid deployment: ${JSON.stringify(validate.errors)}\n${text}`);
}

const direct: DeployChoice = { model: 'rain-tomorrow@champion', strategy: 'direct', candidate: null };
const canary: DeployChoice = { model: 'rain-tomorrow@champion', strategy: 'canary', candidate: 'rain-tomorrow:3' };

describe('deployment files written by Deploy Model', () => {
  it('writes a new file for every strategy that the schema accepts', () => {
    for (const strategy of ['direct', 'canary', 'ab', 'shadow'] as const) {
      const text = newDeploymentText('rain', { ...canary, strategy }, 18080);
      assertValid(text);
      const spec = parse(text) as Record<string, unknown>;
      assert.equal(spec['name'], 'rain');
      assert.equal(spec['model'], 'rain-tomorrow@champion');
      assert.deepEqual(spec['server'], { host: '127.0.0.1', port: 18080 });
      if (strategy === 'direct') assert.equal(spec['rollout'], undefined);
      else assert.deepEqual((spec['rollout'] as Record<string, unknown>)['candidate'], 'rain-tomorrow:3');
    }
    assert.match(newDeploymentText('rain', direct, 18080), /^# The deployment rain/);
  });

  it('updates model and rollout of an existing file, keeping its other keys and comments', () => {
    const before = [
      '# Serving the rain model.',
      'name: rain # the API name',
      'model: rain-tomorrow:1',
      'server:',
      '  port: 9001 # fixed for the load balancer',
      'monitoring:',
      '  # alerts page the on-call',
      '  alerts:',
      '    - { name: drift, when: drift.share > 0.5, severity: warning, runbook: runbooks/drift.md }',
      '',
    ].join('\n');
    const after = updatedDeploymentText(before, canary);
    assertValid(after);
    for (const kept of [
      '# Serving the rain model.',
      '# the API name',
      '# fixed for the load balancer',
      '# alerts page the on-call',
    ])
      assert.ok(after.includes(kept), `lost "${kept}":\n${after}`);
    const spec = parse(after) as Record<string, Record<string, unknown>>;
    assert.equal(spec['model'], 'rain-tomorrow@champion');
    assert.equal(spec['server']?.['port'], 9001);
    assert.equal(spec['rollout']?.['strategy'], 'canary');
    assert.equal((spec['rollout']?.['steps'] as unknown[]).length, 3);

    // Back to direct: the rollout goes, the rest stays.
    const again = updatedDeploymentText(after, direct);
    assertValid(again);
    assert.equal((parse(again) as Record<string, unknown>)['rollout'], undefined);
    assert.ok(again.includes('# fixed for the load balancer'));
  });

  it("keeps a canary's own steps and drops keys of another strategy", () => {
    const before = [
      'model: rain-tomorrow@champion',
      'rollout:',
      '  strategy: canary',
      '  candidate: rain-tomorrow:2',
      '  # slow and careful',
      '  steps:',
      '    - { weight: 5, pause: 10m }',
      '    - { weight: 100 }',
      '',
    ].join('\n');
    const sameStrategy = updatedDeploymentText(before, canary);
    const rollout = (parse(sameStrategy) as Record<string, Record<string, unknown>>)['rollout'];
    assert.equal(rollout?.['candidate'], 'rain-tomorrow:3');
    assert.deepEqual(rollout?.['steps'], [{ weight: 5, pause: '10m' }, { weight: 100 }]);
    assert.ok(sameStrategy.includes('# slow and careful'));

    const ab = updatedDeploymentText(before, { ...canary, strategy: 'ab' });
    assertValid(ab);
    const abRollout = (parse(ab) as Record<string, Record<string, unknown>>)['rollout'];
    assert.equal(abRollout?.['steps'], undefined);
    assert.deepEqual(abRollout?.['split'], { weights: { stable: 50, candidate: 50 } });
  });

  it('refuses a file that is not YAML, saying so', () => {
    assert.throws(() => updatedDeploymentText('model: [unclosed\n', canary), /not valid YAML/);
    assert.throws(() => updatedDeploymentText('- a list\n', canary), /mapping/);
  });

  it('names deployments as Kubernetes does', () => {
    assert.equal(suggestedDeploymentName('Rain_Tomorrow'), 'rain-tomorrow');
    assert.equal(suggestedDeploymentName('__'), 'model');
    assert.equal(deploymentNameProblem('rain-tomorrow'), null);
    assert.match(deploymentNameProblem('Rain') ?? '', /Lowercase/);
    assert.match(deploymentNameProblem('') ?? '', /name/);
    assert.match(deploymentNameProblem('a'.repeat(64)) ?? '', /63/);
  });

  it('sums up what the written file will do in one line', () => {
    const written = (choice: DeployChoice): string => choiceSummary(choice, newDeploymentText('rain', choice, 9000));
    assert.equal(written(direct), 'rain-tomorrow@champion serves all traffic (direct)');
    assert.match(written(canary), /canary of rain-tomorrow:3: 10% → 50% → 100%$/);
    assert.match(written({ ...canary, strategy: 'ab' }), /A\/B test with rain-tomorrow:3 \(50\/50\)$/);
    assert.match(written({ ...canary, strategy: 'shadow' }), /in shadow on 100% of requests/);
    // A canary that keeps the file's own steps says so.
    const own = updatedDeploymentText(
      'model: rain-tomorrow:1\nrollout:\n  strategy: canary\n  candidate: rain-tomorrow:2\n  steps:\n    - { weight: 5, pause: 10m }\n    - { weight: 100 }\n',
      canary,
    );
    assert.match(choiceSummary(canary, own), /canary of rain-tomorrow:3: 5% → 100%$/);
  });
});
