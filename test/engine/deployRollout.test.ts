// The rollout controller with a fake clock: canary steps advance after their pauses and promote
// after the last, a failed analysis aborts with its reason, a check without data waits, a step
// without a pause waits for a person; A/B and shadow set their split and wait; direct switches and
// promotes at once. And the analysis metrics on observed requests.
import * as assert from 'node:assert/strict';
import { ksStatistic, ObservationWindow, servingMetric } from '../../server/engine/deploy/analysis';
import { abortRollout, startRollout, tickRollout } from '../../server/engine/deploy/rollout';
import type { CandidateMetric, RolloutMemory } from '../../server/engine/deploy/rollout';
import type { RolloutSpec } from '../../server/engine/deploy/spec';
import { canRestore, served, withWorkers } from '../../server/engine/deploy/versions';
import { workerThreads } from '../../server/engine/deploy/modelServerEngine';
import type { DeploymentState } from '../../server/engine/deploy/records';

const candidate = { ref: 'rain@challenger', name: 'rain', alias: 'challenger', version: null };

function canary(steps: RolloutSpec['steps']): RolloutSpec {
  return { strategy: 'canary', candidate, steps, split: null, mirrorPercent: 0, abortOn: [] };
}

/** Ticks the controller every `every` ms from `from` to `to`, returning the phases and traffic seen. */
function run(
  spec: RolloutSpec,
  memory: RolloutMemory,
  metric: CandidateMetric,
  from: number,
  to: number,
  every = 50,
): { memory: RolloutMemory; log: string[] } {
  const log: string[] = [];
  for (let now = from; now <= to; now += every) {
    const decision = tickRollout(spec, memory, metric, now);
    for (const action of decision.actions)
      log.push(
        `${now} ${action.kind}${action.kind === 'traffic' ? ` ${action.traffic.candidate}` : ` ${action.reason}`}`,
      );
    memory = decision.memory;
  }
  return { memory, log };
}

describe('rollout controller', () => {
  it('walks the canary steps after their pauses and promotes after the last', () => {
    const spec = canary([
      { weight: 10, pauseMs: 200, analysis: { metric: 'error_rate', max: 0.01, min: null } },
      { weight: 50, pauseMs: 300, analysis: null },
      { weight: 100, pauseMs: null, analysis: null },
    ]);
    const start = startRollout(spec, 1000);
    assert.deepEqual(start.memory.traffic, { stable: 90, candidate: 10, mirror: 0 });
    assert.equal(start.memory.step, 0);
    assert.equal(start.memory.nextStepAt, 1200);
    const { memory, log } = run(spec, start.memory, () => 0, 1000, 2000);
    assert.deepEqual(log, ['1200 traffic 50', '1500 traffic 100', '1550 promote all 3 canary steps passed']);
    assert.equal(memory.phase, 'promoted');
    assert.deepEqual(memory.traffic, { stable: 100, candidate: 0, mirror: 0 });
  });

  it('aborts as soon as the analysis fails, with the metric and the check in the reason', () => {
    const spec = canary([
      { weight: 20, pauseMs: 10_000, analysis: { metric: 'error_rate', max: 0.05, min: null } },
      { weight: 100, pauseMs: null, analysis: null },
    ]);
    const start = startRollout(spec, 0);
    const metric: CandidateMetric = (_name, since) => (since === 0 ? 0.25 : null);
    const decision = tickRollout(spec, start.memory, metric, 50);
    assert.equal(decision.memory.phase, 'aborted');
    assert.deepEqual(decision.memory.traffic, { stable: 100, candidate: 0, mirror: 0 });
    assert.equal(
      decision.memory.reason,
      'step 1 analysis failed: error_rate = 0.250 (error_rate must be at most 0.05)',
    );
    assert.deepEqual(
      decision.actions.map((action) => action.kind),
      ['traffic', 'abort'],
    );
    // An aborted rollout stays aborted.
    assert.deepEqual(tickRollout(spec, decision.memory, metric, 60_000).actions, []);
  });

  it('waits for data before passing a step whose check has none, and for a person on a step without a pause', () => {
    const spec = canary([
      { weight: 10, pauseMs: 100, analysis: { metric: 'accuracy', max: null, min: 0.8 } },
      { weight: 40, pauseMs: null, analysis: null },
      { weight: 100, pauseMs: 100, analysis: null },
    ]);
    let accuracy: number | null = null;
    const start = startRollout(spec, 0);
    let { memory } = run(spec, start.memory, () => accuracy, 0, 500);
    assert.equal(memory.phase, 'paused');
    assert.equal(memory.step, 0);
    assert.match(memory.reason ?? '', /waiting for candidate traffic to judge accuracy/);
    accuracy = 0.9;
    ({ memory } = run(spec, memory, () => accuracy, 550, 5000));
    assert.equal(memory.step, 1);
    assert.equal(memory.phase, 'paused');
    assert.match(memory.reason ?? '', /waiting for a manual promote/);
    assert.deepEqual(memory.traffic, { stable: 60, candidate: 40, mirror: 0 });
  });

  it('sets the A/B split and the shadow mirror, and switches a direct rollout at once', () => {
    const ab = startRollout(
      {
        strategy: 'ab',
        candidate,
        steps: [],
        split: { stable: 70, candidate: 30, stickyKey: 'user_id' },
        mirrorPercent: 0,
        abortOn: [],
      },
      0,
    );
    assert.deepEqual(ab.memory.traffic, { stable: 70, candidate: 30, mirror: 0 });
    assert.equal(ab.memory.phase, 'progressing');
    const shadow = startRollout(
      { strategy: 'shadow', candidate, steps: [], split: null, mirrorPercent: 25, abortOn: [] },
      0,
    );
    assert.deepEqual(shadow.memory.traffic, { stable: 100, candidate: 0, mirror: 25 });
    const direct = startRollout(
      { strategy: 'direct', candidate, steps: [], split: null, mirrorPercent: 0, abortOn: [] },
      0,
    );
    assert.deepEqual(
      direct.actions.map((action) => action.kind),
      ['promote'],
    );
    assert.equal(direct.memory.phase, 'promoted');
    assert.deepEqual(direct.memory.traffic, { stable: 100, candidate: 0, mirror: 0 });
    const aborted = abortRollout(ab.memory, 'alert errors fired', 10);
    assert.equal(aborted.memory.phase, 'aborted');
    assert.equal(aborted.memory.reason, 'alert errors fired');
  });
});

