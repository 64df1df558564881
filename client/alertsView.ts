// The Alerts view in the Cairn sidebar: the monitoring alerts of every deployment, firing first,
// with their severity icon; a click opens the alert's runbook. Retrains that wait for approval are
// listed above them. A notification tells of every alert that starts firing while the editor is
// open, with buttons to open its runbook, roll the deployment back, or approve the retrain it
// proposed.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DeployData } from './deployData';
import {
  alertDescription,
  alertIcon,
  alertNotification,
  newlyFiring,
  orderedAlerts,
  proposedRetrain,
} from './deployModel';
import type { AlertRecord, RetrainRecord } from './deployModel';
import { themeIcon } from './deployView';

export interface AlertNode {
  kind: 'alert';
  folder: vscode.WorkspaceFolder;
  alert: AlertRecord;
}

export interface RetrainNode {
  kind: 'retrain';
  folder: vscode.WorkspaceFolder;
  retrain: RetrainRecord;
}

export type AlertTreeNode = AlertNode | RetrainNode;

/** What the notification's buttons do; deployCommands.ts carries them out. */
export interface AlertActions {
  rollback(folder: vscode.WorkspaceFolder, deployment: string): Promise<void>;
  approveRetrain(folder: vscode.WorkspaceFolder, retrain: RetrainRecord): Promise<void>;
}

export class AlertsView implements vscode.TreeDataProvider<AlertTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<AlertTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<AlertTreeNode>;
  private readonly disposables: vscode.Disposable[] = [];
  /** Alert ids seen firing, per folder; null until the folder's first read. */
  private readonly seen = new Map<string, Set<number>>();

  constructor(
    private readonly data: DeployData,
    private readonly actions: AlertActions,
  ) {
    this.view = vscode.window.createTreeView('cairn.alerts', { treeDataProvider: this });
    this.disposables.push(
      this.view,
      data.onDidChange(() => {
        this.notifyNew();
        this.changed.fire(undefined);
      }),
    );
  }

  getTreeItem(node: AlertTreeNode): vscode.TreeItem {
    return node.kind === 'alert' ? alertItem(node) : retrainItem(node);
  }

  getChildren(node?: AlertTreeNode): AlertTreeNode[] {
    if (node) return [];
    if (!vscode.workspace.isTrusted) {
      this.view.message = 'Trust this folder to see its alerts.';
      return [];
    }
    const errors = this.data.folders.flatMap((entry) =>
      entry.alertsError ? [`${entry.folder.name}: ${entry.alertsError}`] : [],
    );
    this.view.message = errors.length ? `Could not read the alerts. ${errors.join(' ')}` : '';
    const firing = this.data.folders.reduce(
      (count, entry) => count + entry.alerts.filter((alert) => alert.state === 'firing').length,
      0,
    );
    this.view.badge = firing
      ? { value: firing, tooltip: `${firing} firing alert${firing === 1 ? '' : 's'}` }
      : undefined;
    return this.data.folders.flatMap((entry) => [
      ...entry.retrains
        .filter((retrain) => retrain.status === 'proposed')
        .map((retrain): RetrainNode => ({ kind: 'retrain', folder: entry.folder, retrain })),
      ...orderedAlerts(entry.alerts).map((alert): AlertNode => ({ kind: 'alert', folder: entry.folder, alert })),
    ]);
  }

  /** Shows a notification for each alert that started firing since the last read. */
  private notifyNew(): void {
    for (const entry of this.data.folders) {
      if (entry.alertsError) continue;
      const key = entry.folder.uri.toString();
      const seen = this.seen.get(key) ?? null;
      const fresh = newlyFiring(entry.alerts, seen);
      const ids = seen ?? new Set<number>();
      for (const alert of entry.alerts) ids.add(alert.id);
      this.seen.set(key, ids);
      for (const alert of fresh) void this.notify(entry.folder, alert, proposedRetrain(alert, entry.retrains));
    }
  }

  private async notify(
    folder: vscode.WorkspaceFolder,
    alert: AlertRecord,
    retrain: RetrainRecord | null,
  ): Promise<void> {
    // The alert says it proposed a retrain even when its row was not read yet: it is looked up on the click.
    const proposes = retrain !== null || alert.actions.includes('retrain-proposed');
    // A proposed rollback comes first: it is what the spec asks a person to decide.
    const buttons = alert.actions.includes('rollback-proposed')
      ? ['Roll Back', ...(alert.runbook ? ['Open Runbook'] : []), ...(proposes ? ['Approve Retrain'] : [])]
      : [...(alert.runbook ? ['Open Runbook'] : []), 'Roll Back', ...(proposes ? ['Approve Retrain'] : [])];
    const show =
      alert.severity === 'critical'
        ? vscode.window.showErrorMessage
        : alert.severity === 'warning'
          ? vscode.window.showWarningMessage
          : vscode.window.showInformationMessage;
    const choice = await show(alertNotification(alert), ...buttons);
    if (choice === 'Open Runbook') await openRunbook(folder, alert);
    if (choice === 'Roll Back') await this.actions.rollback(folder, alert.deployment);
    if (choice === 'Approve Retrain') {
      await this.data.refresh();
      const current = this.data.folders.find((entry) => entry.folder === folder)?.retrains ?? [];
      const proposed = proposedRetrain(alert, current);
      if (proposed) await this.actions.approveRetrain(folder, proposed);
      else
        void vscode.window.showInformationMessage(
          `The retrain proposed by the alert ${alert.rule} no longer waits for approval (see "cairn monitor retrains").`,
        );
    }
  }

  dispose(): void {
    for (const disposable of this.disposables) disposable.dispose();
    this.changed.dispose();
  }
}

