// YAML parsing that keeps ranges and reuses work between edits. A spec file is cut into segments
// at its top-level keys, and large block mappings (`stages:` with thousands of stages) are cut
// again at each child key. Each segment is parsed on its own with the `yaml` package; after an
// edit only the segments whose text changed are parsed again, the others are shifted in place.
// Documents that segmenting could misread (anchors, aliases, several documents, flow collections
// at the top) are parsed whole, which is always correct, only slower.
import {
  Alias,
  Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  Pair,
  parseDocument,
  Scalar,
  visit,
  YAMLMap,
} from 'yaml';
import type { Node as YamlNode } from 'yaml';
import { fastParseMap } from './fastYaml';
import { indentation } from './text';

export type { YamlNode };

/** A YAML syntax error, with a range tightened to the offending line. */
export interface SyntaxProblem {
  code: string;
  message: string;
  start: number;
  end: number;
}

/** One piece of the document parsed on its own; reused across edits while its text is unchanged. */
interface Segment {
  text: string;
  start: number;
  /** Pairs of the root map that this segment holds (for a child segment: pairs of the split map). */
  pairs: Pair[];
  errors: SyntaxProblem[];
  /** For a child segment: the index of the top-level segment it belongs to. */
  parent: number;
  /** For a header of a split map: the key node, the map is assembled from the children. */
  splitKey?: Scalar;
}

/** The parse of one document: the root node with absolute ranges, and its syntax errors. */
export interface ParsedDocument {
  text: string;
  root: YamlNode | null;
  errors: SyntaxProblem[];
  /** The whole-document parse when the file could not be segmented; used to resolve aliases. */
  document: Document | null;
  segments: Segment[];
}

/** Maps whose value holds more lines than this are cut into one segment per child key. */
const SPLIT_THRESHOLD_LINES = 40;

