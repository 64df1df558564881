// Pure parts of the model server: the arm of a request by weight and sticky key, the shadow share,
// where the sticky key is found, and the micro-batcher's batches (sizes, order, each request's own
// output rows, failures reaching every request of the batch) over a runner in this process.
import * as assert from 'node:assert/strict';
import { Batcher } from '../../server/engine/serving/batcher';
import type { TensorValue } from '../../server/engine/serving/tensors';
import { chooseArm, keyBucket, requestKey, shouldMirror } from '../../server/engine/serving/router';

function sequence(values: number[]): () => number {
  let index = 0;
  return () => values[index++ % values.length] as number;
}

function rowsTensor(values: number[]): Record<string, TensorValue> {
  return { x: { type: 'float32', dims: [values.length, 1], data: Float32Array.from(values) } };
}

describe('serving routing and batching', () => {
  it('splits traffic by weight, and keeps a key on one arm whatever the draw', () => {
    const traffic = { stable: 80, candidate: 20, mirror: 0 };
    assert.equal(
      chooseArm(traffic, true, null, () => 0.1),
      'candidate',
    );
    assert.equal(
      chooseArm(traffic, true, null, () => 0.3),
      'stable',
    );
    assert.equal(
      chooseArm(traffic, false, null, () => 0.1),
      'stable',
      'no candidate, no candidate arm',
    );
    assert.equal(
      chooseArm({ stable: 0, candidate: 100, mirror: 0 }, true, null, () => 0.999),
      'candidate',
    );
    // About the candidate's share of 10,000 keys land on it, each always on the same arm.
    let candidate = 0;
    for (let user = 0; user < 10_000; user++) {
      const arm = chooseArm(traffic, true, `user-${user}`, Math.random);
      if (arm === 'candidate') candidate++;
      assert.equal(chooseArm(traffic, true, `user-${user}`, Math.random), arm);
    }
    assert.ok(candidate > 1700 && candidate < 2300, `${candidate} of 10,000 keys on a 20% candidate`);
    assert.equal(keyBucket('user-1'), keyBucket('user-1'));
    assert.notEqual(keyBucket('user-1'), keyBucket('user-2'));
    assert.equal(shouldMirror({ stable: 100, candidate: 0, mirror: 25 }, true, sequence([0.2])), true);
    assert.equal(shouldMirror({ stable: 100, candidate: 0, mirror: 25 }, true, sequence([0.3])), false);
    assert.equal(shouldMirror({ stable: 100, candidate: 0, mirror: 100 }, false, sequence([0])), false);
  });

  it('finds the sticky key in the header, parameters, params or the first row', () => {
    assert.equal(requestKey({ 'x-cairn-key': 'k1' }, {}, undefined), 'k1');
    assert.equal(requestKey({ 'x-session-id': 's9' }, {}, 'x-session-id'), 's9');
    assert.equal(requestKey({}, { parameters: { user_id: 42 } }, 'user_id'), '42');
    assert.equal(requestKey({}, { params: { user_id: 'u1' } }, 'user_id'), 'u1');
    assert.equal(requestKey({}, { dataframe_records: [{ user_id: 'u2', a: 1 }] }, 'user_id'), 'u2');
    assert.equal(requestKey({}, { instances: [{ user_id: 'u3' }] }, 'user_id'), 'u3');
    assert.equal(
      requestKey({}, { dataframe_split: { columns: ['a', 'user_id'], data: [[1, 'u4']] } }, 'user_id'),
      'u4',
    );
    assert.equal(requestKey({}, { inputs: { user_id: ['u5'] } }, 'user_id'), 'u5');
    assert.equal(requestKey({}, { inputs: [] }, 'user_id'), null);
    assert.equal(requestKey({}, { parameters: { user_id: 'u6' } }, undefined), null);
  });

  it('batches waiting requests up to max_size rows and gives each its own rows', async () => {
    const batches: number[][] = [];
    const runner = {
      run: async (inputs: Record<string, TensorValue>): Promise<Record<string, TensorValue>> => {
        const values = Array.from(inputs['x']?.data as Float32Array);
        batches.push(values);
        await new Promise((resolve) => setTimeout(resolve, 5));
        return rowsTensor(values.map((value) => value * 10));
      },
    };
    const sizes: number[] = [];
    const batcher = new Batcher(runner, { maxSize: 4, maxLatencyMs: 50 }, true, (rows) => sizes.push(rows));
    const answers = await Promise.all(
      [[1], [2], [3, 4], [5], [6], [7, 8, 9], [10]].map((values) => batcher.submit(rowsTensor(values), values.length)),
    );
    assert.deepEqual(
      answers.map((answer) => Array.from(answer['x']?.data as Float32Array)),
      [[10], [20], [30, 40], [50], [60], [70, 80, 90], [100]],
    );
    assert.ok(
      sizes.every((size) => size <= 4),
      `batch sizes ${sizes.join(', ')}`,
    );
    assert.deepEqual(batches.flat(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'rows run in arrival order');
    assert.ok(sizes.length < 7, 'requests were batched');
    assert.equal(batcher.busy, 0);
  });

  it('runs a request larger than max_size alone, and fails every request of a failed batch', async () => {
    const sizes: number[] = [];
    const failing = new Batcher(
      { run: () => Promise.reject(new Error('model failed')) },
      { maxSize: 8, maxLatencyMs: 1 },
      true,
      (rows) => sizes.push(rows),
    );
    const results = await Promise.allSettled([failing.submit(rowsTensor([1]), 1), failing.submit(rowsTensor([2]), 1)]);
    assert.deepEqual(
      results.map((result) => result.status === 'rejected' && (result.reason as Error).message),
      ['model failed', 'model failed'],
    );
    const echo = new Batcher({ run: async (inputs) => inputs }, { maxSize: 2, maxLatencyMs: 1 }, true, (rows) =>
      sizes.push(rows),
    );
    const big = await echo.submit(rowsTensor([1, 2, 3]), 3);
    assert.deepEqual(Array.from(big['x']?.data as Float32Array), [1, 2, 3]);
    assert.equal(sizes.at(-1), 3);
  });
});
