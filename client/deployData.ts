// The deployments, alerts and retrains of every workspace folder, read from the CLI
// (`cairn deploy status`, `cairn monitor alerts`, `cairn monitor retrains`, all --json) and kept for
// the Deployments and Alerts views and the status bar. Read again every few seconds while a
// deployment runs, when the store is written, and after a command changed something.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { isLive } from './deployModel';
import type {
  AlertList,
  AlertRecord,
  DeploymentList,
  DeploymentStatus,
  RetrainList,
  RetrainRecord,
} from './deployModel';
import { messageOf } from './experimentUi';
import { cairnJson } from './runs';
import { storeSignature } from './storeSignature';

/** How often the views read the CLI again while a deployment runs. */
const POLL_INTERVAL_MS = 4000;
/** Store writes refresh at most this often. */
const STORE_REFRESH_MS = 1500;

/** What one workspace folder holds. */
export interface FolderDeployments {
  folder: vscode.WorkspaceFolder;
  deployments: DeploymentStatus[];
  alerts: AlertRecord[];
  retrains: RetrainRecord[];
  /** Why reading the deployments failed (the CLI's own words), or null. */
  error: string | null;
  /** Why reading the alerts or retrains failed, or null. */
  alertsError: string | null;
}

export class DeployData implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fired after every read, with the new data in `folders`. */
  readonly onDidChange = this.changed.event;
  folders: FolderDeployments[] = [];
  /** False until the first read ended. */
  loaded = false;
  private readonly disposables: vscode.Disposable[] = [];
  private pollTimer: NodeJS.Timeout | undefined;
  private storeTimer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | null = null;
  private again = false;
  private readonly signatures = new Map<string, string>();

  constructor(private readonly extensionUri: vscode.Uri) {
    const watcher = vscode.workspace.createFileSystemWatcher('**/.cairn/cairn.db*');
    const storeTouched = (): void => this.storeTouched();
    this.disposables.push(
      watcher,
      watcher.onDidChange(storeTouched),
      watcher.onDidCreate(storeTouched),
      vscode.workspace.onDidChangeWorkspaceFolders(() => void this.refresh()),
      vscode.workspace.onDidGrantWorkspaceTrust(() => void this.refresh()),
    );
  }

  /** Every deployment of every folder. */
  all(): { folder: vscode.WorkspaceFolder; deployment: DeploymentStatus }[] {
    return this.folders.flatMap((entry) =>
      entry.deployments.map((deployment) => ({ folder: entry.folder, deployment })),
    );
  }

  /** Reads everything again now; a read asked for during another runs once it ends. */
  refresh(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = this.read().finally(() => {
      this.reading = null;
      if (this.again) {
        this.again = false;
        void this.refresh();
      }
    });
    return this.reading;
  }

  private async read(): Promise<void> {
    clearTimeout(this.pollTimer);
    // Nothing runs in an untrusted workspace, the CLI that reads the store included.
    if (!vscode.workspace.isTrusted) {
      this.folders = [];
      this.loaded = true;
      this.changed.fire();
      return;
    }
    const folders = vscode.workspace.workspaceFolders ?? [];
    // The signatures are taken before reading: a write during the read then leaves a signature that
    // differs from the store's, and the next store event reads again (taken after, it would match
    // the written store and the view would miss that write).
    for (const folder of folders) this.signatures.set(folder.uri.toString(), await storeSignature(folder.uri.fsPath));
    this.folders = await Promise.all(folders.map((folder) => this.readFolder(folder)));
    this.loaded = true;
    this.changed.fire();
    if (this.folders.some((entry) => entry.deployments.some(isLive)))
      this.pollTimer = setTimeout(() => void this.refresh(), POLL_INTERVAL_MS);
  }

  private async readFolder(folder: vscode.WorkspaceFolder): Promise<FolderDeployments> {
    const [deployments, alerts, retrains] = await Promise.allSettled([
      cairnJson<DeploymentList>(this.extensionUri, folder, ['deploy', 'status']),
      cairnJson<AlertList>(this.extensionUri, folder, ['monitor', 'alerts']),
      cairnJson<RetrainList>(this.extensionUri, folder, ['monitor', 'retrains']),
    ]);
    const errors = [alerts, retrains].flatMap((result) =>
      result.status === 'rejected' ? [messageOf(result.reason)] : [],
    );
    return {
      folder,
      deployments: deployments.status === 'fulfilled' ? deployments.value.deployments : [],
      alerts: alerts.status === 'fulfilled' ? alerts.value.alerts : [],
      retrains: retrains.status === 'fulfilled' ? retrains.value.retrains : [],
      error: deployments.status === 'rejected' ? messageOf(deployments.reason) : null,
      alertsError: errors.length ? [...new Set(errors)].join(' ') : null,
    };
  }

  /**
   * A store file changed: read again (throttled) when the store was written. Every reader, our own
   * CLI calls included, creates and removes the write-ahead log, so only a new size or time of the
   * database or of a log that holds frames counts (as in the Experiments view).
   */
  private storeTouched(): void {
    if (this.storeTimer) return;
    this.storeTimer = setTimeout(async () => {
      this.storeTimer = undefined;
      let written = false;
      for (const folder of vscode.workspace.workspaceFolders ?? []) {
        // A folder that never deployed has nothing to read: a sweep writing the store thousands of
        // times must not cost three CLI processes a second.
        if (!(await exists(path.join(folder.uri.fsPath, '.cairn', 'deployments')))) continue;
        const signature = await storeSignature(folder.uri.fsPath);
        if (this.signatures.get(folder.uri.toString()) !== signature) written = true;
      }
      if (written) void this.refresh();
    }, STORE_REFRESH_MS);
  }

  dispose(): void {
    clearTimeout(this.pollTimer);
    clearTimeout(this.storeTimer);
    for (const disposable of this.disposables) disposable.dispose();
    this.changed.dispose();
  }
}

function exists(file: string): Promise<boolean> {
  return fs.promises.stat(file).then(
    () => true,
    () => false,
  );
}
