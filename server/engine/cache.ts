// The content-addressed cache, laid out as DVC 3 lays out `.dvc/cache`:
// `<root>/.cairn/cache/files/md5/<first 2 hex>/<other 30>`. A directory is stored as its files'
// objects plus a manifest under its `.dir` md5: the JSON list [{relpath, md5, size}], sorted by
// relpath. (Unlike DVC's `.dir` objects the manifest carries sizes, so its bytes do not hash to its
// name; the name is the DVC digest of its entries.) Objects are read-only and written atomically,
// so a crash leaves either a whole object or none.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dirMd5, inParallel, sortByRelpath } from './hash';
import type { DirEntry, Hasher, OutHash } from './hash';
import { stateDir } from './store';

/** Copies run this many at a time: enough to overlap I/O without a flood of open files. */
const PARALLEL_COPIES = 8;
/** Temp files this old are leftovers of a crash, not a save in progress: gc removes them. */
const STALE_TEMP_MS = 60 * 60 * 1000;
const OBJECT_NAME = /^[0-9a-f]{32}(\.dir)?$/;
const TEMP_SUFFIX = '.tmp';

export class ContentCache {
  /** The `files/md5` folder that holds the objects. */
  readonly objectsDir: string;

  constructor(workspaceRoot: string) {
    this.objectsDir = path.join(stateDir(workspaceRoot), 'cache', 'files', 'md5');
  }

  /** Where the object of an md5 (or `.dir` md5) lives; null for a string that is not one (from a hand-edited lock). */
  objectPath(md5: string): string | null {
    if (!OBJECT_NAME.test(md5)) return null;
    return path.join(this.objectsDir, md5.slice(0, 2), md5.slice(2));
  }

  /**
   * Copies a file or directory into the cache under `hash` (idempotent: present objects are kept).
   * Throws when the content no longer matches `hash`: it changed after it was hashed.
   */
  async save(absPath: string, hash: OutHash, hasher: Hasher): Promise<void> {
    if (!hash.isDir) {
      await this.saveFile(absPath, hash.md5, hasher);
      return;
    }
    const manifest = this.requireObjectPath(hash.md5);
    const entries = await hasher.dirEntries(absPath);
    if (dirMd5(entries) !== hash.md5) throw changedWhileSaving(absPath);
    await inParallel(entries, PARALLEL_COPIES, (entry) =>
      this.saveFile(path.join(absPath, ...entry.relpath.split('/')), entry.md5, hasher),
    );
    // The manifest goes last: its presence promises the entries are there.
    if (!fs.existsSync(manifest))
      await writeObject(manifest, (temp) => fs.promises.writeFile(temp, manifestText(entries)));
  }

  /** Whether every object of `hash` is present (for a directory: its manifest and every entry). */
  has(hash: OutHash): boolean {
    const object = this.objectPath(hash.md5);
    if (!object || !fs.existsSync(object)) return false;
    if (!hash.isDir) return true;
    const entries = this.manifest(hash.md5);
    return (
      entries !== null &&
      entries.every((entry) => {
        const entryObject = this.objectPath(entry.md5);
        return entryObject !== null && fs.existsSync(entryObject);
      })
    );
  }

  /**
   * Puts the cached content of `hash` at `absPath`, replacing whatever is there. A file is copied
   * to a temp sibling and renamed over; a directory is built in a temp sibling and swapped in.
   * Returns false (and touches nothing) when objects are missing.
   */
  async restore(absPath: string, hash: OutHash): Promise<boolean> {
    if (!this.has(hash)) return false;
    const target = path.resolve(absPath);
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
    const temp = tempSibling(target);
    try {
      if (hash.isDir) {
        await fs.promises.mkdir(temp);
        const entries = this.manifest(hash.md5) ?? [];
        await inParallel(entries, PARALLEL_COPIES, (entry) =>
          this.copyOut(entry.md5, path.join(temp, ...entry.relpath.split('/'))),
        );
      } else {
        await this.copyOut(hash.md5, temp);
      }
      await swapIn(temp, target);
    } catch (error) {
      await fs.promises.rm(temp, { recursive: true, force: true });
      throw error;
    }
    return true;
  }

  /** Removes every object not kept (a kept `.dir` keeps its entries) and leftover temp files. */
  gc(keepMd5s: Iterable<string>): { removedObjects: number; freedBytes: number } {
    const keep = new Set<string>();
    for (const md5 of keepMd5s) {
      keep.add(md5);
      if (md5.endsWith('.dir')) for (const entry of this.manifest(md5) ?? []) keep.add(entry.md5);
    }
    let removedObjects = 0;
    let freedBytes = 0;
    for (const prefix of readdirOrEmpty(this.objectsDir)) {
      const folder = path.join(this.objectsDir, prefix);
      if (!fs.lstatSync(folder).isDirectory()) continue;
      for (const name of readdirOrEmpty(folder)) {
        const file = path.join(folder, name);
        const stat = fs.lstatSync(file);
        if (name.endsWith(TEMP_SUFFIX)) {
          if (Date.now() - stat.mtimeMs < STALE_TEMP_MS) continue;
        } else if (keep.has(prefix + name)) {
          continue;
        } else {
          removedObjects++;
        }
        fs.rmSync(file, { recursive: true, force: true });
        freedBytes += stat.size;
      }
      // A save running beside gc may have just put a file there: then the folder stays.
      if (readdirOrEmpty(folder).length === 0) removeEmptyFolder(folder);
    }
    return { removedObjects, freedBytes };
  }

