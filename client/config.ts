// The extension's settings, read in one place.
import * as vscode from 'vscode';

export interface Config {
  /** The Node.js runtime that runs the language server (never Electron's: see ARCHITECTURE.md). */
  nodePath: string;
}

export function readConfig(): Config {
  const section = vscode.workspace.getConfiguration('cairn');
  return { nodePath: section.get<string>('nodePath')?.trim() || 'node' };
}
