// Content hashes as DVC 3 computes them: the md5 of a file's bytes, and for a directory the md5 of
// the JSON list of its files (`.dir`). DVC 2's `md5-dos2unix` is kept for reading old locks. The
// Hasher spares re-reading unchanged files through the store's stat cache (size, mtime, inode).
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StatEntry, Store } from './store';

export interface OutHash {
  md5: string;
  size: number;
  nfiles?: number;
  isDir: boolean;
}

export interface DirEntry {
  relpath: string;
  md5: string;
  size: number;
}

/** `md5` is DVC 3's hash of the raw bytes; `md5-dos2unix` is DVC 2's (CRLF read as LF in text files). */
export type HashAlgorithm = 'md5' | 'md5-dos2unix';

/** Large reads keep the (native) md5 busy; two buffers let the next read run while one is hashed. */
const READ_CHUNK = 4 * 1024 * 1024;
/** Files this small are read in one call: for thousands of small files, fewer round trips matter. */
const SMALL_FILE = 256 * 1024;
/** How many files a directory walk hashes at once: enough to keep the disk and the thread pool busy. */
const PARALLEL_FILES = 16;
/** A directory walk stats this many entries between turns of the event loop. */
const STATS_PER_TURN = 512;

/** Streaming md5 of the raw bytes (DVC 3's `md5`). */
export async function md5File(absPath: string): Promise<string> {
  const hash = createHash('md5');
  await readChunks(absPath, (chunk) => hash.update(chunk));
  return hash.digest('hex');
}

/** DVC 2's `md5-dos2unix`: CRLF becomes LF in text files (DVC's text heuristic); binary files as is. */
export async function legacyMd5File(absPath: string): Promise<string> {
  const digest = new Dos2UnixDigest();
  await readChunks(absPath, (chunk) => digest.update(chunk));
  return digest.hex();
}

/** The `.dir` md5 of a directory's entries, byte for byte as dvc-data computes it. */
export function dirMd5(entries: readonly DirEntry[]): string {
  return createHash('md5').update(dirManifestJson(entries)).digest('hex') + '.dir';
}

/**
 * What DVC hashes for a directory: Python's `json.dumps(entries, sort_keys=True)` of the entries
 * sorted by relpath, each `{"md5": ..., "relpath": ...}` — default separators `, ` and `: `, and
 * every character outside printable ASCII escaped as `\uXXXX` (lowercase hex, UTF-16 units).
 */
export function dirManifestJson(entries: readonly DirEntry[]): string {
  const sorted = sortByRelpath([...entries]);
  const items = sorted.map(
    (entry) => `{"md5": ${pythonJsonString(entry.md5)}, "relpath": ${pythonJsonString(entry.relpath)}}`,
  );
  return `[${items.join(', ')}]`;
}

/** Sorts entries in place by relpath in Python's order (the plain comparison when no name needs the slow one). */
export function sortByRelpath<T extends { relpath: string }>(entries: T[]): T[] {
  const needsCodePoints = entries.some((entry) => BEYOND_SURROGATES.test(entry.relpath));
  return entries.sort(
    needsCodePoints
      ? (a, b) => compareCodePoints(a.relpath, b.relpath)
      : (a, b) => (a.relpath < b.relpath ? -1 : a.relpath > b.relpath ? 1 : 0),
  );
}

/** Characters from U+D800 up, the only ones where UTF-16 order and code-point order differ. */
const BEYOND_SURROGATES = /[\ud800-\uffff]/;

/** Python's string order (by code point), which differs from JavaScript's (by UTF-16 unit) above U+FFFF. */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    const left = a.charCodeAt(index);
    const right = b.charCodeAt(index);
    if (left !== right) return codePointRank(left) - codePointRank(right);
  }
  return a.length - b.length;
}

/** Surrogates (U+D800–DFFF) start characters above U+FFFF, so they rank after U+E000–FFFF. */
function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

