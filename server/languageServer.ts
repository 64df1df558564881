// Entry of `cairn-language-server`: the Cairn language server for any LSP editor.
//   cairn-language-server --stdio
import { createConnection, ProposedFeatures } from 'vscode-languageserver/node';
import { startServer } from './lsp/server';
import { version } from '../package.json';

const args = process.argv.slice(2);
if (args.includes('--version')) {
  process.stdout.write(`${version}\n`);
  process.exit(0);
}
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(
    'Usage: cairn-language-server --stdio\n\nThe Cairn language server for pipeline.yaml, dvc.yaml, *.experiment.yaml and *.deploy.yaml.\nSpeaks LSP over standard input and output (--stdio), a Node IPC channel (--node-ipc) or a socket (--socket=PORT).\n',
  );
  process.exit(0);
}
if (
  !args.some(
    (arg) => arg === '--stdio' || arg === '--node-ipc' || arg.startsWith('--socket') || arg.startsWith('--pipe'),
  )
) {
  process.stderr.write('cairn-language-server: choose a transport, for example --stdio (see --help).\n');
  process.exit(2);
}
const connection = createConnection(ProposedFeatures.all);
// A promise nobody awaited must not take the editor's language features down with it.
process.on('unhandledRejection', (reason) => {
  connection.console.error(
    `Cairn: unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`,
  );
});
startServer(connection);
