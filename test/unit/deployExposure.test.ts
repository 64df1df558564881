// The warning `cairn deploy` prints when a server would listen beyond this machine with no token,
// and the URL a deployment listening on every interface is reached at from this machine.
import * as assert from 'node:assert/strict';
import { exposureWarning } from '../../server/cli/commands/deploy';
import { serverUrl } from '../../server/engine/deploy/deployment';

describe('deploy: exposure warning', () => {
  it('warns for a non-loopback host without a serving token, and only then', () => {
    assert.match(exposureWarning('0.0.0.0', null) ?? '', /listens on 0\.0\.0\.0 without a serving token/);
    assert.match(exposureWarning('192.168.1.20', null) ?? '', /server\.token_env/);
    assert.match(exposureWarning('::', null) ?? '', /listens on ::/);
    assert.equal(exposureWarning('0.0.0.0', 'RAIN_TOKEN'), null);
    for (const host of ['127.0.0.1', '127.0.1.1', 'localhost', '::1'])
      assert.equal(exposureWarning(host, null), null, host);
  });

  it('gives a server on every interface the loopback URL, and any other host its own', () => {
    assert.equal(serverUrl('0.0.0.0', 8080), 'http://127.0.0.1:8080');
    assert.equal(serverUrl('::', 8080), 'http://[::1]:8080');
    assert.equal(serverUrl('127.0.0.1', 9000), 'http://127.0.0.1:9000');
    assert.equal(serverUrl('192.168.1.20', 9000), 'http://192.168.1.20:9000');
    assert.equal(serverUrl('fe80::1', 9000), 'http://[fe80::1]:9000');
  });
});
