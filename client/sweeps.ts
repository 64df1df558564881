// "Cairn: Run Experiment": an experiment file's hyperparameter sweep, as `cairn exp run FILE --json`
// in its own Node.js process, shown as a cancellable progress notification (trial i/N, the best
// value so far). Cancelling sends SIGINT, on which the CLI stops its trials and exits 130. At the
// end the user sees the best trial and can register its model or open the table of trials.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { failureText, runCli } from './cliProcess';
import { readConfig } from './config';
import {
  emptySweepProgress,
  formatNumber,
  nextSweepProgress,
  objectiveDirection,
  parseSweepEvent,
  sweepProgressMessage,
  trialsFilter,
} from './experimentsModel';
import type { SweepProgress } from './experimentsModel';
import type { ReadOnlyDocuments } from './experimentUi';

const EXPERIMENT_GLOB = '**/*.experiment.{yaml,yml}';

export class Sweeps implements vscode.Disposable {
  readonly output = vscode.window.createOutputChannel('Cairn Experiments', { log: true });
  private current: AbortController | null = null;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly documents: ReadOnlyDocuments,
    private readonly registerBest: (runId: string) => Promise<void>,
    private readonly onDidEnd: () => void,
  ) {}

  /** Runs the sweep of an experiment file: a Uri, a URI string (from a code lens), the active one, or picked. */
  async run(about?: vscode.Uri | string): Promise<void> {
    const uri = typeof about === 'string' ? vscode.Uri.parse(about) : about;
    if (!vscode.workspace.isTrusted) {
      const choice = await vscode.window.showWarningMessage(
        'Cairn runs experiments only in a trusted workspace: their trials run code from this folder. Trust the folder to run them.',
        'Manage Workspace Trust',
      );
      if (choice) await vscode.commands.executeCommand('workbench.trust.manage');
      return;
    }
    if (this.current) {
      const choice = await vscode.window.showWarningMessage(
        'Cairn is already running a sweep in this window.',
        'Stop Sweep',
        'Show Output',
      );
      if (choice === 'Stop Sweep') this.stop();
      if (choice === 'Show Output') this.output.show(true);
      return;
    }
    const file = uri instanceof vscode.Uri ? uri : await pickExperimentFile();
    if (!file) return;
    const folder = vscode.workspace.getWorkspaceFolder(file);
    if (!folder) {
      void vscode.window.showWarningMessage(`Cairn runs experiments inside a workspace folder; ${file.fsPath} is not.`);
      return;
    }
    const document = await vscode.workspace.openTextDocument(file);
    if (document.isDirty) await document.save();
    const direction = objectiveDirection(document.getText());
    const relative = path.relative(folder.uri.fsPath, file.fsPath).split(path.sep).join('/');

    const controller = new AbortController();
    this.current = controller;
    void vscode.commands.executeCommand('setContext', 'cairn.sweepActive', true);
    let progress: SweepProgress = emptySweepProgress(direction);
    const args = ['exp', 'run', relative, '--json', '--workspace', folder.uri.fsPath];
    this.output.info(`Running the sweep of ${relative}: cairn ${args.join(' ')}`);
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Cairn: sweep ${relative}`, cancellable: true },
      (report, token) => {
        token.onCancellationRequested(() => this.stop());
        report.report({ message: 'starting' });
        return runCli({
          nodePath: readConfig().nodePath,
          cliPath: vscode.Uri.joinPath(this.extensionUri, 'dist', 'cli', 'cairn.js').fsPath,
          args,
          cwd: folder.uri.fsPath,
          signal: controller.signal,
          detached: true,
          onErrorLine: (line) => this.output.warn(line),
          onLine: (line) => {
            const event = parseSweepEvent(line);
            if (!event) {
              if (line.trim()) this.output.info(line);
              return;
            }
            const before = progress;
            progress = nextSweepProgress(progress, event);
            this.output.info(line);
            const increment = event.event === 'trial-end' && progress.total ? 100 / progress.total : undefined;
            if (progress !== before)
              report.report({ message: sweepProgressMessage(progress), ...(increment ? { increment } : {}) });
          },
        });
      },
    );
    this.current = null;
    void vscode.commands.executeCommand('setContext', 'cairn.sweepActive', false);
    this.onDidEnd();
    this.output.info(`cairn exp run exited with code ${String(result.code)}`);
    await this.reportOutcome(
      folder,
      relative,
      progress,
      result.code,
      failureText(result, 'exp run', readConfig().nodePath),
    );
  }

  /** Asks the sweep going on to stop (SIGINT); the CLI records its trials and exits 130. */
  stop(): void {
    if (!this.current) {
      void vscode.window.showInformationMessage('No Cairn sweep is going on in this window.');
      return;
    }
    this.output.info('Stopping the sweep (SIGINT)');
    this.current.abort();
  }

  private async reportOutcome(
    folder: vscode.WorkspaceFolder,
    file: string,
    progress: SweepProgress,
    code: number | null,
    failure: string,
  ): Promise<void> {
    const end = progress.end;
    const best = end?.best ?? null;
    const bestText = best
      ? `best trial ${best.number}: ${formatNumber(best.value)} (${Object.entries(best.params)
          .map(([key, value]) => `${key}=${String(value)}`)
          .join(', ')})`
      : 'no trial completed';
    const registered = end?.registered
      ? ` Registered ${end.registered.model} v${end.registered.version}${end.registered.alias ? ` as @${end.registered.alias}` : ''}.`
      : '';
    const actions = [...(best?.runId ? ['Register best'] : []), ...(progress.sweepRunId ? ['Open table'] : [])];
    let choice: string | undefined;
    if (code === 0) {
      choice = await vscode.window.showInformationMessage(
        `Cairn: sweep ${file} ended, ${bestText}.${registered}`,
        ...actions,
      );
    } else if (code === 130 || end?.status === 'cancelled') {
      choice = await vscode.window.showInformationMessage(
        `Cairn: sweep ${file} was cancelled; ${bestText}.`,
        ...actions,
      );
    } else if (end) {
      choice = await vscode.window.showErrorMessage(
        `Cairn: sweep ${file} failed (${end.status}); ${bestText}.`,
        ...actions,
        'Show Output',
      );
    } else {
      // Bad input (exit 2) or a failure before the sweep began: the CLI's own words.
      choice = await vscode.window.showErrorMessage(failure, 'Show Output');
    }
    if (choice === 'Show Output') this.output.show(true);
    if (choice === 'Register best' && best?.runId) await this.registerBest(best.runId);
    if (choice === 'Open table' && progress.sweepRunId) await this.openTable(folder, progress);
  }

  /** The sweep's trials in the experiments table, best first by the objective. */
  private async openTable(folder: vscode.WorkspaceFolder, progress: SweepProgress): Promise<void> {
    const sweepRunId = progress.sweepRunId ?? '';
    await vscode.commands.executeCommand('cairn.openExperiments', folder.uri, {
      experiment: progress.experiment ?? null,
      filter: trialsFilter(sweepRunId),
      sort: progress.objective
        ? `metrics.${progress.objective} ${progress.direction === 'minimize' ? 'ASC' : 'DESC'}`
        : '',
    });
  }

  dispose(): void {
    // A sweep outlives the window on purpose (its trials are in the store); only stop listening.
    this.output.dispose();
  }
}

/** The active editor's experiment file, the only one, or the one the user picks. */
async function pickExperimentFile(): Promise<vscode.Uri | undefined> {
  const active = vscode.window.activeTextEditor?.document.uri;
  if (active && /\.experiment\.ya?ml$/.test(active.path)) return active;
  const files = await vscode.workspace.findFiles(EXPERIMENT_GLOB, '**/node_modules/**', 200);
  if (files.length === 0) {
    void vscode.window.showInformationMessage('Cairn found no *.experiment.yaml in this workspace.');
    return undefined;
  }
  if (files.length === 1) return files[0];
  const picked = await vscode.window.showQuickPick(
    files.map((uri) => ({ label: vscode.workspace.asRelativePath(uri), uri })),
    { placeHolder: 'Run the sweep of which experiment?' },
  );
  return picked?.uri;
}
