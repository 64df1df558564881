// The Models view in the Cairn sidebar: each registered model with its aliases, and its versions
// newest first with their alias badges, gate verdict, approval and registration time. Read from
// `cairn models list --json` and `cairn models show NAME@VERSION --json`; refreshed after the
// commands that change the registry and when the store is written.
import * as vscode from 'vscode';
import { formatTime, gateMarkdown, markdownEscape } from './experimentsModel';
import type { ModelList, ModelSummary, ShownVersion } from './experimentsModel';
import { cairnJson } from './runs';

export interface ModelNode {
  kind: 'model';
  folder: vscode.WorkspaceFolder;
  model: ModelSummary;
}

export interface VersionNode {
  kind: 'version';
  folder: vscode.WorkspaceFolder;
  model: ModelSummary;
  shown: ShownVersion;
}

export type ModelTreeNode = ModelNode | VersionNode;

/** How many versions of a model the view reads (one `models show` each), newest first. */
const VERSION_CAP = 30;
/** How many `models show` processes run at once. */
const CONCURRENCY = 4;

export class ModelsView implements vscode.TreeDataProvider<ModelTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ModelTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<ModelTreeNode>;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly extensionUri: vscode.Uri) {
    this.view = vscode.window.createTreeView('cairn.models', { treeDataProvider: this, showCollapseAll: true });
    this.disposables.push(
      this.view,
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.refresh()),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.refresh()),
    );
  }

  /** Reads the registry again now. */
  refresh(): void {
    this.changed.fire(undefined);
  }

  /** The registered models of every folder (for quick picks). */
  async models(): Promise<ModelNode[]> {
    // Nothing runs in an untrusted workspace, the CLI that reads the registry included.
    if (!vscode.workspace.isTrusted) {
      this.view.message = 'Trust this folder to see its models.';
      return [];
    }
    const folders = vscode.workspace.workspaceFolders ?? [];
    const results = await Promise.allSettled(
      folders.map((folder) => cairnJson<ModelList>(this.extensionUri, folder, ['models', 'list'])),
    );
    const errors = results.flatMap((result, index) =>
      result.status === 'rejected' ? [`${folders[index]?.name ?? ''}: ${messageOf(result.reason)}`] : [],
    );
    this.view.message = errors.length ? `Could not read the model registry. ${errors.join(' ')}` : '';
    return results.flatMap((result, index) => {
      const folder = folders[index];
      if (result.status !== 'fulfilled' || !folder) return [];
      return result.value.models.map((model): ModelNode => ({ kind: 'model', folder, model }));
    });
  }

  /** A model's versions, newest first (at most VERSION_CAP). */
  async versions(node: ModelNode): Promise<VersionNode[]> {
    const latest = node.model.latest ?? 0;
    const numbers = Array.from({ length: Math.min(latest, VERSION_CAP) }, (_, index) => latest - index);
    const shown = await mapLimited(numbers, CONCURRENCY, (version) =>
      cairnJson<ShownVersion>(this.extensionUri, node.folder, ['models', 'show', `${node.model.name}@${version}`]),
    );
    return shown.map((entry): VersionNode => ({
      kind: 'version',
      folder: node.folder,
      model: node.model,
      shown: entry,
    }));
  }

  getTreeItem(node: ModelTreeNode): vscode.TreeItem {
    return node.kind === 'model' ? modelItem(node) : versionItem(node);
  }

  async getChildren(node?: ModelTreeNode): Promise<ModelTreeNode[]> {
    if (!node) return this.models();
    if (node.kind === 'model') return this.versions(node);
    return [];
  }

  dispose(): void {
    for (const disposable of this.disposables) disposable.dispose();
    this.changed.dispose();
  }
}

/** "champion → v2, challenger → v3". */
function aliasText(aliases: Record<string, number>): string {
  return Object.entries(aliases)
    .map(([alias, version]) => `${alias} → v${version}`)
    .join(', ');
}

function modelItem(node: ModelNode): vscode.TreeItem {
  const { model } = node;
  const item = new vscode.TreeItem(model.name, vscode.TreeItemCollapsibleState.Expanded);
  item.id = `${node.folder.uri.toString()}#model#${model.name}`;
  item.iconPath = new vscode.ThemeIcon('package');
  const aliases = aliasText(model.aliases);
  const count = `${model.versions} version${model.versions === 1 ? '' : 's'}`;
  item.description = aliases ? `${count} · ${aliases}` : count;
  item.tooltip = `${model.name}: ${count}${model.latest === null ? '' : `, latest v${model.latest}`}${aliases ? `; ${aliases}` : ''}`;
  item.contextValue = 'cairn.model';
  return item;
}

function versionItem(node: VersionNode): vscode.TreeItem {
  const version = node.shown.version;
  const item = new vscode.TreeItem(`v${version.version}`, vscode.TreeItemCollapsibleState.None);
  item.id = `${node.folder.uri.toString()}#model#${version.model}#${version.version}`;
  const gate =
    version.gateReport === null ? 'gate not judged' : version.gateReport.passed ? 'gate passed' : 'gate failed';
  const approval = version.approved ? 'approved' : 'not approved';
  const badges = version.aliases.map((alias) => `@${alias}`).join(' ');
  item.description = [badges, gate, approval, formatTime(version.createdAt)].filter(Boolean).join(' · ');
  item.iconPath = version.approved
    ? new vscode.ThemeIcon('verified-filled', new vscode.ThemeColor('testing.iconPassed'))
    : version.gateReport && !version.gateReport.passed
      ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'))
      : new vscode.ThemeIcon('circle-large-outline');
  const tooltip = new vscode.MarkdownString(undefined, true);
  tooltip.appendMarkdown(
    `**${markdownEscape(version.model)} v${version.version}**${badges ? ` ${markdownEscape(badges)}` : ''}\n\n`,
  );
  tooltip.appendMarkdown(`Registered ${formatTime(version.createdAt)} UTC; ${approval}\n\n`);
  if (version.gateReport) tooltip.appendMarkdown(gateMarkdown(version.gateReport).join('\n'));
  else tooltip.appendMarkdown('The gate was not judged.');
  item.tooltip = tooltip;
  item.accessibilityInformation = {
    label: `${version.model} v${version.version}: ${[version.aliases.join(', '), gate, approval].filter(Boolean).join(', ')}`,
  };
  item.contextValue = `cairn.modelVersion${version.approved ? '.approved' : ''}`;
  item.command = { command: 'cairn.showModelVersion', title: 'Show Model Version', arguments: [node] };
  return item;
}

/** `work` over `items` with at most `limit` at a time, results in the items' order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