describe('rollout analysis', () => {
  it('computes error rate, latency percentiles and prediction shift of the candidate since a time', () => {
    const window = new ObservationWindow();
    for (let index = 0; index < 100; index++) {
      window.push({
        at: 1000 + index,
        arm: 'candidate',
        status: index < 5 ? 500 : 200,
        latencyMs: index + 1,
        fallback: false,
        output: index < 5 ? null : [0.9],
      });
      window.push({ at: 1000 + index, arm: 'stable', status: 200, latencyMs: 1, fallback: false, output: [0.1] });
    }
    window.push({ at: 1000, arm: 'candidate', status: 400, latencyMs: 1, fallback: false, output: null });
    window.push({ at: 10, arm: 'candidate', status: 500, latencyMs: 1, fallback: false, output: null });
    assert.equal(servingMetric(window, 'candidate', 'error_rate', 1000), 0.05);
    assert.equal(servingMetric(window, 'candidate', 'latency_p50_ms', 1000), 50);
    assert.equal(servingMetric(window, 'candidate', 'latency_p99_ms', 1000), 99);
    assert.equal(servingMetric(window, 'candidate', 'prediction_shift', 1000), 1);
    assert.equal(servingMetric(window, 'candidate', 'error_rate', 5000), null);
    assert.equal(ksStatistic([1, 2, 3, 4], [1, 2, 3, 4]), 0);
    assert.equal(ksStatistic([1, 2, 3, 4], [3, 4, 5, 6]), 0.5);
  });
});

describe('deployment versions', () => {
  it('resumes a stored state only for the same rollout and the same versions', () => {
    const stored: DeploymentState = {
      rolloutDigest: 'abc',
      stable: served('rain@champion', { model: 'rain', version: 1 }),
      candidate: served('rain@challenger', { model: 'rain', version: 2 }),
      rollout: startRollout(canary([{ weight: 10, pauseMs: 100, analysis: null }]), 0).memory,
      previousStable: null,
      workers: [],
      url: null,
      health: 'healthy',
    };
    const v1 = { model: 'rain', version: 1 };
    const v2 = { model: 'rain', version: 2 };
    const v3 = { model: 'rain', version: 3 };
    assert.equal(canRestore(stored, 'abc', v1, v2), true);
    assert.equal(canRestore(stored, 'changed', v1, v2), false, 'the rollout in the file changed');
    assert.equal(canRestore(stored, 'abc', v1, v3), false, 'the challenger alias moved');
    assert.equal(canRestore(stored, 'abc', v2, null), false, 'the champion alias moved');
    assert.equal(canRestore(null, 'abc', v1, v2), false);
  });

  it('takes pids and readiness from the workers and says how healthy the deployment is', () => {
    const stable = served('rain@champion', { model: 'rain', version: 1 });
    const candidate = served('rain@challenger', { model: 'rain', version: 2 });
    const worker = (version: number, pid: number, ready: boolean) => ({ model: 'rain', version, ref: '', pid, ready });
    const healthy = withWorkers(stable, candidate, true, [worker(1, 11, true), worker(2, 12, true)]);
    assert.equal(healthy.health, 'healthy');
    assert.deepEqual(healthy.pids, [11, 12]);
    assert.equal(healthy.candidate?.pid, 12);
    assert.equal(withWorkers(stable, candidate, true, [worker(1, 11, true), worker(2, 12, false)]).health, 'degraded');
    assert.equal(withWorkers(stable, candidate, true, [worker(1, 11, false)]).health, 'down');
    const aborted = withWorkers(stable, candidate, false, [worker(1, 11, true)]);
    assert.deepEqual(aborted.candidate, { ...candidate, pid: null, ready: false });
    assert.equal(aborted.health, 'healthy');
    // With server.workers 2: every worker's pid counts, and one of two down is degraded, not down.
    const replicas = (ready: number) => ({ ...worker(1, 11, true), replicas: { pids: [11, 21], ready, total: 2 } });
    const both = withWorkers(stable, null, false, [replicas(2)]);
    assert.deepEqual([both.health, both.pids, both.stable.replicas?.ready], ['healthy', [11, 21], 2]);
    assert.equal(withWorkers(stable, null, false, [replicas(1)]).health, 'degraded');
  });

  it('shares the cores out between several workers of a version', () => {
    assert.equal(workerThreads(1, 8), null);
    assert.equal(workerThreads(2, 8), 4);
    assert.equal(workerThreads(3, 8), 2);
    assert.equal(workerThreads(4, 2), 1);
  });
});
