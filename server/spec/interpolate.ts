// `${...}` interpolation as DVC defines it: references into params.yaml, `vars`, and the `item`/
// `key` of foreach stages, with dotted keys and list indexes (`${models[0].name}`).

/** One `${...}` found in a scalar's source text, with absolute offsets of the expression. */
export interface Interpolation {
  expression: string;
  /** Offset of the `$`. */
  start: number;
  /** Offset just after the `}`. */
  end: number;
}

/** Finds the `${...}` references in source text that starts at offset `base`. */
export function findInterpolations(source: string, base: number): Interpolation[] {
  const found: Interpolation[] = [];
  let index = source.indexOf('${');
  while (index !== -1) {
    const close = source.indexOf('}', index + 2);
    if (close === -1) break;
    if (source[index - 1] !== '\\') {
      found.push({ expression: source.slice(index + 2, close).trim(), start: base + index, end: base + close + 1 });
    }
    index = source.indexOf('${', close + 1);
  }
  return found;
}

/** Splits `a.b[0].c` into ['a', 'b', 0, 'c']; returns null for expressions that are not plain references. */
export function referencePath(expression: string): (string | number)[] | null {
  const parts: (string | number)[] = [];
  const pattern = /([^.[\]]+)|\[(\d+)\]/g;
  let consumed = 0;
  for (const match of expression.matchAll(pattern)) {
    const between = expression.slice(consumed, match.index);
    if (between !== '' && between !== '.') return null;
    if (match[2] !== undefined) parts.push(Number(match[2]));
    else parts.push(match[1] ?? '');
    consumed = (match.index ?? 0) + match[0].length;
  }
  if (consumed !== expression.length || parts.length === 0) return null;
  return parts;
}

/** The result of looking up a reference in an interpolation context. */
export type Lookup = { found: true; value: unknown } | { found: false };

/** Looks up a dotted reference in a context object. */
export function lookup(context: Record<string, unknown>, expression: string): Lookup {
  const parts = referencePath(expression);
  if (!parts) return { found: false };
  let current: unknown = context;
  for (const part of parts) {
    if (current !== null && typeof current === 'object' && Object.prototype.hasOwnProperty.call(current, part)) {
      current = (current as Record<string | number, unknown>)[part];
    } else {
      return { found: false };
    }
  }
  return { found: true, value: current };
}

/**
 * An interpolation context made of layers (params.yaml, vars, stage vars, the foreach item), later
 * layers replacing earlier ones key by key at the top, as DVC merges them. Layers are shared, not
 * copied: a pipeline with thousands of stages and a large params.yaml would otherwise copy the
 * whole context once per stage.
 */
export class Scope {
  constructor(readonly layers: readonly Record<string, unknown>[] = []) {}

  /** A scope with one more layer on top (the same scope if the layer is empty). */
  with(layer: Record<string, unknown>): Scope {
    return Object.keys(layer).length === 0 ? this : new Scope([...this.layers, layer]);
  }

  lookup(expression: string): Lookup {
    const head = referencePath(expression)?.[0];
    if (typeof head !== 'string') return { found: false };
    for (let index = this.layers.length - 1; index >= 0; index--) {
      const layer = this.layers[index] as Record<string, unknown>;
      if (Object.prototype.hasOwnProperty.call(layer, head)) return lookup(layer, expression);
    }
    return { found: false };
  }

  /** The merged context as one object, for listing keys (completion, suggestions). */
  merged(): Record<string, unknown> {
    return Object.assign({}, ...this.layers) as Record<string, unknown>;
  }
}

/** Every dotted key of a nested object (`train`, `train.lr`, ...), capped for large files. */
export function flattenKeys(value: unknown, prefix = '', into: string[] = [], limit = 5000): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return into;
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (into.length >= limit) break;
    const name = prefix ? `${prefix}.${key}` : key;
    into.push(name);
    flattenKeys(child, name, into, limit);
  }
  return into;
}

/** Replaces every resolvable `${...}` in a string; returns null if any reference is undefined. */
export function interpolate(text: string, scope: Scope): string | null {
  if (!text.includes('${')) return text;
  let result = '';
  let last = 0;
  for (const reference of findInterpolations(text, 0)) {
    const found = scope.lookup(reference.expression);
    if (!found.found || (found.value !== null && typeof found.value === 'object')) return null;
    result += text.slice(last, reference.start) + String(found.value);
    last = reference.end;
  }
  return result + text.slice(last);
}

/** A short, readable rendering of a value for hovers and messages. */
export function renderValue(value: unknown, limit = 200): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}