/** Opens an alert's runbook (a workspace Markdown file) in Markdown's preview, or says it has none. */
export async function openRunbook(folder: vscode.WorkspaceFolder, alert: AlertRecord): Promise<void> {
  if (!alert.runbook) {
    void vscode.window.showInformationMessage(
      `The alert ${alert.rule} names no runbook: add one to its rule in the deployment file.`,
    );
    return;
  }
  const uri = vscode.Uri.file(path.resolve(folder.uri.fsPath, alert.runbook));
  try {
    await vscode.workspace.fs.stat(uri);
  } catch {
    void vscode.window.showErrorMessage(
      `The runbook of the alert ${alert.rule}, ${alert.runbook}, does not exist in ${folder.name}. Write it, or fix the path in the deployment file.`,
    );
    return;
  }
  await vscode.window.showTextDocument(uri, { preview: true });
}

function alertItem(node: AlertNode): vscode.TreeItem {
  const { alert } = node;
  const item = new vscode.TreeItem(alert.rule, vscode.TreeItemCollapsibleState.None);
  item.id = `${node.folder.uri.toString()}#alert#${alert.id}`;
  item.description = alertDescription(alert);
  item.iconPath = themeIcon(alertIcon(alert));
  const tooltip = new vscode.MarkdownString();
  tooltip.appendText(`${alert.message}\n\n${alert.condition}${alert.value === null ? '' : ` (value ${alert.value})`}`);
  if (alert.actions.length) tooltip.appendText(`\n\nActions: ${alert.actions.join(', ')}`);
  if (alert.runbook) tooltip.appendText(`\n\nRunbook: ${alert.runbook} (click to open)`);
  item.tooltip = tooltip;
  item.contextValue = `cairn.alert.${alert.state}${alert.runbook ? '.runbook' : ''}`;
  item.accessibilityInformation = { label: `Alert ${alert.rule}: ${item.description}` };
  item.command = { command: 'cairn.openRunbook', title: 'Open Runbook', arguments: [node] };
  return item;
}

function retrainItem(node: RetrainNode): vscode.TreeItem {
  const { retrain } = node;
  const item = new vscode.TreeItem(`Retrain proposed: ${retrain.deployment}`, vscode.TreeItemCollapsibleState.None);
  item.id = `${node.folder.uri.toString()}#retrain#${retrain.id}`;
  item.description = `${retrain.reason} · ${retrain.experiment}`;
  item.tooltip = `Retrain ${retrain.id} of ${retrain.deployment}, proposed because ${retrain.reason}: runs ${retrain.experiment} once approved.`;
  item.iconPath = new vscode.ThemeIcon('sync', new vscode.ThemeColor('problemsWarningIcon.foreground'));
  item.contextValue = 'cairn.retrain.proposed';
  item.accessibilityInformation = { label: `Retrain proposed: ${retrain.deployment}: ${item.description}` };
  return item;
}
