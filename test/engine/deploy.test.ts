// `cairn deploy` with real processes on 127.0.0.1: a registered ONNX model deployed as a detached
// server that survives the CLI; status --json with pid, port, versions and traffic; a canary that
// walks its steps and promotes (the champion alias moves, with actor and reason in the audit log); a
// canary whose predictions shift too far, rolled back by itself with the reason recorded; stop drains
// requests in flight; and a server killed with SIGKILL restored from the store at the same step.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeploymentStatus } from '../../server/shared/deployments';
import { Registry } from '../../server/engine/registry/registry';
import { Store } from '../../server/engine/store';
import { writeLogisticModel } from '../helpers/onnx';
import { makeWorkspace } from '../helpers/workspace';
import { alive, cairn, cairnAsync, deployJson, freePort, statusOf, waitFor } from '../helpers/deployCli';

const repository = path.resolve(__dirname, '../..');

const FEATURES = 3;

/** One V2 inference of `rows` rows; the status and whether a fallback answered. */
async function infer(url: string, model: string, rows = 4): Promise<{ status: number; body: string }> {
  const data = Array.from({ length: rows * FEATURES }, (_, index) => ((index % 7) - 3) / 3);
  const response = await fetch(`${url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'features', shape: [rows, FEATURES], datatype: 'FP32', data }] }),
  });
  return { status: response.status, body: await response.text() };
}

/** Sends requests one after another until `done()` says stop; returns the statuses seen. */
async function sendUntil(url: string, model: string, done: () => boolean, timeoutMs: number): Promise<number[]> {
  const statuses: number[] = [];
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) {
    try {
      statuses.push((await infer(url, model)).status);
    } catch {
      statuses.push(0);
    }
  }
  return statuses;
}

/** A workspace with rain v1 (@champion) and rain v2 (@challenger), and a deployment file. */
function workspace(spec: string): { root: string; file: string } {
  const root = makeWorkspace({ 'rain.deploy.yaml': spec });
  const store = Store.open(root);
  try {
    const registry = new Registry(store, root);
    const champion = writeLogisticModel(root, 'models/v1.onnx', [0.5, -0.25, 0.1], 0);
    const challenger = writeLogisticModel(root, 'models/v2.onnx', [0.45, -0.2, 0.1], 0.01);
    registry.register({ name: 'rain', onnxPath: champion });
    registry.register({ name: 'rain', onnxPath: challenger });
    registry.setAlias('rain', 'champion', 1, { reason: 'first model' });
    registry.setAlias('rain', 'challenger', 2, { reason: 'candidate' });
  } finally {
    store.close();
  }
  return { root, file: path.join(root, 'rain.deploy.yaml') };
}

/** Registers a model whose predictions differ wildly from the champion's as rain v3 @challenger. */
function registerShiftedChallenger(root: string): void {
  const store = Store.open(root);
  try {
    const registry = new Registry(store, root);
    const shifted = writeLogisticModel(root, 'models/v3.onnx', [-4, 4, -4], 6);
    registry.register({ name: 'rain', onnxPath: shifted });
    registry.setAlias('rain', 'challenger', 3, { reason: 'a bad candidate' });
  } finally {
    store.close();
  }
}

function championOf(root: string): number | null {
  const store = Store.open(root);
  try {
    return new Registry(store, root).aliasVersion('rain', 'champion');
  } finally {
    store.close();
  }
}

/** Leaves version `version` of rain in the registry (signature and all) with ONNX bytes that no longer load. */
function breakVersion(root: string, version: number): void {
  const store = Store.open(root);
  const objectPath = new Registry(store, root).version('rain', version)?.objectPath ?? '';
  store.close();
  fs.chmodSync(objectPath, 0o644);
  fs.writeFileSync(objectPath, 'not an onnx model');
}

describe('cairn deploy (real server processes)', function () {
  this.timeout(180_000);
  const started: { root: string; name: string }[] = [];

  before(() => {
    const build = spawnSync('npm', ['run', 'build'], { cwd: repository, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
  });

  afterEach(() => {
    // Whatever a failed test left running is stopped (by its own pid, never by name).
    for (const { root, name } of started.splice(0)) {
      const store = Store.open(root);
      const row = store.db.prepare('SELECT pid FROM deployments WHERE name = ?').get(name) as
        { pid: number | null } | undefined;
      store.close();
      if (row?.pid && alive(row.pid)) {
        try {
          process.kill(-row.pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
    }
  });

  it('serves a registered model from a detached server and shows it in status --json', async () => {
    const port = await freePort();
    const { root } = workspace(`model: rain@champion\nserver: { port: ${port} }\n`);
    started.push({ root, name: 'rain' });
    const status = await deployJson(root, 'rain.deploy.yaml');
    assert.equal(status.name, 'rain');
    assert.equal(status.status, 'serving');
    assert.equal(status.url, `http://127.0.0.1:${port}`);
    assert.ok(status.pid !== null && alive(status.pid), 'the server outlives the CLI');
    assert.deepEqual(
      { model: status.stable.model, version: status.stable.version, ref: status.stable.ref },
      { model: 'rain', version: 1, ref: 'rain@champion' },
    );
    assert.deepEqual(status.traffic, { stable: 100, candidate: 0, mirror: 0 });
    assert.equal(status.candidate, null);

    const answer = await infer(status.url ?? '', 'rain');
    assert.equal(answer.status, 200, answer.body);
    const ready = await fetch(`${status.url ?? ''}/v2/health/ready`);
    assert.equal(ready.status, 200);

    const listed = statusOf(root, 'rain');
    assert.equal(listed.pid, status.pid);
    assert.ok(listed.stable.pid !== null && alive(listed.stable.pid), 'the model worker runs');
    assert.ok(listed.events.some((event) => event.kind === 'deploy'));
    const token = fs.statSync(path.join(root, '.cairn/deployments/rain/admin.token'));
    assert.equal(token.mode & 0o777, 0o600);
    const refused = await fetch(`${status.url ?? ''}/cairn/v1/status`);
    assert.equal(refused.status, 401);
    // Bodies that are not what the admin API takes get a 4xx that says so, never a 500 or a cut connection.
    const admin = {
      authorization: `Bearer ${fs.readFileSync(path.join(root, '.cairn/deployments/rain/admin.token'), 'utf8').trim()}`,
    };
    const notObject = await fetch(`${status.url ?? ''}/cairn/v1/promote`, {
      method: 'POST',
      headers: admin,
      body: 'null',
    });
    assert.equal(notObject.status, 400, await notObject.text());
    const huge = await fetch(`${status.url ?? ''}/cairn/v1/labels`, {
      method: 'POST',
      headers: admin,
      body: Buffer.alloc(65 * 1024 * 1024, 0x20),
    });
    assert.equal(huge.status, 413, await huge.text());
    // The wrong method gets a 405 naming the right one; a route that does not exist, a 404.
    const postStatus = await fetch(`${status.url ?? ''}/cairn/v1/status`, { method: 'POST', headers: admin });
    assert.equal(postStatus.status, 405);
    assert.equal(postStatus.headers.get('allow'), 'GET');
    const getPromote = await fetch(`${status.url ?? ''}/cairn/v1/promote`, { headers: admin });
    assert.equal(getPromote.status, 405);
    assert.equal(getPromote.headers.get('allow'), 'POST');
    const unknown = await fetch(`${status.url ?? ''}/cairn/v1/restart`, { method: 'POST', headers: admin });
    assert.equal(unknown.status, 404);
    assert.match(await unknown.text(), /No admin route 'restart'. Use status, promote, rollback/);

    // Deploying the changed file again reloads it in place, and names what only a restart applies.
    fs.writeFileSync(
      path.join(root, 'rain.deploy.yaml'),
      `model: rain@champion\nserver: { port: ${port}, batch: { max_size: 8 } }\nmonitoring: { log: { sample: 0.5 } }\n`,
    );
    const reloaded = cairn(root, 'deploy', 'rain.deploy.yaml');
    assert.equal(reloaded.status, 0, reloaded.stderr);
    assert.match(
      reloaded.stderr,
      /cairn: note: rain\.deploy\.yaml: server\.batch changed, and the running server keeps the old values until it restarts: cairn deploy stop rain, then cairn deploy rain\.deploy\.yaml\./,
    );
    assert.equal(statusOf(root, 'rain').pid, status.pid);
    // Deployed again, the server still runs the old batch: it says so again. Back to the file it
    // started with, nothing is left to say.
    assert.match(cairn(root, 'deploy', 'rain.deploy.yaml').stderr, /server\.batch changed/);
    fs.writeFileSync(path.join(root, 'rain.deploy.yaml'), `model: rain@champion\nserver: { port: ${port} }\n`);
    const restored = cairn(root, 'deploy', 'rain.deploy.yaml');
    assert.equal(restored.stderr, '');

    const stopped = cairn(root, 'deploy', 'stop', 'rain');
    assert.equal(stopped.status, 0, stopped.stderr);
    assert.equal(alive(status.pid), false);
    assert.equal(statusOf(root, 'rain').status, 'stopped');
  });

  it('walks a canary through its steps and promotes it: the champion alias moves', async () => {
    const port = await freePort();
    const { root } = workspace(
      [
        'model: rain@champion',
        `server: { port: ${port} }`,
        'rollout:',
        '  strategy: canary',
        '  candidate: rain@challenger',
        '  steps:',
        '    - { weight: 50, pause: 600ms, analysis: { metric: error_rate, max: 0.01 } }',
        '    - { weight: 100, pause: 300ms }',
        '',
      ].join('\n'),
    );
    started.push({ root, name: 'rain' });
    const status = await deployJson(root, 'rain.deploy.yaml');
    assert.equal(status.candidate?.version, 2);
    assert.deepEqual(status.traffic, { stable: 50, candidate: 50, mirror: 0 });
    assert.equal(status.rollout.phase, 'progressing');
    assert.equal(status.rollout.step, 0);

    const statuses = await sendUntil(status.url ?? '', 'rain', () => championOf(root) === 2, 30_000);
    assert.equal(championOf(root), 2, 'the champion alias moved to the candidate');
    assert.ok(
      statuses.every((code) => code === 200),
      `every request answered: ${statuses.join(',')}`,
    );
    const promoted = await waitFor('the promotion in status', () => {
      const current = statusOf(root, 'rain');
      return current.rollout.phase === 'promoted' && current.stable.version === 2 ? current : null;
    });
    assert.deepEqual(promoted.traffic, { stable: 100, candidate: 0, mirror: 0 });
    const kinds = promoted.events.map((event) => event.kind);
    assert.ok(kinds.includes('promote'), kinds.join(','));
    assert.ok(promoted.events.filter((event) => event.kind === 'step').length >= 2);

    const store = Store.open(root);
    const audit = new Registry(store, root).auditLog('rain').at(-1);
    store.close();
    assert.equal(audit?.action, 'alias');
    assert.equal(audit?.to, 'champion=v2');
    assert.equal(audit?.actor, 'cairn-deploy');
    assert.match(audit?.reason ?? '', /deployment rain: all 2 canary steps passed/);
    assert.equal(cairn(root, 'deploy', 'stop', 'rain').status, 0);
  });

  it('serves without a candidate until its alias is set, then starts the canary', async () => {
    const port = await freePort();
    const { root } = workspace(
      [
        'model: rain@champion',
        `server: { port: ${port} }`,
        'rollout:',
        '  strategy: canary',
        '  candidate: rain@next',
        '  steps:',
        '    - { weight: 30, pause: 1m }',
        '    - { weight: 100 }',
        '',
      ].join('\n'),
    );
    started.push({ root, name: 'rain' });
    const status = await deployJson(root, 'rain.deploy.yaml');
    assert.equal(status.candidate, null);
    assert.deepEqual(status.traffic, { stable: 100, candidate: 0, mirror: 0 });

    // What a retrain does at its end: the alias the rollout follows now names a new version.
    assert.equal(cairn(root, 'models', 'alias', 'rain', 'next', '2').status, 0);
    const rolling = await waitFor('the canary of rain@next', () => {
      const current = statusOf(root, 'rain');
      return current.candidate?.version === 2 && current.traffic.candidate === 30 ? current : null;
    });
    assert.equal(rolling.rollout.phase, 'progressing');
    assert.equal(cairn(root, 'deploy', 'stop', 'rain').status, 0);
  });

  it('serves no version that waits for approval until a person approves it, stable or candidate', async () => {
    const port = await freePort();
    const { root } = workspace(
      [
        'model: rain@champion',
        `server: { port: ${port} }`,
        'rollout: { strategy: canary, candidate: rain@challenger, steps: [{ weight: 30, pause: 1m }] }',
        '',
      ].join('\n'),
    );
    // As an experiment with register.require_approval registers them: v1 (champion) and v2 (challenger).
    for (const version of ['1', '2']) {
      const tagged = cairn(root, 'models', 'tag', 'rain', version, 'cairn.approval=required');
      assert.equal(tagged.status, 0, tagged.stderr);
    }
    const refused = cairn(root, 'deploy', 'rain.deploy.yaml');
    assert.equal(refused.status, 2);
    assert.match(
      refused.stderr,
      /rain\.deploy\.yaml: rain@champion is not served: rain:1 waits for a person's approval \(registered with require_approval\)\. Approve it: cairn models approve rain 1\./,
    );
    assert.equal(cairn(root, 'models', 'approve', 'rain', '1').status, 0);
    // Nor does an unapproved version answer as the fallback.
    fs.writeFileSync(
      path.join(root, 'fallback.deploy.yaml'),
      `model: rain@champion\nserver: { port: ${port} }\nfallback: { model: rain:2, on: [error], timeout_ms: 500 }\n`,
    );
    const noFallback = cairn(root, 'deploy', 'fallback.deploy.yaml');
    assert.equal(noFallback.status, 2);
    assert.match(noFallback.stderr, /the fallback rain:2 is not served: rain:2 waits for a person's approval/);
    started.push({ root, name: 'rain' });
    const deployed = cairn(root, 'deploy', 'rain.deploy.yaml');
    assert.equal(deployed.status, 0, deployed.stderr);
    assert.match(
      deployed.stderr,
      /the candidate rain@challenger is not rolled out yet: rain:2 waits for a person's approval/,
    );
    const waiting = statusOf(root, 'rain');
    assert.equal(waiting.candidate, null);
    assert.ok(waiting.events.some((event) => /candidate rain:2 is not rolled out yet/.test(event.message)));
    // The approval rolls the candidate out.
    assert.equal(cairn(root, 'models', 'approve', 'rain', '2').status, 0);
    const rolling = await waitFor('the canary of the approved candidate', () => {
      const current = statusOf(root, 'rain');
      return current.candidate?.version === 2 && current.traffic.candidate === 30 ? current : null;
    });
    assert.equal(rolling.rollout.phase, 'progressing');
    assert.equal(cairn(root, 'deploy', 'stop', 'rain').status, 0);
  });

  it('leaves out a candidate that cannot be loaded, once, and keeps serving the stable version', async () => {
    const port = await freePort();
    const { root } = workspace(
      [
        'model: rain@champion',
        `server: { port: ${port} }`,
        'rollout: { strategy: canary, candidate: rain@next, steps: [{ weight: 30, pause: 1m }] }',
        '',
      ].join('\n'),
    );
    started.push({ root, name: 'rain' });
    const status = await deployJson(root, 'rain.deploy.yaml');
    breakVersion(root, 2);
    assert.equal(cairn(root, 'models', 'alias', 'rain', 'next', '2').status, 0);
    const refused = await waitFor('the refused candidate', () => {
      const current = statusOf(root, 'rain');
      return current.events.some((event) => /candidate rain:2 is not rolled out/.test(event.message)) ? current : null;
    });
    assert.equal(refused.candidate, null, 'the status does not claim a candidate it does not serve');
    assert.deepEqual(refused.traffic, { stable: 100, candidate: 0, mirror: 0 });
    // Later polls do not load (and record) it again.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const settled = statusOf(root, 'rain');
    assert.equal(settled.events.filter((event) => /is not rolled out/.test(event.message)).length, 1);
    assert.equal(settled.candidate, null);
    assert.equal(settled.health, 'healthy');
    const answer = await infer(status.url ?? '', 'rain');
    assert.equal(answer.status, 200, answer.body);
    assert.equal(cairn(root, 'deploy', 'stop', 'rain').status, 0);
  });

  it('leaves out a candidate that takes other inputs than the stable version, naming both', async () => {
    const port = await freePort();
    const { root } = workspace(
      [
        'model: rain@champion',
        `server: { port: ${port} }`,
        'rollout: { strategy: shadow, candidate: rain@wide }',
        '',
      ].join('\n'),
    );
    started.push({ root, name: 'rain' });
    const store = Store.open(root);
    try {
      const registry = new Registry(store, root);
      registry.register({
        name: 'rain',
        onnxPath: writeLogisticModel(root, 'models/wide.onnx', [0.1, 0.2, 0.3, 0.4], 0),
      });
      registry.setAlias('rain', 'wide', 3, { reason: 'four features' });
    } finally {
      store.close();
    }
    const deployed = await cairnAsync(root, 'deploy', 'rain.deploy.yaml', '--json');
    assert.equal(deployed.status, 0, deployed.stderr);
    assert.match(
      deployed.stderr,
      /the candidate rain@wide is not rolled out beside rain@champion: its inputs \(.*4\]\) differ from the stable rain:1's \(.*3\]\)/,
    );
    const status = JSON.parse(deployed.stdout) as DeploymentStatus;
    assert.equal(status.candidate, null);
    assert.deepEqual(status.traffic, { stable: 100, candidate: 0, mirror: 0 });
    assert.ok(status.events.some((event) => event.kind === 'abort' && /rain:3 is not rolled out/.test(event.message)));
    assert.equal(cairn(root, 'deploy', 'stop', 'rain').status, 0);
  });

  it('rolls a canary back by itself when its analysis fails, with the reason recorded', async () => {
    const port = await freePort();
    const { root } = workspace(
      [
        'model: rain@champion',
        `server: { port: ${port} }`,
        'rollout:',
        '  strategy: canary',
        '  candidate: rain@challenger',
        '  steps:',
        '    - { weight: 50, pause: 20s, analysis: { metric: prediction_shift, max: 0.2 } }',
        '    - { weight: 100 }',
        '',
      ].join('\n'),
    );
    registerShiftedChallenger(root);
    started.push({ root, name: 'rain' });
    const status = await deployJson(root, 'rain.deploy.yaml');
    assert.equal(status.candidate?.version, 3);
    let aborted: DeploymentStatus | null = null;
    const statuses = await sendUntil(
      status.url ?? '',
      'rain',
      () => {
        const current = statusOf(root, 'rain');
        aborted = current.rollout.phase === 'aborted' ? current : null;
        return aborted !== null;
      },
      30_000,
    );
    assert.ok(aborted, 'the rollout aborted');
    const final = aborted as DeploymentStatus;
    assert.ok(statuses.every((code) => code === 200));
    assert.deepEqual(final.traffic, { stable: 100, candidate: 0, mirror: 0 });
    assert.match(final.rollout.reason ?? '', /prediction_shift = .* \(prediction_shift must be at most 0\.2\)/);
    const abort = final.events.find((event) => event.kind === 'abort');
    assert.ok(abort, final.events.map((event) => event.kind).join(','));
    assert.match(abort.message, /rain:3 aborted: step 1 analysis failed: prediction_shift/);
    assert.equal(championOf(root), 1, 'the champion did not move');
    assert.equal(cairn(root, 'deploy', 'stop', 'rain').status, 0);
  });

  it('drains requests in flight on stop', async () => {
    const port = await freePort();
    const { root } = workspace(`model: rain@champion\nserver: { port: ${port}, batch: { max_latency_ms: 50 } }\n`);
    started.push({ root, name: 'rain' });
    const status = await deployJson(root, 'rain.deploy.yaml');
    const inFlight = Array.from({ length: 20 }, () => infer(status.url ?? '', 'rain', 50));
    const stopping = cairnAsync(root, 'deploy', 'stop', 'rain');
    const answers = await Promise.all(inFlight);
    assert.deepEqual(
      answers.map((answer) => answer.status),
      answers.map(() => 200),
    );
    const stopped = await stopping;
    assert.equal(stopped.status, 0, stopped.stderr);
    assert.equal(alive(status.pid), false);
    const after = statusOf(root, 'rain');
    assert.equal(after.status, 'stopped');
    assert.ok(after.events.some((event) => event.kind === 'stop'));
    await assert.rejects(fetch(`${status.url ?? ''}/v2/health/ready`));
  });

  it('hot-swaps the stable version when its alias moves, with no failed request', async () => {
    const port = await freePort();
    const { root } = workspace(`model: rain@champion\nserver: { port: ${port} }\n`);
    started.push({ root, name: 'rain' });
    const status = await deployJson(root, 'rain.deploy.yaml');
    const versions = new Set<string>();
    let swapped = false;
    const load = (async () => {
      const codes: number[] = [];
      while (!swapped) {
        const answer = await infer(status.url ?? '', 'rain');
        codes.push(answer.status);
        if (answer.status === 200) versions.add((JSON.parse(answer.body) as { model_version: string }).model_version);
      }
      return codes;
    })();
    const moved = await cairnAsync(root, 'models', 'alias', 'rain', 'champion', '2', '--reason', 'better');
    assert.equal(moved.status, 0, moved.stderr);
    const after = await waitFor('the swap', () => {
      const current = statusOf(root, 'rain');
      return current.stable.version === 2 && current.stable.ready ? current : null;
    });
    // A few more requests after the switch, which must all come from v2.
    const since = versions.size;
    for (let index = 0; index < 5; index++) {
      const answer = await infer(status.url ?? '', 'rain');
      assert.equal(answer.status, 200);
      assert.equal((JSON.parse(answer.body) as { model_version: string }).model_version, '2');
    }
    swapped = true;
    const codes = await load;
    assert.ok(codes.length > 0 && codes.every((code) => code === 200), `every request answered: ${codes.join(',')}`);
    assert.ok(since >= 1);
    const swap = after.events.find((event) => event.kind === 'swap');
    assert.ok(swap, after.events.map((event) => event.kind).join(','));
    assert.match(swap.message, /rain@champion moved: rain:1 → rain:2/);
    assert.equal(cairn(root, 'deploy', 'stop', 'rain').status, 0);
  });

  it('keeps serving (and says so) when the version an alias moved to cannot be loaded', async () => {
    const port = await freePort();
    const { root } = workspace(`model: rain@champion\nserver: { port: ${port} }\n`);
    started.push({ root, name: 'rain' });
    const status = await deployJson(root, 'rain.deploy.yaml');
    breakVersion(root, 2);
    const moved = await cairnAsync(root, 'models', 'alias', 'rain', 'champion', '2', '--reason', 'broken');
    assert.equal(moved.status, 0, moved.stderr);
    const after = await waitFor('the failed swap', () => {
      const current = statusOf(root, 'rain');
      return current.events.some((event) => event.kind === 'swap') ? current : null;
    });
    const swap = after.events.find((event) => event.kind === 'swap');
    assert.match(swap?.message ?? '', /cannot hot-swap to rain:2 .*still serving rain:1/);
    // Later polls do not retry (and record) the same failure again.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const settled = statusOf(root, 'rain');
    assert.equal(settled.events.filter((event) => event.kind === 'swap').length, 1);
    assert.equal(settled.stable.version, 1);
    assert.equal(settled.health, 'healthy');
    const answer = await infer(status.url ?? '', 'rain');
    assert.equal(answer.status, 200, answer.body);
    assert.equal((JSON.parse(answer.body) as { model_version: string }).model_version, '1');
    assert.equal(cairn(root, 'deploy', 'stop', 'rain').status, 0);
  });

  it('aborts a canary whose candidate worker dies; the stable version answers meanwhile', async () => {
    const port = await freePort();
    const { root } = workspace(
      [
        'model: rain@champion',
        `server: { port: ${port} }`,
        'rollout:',
        '  strategy: canary',
        '  candidate: rain@challenger',
        '  steps:',
        '    - { weight: 50, pause: 1h }',
        '',
      ].join('\n'),
    );
    started.push({ root, name: 'rain' });
    const status = await deployJson(root, 'rain.deploy.yaml');
    const candidatePid = status.candidate?.pid ?? null;
    assert.ok(candidatePid !== null && alive(candidatePid), 'the candidate has a worker');
    process.kill(candidatePid, 'SIGKILL');
    let aborted: DeploymentStatus | null = null;
    const codes = await sendUntil(
      status.url ?? '',
      'rain',
      () => {
        const current = statusOf(root, 'rain');
        aborted = current.rollout.phase === 'aborted' ? current : null;
        return aborted !== null;
      },
      30_000,
    );
    assert.ok(aborted, 'the rollout aborted');
    const final = aborted as DeploymentStatus;
    assert.ok(
      codes.every((code) => code === 200),
      `every request answered: ${codes.join(',')}`,
    );
    assert.match(final.rollout.reason ?? '', /the candidate's worker exited/);
    assert.ok(final.events.some((event) => event.kind === 'worker-exit'));
    assert.deepEqual(final.traffic, { stable: 100, candidate: 0, mirror: 0 });
    assert.equal(championOf(root), 1);
    assert.equal(cairn(root, 'deploy', 'stop', 'rain').status, 0);
  });

  it('rolls back to the version a promotion replaced when an alert with automatic rollback fires', async () => {
    const port = await freePort();
    const { root } = workspace(
      [
        'model: rain@champion',
        `server: { port: ${port} }`,
        'rollout:',
        '  strategy: canary',
        '  candidate: rain@challenger',
        '  steps:',
        '    - { weight: 100, pause: 200ms }',
        'monitoring:',
        '  interval: 300ms',
        '  alerts:',
        '    - { name: traffic-seen, when: "throughput > 0", runbook: runbooks/traffic.md }',
        '  rollback: { automatic: true, on: [traffic-seen] }',
        '',
      ].join('\n'),
    );
    fs.mkdirSync(path.join(root, 'runbooks'));
    fs.writeFileSync(path.join(root, 'runbooks/traffic.md'), '# Traffic\nRoll back.\n');
    started.push({ root, name: 'rain' });
    const status = await deployJson(root, 'rain.deploy.yaml');
    // No traffic yet: the canary passes its only step and is promoted.
    await waitFor('the promotion', () => (championOf(root) === 2 ? true : null));
    const codes = await sendUntil(status.url ?? '', 'rain', () => championOf(root) === 1, 30_000);
    assert.equal(championOf(root), 1, 'the alias moved back');
    assert.ok(
      codes.every((code) => code === 200),
      `every request answered: ${codes.join(',')}`,
    );
    const after = await waitFor('the rollback in status', () => {
      const current = statusOf(root, 'rain');
      return current.stable.version === 1 && current.stable.ready ? current : null;
    });
    const rollback = after.events.find((event) => event.kind === 'rollback');
    assert.ok(rollback, after.events.map((event) => event.kind).join(','));
    assert.match(rollback.message, /rolled back from rain:2 to rain:1: alert traffic-seen fired/);
    assert.ok(after.events.some((event) => event.kind === 'alert'));
    // The rolled-back version is not rolled out again while the challenger alias still names it.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const later = statusOf(root, 'rain');
    assert.equal(later.rollout.phase, 'aborted');
    assert.equal(championOf(root), 1);
    const store = Store.open(root);
    const audit = new Registry(store, root).auditLog('rain').at(-1);
    store.close();
    assert.equal(audit?.actor, 'cairn-monitor');
    assert.equal(audit?.to, 'champion=v1');
    assert.equal(cairn(root, 'deploy', 'stop', 'rain').status, 0);
  });

  it('restores the rollout step and traffic from the store after the server is killed', async () => {
    const port = await freePort();
    const { root } = workspace(
      [
        'model: rain@champion',
        `server: { port: ${port} }`,
        'rollout:',
        '  strategy: canary',
        '  candidate: rain@challenger',
        '  steps:',
        '    - { weight: 20, pause: 300ms }',
        '    - { weight: 60, pause: 1h }',
        '    - { weight: 100 }',
        '',
      ].join('\n'),
    );
    started.push({ root, name: 'rain' });
    const deployed = await cairnAsync(root, 'deploy', 'rain.deploy.yaml', '--json');
    assert.equal(deployed.status, 0, deployed.stderr);
    const first = JSON.parse(deployed.stdout) as DeploymentStatus;
    const second = await waitFor('step 2', () => {
      const current = statusOf(root, 'rain');
      return current.rollout.step === 1 ? current : null;
    });
    assert.deepEqual(second.traffic, { stable: 40, candidate: 60, mirror: 0 });
    process.kill(first.pid ?? -1, 'SIGKILL');
    await waitFor('the server to die', () => (alive(first.pid) ? null : true));
    assert.equal(statusOf(root, 'rain').status, 'failed');

    const again = await cairnAsync(root, 'deploy', 'rain.deploy.yaml', '--json');
    assert.equal(again.status, 0, again.stderr);
    const restored = JSON.parse(again.stdout) as DeploymentStatus;
    assert.notEqual(restored.pid, first.pid);
    assert.equal(restored.rollout.step, 1);
    assert.equal(restored.rollout.nextStepAt, second.rollout.nextStepAt);
    assert.deepEqual(restored.traffic, { stable: 40, candidate: 60, mirror: 0 });
    assert.equal(restored.events[0]?.kind, 'restore');
    assert.equal((await infer(restored.url ?? '', 'rain')).status, 200);
    assert.equal(cairn(root, 'deploy', 'stop', 'rain').status, 0);
  });
});
