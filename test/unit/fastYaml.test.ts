// The fast block-YAML reader against the `yaml` package: wherever the fast reader answers, it
// must give the same values and the same ranges; where it cannot, it must say so (null).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap, isPair, isScalar, isSeq, parseDocument, YAMLMap } from 'yaml';
import { fastParseMap } from '../../server/spec/fastYaml';
import { nodeValue } from '../../server/spec/parse';
import { CORPUS } from '../helpers/corpus';

/** Every node of a tree with its path, for comparing two trees. */
function flatten(node: unknown, at: string, into: string[]): string[] {
  if (isPair(node)) {
    flatten(node.key, `${at}.key`, into);
    flatten(node.value, `${at}.value`, into);
  } else if (isScalar(node)) {
    into.push(`${at} scalar ${JSON.stringify(node.value)} ${node.type ?? ''} [${node.range?.[0]},${node.range?.[1]}]`);
  } else if (isMap(node) || isSeq(node)) {
    into.push(`${at} ${isMap(node) ? 'map' : 'seq'}${node.flow ? ' flow' : ''} [${node.range?.[0]}]`);
    node.items.forEach((item, index) => flatten(item, `${at}[${index}]`, into));
  } else into.push(`${at} ${node === null || node === undefined ? 'null' : 'other'}`);
  return into;
}

/** Compares the fast reader with `yaml` on a text; returns whether the fast reader answered. */
export function compare(text: string): boolean {
  const fast = fastParseMap(text);
  const document = parseDocument(text, { uniqueKeys: true });
  if (fast === null) return false;
  assert.equal(
    document.errors.length,
    0,
    `the fast reader accepted a document yaml rejects: ${document.errors[0]?.message}`,
  );
  const root = document.contents;
  const expected = isMap(root) ? root.items.flatMap((pair, index) => flatten(pair, `[${index}]`, [])) : [];
  const actual = fast.flatMap((pair, index) => flatten(pair, `[${index}]`, []));
  assert.deepEqual(actual, expected);
  const map = new YAMLMap();
  map.items.push(...fast);
  assert.deepEqual(JSON.stringify(nodeValue(map)), JSON.stringify(root ? nodeValue(root) : null));
  return true;
}

const samples: [string, string][] = [
  [
    'scalars of every type',
    'a: 1\nb: -2.5e3\nc: true\nd: ~\ne: null\nf: hello world\ng: 0x1F\nh: 0o17\ni: .inf\nj: "quoted \\"x\\" \\u00e9"\nk: \'it\'\'s\'\nl: 12:30\nm: http://x.y/z\n',
  ],
  ['empty values and comments', '# head\na:\n# between\nb: # trailing\nc: x # comment\n'],
  [
    'nested maps and lists',
    'stages:\n  train:\n    cmd: python x.py\n    deps:\n    - a\n    - b\n    outs:\n      - c\n',
  ],
  ['maps inside lists', 'alerts:\n- name: drift\n  when: x > 1\n- name: errors\n  runbook: r.md\n'],
  ['flow collections', 'a: [1, two, "three", \'four\']\nb: {x: 1, y: z}\nc: []\nd: {}\ne: [a, b, ]\n'],
  ['block scalars', 'a: |\n  line one\n  line two\n\nb: >-\n  folded\n  text\n\n  paragraph\nc: |+\n  keep\n\nd: x\n'],
  ['CRLF', 'a: 1\r\nb:\r\n  c: 2\r\n'],
  ['indented root', '  stage:\n    cmd: x\n'],
  ['a key with spaces and a colon inside', 'a b: c:d\n"q k": 1\n'],
];

const refusals: [string, string][] = [
  ['anchors', 'a: &x 1\nb: *x\n'],
  ['multi-line plain scalar', 'a: one\n  two\n'],
  ['multi-line quoted scalar', 'a: "one\n  two"\n'],
  ['multi-line flow', 'a: [1,\n  2]\n'],
  ['nested flow', 'a: [[1]]\n'],
  ['tags', 'a: !!str 1\n'],
  ['duplicate keys', 'a: 1\na: 2\n'],
  ['tab indentation', 'a:\n\tb: 1\n'],
  ['bad indentation', 'a:\n    b: 1\n  c: 2\n'],
  ['a top-level list', '- a\n'],
  ['explicit keys', '? a\n: b\n'],
  ['an indentation indicator', 'a: |2\n   x\n'],
];

describe('fast YAML reader', () => {
  for (const [name, text] of samples)
    it(`reads ${name} as yaml does`, () => assert.ok(compare(text), 'the fast reader should handle this'));
  for (const [name, text] of refusals) it(`leaves ${name} to yaml`, () => assert.equal(fastParseMap(text), null));

  it('reads most of the corpus and always agrees with yaml', () => {
    let answered = 0;
    let total = 0;
    for (const id of fs.readdirSync(CORPUS).filter((name) => /^\d\d-/.test(name))) {
      for (const name of ['dvc.yaml', 'params.yaml']) {
        const file = path.join(CORPUS, id, name);
        if (!fs.existsSync(file)) continue;
        total++;
        if (compare(fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, ''))) answered++;
      }
    }
    assert.ok(answered / total > 0.6, `answered ${answered} of ${total}`);
  });

  it('agrees with yaml on thousands of mutated corpus documents', function () {
    this.timeout(60000);
    // A deterministic stream of small edits of the kind typing makes: characters inserted or
    // deleted, lines re-indented, duplicated or dropped. Wherever the fast reader answers, it
    // must match yaml exactly; refusing is always allowed.
    let seed = 12345;
    const random = (limit: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % limit;
    };
    const pieces = [
      ' ',
      ':',
      '- ',
      '#',
      '"',
      "'",
      '|',
      '>',
      '[',
      ']',
      '{',
      '}',
      ',',
      '\n',
      '  ',
      'x',
      '1',
      '${a}',
      '\t',
      '&',
      '*',
      '!',
      '?',
    ];
    const files = fs
      .readdirSync(CORPUS)
      .filter((name) => /^\d\d-/.test(name))
      .map((id) => path.join(CORPUS, id, 'dvc.yaml'));
    let answered = 0;
    for (let round = 0; round < 3000; round++) {
      const source = fs.readFileSync(files[random(files.length)] as string, 'utf8').replace(/^\uFEFF/, '');
      const lines = source.split('\n').slice(0, 60);
      for (let edit = 0; edit <= random(3); edit++) {
        const line = random(lines.length);
        const text = lines[line] ?? '';
        const kind = random(4);
        if (kind === 0) {
          const at = random(text.length + 1);
          lines[line] = text.slice(0, at) + (pieces[random(pieces.length)] ?? '') + text.slice(at);
        } else if (kind === 1) {
          const at = random(text.length + 1);
          lines[line] = text.slice(0, at) + text.slice(at + 1);
        } else if (kind === 2) lines[line] = ' '.repeat(random(6)) + text.trimStart();
        else lines.splice(line, random(2), ...(random(2) ? [text] : []));
      }
      if (compare(lines.join('\n'))) answered++;
    }
    assert.ok(answered > 300, `the fast reader answered ${answered} of 3000 mutated documents`);
  });
});
