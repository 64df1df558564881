// Runs a pipeline: the selected stages in dependency order, independent ones in parallel up to
// `jobs`, each as a child process. Unchanged stages are skipped, stages whose exact inputs ran
// before get their outs from the run cache, and each successful stage is written to the lock file
// at once, so a cancelled or failed run keeps everything that completed.
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ContentCache } from './cache';
import { decide, findEntry, lockPathOf, normalizeCmd, outHashOf } from './decide';
import type { Decision, StageAction } from './decide';
import { codeVersion } from './git';
import { Hasher, inParallel } from './hash';
import type { OutHash } from './hash';
import { lockPathFor, readLockCached, writeLockStage } from './lockfile';
import type { LockEntry, LockFile, StageLock } from './lockfile';
import { runCommand, isAlive } from './processes';
import { acquireRunLock } from './runLock';
import type { GateReport } from './gates/evaluate';
import type { ModelRegistration } from './registry/automated';
import { trackPipelineRun } from './trackRun';
import type { TrackingOptions } from './trackRun';
import { workspaceStages } from './stages';
import type { RunnableStage, WorkspaceStages } from './stages';
import { stateDir, Store } from './store';
import type { LineageEdgeRow, StageStatus } from './store';

export type RunEvent =
  | {
      event: 'plan';
      runId: string;
      pipeline: string | null;
      stages: { name: string; action: StageAction; reason: string }[];
    }
  | { event: 'stage-start'; stage: string; logPath: string; metricsPath: string }
  | { event: 'warning'; message: string }
  | {
      /** A model the pipeline declares, judged by its gate at the end of the run. */
      event: 'model';
      model: string;
      status: ModelRegistration['status'];
      version: number | null;
      message: string;
      report: GateReport | null;
    }
  | { event: 'output'; stage: string; stream: 'stdout' | 'stderr'; text: string }
  | {
      event: 'stage-end';
      stage: string;
      status: StageStatus;
      exitCode: number | null;
      durationMs: number;
      reason: string;
      tail: string[];
    }
  | {
      event: 'run-end';
      runId: string;
      status: 'succeeded' | 'failed' | 'cancelled';
      counts: Partial<Record<StageStatus, number>>;
      durationMs: number;
    };

export interface RunOptions {
  root: string;
  /** Absolute path of the pipeline file to run; all pipelines of the workspace when absent. */
  pipelineFile?: string | undefined;
  /** Stage names or addresses; their upstream stages are included (or, with downstream, what follows them). */
  targets?: string[];
  jobs?: number;
  force?: boolean;
  dryRun?: boolean;
  keepGoing?: boolean;
  downstream?: boolean;
  /** How long to wait for another run of the workspace to finish (0: refuse at once). */
  waitMs?: number;
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
  argv?: string[];
  /** Where and as what the run is tracked (a sweep trial: the main store, its sweep as parent). */
  tracking?: TrackingOptions;
}

export interface RunResult {
  runId: string;
  /** The tracked experiment run, when tracking succeeded. */
  trackedRunId?: string;
  status: 'succeeded' | 'failed' | 'cancelled';
  stages: Map<string, StageStatus>;
}

/** A problem with the pipeline itself (bad input): the CLI exits with 2. */
export class PipelineError extends Error {}

