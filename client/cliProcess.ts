// One `cairn` CLI process whose exit code matters as much as its output: `models register --json`
// prints the gate report and exits 1 when the gate refuses, and `exp run --json` streams JSON Lines
// until it exits 0, 1, 2 or 130. (Read-only commands use `cairnJson` in runs.ts, which rejects on
// any non-zero exit.) Node only: the caller passes the Node.js executable and the CLI's path.
import { spawn } from 'node:child_process';
import * as readline from 'node:readline';

export interface CliRequest {
  /** The Node.js executable (`cairn.nodePath`). */
  nodePath: string;
  /** The bundled `dist/cli/cairn.js`. */
  cliPath: string;
  args: string[];
  cwd: string;
  /** Called with each stdout line as it arrives (the full stdout is also returned). */
  onLine?: (line: string) => void;
  /** Called with each stderr line as it arrives. */
  onErrorLine?: (line: string) => void;
  /** Aborting sends SIGINT (the CLI stops cleanly and exits 130); a second abort is not possible. */
  signal?: AbortSignal;
  /** Its own process group, so a signal meant for the editor does not reach it. */
  detached?: boolean;
}

export interface CliResult {
  /** The exit code; null when the process could not start or was killed by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Why the process could not start (e.g. ENOENT for a wrong `cairn.nodePath`). */
  startError: Error | null;
}

/** Runs the CLI to its end and returns its exit code and output; never rejects. */
export function runCli(request: CliRequest): Promise<CliResult> {
  const env = { ...process.env };
  // Inside the editor, this variable makes Electron behave as Node; the CLI gets a real Node.
  delete env['ELECTRON_RUN_AS_NODE'];
  return new Promise<CliResult>((resolve) => {
    const child = spawn(request.nodePath, [request.cliPath, ...request.args], {
      cwd: request.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: request.detached ?? false,
    });
    const stdout: string[] = [];
    const stderr: string[] = [];
    let startError: Error | null = null;
    const abort = (): void => {
      child.kill('SIGINT');
    };
    request.signal?.addEventListener('abort', abort, { once: true });
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      stdout.push(line);
      request.onLine?.(line);
    });
    readline.createInterface({ input: child.stderr }).on('line', (line) => {
      stderr.push(line);
      request.onErrorLine?.(line);
    });
    child.on('error', (error) => {
      startError = error;
    });
    child.on('close', (code) => {
      request.signal?.removeEventListener('abort', abort);
      resolve({ code, stdout: stdout.join('\n'), stderr: stderr.join('\n'), startError });
    });
  });
}

/** What the user reads when the CLI failed: its own stderr, verbatim, or why it could not start. */
export function failureText(result: CliResult, what: string, nodePath: string): string {
  if (result.startError) {
    return (result.startError as NodeJS.ErrnoException).code === 'ENOENT'
      ? `Cairn could not start Node.js '${nodePath}'. Set cairn.nodePath to a Node.js 20+ executable.`
      : `Cairn could not start its command line with '${nodePath}': ${result.startError.message}`;
  }
  return result.stderr.trim() || `'cairn ${what}' exited with code ${String(result.code)}.`;
}
