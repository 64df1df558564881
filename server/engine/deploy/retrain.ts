// The retrain loop of a deployment: an alert in monitoring.retrain.on, the retrain.schedule or a
// change of the retrain.data files proposes a retrain (a `retrains` row); with approval required it
// waits for `cairn deploy retrain approve ID`, with automatic approval it starts at once. A started
// retrain runs the experiment as a child process (`cairn exp run FILE --json`), whose best trial is
// gated and registered under the experiment's alias; when the deployment's candidate follows that
// alias, the new version is rolled out (by the alias watcher). Every step is a deployment event.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RetrainRecord } from '../../shared/deployments';
import { describeError } from './versions';
import type { Deployment } from './deployment';
import { proposeRetrain, retrainsIn, updateRetrain } from './records';

/** Where the child process's output goes, and how it is started (injected by tests). */
export interface RetrainOptions {
  /** argv of the `cairn` CLI: [node, cairn.js]. */
  cli: string[];
  now?: () => number;
}

/** What the loop needs of its deployment (a test passes a small stand-in over a real store). */
export type RetrainHost = Pick<Deployment, 'root' | 'spec' | 'store' | 'event' | 'reconcile'>;

export class RetrainLoop {
  private running: Promise<void> | null = null;
  private dataSignature: string | null = null;
  private lastScheduled: number;
  private readonly now: () => number;

  constructor(
    private readonly deployment: RetrainHost,
    private readonly options: RetrainOptions,
  ) {
    this.now = options.now ?? Date.now;
    const last = deployment.store.db
      .prepare('SELECT MAX(proposed_at) AS at FROM retrains WHERE deployment = ?')
      .get(deployment.spec.name) as { at: number | null };
    this.lastScheduled = last.at ?? this.now();
    this.dataSignature = this.readDataSignature();
  }

  /** Proposes a retrain for a reason (an alert, the schedule, new data); returns the row. */
  propose(reason: string, alert: number | null): RetrainRecord | null {
    const retrain = this.deployment.spec.monitoring.retrain;
    if (!retrain) return null;
    const db = this.deployment.store.db;
    // One open retrain at a time: a second alert while one waits or runs adds nothing.
    const open = retrainsIn(db, this.deployment.spec.name, ['proposed', 'approved', 'running']);
    if (open.length > 0) return null;
    const automatic = retrain.approval === 'automatic';
    const record = proposeRetrain(db, {
      deployment: this.deployment.spec.name,
      alert,
      reason,
      experiment: path.relative(this.deployment.root, retrain.experiment).split(path.sep).join('/'),
      now: this.now(),
      approved: automatic,
    });
    this.deployment.event(
      'retrain',
      `retrain #${record.id} ${automatic ? 'approved automatically' : 'proposed, waiting for approval (cairn deploy retrain approve ' + String(record.id) + ')'}: ${reason}`,
      null,
      { retrain: record.id },
    );
    return record;
  }

  /** Checks the schedule and the data, and starts an approved retrain when none runs. */
  tick(): void {
    const retrain = this.deployment.spec.monitoring.retrain;
    if (!retrain) return;
    const now = this.now();
    if (retrain.scheduleMs !== null && now - this.lastScheduled >= retrain.scheduleMs) {
      this.lastScheduled = now;
      this.propose(`scheduled retrain (every ${retrain.scheduleMs} ms)`, null);
    }
    if (retrain.data.length > 0) {
      const signature = this.readDataSignature();
      if (signature !== this.dataSignature) {
        this.dataSignature = signature;
        this.propose(
          `new data in ${retrain.data.map((entry) => path.relative(this.deployment.root, entry)).join(', ')}`,
          null,
        );
      }
    }
    if (this.running) return;
    const approved = retrainsIn(this.deployment.store.db, this.deployment.spec.name, ['approved'])[0];
    if (!approved) return;
    this.running = this.run(approved).finally(() => {
      this.running = null;
    });
  }

  /** Waits for a running retrain (stop waits for nothing: the child is killed with the group). */
  get busy(): boolean {
    return this.running !== null;
  }

