// The experiments table's host: asks `cairn exp table --json` for the runs of a query (a first page,
// then every row) and pushes them to the webview (client/webview/experiments.ts, built into
// media/experiments.js); answers Compare with `exp compare` and `exp history`, and stars with
// `exp tag`/`exp untag`. The table refreshes itself, throttled, when the store is written. The
// webview speaks only experimentsContract.ts.
import * as vscode from 'vscode';
import { failureText, runCli } from './cliProcess';
import { readConfig } from './config';
import { cairnJson } from './runs';
import { webviewHtml } from './webviewHtml';
import type {
  FilterProblem,
  HostMessage,
  MetricHistory,
  RunComparison,
  TableQuery,
  WebviewMessage,
} from './webview/experimentsContract';
import { storeSignature } from './storeSignature';

/** The most rows the table loads; the webview shows only the visible ones. */
const ROW_LIMIT = 20_000;
/** Rows of the first answer: a small page is on screen in a fraction of the time of every row. */
const FIRST_PAGE = 500;
/** Store changes refresh the table at most this often. */
const REFRESH_INTERVAL_MS = 1500;
const STARRED_TAG = 'cairn.starred';

/** A tracked run as `cairn exp list --json` prints it (only what the quick pick shows). */
interface ListedRun {
  id: string;
  name: string;
  experiment: string;
  status: string;
  start_time: number;
  metrics: Record<string, number>;
}

export class ExperimentsTable implements vscode.Disposable {
  private panel: vscode.WebviewPanel | null = null;
  private ready = false;
  private folder: vscode.WorkspaceFolder | null = null;
  private query: TableQuery = { experiment: null, filter: '', sort: '' };
  private goodQuery: TableQuery = this.query;
  private experiments: string[] = [];
  /** The newest table message, for a webview that is not ready yet, and the pending comparison. */
  private last: HostMessage | null = null;
  private pendingCompare: string[] | null = null;
  /** Only the newest load may post its answer. */
  private generation = 0;
  private watcher: vscode.FileSystemWatcher | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private lastRefresh = 0;
  /** The store changed while the panel was hidden: refresh when it shows again. */
  private stale = false;
  /** The store's signature when the table was last read (see storeSignature). */
  private signature = '';

  constructor(private readonly extensionUri: vscode.Uri) {}

  /** Opens (or reveals) the table for a workspace folder; with runs, opens their comparison too. */
  async show(folder: vscode.WorkspaceFolder, compare: string[] = [], preset?: Partial<TableQuery>): Promise<void> {
    if (this.folder?.uri.toString() !== folder.uri.toString()) {
      this.folder = folder;
      this.watch(folder);
    }
    if (preset) this.query = { ...this.query, ...preset };
    if (!this.panel) this.panel = this.createPanel();
    else this.panel.reveal(undefined, false);
    this.panel.title = `Experiments: ${folder.name}`;
    if (compare.length >= 2) this.pendingCompare = compare;
    await this.load();
    if (this.pendingCompare && this.ready) await this.compare(this.takePendingCompare());
  }

  private takePendingCompare(): string[] {
    const runs = this.pendingCompare ?? [];
    this.pendingCompare = null;
    return runs;
  }