  /** The entries of a cached directory, or null when its manifest is missing or unreadable. */
  manifest(dirMd5Value: string): DirEntry[] | null {
    const object = this.objectPath(dirMd5Value);
    if (!object || !dirMd5Value.endsWith('.dir')) return null;
    try {
      const parsed: unknown = JSON.parse(fs.readFileSync(object, 'utf8'));
      return Array.isArray(parsed) && parsed.every(isDirEntry) ? parsed : null;
    } catch {
      return null;
    }
  }

  private requireObjectPath(md5: string): string {
    const object = this.objectPath(md5);
    if (!object) throw new Error(`'${md5}' is not an md5 hash: the cache cannot store it.`);
    return object;
  }

  private async saveFile(file: string, md5: string, hasher: Hasher): Promise<void> {
    const object = this.requireObjectPath(md5);
    if (fs.existsSync(object)) return;
    const before = await fs.promises.stat(file, { bigint: true });
    // Served by the stat cache when the file is unchanged since it was hashed.
    if ((await hasher.hashFile(file)).md5 !== md5) throw changedWhileSaving(file);
    await writeObject(object, async (temp) => {
      await fs.promises.copyFile(file, temp, fs.constants.COPYFILE_FICLONE);
      const after = await fs.promises.stat(file, { bigint: true });
      if (after.mtimeNs !== before.mtimeNs || after.size !== before.size || after.ino !== before.ino) {
        throw changedWhileSaving(file);
      }
    });
  }

  private async copyOut(md5: string, destination: string): Promise<void> {
    await fs.promises.mkdir(path.dirname(destination), { recursive: true });
    await fs.promises.copyFile(this.requireObjectPath(md5), destination, fs.constants.COPYFILE_FICLONE);
    // Objects are read-only; the workspace copy is the user's to edit.
    await fs.promises.chmod(destination, 0o644);
  }
}

function manifestText(entries: readonly DirEntry[]): string {
  const sorted = sortByRelpath([...entries]);
  return JSON.stringify(sorted.map((entry) => ({ relpath: entry.relpath, md5: entry.md5, size: entry.size })));
}

function isDirEntry(value: unknown): value is DirEntry {
  if (typeof value !== 'object' || value === null) return false;
  const entry = value as Record<string, unknown>;
  return (
    typeof entry['relpath'] === 'string' &&
    isSafeRelpath(entry['relpath']) &&
    typeof entry['md5'] === 'string' &&
    typeof entry['size'] === 'number'
  );
}

/** A relpath that stays inside its directory once restored (no '..', no absolute path). */
function isSafeRelpath(relpath: string): boolean {
  // On Windows a backslash inside a name would be read as a separator.
  const parts = process.platform === 'win32' ? relpath.split(/[/\\]/) : relpath.split('/');
  return parts.every((part) => part !== '' && part !== '.' && part !== '..');
}

function changedWhileSaving(file: string): Error {
  return new Error(
    `${file} changed while it was being saved to the cache: run the stage again once nothing writes to it.`,
  );
}

/** Writes an object through a temp file in its folder, made read-only, then renamed into place. */
async function writeObject(object: string, write: (temp: string) => Promise<void>): Promise<void> {
  await fs.promises.mkdir(path.dirname(object), { recursive: true });
  const temp = `${object}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`;
  try {
    await write(temp);
    await fs.promises.chmod(temp, 0o444);
    await fs.promises.rename(temp, object);
  } catch (error) {
    await fs.promises.rm(temp, { force: true });
    throw error;
  }
}

function tempSibling(target: string): string {
  return path.join(
    path.dirname(target),
    `.${path.basename(target)}.cairn-${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`,
  );
}

/**
 * Moves `temp` to `target`. Over a file, rename replaces it atomically. Over a directory (or with a
 * directory to put in place) the old content is first moved aside, then removed once the new one is
 * in; if the swap fails the old content is put back.
 */
async function swapIn(temp: string, target: string): Promise<void> {
  const existing = await fs.promises.lstat(target).catch(() => null);
  const incomingIsDir = (await fs.promises.lstat(temp)).isDirectory();
  if (!existing || (!existing.isDirectory() && !incomingIsDir)) {
    await fs.promises.rename(temp, target);
    return;
  }
  const aside = tempSibling(target);
  await fs.promises.rename(target, aside);
  try {
    await fs.promises.rename(temp, target);
  } catch (error) {
    await fs.promises.rename(aside, target);
    throw error;
  }
  await fs.promises.rm(aside, { recursive: true, force: true });
}

function readdirOrEmpty(folder: string): string[] {
  try {
    return fs.readdirSync(folder);
  } catch {
    return [];
  }
}

function removeEmptyFolder(folder: string): void {
  try {
    fs.rmdirSync(folder);
  } catch {
    // Not empty any more (a save put an object there meanwhile): it stays.
  }
}
