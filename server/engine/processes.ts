// Stage commands as real child processes: each in its own process group, so stopping a stage stops
// everything it started (a shell, its python, that python's workers). Output goes line by line to the
// stage's log file and to a listener.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { WriteStream } from 'node:fs';

export interface CommandResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

export interface CommandOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  log: WriteStream;
  onLine: (stream: 'stdout' | 'stderr', line: string) => void;
  signal: AbortSignal;
}

/** How long a stopped stage gets between SIGTERM and SIGKILL. */
const GRACE_MS = 3000;

/** Runs one command with /bin/sh in its own process group; an abort stops the whole group. */
export function runCommand(command: string, options: CommandOptions): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    if (options.signal.aborted) {
      resolve({ exitCode: null, signal: 'SIGTERM' });
      return;
    }
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let killTimer: NodeJS.Timeout | null = null;
    const stopGroup = (): void => {
      if (child.pid === undefined) return;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child.pid ?? 0, 'SIGKILL'), GRACE_MS);
      killTimer.unref();
    };
    options.signal.addEventListener('abort', stopGroup, { once: true });
    for (const name of ['stdout', 'stderr'] as const) {
      let pending = '';
      child[name].setEncoding('utf8');
      child[name].on('data', (chunk: string) => {
        options.log.write(chunk);
        pending += chunk;
        let newline = pending.indexOf('\n');
        while (newline !== -1) {
          options.onLine(name, pending.slice(0, newline).replace(/\r$/, ''));
          pending = pending.slice(newline + 1);
          newline = pending.indexOf('\n');
        }
      });
      child[name].on('end', () => {
        if (pending !== '') options.onLine(name, pending);
        pending = '';
      });
    }
    child.on('error', (error) => {
      options.signal.removeEventListener('abort', stopGroup);
      reject(error);
    });
    child.on('close', (exitCode, signal) => {
      options.signal.removeEventListener('abort', stopGroup);
      if (killTimer) clearTimeout(killTimer);
      // Whatever the shell left behind in its group goes with it.
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      resolve({ exitCode, signal });
    });
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Whether a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let bootId: string | null | undefined;

/**
 * The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses, so
 * they are counted after its last ')'): state is [0], utime [11], stime [12], the start time [19].
 * Null where there is no /proc or the process is gone.
 */
export function procStat(pid: number): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/**
 * What tells a process apart from a later one given the same pid: the boot it ran in and its start
 * time (in clock ticks since that boot), from /proc. Null where there is no /proc (macOS, Windows)
 * or the process is gone.
 */
export function processIdentity(pid: number): string | null {
  try {
    bootId ??= fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
  const startTime = procStat(pid)?.[19];
  return startTime ? `${bootId}/${startTime}` : null;
}

/**
 * Whether the process recorded as `pid` with `identity` (processIdentity when it was recorded) is
 * still running: the pid is alive and, where identities can be read, is still the same process.
 */
export function isSameProcess(pid: number | null, identity: string | null | undefined): boolean {
  if (pid === null || pid <= 0 || !isAlive(pid)) return false;
  if (!identity) return true;
  const now = processIdentity(pid);
  return now === null || now === identity;
}
