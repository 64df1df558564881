// Business KPIs of a deployment: a small, safe expression language over the rows of a window, parsed
// by hand (nothing is ever evaluated as code):
//
//   expression := or
//   or         := and ('or' and)*
//   and        := compare ('and' compare)*
//   compare    := sum (('==' | '!=' | '<' | '<=' | '>' | '>=') sum)?
//   sum        := product (('+' | '-') product)*
//   product    := unary (('*' | '/') unary)*
//   unary      := ('-' | 'not') unary | primary
//   primary    := number | string | true | false | null | field | call | '(' expression ')'
//   call       := ('count' | 'sum' | 'mean' | 'min' | 'max') '(' expression? ')'
//
// At the top, an expression combines aggregates and numbers ("count(outcome == \"purchase\") /
// count()"); fields are read only inside an aggregate, once per row. The rows are the requests of
// the window with the fields of their labels and events (see monitor.ts). Pure.

export type Node =
  | { type: 'number'; value: number }
  | { type: 'string'; value: string }
  | { type: 'boolean'; value: boolean }
  | { type: 'null' }
  | { type: 'field'; name: string; column: number }
  | { type: 'unary'; op: '-' | 'not'; operand: Node }
  | { type: 'binary'; op: BinaryOperator; left: Node; right: Node }
  | { type: 'aggregate'; name: Aggregate; argument: Node | null; column: number };

type BinaryOperator = '+' | '-' | '*' | '/' | '==' | '!=' | '<' | '<=' | '>' | '>=' | 'and' | 'or';
export type Aggregate = 'count' | 'sum' | 'mean' | 'min' | 'max';
const AGGREGATES: readonly Aggregate[] = ['count', 'sum', 'mean', 'min', 'max'];

/** A KPI expression written wrong: which KPI, what, and the 1-based column. */
export class KpiError extends Error {
  constructor(
    readonly kpi: string,
    readonly reason: string,
    readonly column: number,
  ) {
    super(`KPI '${kpi}': ${reason} at column ${column}`);
  }
}

interface Token {
  kind: 'number' | 'string' | 'word' | 'op' | '(' | ')' | 'end';
  text: string;
  column: number;
}

const OPERATORS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '+', '-', '*', '/', '!'];

function tokenize(kpi: string, text: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < text.length) {
    const char = text[index] ?? '';
    const column = index + 1;
    if (/\s/.test(char)) {
      index++;
    } else if (char === '(' || char === ')') {
      tokens.push({ kind: char, text: char, column });
      index++;
    } else if (char === '"' || char === "'") {
      let end = index + 1;
      let value = '';
      while (end < text.length && text[end] !== char) {
        if (text[end] === '\\' && end + 1 < text.length) end++;
        value += text[end] ?? '';
        end++;
      }
      if (end >= text.length) throw new KpiError(kpi, `unterminated string starting with ${char}`, column);
      tokens.push({ kind: 'string', text: value, column });
      index = end + 1;
    } else if (/[0-9.]/.test(char)) {
      const match = /^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?/.exec(text.slice(index));
      if (!match) throw new KpiError(kpi, `unexpected '${char}'`, column);
      tokens.push({ kind: 'number', text: match[0], column });
      index += match[0].length;
    } else if (/[A-Za-z_]/.test(char)) {
      const match = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(text.slice(index));
      const word = match?.[0] ?? char;
      tokens.push({ kind: 'word', text: word, column });
      index += word.length;
    } else {
      const operator = OPERATORS.find((op) => text.startsWith(op, index));
      if (!operator)
        throw new KpiError(
          kpi,
          `unexpected '${char}'; use numbers, "strings", fields, count() sum() mean() min() max(), + - * /, comparisons, and/or`,
          column,
        );
      tokens.push({ kind: 'op', text: operator, column });
      index += operator.length;
    }
  }
  tokens.push({ kind: 'end', text: 'the end', column: text.length + 1 });
  return tokens;
}

class Parser {
  private position = 0;
  private aggregateDepth = 0;

