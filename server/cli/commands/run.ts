// `cairn run [PIPELINE_FILE] [STAGE...]`: runs a pipeline with caching and parallel stages.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatGateReport } from '../../engine/gates/evaluate';
import { PipelineError, runPipeline } from '../../engine/runner';
import type { RunEvent } from '../../engine/runner';
import { RunLockBusy } from '../../engine/runLock';
import { specKindOf } from '../../spec/schemas';
import { rejectUnknownOptions, takeFlag, takeOption, UsageError } from '../args';
import type { Command } from '../args';

export const runCommand: Command = {
  usage: [
    'run [PIPELINE_FILE] [STAGE...] [--jobs N] [--force] [--dry-run] [--keep-going] [--downstream] [--wait]',
    '                              Run the stages that changed, in dependency order, in parallel.',
  ],
  async run({ root, json, args }) {
    const jobsText = takeOption(args, '--jobs') ?? takeOption(args, '-j');
    const force = takeFlag(args, '--force') || takeFlag(args, '-f');
    const dryRun = takeFlag(args, '--dry-run');
    const keepGoing = takeFlag(args, '--keep-going');
    const downstream = takeFlag(args, '--downstream');
    const wait = takeFlag(args, '--wait');
    rejectUnknownOptions(args);
    let jobs: number | undefined;
    if (jobsText !== undefined) {
      jobs = Number(jobsText);
      if (!Number.isInteger(jobs) || jobs < 1)
        throw new UsageError(`--jobs needs a whole number of at least 1, got '${jobsText}'.`);
    }
    let pipelineFile: string | undefined;
    const first = args[0];
    if (first !== undefined && (specKindOf(first) === 'pipeline' || /\.ya?ml$/.test(first))) {
      pipelineFile = path.resolve(first);
      if (specKindOf(pipelineFile) !== 'pipeline')
        throw new UsageError(`${first}: not a pipeline file (dvc.yaml, pipeline.yaml or *.pipeline.yaml).`);
      if (!fs.existsSync(pipelineFile)) throw new UsageError(`${first}: no such file.`);
      args.shift();
    }
    const controller = new AbortController();
    const stop = (): void => {
      if (!controller.signal.aborted && !json) process.stderr.write('\ncairn: stopping the running stages...\n');
      controller.abort();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    const print = json ? printJson : printHuman(jobs !== 1);
    try {
      const result = await runPipeline({
        root,
        pipelineFile,
        targets: args,
        ...(jobs !== undefined ? { jobs } : {}),
        force,
        dryRun,
        keepGoing,
        downstream,
        waitMs: wait ? 24 * 3600 * 1000 : 0,
        signal: controller.signal,
        onEvent: print,
        argv: process.argv.slice(2),
      });
      return result.status === 'succeeded' ? 0 : result.status === 'cancelled' ? 130 : 1;
    } catch (error) {
      if (error instanceof PipelineError || error instanceof RunLockBusy) throw new UsageError(error.message);
      throw error;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
};

function printJson(event: RunEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function printHuman(prefix: boolean): (event: RunEvent) => void {
  return (event) => {
    switch (event.event) {
      case 'plan': {
        const toRun = event.stages.filter((stage) => stage.action !== 'skip');
        if (toRun.length === 0) process.stdout.write('Everything is up to date.\n');
        for (const stage of event.stages)
          process.stdout.write(
            `${stage.action === 'skip' ? '  skip   ' : stage.action === 'restore' ? '  restore' : '  run    '} ${stage.name}: ${stage.reason}\n`,
          );
        break;
      }
      case 'warning':
        process.stderr.write(`cairn: warning: ${event.message}\n`);
        break;
      case 'model':
        process.stdout.write(`${event.message}\n`);
        if (event.status === 'refused' && event.report)
          process.stdout.write(`${formatGateReport(event.report, `Gate for ${event.model}`)}\n`);
        break;
      case 'stage-start':
        process.stdout.write(`Running stage '${event.stage}' (log: ${path.relative(process.cwd(), event.logPath)})\n`);
        break;
      case 'output':
        (event.stream === 'stderr' ? process.stderr : process.stdout).write(
          `${prefix ? `[${event.stage}] ` : ''}${event.text}\n`,
        );
        break;
      case 'stage-end': {
        const seconds = (event.durationMs / 1000).toFixed(1);
        if (event.status === 'succeeded') process.stdout.write(`Stage '${event.stage}' succeeded in ${seconds} s.\n`);
        else if (event.status === 'restored')
          process.stdout.write(`Stage '${event.stage}' restored from the cache: ${event.reason}.\n`);
        else if (event.status === 'skipped') process.stdout.write(`Stage '${event.stage}' is up to date.\n`);
        else if (event.status === 'blocked') process.stdout.write(`Stage '${event.stage}' not run: ${event.reason}.\n`);
        else if (event.status === 'cancelled') process.stdout.write(`Stage '${event.stage}' cancelled.\n`);
        else {
          process.stderr.write(`Stage '${event.stage}' failed: ${event.reason}.\n`);
          if (event.tail.length > 0)
            process.stderr.write(`Last lines of its log:\n${event.tail.map((line) => `  ${line}`).join('\n')}\n`);
        }
        break;
      }
      case 'run-end': {
        const counts = Object.entries(event.counts)
          .map(([status, count]) => `${count} ${status}`)
          .join(', ');
        process.stdout.write(
          `Run ${event.runId} ${event.status} in ${(event.durationMs / 1000).toFixed(1)} s${counts ? `: ${counts}` : ''}.\n`,
        );
        break;
      }
    }
  };
}
