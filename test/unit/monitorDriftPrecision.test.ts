import * as assert from 'node:assert/strict';
import { driftBetween } from '../../server/engine/monitor/driftBridge';

describe('monitor drift: logged float32 inputs against a reference file of doubles', () => {
  it('matches a two-valued feature by category although the log holds it in single precision', () => {
    // The weather model's standardized rained_today takes two values; requests reach the log as
    // float32 tensors, the reference file holds them as written.
    const high = 1.131301;
    const low = -0.883938;
    const reference = { rained_today: Array.from({ length: 2000 }, (_, index) => (index % 2 ? high : low)) };
    const current = {
      rained_today: Float64Array.from({ length: 300 }, (_, index) => Math.fround(index % 2 ? high : low)),
    };
    const report = driftBetween(reference, current, { method: 'auto', threshold: null, share: 0.5, features: [] });
    const feature = report.features[0];
    assert.equal(feature?.kind, 'categorical');
    assert.ok((feature?.statistic ?? 1) < 0.01, `statistic ${feature?.statistic}`);
    assert.equal(feature?.drifted, false);
  });
});
