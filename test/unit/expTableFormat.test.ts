// The experiments table webview's pure helpers: cell text, column names for the sort and filter,
// header-click sorting, one-value columns, and filter completion.
import * as assert from 'node:assert/strict';
import type { RunTable, TableColumn } from '../../client/webview/experimentsContract';
import {
  acceptCompletion,
  columnName,
  completionNames,
  completionsOf,
  constantColumns,
  formatCell,
  nextSort,
  parseSortText,
  wordAt,
} from '../../client/webview/experimentsFormat';

const metric = (key: string): TableColumn => ({ key: `metrics.${key}`, kind: 'metric' });

describe('experiments table helpers', () => {
  it('formats cells the way a user reads them', () => {
    const cases: [TableColumn, string | number | null, string][] = [
      [{ key: 'start_time', kind: 'attribute' }, Date.UTC(2026, 10, 27, 9, 5, 7), '2026-11-27 09:05:07'],
      [{ key: 'duration', kind: 'attribute' }, 754, '754ms'],
      [{ key: 'duration', kind: 'attribute' }, 42_000, '42.0s'],
      [{ key: 'duration', kind: 'attribute' }, 3_725_000, '1h2m'],
      [{ key: 'id', kind: 'attribute' }, '0123456789abcdef', '01234567'],
      [metric('auc'), 0.912345678, '0.9123'],
      [metric('steps'), 300, '300'],
      [metric('lr'), 0.00001234, '1.23e-5'],
      [metric('auc'), null, ''],
      [{ key: 'params.model', kind: 'param' }, 'tree', 'tree'],
    ];
    for (const [column, value, expected] of cases) assert.equal(formatCell(column, value), expected, column.key);
  });

  it('names columns as the filter grammar writes them, odd keys in backticks', () => {
    assert.equal(columnName(metric('auc')), 'metrics.auc');
    assert.equal(columnName(metric('train.loss')), 'metrics.train.loss');
    assert.equal(columnName(metric('val loss')), 'metrics.`val loss`');
    assert.equal(columnName({ key: 'start_time', kind: 'attribute' }), 'start_time');
  });

  it('sorts by a clicked header largest first, then flips', () => {
    assert.equal(nextSort('', 'metrics.auc'), 'metrics.auc DESC');
    assert.equal(nextSort('metrics.auc DESC', 'metrics.auc'), 'metrics.auc ASC');
    assert.equal(nextSort('metrics.auc ASC', 'metrics.auc'), 'metrics.auc DESC');
    assert.equal(nextSort('metrics.auc ASC', 'params.lr'), 'params.lr DESC');
    assert.deepEqual(parseSortText('params.lr'), { name: 'params.lr', descending: false });
    assert.equal(parseSortText(''), null);
  });

  it('finds the columns that have one value in every run, absent included', () => {
    const table: RunTable = {
      columns: [metric('auc'), { key: 'params.seed', kind: 'param' }, { key: 'params.lr', kind: 'param' }],
      total: 3,
      rows: [
        [0.8, '7', null],
        [0.9, '7', null],
        [0.7, '7', null],
      ],
    };
    assert.deepEqual([...constantColumns(table)], ['params.seed', 'params.lr']);
  });

  it('completes the word at the caret with kinds, columns, attributes and keywords', () => {
    const names = completionNames([metric('auc'), metric('accuracy'), { key: 'tags.team', kind: 'tag' }]);
    assert.deepEqual(completionsOf(names, 'me'), ['metrics.', 'metrics.auc', 'metrics.accuracy']);
    assert.deepEqual(completionsOf(names, 'metrics.au'), ['metrics.auc']);
    assert.deepEqual(completionsOf(names, 'st'), ['status', 'start_time']);
    assert.deepEqual(completionsOf(names, 'a'), ['AND']);
    const text = 'metrics.auc > 0.8 AND ta';
    assert.deepEqual(wordAt(text, text.length), { start: 22, word: 'ta' });
    assert.deepEqual(acceptCompletion(text, text.length, 'tags.team'), {
      text: 'metrics.auc > 0.8 AND tags.team ',
      caret: 32,
    });
    assert.deepEqual(acceptCompletion('x = 1 AND me', 12, 'metrics.'), { text: 'x = 1 AND metrics.', caret: 18 });
  });
});
