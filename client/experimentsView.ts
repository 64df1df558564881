// The Experiments view in the Cairn sidebar: each experiment of the workspace's tracking store,
// its runs newest first (starred ones on top, at most RUN_CAP), each with its status and key
// metric, and a sweep's trials under the sweep's run. Everything comes from `cairn exp experiments`
// and `cairn exp list` with --json; the view reads again when the store is written (StoreChanges).
import * as vscode from 'vscode';
import {
  formatDuration,
  formatNumber,
  formatTime,
  isStarred,
  keyMetric,
  markdownEscape,
  objectiveOf,
  OBJECTIVE_TAG,
  orderedTrials,
  RUN_CAP,
  trialOutcome,
  trialsFilter,
  visibleRuns,
} from './experimentsModel';
import type { ExperimentList, ExperimentSummary, RunList, RunRow } from './experimentsModel';
import { cairnJson } from './runs';

export interface ExperimentNode {
  kind: 'experiment';
  folder: vscode.WorkspaceFolder;
  experiment: ExperimentSummary;
}

export interface RunNode {
  kind: 'run';
  folder: vscode.WorkspaceFolder;
  run: RunRow;
  /** The metric shown beside the run (the experiment's objective), or null for its first metric. */
  objective: string | null;
  /** Whether the run has trials under it (a sweep's run). */
  sweep: boolean;
}

/** The last row of a list that was cut: says how many are shown and how to see the rest. */
export interface MoreNode {
  kind: 'more';
  folder: vscode.WorkspaceFolder;
  shown: number;
  parent: ExperimentNode | RunNode;
}

export type ExperimentTreeNode = ExperimentNode | RunNode | MoreNode;

/** A tag every sweep's run has (the search strategy). */
const SWEEP_STRATEGY_TAG = 'cairn.sweep.strategy';
/** How many rows one `exp list` reads; trials of sweeps are among them, so more than RUN_CAP. */
const FETCH_LIMIT = 1000;

const STATUS_ICONS: Record<string, vscode.ThemeIcon> = {
  running: new vscode.ThemeIcon('loading~spin'),
  succeeded: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
  cancelled: new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('charts.orange')),
};
const STARRED_ICON = new vscode.ThemeIcon('star-full', new vscode.ThemeColor('charts.yellow'));

export class ExperimentsView implements vscode.TreeDataProvider<ExperimentTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ExperimentTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<ExperimentTreeNode>;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly extensionUri: vscode.Uri) {
    this.view = vscode.window.createTreeView('cairn.experiments', { treeDataProvider: this, showCollapseAll: true });
    this.disposables.push(
      this.view,
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.refresh()),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.refresh()),
    );
  }

  /** Reads the experiments again now. */
  refresh(): void {
    this.changed.fire(undefined);
  }

  getTreeItem(node: ExperimentTreeNode): vscode.TreeItem {
    switch (node.kind) {
      case 'experiment':
        return experimentItem(node);
      case 'run':
        return runItem(node);
      case 'more': {
        const item = new vscode.TreeItem(`more… (${node.shown} shown)`, vscode.TreeItemCollapsibleState.None);
        item.iconPath = new vscode.ThemeIcon('ellipsis');
        item.tooltip = 'Only the newest runs are shown here. Filter the rest with: cairn exp list --filter "…"';
        item.contextValue = 'cairn.more';
        return item;
      }
    }
  }

  async getChildren(node?: ExperimentTreeNode): Promise<ExperimentTreeNode[]> {
    if (!node) return this.experiments();
    if (node.kind === 'more') return [];
    if (node.kind === 'experiment') {
      const { runs } = await cairnJson<RunList>(this.extensionUri, node.folder, [
        'exp',
        'list',
        '--experiment',
        node.experiment.name,
        '--sort',
        'start_time DESC',
        '--limit',
        String(FETCH_LIMIT),
      ]);
      const parents = new Set(runs.flatMap((run) => (run.parent === null ? [] : [run.parent])));
      const objective = objectiveOf(runs);
      const { runs: shown, more } = visibleRuns(runs, FETCH_LIMIT);
      const children: ExperimentTreeNode[] = shown.map((run) => ({
        kind: 'run',
        folder: node.folder,
        run,
        objective,
        // A sweep's run: its trials are among the rows, or it carries the tags a sweep sets.
        sweep:
          parents.has(run.id) || run.tags[OBJECTIVE_TAG] !== undefined || run.tags[SWEEP_STRATEGY_TAG] !== undefined,
      }));
      if (more) children.push({ kind: 'more', folder: node.folder, shown: shown.length, parent: node });
      return children;
    }
    if (!node.sweep) return [];
    const { runs } = await cairnJson<RunList>(this.extensionUri, node.folder, [
      'exp',
      'list',
      '--filter',
      trialsFilter(node.run.id),
      '--limit',
      String(FETCH_LIMIT),
    ]);
    const objective = objectiveOf([node.run]) ?? node.objective;
    const trials = orderedTrials(runs);
    const children: ExperimentTreeNode[] = trials
      .slice(0, RUN_CAP)
      .map((run) => ({ kind: 'run', folder: node.folder, run, objective, sweep: false }));
    if (trials.length > RUN_CAP || runs.length >= FETCH_LIMIT)
      children.push({ kind: 'more', folder: node.folder, shown: RUN_CAP, parent: node });
    return children;
  }

  /** Every experiment of every folder, the most recently used first. */
  private async experiments(): Promise<ExperimentTreeNode[]> {
    // Nothing runs in an untrusted workspace, the CLI that reads the store included.
    if (!vscode.workspace.isTrusted) {
      this.view.message = 'Trust this folder to see its experiments.';
      return [];
    }
    const folders = vscode.workspace.workspaceFolders ?? [];
    const results = await Promise.allSettled(
      folders.map((folder) => cairnJson<ExperimentList>(this.extensionUri, folder, ['exp', 'experiments'])),
    );
    const errors = results.flatMap((result, index) =>
      result.status === 'rejected' ? [`${folders[index]?.name ?? ''}: ${messageOf(result.reason)}`] : [],
    );
    this.view.message = errors.length ? `Could not read the experiments. ${errors.join(' ')}` : '';
    return results.flatMap((result, index) => {
      const folder = folders[index];
      if (result.status !== 'fulfilled' || !folder) return [];
      return result.value.experiments.map((experiment): ExperimentNode => ({ kind: 'experiment', folder, experiment }));
    });
  }

  dispose(): void {
    for (const disposable of this.disposables) disposable.dispose();
    this.changed.dispose();
  }
}

