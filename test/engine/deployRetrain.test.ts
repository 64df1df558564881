// The retrain loop's triggers with a fake clock over a real store: the schedule proposes a retrain
// when it is due, one open retrain at a time, new data proposes one, a declined one makes room, and an
// approved one whose experiment fails is recorded as failed with the reason.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decideRetrain } from '../../server/engine/deploy/control';
import { retrainsIn } from '../../server/engine/deploy/records';
import { RetrainLoop } from '../../server/engine/deploy/retrain';
import type { RetrainHost } from '../../server/engine/deploy/retrain';
import { readDeployment } from '../../server/engine/deploy/spec';
import { Store } from '../../server/engine/store';
import { makeWorkspace } from '../helpers/workspace';

describe('retrain loop triggers', () => {
  it('proposes on schedule and on new data, one at a time, and records a failed experiment', async () => {
    const root = makeWorkspace({
      'retrain.experiment.yaml': 'pipeline: pipeline.yaml\n',
      'data/a.csv': 'x\n1\n',
      'rain.deploy.yaml': [
        'model: rain@champion',
        'monitoring:',
        '  retrain: { experiment: retrain.experiment.yaml, schedule: 1s, data: [data] }',
        '',
      ].join('\n'),
    });
    const store = Store.open(root);
    try {
      const events: string[] = [];
      const host: RetrainHost = {
        root,
        spec: readDeployment('rain.deploy.yaml', root),
        store,
        event: (kind, message) => void events.push(`${kind}: ${message}`),
        reconcile: () => Promise.resolve(),
      };
      let now = 10_000;
      const loop = new RetrainLoop(host, {
        cli: [process.execPath, path.join(root, 'no-such-cli.js')],
        now: () => now,
      });
      const open = () => retrainsIn(store.db, 'rain', ['proposed', 'approved', 'running']);

      now += 500;
      loop.tick();
      assert.deepEqual(open(), [], 'not due yet');
      now += 500;
      loop.tick();
      const first = open()[0];
      assert.equal(first?.status, 'proposed');
      assert.match(first?.reason ?? '', /scheduled retrain/);
      assert.equal(first?.experiment, 'retrain.experiment.yaml');
      assert.match(events.at(-1) ?? '', /retrain #1 proposed, waiting for approval \(cairn deploy retrain approve 1\)/);

      now += 1000;
      fs.writeFileSync(path.join(root, 'data/b.csv'), 'x\n2\n');
      loop.tick();
      assert.equal(open().length, 1, 'one open retrain at a time');

      decideRetrain(store, 1, 'decline', 'not now');
      fs.writeFileSync(path.join(root, 'data/c.csv'), 'x\n3\n');
      loop.tick();
      const second = open()[0];
      assert.equal(second?.id, 2);
      assert.match(second?.reason ?? '', /new data in data/);

      decideRetrain(store, 2, 'approve', null);
      loop.tick();
      const deadline = Date.now() + 20_000;
      while (loop.busy && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      const failed = retrainsIn(store.db, 'rain', ['failed'])[0];
      assert.equal(failed?.id, 2);
      assert.match(failed?.message ?? '', /the experiment failed: .*Cannot find module/);
      assert.ok(events.some((event) => /retrain #2 started: cairn exp run retrain\.experiment\.yaml/.test(event)));
      assert.ok(events.some((event) => /retrain #2 failed/.test(event)));
    } finally {
      store.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
