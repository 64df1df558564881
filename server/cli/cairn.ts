// The `cairn` command line: a front end over the engine. Each command lives in commands/ and is
// listed in COMMANDS; bad usage exits with 2, failed work with 1.
import * as path from 'node:path';
import { version } from '../../package.json';
import { takeFlag, takeOption, UsageError } from './args';
import type { Command } from './args';
import { gcCommand } from './commands/gc';
import { lineageCommand } from './commands/lineage';
import { modelsCommand } from './commands/models';
import { runCommand } from './commands/run';
import { statusCommand } from './commands/status';
import { dataCommand } from './commands/data';
import { deployCommand } from './commands/deploy';
import { expCommand } from './commands/exp';
import { exportCommand } from './commands/export';
import { monitorCommand } from './commands/monitor';
import { scoreCommand } from './commands/score';
import { validateCommand } from './commands/validate';
import { WORKER_ARGUMENT } from '../engine/serving/protocol';
import { runWorker } from '../engine/serving/worker';
import { MONITOR_ARGUMENT, runMonitorProcess } from '../engine/monitor/monitorProcess';
import { LOG_WRITER_ARGUMENT, runLogWriterThread } from '../engine/monitor/logWriter';

const COMMANDS: Record<string, Command> = {
  validate: validateCommand,
  data: dataCommand,
  run: runCommand,
  status: statusCommand,
  lineage: lineageCommand,
  gc: gcCommand,
  exp: expCommand,
  models: modelsCommand,
  export: exportCommand,
  score: scoreCommand,
  deploy: deployCommand,
  monitor: monitorCommand,
};

function usage(): string {
  const lines = Object.values(COMMANDS).flatMap((command) => command.usage.map((line) => `  ${line}`));
  return `Usage: cairn <command> [options]

Commands:
${lines.join('\n')}
  help                          Show this help.

Options for every command:
  --workspace DIR               The workspace root (default: the current directory).
  --json                        Machine-readable output.
  --version                     Print the version.
`;
}

async function main(argv: string[]): Promise<number> {
  const args = [...argv];
  // Hidden: a model worker of a deployment's server (forked by serving/modelHost.ts), not a command.
  if (args[0] === WORKER_ARGUMENT) return runWorker();
  // Hidden: the monitor process of a deployment's server (forked by monitor/monitorProcess.ts).
  if (args[0] === MONITOR_ARGUMENT) return runMonitorProcess();
  // Hidden: the prediction log's writer thread of a deployment's server (monitor/logWriter.ts).
  if (args[0] === LOG_WRITER_ARGUMENT) return runLogWriterThread();
  if (args[0] === '--version' || args[0] === 'version') {
    process.stdout.write(`${version}\n`);
    return 0;
  }
  const name = args.shift();
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  try {
    if (!command) throw new UsageError(`Unknown command '${name}'.`);
    const json = takeFlag(args, '--json');
    const root = path.resolve(takeOption(args, '--workspace') ?? process.cwd());
    return await command.run({ root, json, args });
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`cairn: ${error.message}\nRun 'cairn help' for usage.\n`);
      return 2;
    }
    throw error;
  }
}

// When whoever reads our output goes away (`| head`, an editor window reloading), the work goes on
// and is recorded in the store; only the writing stops.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `cairn: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