export async function runPipeline(options: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const runId = `${new Date(started).toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomUUID().slice(0, 8)}`;
  const emit = options.onEvent ?? (() => undefined);
  const loaded = workspaceStages(options.root);
  const selected = selectStages(loaded, options);
  const order = topologicalOrder(selected, loaded.upstream);
  const release = options.dryRun ? () => undefined : await acquireRunLock(options.root, runId, options.waitMs ?? 0);
  const store = Store.open(options.root);
  try {
    store.reapOrphanRuns(isAlive, started);
    const hasher = new Hasher(store);
    const cache = new ContentCache(options.root);
    const locks = new LockEntries(store);
    const planned = await planStages(order, loaded.upstream, {
      root: options.root,
      hasher,
      cache,
      locks,
      force: options.force === true,
    });
    emit({
      event: 'plan',
      runId,
      pipeline: options.pipelineFile
        ? path.relative(options.root, options.pipelineFile).split(path.sep).join('/')
        : null,
      stages: order.map((stage) => {
        const decision = planned.get(stage.address) as Decision;
        return { name: stage.address, action: decision.action, reason: decision.reasons.join('; ') || 'up to date' };
      }),
    });
    if (options.dryRun) {
      hasher.flush();
      return { runId, status: 'succeeded', stages: new Map() };
    }
    const code = codeVersion(options.root);
    store.insertRun({
      id: runId,
      pipeline: options.pipelineFile ? path.relative(options.root, options.pipelineFile) : '*',
      status: 'running',
      started_at: started,
      ended_at: null,
      git_commit: code.commit,
      git_dirty: code.dirty === null ? null : code.dirty ? 1 : 0,
      argv: JSON.stringify(options.argv ?? []),
      pid: process.pid,
    });
    const context: StageContext = {
      root: options.root,
      runId,
      store,
      hasher,
      cache,
      emit,
      signal: options.signal ?? new AbortController().signal,
      force: options.force === true,
      locks,
      // The code version as lineage records it: the commit, marked when the tree had changes.
      codeCommit: code.commit && (code.dirty ? `${code.commit}+dirty` : code.commit),
    };
    const statuses = await schedule(order, loaded.upstream, context, options);
    const counts: Partial<Record<StageStatus, number>> = {};
    for (const status of statuses.values()) counts[status] = (counts[status] ?? 0) + 1;
    const status = context.signal.aborted
      ? 'cancelled'
      : [...statuses.values()].some((value) => value === 'failed' || value === 'blocked')
        ? 'failed'
        : 'succeeded';
    hasher.flush();
    store.finishRun(runId, status, Date.now());
    const tracked = trackPipelineRun(
      store,
      options.root,
      runId,
      status,
      started,
      order.map((stage) => {
        const stageStatus = statuses.get(stage.address);
        const launched = stageStatus === 'succeeded' || stageStatus === 'failed' || stageStatus === 'cancelled';
        return {
          stage,
          lock: locks.of(stage),
          // A failed or cancelled stage's live points are kept: they show how far it got (and what
          // a sweep's pruner judged).
          liveMetrics: launched ? metricsPathOf(options.root, runId, stage) : null,
          ran: stageStatus === 'succeeded',
          current: stageStatus === 'succeeded' || stageStatus === 'skipped' || stageStatus === 'restored',
        };
      }),
      options.tracking,
    );
    if ('warning' in tracked) emit({ event: 'warning', message: tracked.warning });
    else {
      for (const message of tracked.warnings) emit({ event: 'warning', message });
      for (const registration of tracked.registrations)
        emit({
          event: 'model',
          model: registration.model,
          status: registration.status,
          version: registration.version ?? null,
          message: registration.message,
          report: registration.report,
        });
    }
    emit({ event: 'run-end', runId, status, counts, durationMs: Date.now() - started });
    return { runId, status, stages: statuses, ...('runId' in tracked ? { trackedRunId: tracked.runId } : {}) };
  } finally {
    store.close();
    release();
  }
}

/** Stages' lock entries, each lock file read once (through the store's parsed-lock cache). */
export class LockEntries {
  private readonly files = new Map<string, LockFile>();

  constructor(private readonly store: Store) {}

  of(stage: RunnableStage): StageLock | undefined {
    return this.file(stage).stages[stage.name];
  }

  /** The file was just written with this entry: keep the parsed copy in step instead of rereading it. */
  record(stage: RunnableStage, lock: StageLock): void {
    this.file(stage).stages[stage.name] = lock;
  }

  private file(stage: RunnableStage): LockFile {
    const file = lockPathFor(stage.pipelineFile);
    let lock = this.files.get(file);
    if (!lock) {
      lock = readLockCached(file, this.store);
      this.files.set(file, lock);
    }
    return lock;
  }
}

/**
 * What each stage would do if everything upstream went as planned (for `run`'s plan and for
 * `status`). Every path is hashed once, all of them concurrently, before the stages are compared
 * in order.
 */
