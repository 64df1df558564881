#!/usr/bin/env node
// End-to-end tests of the packaged extension in a real VS Code (code-server 4.100.3 = VS Code
// 1.100.3) driven in Debian's Chromium by playwright-core.
//
//   bash scripts/e2e-setup.sh && npm run package && node test/e2e/run.mjs
//
// Installs dist/cairn.vsix into a fresh extensions folder, opens a temp copy of examples/iris (with
// examples/weather in its weather/ folder),
// runs the cases of tests.mjs, saves a screenshot of every step into test/e2e/artifacts/, prints
// "ok - name" / "not ok - name: reason" per case and "N passed, N failed"; exit code 1 on failure.
//
// Environment: CAIRN_E2E_VSIX (default dist/cairn.vsix), CAIRN_E2E_WORKSPACE (default
// examples/iris), CAIRN_E2E_GREP (run only cases whose name contains it), CAIRN_E2E_KEEP=1 (keep
// the temp folder), CAIRN_E2E_TIMEOUT (overall seconds, default 720).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import {
  codeServerBinary,
  codeServerEnv,
  freePort,
  installExtension,
  killProcessGroupNow,
  startCodeServer,
} from './lib/codeServer.mjs';
import { note, short, since, withTimeout } from './lib/util.mjs';
import { Workbench } from './lib/workbench.mjs';
import { EXTRA_FILES, TESTS } from './tests.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoDir = path.resolve(here, '..', '..');
const artifactsDir = path.join(here, 'artifacts');
const vsix = path.resolve(repoDir, process.env.CAIRN_E2E_VSIX ?? 'dist/cairn.vsix');
const exampleDir = path.resolve(repoDir, process.env.CAIRN_E2E_WORKSPACE ?? 'examples/iris');
const grep = process.env.CAIRN_E2E_GREP ?? '';
const keep = process.env.CAIRN_E2E_KEEP === '1';
const overallSeconds = Number(process.env.CAIRN_E2E_TIMEOUT ?? 720);
const TEST_TIMEOUT = 120_000;
const CHROMIUM = process.env.CAIRN_E2E_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

const USER_SETTINGS = {
  'workbench.startupEditor': 'none',
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.ignoreRecommendations': true,
  'extensions.autoCheckUpdates': false,
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'git.enabled': false,
  'chat.commandCenter.enabled': false,
  'files.autoSave': 'off',
  // Typed text lands where the test means it to: Enter keeps the previous line's indentation
  // instead of applying language indentation rules.
  'editor.autoIndent': 'keep',
  'editor.hover.delay': 300,
};

const results = [];
const state = { codeServer: null, browser: null, tmp: null, finished: false };

function report(name, error) {
  if (error) {
    const reason = short(error instanceof Error ? error.message : String(error), 600);
    results.push({ name, ok: false });
    console.log(`not ok - ${name}: ${reason}`);
  } else {
    results.push({ name, ok: true });
    console.log(`ok - ${name}`);
  }
}