  private async run(retrain: RetrainRecord): Promise<void> {
    const db = this.deployment.store.db;
    const experiment = path.resolve(this.deployment.root, retrain.experiment);
    updateRetrain(db, retrain.id, { status: 'running', startedAt: this.now() });
    this.deployment.event('retrain', `retrain #${retrain.id} started: cairn exp run ${retrain.experiment}`, null, {
      retrain: retrain.id,
    });
    const [node, cli] = this.options.cli;
    let outcome: { code: number | null; end: SweepEnd | null; stderr: string };
    try {
      outcome = await runExperiment(node ?? process.execPath, cli ?? '', experiment, this.deployment.root);
    } catch (error) {
      outcome = { code: null, end: null, stderr: describeError(error) };
    }
    const end = outcome.end;
    const now = this.now();
    if (outcome.code !== 0 || !end || end.status !== 'succeeded') {
      const message = `the experiment ${end ? end.status : 'failed'}${outcome.stderr ? `: ${lastLine(outcome.stderr)}` : ''}`;
      updateRetrain(db, retrain.id, { status: 'failed', message, endedAt: now, runId: end?.sweepRunId ?? null });
      this.deployment.event('retrain', `retrain #${retrain.id} failed: ${message}`, null, { retrain: retrain.id });
      return;
    }
    if (!end.registered) {
      const message = end.notRegistered ?? 'the best trial was not registered';
      updateRetrain(db, retrain.id, { status: 'gated-out', message, endedAt: now, runId: end.sweepRunId });
      this.deployment.event('retrain', `retrain #${retrain.id} gated out: ${message}`, null, { retrain: retrain.id });
      return;
    }
    const { model, version } = end.registered;
    const candidate = this.deployment.spec.rollout.candidate;
    const followed = candidate?.alias !== null && candidate?.name === model && end.registered.alias === candidate.alias;
    const message = followed
      ? `registered ${model}:${version} as @${end.registered.alias ?? ''}; rolled out as ${this.deployment.spec.rollout.strategy}`
      : `registered ${model}:${version}${end.registered.alias ? ` as @${end.registered.alias}` : ''}; the deployment's candidate (${candidate?.ref ?? 'none'}) does not follow it, so nothing was rolled out`;
    updateRetrain(db, retrain.id, {
      status: followed ? 'rolled-out' : 'registered',
      model,
      version,
      runId: end.sweepRunId,
      message,
      endedAt: now,
    });
    this.deployment.event('retrain', `retrain #${retrain.id}: ${message}`, null, { retrain: retrain.id });
    if (followed) await this.deployment.reconcile(`retrain #${retrain.id}`);
  }

  /** Sizes and modification times of the data files (folders walked), as one string. */
  private readDataSignature(): string {
    const retrain = this.deployment.spec.monitoring.retrain;
    if (!retrain) return '';
    const parts: string[] = [];
    const visit = (entry: string, depth: number): void => {
      let stat: fs.Stats;
      try {
        stat = fs.statSync(entry);
      } catch {
        parts.push(`${entry}:missing`);
        return;
      }
      if (stat.isDirectory() && depth < 8) {
        for (const child of fs.readdirSync(entry).sort()) visit(path.join(entry, child), depth + 1);
      } else parts.push(`${entry}:${stat.size}:${stat.mtimeMs}`);
    };
    for (const entry of retrain.data) visit(entry, 0);
    return parts.join('\n');
  }
}

interface SweepEnd {
  event: 'sweep-end';
  sweepRunId: string;
  status: string;
  registered: { model: string; version: number; status: string; alias?: string } | null;
  notRegistered?: string;
}

/** Runs `cairn exp run FILE --json` in the workspace; the last `sweep-end` event is its result. */
function runExperiment(
  node: string,
  cli: string,
  experiment: string,
  root: string,
): Promise<{ code: number | null; end: SweepEnd | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env['ELECTRON_RUN_AS_NODE'];
    const child = spawn(node, [cli, 'exp', 'run', experiment, '--json', '--workspace', root], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-8000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      let end: SweepEnd | null = null;
      for (const line of stdout.split('\n')) {
        try {
          const event = JSON.parse(line) as { event?: string };
          if (event.event === 'sweep-end') end = event as SweepEnd;
        } catch {
          // Not an event line.
        }
      }
      resolve({ code, end, stderr });
    });
  });
}

/** The line of a failed command's stderr that says why: its `cairn:` message, else the first error line. */
function lastLine(text: string): string {
  const lines = text
    .trim()
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const said = lines.filter((line) => line.startsWith('cairn:'));
  return said[said.length - 1] ?? lines.find((line) => /Error\b/.test(line)) ?? lines[lines.length - 1] ?? '';
}
