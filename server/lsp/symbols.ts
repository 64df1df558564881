// Document symbols (stages, datasets, models, sections), workspace symbols, folding and
// selection ranges, all read from the parse.
import { isMap, isScalar, isSeq } from 'yaml';
import type { Pair } from 'yaml';
import { URI } from 'vscode-uri';
import { SymbolKind } from 'vscode-languageserver/node';
import type {
  DocumentSymbol,
  DocumentSymbolParams,
  FoldingRange,
  FoldingRangeParams,
  SelectionRange,
  SelectionRangeParams,
  SymbolInformation,
  WorkspaceSymbolParams,
} from 'vscode-languageserver/node';
import { nodeEnd, nodeStart, scalarString } from '../spec/parse';
import type { YamlNode } from '../spec/parse';
import { LineIndex } from '../spec/text';
import type { LineIndex as Lines } from '../spec/text';
import { nodeAt } from './session';
import type { Session } from './session';

/** Caps for very large documents; beyond them results are cut and the client is told. */
const MAX_SYMBOLS = 10000;
const MAX_FOLDING = 10000;
const SECTION_KINDS: Record<string, SymbolKind> = {
  stages: SymbolKind.Namespace,
  datasets: SymbolKind.Namespace,
  models: SymbolKind.Namespace,
};
const CHILD_KINDS: Record<string, SymbolKind> = {
  stages: SymbolKind.Function,
  datasets: SymbolKind.Struct,
  models: SymbolKind.Class,
};

export function documentSymbols(session: Session, params: DocumentSymbolParams): DocumentSymbol[] | null {
  const state = session.document(params.textDocument.uri);
  const root = state?.parsed?.root ?? null;
  if (!state || !isMap(root)) return null;
  const budget = { left: MAX_SYMBOLS, truncated: false };
  const symbols: DocumentSymbol[] = [];
  for (const pair of root.items as Pair[]) {
    if (budget.left <= 0) {
      budget.truncated = true;
      break;
    }
    const name = scalarString(pair.key);
    if (name === null) continue;
    const symbol = symbolFor(state.lines, pair, name, SECTION_KINDS[name] ?? SymbolKind.Property, budget);
    if (!symbol) continue;
    const value = pair.value as YamlNode | null;
    const depth = state.kind === 'pipeline' && !CHILD_KINDS[name] ? 0 : state.kind === 'pipeline' ? 1 : 3;
    symbol.children = childSymbols(state.lines, value, CHILD_KINDS[name] ?? SymbolKind.Property, depth, budget);
    symbols.push(symbol);
  }
  if (budget.truncated)
    session.notice(
      params.textDocument.uri,
      `Cairn: this file is very large; the outline shows its first ${MAX_SYMBOLS} symbols.`,
    );
  return symbols;
}

function childSymbols(
  lines: Lines,
  node: YamlNode | null,
  kind: SymbolKind,
  depth: number,
  budget: { left: number; truncated: boolean },
): DocumentSymbol[] {
  if (depth <= 0 || !isMap(node)) return [];
  const symbols: DocumentSymbol[] = [];
  for (const pair of node.items as Pair[]) {
    if (budget.left <= 0) {
      budget.truncated = true;
      break;
    }
    const name = scalarString(pair.key);
    if (name === null) continue;
    const symbol = symbolFor(lines, pair, name, kind, budget);
    if (!symbol) continue;
    const children = childSymbols(lines, pair.value as YamlNode | null, SymbolKind.Property, depth - 1, budget);
    if (children.length) symbol.children = children;
    if (kind === SymbolKind.Function) {
      const cmd =
        (pair.value as YamlNode | null) && isMap(pair.value)
          ? pair.value.items.find((item) => scalarString(item.key) === 'cmd')
          : undefined;
      const text = cmd ? scalarString(cmd.value) : null;
      if (text) symbol.detail = text.length > 60 ? `${text.slice(0, 60)}…` : text;
    }
    symbols.push(symbol);
  }
  return symbols;
}

function symbolFor(
  lines: Lines,
  pair: Pair,
  name: string,
  kind: SymbolKind,
  budget: { left: number },
): DocumentSymbol | null {
  const start = nodeStart(pair.key);
  if (start === undefined) return null;
  budget.left--;
  const end = Math.max(nodeEnd(pair) ?? start, nodeEnd(pair.key) ?? start);
  return { name, kind, range: lines.range(start, end), selectionRange: lines.range(start, nodeEnd(pair.key) ?? start) };
}

