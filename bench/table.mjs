/* global window, document, requestAnimationFrame, Event -- page functions run in Chromium */
// Experiments table benchmark, printing JSON figures to stdout:
//   1. a store with 10,000 runs × 50 columns (25 params, 25 metrics) in a temp workspace, written with
//      the Tracker;
//   2. `cairn exp table --json` over it in a cold process (the built CLI, node startup included),
//      median of 5, and the payload size; target < 500 ms; beside it, the same table built in this
//      process and a bare node startup, to tell the query's share from the process's, and the load
//      average (other work on the machine slows every figure); and the first page the editor asks
//      for before every row (--limit 500);
//   3. first paint of the built webview bundle (media/experiments.js) in real Chromium: the page gets
//      the payload and we time the first rendered row, median of 5; target < 500 ms; then the time
//      of 40 scroll jumps through the table (rows are rebuilt on each) and how many rows are in the DOM.
//
// Usage: npm run bench:table   (node --import tsx bench/table.mjs [--runs 10000] [--keep])
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Store } from '../server/engine/store.ts';
import { runTableJson } from '../server/engine/tracking/table.ts';
import { Tracker } from '../server/engine/tracking/tracker.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const CLI = path.join(repo, 'dist/cli/cairn.js');
const BUNDLE = path.join(repo, 'media/experiments.js');
const STYLES = path.join(repo, 'media/experiments.css');
const CHROMIUM = process.env.CAIRN_CHROMIUM ?? '/usr/bin/chromium';
const ROUNDS = 5;
const TARGET_MS = 500;

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** A deterministic pseudo-random sequence, so every bench run builds the same store. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Writes `runs` runs with 25 params and 25 metrics each into a new workspace; returns its root. */
export function buildStore(runs, root = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-table-'))) {
  const next = random(7);
  const store = Store.open(root);
  const tracker = Tracker.open(store);
  const start = Date.UTC(2026, 0, 1);
  store.db.transaction(() => {
    for (let index = 0; index < runs; index++) {
      const runStart = start + index * 60_000;
      const run = tracker.startRun({ experiment: 'bench', name: `trial-${index}`, startTime: runStart });
      const params = {};
      for (let key = 0; key < 25; key++) {
        params[`p${String(key).padStart(2, '0')}`] =
          key % 5 === 0 ? ['adam', 'sgd', 'rmsprop'][index % 3] : Number((next() * 10).toFixed(4));
      }
      tracker.logParams(run, params);
      const points = [];
      for (let key = 0; key < 25; key++) {
        points.push({ key: `m${String(key).padStart(2, '0')}`, value: next(), step: 9, timestamp: runStart });
      }
      tracker.logMetrics(run, points, runStart);
      if (index % 50 === 0) tracker.setTags(run, { 'cairn.starred': 'true' });
      tracker.endRun(run, 'succeeded', runStart + 30_000 + Math.floor(next() * 30_000));
    }
  })();
  tracker.close();
  store.close();
  return root;
}

/** `cairn exp table --json` in a fresh process, `ROUNDS` times: the times and the last payload. */
function timeTable(root, limit) {
  const times = [];
  let payload = '';
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    const result = spawnSync(
      process.execPath,
      [CLI, 'exp', 'table', '--experiment', 'bench', '--limit', String(limit), '--workspace', root, '--json'],
      { encoding: 'utf8', maxBuffer: 1 << 30 },
    );
    times.push(performance.now() - started);
    if (result.status !== 0) throw new Error(`cairn exp table failed: ${result.stderr}`);
    payload = result.stdout;
  }
  return { times, payload };
}

/** The same table in this process (no startup): what the query and the JSON text cost alone. */
function timeInProcess(root) {
  const store = Store.open(root);
  const times = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const started = performance.now();
      runTableJson(store.db, { experiment: 'bench', limit: 20_000 });
      times.push(performance.now() - started);
    }
  } finally {
    store.close();
  }
  return times;
}

/** A bare `node -e 0`: the part of the CLI's time no command can save. */
function timeNodeStartup() {
  const times = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    times.push(performance.now() - started);
  }
  return times;
}

