// One running deployment inside its server process: the spec, the versions it serves, the rollout
// state, the serving engine (S1's ModelServer), the prediction log, and every decision the control
// plane takes (steps, promote, abort, rollback, hot swap, stop), each recorded as an event and
// persisted in the `deployments` row so a restarted server resumes where it was. Actions run one at
// a time through a queue: a tick, an admin call and an alias move never interleave.
import type { DeploymentEventKind, DeploymentStatus } from '../../shared/deployments';
import { PredictionLog } from '../monitor/log';
import { approvalNeeded, awaitsApproval, Registry } from '../registry/registry';
import { processIdentity } from '../processes';
import type { ModelVersion } from '../registry/registry';
import type { PredictionRecord } from '../serving/record';
import type { Store } from '../store';
import { isServingMetric, labelledMetric, ObservationWindow, servingMetric } from './analysis';
import type { EngineFactory, ServingEngine } from './engine';
import { deploymentRow, recordEvent, saveDeployment, statusOf } from './records';
import type { DeploymentState } from './records';
import { abortRollout, idleRollout, promoteRollout, rolloutActive, startRollout, tickRollout } from './rollout';
import type { RolloutAction, RolloutDecision } from './rollout';
import { registryReference } from './spec';
import {
  canRestore,
  candidateNotYetNamed,
  describeError,
  label,
  sameVersion,
  served,
  trafficText,
  withWorkers,
  inputsDifference,
} from './versions';
import type { DeploymentSpec, ModelRef } from './spec';

/** A request the control plane refuses (nothing to promote or roll back); the message says why. */
export class DeploymentActionError extends Error {}

export class Deployment {
  readonly window = new ObservationWindow();
  readonly registry: Registry;
  readonly predictionLog: PredictionLog;
  state!: DeploymentState;
  private engine!: ServingEngine;
  private versions!: { stable: ModelVersion; candidate: ModelVersion | null; fallback: ModelVersion | null };
  /**
   * The candidate left out ("name:version") because its inputs differ from the stable version's or
   * it could not be loaded; recorded once, and forgotten when the reference names another version.
   */
  private refusedCandidate: string | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private startedAt = 0;
  private readonly now: () => number;
  private stopping = false;
  /** The stable and fallback versions a hot swap could not load; not tried again until an alias moves on. */
  private unservable: string | null = null;
  /** What was said once (a version waiting for approval), not to be said again at every reconcile. */
  private readonly said = new Set<string>();
  /** This process's identity, recorded beside its pid (see processIdentity). */
  private readonly serverProcess = processIdentity(process.pid);

  constructor(
    readonly root: string,
    public spec: DeploymentSpec,
    readonly store: Store,
    private readonly log: (message: string) => void,
    now?: () => number,
  ) {
    this.registry = new Registry(store, root);
    this.now = now ?? Date.now;
    this.predictionLog = PredictionLog.open(root, spec.name, {
      policy: spec.monitoring.log,
      autoFlush: true,
      writerThread: true,
      onError: (error) => log(`prediction log: ${error.message}`),
    });
  }

