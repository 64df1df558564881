// The filter grammar and run queries, on a real store: which runs an expression selects, how they
// sort and page, and the messages (with columns) of expressions written wrong.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { FilterError, parseFilter, parseSort } from '../../server/engine/tracking/filter';
import { compileFilter, queryRuns } from '../../server/engine/tracking/query';
import type { RunQuery } from '../../server/engine/tracking/query';
import { Tracker } from '../../server/engine/tracking/tracker';
import { makeWorkspace } from '../helpers/workspace';

interface Trial {
  name: string;
  experiment: string;
  model: string;
  lr: number;
  auc?: number;
  team: string;
  duration: number;
  status: 'succeeded' | 'failed';
}

const TRIALS: Trial[] = [
  {
    name: 'sweep-1',
    experiment: 'rain',
    model: 'tree',
    lr: 0.1,
    auc: 0.82,
    team: 'a',
    duration: 5000,
    status: 'succeeded',
  },
  {
    name: 'sweep-2',
    experiment: 'rain',
    model: 'linear',
    lr: 0.01,
    auc: 0.91,
    team: 'b',
    duration: 9000,
    status: 'succeeded',
  },
  { name: 'sweep-3', experiment: 'rain', model: 'tree', lr: 1, auc: 0.7, team: 'c', duration: 1000, status: 'failed' },
  {
    name: 'base',
    experiment: 'rain',
    model: 'forest',
    lr: 10,
    auc: 0.85,
    team: 'c',
    duration: 3000,
    status: 'succeeded',
  },
  { name: 'sweep-4', experiment: 'snow', model: "o'brien", lr: 2, team: 'a', duration: 2000, status: 'succeeded' },
];

