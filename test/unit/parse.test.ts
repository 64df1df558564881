// The segmented, incremental parser must read every document exactly as a whole-document parse
// does, reuse what an edit did not touch, and keep syntax errors on the offending line.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseWhole } from 'yaml';
import { nodeValue, parseSpec } from '../../server/spec/parse';
import { LineIndex } from '../../server/spec/text';
import { CORPUS } from '../helpers/corpus';

/** Parses `text` and checks the value against the `yaml` package's whole-document parse. */
function checkSameValue(text: string): void {
  const parsed = parseSpec(text);
  assert.deepEqual(
    nodeValue(parsed.root, parsed.document),
    parseWhole(text.replace(/^\uFEFF/, ''), { merge: true }) ?? null,
  );
}

function bigPipeline(stages: number): string {
  const lines = ['stages:'];
  for (let index = 0; index < stages; index++) {
    lines.push(
      `  stage_${index}:`,
      `    cmd: python run.py ${index}`,
      '    deps:',
      `    - data/${index}.csv`,
      '    outs:',
      `    - out/${index}.csv`,
    );
  }
  return `${lines.join('\n')}\n`;
}

describe('parse', () => {
  describe('reads every corpus file as the yaml package does', () => {
    for (const id of fs.readdirSync(CORPUS).filter((name) => /^\d\d-/.test(name))) {
      for (const name of ['dvc.yaml', 'params.yaml']) {
        const file = path.join(CORPUS, id, name);
        if (fs.existsSync(file)) it(`${id}/${name}`, () => checkSameValue(fs.readFileSync(file, 'utf8')));
      }
    }
  });

  const shapes: [string, string][] = [
    ['empty', ''],
    ['only comments', '# a\n# b\n'],
    ['anchors and aliases fall back to a whole parse', 'base: &b {a: 1}\nstages:\n  x:\n    <<: *b\n    cmd: y\n'],
    ['flow mapping at the top', '{stages: {a: {cmd: x}}}\n'],
    ['CRLF line ends', 'stages:\r\n  a:\r\n    cmd: x\r\n'],
    ['a BOM', '\uFEFFstages:\n  a:\n    cmd: x\n'],
    ['quoted keys', '"stages":\n  "a b":\n    cmd: x\n'],
    [
      'a big map with comments between children',
      bigPipeline(30).replace('  stage_3:', '# comment\n  # indented comment\n  stage_3:'),
    ],
  ];
  for (const [name, text] of shapes) it(`reads ${name}`, () => checkSameValue(text));

  it('reuses unchanged stages after an edit and shifts their ranges', () => {
    const text = bigPipeline(200);
    const first = parseSpec(text);
    assert.ok(first.segments.length > 200, 'a big stages map is cut per stage');
    const edited = text.replace('python run.py 100', 'python run.py 100 --more');
    const second = parseSpec(edited, first);
    const reused = second.segments.filter((segment) => first.segments.includes(segment)).length;
    assert.equal(reused, second.segments.length - 1, 'only the edited stage is parsed again');
    assert.deepEqual(nodeValue(second.root), parseWhole(edited));
    const lines = new LineIndex(edited);
    const stages =
      (second.root as { items: { value: { items: { key: { range: number[] } }[] } }[] }).items[0]?.value.items ?? [];
    const lastKey = stages[199]?.key.range[0] ?? -1;
    assert.deepEqual(lines.position(lastKey), { line: 1 + 199 * 6, character: 2 });
  });

  it('reports a duplicate stage across segments', () => {
    const text = bigPipeline(50).replace('  stage_7:', '  stage_3:');
    const parsed = parseSpec(text);
    assert.ok(parsed.errors.some((error) => error.code === 'DUPLICATE_KEY' && error.message.includes("'stage_3'")));
  });

  const errors: [string, string, [number, number]][] = [
    [
      'an unclosed quote points at the quote, to the end of its line',
      'stages:\n  a:\n    cmd: "python x\n  b:\n    cmd: y\n',
      [2, 9],
    ],
    ['a tab in indentation', 'stages:\n\ta:\n    cmd: x\n', [1, 0]],
    ['a key on the wrong indentation', 'stages:\n  a:\n    cmd: x\n   deps: [a]\n', [3, 0]],
    ['several documents in one file', 'a: 1\n---\nb: 2\n', [1, 0]],
  ];
  for (const [name, text, [line, character]] of errors) {
    it(`syntax error: ${name}`, () => {
      const parsed = parseSpec(text);
      const lines = new LineIndex(text);
      const error = parsed.errors[0];
      assert.ok(error, 'an error is reported');
      assert.deepEqual(lines.position(error.start), { line, character });
      assert.equal(lines.position(error.end).line, line, 'the range ends on the same line');
    });
  }
});
