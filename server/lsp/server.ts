// The language server: wires LSP requests to the spec core. Handlers are thin; each catches its
// own errors so one bad request never takes the server down, and logs through the connection.
import * as path from 'node:path';
import {
  DidChangeWatchedFilesNotification,
  FileChangeType,
  MessageType,
  ResponseError,
  ShowMessageNotification,
  TextDocuments,
  TextDocumentSyncKind,
  WatchKind,
} from 'vscode-languageserver/node';
import type { Connection, InitializeParams, InitializeResult } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { URI } from 'vscode-uri';
import { Analyzer } from '../spec/analyze';
import { specKindOf } from '../spec/schemas';
import { Workspace } from '../spec/workspace';
import { statusNotification, statusRequest } from '../shared/protocol';
import type { ServerStatus } from '../shared/protocol';
import { codeActions } from './codeActions';
import { codeLenses } from './codeLens';
import { completion } from './completion';
import { toDiagnostics } from './convert';
import { hover } from './hover';
import { definition, prepareRename, references, rename } from './navigation';
import { documentSymbols, foldingRanges, selectionRanges, workspaceSymbols } from './symbols';
import { RegistryNames } from './registryNames';
import type { Session } from './session';
import { DocumentState } from './session';

/** Starts serving on a connection; returns when the connection is listening. */
export function startServer(connection: Connection): void {
  const documents = new TextDocuments(TextDocument);
  const analyzers = new Map<string, Analyzer>();
  let roots: string[] = [];
  let status: ServerStatus = { state: 'starting', message: 'Starting' };
  let canWatch = false;

  const setStatus = (next: ServerStatus): void => {
    status = next;
    void connection.sendNotification(statusNotification, status);
  };

  /** The analyzer of the workspace folder that holds a file (or of the file's folder). */
  const analyzerFor = (file: string): Analyzer => {
    const root =
      roots
        .filter((candidate) => file === candidate || file.startsWith(candidate + path.sep))
        .sort((a, b) => b.length - a.length)[0] ?? path.dirname(file);
    let analyzer = analyzers.get(root);
    if (!analyzer) {
      analyzer = new Analyzer(
        new Workspace(root),
        new RegistryNames(root, (message) => connection.console.log(message)),
      );
      analyzers.set(root, analyzer);
    }
    return analyzer;
  };

  const noticed = new Set<string>();
  const session: Session = {
    document(uri) {
      const document = documents.get(uri);
      if (!document) return null;
      const file = URI.parse(uri).fsPath;
      const analyzer = analyzerFor(file);
      analyzer.workspace.setOpen(file, document.getText(), document.version);
      return new DocumentState(uri, file, document, analyzer);
    },
    analyzers: () => [...analyzers.values()],
    log: (message) => connection.console.log(message),
    notice: (uri, message) => {
      const key = `${uri}\n${message}`;
      if (noticed.has(key)) return;
      noticed.add(key);
      // A notification, not a request: a notice needs no answer, and a client may refuse message boxes.
      void connection.sendNotification(ShowMessageNotification.type, { type: MessageType.Info, message });
    },
  };

  // Validation is scheduled, not run inside the change handler, so a burst of changes read in one
  // tick is validated once. While changes to a document arrive faster than it can be validated (fast
  // typing in a very large file), its validation waits for a pause as long as one validation takes, so
  // requests in between are answered at once instead of queueing behind validations already stale.
  const timers = new Map<string, NodeJS.Timeout>();
  const lastChange = new Map<string, number>();
  const cost = new Map<string, number>();
  const schedule = (uris: Iterable<string>, typing = false): void => {
    for (const uri of uris) {
      let delay = 0;
      if (typing) {
        const now = performance.now();
        const busy = now - (lastChange.get(uri) ?? -Infinity) < (cost.get(uri) ?? 0);
        lastChange.set(uri, now);
        if (busy) delay = Math.min(cost.get(uri) ?? 0, 500);
      }
      clearTimeout(timers.get(uri));
      timers.set(
        uri,
        setTimeout(() => {
          timers.delete(uri);
          const started = performance.now();
          validate(uri);
          cost.set(uri, performance.now() - started);
        }, delay),
      );
    }
  };

  const validate = (uri: string): void => {
    const state = session.document(uri);
    if (!state || specKindOf(state.file) === null) return;
    try {
      const problems = state.analyzer.diagnose(state.file);
      void connection.sendDiagnostics({
        uri,
        version: state.document.version,
        diagnostics: toDiagnostics(problems, state.lines, uri),
      });
    } catch (error) {
      reportError(`validating ${state.file}`, error);
    }
  };

  const reportError = (what: string, error: unknown): void => {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    connection.console.error(`Cairn: error while ${what}: ${message}`);
    setStatus({ state: 'error', message: `Internal error while ${what}; see the Cairn output.` });
  };

  /** Wraps a request handler so that a failure is logged and answered with `fallback`. */
  const guard = <P, R>(what: string, fallback: R, handler: (params: P) => R): ((params: P) => R) => {
    return (params: P) => {
      try {
        return handler(params);
      } catch (error) {
        // A refusal meant for the user (an invalid rename) goes back as the answer, not to the log.
        if (error instanceof ResponseError) throw error;
        reportError(what, error);
        return fallback;
      }
    };
  };

  /** After a params file or a pipeline changed, every open spec may read differently. */
  const revalidateOpen = (except?: string): void => {
    schedule(documents.keys().filter((uri) => uri !== except));
  };

  connection.onInitialize((params: InitializeParams): InitializeResult => {
    roots = (params.workspaceFolders ?? []).map((folder) => URI.parse(folder.uri).fsPath);
    if (roots.length === 0 && params.rootUri) roots = [URI.parse(params.rootUri).fsPath];
    canWatch = params.capabilities.workspace?.didChangeWatchedFiles?.dynamicRegistration === true;
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, save: false },
        completionProvider: { triggerCharacters: [' ', ':', '{', '.', '/', '@', '-'], resolveProvider: false },
        hoverProvider: true,
        definitionProvider: true,
        referencesProvider: true,
        renameProvider: { prepareProvider: true },
        codeActionProvider: { codeActionKinds: ['quickfix'] },
        codeLensProvider: { resolveProvider: false },
        documentSymbolProvider: true,
        workspaceSymbolProvider: true,
        foldingRangeProvider: true,
        selectionRangeProvider: true,
      },
      serverInfo: { name: 'cairn-language-server' },
    };
  });

  connection.onInitialized(() => {
    if (canWatch) {
      void connection.client.register(DidChangeWatchedFilesNotification.type, {
        watchers: [{ globPattern: '**/*', kind: WatchKind.Create | WatchKind.Delete | WatchKind.Change }],
      });
    }
    const count = roots.reduce((total, root) => total + analyzerFor(root + path.sep + 'x').workspace.specs().length, 0);
    setStatus({ state: 'ready', message: `Ready: ${count} spec file${count === 1 ? '' : 's'}`, specCount: count });
  });

  connection.onRequest(statusRequest, () => status);

  documents.onDidChangeContent((event) => {
    const file = URI.parse(event.document.uri).fsPath;
    const kind = specKindOf(file);
    analyzerFor(file).workspace.setOpen(file, event.document.getText(), event.document.version);
    schedule([event.document.uri], true);
    if (kind === 'params' || kind === 'pipeline') revalidateOpen(event.document.uri);
  });

  documents.onDidClose((event) => {
    const file = URI.parse(event.document.uri).fsPath;
    analyzerFor(file).workspace.close(file);
    clearTimeout(timers.get(event.document.uri));
    timers.delete(event.document.uri);
    lastChange.delete(event.document.uri);
    cost.delete(event.document.uri);
    void connection.sendDiagnostics({ uri: event.document.uri, diagnostics: [] });
    revalidateOpen();
  });

  connection.onDidChangeWatchedFiles((params) => {
    for (const change of params.changes) {
      const file = URI.parse(change.uri).fsPath;
      const workspace = analyzerFor(file).workspace;
      if (change.type === FileChangeType.Changed) workspace.changed(file);
      else workspace.createdOrDeleted(file);
    }
    revalidateOpen();
  });

  connection.onCompletion(guard('completing', null, (params) => completion(session, params)));
  connection.onHover(guard('hovering', null, (params) => hover(session, params)));
  connection.onDefinition(guard('finding the definition', null, (params) => definition(session, params)));
  connection.onReferences(guard('finding references', null, (params) => references(session, params)));
  connection.onPrepareRename(guard('preparing a rename', null, (params) => prepareRename(session, params)));
  connection.onRenameRequest(guard('renaming', null, (params) => rename(session, params)));
  connection.onCodeAction(guard('computing quick fixes', null, (params) => codeActions(session, params)));
  connection.onCodeLens(guard('computing code lenses', null, (params) => codeLenses(session, params)));
  connection.onDocumentSymbol(guard('listing symbols', null, (params) => documentSymbols(session, params)));
  connection.onWorkspaceSymbol(guard('searching symbols', null, (params) => workspaceSymbols(session, params)));
  connection.onFoldingRanges(guard('computing folding ranges', null, (params) => foldingRanges(session, params)));
  connection.onSelectionRanges(guard('computing selection ranges', null, (params) => selectionRanges(session, params)));

  documents.listen(connection);
  connection.listen();
}
