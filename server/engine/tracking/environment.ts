// What a tracked run records about where it ran: the git state of the workspace (commit, branch,
// dirty, a hash of the diff) and the environment (Node and Python versions, OS, lock-file hashes).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface GitState {
  commit: string | null;
  branch: string | null;
  dirty: boolean | null;
  /** sha256 of `git diff HEAD` when the tree is dirty, so two dirty runs can be told apart. */
  diffHash: string | null;
}

export interface RunEnvironment {
  node: string;
  python: string | null;
  os: { platform: string; release: string; arch: string };
  /** Lock file (relative to the workspace) to its sha256. */
  lockFiles: Record<string, string>;
}

export interface RunSource {
  git: GitState;
  environment: RunEnvironment;
}

function command(file: string, args: string[], cwd: string): string | null {
  try {
    return execFileSync(file, args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 5000,
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch {
    return null;
  }
}

/** The git state of the workspace at `root`; all null outside a repository. */
export function gitState(root: string): GitState {
  const commit = command('git', ['rev-parse', 'HEAD'], root)?.trim() ?? null;
  if (commit === null) return { commit: null, branch: null, dirty: null, diffHash: null };
  const branch = command('git', ['rev-parse', '--abbrev-ref', 'HEAD'], root)?.trim() ?? null;
  const status = command('git', ['status', '--porcelain', '--untracked-files=no'], root);
  const dirty = status === null ? null : status.trim() !== '';
  const diff = dirty ? command('git', ['diff', 'HEAD'], root) : null;
  return {
    commit,
    branch: branch === 'HEAD' ? null : branch,
    dirty,
    diffHash: diff === null ? null : createHash('sha256').update(diff).digest('hex'),
  };
}

function isLockFile(name: string): boolean {
  return name === 'package-lock.json' || name === 'poetry.lock' || /^requirements.*\.txt$/.test(name);
}

/** The environment of this process for a run in the workspace at `root`. */
export function runEnvironment(root: string): RunEnvironment {
  // `python3 --version` prints to stdout since 3.4; older ones print to stderr and count as absent.
  const python =
    command('python3', ['--version'], root)
      ?.trim()
      .replace(/^Python\s+/, '') || null;
  const lockFiles: Record<string, string> = {};
  let names: string[];
  try {
    names = fs.readdirSync(root).filter(isLockFile).sort();
  } catch {
    names = [];
  }
  for (const name of names) {
    try {
      lockFiles[name] = createHash('sha256')
        .update(fs.readFileSync(path.join(root, name)))
        .digest('hex');
    } catch {
      // A lock file removed between the listing and the read is simply not recorded.
    }
  }
  return {
    node: process.version,
    python,
    os: { platform: os.platform(), release: os.release(), arch: os.arch() },
    lockFiles,
  };
}

/** Git state and environment together, as `Tracker.startRun` records them. */
export function runSource(root: string): RunSource {
  return { git: gitState(root), environment: runEnvironment(root) };
}
