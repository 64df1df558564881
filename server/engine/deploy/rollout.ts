// The rollout controller: from the spec's rollout, the current state, the candidate's metrics and the
// time, the next state and what to do (set traffic, promote, abort). Pure: the server process applies
// the actions, records the events and persists the state; tests drive it with a fake clock.
//
// Strategies:
// - direct: blue/green. A candidate takes all traffic at once and is promoted; a rollback returns to
//   the version it replaced.
// - canary: each step sends `weight` percent to the candidate for `pause`; its analysis must hold
//   (a violation with data aborts at once; at the end of the pause the check needs data and must
//   pass). A step without a pause waits for a manual promote, except the last, which promotes as
//   soon as it is reached and its analysis passes.
// - ab: a fixed split, sticky by a key, until someone promotes or rolls back (or an alert aborts).
// - shadow: all answers come from the stable version; a share of requests is mirrored to the
//   candidate, whose answers are logged and compared.
import type { RolloutPhase, RolloutState, TrafficSplit } from '../../shared/deployments';
import type { AnalysisCheck, RolloutSpec } from './spec';

/** The rollout state the server keeps (and stores), a superset of what status shows. */
export interface RolloutMemory extends RolloutState {
  /** When the current step (or the whole rollout, for ab and shadow) started. */
  stepStartedAt: number | null;
  traffic: TrafficSplit;
}

export type RolloutAction =
  | { kind: 'traffic'; traffic: TrafficSplit; message: string }
  | { kind: 'promote'; reason: string }
  | { kind: 'abort'; reason: string };

export interface RolloutDecision {
  memory: RolloutMemory;
  actions: RolloutAction[];
}

/** A metric of the candidate since a time (ms since the epoch); null when there is no data yet. */
export type CandidateMetric = (metric: string, since: number) => number | null;

const STABLE_ONLY: TrafficSplit = { stable: 100, candidate: 0, mirror: 0 };

/** The state of a deployment that serves the stable version alone. */
export function idleRollout(
  spec: RolloutSpec,
  phase: RolloutPhase = 'none',
  reason: string | null = null,
): RolloutMemory {
  return {
    strategy: spec.strategy,
    phase,
    step: null,
    steps: spec.strategy === 'canary' ? spec.steps.length : null,
    nextStepAt: null,
    reason,
    stepStartedAt: null,
    traffic: { ...STABLE_ONLY },
  };
}

/** Starts rolling a candidate out: the first step's traffic (canary), the split (ab), the mirror (shadow). */
export function startRollout(spec: RolloutSpec, now: number): RolloutDecision {
  const base = idleRollout(spec, 'progressing');
  switch (spec.strategy) {
    case 'direct':
      // Blue/green: the candidate becomes the stable version at once; a rollback returns to the old one.
      return promoteRollout(
        { ...base, stepStartedAt: now },
        'direct rollout (blue/green): the candidate replaces the stable version',
        now,
      );
    case 'canary':
      return enterStep(spec, base, 0, now);
    case 'ab': {
      const split = spec.split ?? { stable: 50, candidate: 50 };
      const memory = {
        ...base,
        stepStartedAt: now,
        traffic: { stable: split.stable, candidate: split.candidate, mirror: 0 },
      };
      return {
        memory,
        actions: [
          {
            kind: 'traffic',
            traffic: memory.traffic,
            message: `A/B split ${split.stable}/${split.candidate}, waiting for a promote or a rollback`,
          },
        ],
      };
    }
    case 'shadow': {
      const memory = {
        ...base,
        stepStartedAt: now,
        traffic: { stable: 100, candidate: 0, mirror: spec.mirrorPercent },
      };
      return {
        memory,
        actions: [
          {
            kind: 'traffic',
            traffic: memory.traffic,
            message: `shadow: ${spec.mirrorPercent}% of requests mirrored to the candidate, waiting for a promote or a rollback`,
          },
        ],
      };
    }
  }
}