/** Printable ASCII other than the quote and the backslash: written as is. */
const PLAIN_JSON = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const SHORT_ESCAPES: Record<number, string> = {
  0x22: '\\"',
  0x5c: '\\\\',
  0x08: '\\b',
  0x0c: '\\f',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
};

/** A JSON string as Python's json.dumps writes it with ensure_ascii (its default). */
function pythonJsonString(text: string): string {
  if (PLAIN_JSON.test(text)) return `"${text}"`;
  let out = '"';
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    const short = SHORT_ESCAPES[unit];
    if (short !== undefined) out += short;
    else if (unit >= 0x20 && unit <= 0x7e) out += text[index];
    else out += '\\u' + unit.toString(16).padStart(4, '0');
  }
  return out + '"';
}

/** Runs `work` over `items`, at most `limit` at a time; the first failure is thrown once all settle. */
export async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

export class Hasher {
  /** Files actually read (stat-cache hits read none): what the tests and the benchmark count. */
  filesRead = 0;
  private persisted: Map<string, StatEntry> | undefined;
  /** New or changed entries that are safe to persist (see `trusted`), written by flush(). */
  private readonly fresh = new Map<string, StatEntry>();
  /**
   * Entries of files modified moments before they were read. They serve this Hasher (one command)
   * but are never persisted: a later write in the same clock tick, keeping the size, would leave
   * size, mtime and inode unchanged, so a later command reads such a file again (as git does).
   */
  private readonly volatile = new Map<string, StatEntry>();

  constructor(private readonly store: Store | null) {}

  /** The md5 and size of a file, reusing the stat cache when size, mtime and inode are unchanged. */
  async hashFile(absPath: string): Promise<{ md5: string; size: number }> {
    const file = path.resolve(absPath);
    return this.hashStatted(file, await fs.promises.stat(file, { bigint: true }));
  }

  /** The hash of a file or directory (DVC's `.dir` digest); null when nothing is there. */
  async hashPath(absPath: string, algorithm: HashAlgorithm = 'md5'): Promise<OutHash | null> {
    const target = path.resolve(absPath);
    const stat = await statOrNull(target);
    if (!stat) return null;
    if (stat.isDirectory()) {
      const entries = await this.dirEntries(target, algorithm);
      const size = entries.reduce((total, entry) => total + entry.size, 0);
      return { md5: dirMd5(entries), size, nfiles: entries.length, isDir: true };
    }
    if (algorithm === 'md5-dos2unix') {
      this.filesRead++;
      return { md5: await legacyMd5File(target), size: Number(stat.size), isDir: false };
    }
    const { md5, size } = await this.hashStatted(target, stat);
    return { md5, size, isDir: false };
  }

  /** Every file under a directory with its md5 and size, sorted by relpath as DVC sorts them. */
  async dirEntries(absPath: string, algorithm: HashAlgorithm = 'md5'): Promise<DirEntry[]> {
    const root = path.resolve(absPath);
    const files = await listFiles(root);
    const entries: DirEntry[] = [];
    const toRead: ListedFile[] = [];
    // Stat-cache hits are answered on the spot; only the misses pay for a promise and a read.
    for (const file of files) {
      const hit = algorithm === 'md5' ? this.cached(path.join(root, file.relpath), file.stat) : undefined;
      if (hit) entries.push({ relpath: file.relpath, md5: hit, size: Number(file.stat.size) });
      else toRead.push(file);
    }
    await inParallel(toRead, PARALLEL_FILES, async (file) => {
      const full = path.join(root, file.relpath);
      if (algorithm === 'md5-dos2unix') {
        this.filesRead++;
        entries.push({ relpath: file.relpath, md5: await legacyMd5File(full), size: Number(file.stat.size) });
      } else {
        entries.push({ relpath: file.relpath, ...(await this.hashStatted(full, file.stat)) });
      }
    });
    return sortByRelpath(entries);
  }

  /** Writes the new and changed stat entries to the store in one transaction; no-op without a store. */
  flush(): void {
    if (!this.store || this.fresh.size === 0) return;
    this.store.saveStats(this.fresh);
    for (const [file, entry] of this.fresh) this.persisted?.set(file, entry);
    this.fresh.clear();
  }

