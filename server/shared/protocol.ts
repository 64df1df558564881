// Every custom LSP message between the Cairn client and server, declared once. The client imports
// these types too; nothing here may import `vscode` or Node-only modules.
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';

/** The state of the language server, shown in the status bar. */
export interface ServerStatus {
  state: 'starting' | 'ready' | 'busy' | 'error';
  /** A short human sentence: what the server is doing or what went wrong. */
  message: string;
  /** Spec files the server knows in the workspace. */
  specCount?: number;
}

/** Sent by the server whenever its state changes (indexing, validating, an internal error). */
export const statusNotification = new NotificationType<ServerStatus>('cairn/status');

/** Sent by the client to ask for the server's state right now (after a restart, for example). */
export const statusRequest = new RequestType<void, ServerStatus, void>('cairn/getStatus');
