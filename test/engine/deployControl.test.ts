// The CLI's admin calls against a server that accepts the connection but never answers: they give
// up after their timeout with a message naming the deployment and its log, instead of hanging.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { writeAdminToken } from '../../server/engine/deploy/admin';
import { adminCall } from '../../server/engine/deploy/control';
import type { DeploymentRow } from '../../server/engine/deploy/records';
import { makeWorkspace } from '../helpers/workspace';

describe('deploy control: admin calls', () => {
  it('gives up on a server that never answers, naming the deployment and its log', async () => {
    const root = makeWorkspace({});
    writeAdminToken(root, 'rain');
    const hung = http.createServer(() => {
      // Never answers.
    });
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const address = hung.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const row = { name: 'rain', state: { url: `http://127.0.0.1:${port}` } } as unknown as DeploymentRow;
    try {
      const started = Date.now();
      await assert.rejects(
        adminCall(root, row, 'promote', {}, 300),
        /The server of rain at http:\/\/127\.0\.0\.1:\d+ did not answer 'promote' within 0\.3 s\. See \.cairn\/deployments\/rain\/server\.log\./,
      );
      assert.ok(Date.now() - started < 5000);
    } finally {
      hung.closeAllConnections();
      await new Promise((resolve) => hung.close(resolve));
    }
  });
});
