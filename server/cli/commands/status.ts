// `cairn status [PIPELINE_FILE...]`: per stage, up to date or changed and why.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PipelineError } from '../../engine/runner';
import { pipelineStatus } from '../../engine/status';
import { rejectUnknownOptions, UsageError } from '../args';
import type { Command } from '../args';

const SYMBOLS: Record<string, string> = {
  'up-to-date': 'ok     ',
  changed: 'changed',
  'never-run': 'new    ',
  running: 'running',
  failed: 'failed ',
  cancelled: 'stopped',
  frozen: 'frozen ',
};

export const statusCommand: Command = {
  usage: ['status [PIPELINE_FILE...]      Say, per stage, whether it is up to date, and if not, why.'],
  async run({ root, json, args }) {
    rejectUnknownOptions(args);
    const files = args.map((arg) => {
      const absolute = path.resolve(arg);
      if (!fs.existsSync(absolute)) throw new UsageError(`${arg}: no such file.`);
      return absolute;
    });
    let reports;
    try {
      reports = await pipelineStatus(root, files);
    } catch (error) {
      if (error instanceof PipelineError) throw new UsageError(error.message);
      throw error;
    }
    if (json) {
      process.stdout.write(`${JSON.stringify({ pipelines: reports }, null, 2)}\n`);
      return 0;
    }
    for (const report of reports) {
      process.stdout.write(`${report.file}\n`);
      for (const problem of report.problems) process.stdout.write(`  error   ${problem}\n`);
      for (const stage of report.stages) {
        const why = stage.reasons.length > 0 ? `: ${stage.reasons.join('; ')}` : '';
        process.stdout.write(`  ${SYMBOLS[stage.state] ?? stage.state} ${stage.name}${why}\n`);
      }
    }
    if (reports.length === 0) process.stdout.write('No pipeline in this workspace.\n');
    return 0;
  },
};
