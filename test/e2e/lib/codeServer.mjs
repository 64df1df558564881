// Starting, stopping and installing into code-server (VS Code 1.100.3 served to a browser), as
// installed by scripts/e2e-setup.sh into <repo>/.e2e/code-server.
import { spawn, execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { waitUntil } from './util.mjs';

const execFileAsync = promisify(execFile);

/** Path of the code-server launcher inside the e2e install folder, or throws with a hint. */
export function codeServerBinary(repoDir) {
  const bin = path.join(repoDir, '.e2e', 'code-server', 'node_modules', '.bin', 'code-server');
  const marker = path.join(repoDir, '.e2e', 'code-server', '.setup-complete');
  if (!fs.existsSync(bin) || !fs.existsSync(marker)) {
    throw new Error(`code-server is not set up (${bin}); run: bash scripts/e2e-setup.sh`);
  }
  return bin;
}

/** A free TCP port on 127.0.0.1 (asked from the OS, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * The private folders code-server is pointed at, so nothing under ~/.config or ~/.local is touched:
 * its config file and XDG folders live inside `root`.
 */
export function codeServerEnv(root) {
  const env = { ...process.env };
  env.XDG_CONFIG_HOME = path.join(root, 'xdg-config');
  env.XDG_DATA_HOME = path.join(root, 'xdg-data');
  env.XDG_CACHE_HOME = path.join(root, 'xdg-cache');
  // Never let code-server try to open a browser or talk to an update service.
  delete env.VSCODE_IPC_HOOK_CLI;
  return env;
}

/** `code-server --install-extension <vsix>` into the given folders; returns its output. */
export async function installExtension({ bin, vsix, userDataDir, extensionsDir, env }) {
  const { stdout, stderr } = await execFileAsync(
    bin,
    ['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--install-extension', vsix, '--force'],
    { env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
  );
  const output = `${stdout}\n${stderr}`;
  if (!/successfully installed/i.test(output)) {
    throw new Error(`installing ${vsix} failed:\n${output.trim()}`);
  }
  return output.trim();
}

/** Resolves true when GET url answers with a status below 500, false otherwise. */
function probe(url) {
  return new Promise((resolve) => {
    const request = http.get(url, { timeout: 2000 }, (response) => {
      response.resume();
      resolve((response.statusCode ?? 500) < 500);
    });
    request.on('error', () => resolve(false));
    request.on('timeout', () => {
      request.destroy();
      resolve(false);
    });
  });
}

/**
 * Starts code-server in its own process group (so it and every child can be killed together) on
 * 127.0.0.1:port, logging to `logFile`, and waits until its /healthz answers.
 * Returns { process, url, stop }.
 */
export async function startCodeServer({ bin, port, userDataDir, extensionsDir, workspace, logFile, env, root }) {
  const args = [
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--config',
    path.join(root, 'code-server-config.yaml'),
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--user-data-dir',
    userDataDir,
    '--extensions-dir',
    extensionsDir,
    workspace,
  ];
  const log = fs.openSync(logFile, 'a');
  const child = spawn(bin, args, { env, detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });

  const stop = () => stopProcessGroup(child);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntil(
      async () => {
        if (exited) throw new Error(`code-server exited early (${JSON.stringify(exited)}); see ${logFile}`);
        return probe(`${url}/healthz`);
      },
      { timeout: 60_000, interval: 250, message: `code-server on ${url}` },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { process: child, url, stop, hasExited: () => exited !== null };
}

/** SIGTERM to the whole process group of `child`, SIGKILL after 3 s if it is still there. */
export async function stopProcessGroup(child) {
  if (!child || child.pid === undefined) return;
  const alive = () => {
    try {
      process.kill(-child.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  const deadline = Date.now() + 3000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive()) killProcessGroupNow(child);
}

/** Synchronous SIGKILL of the group (for process 'exit' handlers). */
export function killProcessGroupNow(child) {
  if (!child || child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}
