// Building blocks of the robustness (fuzz) test: a seeded PRNG, generated specs, hostile snippets and
// the mutations applied to real and generated specs. Everything is deterministic given the seed.

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
export class Rng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)] as T;
  }

  /** A fresh generator whose sequence depends only on this one's seed and `salt`. */
  fork(salt: number): Rng {
    return new Rng((Math.imul(this.seed ^ 0x9e3779b9, 31) + salt * 0x85ebca6b) >>> 0);
  }
}

/**
 * The seed of a run: a fixed one by default, so that `npm test` is repeatable; CAIRN_FUZZ_SEED sets
 * another, and CAIRN_FUZZ_SEED=random draws a new one (to explore; the run prints it).
 */
export function fuzzSeed(): number {
  const fromEnv = process.env['CAIRN_FUZZ_SEED'];
  if (fromEnv === undefined || fromEnv === '') return 20261127;
  if (fromEnv === 'random') return Math.floor(Math.random() * 2 ** 32) >>> 0;
  const parsed = Number(fromEnv);
  if (!Number.isInteger(parsed)) throw new Error(`CAIRN_FUZZ_SEED must be an integer or 'random', got '${fromEnv}'`);
  return parsed >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Hostile pieces of text.

const NASTY_CHARS = [
  '\0',
  '\x01',
  '\x07',
  '\b',
  '\x0b',
  '\f',
  '\x1b',
  '\x7f',
  '\x85',
  '\u00a0',
  '\u2028',
  '\u2029',
  '\ufeff',
  '\ufffe',
  '\uffff',
  '\ud800',
  '\udc00',
  '\udbff\udfff',
  '😀',
  'é',
  '\t',
  '\r',
  '\n',
  '\r\n',
  ':',
  ': ',
  '-',
  '- ',
  '[',
  ']',
  '{',
  '}',
  ',',
  '&',
  '*',
  '!',
  '|',
  '>',
  '#',
  '"',
  "'",
  '%',
  '@',
  '`',
  '?',
  '<<',
  '$',
  '${',
  '}',
  '.',
  '/',
  '\\',
  ' ',
  '  ',
  '---',
  '...',
];

/** A short run of random hostile characters. */
export function nastyText(rng: Rng, length = 1 + rng.int(12)): string {
  let text = '';
  for (let i = 0; i < length; i++)
    text += rng.chance(0.15) ? String.fromCharCode(rng.int(0x10000)) : rng.pick(NASTY_CHARS);
  return text;
}

/** Deeply nested YAML of several shapes; `depth` levels. */
export function deepNesting(rng: Rng, depth: number): string {
  switch (rng.int(6)) {
    case 0:
      return `${'['.repeat(depth)}x${rng.chance(0.5) ? ']'.repeat(depth) : ''}\n`;
    case 1:
      return `${'{a: '.repeat(depth)}x${rng.chance(0.5) ? '}'.repeat(depth) : ''}\n`;
    case 2:
      return `${'- '.repeat(depth)}x\n`;
    case 3:
      return `deep: ${'${'.repeat(depth)}x${'}'.repeat(depth)}\n`;
    case 4: {
      // Block mappings, one space more per level (capped so the text stays a few MB at most).
      const levels = Math.min(depth, 1500);
      let text = '';
      for (let i = 0; i < levels; i++) text += `${' '.repeat(i)}k${i}:\n`;
      return `${text}${' '.repeat(levels)}leaf\n`;
    }
    default:
      return `deep: ${'!t '.repeat(Math.min(depth, 200))}${'&a '.repeat(2)}${'"\\'.repeat(depth)}\n`;
  }
}

/** The billion laughs: `levels` anchors each referring `fanout` times to the previous one. */
export function aliasBomb(levels = 9, fanout = 9, key = 'lol'): string {
  let text = `${key}0: &${key}0 "lol"\n`;
  for (let i = 1; i <= levels; i++) {
    text += `${key}${i}: &${key}${i} [${Array.from({ length: fanout }, () => `*${key}${i - 1}`).join(', ')}]\n`;
  }
  return text;
}

/** The billion laughs through merge keys, inside a stage. */
export function mergeBomb(levels = 9): string {
  let text = 'vars:\n  - m0: &m0 { a: 1, b: 2, c: 3 }\n';
  for (let i = 1; i <= levels; i++) {
    text += `  - m${i}: &m${i} { <<: [${Array.from({ length: 8 }, () => `*m${i - 1}`).join(', ')}], k${i}: [*m${i - 1}, *m${i - 1}, *m${i - 1}, *m${i - 1}] }\n`;
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Generated specs.

const WORDS = ['prepare', 'featurize', 'train', 'evaluate', 'split', 'clean', 'export', 'score', 'tune', 'report'];

/** A random pipeline with stages, deps/outs chains, params, foreach and matrix stages. */
export function generatePipeline(rng: Rng, stages = 3 + rng.int(15)): string {
  const lines: string[] = [];
  if (rng.chance(0.4)) lines.push('vars:', '  - params.yaml', `  - base: ${rng.pick(WORDS)}`);
  if (rng.chance(0.3)) lines.push('datasets:', '  raw:', '    source: { type: csv, path: data/raw.csv }');
  lines.push('stages:');
  for (let i = 0; i < stages; i++) {
    const name = `${rng.pick(WORDS)}_${i}`;
    lines.push(`  ${name}:`);
    if (rng.chance(0.15)) {
      lines.push('    foreach:', ...Array.from({ length: 1 + rng.int(5) }, (_, k) => `      - v${k}`), '    do:');
      lines.push(`      cmd: python ${name}.py \${item}`, `      outs:`, `        - out/${name}/\${item}`);
      continue;
    }
    if (rng.chance(0.1)) {
      lines.push('    matrix:', `      a: [${Array.from({ length: 1 + rng.int(6) }, (_, k) => k).join(', ')}]`);
      lines.push(`      b: [x, y]`, `    cmd: python ${name}.py \${item.a} \${item.b}`);
      lines.push(`    outs:`, `      - out/${name}-\${item.a}-\${item.b}`);
      continue;
    }
    lines.push(
      `    cmd: python src/${name}.py --lr \${train.lr} --x \${${rng.pick(['train.epochs', 'nope.key', 'prepare.seed'])}}`,
    );
    if (rng.chance(0.2)) lines.push(`    wdir: ${rng.pick(['.', 'src', '..', '../..'])}`);
    lines.push('    deps:', `      - ${i > 0 ? `data/stage_${i - 1}` : 'data/iris.csv'}`, `      - src/${name}.py`);
    if (rng.chance(0.5))
      lines.push('    params:', `      - ${rng.pick(['train', 'train.lr', 'prepare.seed', 'missing.param'])}`);
    lines.push('    outs:', `      - data/stage_${i}`);
    if (rng.chance(0.2)) lines.push('    metrics:', `      - metrics/${name}.json:`, '          cache: false');
    if (rng.chance(0.1)) lines.push(`    ${rng.pick(['frozen', 'always_changed', 'unknown_key'])}: true`);
  }
  if (rng.chance(0.3))
    lines.push('models:', '  clf:', `    artifact: data/stage_${stages - 1}`, `    stage: ${rng.pick(WORDS)}_0`);
  return `${lines.join('\n')}\n`;
}

/** A big pipeline: `stages` chained stages of nine lines each (10 stages ≈ 100 lines). */
export function bigPipeline(stages: number): string {
  const parts = ['stages:\n'];
  for (let i = 0; i < stages; i++) {
    parts.push(
      `  stage_${i}:\n`,
      `    cmd: python3 src/train.py --lr \${train.lr} --epochs \${train.epochs} --part ${i}\n`,
      '    deps:\n',
      `      - ${i === 0 ? 'data/features' : `data/part_${i - 1}.csv`}\n`,
      '      - src/train.py\n',
      '    params:\n',
      '      - train.lr\n',
      '    outs:\n',
      `      - data/part_${i}.csv\n`,
      '\n',
    );
  }
  return parts.join('');
}

/** A pipeline with `count` schema errors (an unknown key in each stage). */
export function manyProblems(count: number): string {
  const parts = ['stages:\n'];
  for (let i = 0; i < count; i++) parts.push(`  s${i}:\n    cmd: echo ${i}\n    colour: blue\n`);
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------
// Mutations of a whole text.

export type Mutation = (text: string, rng: Rng) => string;

const splitLines = (text: string): string[] => text.split('\n');
const randomLine = (text: string, rng: Rng): number => rng.int(splitLines(text).length);
const insertAt = (text: string, offset: number, piece: string): string =>
  text.slice(0, offset) + piece + text.slice(offset);
/** The offset of the start of a line. */
const lineStart = (text: string, line: number): number => {
  let offset = 0;
  for (let i = 0; i < line; i++) {
    const next = text.indexOf('\n', offset);
    if (next === -1) return text.length;
    offset = next + 1;
  }
  return offset;
};

export const MUTATIONS: Record<string, Mutation> = {
  truncate: (text, rng) => text.slice(0, rng.int(text.length + 1)),
  insertNasty: (text, rng) => insertAt(text, rng.int(text.length + 1), nastyText(rng)),
  insertNastyMany: (text, rng) => {
    let result = text;
    for (let i = 0; i < 1 + rng.int(20); i++) result = insertAt(result, rng.int(result.length + 1), nastyText(rng, 1));
    return result;
  },
  deleteRange: (text, rng) => {
    const start = rng.int(text.length + 1);
    return text.slice(0, start) + text.slice(start + rng.int(200));
  },
  duplicateLines: (text, rng) => {
    const lines = splitLines(text);
    const start = rng.int(lines.length);
    const block = lines.slice(start, start + 1 + rng.int(10));
    lines.splice(rng.int(lines.length + 1), 0, ...block);
    return lines.join('\n');
  },
  shuffleLines: (text, rng) => {
    const lines = splitLines(text);
    for (let i = 0; i < 1 + rng.int(8); i++) {
      const a = rng.int(lines.length);
      const b = rng.int(lines.length);
      [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
    }
    return lines.join('\n');
  },
  randomIndentation: (text, rng) =>
    splitLines(text)
      .map((line) => (rng.chance(0.1) ? ' '.repeat(rng.int(9)) + line.trimStart() : line))
      .join('\n'),
  tabs: (text, rng) =>
    splitLines(text)
      .map((line) => (rng.chance(0.2) ? line.replace(/^( {2})+/, (spaces) => '\t'.repeat(spaces.length / 2)) : line))
      .join('\n'),
  bom: (text) => `\ufeff${text}`,
  bomInside: (text, rng) => insertAt(text, lineStart(text, randomLine(text, rng)), '\ufeff'),
  crlf: (text) => text.replace(/\n/g, '\r\n'),
  loneCr: (text, rng) => text.replace(/\n/g, () => (rng.chance(0.5) ? '\r' : '\n')),
  severalDocuments: (text, rng) => {
    const lines = splitLines(text);
    for (let i = 0; i < 1 + rng.int(4); i++)
      lines.splice(rng.int(lines.length + 1), 0, rng.pick(['---', '...', '--- |', '%YAML 1.2\n---']));
    return lines.join('\n');
  },
  appendDocuments: (text, rng) =>
    `${text}\n---\n${text}\n---\n${rng.chance(0.5) ? '...\n' : ''}${generatePipeline(rng)}`,
  deepNesting: (text, rng) =>
    insertAt(text, lineStart(text, randomLine(text, rng)), deepNesting(rng, rng.pick([100, 1000, 5000, 20000]))),
  hugeScalar: (text, rng) => {
    const size = rng.pick([1 << 16, 1 << 20]);
    const piece = rng.pick([
      `huge: ${'x'.repeat(size)}\n`,
      `huge: "${'\\u00e9'.repeat(size / 6)}"\n`,
      `huge: ${'${a}'.repeat(size / 4)}\n`,
      `huge: |\n${'  line\n'.repeat(size / 7)}`,
      `${'k'.repeat(size)}: v\n`,
      `  cmd: ${'a '.repeat(size / 2)}\n`,
    ]);
    return insertAt(text, lineStart(text, randomLine(text, rng)), piece);
  },
  longLine: (text, rng) => insertAt(text, rng.int(text.length + 1), 'y'.repeat(1 << 20)),
  aliasBomb: (text, rng) => {
    const bomb = rng.chance(0.5) ? aliasBomb(rng.pick([5, 9, 12]), rng.pick([9, 10])) : mergeBomb(rng.pick([6, 9]));
    return rng.chance(0.5) ? bomb + text : `${text}\n${bomb}`;
  },
  selfAlias: (text) => `loop: &loop [*loop, *loop]\nref: *undefined_anchor\n${text}`,
  interpolation: (text, rng) =>
    insertAt(
      text,
      rng.int(text.length + 1),
      rng.pick(['${', '${}', '${a.b.c[0]}', '${${x}}', '${item.', '${ key }', '${vars[9999999999]}', '${'.repeat(50)]),
    ),
  manyKeys: (text, rng) =>
    text + Array.from({ length: 2000 + rng.int(3000) }, (_, i) => `k${i}: ${i % 7 === 0 ? '[' : 'v'}\n`).join(''),
};

export const MUTATION_NAMES = Object.keys(MUTATIONS);

/** Applies 1 to `max` random mutations; returns the text and the names of what was done. */
export function mutate(text: string, rng: Rng, max = 3): { text: string; applied: string[] } {
  const applied: string[] = [];
  let result = text;
  for (let i = 0; i < 1 + rng.int(max); i++) {
    const name = rng.pick(MUTATION_NAMES);
    // Keep documents at a few MB: large mutations are applied once per document.
    if (result.length > 1 << 20 && ['hugeScalar', 'longLine', 'deepNesting', 'appendDocuments'].includes(name))
      continue;
    result = (MUTATIONS[name] as Mutation)(result, rng);
    applied.push(name);
  }
  return { text: result, applied };
}

/** A replacement snippet for an incremental edit. */
export function editSnippet(rng: Rng): string {
  return rng.pick([
    () => '',
    () => nastyText(rng),
    () => rng.pick(WORDS),
    () => '\n',
    () => '\r\n',
    () => '\t',
    () => '\ufeff',
    () => '\n---\n',
    () => '  extra:\n    - a\n',
    () => `\${${rng.pick(['train.lr', 'item', 'x.'])}`,
    () => deepNesting(rng, 2000),
    () => aliasBomb(6, 6, `b${rng.int(1000)}_`),
    () => 'z'.repeat(1 << 16),
  ])();
}
