// The store's indexes for sorting runs by name: SQLite reads a page of runs in name order from an
// index (across all experiments, or within one) instead of sorting every run first.
import * as assert from 'node:assert/strict';
import { Store } from '../../server/engine/store';
import { queryRuns } from '../../server/engine/tracking/query';
import { Tracker } from '../../server/engine/tracking/tracker';
import { makeWorkspace } from '../helpers/workspace';

function plan(store: Store, sql: string, ...values: (string | number)[]): string {
  const rows = store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...values) as { detail: string }[];
  return rows.map((row) => row.detail).join('\n');
}

describe('run indexes', () => {
  it('sorts runs by name from an index, across experiments and within one', () => {
    const root = makeWorkspace({});
    const tracker = Tracker.open(root);
    try {
      for (const [experiment, name] of [
        ['a', 'run-c'],
        ['b', 'run-a'],
        ['a', 'run-b'],
      ] as const)
        tracker.startRun({ experiment, name });
      assert.deepEqual(
        queryRuns(tracker.store.db, { sort: 'name' }).map((run) => run.name),
        ['run-a', 'run-b', 'run-c'],
      );
      assert.deepEqual(
        queryRuns(tracker.store.db, { experiment: 'a', sort: 'name DESC' }).map((run) => run.name),
        ['run-c', 'run-b'],
      );
      const all = plan(tracker.store, 'SELECT id FROM tracked_runs r ORDER BY r.name ASC, r.seq ASC LIMIT 100');
      assert.match(all, /USING (COVERING )?INDEX tracked_runs_by_name/);
      assert.doesNotMatch(all, /TEMP B-TREE/);
      const within = plan(
        tracker.store,
        'SELECT id FROM tracked_runs r WHERE r.experiment_id = ? ORDER BY r.name DESC, r.seq DESC LIMIT 100',
        1,
      );
      assert.match(within, /USING (COVERING )?INDEX tracked_runs_by_experiment_name/);
      assert.doesNotMatch(within, /TEMP B-TREE/);
    } finally {
      tracker.close();
    }
  });
});