  private known(file: string): StatEntry | undefined {
    this.persisted ??= this.store ? this.store.statCache() : new Map();
    return this.fresh.get(file) ?? this.volatile.get(file) ?? this.persisted.get(file);
  }

  /** The remembered md5 of a file whose size, mtime and inode are those of `stat`. */
  private cached(file: string, stat: BigIntStats): string | undefined {
    const known = this.known(file);
    const same =
      known !== undefined &&
      known.size === Number(stat.size) &&
      known.mtimeNs === stat.mtimeNs.toString() &&
      known.inode === stat.ino.toString();
    return same ? known.md5 : undefined;
  }

  private async hashStatted(file: string, stat: BigIntStats): Promise<{ md5: string; size: number }> {
    const size = Number(stat.size);
    const hit = this.cached(file, stat);
    if (hit) return { md5: hit, size };
    const key = { size, mtimeNs: stat.mtimeNs.toString(), inode: stat.ino.toString() };
    const readStartedNs = BigInt(Date.now()) * 1_000_000n;
    this.filesRead++;
    const md5 = size <= SMALL_FILE ? await md5SmallFile(file) : await md5File(file);
    const after = await statOrNull(file);
    // A file that changed while it was read has no single hash worth remembering.
    const unchanged =
      after !== null && after.size === stat.size && after.mtimeNs === stat.mtimeNs && after.ino === stat.ino;
    if (unchanged) {
      const entry = { ...key, md5 };
      if (trusted(stat.mtimeNs, readStartedNs)) {
        this.fresh.set(file, entry);
        this.volatile.delete(file);
      } else {
        this.volatile.set(file, entry);
        this.fresh.delete(file);
      }
    }
    return { md5, size };
  }
}

/**
 * Whether a stat entry can be trusted by later commands: the file's mtime must be older than the
 * read by more than the file system's timestamp granularity, otherwise a write right after the read
 * could keep the same mtime. File systems with whole-second times (mtime without nanoseconds) get
 * two seconds (FAT's granularity); the others a tenth of a second, well above a kernel clock tick.
 */
function trusted(mtimeNs: bigint, readStartedNs: bigint): boolean {
  const margin = mtimeNs % 1_000_000_000n === 0n ? 2_000_000_000n : 100_000_000n;
  return mtimeNs < readStartedNs - margin;
}

async function md5SmallFile(file: string): Promise<string> {
  return createHash('md5')
    .update(await fs.promises.readFile(file))
    .digest('hex');
}

