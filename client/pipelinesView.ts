// The Pipelines view in the Cairn sidebar: each pipeline of the workspace and its stages, with
// their state from `cairn status` (up to date, changed and why, never run, failed, frozen) and,
// while a run goes on in this window, the stages it is running. Refreshed after runs and when a
// spec, params or lock file changes.
import * as vscode from 'vscode';
import { cairnJson } from './runs';
import type { Runs } from './runs';
// The JSON of `cairn status --json` is declared once, by the engine (a type import: nothing of the
// engine is loaded into the extension host).
import type { PipelineStatusReport, StageState, StageStatusReport as StageStatus } from '../server/engine/status';

/** `cairn status --json`. */
export interface WorkspaceStatus {
  pipelines: PipelineStatusReport[];
}

export interface PipelineNode {
  kind: 'pipeline';
  folder: vscode.WorkspaceFolder;
  /** Workspace-relative, '/' separators. */
  file: string;
  uri: vscode.Uri;
  /** What keeps the file from running ("line 12: ..."); shown on the pipeline's item. */
  problems: string[];
  stages: StageStatus[];
}

export interface StageNode {
  kind: 'stage';
  pipeline: PipelineNode;
  stage: StageStatus;
}

export type PipelineTreeNode = PipelineNode | StageNode;

const ICONS: Record<StageState, vscode.ThemeIcon> = {
  'up-to-date': new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  changed: new vscode.ThemeIcon('circle-filled', new vscode.ThemeColor('charts.yellow')),
  'never-run': new vscode.ThemeIcon('circle-outline'),
  running: new vscode.ThemeIcon('loading~spin'),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
  cancelled: new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('charts.orange')),
  frozen: new vscode.ThemeIcon('lock'),
};

const LABELS: Record<StageState, string> = {
  'up-to-date': 'Up to date',
  changed: 'Changed',
  'never-run': 'Never run',
  running: 'Running',
  failed: 'Failed',
  cancelled: 'Cancelled',
  frozen: 'Frozen',
};

/** Files whose change can change a stage's state: specs, params and lock files. */
const WATCHED = '**/{dvc.yaml,pipeline.yaml,pipeline.yml,*.pipeline.yaml,*.pipeline.yml,params.yaml,params.yml,*.lock}';
const REFRESH_DELAY_MS = 400;