describe('tracking queries', () => {
  let root: string;
  let tracker: Tracker;

  before(() => {
    root = makeWorkspace({});
    tracker = Tracker.open(root);
    TRIALS.forEach((trial, index) => {
      const start = Date.UTC(2026, 10, 1 + index);
      const run = tracker.startRun({ experiment: trial.experiment, name: trial.name, startTime: start });
      tracker.logParams(run, { model: trial.model, lr: trial.lr });
      if (trial.auc !== undefined) tracker.logMetrics(run, [{ key: 'auc', value: trial.auc, step: 1 }]);
      tracker.logMetrics(run, [{ key: 'loss', value: 1 - index / 10, step: 1 }]);
      tracker.setTags(run, { team: trial.team });
      tracker.endRun(run, trial.status, start + trial.duration);
    });
  });

  after(() => {
    tracker.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const names = (query: RunQuery): string[] => queryRuns(tracker.store.db, query).map((row) => row.name);
  const check = (filter: string, expected: string[]): void => {
    assert.deepEqual(names({ filter, sort: 'name' }).sort(), [...expected].sort(), filter);
  };

  it('selects runs by metrics, params, tags and attributes with AND, OR, NOT, IN, LIKE and parentheses', () => {
    check('metrics.auc >= 0.8', ['sweep-1', 'sweep-2', 'base']);
    check("metrics.auc >= 0.8 AND (params.model = 'tree' OR tags.team IN ('a','b')) AND name LIKE 'sweep%'", [
      'sweep-1',
      'sweep-2',
    ]);
    check('params.model = \'tree\' OR params.model = "forest"', ['sweep-1', 'sweep-3', 'base']);
    check("params.model IN ('tree', 'linear') AND NOT status = 'failed'", ['sweep-1', 'sweep-2']);
    check("tags.team NOT IN ('c')", ['sweep-1', 'sweep-2', 'sweep-4']);
    check("name NOT LIKE 'sweep%'", ['base']);
    check("params.model = 'o''brien'", ['sweep-4']);
    // Params compare as numbers when the value is a number: 10 > 2, though '10' < '2' as text.
    check('params.lr > 1.5', ['base', 'sweep-4']);
    check('params.lr IN (0.1, 10)', ['sweep-1', 'base']);
    check('metrics.auc != 0.7', ['sweep-1', 'sweep-2', 'base']);
    check("experiment = 'snow'", ['sweep-4']);
    check("duration < 2500 and status = 'succeeded'", ['sweep-4']);
    check("start_time >= '2026-11-04'", ['base', 'sweep-4']);
    check('((metrics.loss < 0.85))', ['sweep-3', 'base', 'sweep-4']);
    check("metrics.`auc` > 0.9 OR attributes.name = 'base'", ['sweep-2', 'base']);
  });

  it('never puts a user value into the SQL text', () => {
    const sql = compileFilter(parseFilter("params.model = 'x'' OR 1=1 --' AND metrics.auc > 0.5"));
    assert.doesNotMatch(sql.text, /OR 1=1|0\.5/);
    assert.deepEqual(sql.values, ['model', "x' OR 1=1 --", 'auc', 0.5]);
    check("params.model = 'x'' OR 1=1 --'", []);
  });

  it('sorts by any column, runs without the value last, and pages', () => {
    assert.deepEqual(names({ sort: 'metrics.auc DESC' }), ['sweep-2', 'base', 'sweep-1', 'sweep-3', 'sweep-4']);
    assert.deepEqual(names({ sort: 'metrics.auc' }), ['sweep-3', 'sweep-1', 'base', 'sweep-2', 'sweep-4']);
    assert.deepEqual(names({ sort: 'params.lr DESC' }), ['base', 'sweep-4', 'sweep-3', 'sweep-1', 'sweep-2']);
    assert.deepEqual(names({ sort: 'duration' }), ['sweep-3', 'sweep-4', 'base', 'sweep-1', 'sweep-2']);
    assert.deepEqual(names({ sort: 'tags.team DESC, metrics.loss' }), [
      'base',
      'sweep-3',
      'sweep-2',
      'sweep-4',
      'sweep-1',
    ]);
    // Default: newest first.
    assert.deepEqual(names({ filter: "params.model = 'tree'" }), ['sweep-3', 'sweep-1']);
    assert.deepEqual(names({ filter: "params.model = 'none' OR metrics.auc > 2" }), []);
    assert.deepEqual(names({}), ['sweep-4', 'base', 'sweep-3', 'sweep-2', 'sweep-1']);
    assert.deepEqual(names({ sort: 'metrics.auc DESC', limit: 2, offset: 1 }), ['base', 'sweep-1']);
    assert.deepEqual(names({ sort: 'metrics.auc DESC', limit: 2, offset: 4 }), ['sweep-4']);
    // A page that starts among the runs with the value and ends among the ones without it.
    assert.deepEqual(names({ sort: 'metrics.auc DESC', limit: 2, offset: 3 }), ['sweep-3', 'sweep-4']);
    assert.deepEqual(names({ filter: "tags.team = 'a'", sort: 'metrics.auc', limit: 5 }), ['sweep-1', 'sweep-4']);
    assert.deepEqual(names({ experiment: 'rain', filter: "status = 'succeeded'", sort: 'name' }), [
      'base',
      'sweep-1',
      'sweep-2',
    ]);
  });

  it('returns the params, latest metrics and tags of each row, or only the ones asked for', () => {
    const [row] = queryRuns(tracker.store.db, { filter: "name = 'sweep-2'" });
    assert.deepEqual(row?.params, { model: 'linear', lr: '0.01' });
    assert.deepEqual(row?.metrics, { auc: 0.91, loss: 0.9 });
    assert.deepEqual(row?.tags, { team: 'b' });
    assert.equal(row?.duration, 9000);
    const [narrow] = queryRuns(tracker.store.db, { filter: "name = 'sweep-2'", params: ['lr'], metrics: [] });
    assert.deepEqual(narrow?.params, { lr: '0.01' });
    assert.deepEqual(narrow?.metrics, {});
  });

  const error = (filter: string, message: string, column: number): void => {
    assert.throws(
      () => compileFilter(parseFilter(filter)),
      (thrown: Error) => {
        assert.ok(thrown instanceof FilterError, String(thrown));
        assert.equal(thrown.message, `${message} at column ${column}`);
        assert.equal(thrown.column, column);
        return true;
      },
      filter,
    );
  };

  it('says what is wrong with a filter and at which column', () => {
    error('metrics.auc >= ', "expected a value after '>=' but found the end", 16);
    error('metrics.auc >= AND x', "expected a value after '>=' but found 'AND'", 16);
    error(
      "metrics.auc >= 0.8 AND (params.model = 'tree'",
      "expected ')' to close the '(' at column 24 but found the end",
      46,
    );
    error(
      'metrix.auc > 1',
      "unknown column 'metrix.auc' (use metrics.KEY, params.KEY, tags.KEY or one of id, name, status, experiment, start_time, end_time, duration, git_commit, git_branch, parent)",
      1,
    );
    error('metrics.auc 0.8', "expected an operator (= != < <= > >= LIKE IN) after 'metrics.auc' but found '0.8'", 13);
    error("tags.team IN 'a'", "expected '(' after 'IN' but found ''a''", 14);
    error("tags.team IN ('a' 'b')", "expected ',' or ')' in the IN list but found ''b''", 19);
    error("name = 'open", "unterminated string starting with '", 8);
    error(
      'metrics.auc > 0.8 metrics.loss < 1',
      "expected AND, OR or the end of the filter but found 'metrics.loss'",
      19,
    );
    error("metrics.auc LIKE 'a%'", 'LIKE needs text, and metrics.auc is a number', 1);
    error("metrics.auc > 'high'", "metrics.auc is a number and cannot be compared with 'high'", 1);
    error("start_time > 'yesterday'", "'yesterday' is not a date for start_time", 1);
    error('AND x = 1', "expected a column such as metrics.auc but found 'AND'", 1);
    error('name = 1 ; drop', "unexpected character ';'", 10);
    error('params. = 1', "expected a key after 'params.'", 8);
  });

  it('says what is wrong with a sort', () => {
    assert.deepEqual(parseSort('metrics.auc DESC, name'), [
      { column: { kind: 'metric', key: 'auc' }, descending: true },
      { column: { kind: 'attribute', key: 'name' }, descending: false },
    ]);
    assert.throws(
      () => parseSort('metrics.auc DOWN'),
      /expected ASC or DESC after 'metrics.auc' but found 'DOWN' at column 1/,
    );
    assert.throws(() => parseSort('name, colour'), /unknown column 'colour'.* at column 7/);
  });
});