  /** Resolves the versions, restores or starts the rollout, starts the engine and records the row. */
  async start(
    engineFactory: EngineFactory,
    options: {
      host: string;
      port: number;
      serveToken: string | null;
      adminRoutes: Parameters<EngineFactory>[0]['adminRoutes'];
    },
  ): Promise<void> {
    const now = this.now();
    this.startedAt = now;
    const stable = this.resolve(this.spec.model);
    if (awaitsApproval(stable))
      throw new DeploymentActionError(`${this.spec.model.ref} is not served: ${approvalNeeded(stable)}.`);
    const candidateVersion = this.resolveCandidate(stable);
    const candidate = candidateVersion && !sameVersion(candidateVersion, stable) ? candidateVersion : null;
    const fallback = this.spec.fallback.model ? this.resolve(this.spec.fallback.model) : null;
    if (fallback && awaitsApproval(fallback))
      throw new DeploymentActionError(
        `the fallback ${this.spec.fallback.model?.ref ?? ''} is not served: ${approvalNeeded(fallback)}.`,
      );
    const previous = deploymentRow(this.store.db, this.spec.name);
    const stored = previous?.state ?? null;
    const restored = canRestore(stored, this.spec.rolloutDigest, stable, candidate);
    let decision: RolloutDecision;
    if (restored) {
      decision = { memory: stored.rollout, actions: [] };
    } else if (candidate) {
      decision = startRollout(this.spec.rollout, now);
    } else {
      decision = { memory: idleRollout(this.spec.rollout), actions: [] };
    }
    // A new rollout needs the candidate's worker (a direct one to promote it at once); a restored
    // one only while it is still running.
    const serving = candidate !== null && (restored ? rolloutActive(decision.memory) : decision.actions.length > 0);
    this.versions = { stable, candidate: serving ? candidate : null, fallback };
    this.state = {
      rolloutDigest: this.spec.rolloutDigest,
      stable: served(this.spec.model.ref, stable),
      candidate: candidate && this.spec.rollout.candidate ? served(this.spec.rollout.candidate.ref, candidate) : null,
      rollout: decision.memory,
      previousStable: restored ? stored.previousStable : null,
      workers: [],
      url: null,
      health: 'down',
    };
    this.save('starting', null);
    this.engine = await engineFactory({
      spec: this.spec,
      host: options.host,
      port: options.port,
      token: options.serveToken,
      onPrediction: (record) => this.observe(record),
      onWorkerExit: (version, detail) => this.enqueue(() => this.workerExited(version, detail)),
      adminRoutes: options.adminRoutes,
      log: this.log,
    });
    let port: number;
    try {
      await this.engine.setVersions(this.versions);
      this.engine.setTraffic(this.trafficWithKey());
      ({ port } = await this.engine.start());
    } catch (error) {
      // Workers already started must not keep a server that cannot listen alive.
      await this.engine.stop({ drainMs: 0 }).catch(() => undefined);
      throw error;
    }
    const host = options.host;
    this.state.url = serverUrl(host, port);
    this.refreshWorkers();
    this.save('serving', { host, port });
    this.event(
      restored ? 'restore' : 'deploy',
      restored
        ? `restored ${this.describeVersions()} at ${this.state.url}: rollout ${decision.memory.phase}${decision.memory.step !== null ? `, step ${decision.memory.step + 1}/${decision.memory.steps ?? 0}` : ''}, traffic ${trafficText(decision.memory.traffic)}`
        : `serving ${this.describeVersions()} at ${this.state.url}`,
    );
    if (!restored) await this.apply(decision, 'system');
  }

  /** Runs an action after the ones before it; errors are logged, never thrown into a timer. */
  enqueue<T>(work: () => Promise<T> | T): Promise<T> {
    const next = this.queue.then(work);
    this.queue = next.catch((error: unknown) => this.log(`control plane: ${describeError(error)}`));
    return next;
  }

  /** One tick of the rollout controller on the candidate's metrics. */
  async tick(): Promise<void> {
    // A labelled metric reads the log: what was answered until now must be in it first. This waits
    // outside the control queue, so a promote or a stop never waits on the log's writer.
    if (this.spec.rollout.steps.some((step) => step.analysis && !isServingMetric(step.analysis.metric)))
      await this.predictionLog.written();
    return this.enqueue(async () => {
      if (this.stopping) return;
      const decision = tickRollout(
        this.spec.rollout,
        this.state.rollout,
        (metric, since) => this.candidateMetric(metric, since),
        this.now(),
      );
      if (decision.memory !== this.state.rollout) await this.apply(decision, 'system');
      else this.refreshWorkers(true);
    });
  }

  /** Promotes the candidate now (admin API, CLI). */
  promote(actor: string, reason: string | null): Promise<DeploymentStatus> {
    return this.enqueue(async () => {
      if (!this.versions.candidate || !rolloutActive(this.state.rollout))
        throw new DeploymentActionError(
          `${this.spec.name} has no rollout in progress to promote (rollout ${this.state.rollout.phase}).`,
        );
      await this.apply(promoteRollout(this.state.rollout, reason ?? `promoted by ${actor}`, this.now()), actor);
      return this.status();
    });
  }

