// Where the cursor is, read from indentation rather than from the parse, so it works on the half-
// typed lines that completion sees (`    dep`, `  - `, `stage: tr`).
import { indentation } from '../spec/text';
import type { LineIndex } from '../spec/text';

export interface CursorContext {
  /** Keys (and 0 for list items) from the root to the mapping or list that holds the cursor. */
  path: (string | number)[];
  /** 'key' when typing a key, 'value' after `key: `, 'item' for a scalar list item. */
  slot: 'key' | 'value' | 'item';
  /** For 'value': the key whose value is typed. */
  key: string | null;
  /** The text typed so far in the current token. */
  prefix: string;
  /** Offset where the current token starts (what a completion replaces). */
  tokenStart: number;
  /** Column of the key or item at the cursor, for indenting inserted text. */
  column: number;
  /** Text after `${` when the cursor is inside an unfinished interpolation. */
  interpolation: string | null;
}

interface LineShape {
  indent: number;
  /** Column of the first `- ` (or -1). */
  dash: number;
  /** Column where a key or scalar starts after dashes. */
  content: number;
  key: string | null;
  /** Whether something follows the key's colon on the same line (not a comment). */
  inlineValue: boolean;
}

/** A key and its colon at the start of a line's content. */
const KEY = /^((?:"[^"]*"|'[^']*'|[^\s#:'"][^:#]*?))\s*:(?:\s+|$)/;
/** YAML limits implicit keys to 1024 characters: the key patterns look no further, so long lines stay linear. */
const KEY_WINDOW = 1100;

function shape(line: string): LineShape | null {
  const indent = indentation(line);
  const rest = line.slice(indent);
  if (rest === '' || rest.startsWith('#')) return null;
  let content = indent;
  let dash = -1;
  while (line.startsWith('- ', content) || line.slice(content) === '-') {
    if (dash === -1) dash = content;
    content += 2;
    while (line[content] === ' ') content++;
  }
  const body = line.slice(content).replace(/\r$/, '');
  const match = KEY.exec(body.slice(0, KEY_WINDOW));
  const key = match ? (match[1] ?? '').replace(/^["']|["']$/g, '') : null;
  const after = match ? body.slice(match[0].length).trim() : '';
  return { indent, dash, content, key, inlineValue: after !== '' && !after.startsWith('#') };
}

/** Reads the cursor's context at an offset. */
export function cursorContext(lines: LineIndex, offset: number): CursorContext {
  const position = lines.position(offset);
  const before = lines.lineText(position.line).slice(0, position.character);
  const open = before.lastIndexOf('${');
  const interpolation = open !== -1 && !before.slice(open).includes('}') ? before.slice(open + 2) : null;
  let dash = -1;
  let content = indentation(before);
  while (before.startsWith('- ', content) || before.slice(content) === '-') {
    if (dash === -1) dash = content;
    content += 2;
    while (before[content] === ' ') content++;
  }
  const body = before.slice(content);
  const keyMatch = KEY.exec(body.slice(0, KEY_WINDOW));
  const valueMatch = keyMatch && /\s$/.test(keyMatch[0]) ? keyMatch : null;
  const slot: CursorContext['slot'] = valueMatch ? 'value' : dash !== -1 ? 'item' : 'key';
  const key = valueMatch ? (valueMatch[1] ?? '').replace(/^["']|["']$/g, '') : null;
  let typed = valueMatch ? body.slice(valueMatch[0].length) : body;
  // Inside a flow list (`stages: [prepare, tr`) only the last entry is being typed.
  if (typed.startsWith('[')) typed = typed.slice(typed.lastIndexOf(',') + 1 || 1).trimStart();
  const token = interpolation ?? lastToken(typed);
  // For a key or value on a list item's line, the container is the item itself.
  const path =
    dash !== -1 ? ancestors(lines, position.line, dash, true) : ancestors(lines, position.line, content, false);
  return { path, slot, key, prefix: token, tokenStart: offset - token.length, column: content, interpolation };
}

/** The run of characters before the end that are not blanks, commas or brackets. */
function lastToken(text: string): string {
  let start = text.length;
  while (start > 0 && !/[\s,[\]{}]/.test(text[start - 1] ?? '')) start--;
  return text.slice(start);
}

/**
 * The path of keys that leads to the container of something at `column` on `line`.
 * `isItem` says the thing is a list item (its dash is at `column`).
 */
export function ancestors(lines: LineIndex, line: number, column: number, isItem: boolean): (string | number)[] {
  const path: (string | number)[] = [];
  let want = column;
  let item = isItem;
  for (let index = line - 1; index >= 0; index--) {
    const candidate = shape(lines.lineText(index));
    if (!candidate) continue;
    if (item) {
      // Looking for the key that owns a list whose dashes are at `want`.
      if (candidate.dash === want) continue;
      if (candidate.indent > want) continue;
      if (candidate.key !== null && candidate.content <= want && !candidate.inlineValue) {
        path.push(0, candidate.key);
        if (candidate.dash !== -1) {
          want = candidate.dash;
          item = true;
        } else {
          want = candidate.content;
          item = false;
        }
        continue;
      }
      break;
    }
    // Looking for the key that owns a mapping whose keys are at `want`.
    if (candidate.dash !== -1 && candidate.content === want) {
      // A sibling key inside the same list item: the item's dash leads to the list's owner.
      want = candidate.dash;
      item = true;
      continue;
    }
    if (candidate.indent >= want) continue;
    if (candidate.key !== null && candidate.content < want && !candidate.inlineValue) {
      path.push(candidate.key);
      if (candidate.dash !== -1) {
        want = candidate.dash;
        item = true;
      } else want = candidate.content;
      if (want === 0 && !item) break;
      continue;
    }
    break;
  }
  return path.reverse();
}
