// The code version a run used: the git commit of the workspace and whether the tree was dirty.
import { execFileSync } from 'node:child_process';

export interface CodeVersion {
  commit: string | null;
  dirty: boolean | null;
}

export function codeVersion(root: string): CodeVersion {
  const git = (args: string[]): string | null => {
    try {
      return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  const commit = git(['rev-parse', 'HEAD']);
  if (commit === null) return { commit: null, dirty: null };
  const status = git(['status', '--porcelain', '--untracked-files=no']);
  return { commit, dirty: status === null ? null : status !== '' };
}
