// The workspace as the checks see it: open documents (their latest text), files on disk, and
// caches that edits and file events invalidate. File access is injected so the core can be tested
// on a directory it makes, and so the CLI and the server share one implementation.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nodeValue, parseSpec, parseWhole } from './parse';
import type { ParsedDocument } from './parse';
import { specKindOf } from './schemas';
import type { SpecKind } from './schemas';

/** The file system operations the core needs. */
export interface FileSystem {
  readFile(absolutePath: string): string | null;
  exists(absolutePath: string): boolean;
  /** Files under `root` whose names make them Cairn specs, skipping ignored folders. */
  findSpecFiles(root: string, limit: number): string[];
}

const IGNORED_FOLDERS = new Set([
  'node_modules',
  '.git',
  '.dvc',
  '.cairn',
  '.venv',
  'venv',
  '__pycache__',
  '.mypy_cache',
  '.pytest_cache',
  'dist',
  '.e2e',
  '.vscode-test',
]);

/** The real file system. */
export const nodeFileSystem: FileSystem = {
  readFile(absolutePath) {
    try {
      return fs.readFileSync(absolutePath, 'utf8');
    } catch {
      return null;
    }
  },
  exists(absolutePath) {
    return fs.existsSync(absolutePath);
  },
  findSpecFiles(root, limit) {
    const found: string[] = [];
    const pending = [root];
    while (pending.length > 0 && found.length < limit) {
      const folder = pending.pop() as string;
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(folder, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const entry of entries) {
        if (entry.isDirectory()) {
          if (!IGNORED_FOLDERS.has(entry.name)) pending.push(path.join(folder, entry.name));
        } else if (entry.isFile() && specKindOf(entry.name) !== null && specKindOf(entry.name) !== 'params') {
          found.push(path.join(folder, entry.name));
        }
      }
    }
    return found.sort();
  },
};

/** A parsed data file (params.yaml, a vars file, a metrics file): its value and its nodes. */
export interface DataFile {
  value: unknown;
  parsed: ParsedDocument | null;
}

/** Open documents, files on disk and what has been parsed from them. */
export class Workspace {
  private readonly open = new Map<string, { text: string; version: number }>();
  private readonly parsed = new Map<string, ParsedDocument>();
  private readonly data = new Map<string, DataFile | null>();
  private readonly existence = new Map<string, boolean>();
  private specFiles: Set<string> | null = null;
  /** Bumped whenever a data file (params, vars) changes; analyses cached against it. */
  dataGeneration = 0;
  /** Bumped whenever any pipeline file changes; cross-file checks cached against it. */
  pipelineGeneration = 0;

  constructor(
    readonly root: string,
    readonly fileSystem: FileSystem = nodeFileSystem,
    private readonly specFileLimit = 5000,
  ) {}

  /** Records the latest text of an open document. */
  setOpen(absolutePath: string, text: string, version: number): void {
    const previous = this.open.get(absolutePath);
    this.open.set(absolutePath, { text, version });
    if (previous?.text !== text) this.changed(absolutePath);
  }

  /** Forgets an open document; the file on disk is read again when needed. */
  close(absolutePath: string): void {
    this.open.delete(absolutePath);
    this.changed(absolutePath);
  }

  isOpen(absolutePath: string): boolean {
    return this.open.has(absolutePath);
  }

  openPaths(): string[] {
    return [...this.open.keys()];
  }

  /** The text of a file: the open document if there is one, else the file on disk. */
  text(absolutePath: string): string | null {
    return this.open.get(absolutePath)?.text ?? this.fileSystem.readFile(absolutePath);
  }

  /** The parse of a spec file, reusing unchanged segments of the previous parse. */
  parse(absolutePath: string): ParsedDocument | null {
    const text = this.text(absolutePath);
    if (text === null) return null;
    const previous = this.parsed.get(absolutePath);
    if (previous && previous.text === text) return previous;
    const result = parseSpec(text, previous);
    this.parsed.set(absolutePath, result);
    return result;
  }

  /** A data file (YAML or JSON) as a value, or null if it is missing or not readable. */
  dataFile(absolutePath: string): DataFile | null {
    if (this.data.has(absolutePath)) return this.data.get(absolutePath) ?? null;
    const text = this.text(absolutePath);
    let result: DataFile | null = null;
    if (text !== null) {
      if (absolutePath.endsWith('.json')) {
        try {
          result = { value: JSON.parse(text) as unknown, parsed: null };
        } catch {
          result = null;
        }
      } else if (/\.ya?ml$/.test(absolutePath)) {
        // Data files are read whole: one parse is faster than many segments for a file that is
        // read once per change, and values are all that is needed (plus key nodes for navigation).
        const parsed = parseWhole(text);
        result = { value: nodeValue(parsed.root, parsed.document), parsed };
      }
    }
    this.data.set(absolutePath, result);
    return result;
  }

  /** Whether a file or folder exists, open documents included. */
  exists(absolutePath: string): boolean {
    if (this.open.has(absolutePath)) return true;
    let known = this.existence.get(absolutePath);
    if (known === undefined) {
      known = this.fileSystem.exists(absolutePath);
      this.existence.set(absolutePath, known);
    }
    return known;
  }

  /** Every pipeline, experiment and deployment spec in the workspace, open ones included. */
  specs(kind?: SpecKind): string[] {
    if (!this.specFiles) this.specFiles = new Set(this.fileSystem.findSpecFiles(this.root, this.specFileLimit));
    const all = new Set([
      ...this.specFiles,
      ...[...this.open.keys()].filter((file) => specKindOf(file) !== null && specKindOf(file) !== 'params'),
    ]);
    return [...all].filter((file) => !kind || specKindOf(file) === kind).sort();
  }

  /** Tells the workspace that a file changed on disk or in an editor. */
  changed(absolutePath: string): void {
    if (!this.open.has(absolutePath)) this.parsed.delete(absolutePath);
    if (this.data.delete(absolutePath)) this.dataGeneration++;
    const kind = specKindOf(absolutePath);
    if (kind === 'params' || !kind) this.dataGeneration++;
    if (kind === 'pipeline') this.pipelineGeneration++;
  }

  /** Tells the workspace that files were created or deleted. */
  createdOrDeleted(absolutePath: string): void {
    this.existence.clear();
    this.specFiles = null;
    this.changed(absolutePath);
  }

  /** The workspace-relative POSIX path of an absolute path ('../x' when outside). */
  relative(absolutePath: string): string {
    return path.relative(this.root, absolutePath).split(path.sep).join('/');
  }

  /** The absolute path of a workspace-relative POSIX path. */
  absolute(relativePath: string): string {
    return path.resolve(this.root, ...relativePath.split('/'));
  }
}

/** Whether a workspace-relative path leaves the workspace. */
export function escapesWorkspace(relativePath: string): boolean {
  return relativePath === '..' || relativePath.startsWith('../') || path.posix.isAbsolute(relativePath);
}

/** Joins and normalizes POSIX path parts ('a/b', '../c' → 'a/c'). */
export function joinPath(...parts: string[]): string {
  // The common case, a plain relative path joined to the workspace root, needs no normalizing.
  if (parts.length === 2 && parts[0] === '.') {
    const only = parts[1] as string;
    if (only !== '' && !only.startsWith('/') && !/(^|\/)\.\.?(\/|$)|\/\/|\\/.test(only))
      return only.endsWith('/') ? only.slice(0, -1) : only;
  }
  const joined = path.posix.normalize(path.posix.join(...parts));
  return joined === '' ? '.' : joined.replace(/\/$/, '');
}
