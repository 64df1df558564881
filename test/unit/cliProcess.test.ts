// The editor's way of running the CLI when the exit code matters: real child processes of the
// built `dist/cli/cairn.js` (run `npm run build` first), streamed lines, the exit code and stderr of
// bad input, SIGINT on abort, and a clear message when Node.js cannot start.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { failureText, runCli } from '../../client/cliProcess';

const CLI = path.resolve(__dirname, '..', '..', 'dist', 'cli', 'cairn.js');

describe('cli process', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-cli-process-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('returns the JSON a command prints and streams its lines', async () => {
    const lines: string[] = [];
    const result = await runCli({
      nodePath: process.execPath,
      cliPath: CLI,
      args: ['exp', 'list', '--json', '--workspace', root],
      cwd: root,
      onLine: (line) => lines.push(line),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { runs: [] });
    assert.equal(lines.join('\n'), result.stdout);
  });

  it("returns exit code 2 and the CLI's own words for bad input", async () => {
    const result = await runCli({
      nodePath: process.execPath,
      cliPath: CLI,
      args: ['exp', 'list', '--filter', 'metrics.auc >>> 1', '--json', '--workspace', root],
      cwd: root,
    });
    assert.equal(result.code, 2);
    assert.match(failureText(result, 'exp list', process.execPath), /bad --filter/);
  });

  it('sends SIGINT when aborted', async () => {
    const script = path.join(root, 'wait.js');
    // Stands in for `cairn exp run`: exits 130 on SIGINT, as the CLI does, after saying it started.
    fs.writeFileSync(
      script,
      "process.on('SIGINT', () => { console.log('cancelled'); process.exit(130); });\nconsole.log('started');\nsetInterval(() => {}, 1000);\n",
    );
    const controller = new AbortController();
    const result = await runCli({
      nodePath: process.execPath,
      cliPath: script,
      args: [],
      cwd: root,
      signal: controller.signal,
      onLine: (line) => {
        if (line === 'started') controller.abort();
      },
    });
    assert.equal(result.code, 130);
    assert.equal(result.stdout, 'started\ncancelled');
  });

  it('says which Node.js could not start', async () => {
    const missing = path.join(root, 'no-such-node');
    const result = await runCli({ nodePath: missing, cliPath: CLI, args: ['exp', 'list'], cwd: root });
    assert.notEqual(result.startError, null);
    assert.match(
      failureText(result, 'exp list', missing),
      /could not start Node\.js '.*no-such-node'\. Set cairn\.nodePath/,
    );
  });
});
