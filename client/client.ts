// Starts the language server in a real Node.js process (setting `cairn.nodePath`) and connects
// the language client to it over stdio.
import * as vscode from 'vscode';
import { LanguageClient, State } from 'vscode-languageclient/node';
import type { LanguageClientOptions, ServerOptions } from 'vscode-languageclient/node';
import { statusNotification } from '../server/shared/protocol';
import type { Config } from './config';
import type { StatusItem } from './status';

/** The spec files the server handles, for the document selector and the file watcher. */
export const SPEC_PATTERN =
  '**/{dvc.yaml,pipeline.yaml,pipeline.yml,*.pipeline.yaml,*.pipeline.yml,*.experiment.yaml,*.experiment.yml,*.deploy.yaml,*.deploy.yml,params.yaml,params.yml}';

export function createClient(
  context: vscode.ExtensionContext,
  config: Config,
  output: vscode.LogOutputChannel,
  status: StatusItem,
): LanguageClient {
  const serverModule = context.asAbsolutePath('dist/server/languageServer.js');
  const run = {
    command: config.nodePath,
    args: [serverModule, '--stdio'],
    options: { env: { ...process.env, ELECTRON_RUN_AS_NODE: undefined } },
  };
  const serverOptions: ServerOptions = { run, debug: { ...run, args: ['--inspect=6011', serverModule, '--stdio'] } };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file', pattern: SPEC_PATTERN }],
    outputChannel: output,
    initializationFailedHandler: (error) => {
      output.error(`The Cairn language server failed to start: ${String(error)}`);
      status.show({
        state: 'error',
        message: `Failed to start with '${config.nodePath}'. Set cairn.nodePath to a Node.js 20+ executable.`,
      });
      return false;
    },
  };
  const client = new LanguageClient('cairn', 'Cairn Language Server', serverOptions, clientOptions);
  client.onDidChangeState((event) => {
    if (event.newState === State.Starting) status.show({ state: 'starting', message: 'Starting' });
    if (event.newState === State.Stopped)
      status.show({ state: 'error', message: 'Stopped. Run "Cairn: Restart Language Server".' });
  });
  context.subscriptions.push(client.onNotification(statusNotification, (next) => status.show(next)));
  return client;
}
