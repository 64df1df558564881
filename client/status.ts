// The status bar item that shows the language server's state; clicking it opens the log.
import * as vscode from 'vscode';
import type { ServerStatus } from '../server/shared/protocol';

const ICONS: Record<ServerStatus['state'], string> = {
  starting: '$(sync~spin)',
  ready: '$(check)',
  busy: '$(sync~spin)',
  error: '$(error)',
};

export class StatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('cairn.status', vscode.StatusBarAlignment.Left, 10);

  constructor() {
    this.item.name = 'Cairn';
    this.item.command = 'cairn.showOutput';
    this.show({ state: 'starting', message: 'Starting the Cairn language server' });
    this.item.show();
  }

  show(status: ServerStatus): void {
    this.item.text = `${ICONS[status.state]} Cairn`;
    this.item.tooltip = `Cairn language server: ${status.message}`;
    this.item.backgroundColor =
      status.state === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
