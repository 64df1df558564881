// `cairn validate [PATH...] [--json]`: checks specs with the same analysis the language server runs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Analyzer } from '../../spec/analyze';
import type { Problem } from '../../spec/problems';
import { specKindOf } from '../../spec/schemas';
import { LineIndex } from '../../spec/text';
import { Workspace } from '../../spec/workspace';
import { rejectUnknownOptions, UsageError } from '../args';
import type { Command } from '../args';

/** A problem with its file and 1-based line and column, as printed and as in --json. */
interface Reported {
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  severity: Problem['severity'];
  code: string;
  message: string;
}

export const validateCommand: Command = {
  usage: [
    'validate [PATH...] [--json]   Check pipeline, experiment and deployment specs (default: the whole',
    '                              workspace). Exit code 1 when any spec has an error.',
  ],
  run({ root, json, args }) {
    rejectUnknownOptions(args);
    return validate(root, args, json);
  },
};

function validate(root: string, targets: string[], json: boolean): number {
  const workspace = new Workspace(root);
  const analyzer = new Analyzer(workspace);
  let files: string[];
  if (targets.length === 0) files = workspace.specs();
  else {
    files = [];
    for (const target of targets) {
      const absolutePath = path.resolve(target);
      if (!fs.existsSync(absolutePath))
        throw new UsageError(
          `${target}: no such file. Give a pipeline.yaml, dvc.yaml, *.experiment.yaml or *.deploy.yaml.`,
        );
      if (specKindOf(absolutePath) === null)
        throw new UsageError(
          `${target}: not a Cairn spec. Cairn reads dvc.yaml, pipeline.yaml, *.pipeline.yaml, *.experiment.yaml, *.deploy.yaml and params.yaml.`,
        );
      files.push(absolutePath);
    }
  }
  const reported: Reported[] = [];
  for (const file of files) {
    const text = workspace.text(file) ?? '';
    const lines = new LineIndex(text);
    for (const problem of analyzer.diagnose(file)) {
      const start = lines.position(problem.start);
      const end = lines.position(problem.end);
      reported.push({
        file: path.relative(process.cwd(), file) || file,
        line: start.line + 1,
        column: start.character + 1,
        endLine: end.line + 1,
        endColumn: end.character + 1,
        severity: problem.severity,
        code: problem.code,
        message: problem.message,
      });
    }
  }
  const errors = reported.filter((problem) => problem.severity === 'error').length;
  if (json)
    process.stdout.write(
      `${JSON.stringify({ files: files.map((file) => path.relative(process.cwd(), file) || file), problems: reported, errors }, null, 2)}\n`,
    );
  else {
    for (const problem of reported)
      process.stdout.write(
        `${problem.file}:${problem.line}:${problem.column}: ${problem.severity} [${problem.code}] ${problem.message}\n`,
      );
    const warnings = reported.length - errors;
    process.stdout.write(
      `${files.length} spec file${files.length === 1 ? '' : 's'} checked: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'} or note${warnings === 1 ? '' : 's'}.\n`,
    );
  }
  return errors > 0 ? 1 : 0;
}
