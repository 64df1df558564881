// The lineage panel's host: asks `cairn lineage --json` for a graph and pushes it to the webview
// (client/webview/lineage.ts, built into media/lineage.js). One panel, revealed again on each
// request; the webview speaks only the messages of lineageContract.ts.
import * as vscode from 'vscode';
import { cairnJson } from './runs';
import type { HostMessage, LineageGraph, WebviewMessage } from './webview/lineageContract';
import { webviewHtml } from './webviewHtml';

/** What to show: the lineage of a file, or the whole workspace with a stage selected. */
export interface LineageRequest {
  folder: vscode.WorkspaceFolder;
  /** Workspace-relative path ('/' separators) of a file; undefined for the whole workspace. */
  path?: string;
  /** A stage to select in the whole-workspace graph: its pipeline file and name. */
  stage?: { file: string; name: string };
}

export class LineagePanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | null = null;
  private request: LineageRequest | null = null;
  private ready = false;
  private last: HostMessage | null = null;
  /** Only the newest request may post its answer. */
  private generation = 0;

  constructor(private readonly extensionUri: vscode.Uri) {}

  /** Shows the lineage for a request in the one panel (created on first use). */
  async show(request: LineageRequest): Promise<void> {
    this.request = request;
    if (!this.panel) this.panel = this.createPanel();
    else this.panel.reveal(undefined, false);
    this.panel.title = `Lineage: ${titleOf(request)}`;
    await this.load();
  }

  private createPanel(): vscode.WebviewPanel {
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    const panel = vscode.window.createWebviewPanel('cairn.lineage', 'Lineage', vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [media],
    });
    this.ready = false;
    panel.webview.html = this.html(panel.webview, media);
    panel.webview.onDidReceiveMessage((message: WebviewMessage) => this.receive(message));
    panel.onDidDispose(() => {
      this.panel = null;
      this.ready = false;
    });
    return panel;
  }

  private async load(): Promise<void> {
    const request = this.request;
    if (!request) return;
    const generation = ++this.generation;
    const title = titleOf(request);
    this.post({ type: 'loading', title });
    const args = request.path ? ['lineage', request.path] : ['lineage', '--all'];
    try {
      const graph = await cairnJson<LineageGraph>(this.extensionUri, request.folder, args);
      if (generation !== this.generation) return;
      this.post({ type: 'setData', title, graph, selected: selectedNode(graph, request) });
    } catch (error) {
      if (generation !== this.generation) return;
      this.post({ type: 'error', title, message: error instanceof Error ? error.message : String(error) });
    }
  }

  private receive(message: WebviewMessage): void {
    switch (message.type) {
      case 'initialized':
        this.ready = true;
        if (this.last) void this.panel?.webview.postMessage(this.last);
        break;
      case 'refresh':
        void this.load();
        break;
      case 'openFile': {
        const folder = this.request?.folder;
        if (folder) void openInEditor(vscode.Uri.joinPath(folder.uri, ...message.path.split('/')), message.line);
        break;
      }
    }
  }

  /** Keeps the newest message for a webview that is not ready yet (it asks with `initialized`). */
  private post(message: HostMessage): void {
    this.last = message;
    if (this.panel && this.ready) void this.panel.webview.postMessage(message);
  }

  private html(webview: vscode.Webview, media: vscode.Uri): string {
    return webviewHtml(webview, media, { bundle: 'lineage', title: 'Lineage', rootId: 'app' });
  }

  dispose(): void {
    this.panel?.dispose();
  }
}

/** Opens a file beside the panel (at a line), or reveals a folder (a directory out) in the Explorer. */
async function openInEditor(uri: vscode.Uri, line: number | undefined): Promise<void> {
  try {
    const stat = await vscode.workspace.fs.stat(uri);
    if (stat.type & vscode.FileType.Directory) {
      await vscode.commands.executeCommand('revealInExplorer', uri);
      return;
    }
    const selection = line === undefined ? undefined : new vscode.Range(line, 0, line, 0);
    await vscode.window.showTextDocument(uri, {
      viewColumn: vscode.ViewColumn.Beside,
      preview: true,
      ...(selection ? { selection } : {}),
    });
  } catch (error) {
    void vscode.window.showErrorMessage(
      `Cairn could not open ${vscode.workspace.asRelativePath(uri)}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function titleOf(request: LineageRequest): string {
  if (request.path) return request.path;
  if (request.stage) return `stage ${request.stage.name}`;
  return 'the workspace';
}

/**
 * The node to select: the requested file, or the stage by its address (`name`, or
 * `file:name` for a pipeline other than the root one), falling back to a stage with that label.
 */
function selectedNode(graph: LineageGraph, request: LineageRequest): string | null {
  if (graph.target) return graph.target;
  const stage = request.stage;
  if (!stage) return null;
  const ids = new Set(graph.nodes.map((node) => node.id));
  for (const id of [`stage:${stage.file}:${stage.name}`, `stage:${stage.name}`]) if (ids.has(id)) return id;
  return graph.nodes.find((node) => node.kind === 'stage' && node.label === stage.name)?.id ?? null;
}
