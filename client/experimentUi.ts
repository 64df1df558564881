// Small pieces of editor UI that the experiment, sweep and registry commands share: read-only
// documents, the trust check, folder and run picks, and running the CLI when its exit code matters.
import * as vscode from 'vscode';
import { runCli } from './cliProcess';
import type { CliResult } from './cliProcess';
import { readConfig } from './config';
import { formatNumber, formatTime, isStarred, keyMetric } from './experimentsModel';
import type { RunRow } from './experimentsModel';

/** Read-only documents ("Open Run", "Show Model Version") live under this scheme. */
export const DOCUMENT_SCHEME = 'cairn-doc';

/** Documents the user reads but does not edit: their text is set by the command that opens them. */
export class ReadOnlyDocuments implements vscode.TextDocumentContentProvider {
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.path) ?? '';
  }

  /** Opens (or updates and reveals) the document at `name` with `text`. */
  async show(name: string, text: string): Promise<void> {
    const uri = vscode.Uri.from({ scheme: DOCUMENT_SCHEME, path: `/${name}` });
    this.texts.set(uri.path, text);
    this.changed.fire(uri);
    const document = await vscode.workspace.openTextDocument(uri);
    await vscode.languages.setTextDocumentLanguage(document, 'markdown');
    await vscode.window.showTextDocument(document, { preview: true });
  }
}

/** Runs the CLI in a folder, for commands whose exit code and output both matter. */
export function cli(extensionUri: vscode.Uri, folder: vscode.WorkspaceFolder, args: string[]): Promise<CliResult> {
  return runCli({
    nodePath: readConfig().nodePath,
    cliPath: vscode.Uri.joinPath(extensionUri, 'dist', 'cli', 'cairn.js').fsPath,
    args: [...args, '--workspace', folder.uri.fsPath],
    cwd: folder.uri.fsPath,
  });
}

/** True in a trusted workspace; otherwise says why nothing happens and offers to manage trust. */
export async function requireTrust(what: string): Promise<boolean> {
  if (vscode.workspace.isTrusted) return true;
  const choice = await vscode.window.showWarningMessage(
    `Cairn does not ${what} in an untrusted workspace. Trust the folder first.`,
    'Manage Workspace Trust',
  );
  if (choice) await vscode.commands.executeCommand('workbench.trust.manage');
  return false;
}

export async function pickFolder(placeHolder: string): Promise<vscode.WorkspaceFolder | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length <= 1) {
    if (!folders[0]) void vscode.window.showInformationMessage('Open a folder first: Cairn works on a workspace.');
    return folders[0];
  }
  return vscode.window.showWorkspaceFolderPick({ placeHolder });
}

/** Quick pick items for runs: name, experiment, status and key metric. */
export function runItems(runs: RunRow[]): (vscode.QuickPickItem & { run: RunRow })[] {
  return runs.map((run) => {
    const metric = keyMetric(run, null);
    return {
      label: `${isStarred(run) ? '$(star-full) ' : ''}${run.name}`,
      description: [run.experiment, run.status, metric ? `${metric.key} ${formatNumber(metric.value)}` : '']
        .filter(Boolean)
        .join(' · '),
      detail: `${run.id} · ${formatTime(run.start_time)}`,
      run,
    };
  });
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
