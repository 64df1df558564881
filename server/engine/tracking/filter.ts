// The filter grammar of `cairn exp list --filter` (and of the experiments table), parsed by hand:
//
//   expression := and ('OR' and)*
//   and        := unary ('AND' unary)*
//   unary      := 'NOT' unary | '(' expression ')' | comparison
//   comparison := column ('=' | '!=' | '<' | '<=' | '>' | '>=') value
//               | column ['NOT'] 'LIKE' string
//               | column ['NOT'] 'IN' '(' value (',' value)* ')'
//   column     := ('metrics' | 'params' | 'tags' | 'attributes') '.' key | attribute
//
// Keywords are case-insensitive; keys with spaces or odd characters are written in backticks
// (metrics.`val loss`). Pure: text in, a tree or a FilterError with a 1-based column out.

export type Comparator = '=' | '!=' | '<' | '<=' | '>' | '>=';
export type Value = string | number;

/** The run attributes a filter or a sort may name. */
export const ATTRIBUTES = [
  'id',
  'name',
  'status',
  'experiment',
  'start_time',
  'end_time',
  'duration',
  'git_commit',
  'git_branch',
  'parent',
] as const;
export type Attribute = (typeof ATTRIBUTES)[number];

export type Column = { kind: 'metric' | 'param' | 'tag'; key: string } | { kind: 'attribute'; key: Attribute };

export type Filter =
  | { type: 'and' | 'or'; left: Filter; right: Filter }
  | { type: 'not'; operand: Filter }
  | { type: 'compare'; column: Column; op: Comparator; value: Value; at: number }
  | { type: 'like'; column: Column; negated: boolean; pattern: string; at: number }
  | { type: 'in'; column: Column; negated: boolean; values: Value[]; at: number };

/** A filter or sort the user wrote wrong: what, and the 1-based column where. */
export class FilterError extends Error {
  constructor(
    message: string,
    readonly column: number,
  ) {
    super(`${message} at column ${column}`);
  }
}

type TokenKind = 'word' | 'string' | 'number' | 'op' | '(' | ')' | ',' | 'end';
interface Token {
  kind: TokenKind;
  text: string;
  /** The decoded value of a string or number, the key of a quoted column. */
  value: string;
  column: number;
}

const OPERATORS = ['<=', '>=', '!=', '<>', '==', '=', '<', '>'];
const WORD = /[A-Za-z0-9_\-/:.]/;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < text.length) {
    const char = text[index] ?? '';
    const column = index + 1;
    if (/\s/.test(char)) {
      index++;
      continue;
    }
    if (char === '(' || char === ')' || char === ',') {
      tokens.push({ kind: char, text: char, value: char, column });
      index++;
      continue;
    }
    const operator = OPERATORS.find((op) => text.startsWith(op, index));
    if (operator) {
      const normal = operator === '<>' ? '!=' : operator === '==' ? '=' : operator;
      tokens.push({ kind: 'op', text: operator, value: normal, column });
      index += operator.length;
      continue;
    }
    if (char === "'" || char === '"') {
      let value = '';
      let end = index + 1;
      for (;;) {
        if (end >= text.length) throw new FilterError(`unterminated string starting with ${char}`, column);
        const next = text[end] ?? '';
        if (next === char) {
          // A doubled quote inside a string stands for the quote itself, as in SQL.
          if (text[end + 1] === char) {
            value += char;
            end += 2;
            continue;
          }
          break;
        }
        value += next;
        end++;
      }
      tokens.push({ kind: 'string', text: text.slice(index, end + 1), value, column });
      index = end + 1;
      continue;
    }
    const number = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(text.slice(index));
    if (number && !WORD.test(text[index + number[0].length] ?? ' ')) {
      tokens.push({ kind: 'number', text: number[0], value: number[0], column });
      index += number[0].length;
      continue;
    }
    if (WORD.test(char) || char === '`') {
      // A word runs on through dots; a backtick section keeps spaces and operators in a key.
      let end = index;
      let value = '';
      while (end < text.length) {
        const next = text[end] ?? '';
        if (next === '`') {
          const close = text.indexOf('`', end + 1);
          if (close === -1) throw new FilterError('unterminated `quoted` name', end + 1);
          value += text.slice(end + 1, close);
          end = close + 1;
        } else if (WORD.test(next)) {
          value += next;
          end++;
        } else break;
      }
      tokens.push({ kind: 'word', text: text.slice(index, end), value, column });
      index = end;
      continue;
    }
    throw new FilterError(`unexpected character '${char}'`, column);
  }
  tokens.push({ kind: 'end', text: 'the end', value: '', column: text.length + 1 });
  return tokens;
}

const PREFIXES: Record<string, 'metric' | 'param' | 'tag' | 'attribute'> = {
  metrics: 'metric',
  metric: 'metric',
  params: 'param',
  param: 'param',
  tags: 'tag',
  tag: 'tag',
  attributes: 'attribute',
  attribute: 'attribute',
  attr: 'attribute',
};

/** Reads a column name such as `metrics.auc`, `params.model` or `duration`. */
export function columnOf(name: string, column = 1): Column {
  const dot = name.indexOf('.');
  const prefix = dot === -1 ? undefined : PREFIXES[name.slice(0, dot).toLowerCase()];
  const key = prefix === undefined ? name : name.slice(dot + 1);
  if (prefix !== undefined && prefix !== 'attribute') {
    if (key === '') throw new FilterError(`expected a key after '${name}'`, column + name.length);
    return { kind: prefix, key };
  }
  const attribute = ATTRIBUTES.find((candidate) => candidate === key.toLowerCase());
  if (attribute === undefined) {
    throw new FilterError(
      `unknown column '${name}' (use metrics.KEY, params.KEY, tags.KEY or one of ${ATTRIBUTES.join(', ')})`,
      column,
    );
  }
  return { kind: 'attribute', key: attribute };
}