  /** Rolls back: aborts a rollout in progress, or returns to the version the last promotion replaced. */
  rollback(actor: string, reason: string | null): Promise<DeploymentStatus> {
    return this.enqueue(async () => {
      await this.rollbackNow(actor, reason ?? `rolled back by ${actor}`);
      return this.status();
    });
  }

  /**
   * Follows moved aliases (and a reloaded spec): a new stable version is hot-swapped; a new candidate
   * (or a changed rollout) starts a rollout; a candidate that became the stable version outside the
   * deployment ends the rollout as promoted, one that is no longer named ends it as aborted.
   */
  reconcile(trigger: string): Promise<void> {
    return this.enqueue(async () => {
      if (this.stopping) return;
      let stable: ModelVersion;
      let candidate: ModelVersion | null;
      let fallback: ModelVersion | null;
      try {
        stable = this.resolve(this.spec.model);
        candidate = this.resolveCandidate(stable);
        fallback = this.spec.fallback.model ? this.resolve(this.spec.fallback.model) : null;
      } catch (error) {
        this.log(`${trigger}: ${describeError(error)}`);
        return;
      }
      if (candidate && sameVersion(candidate, stable)) candidate = null;
      stable = this.approvedOr(this.spec.model.ref, stable, this.versions.stable);
      if (fallback) fallback = this.approvedOr(`the fallback ${label(fallback)}`, fallback, this.versions.fallback);
      const rolloutChanged = this.state.rolloutDigest !== this.spec.rolloutDigest;
      this.state.rolloutDigest = this.spec.rolloutDigest;
      const wanted = `${label(stable)} ${fallback ? label(fallback) : '-'}`;
      if (wanted === this.unservable) {
        // A swap to these versions failed already: keep serving what is served (see below).
        stable = this.versions.stable;
        fallback = this.versions.fallback;
      } else {
        this.unservable = null;
      }
      const stableMoved = !sameVersion(stable, this.versions.stable);
      const fallbackMoved =
        (fallback ? label(fallback) : null) !== (this.versions.fallback ? label(this.versions.fallback) : null);
      const known = this.state.candidate;
      const candidateMoved =
        candidate !== null &&
        (known === null || known.model !== candidate.model || known.version !== candidate.version);
      const servedCandidate = this.versions.candidate;
      if (
        !stableMoved &&
        !candidateMoved &&
        !fallbackMoved &&
        !rolloutChanged &&
        (candidate !== null || !servedCandidate)
      )
        return;
      const before = this.versions.stable;
      const previousFallback = this.versions.fallback;
      const previousStable = this.state.stable;
      this.versions = { stable, candidate: this.versions.candidate, fallback };
      this.state.stable = served(this.spec.model.ref, stable);
      if (servedCandidate && candidate === null && rolloutActive(this.state.rollout)) {
        // The candidate is no longer one: promoted by someone else, or no longer named.
        const promoted = sameVersion(servedCandidate, stable);
        const reason = promoted
          ? `${this.spec.model.ref} was moved to the candidate ${label(servedCandidate)} outside the deployment (${trigger})`
          : `the candidate reference no longer names ${label(servedCandidate)} (${trigger})`;
        this.state.rollout = {
          ...this.state.rollout,
          phase: promoted ? 'promoted' : 'aborted',
          nextStepAt: null,
          reason,
          traffic: { stable: 100, candidate: 0, mirror: 0 },
        };
        if (promoted) this.state.previousStable = { model: before.model, version: before.version };
        this.versions = { ...this.versions, candidate: null };
        this.state.candidate = promoted ? null : this.state.candidate;
        this.engine.setTraffic(this.trafficWithKey());
        await this.engine.setVersions(this.versions);
        this.event(promoted ? 'promote' : 'abort', reason);
      } else if (stableMoved || fallbackMoved) {
        try {
          await this.engine.setVersions(this.versions);
        } catch (error) {
          // The engine still serves what it served: the status says so, and the event says why.
          this.versions = { ...this.versions, stable: before, fallback: previousFallback };
          this.state.stable = previousStable;
          this.unservable = wanted;
          this.event(
            'swap',
            `cannot hot-swap to ${label(stable)} (${trigger}): ${describeError(error)}; still serving ${label(before)}`,
          );
          this.refreshWorkers();
          this.save('serving');
          return;
        }
      }
      if (stableMoved)
        this.event(
          'swap',
          `${this.spec.model.ref} moved: ${label(before)} → ${label(stable)} (${trigger}); hot-swapped`,
        );
      if ((candidateMoved || rolloutChanged) && candidate && this.spec.rollout.candidate) {
        this.state.candidate = served(this.spec.rollout.candidate.ref, candidate);
        this.versions = { ...this.versions, candidate };
        this.event(
          'deploy',
          `${candidateMoved ? `new candidate ${label(candidate)}` : `rollout changed for ${label(candidate)}`} (${this.spec.rollout.candidate.ref}): ${this.spec.rollout.strategy} rollout starts`,
        );
        try {
          await this.engine.setVersions(this.versions);
        } catch (error) {
          // Nothing was switched: the status goes back to what is served, and this version is left
          // out (not loaded again at every poll) until the reference names another one.
          this.versions = { ...this.versions, candidate: servedCandidate };
          this.state.candidate = known;
          this.refusedCandidate = label(candidate);
          this.event('abort', `candidate ${label(candidate)} is not rolled out: ${describeError(error)}`);
          this.refreshWorkers();
          this.save('serving');
          return;
        }
        this.window.clear();
        await this.apply(startRollout(this.spec.rollout, this.now()), 'system');
        return;
      }
      if (rolloutChanged && !candidate && rolloutActive(this.state.rollout)) {
        await this.apply(
          abortRollout(this.state.rollout, `the rollout was removed from ${this.spec.relativeFile}`, this.now()),
          'system',
        );
        return;
      }
      this.refreshWorkers();
      this.save('serving');
    });
  }

