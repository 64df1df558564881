// The cursor context read from indentation, on the half-typed lines completion sees. `|` marks
// the cursor.
import * as assert from 'node:assert/strict';
import { cursorContext } from '../../server/lsp/cursor';
import type { CursorContext } from '../../server/lsp/cursor';
import { LineIndex } from '../../server/spec/text';

function check(textWithCursor: string, expected: Partial<CursorContext>): void {
  const offset = textWithCursor.indexOf('|');
  const text = textWithCursor.replace('|', '');
  const context = cursorContext(new LineIndex(text), offset);
  const picked = Object.fromEntries(Object.keys(expected).map((key) => [key, context[key as keyof CursorContext]]));
  assert.deepEqual(picked, expected);
}

const cases: [string, string, Partial<CursorContext>][] = [
  [
    'a stage key being typed',
    'stages:\n  train:\n    cmd: x\n    de|',
    { path: ['stages', 'train'], slot: 'key', prefix: 'de' },
  ],
  ['a top-level key', 'stages:\n  a:\n    cmd: x\nmo|', { path: [], slot: 'key', prefix: 'mo' }],
  [
    'a dep list item',
    'stages:\n  train:\n    deps:\n    - data/ra|',
    { path: ['stages', 'train', 'deps', 0], slot: 'item', prefix: 'data/ra' },
  ],
  [
    'a dep list item indented under its key',
    'stages:\n  train:\n    deps:\n      - |',
    { path: ['stages', 'train', 'deps', 0], slot: 'item', prefix: '' },
  ],
  ['a value after a key', 'holdout:\n  stage: ev|', { path: ['holdout'], slot: 'value', key: 'stage', prefix: 'ev' }],
  [
    'a key inside a list item',
    'acceptance:\n  - metric: auc\n    op|',
    { path: ['acceptance', 0], slot: 'key', prefix: 'op' },
  ],
  [
    'a value on a list item line',
    'monitoring:\n  alerts:\n  - name: drift\n    runbook: docs/|',
    { path: ['monitoring', 'alerts', 0], slot: 'value', key: 'runbook', prefix: 'docs/' },
  ],
  ['the last entry of a flow list', 'stages: [prepare, tr|', { path: [], slot: 'value', key: 'stages', prefix: 'tr' }],
  [
    'an unfinished interpolation',
    'stages:\n  a:\n    cmd: python x.py ${train.l|',
    { interpolation: 'train.l', prefix: 'train.l' },
  ],
  [
    'a foreach body',
    'stages:\n  fit:\n    foreach: ${models}\n    do:\n      cmd: x\n      ou|',
    { path: ['stages', 'fit', 'do'], slot: 'key' },
  ],
];

describe('cursor context', () => {
  for (const [name, text, expected] of cases) it(name, () => check(text, expected));
});
