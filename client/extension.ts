// The Cairn extension: starts the language server, shows its state, and hosts the sidebar.
// The extension host loads no native module; everything heavy runs in the server process.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { createClient } from './client';
import { readConfig } from './config';
import { SpecsView } from './specsView';
import { StatusItem } from './status';

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('Cairn', { log: true });
  const status = new StatusItem();
  const specs = new SpecsView();
  context.subscriptions.push(output, status, specs, vscode.window.registerTreeDataProvider('cairn.specs', specs));

  const start = async (): Promise<void> => {
    client = createClient(context, readConfig(), output, status);
    try {
      await client.start();
    } catch (error) {
      output.error(`Could not start the Cairn language server: ${String(error)}`);
    }
  };

  context.subscriptions.push(
    vscode.commands.registerCommand('cairn.restartServer', async () => {
      output.info('Restarting the Cairn language server');
      if (client) await client.stop().catch((error: unknown) => output.warn(`Stopping the server: ${String(error)}`));
      await start();
    }),
    vscode.commands.registerCommand('cairn.showOutput', () => output.show(true)),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration('cairn.nodePath')) await vscode.commands.executeCommand('cairn.restartServer');
    }),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