class Parser {
  private position = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.position] ?? this.tokens[this.tokens.length - 1]!;
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind !== 'end') this.position++;
    return token;
  }

  private isKeyword(word: string, token = this.peek()): boolean {
    return token.kind === 'word' && token.value.toUpperCase() === word && token.text.toUpperCase() === word;
  }

  private describe(token: Token): string {
    return token.kind === 'end' ? 'the end' : `'${token.text}'`;
  }

  parse(): Filter {
    const filter = this.expression();
    const rest = this.peek();
    if (rest.kind !== 'end') {
      throw new FilterError(`expected AND, OR or the end of the filter but found ${this.describe(rest)}`, rest.column);
    }
    return filter;
  }

  private expression(): Filter {
    let left = this.conjunction();
    while (this.isKeyword('OR')) {
      this.next();
      left = { type: 'or', left, right: this.conjunction() };
    }
    return left;
  }

  private conjunction(): Filter {
    let left = this.unary();
    while (this.isKeyword('AND')) {
      this.next();
      left = { type: 'and', left, right: this.unary() };
    }
    return left;
  }

  private unary(): Filter {
    if (this.isKeyword('NOT')) {
      this.next();
      return { type: 'not', operand: this.unary() };
    }
    const token = this.peek();
    if (token.kind === '(') {
      this.next();
      const inner = this.expression();
      const close = this.next();
      if (close.kind !== ')') {
        throw new FilterError(
          `expected ')' to close the '(' at column ${token.column} but found ${this.describe(close)}`,
          close.column,
        );
      }
      return inner;
    }
    return this.comparison();
  }

  private comparison(): Filter {
    const name = this.next();
    if (name.kind !== 'word' || ['AND', 'OR', 'NOT', 'IN', 'LIKE'].some((word) => this.isKeyword(word, name))) {
      throw new FilterError(`expected a column such as metrics.auc but found ${this.describe(name)}`, name.column);
    }
    const column = columnOf(name.value, name.column);
    let negated = false;
    if (this.isKeyword('NOT')) {
      this.next();
      negated = true;
    }
    const operator = this.next();
    if (this.isKeyword('LIKE', operator)) {
      const pattern = this.next();
      if (pattern.kind !== 'string') {
        throw new FilterError(
          `expected a quoted pattern after 'LIKE' but found ${this.describe(pattern)}`,
          pattern.column,
        );
      }
      return { type: 'like', column, negated, pattern: pattern.value, at: name.column };
    }
    if (this.isKeyword('IN', operator)) {
      const open = this.next();
      if (open.kind !== '(') {
        throw new FilterError(`expected '(' after 'IN' but found ${this.describe(open)}`, open.column);
      }
      const values = [this.value('IN (')];
      for (;;) {
        const separator = this.next();
        if (separator.kind === ')') break;
        if (separator.kind !== ',') {
          throw new FilterError(
            `expected ',' or ')' in the IN list but found ${this.describe(separator)}`,
            separator.column,
          );
        }
        values.push(this.value(','));
      }
      return { type: 'in', column, negated, values, at: name.column };
    }
    if (negated) {
      throw new FilterError(`expected LIKE or IN after 'NOT' but found ${this.describe(operator)}`, operator.column);
    }
    if (operator.kind !== 'op') {
      throw new FilterError(
        `expected an operator (= != < <= > >= LIKE IN) after '${name.text}' but found ${this.describe(operator)}`,
        operator.column,
      );
    }
    return {
      type: 'compare',
      column,
      op: operator.value as Comparator,
      value: this.value(operator.text),
      at: name.column,
    };
  }

  private value(after: string): Value {
    const token = this.next();
    if (token.kind === 'number') return Number(token.value);
    if (token.kind === 'string') return token.value;
    throw new FilterError(`expected a value after '${after}' but found ${this.describe(token)}`, token.column);
  }
}

/** Parses a filter expression; throws FilterError with the column of the first mistake. */
export function parseFilter(text: string): Filter {
  return new Parser(tokenize(text)).parse();
}

export interface Sort {
  column: Column;
  descending: boolean;
}

/** Parses `metrics.auc DESC`, `start_time`, `params.lr ASC` (several separated by commas). */
export function parseSort(text: string): Sort[] {
  const sorts: Sort[] = [];
  let offset = 0;
  for (const part of text.split(',')) {
    const match = /^(\s*)(\S+)(?:\s+(\S+))?\s*$/.exec(part);
    if (!match) throw new FilterError('expected a column to sort by', offset + 1);
    const start = offset + (match[1]?.length ?? 0) + 1;
    const column = columnOf(match[2] ?? '', start);
    const direction = (match[3] ?? 'ASC').toUpperCase();
    if (direction !== 'ASC' && direction !== 'DESC') {
      throw new FilterError(`expected ASC or DESC after '${match[2] ?? ''}' but found '${match[3] ?? ''}'`, start);
    }
    sorts.push({ column, descending: direction === 'DESC' });
    offset += part.length + 1;
  }
  return sorts;
}