/** One tick of the controller: abort on a failed check, move to the next step when its pause is over, promote after the last. */
export function tickRollout(
  spec: RolloutSpec,
  memory: RolloutMemory,
  metric: CandidateMetric,
  now: number,
): RolloutDecision {
  if (memory.phase !== 'progressing' && memory.phase !== 'paused') return { memory, actions: [] };
  if (spec.strategy !== 'canary' || memory.step === null) return { memory, actions: [] };
  const step = spec.steps[memory.step];
  if (!step) return { memory, actions: [] };
  const since = memory.stepStartedAt ?? now;
  const verdict = step.analysis ? judge(step.analysis, metric(step.analysis.metric, since)) : 'pass';
  if (verdict === 'fail' && step.analysis) {
    const value = metric(step.analysis.metric, since);
    return abortRollout(
      memory,
      `step ${memory.step + 1} analysis failed: ${step.analysis.metric} = ${formatValue(value)} (${describeCheck(step.analysis)})`,
      now,
    );
  }
  const last = memory.step === spec.steps.length - 1;
  const pauseOver = step.pauseMs !== null ? now >= since + step.pauseMs : last;
  if (!pauseOver) return { memory, actions: [] };
  if (verdict === 'no-data') {
    const reason = `step ${memory.step + 1}: waiting for candidate traffic to judge ${step.analysis?.metric ?? ''}`;
    if (memory.phase === 'paused' && memory.reason === reason) return { memory, actions: [] };
    return { memory: { ...memory, phase: 'paused', reason }, actions: [] };
  }
  if (last) return promoteRollout(memory, `all ${spec.steps.length} canary steps passed`, now);
  return enterStep(spec, memory, memory.step + 1, now);
}

/** Promotes the candidate now (the last step passed, or a person asked). */
export function promoteRollout(memory: RolloutMemory, reason: string, now: number): RolloutDecision {
  const promoted: RolloutMemory = {
    ...memory,
    phase: 'promoted',
    nextStepAt: null,
    reason,
    stepStartedAt: now,
    traffic: { ...STABLE_ONLY },
  };
  return { memory: promoted, actions: [{ kind: 'promote', reason }] };
}

/** Aborts: traffic back to the stable version, with the reason. */
export function abortRollout(memory: RolloutMemory, reason: string, now: number): RolloutDecision {
  const aborted: RolloutMemory = {
    ...memory,
    phase: 'aborted',
    nextStepAt: null,
    reason,
    stepStartedAt: now,
    traffic: { ...STABLE_ONLY },
  };
  return {
    memory: aborted,
    actions: [
      { kind: 'traffic', traffic: aborted.traffic, message: 'all traffic back to the stable version' },
      { kind: 'abort', reason },
    ],
  };
}

/** Whether a rollout is still running (steps left, or a split waiting for a decision). */
export function rolloutActive(memory: RolloutMemory): boolean {
  return memory.phase === 'progressing' || memory.phase === 'paused' || memory.phase === 'awaiting-approval';
}

/** The check in words, such as "error_rate at most 0.01". */
export function describeCheck(check: AnalysisCheck): string {
  const parts: string[] = [];
  if (check.max !== null) parts.push(`at most ${check.max}`);
  if (check.min !== null) parts.push(`at least ${check.min}`);
  return `${check.metric} must be ${parts.join(' and ')}`;
}

function judge(check: AnalysisCheck, value: number | null): 'pass' | 'fail' | 'no-data' {
  if (value === null || Number.isNaN(value)) return 'no-data';
  if (check.max !== null && value > check.max) return 'fail';
  if (check.min !== null && value < check.min) return 'fail';
  return 'pass';
}

function enterStep(spec: RolloutSpec, memory: RolloutMemory, index: number, now: number): RolloutDecision {
  const step = spec.steps[index];
  if (!step) return promoteRollout(memory, 'no canary steps left', now);
  const waitsForPromote = step.pauseMs === null && index < spec.steps.length - 1;
  const next: RolloutMemory = {
    ...memory,
    phase: waitsForPromote ? 'paused' : 'progressing',
    step: index,
    steps: spec.steps.length,
    nextStepAt: step.pauseMs !== null ? now + step.pauseMs : null,
    reason: waitsForPromote ? `step ${index + 1} has no pause: waiting for a manual promote` : null,
    stepStartedAt: now,
    traffic: { stable: 100 - step.weight, candidate: step.weight, mirror: 0 },
  };
  return {
    memory: next,
    actions: [
      {
        kind: 'traffic',
        traffic: next.traffic,
        message: `canary step ${index + 1}/${spec.steps.length}: ${step.weight}% to the candidate${step.pauseMs !== null ? ` for ${formatMs(step.pauseMs)}` : ''}`,
      },
    ],
  };
}

function formatValue(value: number | null): string {
  if (value === null) return 'no data';
  return Number.isInteger(value) ? String(value) : value.toPrecision(3);
}

/** A duration in the units a person would write. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${+(ms / 60_000).toFixed(1)}m`;
  return `${+(ms / 3_600_000).toFixed(1)}h`;
}
