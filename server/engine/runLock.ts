// One run at a time per workspace: `.cairn/run.lock` holds the pid of the run that owns the
// workspace. A second run waits for it or refuses; a lock left by a process that died (kill -9) is
// taken over.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isAlive } from './processes';
import { stateDir } from './store';

export interface RunLockOwner {
  pid: number;
  runId: string;
  startedAt: number;
}

export class RunLockBusy extends Error {
  constructor(readonly owner: RunLockOwner) {
    super(
      `Another cairn run (pid ${owner.pid}, run ${owner.runId}, started ${new Date(owner.startedAt).toISOString()}) is using this workspace. Wait for it (cairn run --wait) or stop it.`,
    );
  }
}

export function runLockPath(root: string): string {
  return path.join(stateDir(root), 'run.lock');
}

/** Takes the workspace's run lock; with `waitMs` > 0 waits that long for the owner to finish. */
export async function acquireRunLock(root: string, runId: string, waitMs = 0): Promise<() => void> {
  const file = runLockPath(root);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const me: RunLockOwner = { pid: process.pid, runId, startedAt: Date.now() };
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      fs.writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
      return () => release(file, runId);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = readOwner(file);
    if (owner && isAlive(owner.pid) && owner.pid !== process.pid) {
      if (Date.now() >= deadline) throw new RunLockBusy(owner);
      await new Promise((resolve) => setTimeout(resolve, 200));
      continue;
    }
    // The owner died without releasing: take the lock over (the next `wx` decides between rivals).
    try {
      fs.unlinkSync(file);
    } catch {
      // A rival took it over first.
    }
  }
}

function readOwner(file: string): RunLockOwner | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as RunLockOwner;
  } catch {
    return null;
  }
}

function release(file: string, runId: string): void {
  if (readOwner(file)?.runId === runId) fs.rmSync(file, { force: true });
}