function experimentItem(node: ExperimentNode): vscode.TreeItem {
  const { experiment } = node;
  const item = new vscode.TreeItem(experiment.name, vscode.TreeItemCollapsibleState.Collapsed);
  item.id = `${node.folder.uri.toString()}#experiment#${experiment.name}`;
  item.iconPath = new vscode.ThemeIcon(experiment.running > 0 ? 'loading~spin' : 'beaker');
  const multiRoot = (vscode.workspace.workspaceFolders?.length ?? 0) > 1;
  const running = experiment.running > 0 ? `, ${experiment.running} running` : '';
  item.description = `${multiRoot ? `${node.folder.name} · ` : ''}${experiment.runs} run${experiment.runs === 1 ? '' : 's'}${running}`;
  item.tooltip = `${experiment.name}: ${experiment.runs} runs${running}; last run ${formatTime(experiment.lastRunAt)} UTC`;
  item.accessibilityInformation = {
    label: `Experiment ${experiment.name}: ${experiment.runs} run${experiment.runs === 1 ? '' : 's'}${running}`,
  };
  item.contextValue = 'cairn.experiment';
  return item;
}

function runItem(node: RunNode): vscode.TreeItem {
  const { run } = node;
  const starred = isStarred(run);
  const item = new vscode.TreeItem(
    run.name,
    node.sweep ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None,
  );
  item.id = `${node.folder.uri.toString()}#run#${run.id}`;
  const statusIcon = STATUS_ICONS[run.status] ?? new vscode.ThemeIcon('circle-outline');
  item.iconPath = starred ? STARRED_ICON : statusIcon;
  const metric = keyMetric(run, node.objective);
  const metricText = metric ? `${metric.key} ${formatNumber(metric.value)}` : '';
  // A starred run's icon is the star, so its status goes into the description; so does how a
  // trial ended when it did not complete (pruned shows as cancelled otherwise).
  const outcome = trialOutcome(run);
  item.description = [outcome ?? (starred ? run.status : ''), metricText].filter(Boolean).join(' · ');
  item.tooltip = runTooltip(run, starred);
  item.accessibilityInformation = {
    label: `${run.name}: ${run.status}${outcome ? ` (${outcome})` : ''}${starred ? ', starred' : ''}${metricText ? `, ${metricText}` : ''}`,
  };
  item.contextValue = `cairn.run${starred ? '.starred' : ''}${node.sweep ? '.sweep' : ''}`;
  item.command = { command: 'cairn.openRun', title: 'Open Run', arguments: [node] };
  return item;
}

function runTooltip(run: RunRow, starred: boolean): vscode.MarkdownString {
  const tooltip = new vscode.MarkdownString(undefined, true);
  tooltip.appendMarkdown(
    `**${markdownEscape(run.name)}**: ${markdownEscape(run.status)}${starred ? ' $(star-full)' : ''}\n\n`,
  );
  tooltip.appendMarkdown(
    `Id \`${run.id}\`, started ${formatTime(run.start_time)} UTC, ${formatDuration(run.duration)}\n\n`,
  );
  const metrics = Object.entries(run.metrics);
  if (metrics.length > 0)
    tooltip.appendMarkdown(
      `Metrics: ${metrics.map(([key, value]) => `${markdownEscape(key)} ${formatNumber(value)}`).join(', ')}\n\n`,
    );
  const params = Object.entries(run.params);
  if (params.length > 0)
    tooltip.appendMarkdown(
      `Params: ${params.map(([key, value]) => `${markdownEscape(key)}=${markdownEscape(value)}`).join(', ')}`,
    );
  return tooltip;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
