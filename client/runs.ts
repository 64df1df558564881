// Pipeline runs from the editor. A run is the `cairn run` CLI in its own Node.js process (setting
// `cairn.nodePath`), never work inside the extension host: the host only reads the JSON Lines the
// CLI prints and shows them as a progress notification, a status bar item and the "Cairn Runs"
// output. Cancelling sends SIGINT, on which the CLI stops its stages and records them cancelled.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as readline from 'node:readline';
import * as vscode from 'vscode';
import { readConfig } from './config';

/** The last lines of a failed stage shown in the error message (the rest is in its log). */
const TAIL_LINES = 3;

/** A stage's outcome as `cairn run` reports it in `stage-end`. */
export type StageOutcome = 'succeeded' | 'failed' | 'cancelled' | 'skipped' | 'restored' | 'blocked';

/** One JSON Lines event of `cairn run --json`. */
export type RunEvent =
  | {
      event: 'plan';
      runId: string;
      pipeline?: string;
      stages: { name: string; action: 'run' | 'skip' | 'restore'; reason?: string }[];
    }
  | { event: 'stage-start'; stage: string; logPath?: string }
  | { event: 'output'; stage: string; stream: 'stdout' | 'stderr'; text: string }
  | { event: 'warning'; message: string }
  | {
      event: 'model';
      model: string;
      status: 'registered' | 'existing' | 'refused' | 'failed';
      version: number | null;
      message: string;
    }
  | {
      event: 'stage-end';
      stage: string;
      status: StageOutcome;
      exitCode: number | null;
      durationMs?: number;
      tail?: string[];
    }
  | {
      event: 'run-end';
      runId: string;
      status: 'succeeded' | 'failed' | 'cancelled';
      counts?: Record<string, number>;
      durationMs?: number;
    };

/** What to run: a pipeline file (workspace-relative) or every pipeline, and optionally some stages. */
export interface RunRequest {
  folder: vscode.WorkspaceFolder;
  /** Workspace-relative pipeline file, '/' separators; undefined runs every pipeline. */
  file?: string;
  stages: string[];
  force?: boolean;
  downstream?: boolean;
}

/** The command line that starts the CLI: the configured Node.js and the bundled `cairn.js`. */
function cliCommand(extensionUri: vscode.Uri, args: string[]): { command: string; args: string[] } {
  return {
    command: readConfig().nodePath,
    args: [vscode.Uri.joinPath(extensionUri, 'dist', 'cli', 'cairn.js').fsPath, ...args],
  };
}

/** The environment of a CLI process: the extension host's, without Electron's "run as Node" switch. */
function cliEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['ELECTRON_RUN_AS_NODE'];
  return env;
}

/** A message that says what failed starting the CLI and what to do about it. */
function startFailure(error: Error, nodePath: string): string {
  const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
  return missing
    ? `Cairn could not start Node.js '${nodePath}'. Set cairn.nodePath to a Node.js 20+ executable.`
    : `Cairn could not start its command line with '${nodePath}': ${error.message}`;
}

/**
 * Runs a read-only CLI command (`status`, `lineage`) with `--json --workspace ROOT` and returns
 * its parsed output; rejects with the CLI's own message when it exits non-zero.
 */
