// Lock files in DVC's format (schema '2.0'): per stage, the cmd that ran and the hashes of its deps,
// params and outs. `dvc.yaml` locks into `dvc.lock`, so DVC and Cairn read each other's locks. A
// stage is written by read-modify-write of its own entry, atomically: a reader (or a crash) sees
// the old file or the new one, never half of one. Writes are serialized by the run lock
// (runLock.ts): two processes writing one lock at once could lose an update.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Document, isMap, parseDocument, stringify } from 'yaml';
import type { YAMLMap } from 'yaml';
import { mapGet, mapPair, nodeStart, nodeValue, parseWhole } from '../spec/parse';
import type { ParsedDocument } from '../spec/parse';
import { compareCodePoints } from './hash';
import type { OutHash } from './hash';
import type { Store } from './store';

export interface LockEntry {
  path: string;
  /** `md5` in DVC 3 locks; absent in DVC 2 locks, whose file md5s are `md5-dos2unix`. */
  hash?: 'md5';
  md5: string;
  size: number;
  nfiles?: number;
}

export interface StageLock {
  cmd: string | string[];
  deps?: LockEntry[];
  params?: Record<string, Record<string, unknown>>;
  outs?: LockEntry[];
}

export interface LockFile {
  schema: '2.0';
  stages: Record<string, StageLock>;
}

/** DVC's default params file, which its locks list first. */
const DEFAULT_PARAMS_FILE = 'params.yaml';

/** The lock of a pipeline file, beside it: dvc.yaml → dvc.lock, x.pipeline.yaml → x.pipeline.lock. */
export function lockPathFor(pipelineFile: string): string {
  const base = path.basename(pipelineFile).replace(/\.ya?ml$/i, '');
  return path.join(path.dirname(pipelineFile), `${base}.lock`);
}

/**
 * `readLock` through the store: the parsed lock is remembered with the file's size, mtime and
 * inode (every write renames a new file in, so the inode changes), and parsed again only when the
 * file changed. A large lock parses in tens of milliseconds; this reads it in a few.
 */
export function readLockCached(lockPath: string, store: Store): LockFile {
  let stat: fs.BigIntStats;
  try {
    stat = fs.statSync(lockPath, { bigint: true });
  } catch {
    return readLock(lockPath);
  }
  const key = [Number(stat.size), stat.mtimeNs.toString(), stat.ino.toString()] as const;
  const cached = store.cachedLock(lockPath, ...key);
  if (cached !== undefined) return JSON.parse(cached) as LockFile;
  const lock = readLock(lockPath);
  store.saveLock(lockPath, ...key, JSON.stringify(lock));
  return lock;
}

/** The lock at `lockPath` (empty when there is none); throws with file, line and what to do when it is unreadable. */
export function readLock(lockPath: string): LockFile {
  const loaded = loadLock(lockPath);
  const stages: Record<string, StageLock> = {};
  for (const pair of loaded?.stages?.items ?? []) {
    const name = String(nodeValue(pair.key));
    const stage = stageLockOf(nodeValue(pair.value, loaded?.parsed.document ?? null));
    if (!stage) {
      const line = lineAt(loaded?.parsed.text ?? '', nodeStart(pair.value) ?? nodeStart(pair.key) ?? 0);
      throw unreadable(lockPath, line, `stage '${name}' is not a lock entry (a map with a cmd)`);
    }
    stages[name] = stage;
  }
  return { schema: '2.0', stages };
}

/** Sets (or with null removes) one stage of a lock file, keeping the others and their order; atomic. */
export function writeLockStage(lockPath: string, stage: string, lock: StageLock | null): void {
  const loaded = loadLock(lockPath);
  if (!loaded && !lock) return;
  const serialized = lock ? serializeStage(lock) : null;
  const text = (loaded && spliceStage(loaded, stage, serialized)) ?? rewriteLock(loaded, stage, serialized);
  writeFileAtomic(lockPath, text);
}

/** Whether a lock entry describes `hash`. For a DVC 2 entry (no `hash: md5`) pass the legacy hash. */
export function entryMatches(entry: LockEntry, hash: OutHash | null): boolean {
  return hash !== null && entry.md5 !== '' && entry.md5 === hash.md5;
}

/** The file operations of an atomic write, a parameter so a test can make one fail midway. */
export interface AtomicWriteIo {
  openSync(file: string, flags: string): number;
  writeSync(fd: number, data: Uint8Array, offset: number, length: number): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  rmSync(file: string, options: { force: true }): void;
}

const nodeIo: AtomicWriteIo = {
  openSync: (file, flags) => fs.openSync(file, flags),
  writeSync: (fd, data, offset, length) => fs.writeSync(fd, data, offset, length),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  closeSync: (fd) => fs.closeSync(fd),
  renameSync: (from, to) => fs.renameSync(from, to),
  rmSync: (file, options) => fs.rmSync(file, options),
};

/**
 * Replaces `target` with `text` so that no reader ever sees a partial file: the text goes to a temp
 * file in the same folder, is flushed to disk, then renamed over the target. On failure the temp
 * file is removed and the old target is untouched.
 */
