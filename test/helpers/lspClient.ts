// A minimal LSP client over stdio for the protocol tests: starts the built server as a child
// process, as an editor would, and waits for the notifications it publishes.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import type { MessageConnection } from 'vscode-jsonrpc/node';
import type { Diagnostic, PublishDiagnosticsParams } from 'vscode-languageserver-protocol';
import { URI } from 'vscode-uri';

export const SERVER = path.resolve(__dirname, '../../dist/server/languageServer.js');

export class LspClient {
  readonly connection: MessageConnection;
  private readonly child: ChildProcess;
  /** The latest diagnostics published per document URI, with their version. */
  readonly diagnostics = new Map<string, PublishDiagnosticsParams>();
  private readonly waiters: {
    uri: string;
    predicate: (params: PublishDiagnosticsParams) => boolean;
    resolve: (params: PublishDiagnosticsParams) => void;
  }[] = [];
  readonly stderr: string[] = [];

  /** How many times diagnostics were published per document URI. */
  readonly published = new Map<string, number>();

  constructor(readonly root: string) {
    this.child = spawn(process.execPath, [SERVER, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr?.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString()));
    this.connection = createMessageConnection(
      new StreamMessageReader(this.child.stdout as NodeJS.ReadableStream),
      new StreamMessageWriter(this.child.stdin as NodeJS.WritableStream),
    );
    this.connection.onNotification('textDocument/publishDiagnostics', (params: PublishDiagnosticsParams) => {
      this.diagnostics.set(params.uri, params);
      this.published.set(params.uri, (this.published.get(params.uri) ?? 0) + 1);
      for (const waiter of [...this.waiters]) {
        if (waiter.uri === params.uri && waiter.predicate(params)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(params);
        }
      }
    });
    this.connection.onRequest('client/registerCapability', () => null);
    this.connection.onRequest('workspace/configuration', () => []);
    this.connection.onNotification(() => undefined);
    this.connection.listen();
  }

  /** Starts the session the way VS Code does. */
  async initialize(): Promise<unknown> {
    const rootUri = URI.file(this.root).toString();
    const result = await this.connection.sendRequest('initialize', {
      processId: process.pid,
      rootUri,
      workspaceFolders: [{ uri: rootUri, name: 'test' }],
      capabilities: {
        workspace: { didChangeWatchedFiles: { dynamicRegistration: true } },
        textDocument: { completion: { completionItem: { snippetSupport: true } } },
      },
    });
    await this.connection.sendNotification('initialized', {});
    return result;
  }

  uri(relativePath: string): string {
    return URI.file(path.join(this.root, relativePath)).toString();
  }

  /** Waits for diagnostics of a file that satisfy a predicate (the next publish by default). */
  waitForDiagnostics(
    relativePath: string,
    predicate: (diagnostics: Diagnostic[]) => boolean = () => true,
    timeout = 10000,
  ): Promise<Diagnostic[]> {
    const uri = this.uri(relativePath);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `no matching diagnostics for ${relativePath} within ${timeout} ms; last: ${JSON.stringify(this.diagnostics.get(uri)?.diagnostics.map((d) => d.message))}`,
            ),
          ),
        timeout,
      );
      this.waiters.push({
        uri,
        predicate: (params) => predicate(params.diagnostics),
        resolve: (params) => {
          clearTimeout(timer);
          resolve(params.diagnostics);
        },
      });
    });
  }

  async open(relativePath: string, text: string, version = 1): Promise<void> {
    await this.connection.sendNotification('textDocument/didOpen', {
      textDocument: { uri: this.uri(relativePath), languageId: 'yaml', version, text },
    });
  }

  async change(relativePath: string, version: number, changes: unknown[]): Promise<void> {
    await this.connection.sendNotification('textDocument/didChange', {
      textDocument: { uri: this.uri(relativePath), version },
      contentChanges: changes,
    });
  }

  request<R>(method: string, relativePath: string, params: Record<string, unknown>): Promise<R> {
    return this.connection.sendRequest(method, {
      textDocument: { uri: this.uri(relativePath) },
      ...params,
    }) as Promise<R>;
  }

  async shutdown(): Promise<void> {
    try {
      await Promise.race([
        this.connection.sendRequest('shutdown'),
        new Promise((resolve) => setTimeout(resolve, 2000)),
      ]);
      await this.connection.sendNotification('exit');
    } catch {
      // The server may already be gone; the kill below makes sure.
    }
    this.connection.dispose();
    this.child.kill();
  }
}

/** The position of the first occurrence of `needle` (plus `delta` characters) in `text`. */
export function positionOf(text: string, needle: string, delta = 0): { line: number; character: number } {
  const index = text.indexOf(needle);
  if (index === -1) throw new Error(`'${needle}' not in text`);
  const offset = index + delta;
  const before = text.slice(0, offset);
  const line = before.split('\n').length - 1;
  return { line, character: offset - (before.lastIndexOf('\n') + 1) };
}

/** A diagnostic's message as text (LSP 3.18 allows Markdown content too). */
export function messageOf(diagnostic: Diagnostic): string {
  return typeof diagnostic.message === 'string' ? diagnostic.message : diagnostic.message.value;
}
