// The monitoring dashboard of a deployment: a webview (client/webview/monitor.ts, built into
// media/monitor.js) fed with `cairn monitor report NAME --json --since WINDOW --bucket B`, read
// again every few seconds while the panel is visible. One panel per deployment. The webview speaks
// only monitorContract.ts.
import * as vscode from 'vscode';
import { openRunbook } from './alertsView';
import { messageOf } from './experimentUi';
import { cairnJson } from './runs';
import { webviewHtml } from './webviewHtml';
import type { HostMessage, MonitorReport, MonitorWindow, WebviewMessage } from './webview/monitorContract';

/** How often a visible dashboard asks for a new report. */
const REFRESH_MS = 3000;
/** The bucket of each window: about 60 points per chart. */
const BUCKETS: Record<MonitorWindow, string> = { '15m': '15s', '1h': '1m', '6h': '5m', '24h': '30m' };

/** Runs a deployment command (promote, rollback, stop) for the dashboard's header buttons. */
export type DeploymentAction = (
  action: 'promote' | 'rollback' | 'stop',
  folder: vscode.WorkspaceFolder,
  deployment: string,
) => Promise<void>;

class MonitorDashboard {
  readonly panel: vscode.WebviewPanel;
  private ready = false;
  private window: MonitorWindow = '15m';
  private last: HostMessage | null = null;
  private timer: NodeJS.Timeout | undefined;
  private loading = false;
  private report: MonitorReport | null = null;

  constructor(
    private readonly extensionUri: vscode.Uri,
    readonly folder: vscode.WorkspaceFolder,
    readonly deployment: string,
    private readonly act: DeploymentAction,
    onDispose: () => void,
  ) {
    const media = vscode.Uri.joinPath(extensionUri, 'media');
    this.panel = vscode.window.createWebviewPanel('cairn.monitor', `Monitor: ${deployment}`, vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [media],
    });
    this.panel.webview.html = webviewHtml(this.panel.webview, media, {
      bundle: 'monitor',
      title: `Monitor: ${deployment}`,
      rootId: 'root',
    });
    this.panel.webview.onDidReceiveMessage((message: WebviewMessage) => this.receive(message));
    this.panel.onDidChangeViewState(() => {
      if (this.panel.visible) void this.load();
    });
    this.panel.onDidDispose(() => {
      clearTimeout(this.timer);
      onDispose();
    });
  }

  /** Reads the report and schedules the next read while the panel is visible. */
  async load(): Promise<void> {
    clearTimeout(this.timer);
    if (this.loading) return;
    if (!vscode.workspace.isTrusted) {
      this.post({ type: 'error', message: 'Cairn reads deployments only in a trusted workspace.' });
      return;
    }
    this.loading = true;
    try {
      this.report = await cairnJson<MonitorReport>(this.extensionUri, this.folder, [
        'monitor',
        'report',
        this.deployment,
        '--since',
        this.window,
        '--bucket',
        BUCKETS[this.window],
      ]);
      this.post({
        type: 'setReport',
        report: this.report,
        window: this.window,
        nextRefreshAt: Date.now() + REFRESH_MS,
      });
    } catch (error) {
      this.post({ type: 'error', message: messageOf(error) });
    } finally {
      this.loading = false;
    }
    if (this.panel.visible) this.timer = setTimeout(() => void this.load(), REFRESH_MS);
  }

  private receive(message: WebviewMessage): void {
    switch (message.type) {
      case 'initialized':
        this.ready = true;
        if (this.last) void this.panel.webview.postMessage(this.last);
        break;
      case 'window':
        this.window = message.window;
        void this.load();
        break;
      case 'refresh':
        void this.load();
        break;
      case 'action':
        void this.act(message.action, this.folder, this.deployment).then(() => this.load());
        break;
      case 'openRunbook': {
        const alert = this.report?.alerts.find((each) => each.id === message.alert);
        if (alert) void openRunbook(this.folder, alert);
        break;
      }
    }
  }

  private post(message: HostMessage): void {
    this.last = message;
    if (this.ready) void this.panel.webview.postMessage(message);
  }
}

/** The open dashboards, one per deployment of a folder. */
export class MonitorPanels implements vscode.Disposable {
  private readonly dashboards = new Map<string, MonitorDashboard>();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly act: DeploymentAction,
  ) {}

  /** Opens (or reveals) the dashboard of a deployment. */
  async show(folder: vscode.WorkspaceFolder, deployment: string): Promise<void> {
    const key = `${folder.uri.toString()}#${deployment}`;
    const open = this.dashboards.get(key);
    if (open) {
      open.panel.reveal(undefined, false);
      await open.load();
      return;
    }
    const dashboard = new MonitorDashboard(this.extensionUri, folder, deployment, this.act, () =>
      this.dashboards.delete(key),
    );
    this.dashboards.set(key, dashboard);
    await dashboard.load();
  }

  /** Reads the open dashboards again (after a command changed a deployment). */
  refresh(): void {
    for (const dashboard of this.dashboards.values()) if (dashboard.panel.visible) void dashboard.load();
  }

  dispose(): void {
    for (const dashboard of this.dashboards.values()) dashboard.panel.dispose();
    this.dashboards.clear();
  }
}