  /** Stops accepting requests, finishes those in flight, stops the workers and records the stop. */
  async stop(actor: string, reason: string): Promise<void> {
    await this.enqueue(async () => {
      if (this.stopping) return;
      this.stopping = true;
      this.save('draining');
      await this.engine.stop({ drainMs: Math.min(this.spec.server.timeoutMs, 30_000) });
      await this.predictionLog.close();
      this.state.workers = [];
      this.state.health = 'stopped';
      this.state.url = null;
      this.event('stop', `stopped (${reason})`, actor);
      this.save('stopped', { host: null, port: null }, null);
    });
  }

  /** The status document of this deployment. */
  status(): DeploymentStatus {
    const row = deploymentRow(this.store.db, this.spec.name);
    if (!row) throw new Error(`deployment ${this.spec.name} has no row`);
    return statusOf(this.store.db, row);
  }

  /** Records a deployment event. */
  event(kind: DeploymentEventKind, message: string, actor: string | null = null, detail?: unknown): void {
    recordEvent(this.store.db, this.spec.name, kind, message, {
      at: this.now(),
      actor,
      ...(detail !== undefined ? { detail } : {}),
    });
    this.log(`${kind}: ${message}`);
  }

  /** Aborts the rollout in progress (an alert in rollout.abort_on fired). */
  abort(reason: string): Promise<void> {
    return this.enqueue(async () => {
      if (rolloutActive(this.state.rollout))
        await this.apply(abortRollout(this.state.rollout, reason, this.now()), 'system');
    });
  }

  /** Every pid of the server: this process and its workers. */
  pids(): number[] {
    return [process.pid, ...this.state.workers];
  }

  get running(): boolean {
    return !this.stopping;
  }

  private async rollbackNow(actor: string, reason: string): Promise<void> {
    if (rolloutActive(this.state.rollout)) {
      await this.apply(abortRollout(this.state.rollout, reason, this.now()), actor);
      return;
    }
    const previous = this.state.previousStable;
    if (!previous)
      throw new DeploymentActionError(
        `${this.spec.name} has nothing to roll back: no rollout in progress and no earlier stable version recorded.`,
      );
    const target = this.registry.version(previous.model, previous.version);
    if (!target) throw new DeploymentActionError(`${previous.model}:${previous.version} is no longer in the registry.`);
    const current = this.versions.stable;
    this.moveStableAlias(target, actor, reason);
    this.versions = { ...this.versions, stable: target, candidate: null };
    this.state.stable = served(this.spec.model.ref, target);
    // The version rolled back from stays named as the candidate, so it is not rolled out again
    // until the candidate reference moves to another version.
    if (this.spec.rollout.candidate) this.state.candidate = served(this.spec.rollout.candidate.ref, current);
    this.state.previousStable = null;
    this.state.rollout = {
      ...this.state.rollout,
      phase: 'aborted',
      reason,
      traffic: { stable: 100, candidate: 0, mirror: 0 },
    };
    await this.engine.setVersions(this.versions);
    this.engine.setTraffic(this.trafficWithKey());
    this.event('rollback', `rolled back from ${label(current)} to ${label(target)}: ${reason}`, actor);
    this.refreshWorkers();
    this.save('serving');
  }