export function cairnJson<T>(
  extensionUri: vscode.Uri,
  folder: vscode.WorkspaceFolder,
  args: string[],
  token?: vscode.CancellationToken,
): Promise<T> {
  const { command, args: argv } = cliCommand(extensionUri, [...args, '--json', '--workspace', folder.uri.fsPath]);
  return new Promise<T>((resolve, reject) => {
    const child = spawn(command, argv, {
      cwd: folder.uri.fsPath,
      env: cliEnvironment(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const cancel = token?.onCancellationRequested(() => child.kill());
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      cancel?.dispose();
      reject(new Error(startFailure(error, command)));
    });
    child.on('close', (code) => {
      cancel?.dispose();
      const errorText = Buffer.concat(stderr).toString().trim();
      if (code !== 0) {
        reject(new Error(errorText || `'cairn ${args[0]}' exited with code ${String(code)}.`));
        return;
      }
      try {
        resolve(JSON.parse(Buffer.concat(stdout).toString()) as T);
      } catch {
        reject(new Error(`'cairn ${args[0]}' printed output that is not JSON. ${errorText}`.trim()));
      }
    });
  });
}

/** What the editor knows of the run going on, for the Pipelines view. */
export interface LiveRun {
  /** The pipeline file the run is for (from its plan), or null for every pipeline. */
  pipeline: string | null;
  /** Stage name (as the CLI prints it) to its state: running, or how it ended in this run. */
  stages: ReadonlyMap<string, 'running' | StageOutcome>;
}

/** Bookkeeping of one `cairn run` process. */
class ActiveRun {
  pipeline: string | null = null;
  readonly stages = new Map<string, 'running' | StageOutcome>();
  readonly logPaths = new Map<string, string>();
  readonly failures: Extract<RunEvent, { event: 'stage-end' }>[] = [];
  readonly stderr: string[] = [];
  toRun = 0;
  started = 0;
  end: Extract<RunEvent, { event: 'run-end' }> | null = null;
  stopRequests = 0;

  constructor(
    readonly child: ChildProcess,
    readonly title: string,
  ) {}
}

/** Starts, follows and stops pipeline runs; one at a time per window. */
export class Runs implements vscode.Disposable {
  readonly output = vscode.window.createOutputChannel('Cairn Runs', { log: true });
  private current: ActiveRun | null = null;
  private readonly statusItem = vscode.window.createStatusBarItem('cairn.run', vscode.StatusBarAlignment.Left, 9);
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when a stage starts or ends and when a run ends. */
  readonly onDidChange = this.changed.event;
  private readonly finished = new vscode.EventEmitter<void>();
  /** Fires when a run process has exited. */
  readonly onDidFinish = this.finished.event;
  /** Where each stage's last log is, from the runs of this window (the CLI's status has older ones). */
  readonly logPaths = new Map<string, string>();

  constructor(private readonly extensionUri: vscode.Uri) {
    this.statusItem.name = 'Cairn Run';
    this.statusItem.command = 'cairn.showRunOutput';
  }

  /** The run going on, or null. */
  get live(): LiveRun | null {
    return this.current ? { pipeline: this.current.pipeline, stages: this.current.stages } : null;
  }

  /** Runs a pipeline (or some of its stages) and reports the outcome; resolves when the run has ended. */
  async run(request: RunRequest): Promise<void> {
    if (!vscode.workspace.isTrusted) {
      const choice = await vscode.window.showWarningMessage(
        'Cairn runs pipeline stages only in a trusted workspace: their commands are code from this folder. Trust the folder to run them.',
        'Manage Workspace Trust',
      );
      if (choice) await vscode.commands.executeCommand('workbench.trust.manage');
      return;
    }
    if (this.current) {
      const choice = await vscode.window.showWarningMessage(
        `Cairn is already running ${this.current.title}. Stop it, or wait for it to end.`,
        'Stop Run',
        'Show Output',
      );
      if (choice === 'Stop Run') this.stop();
      if (choice === 'Show Output') this.output.show(true);
      return;
    }
    const what = request.stages.length
      ? `${request.stages.length === 1 ? 'stage' : 'stages'} ${request.stages.join(', ')}`
      : (request.file ?? 'every pipeline');
    const title = request.stages.length && request.file ? `${what} of ${request.file}` : what;
    const args = [
      'run',
      ...(request.file ? [request.file] : []),
      ...request.stages,
      ...(request.force ? ['--force'] : []),
      ...(request.downstream ? ['--downstream'] : []),
      '--json',
      '--workspace',
      request.folder.uri.fsPath,
    ];
    const cli = cliCommand(this.extensionUri, args);
    this.output.info(`Running ${title}: ${cli.command} ${cli.args.join(' ')}`);
    // Its own process group: the run is not the editor's work, and a signal meant for the extension
    // host does not reach it. SIGINT from "Stop" is sent to the CLI alone, which stops its stages.
    const child = spawn(cli.command, cli.args, {
      cwd: request.folder.uri.fsPath,
      env: cliEnvironment(),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const run = new ActiveRun(child, title);
    this.current = run;
    void vscode.commands.executeCommand('setContext', 'cairn.runActive', true);
    this.showStatus(run, 'starting');
    this.changed.fire();

    const exit = new Promise<{ code: number | null; error: Error | null }>((resolve) => {
      child.on('error', (error) => resolve({ code: null, error }));
      child.on('close', (code) => resolve({ code, error: null }));
    });
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Cairn: running ${title}`, cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => this.stop());
        readline.createInterface({ input: child.stderr }).on('line', (line) => {
          run.stderr.push(line);
          this.output.warn(line);
          // Before the plan, stderr says why the run has not started (another run holds the workspace).
          if (run.toRun === 0 && !run.end) progress.report({ message: line });
        });
        readline.createInterface({ input: child.stdout }).on('line', (line) => {
          const event = parseEvent(line);
          if (!event) {
            if (line.trim()) this.output.info(line);
            return;
          }
          this.handle(run, event, progress);
        });
        await exit;
      },
    );
    const { code, error } = await exit;
    this.current = null;
    this.statusItem.hide();
    void vscode.commands.executeCommand('setContext', 'cairn.runActive', false);
    this.changed.fire();
    this.finished.fire();
    await this.reportOutcome(run, code, error);
  }

  /** Asks the run going on to stop (SIGINT); a second request terminates it (SIGTERM). */
  stop(): void {
    const run = this.current;
    if (!run) {
      void vscode.window.showInformationMessage('No Cairn run is going on in this window.');
      return;
    }
    run.stopRequests++;
    this.output.info(run.stopRequests === 1 ? 'Stopping the run (SIGINT)' : 'Terminating the run (SIGTERM)');
    run.child.kill(run.stopRequests === 1 ? 'SIGINT' : 'SIGTERM');
    this.showStatus(run, 'stopping');
  }

  private handle(
    run: ActiveRun,
    event: RunEvent,
    progress: vscode.Progress<{ message?: string; increment?: number }>,
  ): void {
    switch (event.event) {
      case 'plan': {
        run.pipeline = event.pipeline ?? null;
        run.toRun = event.stages.filter((stage) => stage.action === 'run').length;
        for (const stage of event.stages)
          this.output.info(`plan: ${stage.name}: ${stage.action}${stage.reason ? ` (${stage.reason})` : ''}`);
        progress.report({ message: run.toRun ? `${run.toRun} to run` : 'nothing to run' });
        break;
      }
      case 'stage-start': {
        run.started++;
        run.stages.set(event.stage, 'running');
        if (event.logPath) {
          run.logPaths.set(event.stage, event.logPath);
          this.logPaths.set(event.stage, event.logPath);
        }
        const position = `${event.stage} (${run.started}/${Math.max(run.toRun, run.started)})`;
        this.output.info(`${event.stage}: started${event.logPath ? `, log ${event.logPath}` : ''}`);
        progress.report({ message: position });
        this.showStatus(run, position);
        this.changed.fire();
        break;
      }
      case 'output':
        this.output.info(`[${event.stage}${event.stream === 'stderr' ? ' stderr' : ''}] ${event.text}`);
        break;
      case 'stage-end': {
        run.stages.set(event.stage, event.status);
        if (event.status === 'failed') run.failures.push(event);
        const duration = event.durationMs === undefined ? '' : ` in ${formatDuration(event.durationMs)}`;
        const exitCode = event.exitCode === null ? '' : ` (exit code ${event.exitCode})`;
        const line = `${event.stage}: ${event.status}${exitCode}${duration}`;
        if (event.status === 'failed') this.output.error(line);
        else this.output.info(line);
        if (event.status === 'succeeded' || event.status === 'failed') {
          progress.report({ increment: run.toRun ? 100 / run.toRun : 0 });
        }
        this.changed.fire();
        break;
      }
      case 'warning':
        this.output.warn(event.message);
        break;
      case 'model':
        // A model the pipeline declares was judged by its gate: registered, or refused with why.
        if (event.status === 'registered' || event.status === 'existing') this.output.info(event.message);
        else this.output.warn(event.message);
        if (event.status !== 'existing') {
          const show =
            event.status === 'registered' ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
          void show(event.message);
        }
        this.changed.fire();
        break;
      case 'run-end':
        run.end = event;
        this.output.info(
          `run ${event.runId}: ${event.status}${event.durationMs === undefined ? '' : ` in ${formatDuration(event.durationMs)}`}` +
            (event.counts
              ? ` (${Object.entries(event.counts)
                  .map(([key, value]) => `${value} ${key}`)
                  .join(', ')})`
              : ''),
        );
        break;
    }
  }

  private showStatus(run: ActiveRun, message: string): void {
    this.statusItem.text = `$(sync~spin) Cairn: ${message}`;
    this.statusItem.tooltip = `Cairn is running ${run.title}. Click to show the run's output.`;
    this.statusItem.show();
  }

  /** Tells the user how the run ended: quietly on success, with the failed stage and its log on failure. */
  private async reportOutcome(run: ActiveRun, code: number | null, error: Error | null): Promise<void> {
    if (error) {
      this.output.error(error.message);
      void vscode.window.showErrorMessage(startFailure(error, readConfig().nodePath));
      return;
    }
    this.output.info(`cairn run exited with code ${String(code)}`);
    if (code === 0) {
      const counts = run.end?.counts;
      const summary = counts
        ? Object.entries(counts)
            .filter(([, value]) => value > 0)
            .map(([key, value]) => `${value} ${key}`)
            .join(', ')
        : '';
      void vscode.window.setStatusBarMessage(
        `$(check) Cairn: ${run.title} succeeded${summary ? ` (${summary})` : ''}`,
        8000,
      );
      return;
    }
    if (code === 130 || run.end?.status === 'cancelled') {
      void vscode.window.showInformationMessage(`Cairn: the run of ${run.title} was cancelled.`);
      return;
    }
    const failed = run.failures[0];
    if (failed) {
      const tail = tailSummary(failed.tail ?? []);
      const exitCode = failed.exitCode === null ? '' : ` with exit code ${failed.exitCode}`;
      const more = run.failures.length > 1 ? ` (${run.failures.length - 1} more stage(s) failed too)` : '';
      const message = `Cairn: stage '${failed.stage}' failed${exitCode}${more}.${tail.length ? ` Last lines: ${tail.join(' ⏎ ')}` : ''}`;
      const logPath = run.logPaths.get(failed.stage);
      const choice = await vscode.window.showErrorMessage(message, ...(logPath ? ['Open Log'] : []), 'Show Output');
      if (choice === 'Open Log' && logPath) await openLog(logPath);
      if (choice === 'Show Output') this.output.show(true);
      return;
    }
    // Bad input (2) or a failure before any stage: the CLI said why on stderr.
    const reason = run.stderr.filter((line) => line.trim()).join(' ') || `cairn run exited with code ${String(code)}.`;
    const choice = await vscode.window.showErrorMessage(`Cairn could not run ${run.title}: ${reason}`, 'Show Output');
    if (choice) this.output.show(true);
  }

  dispose(): void {
    // A run outlives the window on purpose (its state is in the workspace store); only stop
    // listening to it.
    this.statusItem.dispose();
    this.changed.dispose();
    this.finished.dispose();
    this.output.dispose();
  }
}

/** Opens a stage's log file in an editor. */
export async function openLog(logPath: string): Promise<void> {
  try {
    await vscode.window.showTextDocument(vscode.Uri.file(logPath), { preview: true });
  } catch (error) {
    void vscode.window.showErrorMessage(`Cairn could not open the log ${logPath}: ${String(error)}`);
  }
}

/** One JSON Lines event, or null for a line that is not one (the CLI's own chatter). */
export function parseEvent(line: string): RunEvent | null {
  if (!line.startsWith('{')) return null;
  try {
    const value = JSON.parse(line) as { event?: unknown };
    return typeof value.event === 'string' ? (value as RunEvent) : null;
  } catch {
    return null;
  }
}

/**
 * The lines of a failed stage's log tail worth reading in a notification: the last line that names
 * an error (a stack trace's message sits above its frames), then the last lines.
 */
export function tailSummary(tail: string[]): string[] {
  const lines = tail.map((line) => line.trim()).filter((line) => line && !/^at\s/.test(line) && line !== '}');
  const errorLine = [...lines].reverse().find((line) => /error|exception|traceback|failed/i.test(line));
  const last = lines.slice(-TAIL_LINES);
  return errorLine && !last.includes(errorLine) ? [errorLine, ...last.slice(1)] : last;
}

function formatDuration(milliseconds: number): string {
  return milliseconds < 1000 ? `${milliseconds} ms` : `${(milliseconds / 1000).toFixed(1)} s`;
}
