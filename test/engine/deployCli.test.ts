// `cairn deploy` at its edges, through the built CLI: a bad deployment file or an unknown model is
// exit 2 with the file, line and fix; a missing token variable is named; status --json of a fresh
// workspace is an empty list; --foreground serves in the CLI process until SIGINT, with the serving
// token enforced and labels accepted by the admin API; promote without a rollout is refused.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import type { DeploymentStatus } from '../../server/shared/deployments';
import { PredictionLog } from '../../server/engine/monitor/log';
import { Registry } from '../../server/engine/registry/registry';
import { saveDeployment } from '../../server/engine/deploy/records';
import { idleRollout } from '../../server/engine/deploy/rollout';
import { readDeployment } from '../../server/engine/deploy/spec';
import { isSameProcess, processIdentity } from '../../server/engine/processes';
import { Store } from '../../server/engine/store';
import { writeLogisticModel } from '../helpers/onnx';
import { freePort } from '../helpers/deployCli';
import { makeWorkspace } from '../helpers/workspace';

const repository = path.resolve(__dirname, '../..');
const cli = path.join(repository, 'dist/cli/cairn.js');

function cairn(
  root: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args, '--workspace', root], {
    cwd: root,
    encoding: 'utf8',
    env,
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function registered(files: Record<string, string>): string {
  const root = makeWorkspace(files);
  const store = Store.open(root);
  try {
    const registry = new Registry(store, root);
    registry.register({ name: 'rain', onnxPath: writeLogisticModel(root, 'models/v1.onnx', [0.5, -0.25, 0.1]) });
    registry.setAlias('rain', 'champion', 1);
  } finally {
    store.close();
  }
  return root;
}

describe('cairn deploy at its edges (the built CLI)', function () {
  this.timeout(120_000);

  before(() => {
    const build = spawnSync('npm', ['run', 'build'], { cwd: repository, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
  });

  it('takes a recorded pid that another process has since for a server that is gone, and leaves that process alone', async () => {
    const root = registered({ 'ghost.deploy.yaml': 'name: ghost\nmodel: rain@champion\n' });
    const spec = readDeployment(path.join(root, 'ghost.deploy.yaml'), root);
    // Another program now has the pid the store recorded (as after a reboot): a process of its own group.
    const other = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    try {
      const pid = other.pid ?? -1;
      const identity = processIdentity(pid);
      assert.ok(identity, 'this machine has /proc');
      assert.ok(isSameProcess(pid, identity));
      const store = Store.open(root);
      const served = { model: 'rain', version: 1, ref: 'rain@champion', pid: null, ready: true };
      saveDeployment(store.db, {
        name: 'ghost',
        file: 'ghost.deploy.yaml',
        status: 'serving',
        pid,
        host: '127.0.0.1',
        port: await freePort(),
        state: {
          rolloutDigest: '',
          stable: served,
          candidate: null,
          rollout: idleRollout(spec.rollout),
          previousStable: null,
          workers: [],
          url: null,
          health: 'healthy',
          // The server that recorded it started in another boot.
          serverProcess: `another-boot/${identity.split('/')[1]}`,
        },
        startedAt: Date.now() - 60_000,
        updatedAt: Date.now() - 60_000,
      });
      store.close();
      const status = cairn(root, ['deploy', 'status', 'ghost', '--json']);
      assert.equal(status.status, 0, status.stderr);
      const [ghost] = (JSON.parse(status.stdout) as { deployments: DeploymentStatus[] }).deployments;
      assert.equal(ghost?.status, 'failed');
      const stop = cairn(root, ['deploy', 'stop', 'ghost']);
      assert.equal(stop.status, 0, stop.stderr);
      assert.ok(isSameProcess(pid, identity), 'the other process was signalled');
      const after = cairn(root, ['deploy', 'status', 'ghost', '--json']);
      assert.equal((JSON.parse(after.stdout) as { deployments: DeploymentStatus[] }).deployments[0]?.status, 'stopped');
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('refuses a bad file, an unknown model and a missing token variable with exit 2 and the fix', () => {
    const root = registered({
      'bad.deploy.yaml': 'model: rain@champion\nrollout:\n  strategy: ab\n  candidate: rain:1\n',
      'unknown.deploy.yaml': 'model: snow@champion\n',
      'noalias.deploy.yaml': 'model: rain@gold\n',
      'token.deploy.yaml': 'model: rain@champion\nserver: { token_env: CAIRN_TEST_TOKEN_UNSET }\n',
    });
    let result = cairn(root, ['deploy', 'bad.deploy.yaml']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /bad\.deploy\.yaml:\d+: /);
    result = cairn(root, ['deploy', 'unknown.deploy.yaml']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /No model 'snow' in the registry \(registered: rain\)/);
    result = cairn(root, ['deploy', 'noalias.deploy.yaml']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Model 'rain' has no alias 'gold' \(aliases: champion\)/);
    const env = { ...process.env };
    delete env['CAIRN_TEST_TOKEN_UNSET'];
    result = cairn(root, ['deploy', 'token.deploy.yaml'], env);
    assert.equal(result.status, 2);
    assert.match(
      result.stderr,
      /server\.token_env names CAIRN_TEST_TOKEN_UNSET, but CAIRN_TEST_TOKEN_UNSET is not set/,
    );
    result = cairn(root, ['deploy', 'missing.deploy.yaml']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /missing\.deploy\.yaml: no such file/);
    result = cairn(root, ['deploy', 'status', '--json']);
    assert.equal(result.status, 0);
    assert.deepEqual(JSON.parse(result.stdout), { deployments: [] });
    result = cairn(root, ['deploy', 'promote', 'nothing']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /No deployment named nothing/);
  });

  it('says why a detached server did not start, from its own run of the log only', async () => {
    const root = registered({ 'rain.deploy.yaml': 'model: rain@champion\n' });
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const address = holder.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const lines: number[] = [];
      for (let attempt = 0; attempt < 2; attempt++) {
        const result = cairn(root, ['deploy', 'rain.deploy.yaml', '--port', String(port)]);
        assert.equal(result.status, 1, result.stderr);
        assert.match(result.stderr, /stopped before serving/);
        assert.match(result.stderr, /EADDRINUSE/);
        lines.push(result.stderr.split('\n').filter((line) => line.includes('failed to start')).length);
      }
      // The second failure shows its own lines, not the first run's as well.
      assert.equal(lines[1], lines[0]);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
    // A server that failed to start is gone: it does not come back once the port is free.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const answered = await fetch(`http://127.0.0.1:${port}/v2/health/live`).then(
      () => true,
      () => false,
    );
    assert.equal(answered, false, 'a failed server came back and answers on the freed port');
  });

  it('serves in the foreground until SIGINT, enforcing the serving token and taking labels', async () => {
    const port = await freePort();
    const root = registered({
      'rain.deploy.yaml': `model: rain@champion\nserver: { port: ${port}, token_env: CAIRN_TEST_TOKEN }\n`,
    });
    const child = spawn(
      process.execPath,
      [cli, 'deploy', 'rain.deploy.yaml', '--foreground', '--json', '--workspace', root],
      {
        cwd: root,
        env: { ...process.env, CAIRN_TEST_TOKEN: 'serve-secret' },
      },
    );
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const deadline = Date.now() + 60_000;
    while (!stdout.trim().endsWith('}') && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    const status = JSON.parse(stdout) as DeploymentStatus;
    assert.equal(status.status, 'serving', stderr);
    assert.equal(status.pid, child.pid);
    const url = status.url ?? '';
    const body = JSON.stringify({ inputs: [{ name: 'features', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });
    const refused = await fetch(`${url}/v2/models/rain/infer`, { method: 'POST', body });
    assert.equal(refused.status, 401);
    const answered = await fetch(`${url}/v2/models/rain/infer`, {
      method: 'POST',
      body,
      headers: { authorization: 'Bearer serve-secret', 'x-request-id': 'req-1' },
    });
    assert.equal(answered.status, 200);
    const labels = await fetch(`${url}/cairn/v1/labels`, {
      method: 'POST',
      body: '{"request_id": "req-1", "label": 1}\n{"request_id": "req-2", "label": 0}\n',
      headers: { authorization: 'Bearer serve-secret' },
    });
    assert.equal(labels.status, 200);
    assert.deepEqual(await labels.json(), { accepted: 2 });
    const unauthorized = await fetch(`${url}/cairn/v1/promote`, {
      method: 'POST',
      headers: { authorization: 'Bearer serve-secret' },
    });
    assert.equal(unauthorized.status, 401, 'the serving token is not the admin token');
    const promote = cairn(root, ['deploy', 'promote', 'rain']);
    assert.equal(promote.status, 1);
    assert.match(promote.stderr, /rain has no rollout in progress to promote/);

    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
    const after = JSON.parse(cairn(root, ['deploy', 'status', '--json']).stdout) as { deployments: DeploymentStatus[] };
    assert.equal(after.deployments[0]?.status, 'stopped');
    const log = PredictionLog.open(root, 'rain', { readonly: true });
    try {
      assert.deepEqual(
        log.feedback(['req-1']).map((row) => row.label),
        [1],
      );
      assert.equal(log.predictions().at(-1)?.requestId, 'req-1');
    } finally {
      log.close();
    }
  });
});