/** Stops the browser and code-server and writes logs into the artifacts; safe to call twice. */
async function cleanup() {
  if (state.browser) {
    const browser = state.browser;
    state.browser = null;
    await withTimeout(browser.close(), 10_000, 'closing the browser').catch(() => {});
  }
  if (state.codeServer) {
    const server = state.codeServer;
    state.codeServer = null;
    await server.stop().catch(() => {});
  }
  if (state.tmp) {
    const tmp = state.tmp;
    state.tmp = null;
    try {
      const logs = path.join(tmp, 'user-data', 'logs');
      if (fs.existsSync(logs)) fs.cpSync(logs, path.join(artifactsDir, 'vscode-logs'), { recursive: true });
    } catch {
      /* logs are a convenience */
    }
    if (keep) note(`kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
  }
}

function summary() {
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(`${passed} passed, ${failed} failed`);
  return failed;
}

async function finish(code) {
  if (state.finished) return;
  state.finished = true;
  clearTimeout(overallTimer);
  await cleanup();
  const failed = summary();
  process.exit(code || failed ? 1 : 0);
}

// Last-resort cleanup: never leave code-server running.
process.on('exit', () => {
  if (state.codeServer) killProcessGroupNow(state.codeServer.process);
});
let currentTest = null;

/** Ends the run early: the running case and those not yet run fail with `reason`. */
function abort(reason) {
  if (state.finished) return;
  console.log(`# ${reason}`);
  const pending = TESTS.filter((t) => (!grep || t.name.includes(grep)) && !results.some((r) => r.name === t.name));
  for (const t of pending) report(t.name, t === currentTest ? reason : `not run (${reason})`);
  if (pending.length === 0) report('end-to-end run', reason);
  void finish(1);
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => abort(`interrupted by ${signal}`));
const overallTimer = setTimeout(() => abort(`overall timeout of ${overallSeconds} s reached`), overallSeconds * 1000);

/** Copies the example workspace and writes the extra test files; makes files end with "\n". */
function prepareWorkspace(target) {
  if (!fs.existsSync(exampleDir)) throw new Error(`example workspace ${exampleDir} does not exist`);
  const copy = (from, to) =>
    fs.cpSync(from, to, { recursive: true, filter: (source) => !/[\\/]\.cairn$/.test(source) });
  copy(exampleDir, target);
  // The weather example (Node stages, an ONNX model) beside it, for sweeps and the registry: its
  // stages import onnx-proto and onnxruntime-node, found through a link to the repository's packages.
  copy(path.join(repoDir, 'examples', 'weather'), path.join(target, 'weather'));
  fs.symlinkSync(path.join(repoDir, 'node_modules'), path.join(target, 'node_modules'), 'dir');
  for (const [name, text] of Object.entries(EXTRA_FILES)) fs.writeFileSync(path.join(target, name), text);
  for (const name of fs.readdirSync(target)) {
    const file = path.join(target, name);
    if (!/\.ya?ml$/.test(name) || !fs.statSync(file).isFile()) continue;
    const text = fs.readFileSync(file, 'utf8');
    if (text.length && !text.endsWith('\n')) fs.writeFileSync(file, `${text}\n`);
  }
}

async function main() {
  const t0 = Date.now();
  fs.rmSync(artifactsDir, { recursive: true, force: true });
  fs.mkdirSync(artifactsDir, { recursive: true });

  const bin = codeServerBinary(repoDir);
  if (!fs.existsSync(vsix)) throw new Error(`${vsix} does not exist; run: npm run package`);
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} does not exist; run: bash scripts/e2e-setup.sh`);

  state.tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-e2e-')));
  const userDataDir = path.join(state.tmp, 'user-data');
  const extensionsDir = path.join(state.tmp, 'extensions');
  const workspace = path.join(state.tmp, 'iris');
  fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  fs.mkdirSync(extensionsDir, { recursive: true });
  fs.writeFileSync(path.join(userDataDir, 'User', 'settings.json'), `${JSON.stringify(USER_SETTINGS, null, 2)}\n`);
  prepareWorkspace(workspace);
  const env = codeServerEnv(state.tmp);

  let t = Date.now();
  await installExtension({ bin, vsix, userDataDir, extensionsDir, env });
  note(`installed ${path.relative(repoDir, vsix)} in ${since(t)} s`);

  t = Date.now();
  const port = await freePort();
  state.codeServer = await startCodeServer({
    bin,
    port,
    userDataDir,
    extensionsDir,
    workspace,
    env,
    root: state.tmp,
    logFile: path.join(artifactsDir, 'code-server.log'),
  });
  note(`code-server listening on ${state.codeServer.url} in ${since(t)} s`);

  t = Date.now();
  state.browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    // Our own signal handlers clean up (browser, then code-server) and print the summary.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  const context = await state.browser.newContext({ viewport: { width: 1600, height: 1000 } });
  const page = await context.newPage();
  const consoleLog = fs.createWriteStream(path.join(artifactsDir, 'browser-console.log'));
  page.on('console', (message) => consoleLog.write(`[${message.type()}] ${message.text()}\n`));
  page.on('pageerror', (error) => consoleLog.write(`[pageerror] ${error.message}\n`));
  await page.goto(`${state.codeServer.url}/?folder=${encodeURIComponent(workspace)}`, { timeout: 60_000 });
  const wb = new Workbench(page, { artifactsDir });
  await wb.waitForReady({ expectFile: 'pipeline.yaml' });
  note(`workbench ready in ${since(t)} s (browser launch + page load)`);
  await wb.screenshot('workbench ready');

  for (const test of TESTS) {
    if (grep && !test.name.includes(grep)) continue;
    if (state.finished) return;
    currentTest = test;
    wb.prefix = test.name;
    const ctx = {
      workspace,
      shot: (name) => wb.screenshot(name),
      note: (text) => note(`${test.name}: ${text}`),
    };
    const started = Date.now();
    try {
      if (state.codeServer?.hasExited()) throw new Error('code-server is no longer running');
      await withTimeout(test.run(wb, ctx), TEST_TIMEOUT, `test "${test.name}"`);
      if (state.finished) return;
      report(test.name);
    } catch (error) {
      if (state.finished) return;
      await wb.screenshot('failure');
      report(test.name, error);
    } finally {
      // Leave no widget open for the next case.
      await wb.dismissQuickInput().catch(() => {});
      await page.keyboard.press('Escape').catch(() => {});
    }
    note(`${test.name}: ${since(started)} s`);
  }
  currentTest = null;
  note(`total ${since(t0)} s`);
  consoleLog.end();
}

main().then(
  () => finish(0),
  async (error) => {
    console.log(`# ${error instanceof Error ? error.stack : error}`);
    report(currentTest ? currentTest.name : 'end-to-end setup', error);
    await finish(1);
  },
);
