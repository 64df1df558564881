// `cairn exp run EXPERIMENT_FILE`: runs (or resumes) the sweep an experiment file declares, one line
// per trial, then the best trial, the effect of each param and what was registered. Ctrl-C stops
// the running trials; running the same command again resumes the sweep.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatGateReport } from '../../engine/gates/evaluate';
import { PipelineError } from '../../engine/runner';
import { ExperimentSpecError } from '../../engine/sweep/spec';
import { runSweep, SweepBusy } from '../../engine/sweep/sweep';
import type { SweepEvent } from '../../engine/sweep/sweep';
import type { Params } from '../../engine/tune/space';
import { RunLockBusy } from '../../engine/runLock';
import { specKindOf } from '../../spec/schemas';
import { rejectUnknownOptions, takeFlag, takeOption, UsageError } from '../args';
import type { CommandContext } from '../args';

export const SWEEP_USAGE = [
  'exp run EXPERIMENT_FILE [--trials N] [--parallel N] [--jobs N] [--restart] [--keep] [--json]',
  "                              Run the experiment's sweep (resuming an interrupted one), register the best.",
];

function positive(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new UsageError(`${name} needs a whole number of at least 1, got '${text}'.`);
  return value;
}

export async function sweepCommand(context: CommandContext): Promise<number> {
  const { args, json, root } = context;
  const trials = positive('--trials', takeOption(args, '--trials'));
  const parallel = positive('--parallel', takeOption(args, '--parallel'));
  const jobs = positive('--jobs', takeOption(args, '--jobs') ?? takeOption(args, '-j'));
  const restart = takeFlag(args, '--restart');
  const keep = takeFlag(args, '--keep');
  rejectUnknownOptions(args);
  if (args.length !== 1) throw new UsageError('exp run needs one experiment file (NAME.experiment.yaml).');
  const file = path.resolve(args[0] ?? '');
  if (specKindOf(file) !== 'experiment')
    throw new UsageError(`${args[0] ?? ''}: not an experiment file (its name must end in .experiment.yaml).`);
  if (!fs.existsSync(file)) throw new UsageError(`${args[0] ?? ''}: no such file.`);
  const relative = path.relative(root, file);
  if (relative.startsWith('..') || path.isAbsolute(relative))
    throw new UsageError(`${args[0] ?? ''}: the experiment file is outside the workspace ${root}.`);

  const controller = new AbortController();
  const stop = (): void => {
    if (!controller.signal.aborted && !json)
      process.stderr.write('\ncairn: stopping the running trials; run the same command again to resume.\n');
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const result = await runSweep({
      root,
      file,
      ...(trials !== undefined ? { trials } : {}),
      ...(parallel !== undefined ? { parallel } : {}),
      ...(jobs !== undefined ? { jobs } : {}),
      restart,
      keep,
      signal: controller.signal,
      onEvent: json ? (event) => process.stdout.write(`${JSON.stringify(event)}\n`) : printer(),
    });
    return result.status === 'succeeded' ? 0 : result.status === 'cancelled' ? 130 : 1;
  } catch (error) {
    if (
      error instanceof ExperimentSpecError ||
      error instanceof PipelineError ||
      error instanceof SweepBusy ||
      error instanceof RunLockBusy
    )
      throw new UsageError(error.message);
    throw error;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

const STOPPED: Record<Extract<SweepEvent, { event: 'sweep-end' }>['stoppedBy'], string> = {
  trials: 'trial budget spent',
  time: 'time budget spent',
  exhausted: 'grid exhausted',
  failures: 'every trial failed; fix the pipeline and run again',
  cancelled: 'cancelled; run the same command to resume',
};

function formatValue(value: unknown): string {
  if (typeof value === 'number' && !Number.isInteger(value)) return String(Number(value.toPrecision(4)));
  return String(value);
}

function formatParams(params: Params): string {
  return Object.entries(params)
    .map(([key, value]) => `${key}=${formatValue(value)}`)
    .join(' ');
}

function printer(): (event: SweepEvent) => void {
  let budget: number | null = null;
  let objective = 'objective';
  let best: { number: number; value: number } | undefined;
  let direction = 1;
  return (event) => {
    const out = (text: string): boolean => process.stdout.write(`${text}\n`);
    switch (event.event) {
      case 'sweep-start':
        budget = event.trials;
        if (event.objective) {
          objective = event.objective.metric;
          direction = event.objective.direction === 'minimize' ? -1 : 1;
        }
        out(
          `${event.resumed ? 'Resuming' : 'Starting'} sweep ${event.sweepRunId.slice(0, 8)} of ${event.experiment}: ${event.strategy}, ${budget ?? 'time-bound'} trials, ${event.parallel} at a time${event.resumed ? `, ${event.finished} already finished` : ''}.`,
        );
        break;
      case 'trial-start':
        out(
          `  trial ${event.number}${budget !== null ? `/${budget}` : ''} started: ${formatParams(event.params) || '(params as they are)'}`,
        );
        break;
      case 'trial-end': {
        const seconds = (event.durationMs / 1000).toFixed(1);
        if (event.state === 'complete' && event.value !== null) {
          if (best === undefined || direction * (event.value - best.value) > 0)
            best = { number: event.number, value: event.value };
          out(
            `  trial ${event.number} complete in ${seconds} s: ${objective} = ${formatValue(event.value)} (best ${formatValue(best.value)}, trial ${best.number})`,
          );
        } else if (event.state === 'interrupted') {
          out(`  trial ${event.number} interrupted; it runs again when the sweep resumes.`);
        } else {
          out(`  trial ${event.number} ${event.state} after ${seconds} s${event.reason ? `: ${event.reason}` : ''}`);
        }
        break;
      }
      case 'warning':
        process.stderr.write(`cairn: warning: ${event.message}\n`);
        break;
      case 'sweep-end': {
        const counts = Object.entries(event.counts)
          .filter(([, count]) => count > 0)
          .map(([state, count]) => `${count} ${state}`)
          .join(', ');
        out(
          `Sweep ${event.sweepRunId.slice(0, 8)} ${event.status} (${STOPPED[event.stoppedBy]}): ${counts || 'no trials'}.`,
        );
        if (event.best) {
          out(
            `Best: trial ${event.best.number} (run ${event.best.runId?.slice(0, 8) ?? '?'}), ${objective} = ${formatValue(event.best.value)}`,
          );
          if (Object.keys(event.best.params).length > 0) out(`  ${formatParams(event.best.params)}`);
        }
        const effects = Object.entries(event.importance).sort((a, b) => b[1] - a[1]);
        if (effects.length > 0 && event.counts.complete > 1) {
          out('Effect of each param (share of the explained spread of the objective):');
          const width = Math.max(...effects.map(([key]) => key.length));
          for (const [key, share] of effects)
            out(
              `  ${key.padEnd(width)}  ${'#'.repeat(Math.round(share * 30)).padEnd(30)} ${(share * 100).toFixed(0)}%`,
            );
        }
        if (event.gate) out(formatGateReport(event.gate, 'Gate of the best trial'));
        if (event.registered)
          out(
            `Registered ${event.registered.model} v${event.registered.version}${event.registered.status === 'existing' ? ' (the same model was registered before)' : ''}${event.registered.alias ? `, alias ${event.registered.alias}` : ''}.`,
          );
        else if (event.notRegistered) out(`Not registered: ${event.notRegistered}.`);
        break;
      }
    }
  };
}