  private createPanel(): vscode.WebviewPanel {
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    const panel = vscode.window.createWebviewPanel('cairn.experimentsTable', 'Experiments', vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [media],
    });
    this.ready = false;
    panel.webview.html = this.html(panel.webview, media);
    panel.webview.onDidReceiveMessage((message: WebviewMessage) => this.receive(message));
    panel.onDidChangeViewState(() => {
      if (panel.visible && this.stale) void this.reloadIfWritten();
    });
    panel.onDidDispose(() => {
      this.panel = null;
      this.ready = false;
    });
    return panel;
  }

  /**
   * Refreshes on changes to `.cairn/cairn.db-wal`: every tracked write goes through it. Every reader
   * (this table's own `cairn exp table` included) creates and removes the log too, so a change counts
   * only when the store's signature moved (see storeSignature).
   */
  private watch(folder: vscode.WorkspaceFolder): void {
    this.watcher?.dispose();
    this.watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(folder, '.cairn/cairn.db-wal'));
    const changed = (): void => this.storeChanged();
    this.watcher.onDidChange(changed);
    this.watcher.onDidCreate(changed);
    void storeSignature(folder.uri.fsPath).then((signature) => (this.signature = signature));
  }

  /** Throttles store-change refreshes: one now if the last was long enough ago, else one at the end. */
  private storeChanged(): void {
    if (!this.panel) return;
    if (!this.panel.visible) {
      this.stale = true;
      return;
    }
    if (this.refreshTimer) return;
    const wait = Math.max(0, this.lastRefresh + REFRESH_INTERVAL_MS - Date.now());
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.reloadIfWritten();
    }, wait);
  }

  private async reloadIfWritten(): Promise<void> {
    const folder = this.folder;
    if (!folder) return;
    const signature = await storeSignature(folder.uri.fsPath);
    if (signature === this.signature) return;
    this.signature = signature;
    await this.load();
  }

  private async load(): Promise<void> {
    const folder = this.folder;
    if (!folder) return;
    if (!vscode.workspace.isTrusted) {
      this.post({ type: 'error', message: 'Cairn reads tracked runs only in a trusted workspace.' });
      return;
    }
    const generation = ++this.generation;
    const query = this.query;
    this.stale = false;
    this.lastRefresh = Date.now();
    this.post({ type: 'loading' });
    try {
      const [experiments, table] = await Promise.all([
        cairnJson<{ experiments: { name: string }[] }>(this.extensionUri, folder, ['exp', 'experiments']),
        this.cli(folder, tableArgs(query, FIRST_PAGE)),
      ]);
      if (generation !== this.generation) return;
      this.experiments = experiments.experiments.map((experiment) => experiment.name);
      if (table.code === 2 && query.filter.trim() !== '' && /bad --filter/.test(table.stderr)) {
        // Keep the rows of the last good query; the webview shows the problem under the filter.
        this.query = this.goodQuery;
        this.post({ type: 'filterError', query, problem: filterProblem(table.stderr) }, false);
        return;
      }
      if (table.code !== 0 || table.startError) throw new Error(failureText(table, 'exp table', readConfig().nodePath));
      this.goodQuery = query;
      this.post({ type: 'setData', tableJson: table.stdout, query, experiments: this.experiments, limit: FIRST_PAGE });
      const first = JSON.parse(table.stdout) as { total: number; rows: unknown[] };
      if (first.total <= first.rows.length) return;
      // Then every row (up to ROW_LIMIT), for scrolling, "only changed" and the charts over all runs.
      this.post({ type: 'loading' }, false);
      const all = await this.cli(folder, tableArgs(query, ROW_LIMIT));
      if (generation !== this.generation) return;
      if (all.code !== 0 || all.startError) throw new Error(failureText(all, 'exp table', readConfig().nodePath));
      this.post({ type: 'setData', tableJson: all.stdout, query, experiments: this.experiments, limit: ROW_LIMIT });
    } catch (error) {
      if (generation !== this.generation) return;
      // A refresh asks again with the last query that worked, not with the one that failed.
      this.query = this.goodQuery;
      this.post({ type: 'error', message: error instanceof Error ? error.message : String(error) });
    }
  }

  private cli(folder: vscode.WorkspaceFolder, args: string[]) {
    return runCli({
      nodePath: readConfig().nodePath,
      cliPath: vscode.Uri.joinPath(this.extensionUri, 'dist', 'cli', 'cairn.js').fsPath,
      args: [...args, '--json', '--workspace', folder.uri.fsPath],
      cwd: folder.uri.fsPath,
    });
  }

  private async compare(runs: string[]): Promise<void> {
    const folder = this.folder;
    if (!folder || runs.length < 2 || !vscode.workspace.isTrusted) return;
    try {
      const [comparison, history] = await Promise.all([
        cairnJson<RunComparison>(this.extensionUri, folder, ['exp', 'compare', ...runs]),
        cairnJson<{ histories: MetricHistory[] }>(this.extensionUri, folder, ['exp', 'history', ...runs]),
      ]);
      this.post({ type: 'comparison', comparison, histories: history.histories }, false);
    } catch (error) {
      void vscode.window.showErrorMessage(
        `Cairn could not compare the runs: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  private async star(run: string, starred: boolean): Promise<void> {
    const folder = this.folder;
    if (!folder || !vscode.workspace.isTrusted) return;
    const args = starred ? ['exp', 'tag', run, `${STARRED_TAG}=true`] : ['exp', 'untag', run, STARRED_TAG];
    const result = await this.cli(folder, args);
    if (result.code !== 0) {
      void vscode.window.showErrorMessage(
        `Cairn could not star the run: ${failureText(result, args[1] ?? 'exp', readConfig().nodePath)}`,
      );
    }
    // The store change refreshes the table through the watcher; refresh now too, not to wait for it.
    await this.load();
  }

  private receive(message: WebviewMessage): void {
    switch (message.type) {
      case 'initialized':
        this.ready = true;
        if (this.last) void this.panel?.webview.postMessage(this.last);
        if (this.pendingCompare) void this.compare(this.takePendingCompare());
        break;
      case 'query':
        this.query = message.query;
        void this.load();
        break;
      case 'refresh':
        void this.load();
        break;
      case 'compare':
        void this.compare(message.runs);
        break;
      case 'star':
        void this.star(message.run, message.starred);
        break;
    }
  }

  /** Posts to a ready webview; `keep` keeps a table message for a webview that is not ready yet. */
  private post(message: HostMessage, keep = true): void {
    if (keep) this.last = message;
    if (this.panel && this.ready) void this.panel.webview.postMessage(message);
  }

  private html(webview: vscode.Webview, media: vscode.Uri): string {
    return webviewHtml(webview, media, { bundle: 'experiments', title: 'Experiments', rootId: 'root' });
  }

  dispose(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.watcher?.dispose();
    this.panel?.dispose();
  }

  /** Runs to offer in the Compare Runs quick pick, newest first. */
  async listRuns(folder: vscode.WorkspaceFolder): Promise<ListedRun[]> {
    const list = await cairnJson<{ runs: ListedRun[] }>(this.extensionUri, folder, ['exp', 'list', '--limit', '500']);
    return list.runs;
  }
}

/** The CLI arguments of a table query. */
export function tableArgs(query: TableQuery, limit: number): string[] {
  const args = ['exp', 'table', '--limit', String(limit)];
  if (query.experiment !== null) args.push('--experiment', query.experiment);
  if (query.filter.trim() !== '') args.push('--filter', query.filter);
  if (query.sort.trim() !== '') args.push('--sort', query.sort);
  return args;
}

/** The CLI's `bad --filter: ... at column N.` as a message and a column. */
export function filterProblem(stderr: string): FilterProblem {
  const line = stderr.split('\n').find((each) => each.includes('bad --filter')) ?? stderr.trim();
  const message = line.replace(/^cairn:\s*/, '').replace(/^bad --filter:\s*/, '');
  const column = /at column (\d+)/.exec(message);
  return { message, column: column ? Number(column[1]) : 0 };
}

/** Registers the experiments table and the Compare Runs command. */
export function registerExperimentsTable(context: vscode.ExtensionContext): void {
  const table = new ExperimentsTable(context.extensionUri);
  context.subscriptions.push(
    table,
    // Arguments, all optional: the file or folder it is about (a URI or URI string, as a code lens
    // passes it), then a query to start from (an experiment, a filter, a sort).
    vscode.commands.registerCommand('cairn.openExperiments', async (about?: unknown, preset?: Partial<TableQuery>) => {
      const uri = typeof about === 'string' ? vscode.Uri.parse(about) : about instanceof vscode.Uri ? about : undefined;
      const folder = (uri && vscode.workspace.getWorkspaceFolder(uri)) ?? (await pickFolder());
      if (folder) await table.show(folder, [], preset);
    }),
    vscode.commands.registerCommand('cairn.compareRuns', async (...runIds: unknown[]) => {
      const folder = await pickFolder();
      if (!folder) return;
      if (!vscode.workspace.isTrusted) {
        void vscode.window.showWarningMessage('Cairn reads tracked runs only in a trusted workspace.');
        return;
      }
      const given = runIds.filter((id): id is string => typeof id === 'string');
      const runs = given.length >= 2 ? given : await pickRuns(table, folder);
      if (runs.length >= 2) await table.show(folder, runs);
    }),
  );
}

async function pickRuns(table: ExperimentsTable, folder: vscode.WorkspaceFolder): Promise<string[]> {
  let runs: ListedRun[];
  try {
    runs = await table.listRuns(folder);
  } catch (error) {
    void vscode.window.showErrorMessage(
      `Cairn could not list runs: ${error instanceof Error ? error.message : String(error)}`,
    );
    return [];
  }
  if (runs.length < 2) {
    void vscode.window.showInformationMessage(
      'Cairn needs at least two tracked runs to compare: run a pipeline first.',
    );
    return [];
  }
  const picked = await vscode.window.showQuickPick(
    runs.map((run) => ({
      label: run.name,
      description: `${run.experiment} · ${run.status} · ${run.id.slice(0, 8)}`,
      detail: Object.entries(run.metrics)
        .slice(0, 4)
        .map(([key, value]) => `${key} ${Number(value.toPrecision(4))}`)
        .join('  '),
      id: run.id,
    })),
    { canPickMany: true, placeHolder: 'Compare which runs? (pick two or more)', matchOnDescription: true },
  );
  if (!picked) return [];
  if (picked.length < 2) {
    void vscode.window.showInformationMessage('Pick at least two runs to compare.');
    return [];
  }
  return picked.map((item) => item.id);
}

async function pickFolder(): Promise<vscode.WorkspaceFolder | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length <= 1) return folders[0];
  return vscode.window.showWorkspaceFolderPick({ placeHolder: 'Show the experiments of which folder?' });
}