  /** Carries out a controller decision: traffic, promotion (the alias moves) or abort; records each. */
  private async apply(decision: RolloutDecision, actor: string): Promise<void> {
    const before = this.state.rollout;
    this.state.rollout = decision.memory;
    for (const action of decision.actions) await this.carryOut(action, actor);
    if (decision.actions.length === 0 && before.phase !== decision.memory.phase && decision.memory.reason)
      this.event('step', decision.memory.reason, actor === 'system' ? null : actor);
    this.refreshWorkers();
    this.save('serving');
  }

  private async carryOut(action: RolloutAction, actor: string): Promise<void> {
    const who = actor === 'system' ? null : actor;
    switch (action.kind) {
      case 'traffic':
        this.engine.setTraffic(this.trafficWithKey());
        this.event('step', action.message, who, action.traffic);
        return;
      case 'abort': {
        const candidate = this.versions.candidate;
        this.versions = { ...this.versions, candidate: null };
        await this.engine.setVersions(this.versions);
        this.event(
          'abort',
          `${candidate ? label(candidate) : 'the candidate'} aborted: ${action.reason}; traffic back to ${label(this.versions.stable)}`,
          who,
        );
        return;
      }
      case 'promote': {
        const candidate = this.versions.candidate;
        if (!candidate) return;
        const before = this.versions.stable;
        this.moveStableAlias(candidate, actor === 'system' ? 'cairn-deploy' : actor, action.reason);
        this.state.previousStable = { model: before.model, version: before.version };
        this.versions = { ...this.versions, stable: candidate, candidate: null };
        this.state.stable = served(this.spec.model.ref, candidate);
        // The candidate is the stable version now; a new one appears when its reference moves again.
        this.state.candidate = null;
        await this.engine.setVersions(this.versions);
        this.engine.setTraffic(this.trafficWithKey());
        this.event('promote', `${label(candidate)} promoted over ${label(before)}: ${action.reason}`, who);
        return;
      }
    }
  }

  /** Moves the alias the stable reference follows (when it follows one of the same model) to `target`. */
  private moveStableAlias(target: ModelVersion, actor: string, reason: string): void {
    const stableRef = this.spec.model;
    if (stableRef.alias === null || stableRef.name !== target.model) return;
    this.registry.setAlias(stableRef.name, stableRef.alias, target.version, {
      actor,
      reason: `deployment ${this.spec.name}: ${reason}`,
      now: this.now(),
    });
  }

  private async workerExited(version: string, detail: string): Promise<void> {
    if (this.stopping) return;
    this.event('worker-exit', `the worker of ${version} exited (${detail})`);
    const candidate = this.versions.candidate;
    // A crashed candidate is not fit to take traffic: the rollout aborts rather than waiting for the analysis.
    if (candidate && label(candidate) === version && rolloutActive(this.state.rollout))
      await this.apply(
        abortRollout(this.state.rollout, `the candidate's worker exited (${detail})`, this.now()),
        'system',
      );
    else {
      this.refreshWorkers();
      this.save('serving');
    }
  }

  private candidateMetric(metric: string, since: number): number | null {
    const arm = this.spec.rollout.strategy === 'shadow' ? 'shadow' : 'candidate';
    if (isServingMetric(metric)) return servingMetric(this.window, arm, metric, since);
    const candidate = this.versions.candidate;
    if (!candidate) return null;
    return labelledMetric(this.predictionLog, label(candidate), metric, since);
  }

  private observe(record: PredictionRecord): void {
    this.predictionLog.append([record]);
    this.window.add(record);
  }

