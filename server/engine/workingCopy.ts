// Working copies: a private copy of the workspace in which a sweep trial or a reproduction runs, so
// that its params, outputs and run state never collide with the workspace's or another trial's.
// The copy lives under the workspace's .cairn folder (so Node and Python find the workspace's
// packages by walking up, and spec discovery skips it); everything but .cairn and .git is copied,
// with copy-on-write clones where the file system has them; installed-package folders are linked,
// not copied; and the copy's content and run caches are the workspace's own, so unchanged upstream
// stages are restored from the cache instead of being run again.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Document, parseDocument } from 'yaml';
import { stateDir } from './store';

/** Folders a working copy never gets: Cairn's state and version control. */
const SKIPPED = new Set(['.cairn', '.git', '.dvc', '__pycache__']);
/** Folders of installed packages: linked into the copy, never copied. */
const LINKED = new Set(['node_modules', '.venv', 'venv']);

/** The folder where the working copies of a sweep (or other owner) are made. */
export function workingCopiesDir(root: string, owner: string): string {
  return path.join(stateDir(root), 'worktrees', owner);
}

/**
 * Copies the workspace at `root` into `dir` (which must lie inside root's .cairn folder, and is
 * emptied first) and returns dir. The copy shares root's content and run caches.
 */
export function createWorkingCopy(root: string, dir: string): string {
  const state = stateDir(root);
  const relative = path.relative(state, dir);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new Error(`A working copy must be made inside ${state}, not at ${dir}.`);
  }
  removeWorkingCopy(dir);
  fs.mkdirSync(dir, { recursive: true });
  copyFolder(root, dir, root);
  const sharedCache = path.join(state, 'cache');
  fs.mkdirSync(sharedCache, { recursive: true });
  fs.mkdirSync(path.join(dir, '.cairn'), { recursive: true });
  fs.symlinkSync(sharedCache, path.join(dir, '.cairn', 'cache'), 'dir');
  return dir;
}

function copyFolder(from: string, to: string, root: string): void {
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isDirectory()) {
      if (SKIPPED.has(entry.name)) continue;
      if (LINKED.has(entry.name)) {
        fs.symlinkSync(source, target, 'dir');
        continue;
      }
      fs.mkdirSync(target);
      copyFolder(source, target, root);
    } else if (entry.isSymbolicLink()) {
      // A relative link to something outside the workspace would dangle from the copy's deeper
      // place: it points at the same thing by its absolute path instead.
      const link = fs.readlinkSync(source);
      const resolved = path.resolve(path.dirname(source), link);
      const outside = path.relative(root, resolved).startsWith('..');
      fs.symlinkSync(!path.isAbsolute(link) && outside ? resolved : link, target);
    } else if (entry.isFile()) {
      fs.copyFileSync(source, target, fs.constants.COPYFILE_FICLONE);
      // Keep modification times, so the stat cache and tools that look at them see the same files.
      const stat = fs.statSync(source);
      fs.utimesSync(target, stat.atime, stat.mtime);
    }
    // Sockets, FIFOs and devices are not workspace content.
  }
}

/** Removes a working copy; the shared cache it links to is left alone. */
export function removeWorkingCopy(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

export type ParamSetting = string | number | boolean;

/**
 * Writes params into a working copy: `train.lr` sets key `lr` of mapping `train` in params.yaml,
 * `config/model.yaml:depth` sets `depth` in that file. Comments and the order of keys are kept; a
 * missing file or mapping is created.
 */
export function applyParams(copyRoot: string, values: Record<string, ParamSetting>): void {
  const byFile = new Map<string, [string[], ParamSetting][]>();
  for (const [key, value] of Object.entries(values)) {
    const colon = key.lastIndexOf(':');
    const file = colon > 0 ? key.slice(0, colon) : 'params.yaml';
    const dotted = colon > 0 ? key.slice(colon + 1) : key;
    const target = path.resolve(copyRoot, file);
    const relative = path.relative(copyRoot, target);
    if (relative.startsWith('..') || path.isAbsolute(relative)) {
      throw new Error(`The param '${key}' names a file outside the workspace.`);
    }
    // Never write through a link that leads out of the copy (into the workspace or elsewhere).
    if (fs.existsSync(target) && path.relative(fs.realpathSync(copyRoot), fs.realpathSync(target)).startsWith('..')) {
      throw new Error(`The params file of '${key}' is a link to a file outside the working copy; it is not changed.`);
    }
    const list = byFile.get(target) ?? [];
    list.push([dotted.split('.'), value]);
    byFile.set(target, list);
  }
  for (const [file, settings] of byFile) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const document: Document = text.trim() === '' ? new Document({}) : parseDocument(text);
    if (document.errors.length > 0) {
      throw new Error(`${file}: cannot set params, the file is not valid YAML (${document.errors[0]?.message ?? ''}).`);
    }
    for (const [keys, value] of settings) document.setIn(keys, value);
    fs.writeFileSync(file, document.toString());
  }
}
