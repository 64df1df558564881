// What every LSP feature needs about one open document: its text, lines, parse, kind and the
// analyzer of its workspace; plus locating the YAML node under the cursor.
import { isMap, isScalar, isSeq } from 'yaml';
import type { Pair } from 'yaml';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { Position } from 'vscode-languageserver/node';
import type { Analyzer } from '../spec/analyze';
import type { ParsedDocument, YamlNode } from '../spec/parse';
import { specKindOf } from '../spec/schemas';
import type { SpecKind } from '../spec/schemas';
import { LineIndex } from '../spec/text';

export interface Session {
  /** The state of an open document, or null if the editor has not opened it. */
  document(uri: string): DocumentState | null;
  analyzers(): Analyzer[];
  log(message: string): void;
  /** Tells the user once per document that a result was cut short (very large files). */
  notice(uri: string, message: string): void;
}

export class DocumentState {
  private lineIndex: LineIndex | null = null;

  constructor(
    readonly uri: string,
    readonly file: string,
    readonly document: TextDocument,
    readonly analyzer: Analyzer,
  ) {}

  get kind(): SpecKind | null {
    return specKindOf(this.file);
  }

  get text(): string {
    return this.document.getText();
  }

  get lines(): LineIndex {
    if (!this.lineIndex) this.lineIndex = new LineIndex(this.text);
    return this.lineIndex;
  }

  get parsed(): ParsedDocument | null {
    return this.analyzer.workspace.parse(this.file);
  }

  offset(position: Position): number {
    return this.document.offsetAt(position);
  }
}

/** A step from the root to the node under the cursor. */
export interface NodeStep {
  /** The key (string) or index (number) taken from the parent. */
  key: string | number;
  pair: Pair | null;
  node: YamlNode | null;
}

/** Where the cursor is in the tree: the path of keys, and whether it is on a key or a value. */
export interface NodeAt {
  path: NodeStep[];
  /** The innermost node under the cursor (a scalar key or value, or a collection). */
  node: YamlNode | null;
  onKey: boolean;
}

function contains(node: unknown, offset: number): boolean {
  const range = (node as { range?: [number, number, number] | null } | null)?.range;
  return !!range && offset >= range[0] && offset <= range[1];
}

/** Finds the node at an offset, descending through maps and sequences. */
export function nodeAt(root: YamlNode | null, offset: number): NodeAt {
  const path: NodeStep[] = [];
  let current: YamlNode | null = root;
  for (let depth = 0; depth < 200 && current; depth++) {
    if (isMap(current)) {
      const pair = (current.items as Pair[]).find((item) => contains(item.key, offset) || contains(item.value, offset));
      if (!pair) return { path, node: current, onKey: false };
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (contains(pair.key, offset)) {
        path.push({ key, pair, node: (pair.value as YamlNode | null) ?? null });
        return { path, node: pair.key as YamlNode, onKey: true };
      }
      path.push({ key, pair, node: (pair.value as YamlNode | null) ?? null });
      current = (pair.value as YamlNode | null) ?? null;
      continue;
    }
    if (isSeq(current)) {
      const items = current.items as (YamlNode | null)[];
      const index = items.findIndex((item) => contains(item, offset));
      if (index === -1) return { path, node: current, onKey: false };
      path.push({ key: index, pair: null, node: items[index] ?? null });
      current = items[index] ?? null;
      continue;
    }
    return { path, node: current, onKey: false };
  }
  return { path, node: current, onKey: false };
}

/** The keys of a path, for schema lookups. */
export function pathKeys(path: readonly NodeStep[]): (string | number)[] {
  return path.map((step) => step.key);
}