  private trafficWithKey(): DeploymentState['rollout']['traffic'] & { stickyKey?: string } {
    const stickyKey = this.spec.rollout.split?.stickyKey;
    return { ...this.state.rollout.traffic, ...(stickyKey ? { stickyKey } : {}) };
  }

  /** Updates worker pids and health from the engine; with `saveIfChanged`, persists a change. */
  private refreshWorkers(saveIfChanged = false): void {
    if (!this.engine) return;
    const now = withWorkers(
      this.state.stable,
      this.state.candidate,
      this.versions.candidate !== null,
      this.engine.workers(),
    );
    const changed =
      JSON.stringify([now.stable, now.candidate, now.pids, now.health]) !==
      JSON.stringify([this.state.stable, this.state.candidate, this.state.workers, this.state.health]);
    this.state.stable = now.stable;
    this.state.candidate = now.candidate;
    this.state.workers = now.pids;
    this.state.health = now.health;
    if (changed && saveIfChanged) this.save('serving');
  }

  private save(
    status: DeploymentStatus['status'],
    address?: { host: string | null; port: number | null } | null,
    pid: number | null = process.pid,
  ): void {
    const previous = deploymentRow(this.store.db, this.spec.name);
    saveDeployment(this.store.db, {
      name: this.spec.name,
      file: this.spec.relativeFile,
      status,
      pid,
      host: address === undefined ? (previous?.host ?? null) : (address?.host ?? null),
      port: address === undefined ? (previous?.port ?? null) : (address?.port ?? null),
      state: { ...this.state, serverProcess: pid === null ? null : this.serverProcess },
      startedAt: this.startedAt,
      updatedAt: this.now(),
    });
  }

  /**
   * `wanted`, unless it awaits approval and is not what is served: then what is served, said once.
   * The approval rewrites the registry, which brings the reconcile here again.
   */
  private approvedOr<T extends ModelVersion | null>(role: string, wanted: ModelVersion, served: T): ModelVersion | T {
    if (!awaitsApproval(wanted) || (served !== null && sameVersion(wanted, served))) return wanted;
    this.once(`${role} approval ${label(wanted)}`, () =>
      this.event('swap', `${role} names ${label(wanted)}, which is not served yet: ${approvalNeeded(wanted)}.`),
    );
    return served;
  }

  private once(key: string, say: () => void): void {
    if (this.said.has(key)) return;
    this.said.add(key);
    say();
  }

  private resolve(reference: ModelRef): ModelVersion {
    return this.registry.resolve(registryReference(reference));
  }

  /**
   * The candidate's version, or null when the spec names none, its alias is not set yet, it could not
   * be loaded, or it takes other inputs than the stable version (every request routed to it would be
   * refused): those are recorded once and left out until the reference names another version.
   */
  private resolveCandidate(stable: ModelVersion): ModelVersion | null {
    const reference = this.spec.rollout.candidate;
    if (!reference || candidateNotYetNamed(this.registry, reference)) return null;
    const candidate = this.resolve(reference);
    const key = label(candidate);
    if (this.refusedCandidate === key) return null;
    if (awaitsApproval(candidate)) {
      // Rolled out once approved: the approval rewrites the registry, which brings it here again.
      this.once(`candidate approval ${key}`, () =>
        this.event('abort', `candidate ${key} is not rolled out yet: ${approvalNeeded(candidate)}.`),
      );
      return null;
    }
    // The reference names another version now: a refused one is tried again if it comes back.
    this.refusedCandidate = null;
    const difference = inputsDifference(stable, candidate);
    if (difference === null) return candidate;
    this.refusedCandidate = key;
    this.event('abort', `candidate ${key} is not rolled out: ${difference}`);
    return null;
  }

  private describeVersions(): string {
    const candidate = this.versions.candidate;
    return `${label(this.versions.stable)}${candidate ? ` with candidate ${label(candidate)} (${this.spec.rollout.strategy})` : ''}`;
  }
}

/**
 * Where this machine reaches a server listening on `host`: a wildcard address (every interface) is
 * reached through the loopback, since http://0.0.0.0 is not an address every client can connect to.
 */
export function serverUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}
