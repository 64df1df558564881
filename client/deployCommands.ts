// Deployments in the editor: the Deployments and Alerts views, the monitoring dashboards, the status
// bar item with the health of the active deployment, and the commands Deploy Model, Promote, Roll
// Back, Stop, Open Monitoring, Open Runbook and Approve/Decline Retrain. Each command is a short
// adapter over `cairn deploy ...`: what it changes, the CLI changes, and its errors reach the user
// verbatim. Nothing runs in an untrusted workspace.
import * as vscode from 'vscode';
import { AlertsView, openRunbook } from './alertsView';
import type { AlertTreeNode } from './alertsView';
import { DeployData } from './deployData';
import { activeDeployment, isLive, statusBarText } from './deployModel';
import type { DeploymentStatus, RetrainRecord } from './deployModel';
import { DeploymentsView } from './deployView';
import type { DeploymentNode } from './deployView';
import { deployModel } from './deployWizard';
import { cli, requireTrust } from './experimentUi';
import { failureText } from './cliProcess';
import { readConfig } from './config';
import { MonitorPanels } from './monitorPanel';

type Action = 'promote' | 'rollback' | 'stop';

/** A command's argument: a row of the Deployments view, a deployment name (status bar, tests), or none (palette). */
type DeploymentArgument = DeploymentNode | string | undefined;

/** Creates the deployment views, the status bar item and the dashboards, and registers their commands. */
export function registerDeployViews(context: vscode.ExtensionContext): void {
  const commands = new DeployCommands(context.extensionUri);
  const command = vscode.commands.registerCommand;
  context.subscriptions.push(
    commands,
    command('cairn.deployModel', () => commands.deploy()),
    command('cairn.refreshDeployments', () => commands.data.refresh()),
    command('cairn.promoteDeployment', (argument?: DeploymentArgument) => commands.run('promote', argument)),
    command('cairn.rollbackDeployment', (argument?: DeploymentArgument) => commands.run('rollback', argument)),
    command('cairn.stopDeployment', (argument?: DeploymentArgument) => commands.run('stop', argument)),
    command('cairn.openMonitoring', (argument?: DeploymentArgument) => commands.openMonitoring(argument)),
    command('cairn.copyDeploymentUrl', (argument?: DeploymentArgument) => commands.copyUrl(argument)),
    command('cairn.openRunbook', async (node?: AlertTreeNode) => {
      if (node?.kind === 'alert') await openRunbook(node.folder, node.alert);
    }),
    command('cairn.approveRetrain', (node?: AlertTreeNode) => commands.decideRetrain(node, true)),
    command('cairn.declineRetrain', (node?: AlertTreeNode) => commands.decideRetrain(node, false)),
  );
  void commands.data.refresh();
}

class DeployCommands implements vscode.Disposable {
  readonly data: DeployData;
  private readonly deployments: DeploymentsView;
  private readonly alerts: AlertsView;
  private readonly panels: MonitorPanels;
  private readonly statusItem = vscode.window.createStatusBarItem(
    'cairn.deployment',
    vscode.StatusBarAlignment.Left,
    9,
  );
  /** The deployment whose dashboard was opened last: the status bar follows it. */
  private preferred: string | null = null;

  constructor(private readonly extensionUri: vscode.Uri) {
    this.data = new DeployData(extensionUri);
    this.deployments = new DeploymentsView(this.data);
    this.alerts = new AlertsView(this.data, {
      rollback: (folder, deployment) => this.act('rollback', folder, deployment),
      approveRetrain: (folder, retrain) => this.retrain(folder, retrain, true),
    });
    this.panels = new MonitorPanels(extensionUri, (action, folder, deployment) => this.act(action, folder, deployment));
    this.statusItem.name = 'Cairn Deployment';
    this.data.onDidChange(() => this.updateStatusItem());
  }