export function writeFileAtomic(target: string, text: string, io: AtomicWriteIo = nodeIo): void {
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const data = Buffer.from(text, 'utf8');
  try {
    const fd = io.openSync(temp, 'wx');
    try {
      let written = 0;
      while (written < data.length) written += io.writeSync(fd, data, written, data.length - written);
      io.fsyncSync(fd);
    } finally {
      io.closeSync(fd);
    }
    io.renameSync(temp, target);
  } catch (error) {
    io.rmSync(temp, { force: true });
    throw error;
  }
  syncFolder(path.dirname(target));
}

/** Makes the rename itself durable; some platforms (Windows) cannot open a folder, which is fine. */
function syncFolder(folder: string): void {
  try {
    const fd = fs.openSync(folder, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Durability of the rename is best effort; atomicity does not depend on it.
  }
}

interface LoadedLock {
  parsed: ParsedDocument;
  /** The `stages` map; null when the lock has none yet. */
  stages: YAMLMap<unknown, unknown> | null;
}

/**
 * Reads a lock with the fast reader for block-style YAML (which falls back to the `yaml` package):
 * locks of thousands of stages are read once per stage during a run, so this parse is on the hot path.
 */
function loadLock(lockPath: string): LoadedLock | null {
  let text: string;
  try {
    text = fs.readFileSync(lockPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const parsed = parseWhole(text);
  const [error] = parsed.errors;
  if (error) throw unreadable(lockPath, lineAt(text, error.start), error.message.replace(/\.$/, ''));
  if (parsed.root === null) return null;
  if (!isMap(parsed.root)) throw unreadable(lockPath, 1, 'the file is not a map of schema and stages');
  const schemaPair = mapPair(parsed.root, 'schema');
  const schema = nodeValue(schemaPair?.value);
  if (schema !== '2.0') {
    throw unreadable(
      lockPath,
      lineAt(text, nodeStart(schemaPair) ?? 0),
      schemaPair
        ? `schema ${JSON.stringify(schema)} is not the supported '2.0'`
        : "it has no `schema: '2.0'` (DVC 1 locks are not supported)",
    );
  }
  const stages = mapGet(parsed.root, 'stages');
  if (stages !== null && !isMap(stages) && nodeValue(stages) !== null) {
    throw unreadable(lockPath, lineAt(text, nodeStart(stages) ?? 0), '`stages` is not a map of stage names');
  }
  return { parsed, stages: isMap(stages) ? stages : null };
}

/** Output options that match how DVC (ruamel) writes: list items at their key's indentation, single quotes, no folding. */
const YAML_STYLE = { indentSeq: false, singleQuote: true, lineWidth: 0 } as const;

/**
 * The lock text with one stage replaced, added or removed by editing only that stage's lines, so a
 * lock of thousands of stages is not re-serialized for each. Null when the layout is not the plain
 * block style this expects; the result is parsed again and must hold exactly the new stage.
 */
function spliceStage(loaded: LoadedLock, stage: string, serialized: Record<string, unknown> | null): string | null {
  const { parsed, stages } = loaded;
  const text = parsed.text;
  if (!stages || stages.items.length === 0 || !isMap(parsed.root)) return null;
  const starts = stages.items.map((pair) => lineStartAt(text, nodeStart(pair.key) ?? -1));
  const firstStart = starts[0] ?? -1;
  if (firstStart < 0 || text[nodeStart(stages) ?? 0] === '{') return null;
  const indent = (nodeStart(stages.items[0]?.key) ?? 0) - firstStart;
  const rootItems = parsed.root.items;
  const stagesIndex = rootItems.findIndex((pair) => pair.value === stages);
  const nextTopLevel = rootItems[stagesIndex + 1];
  const blockEnd = nextTopLevel ? lineStartAt(text, nodeStart(nextTopLevel) ?? -1) : text.length;
  if (blockEnd < 0) return null;
  const index = stages.items.findIndex((pair) => String(nodeValue(pair.key)) === stage);
  const regionStart = index >= 0 ? (starts[index] as number) : blockEnd;
  const regionEnd = index >= 0 ? (starts[index + 1] ?? blockEnd) : blockEnd;
  const rendered = serialized ? indentLines(stringify({ [stage]: serialized }, YAML_STYLE), indent) : '';
  const before = text.slice(0, regionStart);
  const spliced = (before === '' || before.endsWith('\n') ? before : `${before}\n`) + rendered + text.slice(regionEnd);
  return holdsStage(spliced, stage, serialized, stages.items.length + (index >= 0 ? 0 : 1) - (serialized ? 0 : 1))
    ? spliced
    : null;
}

/** Whether `text` parses to a lock whose stage `stage` is `serialized` (absent for null) among `count` stages. */
function holdsStage(text: string, stage: string, serialized: Record<string, unknown> | null, count: number): boolean {
  const parsed = parseWhole(text);
  if (parsed.errors.length > 0) return false;
  const stages = mapGet(parsed.root, 'stages');
  const found = isMap(stages) ? stages.items.length : 0;
  const value = mapPair(stages, stage);
  return found === count && (serialized ? isDeepStrictEqual(nodeValue(value?.value), serialized) : value === null);
}

/** The whole lock written again through the `yaml` package: for a new lock or an unusual layout. */
function rewriteLock(loaded: LoadedLock | null, stage: string, serialized: Record<string, unknown> | null): string {
  const document = loaded ? parseDocument(loaded.parsed.text, { uniqueKeys: true }) : new Document({ schema: '2.0' });
  if (!isMap(document.get('stages', true))) document.set('stages', document.createNode({}));
  if (serialized) document.setIn(['stages', stage], document.createNode(serialized));
  else document.deleteIn(['stages', stage]);
  return document.toString(YAML_STYLE);
}

function indentLines(text: string, indent: number): string {
  const pad = ' '.repeat(indent);
  return text.replace(/^(?=.)/gm, pad);
}

function lineStartAt(text: string, offset: number): number {
  return offset < 0 ? -1 : text.lastIndexOf('\n', offset - 1) + 1;
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let index = text.indexOf('\n'); index !== -1 && index < offset; index = text.indexOf('\n', index + 1)) line++;
  return line;
}

function unreadable(lockPath: string, line: number, reason: string): Error {
  return new Error(
    `${lockPath}:${line}: cannot read this lock file: ${reason}. Fix it, or delete it (the stages it records will run again).`,
  );
}

function stageLockOf(value: unknown): StageLock | null {
  if (!isRecord(value)) return null;
  const cmd = value['cmd'];
  const validCmd = typeof cmd === 'string' || (Array.isArray(cmd) && cmd.every((part) => typeof part === 'string'));
  if (!validCmd) return null;
  const stage: StageLock = { cmd: cmd as string | string[] };
  const deps = entriesOf(value['deps']);
  const params = paramsOf(value['params']);
  const outs = entriesOf(value['outs']);
  if (deps === null || params === null || outs === null) return null;
  if (deps) stage.deps = deps;
  if (params) stage.params = params;
  if (outs) stage.outs = outs;
  return stage;
}

/** Lock entries from YAML; undefined when absent, null when malformed. */
function entriesOf(value: unknown): LockEntry[] | undefined | null {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) return null;
  const entries: LockEntry[] = [];
  for (const item of value) {
    if (!isRecord(item) || typeof item['path'] !== 'string') return null;
    // An entry without md5 (a DVC dataset dep, a cloud-versioned out) never matches a local hash.
    const entry: LockEntry = {
      path: item['path'],
      md5: typeof item['md5'] === 'string' ? item['md5'] : '',
      size: typeof item['size'] === 'number' ? item['size'] : 0,
    };
    if (item['hash'] === 'md5') entry.hash = 'md5';
    if (typeof item['nfiles'] === 'number') entry.nfiles = item['nfiles'];
    entries.push(entry);
  }
  return entries;
}

function paramsOf(value: unknown): Record<string, Record<string, unknown>> | undefined | null {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) return null;
  const params: Record<string, Record<string, unknown>> = {};
  for (const [file, values] of Object.entries(value)) {
    if (!isRecord(values)) return null;
    params[file] = values;
  }
  return params;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A stage as DVC serializes it: keys cmd, deps, params, outs (empty ones left out); deps and outs
 * sorted by path; params files sorted with params.yaml first, their keys sorted (not recursively).
 */
function serializeStage(lock: StageLock): Record<string, unknown> {
  const stage: Record<string, unknown> = { cmd: lock.cmd };
  if (lock.deps && lock.deps.length > 0) stage['deps'] = serializeEntries(lock.deps);
  const files = Object.keys(lock.params ?? {}).sort((a, b) => paramsFileRank(a, b));
  if (files.length > 0) {
    const params: Record<string, Record<string, unknown>> = {};
    for (const file of files) {
      const values = lock.params?.[file] ?? {};
      params[file] = Object.fromEntries(
        Object.keys(values)
          .sort(compareCodePoints)
          .map((key) => [key, values[key]]),
      );
    }
    stage['params'] = params;
  }
  if (lock.outs && lock.outs.length > 0) stage['outs'] = serializeEntries(lock.outs);
  return stage;
}

function serializeEntries(entries: readonly LockEntry[]): Record<string, unknown>[] {
  return [...entries]
    .sort((a, b) => compareCodePoints(a.path, b.path))
    .map((entry) => {
      const out: Record<string, unknown> = { path: entry.path };
      if (entry.hash) out['hash'] = entry.hash;
      out['md5'] = entry.md5;
      out['size'] = entry.size;
      if (entry.nfiles !== undefined) out['nfiles'] = entry.nfiles;
      return out;
    });
}

function paramsFileRank(a: string, b: string): number {
  if (a === DEFAULT_PARAMS_FILE) return b === DEFAULT_PARAMS_FILE ? 0 : -1;
  if (b === DEFAULT_PARAMS_FILE) return 1;
  return compareCodePoints(a, b);
}
