// The built CLI as the deployment tests drive it: a workspace's `cairn` (blocking, or not while the
// test sends requests), its deployment status, a free port and polling until something holds.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import type { DeploymentStatus } from '../../server/shared/deployments';

export const cli = path.join(path.resolve(__dirname, '../..'), 'dist/cli/cairn.js');

export interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI in the workspace `root` and waits for it. */
export function cairn(root: string, ...args: string[]): Result {
  const result = spawnSync(process.execPath, [cli, ...args, '--workspace', root], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs the CLI without blocking this process (the test sends requests meanwhile). */
export function cairnAsync(root: string, ...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args, '--workspace', root], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Runs `cairn deploy ...ARGS --json` and returns the status it printed (it must succeed). */
export async function deployJson(root: string, ...args: string[]): Promise<DeploymentStatus> {
  const deployed = await cairnAsync(root, 'deploy', ...args, '--json');
  assert.equal(deployed.status, 0, deployed.stderr);
  return JSON.parse(deployed.stdout) as DeploymentStatus;
}

/** Whether the process `pid` is alive. */
export function alive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The deployment `name` of the workspace, from `cairn deploy status --json`. */
export function statusOf(root: string, name: string): DeploymentStatus {
  const result = cairn(root, 'deploy', 'status', name, '--json');
  assert.equal(result.status, 0, result.stderr);
  const parsed = JSON.parse(result.stdout) as { deployments: DeploymentStatus[] };
  const found = parsed.deployments.find((deployment) => deployment.name === name);
  assert.ok(found, `no deployment ${name} in ${result.stdout}`);
  return found;
}

/** A port free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Polls `probe` until it gives a value, or fails naming `what`. */
export async function waitFor<T>(what: string, probe: () => T | null | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== null && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}
