// A fast reader for the plain block-style YAML that specs are written in: block maps and lists,
// single-line plain and quoted scalars, single-line flow lists and maps of scalars, and block
// scalars (`|`, `>`). It builds the same node classes as the `yaml` package, with the same ranges,
// so everything downstream treats its output alike.
//
// Why it exists: the `yaml` package is correct but general, and its parse alone takes most of the
// time budget for opening a spec of 2,000 stages (see bench/). This reader handles the common shape
// in a fraction of that time and gives up (returns null) on anything else: anchors, aliases, tags,
// multi-line flow collections or quoted strings, folded plain scalars, complex keys, duplicate keys,
// odd indentation. The caller then parses with the `yaml` package, which also reports the errors.
// A differential test checks it against the `yaml` package on the corpus and on fuzzed input.
import { Pair, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import type { Node as YamlNode } from 'yaml';

class GiveUp extends Error {}

// Nodes are made by inheriting from one instance of each `yaml` class rather than by calling its
// constructor, which tags every node with Object.defineProperty (a measurable cost at 100,000
// nodes). The tag the `yaml` package's isScalar/isMap/isPair read is found through the prototype,
// and `instanceof` holds, so the nodes are indistinguishable to every consumer.
const SCALAR = new Scalar(null);
const PAIR = new Pair(null);
const MAP = new YAMLMap();
const SEQ = new YAMLSeq();

function makeScalar(value: unknown): Scalar {
  const node = Object.create(SCALAR) as Scalar;
  node.value = value;
  return node;
}

function makePair(key: unknown, value: unknown): Pair {
  const pair = Object.create(PAIR) as Pair;
  pair.key = key;
  pair.value = value;
  return pair;
}

function makeMap(): YAMLMap {
  const map = Object.create(MAP) as YAMLMap;
  map.items = [];
  return map;
}

function makeSeq(): YAMLSeq {
  const seq = Object.create(SEQ) as YAMLSeq;
  seq.items = [];
  return seq;
}

interface Line {
  start: number;
  /** End of the content, before `\r\n` or `\n`. */
  end: number;
  /** Offset just after the line break (the next line's start). */
  next: number;
  indent: number;
  /** A line with nothing but spaces or a comment. */
  empty: boolean;
}

/** Reads a block mapping (the whole text) into pairs with ranges offset by `base`, or null. */
export function fastParseMap(text: string, base = 0): Pair[] | null {
  if (text.charCodeAt(0) === 0xfeff) return null;
  try {
    const reader = new Reader(text, base);
    return reader.document();
  } catch (error) {
    if (error instanceof GiveUp) return null;
    throw error;
  }
}

const NULLS = new Set(['', '~', 'null', 'Null', 'NULL']);
const TRUES = new Set(['true', 'True', 'TRUE']);
const FALSES = new Set(['false', 'False', 'FALSE']);
const INT = /^[-+]?[0-9]+$/;
const OCTAL = /^0o[0-7]+$/;
const HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const INFINITY = /^[-+]?\.(?:inf|Inf|INF)$/;
const NAN = /^\.(?:nan|NaN|NAN)$/;

/** The value of a plain scalar under YAML 1.2's core schema, as the `yaml` package resolves it. */
export function resolvePlain(text: string): unknown {
  // Most scalars in specs are words and paths: a first character that starts no null, boolean or
  // number settles it without trying every pattern.
  const first = text.charCodeAt(0);
  const maybeSpecial =
    (first >= 48 && first <= 57) ||
    first === 43 ||
    first === 45 ||
    first === 46 ||
    first === 126 ||
    'nNtTfF'.includes(text[0] ?? '');
  if (!maybeSpecial && text !== '') return text;
  if (NULLS.has(text)) return null;
  if (TRUES.has(text)) return true;
  if (FALSES.has(text)) return false;
  if (INT.test(text)) return Number(text);
  if (OCTAL.test(text)) return parseInt(text.slice(2), 8);
  if (HEX.test(text)) return parseInt(text.slice(2), 16);
  if (FLOAT.test(text)) return parseFloat(text);
  if (INFINITY.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (NAN.test(text)) return NaN;
  return text;
}

/** Characters that may not start a plain scalar here (they mean something else in YAML). */
const NOT_PLAIN_START = new Set(['&', '*', '!', '|', '>', '%', '@', '`', '?', ',', '[', ']', '{', '}', '#', '"', "'"]);

class Reader {
  private readonly lines: Line[] = [];
  private index = 0;

  constructor(
    private readonly text: string,
    private readonly base: number,
  ) {
    let start = 0;
    while (start < text.length) {
      const newline = text.indexOf('\n', start);
      const next = newline === -1 ? text.length : newline + 1;
      let end = newline === -1 ? text.length : newline;
      if (end > start && text.charCodeAt(end - 1) === 13) end--;
      let indent = 0;
      while (start + indent < end && text.charCodeAt(start + indent) === 32) indent++;
      const first = text.charCodeAt(start + indent);
      if (first === 9) giveUp();
      const empty = start + indent >= end || first === 35;
      this.lines.push({ start, end, next, indent, empty });
      start = next;
    }
  }

  document(): Pair[] {
    this.skipEmpty();
    const line = this.lines[this.index];
    if (!line) return [];
    const map = this.blockMap(line.indent, line.start + line.indent);
    this.skipEmpty();
    if (this.index < this.lines.length) giveUp();
    return map.items as Pair[];
  }

  private skipEmpty(): void {
    while (this.index < this.lines.length && (this.lines[this.index] as Line).empty) this.index++;
  }

  private current(): Line | undefined {
    this.skipEmpty();
    return this.lines[this.index];
  }

  /** A block map whose keys sit at column `column`; the first key may start mid-line (`- key:`). */
  private blockMap(column: number, firstKeyAt: number): YAMLMap {
    const map = makeMap();
    const keys = new Set<string>();
    let keyAt = firstKeyAt;
    let last: YamlNode;
    for (;;) {
      const line = this.lines[this.index] as Line;
      const { key, valueAt } = this.key(line, keyAt);
      const name = String(key.value);
      if (keys.has(name)) giveUp();
      keys.add(name);
      const value = this.mapValue(line, valueAt, column);
      map.items.push(makePair(key, value));
      last = value ?? key;
      const next = this.current();
      if (!next || next.indent < column) break;
      if (next.indent > column) giveUp();
      if (this.text.charCodeAt(next.start + column) === 45 && isBreak(this.text, next.start + column + 1)) break;
      keyAt = next.start + column;
    }
    const end = rangeOf(last)[2];
    map.range = [this.base + firstKeyAt, end, end];
    return map;
  }

  /** A key at `at` ending with `:`; returns its node and where its value starts on the line. */
  private key(line: Line, at: number): { key: Scalar; valueAt: number } {
    const text = this.text;
    const first = text[at] ?? '';
    let keyEnd: number;
    let key: Scalar;
    if (first === '"' || first === "'") {
      const quoted = this.quoted(at, line.end);
      key = quoted.node;
      keyEnd = quoted.end;
      while (text.charCodeAt(keyEnd) === 32) keyEnd++;
      if (text[keyEnd] !== ':') giveUp();
    } else {
      if (NOT_PLAIN_START.has(first) || (first === '-' && isBreak(text, at + 1)) || first === ':') giveUp();
      let colon = at;
      for (;;) {
        colon = text.indexOf(':', colon);
        if (colon === -1 || colon >= line.end) giveUp();
        if (isBreak(text, colon + 1)) break;
        colon++;
      }
      let end = colon;
      while (end > at && text.charCodeAt(end - 1) === 32) end--;
      const raw = text.slice(at, end);
      if (raw.includes(' #') || raw.includes('\t')) giveUp();
      key = this.scalar(resolvePlain(raw), 'PLAIN', at, end, end);
      keyEnd = colon;
    }
    return { key, valueAt: keyEnd + 1 };
  }

  /** The value after `key:`: inline on the line, or a block on the following lines, or null. */
  private mapValue(line: Line, at: number, column: number): YamlNode | null {
    let position = at;
    while (position < line.end && this.text.charCodeAt(position) === 32) position++;
    if (position < line.end && this.text.charCodeAt(position) !== 35) {
      if (position === at) giveUp();
      return this.inline(line, position, column);
    }
    this.index++;
    const next = this.current();
    if (next && next.indent >= column) {
      const dash =
        this.text.charCodeAt(next.start + next.indent) === 45 && isBreak(this.text, next.start + next.indent + 1);
      if (dash) return this.blockSeq(next.indent);
      if (next.indent > column) return this.blockMap(next.indent, next.start + next.indent);
    }
    // `key:` with nothing after it: an empty (null) value right after the colon, as `yaml` places it.
    return this.scalar(null, 'PLAIN', position, position, position);
  }

  /** A block list whose dashes sit at column `column`. */
  private blockSeq(column: number): YAMLSeq {
    const seq = makeSeq();
    let start = -1;
    let last: YamlNode | null = null;
    for (;;) {
      const line = this.current();
      if (!line || line.indent < column) break;
      if (line.indent > column) giveUp();
      const dash = line.start + column;
      if (this.text.charCodeAt(dash) !== 45 || !isBreak(this.text, dash + 1)) break;
      if (start === -1) start = dash;
      let content = dash + 1;
      while (content < line.end && this.text.charCodeAt(content) === 32) content++;
      if (content >= line.end || this.text.charCodeAt(content) === 35) giveUp();
      const item = this.looksLikeKey(line, content)
        ? this.blockMap(content - line.start, content)
        : this.inline(line, content, column);
      seq.items.push(item);
      last = item;
    }
    const end = rangeOf(last)[2];
    seq.range = [this.base + start, end, end];
    return seq;
  }

  /** Whether the text at `at` is `key: ...` (a map inside a list item). */
  private looksLikeKey(line: Line, at: number): boolean {
    const first = this.text[at] ?? '';
    if (first === '[' || first === '{' || first === '|' || first === '>') return false;
    if (first === '"' || first === "'") {
      const close = this.text.indexOf(first, at + 1);
      return close !== -1 && close < line.end && /^\s*:(\s|$)/.test(this.text.slice(close + 1, line.end));
    }
    const content = this.text.slice(at, line.end);
    for (let colon = content.indexOf(':'); colon !== -1; colon = content.indexOf(':', colon + 1)) {
      if (content.slice(0, colon).includes(' #')) return false;
      if (isBreak(content, colon + 1)) return true;
    }
    return false;
  }

  /** A value that starts on this line: a scalar, a flow collection, or a block scalar. */
  private inline(line: Line, at: number, parentColumn: number): YamlNode {
    const first = this.text[at] ?? '';
    let node: YamlNode;
    if (first === '|' || first === '>') return this.blockScalar(line, at, parentColumn);
    if (first === '"' || first === "'") {
      const quoted = this.quoted(at, line.end);
      this.expectLineEnd(line, quoted.end);
      node = quoted.node;
    } else if (first === '[' || first === '{') {
      node = this.flow(line, at);
    } else {
      if (NOT_PLAIN_START.has(first) || (first === '-' && isBreak(this.text, at + 1))) giveUp();
      // Search the line only: an unbounded indexOf would scan the rest of the document each time.
      const comment = this.text.slice(at, line.end).indexOf(' #');
      let end = comment === -1 ? line.end : at + comment;
      while (end > at && this.text.charCodeAt(end - 1) === 32) end--;
      const raw = this.text.slice(at, end);
      if (raw.includes(': ') || raw.endsWith(':') || raw.includes('\t')) giveUp();
      node = this.scalar(resolvePlain(raw), 'PLAIN', at, end, line.next);
    }
    this.index++;
    // A deeper line after an inline value would continue a plain scalar over lines: give up.
    const next = this.current();
    if (next && next.indent > parentColumn && !this.isDashAt(next, parentColumn)) giveUp();
    return node;
  }

  private isDashAt(line: Line, column: number): boolean {
    return line.indent === column && this.text.charCodeAt(line.start + column) === 45;
  }

  private expectLineEnd(line: Line, at: number): void {
    let position = at;
    while (position < line.end && this.text.charCodeAt(position) === 32) position++;
    if (position < line.end && !(this.text.charCodeAt(position) === 35 && position > at)) giveUp();
  }

  /** A quoted scalar that closes on the same line. */
  private quoted(at: number, lineEnd: number): { node: Scalar; end: number } {
    const text = this.text;
    const quote = text[at];
    let value = '';
    let position = at + 1;
    for (;;) {
      if (position >= lineEnd) giveUp();
      const character = text[position] as string;
      if (quote === "'") {
        if (character === "'") {
          if (text[position + 1] === "'") {
            value += "'";
            position += 2;
            continue;
          }
          break;
        }
      } else {
        if (character === '"') break;
        if (character === '\\') {
          const code = text[position + 1] ?? '';
          const digits = code === 'x' ? 2 : code === 'u' ? 4 : code === 'U' ? 8 : 0;
          if (digits > 0) {
            const hex = text.slice(position + 2, position + 2 + digits);
            if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== digits) giveUp();
            value += String.fromCodePoint(parseInt(hex, 16));
            position += 2 + digits;
            continue;
          }
          const escaped = ESCAPES[code];
          if (escaped === undefined) giveUp();
          value += escaped;
          position += 2;
          continue;
        }
      }
      value += character;
      position++;
    }
    const end = position + 1;
    return { node: this.scalar(value, quote === '"' ? 'QUOTE_DOUBLE' : 'QUOTE_SINGLE', at, end, end), end };
  }

  /** `[a, b]` or `{a: 1, b: x}` on one line, holding only scalars. */
  private flow(line: Line, at: number): YamlNode {
    const text = this.text;
    const isSeq = text[at] === '[';
    const close = isSeq ? ']' : '}';
    const collection = isSeq ? makeSeq() : makeMap();
    collection.flow = true;
    let position = at + 1;
    const skipSpaces = (): void => {
      while (position < line.end && text.charCodeAt(position) === 32) position++;
    };
    const keys = new Set<string>();
    for (;;) {
      skipSpaces();
      if (position >= line.end) giveUp();
      if (text[position] === close) break;
      const item = this.flowScalar(position, line.end, !isSeq);
      position = item.end;
      skipSpaces();
      if (isSeq) {
        (collection as YAMLSeq).items.push(item.node);
      } else {
        if (text[position] !== ':') giveUp();
        const name = String(item.node.value);
        if (keys.has(name)) giveUp();
        keys.add(name);
        position++;
        skipSpaces();
        const value = this.flowScalar(position, line.end, false);
        position = value.end;
        skipSpaces();
        (collection as YAMLMap).items.push(makePair(item.node, value.node));
      }
      if (text[position] === ',') {
        position++;
        continue;
      }
      if (text[position] !== close) giveUp();
      break;
    }
    const end = position + 1;
    this.expectLineEnd(line, end);
    let after = end;
    while (after < line.end && text.charCodeAt(after) === 32) after++;
    collection.range = [this.base + at, this.base + end, this.base + (after >= line.end ? line.next : after)];
    return collection;
  }

  /** A scalar inside a flow collection: quoted, or plain up to `,`, `]`, `}` (or `:` for keys). */
  private flowScalar(at: number, lineEnd: number, isKey: boolean): { node: Scalar; end: number } {
    const first = this.text[at] ?? '';
    if (first === '"' || first === "'") return this.quoted(at, lineEnd);
    if (NOT_PLAIN_START.has(first) || (first === '-' && isBreak(this.text, at + 1))) giveUp();
    let end = at;
    while (end < lineEnd) {
      const character = this.text[end];
      if (character === ',' || character === ']' || character === '}') break;
      if (character === ':' && (isKey || isBreak(this.text, end + 1))) break;
      if (character === '#' && this.text[end - 1] === ' ') giveUp();
      if (character === '[' || character === '{') giveUp();
      end++;
    }
    let valueEnd = end;
    while (valueEnd > at && this.text.charCodeAt(valueEnd - 1) === 32) valueEnd--;
    if (valueEnd === at) giveUp();
    const raw = this.text.slice(at, valueEnd);
    if (!isKey && this.text[end] === ':') giveUp();
    return { node: this.scalar(resolvePlain(raw), 'PLAIN', at, valueEnd, valueEnd), end: valueEnd };
  }

  /** `|` or `>` with optional chomping, and the more-indented lines that follow. */
  private blockScalar(line: Line, at: number, parentColumn: number): Scalar {
    const text = this.text;
    const literal = text[at] === '|';
    let position = at + 1;
    let chomp: 'clip' | 'strip' | 'keep' = 'clip';
    if (text[position] === '-') chomp = 'strip';
    else if (text[position] === '+') chomp = 'keep';
    if (chomp !== 'clip') position++;
    this.expectLineEnd(line, position);
    const header = this.index;
    this.index++;
    const content: string[] = [];
    let contentIndent = -1;
    let lastContent = -1;
    while (this.index < this.lines.length) {
      const next = this.lines[this.index] as Line;
      const blank = next.start + next.indent >= next.end;
      if (blank) {
        // Spaces beyond the indentation on an empty line would be content: leave that to `yaml`.
        if (contentIndent !== -1 && next.end - next.start > contentIndent) giveUp();
        content.push('');
      } else {
        if (contentIndent === -1) {
          if (next.indent <= parentColumn) break;
          contentIndent = next.indent;
        }
        if (next.indent < contentIndent) break;
        if (!literal && next.indent > contentIndent) giveUp();
        const lineText = text.slice(next.start + contentIndent, next.end);
        if (lineText.includes('\t')) giveUp();
        content.push(lineText);
        lastContent = this.index;
      }
      this.index++;
    }
    // The node ends after its last line of text; blank lines after it count only for chomping.
    const consumed = this.index;
    const bodyLines = lastContent === -1 ? 0 : lastContent - header;
    const body = content.slice(0, bodyLines);
    const trailing = consumed - 1 - (lastContent === -1 ? header : lastContent);
    this.index = lastContent === -1 ? header + 1 : lastContent + 1;
    let value = literal ? body.join('\n') : fold(body);
    if (body.length === 0) value = '';
    else if (chomp === 'clip') value += '\n';
    else if (chomp === 'keep') value += '\n'.repeat(1 + trailing);
    // With `+` the kept blank lines are part of the node, as `yaml` counts them.
    const endLine = chomp === 'keep' && trailing > 0 ? consumed - 1 : lastContent === -1 ? header : lastContent;
    const end = (this.lines[endLine] as Line).next;
    return this.scalar(value, literal ? 'BLOCK_LITERAL' : 'BLOCK_FOLDED', at, end, end);
  }

  private scalar(value: unknown, type: Scalar.Type, start: number, valueEnd: number, nodeEnd: number): Scalar {
    const node = makeScalar(value);
    node.type = type;
    node.range = [this.base + start, this.base + valueEnd, this.base + Math.max(valueEnd, nodeEnd)];
    return node;
  }
}

/** Folds the lines of a `>` scalar: lines join with a space, each blank line becomes a newline. */
function fold(lines: string[]): string {
  let result = '';
  let pendingBreaks = 0;
  let started = false;
  for (const line of lines) {
    if (line === '') {
      pendingBreaks++;
      continue;
    }
    if (started) result += pendingBreaks > 0 ? '\n'.repeat(pendingBreaks) : ' ';
    else result += '\n'.repeat(pendingBreaks);
    result += line;
    pendingBreaks = 0;
    started = true;
  }
  return result;
}

const ESCAPES: Record<string, string> = {
  '0': '\0',
  a: '\x07',
  b: '\b',
  t: '\t',
  '\t': '\t',
  n: '\n',
  v: '\v',
  f: '\f',
  r: '\r',
  e: '\x1b',
  ' ': ' ',
  '"': '"',
  '/': '/',
  '\\': '\\',
  N: '\u0085',
  _: '\u00a0',
  L: '\u2028',
  P: '\u2029',
};

function isBreak(text: string, at: number): boolean {
  const code = text.charCodeAt(at);
  return Number.isNaN(code) || code === 32 || code === 10 || code === 13;
}

function rangeOf(node: YamlNode | null): [number, number, number] {
  return (node as { range?: [number, number, number] } | null)?.range ?? [0, 0, 0];
}

function giveUp(): never {
  throw new GiveUp();
}