/** A page like the webview's, minus VS Code: the bundle, its styles, and the payload pushed in as setData. */
function pageHtml() {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><style>${fs.readFileSync(STYLES, 'utf8')}</style></head>
<body><div id="root"></div><script>
  window.acquireVsCodeApi = () => ({ postMessage: (message) => window.__posted.push(message), getState: () => undefined, setState: () => {} });
  window.__posted = [];
</script><script>${fs.readFileSync(BUNDLE, 'utf8')}</script></body></html>`;
}

/**
 * Milliseconds from the host's setData message (the CLI's JSON text, as the extension passes it on)
 * to the first table row in the DOM, in a fresh page each round.
 */
async function firstPaint(payload) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const times = [];
  let scroll;
  try {
    const html = pageHtml();
    for (let round = 0; round < ROUNDS; round++) {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await page.setContent(html);
      await page.evaluate((tableJson) => {
        window.__message = {
          type: 'setData',
          tableJson,
          query: { experiment: 'bench', filter: '', sort: '' },
          experiments: ['bench'],
          limit: 20000,
        };
      }, payload);
      const elapsed = await page.evaluate(
        () =>
          new Promise((resolve) => {
            const started = performance.now();
            window.postMessage(window.__message, '*');
            const check = () => {
              if (document.querySelector('[data-row-index]')) resolve(performance.now() - started);
              else requestAnimationFrame(check);
            };
            check();
          }),
      );
      if (round === 0) scroll = await scrollFrames(page);
      const rendered = await page.evaluate(() => document.querySelectorAll('[data-row-index]').length);
      if (rendered === 0 || rendered > 200) throw new Error(`expected a virtualized table, found ${rendered} rows`);
      times.push(elapsed);
      await page.close();
    }
  } finally {
    await browser.close();
  }
  return { times, scroll };
}

/**
 * Scrolls the grid down in 40 jumps of 4,000 px. Per jump: the work of the frame that redraws the
 * rows (from the frame's start to the end of the table's own animation-frame callback, which runs
 * before ours), and the time until the frame after it (layout and paint included).
 */
function scrollFrames(page) {
  return page.evaluate(async () => {
    const grid = document.querySelector('.grid');
    const render = [];
    const frames = [];
    const nextFrame = () => new Promise((resolve) => requestAnimationFrame((time) => resolve(time)));
    for (let jump = 0; jump < 40; jump++) {
      await nextFrame();
      const started = performance.now();
      grid.scrollTop += 4000;
      grid.dispatchEvent(new Event('scroll'));
      const frameStart = await nextFrame();
      render.push(performance.now() - Math.max(frameStart, started));
      await nextFrame();
      frames.push(performance.now() - started);
    }
    const rows = document.querySelectorAll('[data-row-index]').length;
    return { render, frames, rowsInDom: rows };
  });
}

async function main() {
  const runs = option('runs', 10_000);
  const buildStarted = performance.now();
  const root = buildStore(runs);
  const buildMs = performance.now() - buildStarted;
  try {
    const { times, payload } = timeTable(root, 20_000);
    // What the editor asks first: one page of rows, with the columns of every matching run.
    const firstPage = timeTable(root, 500);
    const table = JSON.parse(payload);
    if (table.total !== runs || table.rows.length !== runs)
      throw new Error(`expected ${runs} rows, got ${table.rows.length}`);
    const result = {
      runs,
      columns: table.columns.length,
      buildStoreMs: Math.round(buildMs),
      tableMedianMs: Math.round(median(times)),
      tableMs: times.map(Math.round),
      firstPageMedianMs: Math.round(median(firstPage.times)),
      firstPageBytes: Buffer.byteLength(firstPage.payload),
      inProcessMedianMs: Math.round(median(timeInProcess(root))),
      nodeStartupMedianMs: Math.round(median(timeNodeStartup())),
      loadAverage: os.loadavg().map((load) => Number(load.toFixed(2))),
      cpus: os.cpus().length,
      payloadBytes: Buffer.byteLength(payload),
      targetMs: TARGET_MS,
    };
    if (fs.existsSync(BUNDLE) && fs.existsSync(CHROMIUM)) {
      const paints = await firstPaint(payload);
      result.firstPaintMedianMs = Math.round(median(paints.times));
      result.firstPaintMs = paints.times.map(Math.round);
      // A frame at 60 Hz lasts 16.7 ms: the redraw must fit well inside it.
      result.scrollRenderMedianMs = Number(median(paints.scroll.render).toFixed(1));
      result.scrollRenderMaxMs = Number(Math.max(...paints.scroll.render).toFixed(1));
      result.scrollTwoFramesMedianMs = Math.round(median(paints.scroll.frames));
      result.rowsInDom = paints.scroll.rowsInDom;
    } else {
      result.firstPaint = `skipped: needs ${BUNDLE} (npm run build) and ${CHROMIUM}`;
    }
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    if (process.argv.includes('--keep')) process.stderr.write(`store kept in ${root}\n`);
    else fs.rmSync(root, { recursive: true, force: true });
  }
}

await main();