  async deploy(): Promise<void> {
    const deployed = await deployModel(this.extensionUri);
    if (!deployed) return;
    await this.data.refresh();
    const status =
      deployed.status ??
      this.data.all().find((entry) => entry.folder === deployed.folder && isLive(entry.deployment))?.deployment ??
      null;
    if (!status) return;
    this.preferred = status.name;
    this.updateStatusItem();
    const buttons = status.url ? ['Open Dashboard', 'Copy URL'] : ['Open Dashboard'];
    const choice = await vscode.window.showInformationMessage(
      `Cairn: ${status.name} serves ${status.stable.model} v${status.stable.version}${status.url ? ` at ${status.url}` : ''}.`,
      ...buttons,
    );
    if (choice === 'Copy URL' && status.url) await this.copy(status.url);
    if (choice === 'Open Dashboard') await this.openMonitoring(status.name);
  }

  /** Promote, roll back or stop a deployment (the given one, or picked). */
  async run(action: Action, argument: DeploymentArgument): Promise<void> {
    if (!(await requireTrust('change deployments'))) return;
    const target = await this.target(argument, action);
    if (target) await this.act(action, target.folder, target.deployment.name);
  }

  /** Runs `cairn deploy ACTION NAME` after asking what the action needs (a reason, a confirmation). */
  async act(action: Action, folder: vscode.WorkspaceFolder, name: string): Promise<void> {
    const args = ['deploy', action, name];
    if (action === 'rollback') {
      const reason = await vscode.window.showInputBox({
        prompt: `Why roll ${name} back? (optional, kept with the deployment's events)`,
      });
      if (reason === undefined) return;
      if (reason.trim()) args.push('--reason', reason.trim());
    }
    if (action === 'stop') {
      const choice = await vscode.window.showWarningMessage(
        `Stop the deployment ${name}? Its server finishes the requests in flight, then exits.`,
        { modal: true },
        'Stop',
      );
      if (choice !== 'Stop') return;
    }
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Cairn: ${PROGRESS[action]} ${name}` },
      () => cli(this.extensionUri, folder, [...args, '--json']),
    );
    await this.data.refresh();
    this.panels.refresh();
    if (result.code !== 0 || result.startError) {
      void vscode.window.showErrorMessage(
        `Cairn could not ${action === 'rollback' ? 'roll back' : action} ${name}: ${failureText(result, `deploy ${action}`, readConfig().nodePath)}`,
      );
      return;
    }
    void vscode.window.showInformationMessage(`Cairn: ${name} ${DONE[action]}.`);
  }

  async openMonitoring(argument: DeploymentArgument): Promise<void> {
    if (!(await requireTrust('read deployments'))) return;
    const target = await this.target(argument, 'monitor');
    if (!target) return;
    this.preferred = target.deployment.name;
    this.updateStatusItem();
    await this.panels.show(target.folder, target.deployment.name);
  }

  async copyUrl(argument: DeploymentArgument): Promise<void> {
    const target = await this.target(argument, 'copy');
    if (target?.deployment.url) await this.copy(target.deployment.url);
    else if (target)
      void vscode.window.showInformationMessage(`${target.deployment.name} has no URL: it does not run.`);
  }

  async decideRetrain(node: AlertTreeNode | undefined, approve: boolean): Promise<void> {
    if (!(await requireTrust('start retrains'))) return;
    let folder: vscode.WorkspaceFolder | undefined;
    let retrain: RetrainRecord | undefined;
    if (node?.kind === 'retrain') ({ folder, retrain } = node);
    else {
      await this.data.refresh();
      const proposed = this.data.folders.flatMap((entry) =>
        entry.retrains
          .filter((each) => each.status === 'proposed')
          .map((each) => ({ folder: entry.folder, retrain: each })),
      );
      if (proposed.length === 0) {
        void vscode.window.showInformationMessage('No retrain waits for approval.');
        return;
      }
      const picked = await vscode.window.showQuickPick(
        proposed.map((entry) => ({
          label: `Retrain ${entry.retrain.id} of ${entry.retrain.deployment}`,
          description: `${entry.retrain.reason} · ${entry.retrain.experiment}`,
          entry,
        })),
        { placeHolder: approve ? 'Approve which retrain?' : 'Decline which retrain?' },
      );
      ({ folder, retrain } = picked?.entry ?? {});
    }
    if (folder && retrain) await this.retrain(folder, retrain, approve);
  }

  private async retrain(folder: vscode.WorkspaceFolder, retrain: RetrainRecord, approve: boolean): Promise<void> {
    const verb = approve ? 'approve' : 'decline';
    const result = await cli(this.extensionUri, folder, ['deploy', 'retrain', verb, String(retrain.id), '--json']);
    await this.data.refresh();
    if (result.code !== 0 || result.startError) {
      void vscode.window.showErrorMessage(
        `Cairn could not ${verb} retrain ${retrain.id}: ${failureText(result, `deploy retrain ${verb}`, readConfig().nodePath)}`,
      );
      return;
    }
    void vscode.window.showInformationMessage(
      approve
        ? `Cairn: retrain ${retrain.id} of ${retrain.deployment} approved; it runs ${retrain.experiment}.`
        : `Cairn: retrain ${retrain.id} of ${retrain.deployment} declined.`,
    );
  }

  /** The deployment a command is about: the row it came from, the one named, or one the user picks. */
  private async target(
    argument: DeploymentArgument,
    purpose: Action | 'monitor' | 'copy',
  ): Promise<{ folder: vscode.WorkspaceFolder; deployment: DeploymentStatus } | undefined> {
    if (typeof argument === 'object') return { folder: argument.folder, deployment: argument.deployment };
    if (!this.data.loaded || typeof argument === 'string') await this.data.refresh();
    const all = this.data.all();
    if (typeof argument === 'string') {
      const found = all.find((entry) => entry.deployment.name === argument);
      if (!found) void vscode.window.showErrorMessage(`Cairn knows no deployment named ${argument}.`);
      return found;
    }
    const fitting = all.filter(({ deployment }) =>
      purpose === 'promote'
        ? deployment.candidate !== null && isLive(deployment)
        : purpose === 'monitor'
          ? true
          : isLive(deployment),
    );
    if (fitting.length === 0) {
      const error = this.data.folders.find((entry) => entry.error)?.error;
      void vscode.window.showInformationMessage(
        error
          ? `Cairn could not read the deployments: ${error}`
          : purpose === 'promote'
            ? 'No running deployment has a candidate to promote.'
            : purpose === 'monitor'
              ? 'No deployments yet: deploy a model with "Cairn: Deploy Model".'
              : 'No deployment is running.',
      );
      return undefined;
    }
    if (fitting.length === 1) return fitting[0];
    const picked = await vscode.window.showQuickPick(
      fitting.map((entry) => ({
        label: entry.deployment.name,
        description: `${entry.deployment.status} · ${entry.deployment.file}`,
        entry,
      })),
      { placeHolder: PICK[purpose] },
    );
    return picked?.entry;
  }

  private updateStatusItem(): void {
    const active = activeDeployment(
      this.data.all().map((entry) => entry.deployment),
      this.preferred,
    );
    if (!active) {
      this.statusItem.hide();
      return;
    }
    const { text, tooltip } = statusBarText(active);
    this.statusItem.text = text;
    this.statusItem.tooltip = tooltip;
    this.statusItem.command = { command: 'cairn.openMonitoring', title: 'Open Monitoring', arguments: [active.name] };
    this.statusItem.backgroundColor =
      active.status === 'failed' || (active.status === 'serving' && active.health === 'down')
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : active.status === 'serving' && active.health === 'degraded'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
    this.statusItem.show();
  }

  private async copy(url: string): Promise<void> {
    await vscode.env.clipboard.writeText(url);
    void vscode.window.setStatusBarMessage(`$(clippy) Copied ${url}`, 4000);
  }

  dispose(): void {
    this.statusItem.dispose();
    this.panels.dispose();
    this.alerts.dispose();
    this.deployments.dispose();
    this.data.dispose();
  }
}

const PROGRESS: Record<Action, string> = { promote: 'promoting', rollback: 'rolling back', stop: 'stopping' };
const DONE: Record<Action, string> = {
  promote: 'promoted its candidate',
  rollback: 'rolled back to its stable version',
  stop: 'stopped',
};
const PICK: Record<Action | 'monitor' | 'copy', string> = {
  promote: 'Promote the candidate of which deployment?',
  rollback: 'Roll back which deployment?',
  stop: 'Stop which deployment?',
  monitor: 'Open the dashboard of which deployment?',
  copy: 'Copy the URL of which deployment?',
};