async function statOrNull(file: string): Promise<BigIntStats | null> {
  try {
    return await fs.promises.stat(file, { bigint: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw error;
  }
}

interface ListedFile {
  relpath: string;
  stat: BigIntStats;
}

/**
 * The regular files under `root` (symlinks followed), with '/'-separated relpaths. A symlink back to
 * one of its own ancestors is not entered (it would loop); broken symlinks and special files
 * (sockets, FIFOs, devices) have no content to hash and are left out. Empty folders add nothing,
 * as in DVC.
 */
async function listFiles(root: string): Promise<ListedFile[]> {
  const files: ListedFile[] = [];
  let sinceYield = 0;
  const walk = async (dir: string, prefix: string, ancestors: ReadonlySet<string>): Promise<void> => {
    const names = await fs.promises.readdir(dir);
    const subdirs: [string, string, Set<string>][] = [];
    for (const name of names) {
      // Synchronous stats are several times faster than a thread-pool round trip each; yielding
      // every few hundred keeps the event loop (a language server's) responsive.
      if (++sinceYield === STATS_PER_TURN) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
      const full = path.join(dir, name);
      const stat = statSyncOrNull(full);
      if (!stat) continue;
      const relpath = prefix + name;
      if (stat.isFile()) {
        files.push({ relpath, stat });
      } else if (stat.isDirectory()) {
        const identity = `${stat.dev}:${stat.ino}`;
        if (!ancestors.has(identity)) subdirs.push([full, relpath + '/', new Set([...ancestors, identity])]);
      }
    }
    for (const [full, relpath, chain] of subdirs) await walk(full, relpath, chain);
  };
  const rootStat = await fs.promises.stat(root, { bigint: true });
  await walk(root, '', new Set([`${rootStat.dev}:${rootStat.ino}`]));
  return files;
}

function statSyncOrNull(file: string): BigIntStats | null {
  try {
    return fs.statSync(file, { bigint: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return null;
    throw error;
  }
}

/**
 * Reads a file in chunks, handing each to `consume` (which must use it before returning: the
 * buffers are reused). The next read is already in flight while a chunk is consumed.
 */
async function readChunks(file: string, consume: (chunk: Buffer) => void): Promise<number> {
  const handle = await fs.promises.open(file, 'r');
  const buffers = [Buffer.allocUnsafe(READ_CHUNK), Buffer.allocUnsafe(READ_CHUNK)] as const;
  let total = 0;
  let turn = 0;
  let pending: Promise<number> = readFull(handle, buffers[0]);
  try {
    for (;;) {
      const bytes = await pending;
      if (bytes === 0) break;
      const current = turn === 0 ? buffers[0] : buffers[1];
      turn ^= 1;
      // A short read means the end of the file: no need to ask again.
      pending = bytes < READ_CHUNK ? Promise.resolve(0) : readFull(handle, turn === 0 ? buffers[0] : buffers[1]);
      total += bytes;
      consume(current.subarray(0, bytes));
    }
  } finally {
    await pending.catch(() => 0);
    await handle.close();
  }
  return total;
}

/** Fills `buffer` unless the file ends first; returns the bytes read. */
async function readFull(handle: fs.promises.FileHandle, buffer: Buffer): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, null);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** DVC 2 hashed in 1 MiB chunks and converted CRLF within each chunk, so a pair split by a chunk edge stays. */
const LEGACY_CHUNK = 1024 * 1024;
/** DVC's text test looks at the first 512 bytes of the first chunk. */
const TEXT_SNIFF = 512;

/** md5 with DVC 2's dos2unix rule, fed with buffers of any size. */
class Dos2UnixDigest {
  private readonly hash = createHash('md5');
  private readonly chunk = Buffer.allocUnsafe(LEGACY_CHUNK);
  private filled = 0;
  private isText: boolean | undefined;

  update(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      const copied = data.copy(this.chunk, this.filled, offset);
      this.filled += copied;
      offset += copied;
      if (this.filled === LEGACY_CHUNK) this.flushChunk();
    }
  }

  hex(): string {
    if (this.filled > 0) this.flushChunk();
    return this.hash.digest('hex');
  }

  private flushChunk(): void {
    const data = this.chunk.subarray(0, this.filled);
    this.isText ??= isTextBlock(data.subarray(0, TEXT_SNIFF));
    this.hash.update(this.isText ? dos2unix(data) : data);
    this.filled = 0;
  }
}

/** DVC's heuristic (after Perl's -T): no NUL byte, and at most 30% of bytes outside printable ASCII and \n\r\t\f\b. */
export function isTextBlock(block: Uint8Array): boolean {
  if (block.length === 0) return true;
  let nonText = 0;
  for (const byte of block) {
    if (byte === 0) return false;
    const text = (byte >= 32 && byte <= 126) || byte === 10 || byte === 13 || byte === 9 || byte === 12 || byte === 8;
    if (!text) nonText++;
  }
  return nonText / block.length <= 0.3;
}

/** Python's `bytes.replace(b"\r\n", b"\n")`. */
function dos2unix(data: Buffer): Buffer {
  if (data.indexOf('\r\n') === -1) return data;
  const out = Buffer.allocUnsafe(data.length);
  let written = 0;
  for (let index = 0; index < data.length; index++) {
    const byte = data[index] as number;
    if (byte === 13 && data[index + 1] === 10) continue;
    out[written++] = byte;
  }
  return out.subarray(0, written);
}
