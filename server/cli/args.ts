// Small helpers every `cairn` command uses to read its arguments and to fail with a usage error.

/** What every command receives: its own arguments and the options common to all commands. */
export interface CommandContext {
  /** The workspace root (`--workspace DIR`, default: the current directory). */
  root: string;
  /** `--json`: print machine-readable output. */
  json: boolean;
  /** The arguments after the command name, with the common options removed. */
  args: string[];
}

export interface Command {
  /** One line per usage form, shown by `cairn help`. */
  usage: string[];
  run(context: CommandContext): number | Promise<number>;
}

/** Thrown for bad input or usage; the CLI prints the message and exits with 2. */
export class UsageError extends Error {}

/** Removes `flag` from args and says whether it was there. */
export function takeFlag(args: string[], flag: string): boolean {
  const index = args.indexOf(flag);
  if (index === -1) return false;
  args.splice(index, 1);
  return true;
}

/** Removes `--name VALUE` (or `--name=VALUE`) from args; undefined when absent. */
export function takeOption(args: string[], name: string): string | undefined {
  const inline = args.findIndex((arg) => arg.startsWith(`${name}=`));
  if (inline !== -1) {
    const value = (args[inline] ?? '').slice(name.length + 1);
    args.splice(inline, 1);
    return value;
  }
  const index = args.indexOf(name);
  if (index === -1) return undefined;
  const value = args[index + 1];
  if (value === undefined || value.startsWith('-')) throw new UsageError(`${name} needs a value.`);
  args.splice(index, 2);
  return value;
}

/** Fails on any option left over once a command took the ones it knows. */
export function rejectUnknownOptions(args: string[]): void {
  const unknown = args.find((arg) => arg.startsWith('-') && arg !== '-');
  if (unknown) throw new UsageError(`Unknown option '${unknown}'.`);
}
