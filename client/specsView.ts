// The Specs view in the Cairn sidebar: the workspace's pipelines, experiments and deployments.
// Later issues add run state, experiments and models; this view already lets a user find and
// open every spec from one place.
import * as path from 'node:path';
import * as vscode from 'vscode';

type Group = 'Pipelines' | 'Experiments' | 'Deployments';

const GLOBS: Record<Group, string> = {
  Pipelines: '**/{dvc.yaml,pipeline.yaml,*.pipeline.yaml}',
  Experiments: '**/*.experiment.yaml',
  Deployments: '**/*.deploy.yaml',
};

type Node = { group: Group } | { uri: vscode.Uri };

export class SpecsView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly watcher = vscode.workspace.createFileSystemWatcher('**/*.{yaml,yml}', false, true, false);

  constructor() {
    this.watcher.onDidCreate(() => this.changed.fire(undefined));
    this.watcher.onDidDelete(() => this.changed.fire(undefined));
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if ('group' in node) return new vscode.TreeItem(node.group, vscode.TreeItemCollapsibleState.Expanded);
    const item = new vscode.TreeItem(vscode.workspace.asRelativePath(node.uri), vscode.TreeItemCollapsibleState.None);
    item.resourceUri = node.uri;
    item.description = path.basename(path.dirname(node.uri.fsPath));
    item.command = { command: 'vscode.open', title: 'Open', arguments: [node.uri] };
    return item;
  }

  async getChildren(node?: Node): Promise<Node[]> {
    if (!node) return (Object.keys(GLOBS) as Group[]).map((group) => ({ group }));
    if (!('group' in node)) return [];
    const files = await vscode.workspace.findFiles(GLOBS[node.group], '**/{node_modules,.git,.cairn,.dvc}/**', 2000);
    return files.sort((a, b) => a.fsPath.localeCompare(b.fsPath)).map((uri) => ({ uri }));
  }

  dispose(): void {
    this.watcher.dispose();
    this.changed.dispose();
  }
}