export function workspaceSymbols(session: Session, params: WorkspaceSymbolParams): SymbolInformation[] {
  const query = params.query.toLowerCase();
  const results: SymbolInformation[] = [];
  const texts = new Map<string, LineIndex>();
  for (const analyzer of session.analyzers()) {
    for (const model of analyzer.pipelines()) {
      const uri = URI.file(model.file).toString();
      const lines = texts.get(model.file) ?? new LineIndex(model.parsed.text);
      texts.set(model.file, lines);
      const container = analyzer.workspace.relative(model.file);
      const add = (name: string, kind: SymbolKind, node: { range?: [number, number, number] | null }): void => {
        if (results.length >= 500 || !fuzzy(name.toLowerCase(), query) || !node.range) return;
        results.push({
          name,
          kind,
          location: { uri, range: lines.range(node.range[0], node.range[1]) },
          containerName: container,
        });
      };
      for (const definition of model.definitions) add(definition.name, SymbolKind.Function, definition.keyNode);
      for (const entry of model.datasets) add(entry.name, SymbolKind.Struct, entry.keyNode);
      for (const entry of model.models) add(entry.name, SymbolKind.Class, entry.keyNode);
    }
  }
  return results;
}

function fuzzy(name: string, query: string): boolean {
  let index = 0;
  for (const character of name) if (character === query[index]) index++;
  return index === query.length;
}

export function foldingRanges(session: Session, params: FoldingRangeParams): FoldingRange[] | null {
  const state = session.document(params.textDocument.uri);
  if (!state) return null;
  const ranges: FoldingRange[] = [];
  const lines = state.lines;
  let truncated = false;
  const walk = (node: unknown, depth: number): void => {
    if (depth > 50) return;
    if (isMap(node)) {
      for (const pair of node.items as Pair[]) {
        if (ranges.length >= MAX_FOLDING) {
          truncated = true;
          return;
        }
        const start = nodeStart(pair.key);
        const end = nodeEnd(pair.value);
        if (start !== undefined && end !== undefined) {
          const startLine = lines.lineOf(start);
          const endLine = lines.lineOf(Math.max(start, end - 1));
          if (endLine > startLine) ranges.push({ startLine, endLine });
        }
        walk(pair.value, depth + 1);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) walk(item, depth + 1);
    }
  };
  walk(state.parsed?.root ?? null, 0);
  if (truncated)
    session.notice(
      params.textDocument.uri,
      `Cairn: this file is very large; folding covers its first ${MAX_FOLDING} blocks.`,
    );
  return ranges;
}

export function selectionRanges(session: Session, params: SelectionRangeParams): SelectionRange[] | null {
  const state = session.document(params.textDocument.uri);
  if (!state) return null;
  const root = state.parsed?.root ?? null;
  return params.positions.map((position) => {
    const offset = state.offset(position);
    const at = nodeAt(root, offset);
    const spans: [number, number][] = [];
    const whole: [number, number] = [0, state.text.length];
    spans.push(whole);
    for (const step of at.path) {
      const pairStart = step.pair ? nodeStart(step.pair.key) : undefined;
      const valueStart = nodeStart(step.node);
      const valueEnd = nodeEnd(step.node);
      if (pairStart !== undefined)
        spans.push([pairStart, Math.max(valueEnd ?? pairStart, nodeEnd(step.pair?.key) ?? pairStart)]);
      if (valueStart !== undefined && valueEnd !== undefined) spans.push([valueStart, valueEnd]);
    }
    if (at.node && isScalar(at.node) && at.node.range) spans.push([at.node.range[0], at.node.range[1]]);
    let parent: SelectionRange | undefined;
    let previous: [number, number] | null = null;
    for (const span of spans) {
      if (span[0] > offset || span[1] < offset) continue;
      if (previous && span[0] === previous[0] && span[1] === previous[1]) continue;
      if (previous && (span[0] < previous[0] || span[1] > previous[1])) continue;
      parent = parent ? { range: lines(span), parent } : { range: lines(span) };
      previous = span;
    }
    return parent ?? { range: lines([offset, offset]) };
  });

  function lines(span: [number, number]): SelectionRange['range'] {
    return state?.lines.range(span[0], span[1]) ?? { start: position0, end: position0 };
  }
}

const position0 = { line: 0, character: 0 };