export class PipelinesView implements vscode.TreeDataProvider<PipelineTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<PipelineTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<PipelineTreeNode>;
  private readonly disposables: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The last status read per workspace folder; dropped on refresh. */
  private statuses = new Map<string, Promise<PipelineNode[]>>();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly runs: Runs,
  ) {
    this.view = vscode.window.createTreeView('cairn.pipelines', { treeDataProvider: this, showCollapseAll: true });
    const watcher = vscode.workspace.createFileSystemWatcher(WATCHED);
    this.disposables.push(
      this.view,
      watcher,
      watcher.onDidChange(() => this.refreshSoon()),
      watcher.onDidCreate(() => this.refreshSoon()),
      watcher.onDidDelete(() => this.refreshSoon()),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.refresh()),
      // Live states during a run come from its events; the truth after it from `cairn status`.
      runs.onDidChange(() => this.changed.fire(undefined)),
      runs.onDidFinish(() => this.refresh()),
    );
  }

  /** Reads the states again now. */
  refresh(): void {
    clearTimeout(this.timer);
    this.statuses.clear();
    this.changed.fire(undefined);
  }

  /** Reads the states again after a burst of file changes has settled. */
  refreshSoon(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), REFRESH_DELAY_MS);
  }

  /** Every stage known to the view (for quick picks), reading the states if needed. */
  async allStages(): Promise<StageNode[]> {
    const pipelines = await this.getChildren();
    return pipelines.flatMap((node) =>
      node.kind === 'pipeline' ? node.stages.map((stage): StageNode => ({ kind: 'stage', pipeline: node, stage })) : [],
    );
  }

  /** The live state of a stage: the run going on overrides the recorded one. */
  stateOf(node: StageNode): StageState {
    const live = this.runs.live;
    if (live && (live.pipeline === null || live.pipeline === node.pipeline.file)) {
      const state = live.stages.get(node.stage.address) ?? live.stages.get(node.stage.name);
      if (state === 'running' || state === 'failed' || state === 'cancelled') return state;
      if (state === 'succeeded' || state === 'restored' || state === 'skipped') return 'up-to-date';
    }
    return node.stage.state;
  }

  getTreeItem(node: PipelineTreeNode): vscode.TreeItem {
    if (node.kind === 'pipeline') {
      const item = new vscode.TreeItem(node.file, vscode.TreeItemCollapsibleState.Expanded);
      item.id = `${node.folder.uri.toString()}#${node.file}`;
      item.resourceUri = node.uri;
      item.iconPath = new vscode.ThemeIcon('symbol-namespace');
      const stale = node.stages.filter((stage) => stage.state !== 'up-to-date' && stage.state !== 'frozen').length;
      item.description = `${(vscode.workspace.workspaceFolders?.length ?? 0) > 1 ? `${node.folder.name} · ` : ''}${
        stale ? `${stale} of ${node.stages.length} to run` : 'up to date'
      }`;
      if (node.problems.length > 0) {
        item.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('problemsErrorIcon.foreground'));
        item.description = `${node.problems.length} problem${node.problems.length === 1 ? '' : 's'}: fix before running`;
        item.tooltip = node.problems.join('\n');
      }
      item.contextValue = 'cairn.pipeline';
      item.command = { command: 'vscode.open', title: 'Open Pipeline', arguments: [node.uri] };
      return item;
    }
    const state = this.stateOf(node);
    const { stage } = node;
    const item = new vscode.TreeItem(stage.name, vscode.TreeItemCollapsibleState.None);
    item.id = `${node.pipeline.folder.uri.toString()}#${node.pipeline.file}#${stage.address}`;
    item.iconPath = ICONS[state];
    item.description = state === 'up-to-date' ? '' : reasonText(state, stage.reasons);
    item.tooltip = tooltipOf(stage, state);
    item.accessibilityInformation = { label: `${stage.name}: ${LABELS[state]}. ${stage.reasons.join('. ')}` };
    const hasLog = Boolean(
      this.runs.logPaths.get(stage.address) ?? this.runs.logPaths.get(stage.name) ?? stage.lastRun?.logPath,
    );
    item.contextValue = `cairn.stage${state === 'running' ? '.running' : ''}${hasLog ? '.log' : ''}`;
    item.command = {
      command: 'vscode.open',
      title: 'Open Stage',
      arguments: [node.pipeline.uri, { selection: new vscode.Range(stage.line, 0, stage.line, 0) }],
    };
    return item;
  }

  async getChildren(node?: PipelineTreeNode): Promise<PipelineTreeNode[]> {
    if (node?.kind === 'stage') return [];
    if (node?.kind === 'pipeline') return node.stages.map((stage) => ({ kind: 'stage', pipeline: node, stage }));
    const folders = vscode.workspace.workspaceFolders ?? [];
    const results = await Promise.allSettled(folders.map((folder) => this.statusOf(folder)));
    const errors = results.flatMap((result, index) =>
      result.status === 'rejected' ? [`${folders[index]?.name}: ${messageOf(result.reason)}`] : [],
    );
    this.view.message = errors.length ? `Could not read the pipelines' state. ${errors.join(' ')}` : '';
    return results.flatMap((result) => (result.status === 'fulfilled' ? result.value : []));
  }

  getParent(node: PipelineTreeNode): PipelineTreeNode | undefined {
    return node.kind === 'stage' ? node.pipeline : undefined;
  }

  private statusOf(folder: vscode.WorkspaceFolder): Promise<PipelineNode[]> {
    const key = folder.uri.toString();
    let status = this.statuses.get(key);
    if (!status) {
      status = cairnJson<WorkspaceStatus>(this.extensionUri, folder, ['status']).then((result) =>
        result.pipelines.map((pipeline) => ({
          kind: 'pipeline' as const,
          folder,
          file: pipeline.file,
          uri: vscode.Uri.joinPath(folder.uri, ...pipeline.file.split('/')),
          problems: pipeline.problems,
          stages: pipeline.stages,
        })),
      );
      // A failed read is not cached: the next refresh tries again.
      status.catch(() => this.statuses.delete(key));
      this.statuses.set(key, status);
    }
    return status;
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const disposable of this.disposables) disposable.dispose();
    this.changed.dispose();
  }
}

/** The short reason shown beside a stage: the first reason, and how many more there are. */
function reasonText(state: StageState, reasons: string[]): string {
  const first = reasons[0];
  if (!first) return LABELS[state].toLowerCase();
  return reasons.length > 1 ? `${first} (+${reasons.length - 1} more)` : first;
}

function tooltipOf(stage: StageStatus, state: StageState): vscode.MarkdownString {
  const tooltip = new vscode.MarkdownString(undefined, true);
  tooltip.appendMarkdown(`**${escape(stage.address)}**: ${LABELS[state]}\n\n`);
  for (const reason of stage.reasons) tooltip.appendMarkdown(`- ${escape(reason)}\n`);
  const last = stage.lastRun;
  if (last) {
    const when = new Date(last.endedAt ?? last.startedAt ?? 0).toLocaleString();
    const exit = last.exitCode === null ? '' : `, exit code ${last.exitCode}`;
    tooltip.appendMarkdown(`\nLast run: ${escape(last.status)}${exit}, ${escape(when)}`);
  }
  return tooltip;
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!<>|]/g, '\\$&');
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
