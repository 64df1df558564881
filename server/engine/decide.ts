// Whether a stage is up to date: DVC's rules. A stage runs when it never ran, when its interpolated
// cmd, the content of a dep or the value of a param differs from its lock entry, or when it is forced
// or always_changed; when only its outs are missing or modified and the cache holds the locked
// versions, they are restored instead. Frozen stages never run.
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { ContentCache } from './cache';
import { legacyMd5File } from './hash';
import type { OutHash } from './hash';
import type { LockEntry, StageLock } from './lockfile';
import type { RunnableStage } from './stages';

export type StageAction = 'run' | 'skip' | 'restore';

export interface Decision {
  action: StageAction;
  /** Why, in words: "dep data/raw.csv changed", "never ran", ... (empty when up to date). */
  reasons: string[];
}

export interface DecideOptions {
  /** The hash of a file or folder now (null when missing): a Hasher, or a memo of one for a plan. */
  hashPath: (absolutePath: string) => Promise<OutHash | null>;
  cache: ContentCache;
  workspaceRoot: string;
  force: boolean;
  /** Upstream stages that will run first (their outs are this stage's deps). */
  upstreamRunning: string[];
}

/** The path a lock entry uses for a workspace-relative path: relative to the stage's folder. */
export function lockPathOf(stage: RunnableStage, workspaceRoot: string, relativePath: string): string {
  return path.relative(stage.cwd, path.join(workspaceRoot, relativePath)).split(path.sep).join('/');
}

export async function decide(
  stage: RunnableStage,
  lock: StageLock | undefined,
  options: DecideOptions,
): Promise<Decision> {
  if (stage.frozen) return { action: 'skip', reasons: ['frozen'] };
  const reasons: string[] = [];
  if (options.force) reasons.push('forced');
  if (stage.alwaysChanged) reasons.push('always_changed');
  if (!lock) reasons.push('never ran');
  for (const upstream of options.upstreamRunning) reasons.push(`upstream stage ${upstream} runs first`);
  if (reasons.length > 0) return { action: 'run', reasons };
  const locked = lock as StageLock;
  if (!isDeepStrictEqual(normalizeCmd(locked.cmd), normalizeCmd(stage.cmd))) reasons.push('cmd changed');
  for (const dep of stage.deps) {
    const entry = findEntry(locked.deps, lockPathOf(stage, options.workspaceRoot, dep));
    const absolute = path.join(options.workspaceRoot, dep);
    const hash = await options.hashPath(absolute);
    if (!hash) reasons.push(`dep ${dep} is missing`);
    else if (!entry) reasons.push(`dep ${dep} is new`);
    else if (!(await sameContent(entry, hash, absolute))) reasons.push(`dep ${dep} changed`);
  }
  for (const entry of locked.deps ?? []) {
    const still = stage.deps.some((dep) => lockPathOf(stage, options.workspaceRoot, dep) === entry.path);
    if (!still) reasons.push(`dep ${entry.path} was removed`);
  }
  const lockedParams = locked.params ?? {};
  for (const [file, values] of Object.entries(stage.params)) {
    for (const [key, value] of Object.entries(values)) {
      const before = lockedParams[file]?.[key];
      if (before === undefined) reasons.push(`param ${key} is new`);
      else if (!isDeepStrictEqual(before, value)) reasons.push(...paramChanges(key, before, value));
    }
  }
  for (const [file, values] of Object.entries(lockedParams)) {
    for (const key of Object.keys(values))
      if (stage.params[file]?.[key] === undefined) reasons.push(`param ${key} was removed`);
  }
  if (reasons.length > 0) return { action: 'run', reasons };
  let restore = false;
  for (const out of stage.outs) {
    const entry = findEntry(locked.outs, lockPathOf(stage, options.workspaceRoot, out.path));
    if (!entry) {
      reasons.push(`out ${out.path} is new`);
      continue;
    }
    if (out.persist) continue;
    const hash = await options.hashPath(path.join(options.workspaceRoot, out.path));
    if (hash && hash.md5 === entry.md5) continue;
    const what = hash ? 'was modified' : 'is missing';
    if (out.cache && options.cache.has(outHashOf(entry))) {
      restore = true;
      reasons.push(`out ${out.path} ${what}; restoring it from the cache`);
    } else {
      reasons.push(`out ${out.path} ${what}`);
    }
  }
  if (reasons.length === 0) return { action: 'skip', reasons: [] };
  const onlyRestores = reasons.every((reason) => reason.endsWith('restoring it from the cache'));
  return { action: restore && onlyRestores ? 'restore' : 'run', reasons };
}

/** What changed in a param, down to the leaves of a section: `param train.lr changed (0.5 → 0.4)`. */
function paramChanges(key: string, before: unknown, after: unknown, into: string[] = []): string[] {
  const isMap = (value: unknown): value is Record<string, unknown> =>
    value !== null && typeof value === 'object' && !Array.isArray(value);
  if (isMap(before) && isMap(after)) {
    for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
      if (!isDeepStrictEqual(before[name], after[name]))
        paramChanges(`${key}.${name}`, before[name], after[name], into);
    }
    return into;
  }
  const show = (value: unknown): string => (value === undefined ? 'nothing' : short(JSON.stringify(value)));
  into.push(`param ${key} changed (${show(before)} → ${show(after)})`);
  return into;
}

function short(text: string): string {
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

export function normalizeCmd(cmd: string | string[]): string[] {
  return Array.isArray(cmd) ? cmd : [cmd];
}

export function findEntry(entries: LockEntry[] | undefined, lockPath: string): LockEntry | undefined {
  const wanted = lockPath.replace(/\/$/, '');
  return entries?.find((entry) => entry.path.replace(/\/$/, '') === wanted);
}

/** The hash a lock entry describes (a `.dir` md5 is a directory). */
export function outHashOf(entry: LockEntry): OutHash {
  const isDir = entry.md5.endsWith('.dir');
  return isDir
    ? { md5: entry.md5, size: entry.size, nfiles: entry.nfiles ?? 0, isDir }
    : { md5: entry.md5, size: entry.size, isDir };
}

/** A lock entry written by DVC 2 (no `hash: md5`) holds a dos2unix md5 for files. */
async function sameContent(entry: LockEntry, hash: OutHash, absolute: string): Promise<boolean> {
  if (entry.md5 === hash.md5) return true;
  if (entry.hash === 'md5' || hash.isDir) return false;
  return entry.md5 === (await legacyMd5File(absolute));
}