export async function planStages(
  order: RunnableStage[],
  upstream: Map<string, Set<string>>,
  options: { root: string; hasher: Hasher; cache: ContentCache; locks: LockEntries; force: boolean },
): Promise<Map<string, Decision>> {
  const hashPath = memoizedHashes(options.hasher);
  await prefetch(order, options.root, hashPath);
  const planned = new Map<string, Decision>();
  for (const stage of order) {
    const upstreamRunning = [...(upstream.get(stage.address) ?? [])].filter(
      (address) => planned.get(address)?.action === 'run',
    );
    planned.set(
      stage.address,
      await decide(stage, options.locks.of(stage), {
        hashPath,
        cache: options.cache,
        workspaceRoot: options.root,
        force: options.force,
        upstreamRunning,
      }),
    );
  }
  return planned;
}

/** Hashes each path once: for a plan, where nothing changes between the questions. */
function memoizedHashes(hasher: Hasher): (absolute: string) => Promise<OutHash | null> {
  const known = new Map<string, Promise<OutHash | null>>();
  return (absolute) => {
    let hash = known.get(absolute);
    if (!hash) {
      hash = hasher.hashPath(absolute);
      known.set(absolute, hash);
    }
    return hash;
  };
}

/** Starts hashing every dep and out of the stages, a few at a time, so the plan finds them ready. */
async function prefetch(
  stages: RunnableStage[],
  root: string,
  hashPath: (absolute: string) => Promise<OutHash | null>,
): Promise<void> {
  const paths = [...new Set(stages.flatMap((stage) => [...stage.deps, ...stage.outs.map((out) => out.path)]))];
  await inParallel(paths, 32, async (relative) => {
    await hashPath(path.join(root, relative));
  });
}

/** The stages a run covers: the targets with their upstream (or downstream), or the whole pipeline. */
export function selectStages(
  loaded: WorkspaceStages,
  options: Pick<RunOptions, 'pipelineFile' | 'targets' | 'downstream'>,
): RunnableStage[] {
  const selected = chooseStages(loaded, options);
  // Problems block a run only in the pipeline files it touches; a broken file elsewhere does not.
  const files = new Set(selected.map((stage) => stage.pipelineFile));
  if (options.pipelineFile) files.add(options.pipelineFile);
  const everything = !options.pipelineFile && (options.targets ?? []).length === 0;
  const blocking = loaded.problems.filter((problem) => everything || files.has(problem.file));
  if (blocking.length > 0)
    throw new PipelineError(
      `${blocking.map((problem) => `${problem.file}:${problem.line}: ${problem.message}`).join('\n')}\nFix the pipeline (cairn validate shows every problem) and run again.`,
    );
  return selected;
}

/** The stages a selection names, whatever problems the pipelines have. */
export function chooseStages(
  loaded: WorkspaceStages,
  options: Pick<RunOptions, 'pipelineFile' | 'targets' | 'downstream'>,
): RunnableStage[] {
  const inFile = options.pipelineFile
    ? loaded.stages.filter((stage) => stage.pipelineFile === options.pipelineFile)
    : loaded.stages;
  if (options.pipelineFile && inFile.length === 0)
    throw new PipelineError(
      `${options.pipelineFile}: no stages to run (is it a pipeline file with a 'stages' section?).`,
    );
  const targets = options.targets ?? [];
  if (targets.length === 0) return inFile;
  const byAddress = new Map(loaded.stages.map((stage) => [stage.address, stage]));
  const chosen = new Set<string>();
  const roots: string[] = [];
  for (const target of targets) {
    const matches = inFile.filter(
      (stage) => stage.address === target || stage.name === target || stage.name.startsWith(`${target}@`),
    );
    if (matches.length === 0) {
      const names = inFile.map((stage) => stage.name);
      throw new PipelineError(
        `No stage '${target}'. Stages: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', ...' : ''}.`,
      );
    }
    roots.push(...matches.map((stage) => stage.address));
  }
  const downstreamOf = new Map<string, Set<string>>();
  for (const [address, ups] of loaded.upstream) {
    for (const up of ups) {
      const set = downstreamOf.get(up) ?? new Set<string>();
      set.add(address);
      downstreamOf.set(up, set);
    }
  }
  const edges = options.downstream ? downstreamOf : loaded.upstream;
  const stack = [...roots];
  while (stack.length > 0) {
    const address = stack.pop() as string;
    if (chosen.has(address)) continue;
    chosen.add(address);
    for (const next of edges.get(address) ?? []) stack.push(next);
  }
  return [...chosen].map((address) => byAddress.get(address)).filter((stage): stage is RunnableStage => !!stage);
}