const KEY_LINE = /^(?:"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"[\]{},:&*!|>%@`-][^#]*?|-[^\s#][^#]*?)\s*:(?:\s|$)/;
const UNSAFE_FOR_SEGMENTS = /(?:^|[\s,[{])[&*][A-Za-z0-9_-]|<<\s*:|^(?:---|\.\.\.|%)|^\t/m;

/** Parses a spec document, reusing the segments of `previous` whose text did not change. */
export function parseSpec(text: string, previous?: ParsedDocument): ParsedDocument {
  const deep = tooDeep(text);
  if (deep) return deep;
  const body = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const cuts = UNSAFE_FOR_SEGMENTS.test(text) ? null : segmentBoundaries(text, body);
  if (!cuts) return parseWhole(text);

  const reusable = new Map<string, Segment[]>();
  if (previous) {
    for (const segment of previous.segments) {
      const list = reusable.get(segment.text);
      if (list) list.push(segment);
      else reusable.set(segment.text, [segment]);
    }
  }
  const segments: Segment[] = [];
  let parent = -1;
  for (const cut of cuts) {
    const slice = text.slice(cut.start, cut.end);
    if (cut.kind !== 'child') parent = segments.length;
    const candidates = reusable.get(slice);
    const old = candidates?.find((segment) => (segment.splitKey !== undefined) === (cut.kind === 'header'));
    let segment: Segment;
    if (old && candidates) {
      candidates.splice(candidates.indexOf(old), 1);
      shiftSegment(old, cut.start - old.start);
      segment = old;
    } else {
      segment = parseSegment(slice, cut.start, cut.kind);
    }
    segment.parent = cut.kind === 'child' ? parent : -1;
    segments.push(segment);
  }
  return assemble(text, segments);
}

interface Cut {
  start: number;
  end: number;
  kind: 'top' | 'header' | 'child';
}

/** Finds the segment boundaries, or null when the document must be parsed whole. */
function segmentBoundaries(text: string, body: number): Cut[] | null {
  const lineStarts: number[] = [];
  for (let offset = body; offset < text.length || offset === body;) {
    lineStarts.push(offset);
    const next = text.indexOf('\n', offset);
    if (next === -1) break;
    offset = next + 1;
    if (offset >= text.length) break;
  }
  const tops: number[] = [];
  for (let index = 0; index < lineStarts.length; index++) {
    const start = lineStarts[index] ?? 0;
    const first = text.charCodeAt(start);
    if (first === 32 || first === 10 || first === 13 || first === 35 || Number.isNaN(first)) continue;
    const line = lineText(text, start);
    if (!KEY_LINE.test(line)) return null;
    tops.push(index);
  }
  const cuts: Cut[] = [];
  if (tops.length === 0) return [{ start: body, end: text.length, kind: 'top' }];
  // Leading comments and blank lines belong to the first segment.
  for (let t = 0; t < tops.length; t++) {
    const firstLine = t === 0 ? 0 : (tops[t] ?? 0);
    const lastLine = t + 1 < tops.length ? (tops[t + 1] ?? 0) : lineStarts.length;
    const start = lineStarts[firstLine] ?? body;
    const end = lastLine < lineStarts.length ? (lineStarts[lastLine] ?? text.length) : text.length;
    const headerLine = tops[t] ?? 0;
    const children =
      lastLine - headerLine > SPLIT_THRESHOLD_LINES ? childStarts(text, lineStarts, headerLine, lastLine) : null;
    if (!children || children.length === 0) {
      cuts.push({ start, end, kind: 'top' });
      continue;
    }
    const firstChild = lineStarts[children[0] ?? 0] ?? end;
    cuts.push({ start, end: firstChild, kind: 'header' });
    for (let c = 0; c < children.length; c++) {
      const childStart = lineStarts[children[c] ?? 0] ?? end;
      const next = c + 1 < children.length ? (lineStarts[children[c + 1] ?? 0] ?? end) : end;
      cuts.push({ start: childStart, end: next, kind: 'child' });
    }
  }
  return cuts;
}

/** The lines that start child keys of a block map under a top-level key, or null if not splittable. */
function childStarts(text: string, lineStarts: number[], headerLine: number, endLine: number): number[] | null {
  const header = lineText(text, lineStarts[headerLine] ?? 0);
  // Only `key:` with nothing but a comment after it opens a block value that can be split.
  if (!/^(?:"[^"]*"|'[^']*'|[^\s#'"]+?)\s*:\s*(?:#.*)?\r?$/.test(header)) return null;
  let childIndent = -1;
  const starts: number[] = [];
  for (let line = headerLine + 1; line < endLine; line++) {
    const content = lineText(text, lineStarts[line] ?? 0);
    const indent = indentation(content);
    const rest = content.slice(indent);
    if (rest === '' || rest === '\r' || rest.startsWith('#')) continue;
    if (childIndent === -1) childIndent = indent;
    if (indent < childIndent) return null;
    if (indent === childIndent) {
      if (rest.startsWith('-') || !KEY_LINE.test(rest)) return null;
      starts.push(line);
    }
  }
  return starts;
}

function lineText(text: string, start: number): string {
  const end = text.indexOf('\n', start);
  return text.slice(start, end === -1 ? text.length : end);
}

function parseSegment(slice: string, start: number, kind: Cut['kind']): Segment {
  const fast = fastParseMap(slice);
  if (fast !== null && fast.length > 0) {
    const segment: Segment = { text: slice, start: 0, pairs: fast, errors: [], parent: -1 };
    const key = fast[0]?.key;
    if (kind === 'header' && isScalar(key)) segment.splitKey = key;
    shiftSegment(segment, start);
    return segment;
  }
  const document = parseDocument(slice, { keepSourceTokens: false, prettyErrors: false, uniqueKeys: true });
  const errors = document.errors.map((error) => syntaxProblem(slice, error.code, error.message, error.pos, start));
  const segment: Segment = { text: slice, start: 0, pairs: [], errors, parent: -1 };
  const contents = document.contents;
  if (isMap(contents)) segment.pairs = contents.items as Pair[];
  else if (contents !== null && !(isScalar(contents) && contents.value === null && slice.trim().startsWith('#'))) {
    // A segment that is not a map cannot be spliced into the root map: keep its node as a value.
    if (errors.length === 0 && !isScalar(contents)) {
      errors.push({
        code: 'UNEXPECTED',
        message: 'Expected a key: value mapping here.',
        start,
        end: start + firstLineLength(slice),
      });
    }
  }
  if (kind === 'header') {
    const pair = segment.pairs[0];
    if (pair && isScalar(pair.key)) segment.splitKey = pair.key;
  }
  shiftSegment(segment, start);
  return segment;
}

function firstLineLength(text: string): number {
  const end = text.indexOf('\n');
  return end === -1 ? text.length : end;
}

/** Moves a segment and every node in it by `delta` characters. */
function shiftSegment(segment: Segment, delta: number): void {
  segment.start += delta;
  if (delta === 0) return;
  for (const pair of segment.pairs) shiftNode(pair, delta);
  for (const error of segment.errors) {
    error.start += delta;
    error.end += delta;
  }
}

function shiftNode(node: unknown, delta: number): void {
  if (isPair(node)) {
    shiftNode(node.key, delta);
    shiftNode(node.value, delta);
    return;
  }
  if (isScalar(node) || isAlias(node)) {
    shiftRange(node.range, delta);
    return;
  }
  if (isMap(node) || isSeq(node)) {
    shiftRange(node.range, delta);
    for (const item of node.items) shiftNode(item, delta);
  }
}

function shiftRange(range: [number, number, number] | null | undefined, delta: number): void {
  if (!range) return;
  range[0] += delta;
  range[1] += delta;
  range[2] += delta;
}

/** Builds the root map from the segments. */
function assemble(text: string, segments: Segment[]): ParsedDocument {
  const root = new YAMLMap();
  const errors: SyntaxProblem[] = [];
  let openMap: YAMLMap | null = null;
  let seen = new Map<string, Scalar>();
  for (const segment of segments) {
    errors.push(...segment.errors);
    if (segment.parent === -1) {
      openMap = null;
      if (segment.splitKey) {
        openMap = new YAMLMap();
        const pair = new Pair(segment.splitKey, openMap);
        root.items.push(pair);
        seen = new Map();
      } else {
        root.items.push(...segment.pairs);
      }
      continue;
    }
    if (!openMap) continue;
    for (const pair of segment.pairs) {
      if (isScalar(pair.key)) {
        const name = String(pair.key.value);
        if (seen.has(name)) {
          const range = pair.key.range ?? [segment.start, segment.start, segment.start];
          errors.push({
            code: 'DUPLICATE_KEY',
            message: `Map keys must be unique: '${name}' is defined twice.`,
            start: range[0],
            end: range[1],
          });
        } else seen.set(name, pair.key);
      }
      openMap.items.push(pair);
    }
  }
  for (const item of root.items) {
    const value = item.value;
    if (isMap(value) && value.items.length > 0 && !value.range) {
      const first = value.items[0];
      const last = value.items[value.items.length - 1];
      const start = nodeStart(first?.key) ?? 0;
      const end = nodeEnd(last?.value ?? last?.key) ?? start;
      value.range = [start, end, end];
    }
  }
  const start = segments[0]?.start ?? 0;
  root.range = [start, text.length, text.length];
  const hasContent = root.items.length > 0;
  return { text, root: hasContent ? root : null, errors, document: null, segments };
}

/** Parses a document in one piece (data files, and documents that cannot be segmented). */
export function parseWhole(text: string): ParsedDocument {
  const deep = tooDeep(text);
  if (deep) return deep;
  const fast = fastParseMap(text);
  if (fast !== null && fast.length > 0) {
    const root = new YAMLMap();
    root.items.push(...fast);
    root.range = [fast[0]?.key && isScalar(fast[0].key) ? (fast[0].key.range?.[0] ?? 0) : 0, text.length, text.length];
    return { text, root, errors: [], document: null, segments: [] };
  }
  const document = parseDocument(text, { keepSourceTokens: false, prettyErrors: false, uniqueKeys: true });
  const errors = document.errors.map((error) => syntaxProblem(text, error.code, error.message, error.pos, 0));
  for (const warning of document.warnings) {
    if (warning.code === 'TAB_AS_INDENT')
      errors.push(syntaxProblem(text, warning.code, warning.message, warning.pos, 0));
  }
  return { text, root: (document.contents as YamlNode | null) ?? null, errors, document, segments: [] };
}

/** Nesting deeper than this is refused: the parsers recurse per level and would run out of stack. */
export const MAX_NESTING = 400;

/**
 * A parse that reports the document as too deeply nested, or null when it is not. The depth is
 * estimated from the stack of indentations, the `- ` entries that open a line and the open flow
 * brackets, which over-counts only brackets inside quoted strings.
 */
function tooDeep(text: string): ParsedDocument | null {
  const indents: number[] = [];
  let flow = 0;
  for (let start = 0; start < text.length;) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    let column = start;
    while (column < end && text.charCodeAt(column) === 32) column++;
    const first = text.charCodeAt(column);
    if (column < end && first !== 35 && first !== 13) {
      const indent = column - start;
      if (indent === 0) flow = 0;
      while (indents.length > 0 && (indents[indents.length - 1] ?? 0) >= indent) indents.pop();
      indents.push(indent);
      let depth = indents.length + flow;
      for (let at = column; at < end; at++) {
        const code = text.charCodeAt(at);
        if (code === 45 && at === column && (at + 1 === end || text.charCodeAt(at + 1) === 32)) {
          depth++;
          column = at + 2;
        } else if (code === 91 || code === 123) {
          flow++;
          depth++;
        } else if ((code === 93 || code === 125) && flow > 0) {
          flow--;
          depth--;
        } else if (code === 35 && at > start && text.charCodeAt(at - 1) === 32) {
          break;
        } else if (code !== 32) {
          column = -1;
        }
        if (depth > MAX_NESTING) {
          const message = `This document nests more than ${MAX_NESTING} levels deep, which Cairn does not read: flatten the structure around here.`;
          return {
            text,
            root: null,
            errors: [{ code: 'TOO_DEEP', message, start: at, end }],
            document: null,
            segments: [],
          };
        }
      }
    }
    start = end + 1;
  }
  return null;
}

/** Rewrites a `yaml` error into a plain message whose range ends with the offending line. */
function syntaxProblem(
  text: string,
  code: string,
  message: string,
  pos: [number, number],
  base: number,
): SyntaxProblem {
  let start = Math.min(pos[0], text.length);
  const quote = /Missing closing (["'])quote/.exec(message)?.[1];
  if (quote) {
    // The parser notices an unclosed quote where the text ends; the author needs to see where it opened.
    const opening = openingQuote(text, start, quote);
    if (opening !== -1) start = opening;
    pos = [start, start];
  }
  let end = Math.max(pos[1], start);
  const lineEnd = text.indexOf('\n', start);
  const limit = lineEnd === -1 ? text.length : lineEnd;
  if (end > limit || end === start) end = Math.max(limit, start);
  if (end === start && start > 0) {
    // An error at the very end of a line or file: underline the last character before it.
    return { code, message: plainSyntaxMessage(code, message), start: base + start - 1, end: base + start };
  }
  return { code, message: plainSyntaxMessage(code, message), start: base + start, end: base + end };
}

/** The offset of the quote that opens a scalar left unclosed before `end`, or -1. */
function openingQuote(text: string, end: number, quote: string): number {
  for (
    let index = text.lastIndexOf(quote, end - 1);
    index !== -1;
    index = index > 0 ? text.lastIndexOf(quote, index - 1) : -1
  ) {
    const before = text.slice(text.lastIndexOf('\n', index - 1) + 1, index);
    if (/(^|[:\-[,{]\s*|\s)$/.test(before) && /^\s*(?:-\s+)?(?:[^\s#][^#]*?:\s*)?$/.test(before)) return index;
  }
  return -1;
}

const SYNTAX_HINTS: Record<string, string> = {
  TAB_AS_INDENT: 'YAML does not allow tabs for indentation: replace the tab with spaces.',
  BAD_INDENT: 'The indentation does not match the surrounding block: align this line with its siblings.',
  MISSING_CHAR: 'Something is missing here: a key needs a colon, and a quote or bracket needs its closing pair.',
  MULTILINE_IMPLICIT_KEY: 'A key must be on one line and end with a colon; check the indentation of this line.',
  DUPLICATE_KEY: 'This key is defined twice in the same mapping: remove or rename one.',
  BLOCK_AS_IMPLICIT_KEY: 'A nested block cannot be used as a key: check the indentation.',
};

function plainSyntaxMessage(code: string, message: string): string {
  const first = (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '').trim();
  const hint = SYNTAX_HINTS[code];
  if (hint && !first.includes('unique')) return `${first}. ${hint}`.replace('..', '.');
  return first.endsWith('.') ? first : `${first}.`;
}

/** How many nodes `nodeValue` may visit: aliases can make a small document expand without bound. */
const VALUE_BUDGET = 100_000;

/** The plain JavaScript value of a node (keys as strings, aliases resolved, expansion bounded). */
export function nodeValue(node: unknown, document: Document | null = null): unknown {
  return valueOf(node, document, 0, { left: VALUE_BUDGET });
}

function valueOf(node: unknown, document: Document | null, depth: number, budget: { left: number }): unknown {
  if (node === null || node === undefined) return null;
  if (depth > 200 || --budget.left < 0) return null;
  if (isScalar(node)) return node.value;
  if (isAlias(node)) return valueOf(resolveAlias(node as Alias, document), document, depth + 1, budget);
  if (isMap(node)) {
    const result: Record<string, unknown> = {};
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(valueOf(pair.key, document, depth + 1, budget));
      if (key === '<<') {
        const merged = valueOf(pair.value, document, depth + 1, budget);
        const sources = Array.isArray(merged) ? merged : [merged];
        for (const source of sources) if (source && typeof source === 'object') Object.assign(result, source);
        continue;
      }
      result[key] = valueOf(pair.value, document, depth + 1, budget);
    }
    return result;
  }
  if (isSeq(node)) return node.items.map((item) => valueOf(item, document, depth + 1, budget));
  return null;
}

const aliasTargets = new WeakMap<Document, Map<Alias, YamlNode>>();

/**
 * The node an alias stands for: the last node before it with that anchor. Computed for all aliases of
 * a document in one pass (the `yaml` package's own `resolve` walks the whole document per alias).
 */
export function resolveAlias(alias: Alias, document: Document | null): YamlNode | null {
  if (!document) return null;
  let targets = aliasTargets.get(document);
  if (!targets) {
    const found = new Map<Alias, YamlNode>();
    const anchors = new Map<string, YamlNode>();
    visit(document, {
      Node: (_key, node) => {
        if (isAlias(node)) {
          const target = anchors.get(node.source);
          if (target) found.set(node, target);
        } else if (node.anchor) {
          anchors.set(node.anchor, node as YamlNode);
        }
      },
    });
    aliasTargets.set(document, found);
    targets = found;
  }
  return targets.get(alias) ?? null;
}

/** The start offset of a node, if it has a range. */
export function nodeStart(node: unknown): number | undefined {
  if (isPair(node)) return nodeStart(node.key);
  const range = (node as { range?: [number, number, number] | null } | null)?.range;
  return range ? range[0] : undefined;
}

/** The end offset of a node's value (without trailing comments), if it has a range. */
export function nodeEnd(node: unknown): number | undefined {
  if (isPair(node)) return nodeEnd(node.value ?? node.key);
  const range = (node as { range?: [number, number, number] | null } | null)?.range;
  return range ? range[1] : undefined;
}

/** The value node of `key` in a map, if present. */
export function mapGet(map: unknown, key: string): YamlNode | null {
  const pair = mapPair(map, key);
  return (pair?.value as YamlNode | null | undefined) ?? null;
}

/** The pair for `key` in a map, if present. */
export function mapPair(map: unknown, key: string): Pair | null {
  if (!isMap(map)) return null;
  for (const pair of map.items) {
    if (isScalar(pair.key) && String(pair.key.value) === key) return pair as Pair;
  }
  return null;
}

/** The string value of a scalar node, or null. */
export function scalarString(node: unknown): string | null {
  if (!isScalar(node)) return null;
  const value = node.value;
  if (value === null || value === undefined || typeof value === 'object') return null;
  return String(value);
}
