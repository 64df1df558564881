// The warning `cairn deploy` prints when a server would listen beyond this machine with no token.
import * as assert from 'node:assert/strict';
import { exposureWarning } from '../../server/cli/commands/deploy';

describe('deploy: exposure warning', () => {
  it('warns for a non-loopback host without a serving token, and only then', () => {
    assert.match(exposureWarning('0.0.0.0', null) ?? '', /listens on 0\.0\.0\.0 without a serving token/);
    assert.match(exposureWarning('192.168.1.20', null) ?? '', /server\.token_env/);
    assert.match(exposureWarning('::', null) ?? '', /listens on ::/);
    assert.equal(exposureWarning('0.0.0.0', 'RAIN_TOKEN'), null);
    for (const host of ['127.0.0.1', '127.0.1.1', 'localhost', '::1'])
      assert.equal(exposureWarning(host, null), null, host);
  });
});
