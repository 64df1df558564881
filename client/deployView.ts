// The Deployments view in the Cairn sidebar: each deployment with its health icon, status and
// rollout, and under it the stable version and the candidate with their share of traffic. Its rows
// carry the context actions Promote, Roll Back, Stop and Open Dashboard (deployCommands.ts).
import * as vscode from 'vscode';
import type { DeployData } from './deployData';
import {
  deploymentContext,
  deploymentDescription,
  deploymentIcon,
  deploymentMarkdown,
  versionRows,
} from './deployModel';
import type { DeploymentStatus, Icon, VersionRow } from './deployModel';

export interface DeploymentNode {
  kind: 'deployment';
  folder: vscode.WorkspaceFolder;
  deployment: DeploymentStatus;
}

interface VersionNode {
  kind: 'version';
  parent: DeploymentNode;
  row: VersionRow;
}

type DeploymentTreeNode = DeploymentNode | VersionNode;

export class DeploymentsView implements vscode.TreeDataProvider<DeploymentTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<DeploymentTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<DeploymentTreeNode>;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly data: DeployData) {
    this.view = vscode.window.createTreeView('cairn.deployments', { treeDataProvider: this, showCollapseAll: true });
    this.disposables.push(
      this.view,
      data.onDidChange(() => this.changed.fire(undefined)),
    );
  }

  getTreeItem(node: DeploymentTreeNode): vscode.TreeItem {
    return node.kind === 'deployment' ? deploymentItem(node) : versionItem(node);
  }

  getChildren(node?: DeploymentTreeNode): DeploymentTreeNode[] {
    if (!node) {
      if (!vscode.workspace.isTrusted) {
        this.view.message = 'Trust this folder to see its deployments.';
        return [];
      }
      const errors = this.data.folders.flatMap((entry) =>
        entry.error ? [`${entry.folder.name}: ${entry.error}`] : [],
      );
      this.view.message = errors.length ? `Could not read the deployments. ${errors.join(' ')}` : '';
      return this.data
        .all()
        .map(({ folder, deployment }): DeploymentNode => ({ kind: 'deployment', folder, deployment }));
    }
    if (node.kind === 'deployment')
      return versionRows(node.deployment).map((row): VersionNode => ({ kind: 'version', parent: node, row }));
    return [];
  }

  dispose(): void {
    for (const disposable of this.disposables) disposable.dispose();
    this.changed.dispose();
  }
}

export function themeIcon(icon: Icon): vscode.ThemeIcon {
  return new vscode.ThemeIcon(icon.id, icon.colour ? new vscode.ThemeColor(icon.colour) : undefined);
}

function deploymentItem(node: DeploymentNode): vscode.TreeItem {
  const { deployment } = node;
  const item = new vscode.TreeItem(deployment.name, vscode.TreeItemCollapsibleState.Expanded);
  item.id = `${node.folder.uri.toString()}#deployment#${deployment.name}`;
  item.description = deploymentDescription(deployment);
  item.iconPath = themeIcon(deploymentIcon(deployment));
  item.tooltip = new vscode.MarkdownString(deploymentMarkdown(deployment));
  item.contextValue = deploymentContext(deployment);
  item.accessibilityInformation = { label: `Deployment ${deployment.name}: ${item.description}` };
  return item;
}

function versionItem(node: VersionNode): vscode.TreeItem {
  const item = new vscode.TreeItem(node.row.label, vscode.TreeItemCollapsibleState.None);
  item.id = `${node.parent.folder.uri.toString()}#deployment#${node.parent.deployment.name}#${node.row.role}`;
  item.description = node.row.description;
  item.tooltip = node.row.tooltip;
  item.iconPath = new vscode.ThemeIcon(node.row.role === 'stable' ? 'package' : 'beaker');
  item.contextValue = `cairn.deploymentVersion.${node.row.role}`;
  item.accessibilityInformation = { label: `${node.row.label}: ${node.row.description}` };
  return item;
}