/** Stages ordered so that each comes after its upstream; a cycle is bad input. */
export function topologicalOrder(stages: RunnableStage[], upstream: Map<string, Set<string>>): RunnableStage[] {
  const selected = new Map(stages.map((stage) => [stage.address, stage]));
  const order: RunnableStage[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (address: string, trail: string[]): void => {
    const current = state.get(address);
    if (current === 'done') return;
    if (current === 'visiting')
      throw new PipelineError(
        `The stages form a cycle: ${[...trail.slice(trail.indexOf(address)), address].join(' -> ')}.`,
      );
    state.set(address, 'visiting');
    for (const up of upstream.get(address) ?? []) if (selected.has(up)) visit(up, [...trail, address]);
    state.set(address, 'done');
    const stage = selected.get(address);
    if (stage) order.push(stage);
  };
  for (const stage of stages) visit(stage.address, []);
  return order;
}

interface StageContext {
  root: string;
  runId: string;
  store: Store;
  hasher: Hasher;
  cache: ContentCache;
  emit: (event: RunEvent) => void;
  signal: AbortSignal;
  force: boolean;
  locks: LockEntries;
  codeCommit: string | null;
}

async function schedule(
  order: RunnableStage[],
  upstream: Map<string, Set<string>>,
  context: StageContext,
  options: RunOptions,
): Promise<Map<string, StageStatus>> {
  const jobs = Math.max(1, options.jobs ?? os.availableParallelism());
  const statuses = new Map<string, StageStatus>();
  const ran = new Set<string>();
  const pending = [...order];
  const running = new Map<string, Promise<void>>();
  const selected = new Set(order.map((stage) => stage.address));
  let failed = false;
  while (pending.length > 0 || running.size > 0) {
    const stopping = context.signal.aborted || (failed && !options.keepGoing);
    for (let index = 0; !stopping && index < pending.length && running.size < jobs;) {
      const stage = pending[index] as RunnableStage;
      const ups = [...(upstream.get(stage.address) ?? [])].filter((address) => selected.has(address));
      if (ups.some((address) => !statuses.has(address))) {
        index++;
        continue;
      }
      pending.splice(index, 1);
      const broken = ups.find((address) => ['failed', 'blocked', 'cancelled'].includes(statuses.get(address) ?? ''));
      if (broken) {
        statuses.set(stage.address, 'blocked');
        recordStage(context, stage, 'blocked', `upstream stage ${broken} did not complete`, null, null, null);
        context.emit({
          event: 'stage-end',
          stage: stage.address,
          status: 'blocked',
          exitCode: null,
          durationMs: 0,
          reason: `upstream stage ${broken} did not complete`,
          tail: [],
        });
        continue;
      }
      const upstreamRan = ups.filter((address) => ran.has(address));
      const task = runStage(stage, upstreamRan, context).then((status) => {
        statuses.set(stage.address, status);
        if (status === 'succeeded') ran.add(stage.address);
        if (status === 'failed') failed = true;
        running.delete(stage.address);
      });
      running.set(stage.address, task);
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  return statuses;
}

async function runStage(stage: RunnableStage, upstreamRan: string[], context: StageContext): Promise<StageStatus> {
  const started = Date.now();
  const decision = await decide(stage, context.locks.of(stage), {
    hashPath: (absolute) => context.hasher.hashPath(absolute),
    cache: context.cache,
    workspaceRoot: context.root,
    force: context.force,
    upstreamRunning: [],
  }).catch((error: unknown) => ({
    action: 'run' as const,
    reasons: [`could not compare with the lock: ${String(error)}`],
  }));
  const reasons = [...decision.reasons];
  // Deps are hashed now, after the upstream stages finished: an upstream rerun that produced the same
  // outs leaves this stage up to date.
  if (decision.action === 'skip') {
    const reason = reasons.join('; ') || 'up to date';
    recordStage(context, stage, 'skipped', reason, null, null, null);
    context.emit({
      event: 'stage-end',
      stage: stage.address,
      status: 'skipped',
      exitCode: null,
      durationMs: 0,
      reason,
      tail: [],
    });
    return 'skipped';
  }
  const lock = context.locks.of(stage);
  if (decision.action === 'restore' && lock) {
    const restored = await restoreOuts(stage, lock, context);
    if (restored) return reportRestored(context, stage, lock, reasons.join('; '), started);
  }
  // The exact inputs may have run before: then the run cache has the outs.
  const deps = await hashDeps(stage, context);
  const key = deps && !context.force && !stage.alwaysChanged ? runCacheKey(stage, deps) : null;
  if (key) {
    const cached = readRunCache(context.root, key);
    if (deps && cached && stage.outs.every((out) => out.cache && !out.persist)) {
      const candidate: StageLock = { cmd: stage.cmd, deps, ...paramsPart(stage), outs: cached };
      if (await restoreOuts(stage, candidate, context)) {
        writeLockStage(lockPathFor(stage.pipelineFile), stage.name, candidate);
        context.locks.record(stage, candidate);
        const reason = `${reasons.join('; ') || 'changed'}; the same inputs ran before, outs restored from the run cache`;
        return reportRestored(context, stage, candidate, reason, started);
      }
    }
  }
  return executeStage(stage, reasons.join('; ') || `upstream ${upstreamRan.join(', ')} ran`, context, started);
}

/** The file a stage appends its live metrics to (CAIRN_METRICS_PATH). */
function metricsPathOf(root: string, runId: string, stage: RunnableStage): string {
  return path.join(stateDir(root), 'logs', runId, `${fileNameOf(stage)}.metrics.jsonl`);
}

/** A stage's address as a file name (a subfolder pipeline's `sub/dvc.yaml:train` has slashes). */
function fileNameOf(stage: RunnableStage): string {
  return stage.address.replace(/[^\w@.-]+/g, '_');
}

/** Records and announces a stage whose outs came back from the cache instead of a run. */
function reportRestored(
  context: StageContext,
  stage: RunnableStage,
  lock: StageLock,
  reason: string,
  started: number,
): StageStatus {
  recordStage(context, stage, 'restored', reason, started, null, null);
  recordLineage(context, stage, lock);
  context.emit({
    event: 'stage-end',
    stage: stage.address,
    status: 'restored',
    exitCode: null,
    durationMs: Date.now() - started,
    reason,
    tail: [],
  });
  return 'restored';
}

async function executeStage(
  stage: RunnableStage,
  reason: string,
  context: StageContext,
  started: number,
): Promise<StageStatus> {
  const logDir = path.join(stateDir(context.root), 'logs', context.runId);
  fs.mkdirSync(logDir, { recursive: true });
  const logPath = path.join(logDir, `${fileNameOf(stage)}.log`);
  const metricsPath = metricsPathOf(context.root, context.runId, stage);
  const log = fs.createWriteStream(logPath);
  context.emit({ event: 'stage-start', stage: stage.address, logPath, metricsPath });
  recordStage(context, stage, 'running', reason, started, null, logPath);
  const missing = [];
  for (const dep of stage.deps) if (!fs.existsSync(path.join(context.root, dep))) missing.push(dep);
  let exitCode: number | null = null;
  let status: StageStatus = 'succeeded';
  let failure = '';
  if (missing.length > 0) {
    status = 'failed';
    failure = `missing dep${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: no stage produces ${missing.length > 1 ? 'them' : 'it'} and it is not on disk`;
    log.write(`cairn: ${failure}\n`);
  } else {
    for (const out of stage.outs) {
      const absolute = path.join(context.root, out.path);
      if (!out.persist) fs.rmSync(absolute, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(absolute), { recursive: true });
    }
    const env = {
      ...process.env,
      CAIRN_RUN_ID: context.runId,
      CAIRN_STAGE: stage.address,
      CAIRN_METRICS_PATH: metricsPath,
      CAIRN_WORKSPACE: context.root,
    };
    for (const command of normalizeCmd(stage.cmd)) {
      log.write(`$ ${command}\n`);
      try {
        const result = await runCommand(command, {
          cwd: stage.cwd,
          env,
          log,
          signal: context.signal,
          onLine: (stream, text) => context.emit({ event: 'output', stage: stage.address, stream, text }),
        });
        exitCode = result.exitCode;
        if (context.signal.aborted) {
          status = 'cancelled';
          break;
        }
        if (result.exitCode !== 0) {
          status = 'failed';
          failure = result.signal ? `killed by ${result.signal}` : `exit code ${String(result.exitCode)}`;
          break;
        }
      } catch (error) {
        status = 'failed';
        failure = `could not start: ${error instanceof Error ? error.message : String(error)}`;
        log.write(`cairn: ${failure}\n`);
        break;
      }
    }
  }
  let lock: StageLock | null = null;
  if (status === 'succeeded') {
    const notMade = stage.outs
      .filter((out) => !fs.existsSync(path.join(context.root, out.path)))
      .map((out) => out.path);
    if (notMade.length > 0) {
      status = 'failed';
      failure = `the stage finished but did not write ${notMade.join(', ')}`;
      log.write(`cairn: ${failure}\n`);
    } else {
      lock = await completeStage(stage, context);
    }
  }
  await new Promise<void>((resolve) => log.end(resolve));
  const tail = status === 'succeeded' ? [] : lastLines(logPath, 10);
  const detail = status === 'failed' ? failure : status === 'cancelled' ? 'cancelled' : reason;
  recordStage(context, stage, status, detail, started, exitCode, logPath);
  if (lock) recordLineage(context, stage, lock);
  context.emit({
    event: 'stage-end',
    stage: stage.address,
    status,
    exitCode,
    durationMs: Date.now() - started,
    reason: detail,
    tail,
  });
  return status;
}

/** After a successful command: hash the outs, store them in the cache, write the lock entry and the run cache. */
async function completeStage(stage: RunnableStage, context: StageContext): Promise<StageLock> {
  const deps = (await hashDeps(stage, context)) ?? [];
  const outs: LockEntry[] = [];
  for (const out of stage.outs) {
    const absolute = path.join(context.root, out.path);
    const hash = (await context.hasher.hashPath(absolute)) as OutHash;
    if (out.cache) await context.cache.save(absolute, hash, context.hasher);
    outs.push(lockEntry(lockPathOf(stage, context.root, out.path), hash));
  }
  const lock: StageLock = { cmd: stage.cmd, deps, ...paramsPart(stage), outs };
  writeLockStage(lockPathFor(stage.pipelineFile), stage.name, lock);
  context.locks.record(stage, lock);
  if (!stage.alwaysChanged) writeRunCache(context.root, runCacheKey(stage, deps), outs);
  return lock;
}

async function hashDeps(stage: RunnableStage, context: StageContext): Promise<LockEntry[] | null> {
  const entries: LockEntry[] = [];
  for (const dep of stage.deps) {
    const hash = await context.hasher.hashPath(path.join(context.root, dep));
    if (!hash) return null;
    entries.push(lockEntry(lockPathOf(stage, context.root, dep), hash));
  }
  return entries;
}

function lockEntry(lockPath: string, hash: OutHash): LockEntry {
  const entry: LockEntry = { path: lockPath, hash: 'md5', md5: hash.md5, size: hash.size };
  if (hash.isDir) entry.nfiles = hash.nfiles ?? 0;
  return entry;
}

function paramsPart(stage: RunnableStage): Pick<StageLock, 'params'> {
  return Object.keys(stage.params).length > 0 ? { params: stage.params } : {};
}

async function restoreOuts(stage: RunnableStage, lock: StageLock, context: StageContext): Promise<boolean> {
  for (const out of stage.outs) {
    if (out.persist) continue;
    const entry = findEntry(lock.outs, lockPathOf(stage, context.root, out.path));
    if (!entry || !out.cache) return false;
    const absolute = path.join(context.root, out.path);
    const current = await context.hasher.hashPath(absolute);
    if (current?.md5 === entry.md5) continue;
    if (!(await context.cache.restore(absolute, outHashOf(entry)))) return false;
  }
  return true;
}

function runCacheKey(stage: RunnableStage, deps: LockEntry[]): string {
  const identity = JSON.stringify({
    cmd: normalizeCmd(stage.cmd),
    deps: deps.map((entry) => [entry.path, entry.md5]),
    params: stage.params,
    outs: stage.outs.map((out) => lockPathOf(stage, '', out.path)),
  });
  return createHash('sha256').update(identity).digest('hex');
}

function runCachePath(root: string, key: string): string {
  return path.join(stateDir(root), 'cache', 'runs', key.slice(0, 2), `${key.slice(2)}.json`);
}

function readRunCache(root: string, key: string): LockEntry[] | null {
  try {
    return JSON.parse(fs.readFileSync(runCachePath(root, key), 'utf8')) as LockEntry[];
  } catch {
    return null;
  }
}

function writeRunCache(root: string, key: string, outs: LockEntry[]): void {
  const file = runCachePath(root, key);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(outs));
  fs.renameSync(temporary, file);
}

function recordStage(
  context: StageContext,
  stage: RunnableStage,
  status: StageStatus,
  reason: string,
  started: number | null,
  exitCode: number | null,
  logPath: string | null,
): void {
  context.store.upsertStageRun({
    run_id: context.runId,
    stage: stage.address,
    status,
    reason,
    started_at: started ?? Date.now(),
    ended_at: status === 'running' ? null : Date.now(),
    exit_code: exitCode,
    log_path: logPath,
    cmd: JSON.stringify(stage.cmd),
    deps: JSON.stringify(stage.deps),
    outs: JSON.stringify(stage.outs.map((out) => out.path)),
    params: JSON.stringify(stage.params),
  });
}

function recordLineage(context: StageContext, stage: RunnableStage, lock: StageLock): void {
  const now = Date.now();
  const edges: LineageEdgeRow[] = [];
  const base = { run_id: context.runId, stage: stage.address, created_at: now };
  for (const dep of stage.deps) {
    const entry = findEntry(lock.deps, lockPathOf(stage, context.root, dep));
    edges.push({ ...base, direction: 'in', kind: 'file', name: dep, md5: entry?.md5 ?? null });
  }
  for (const [file, values] of Object.entries(stage.params)) {
    const paramsFile = path.relative(context.root, path.join(stage.cwd, file)).split(path.sep).join('/');
    for (const [key, value] of Object.entries(values))
      edges.push({ ...base, direction: 'in', kind: 'param', name: `${paramsFile}:${key}`, md5: JSON.stringify(value) });
  }
  if (context.codeCommit) edges.push({ ...base, direction: 'in', kind: 'code', name: 'git', md5: context.codeCommit });
  for (const out of stage.outs) {
    const entry = findEntry(lock.outs, lockPathOf(stage, context.root, out.path));
    edges.push({ ...base, direction: 'out', kind: 'file', name: out.path, md5: entry?.md5 ?? null });
  }
  context.store.addLineage(edges);
}

function lastLines(file: string, count: number): string[] {
  try {
    const size = fs.statSync(file).size;
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    const handle = fs.openSync(file, 'r');
    try {
      fs.readSync(handle, buffer, 0, length, size - length);
    } finally {
      fs.closeSync(handle);
    }
    return buffer
      .toString('utf8')
      .split('\n')
      .filter((line) => line !== '')
      .slice(-count);
  } catch {
    return [];
  }
}