  constructor(
    private readonly kpi: string,
    private readonly tokens: Token[],
  ) {}

  parse(): Node {
    const node = this.or();
    const next = this.peek();
    if (next.kind !== 'end') throw this.error(`unexpected '${next.text}' after a complete expression`, next);
    return node;
  }

  private peek(): Token {
    return this.tokens[this.position] ?? { kind: 'end', text: 'the end', column: 0 };
  }

  private next(): Token {
    const token = this.peek();
    this.position++;
    return token;
  }

  private error(reason: string, token: Token): KpiError {
    return new KpiError(this.kpi, reason, token.column);
  }

  private isWord(word: string): boolean {
    const token = this.peek();
    return token.kind === 'word' && token.text.toLowerCase() === word;
  }

  private isOp(...ops: string[]): boolean {
    const token = this.peek();
    return token.kind === 'op' && ops.includes(token.text);
  }

  private or(): Node {
    let left = this.and();
    while (this.isWord('or') || this.isOp('||')) {
      this.next();
      left = { type: 'binary', op: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): Node {
    let left = this.compare();
    while (this.isWord('and') || this.isOp('&&')) {
      this.next();
      left = { type: 'binary', op: 'and', left, right: this.compare() };
    }
    return left;
  }

  private compare(): Node {
    const left = this.sum();
    if (this.isOp('==', '!=', '<', '<=', '>', '>=')) {
      const op = this.next().text as BinaryOperator;
      return { type: 'binary', op, left, right: this.sum() };
    }
    return left;
  }

  private sum(): Node {
    let left = this.product();
    while (this.isOp('+', '-')) {
      const op = this.next().text as BinaryOperator;
      left = { type: 'binary', op, left, right: this.product() };
    }
    return left;
  }

  private product(): Node {
    let left = this.unary();
    while (this.isOp('*', '/')) {
      const op = this.next().text as BinaryOperator;
      left = { type: 'binary', op, left, right: this.unary() };
    }
    return left;
  }

  private unary(): Node {
    if (this.isOp('-')) {
      this.next();
      return { type: 'unary', op: '-', operand: this.unary() };
    }
    if (this.isOp('!') || this.isWord('not')) {
      this.next();
      return { type: 'unary', op: 'not', operand: this.unary() };
    }
    return this.primary();
  }

  private primary(): Node {
    const token = this.next();
    if (token.kind === 'number') return { type: 'number', value: Number(token.text) };
    if (token.kind === 'string') return { type: 'string', value: token.text };
    if (token.kind === '(') {
      const inner = this.or();
      const close = this.next();
      if (close.kind !== ')') throw this.error(`expected ')' but found '${close.text}'`, close);
      return inner;
    }
    if (token.kind !== 'word')
      throw this.error(`expected a number, a string, a field or an aggregate but found '${token.text}'`, token);
    const word = token.text;
    const lower = word.toLowerCase();
    if (lower === 'true' || lower === 'false') return { type: 'boolean', value: lower === 'true' };
    if (lower === 'null') return { type: 'null' };
    if (this.peek().kind === '(') {
      if (!AGGREGATES.includes(lower as Aggregate))
        throw this.error(`unknown function '${word}'; use count, sum, mean, min or max`, token);
      if (this.aggregateDepth > 0)
        throw this.error(`'${word}(' inside another aggregate; aggregates do not nest`, token);
      this.next();
      let argument: Node | null = null;
      this.aggregateDepth++;
      if (this.peek().kind !== ')') argument = this.or();
      this.aggregateDepth--;
      const close = this.next();
      if (close.kind !== ')') throw this.error(`expected ')' to close ${word}( but found '${close.text}'`, close);
      if (argument === null && lower !== 'count')
        throw this.error(`${word}() needs a field or an expression, such as ${word}(revenue)`, token);
      return { type: 'aggregate', name: lower as Aggregate, argument, column: token.column };
    }
    if (this.aggregateDepth === 0)
      throw this.error(
        `field '${word}' outside an aggregate; write count(${word} == ...), sum(${word}) or mean(${word})`,
        token,
      );
    return { type: 'field', name: word, column: token.column };
  }
}

/** Parses the expression of the KPI named `kpi`; throws a KpiError naming it and the column. */
export function parseKpi(kpi: string, expression: string): Node {
  return new Parser(kpi, tokenize(kpi, expression)).parse();
}

type Scalar = number | string | boolean | null;

/** The value of a parsed KPI over rows; null when undefined (no rows, a division by zero). */
export function evaluateKpi(node: Node, rows: readonly Record<string, unknown>[]): number | null {
  const value = evaluate(node, null, rows);
  return typeof value === 'number' && Number.isFinite(value)
    ? value
    : typeof value === 'boolean'
      ? Number(value)
      : null;
}

function evaluate(node: Node, row: Record<string, unknown> | null, rows: readonly Record<string, unknown>[]): Scalar {
  switch (node.type) {
    case 'number':
    case 'string':
    case 'boolean':
      return node.value;
    case 'null':
      return null;
    case 'field':
      return scalarOf(row?.[node.name]);
    case 'unary': {
      const operand = evaluate(node.operand, row, rows);
      if (node.op === 'not') return !truthy(operand);
      return typeof operand === 'number' ? -operand : null;
    }
    case 'binary':
      return binary(node.op, evaluate(node.left, row, rows), evaluate(node.right, row, rows));
    case 'aggregate':
      return aggregate(node, rows);
  }
}

function aggregate(node: Extract<Node, { type: 'aggregate' }>, rows: readonly Record<string, unknown>[]): Scalar {
  const argument = node.argument;
  if (node.name === 'count') {
    if (argument === null) return rows.length;
    return rows.filter((row) => truthy(evaluate(argument, row, rows))).length;
  }
  const numbers: number[] = [];
  for (const row of rows) {
    const value = argument === null ? null : evaluate(argument, row, rows);
    const number = typeof value === 'boolean' ? Number(value) : typeof value === 'string' ? Number(value) : value;
    if (typeof number === 'number' && Number.isFinite(number)) numbers.push(number);
  }
  if (node.name === 'sum') return numbers.reduce((total, value) => total + value, 0);
  if (numbers.length === 0) return null;
  if (node.name === 'mean') return numbers.reduce((total, value) => total + value, 0) / numbers.length;
  return node.name === 'min' ? Math.min(...numbers) : Math.max(...numbers);
}

function binary(op: BinaryOperator, left: Scalar, right: Scalar): Scalar {
  switch (op) {
    case 'and':
      return truthy(left) && truthy(right);
    case 'or':
      return truthy(left) || truthy(right);
    case '==':
      return equal(left, right);
    case '!=':
      return !equal(left, right);
  }
  if (op === '<' || op === '<=' || op === '>' || op === '>=') {
    if (left === null || right === null) return false;
    const a = typeof left === 'string' && typeof right === 'string' ? left : Number(left);
    const b = typeof left === 'string' && typeof right === 'string' ? right : Number(right);
    if (op === '<') return a < b;
    if (op === '<=') return a <= b;
    if (op === '>') return a > b;
    return a >= b;
  }
  if (typeof left !== 'number' || typeof right !== 'number') return null;
  if (op === '+') return left + right;
  if (op === '-') return left - right;
  if (op === '*') return left * right;
  return right === 0 ? null : left / right;
}

function equal(left: Scalar, right: Scalar): boolean {
  // A CSV label file gives "1" where JSON gives 1: compare numbers by value.
  if (typeof left === 'number' && typeof right === 'string' && right.trim() !== '') return left === Number(right);
  if (typeof left === 'string' && typeof right === 'number' && left.trim() !== '') return Number(left) === right;
  return left === right;
}

function truthy(value: Scalar): boolean {
  return value !== null && value !== false && value !== 0 && value !== '';
}

function scalarOf(value: unknown): Scalar {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  return JSON.stringify(value);
}
