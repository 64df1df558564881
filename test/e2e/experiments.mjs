// End-to-end cases of the experiments table as a user sees it: open it from the palette, sort by a
// metric by clicking its header, filter (a bad filter shows the CLI's message inline), select two runs
// and compare them. The runs are seeded with the CLI: a tiny pipeline whose stage writes metrics that
// depend on its params (Node only, no Python), run once per set of params.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { short, waitUntil } from './lib/util.mjs';

const SLOW = 60_000;
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli', 'cairn.js');
const PIPELINE = 'toy.pipeline.yaml';

/** auc = 0.9 - |lr - 0.05| - 0.01 × depth, so each params set below gives a different auc. */
const TOY_PIPELINE = [
  '# Seeds tracked runs for the end-to-end tests of the experiments table.',
  'stages:',
  '  toy_train:',
  '    cmd: >-',
  '      mkdir -p toy && node -e "const lr=${toy.lr},d=${toy.depth};',
  "      require('fs').writeFileSync('toy/metrics.json',JSON.stringify({",
  '      auc:Math.round((0.9-Math.abs(lr-0.05)-0.01*d)*1e4)/1e4,loss:Math.round(lr*d*1e4)/1e4}))"',
  '    params:',
  '      - toy.lr',
  '      - toy.depth',
  '    metrics:',
  '      - toy/metrics.json:',
  '          cache: false',
  '',
].join('\n');

/** [lr, depth] of each seeded run, and the auc it gets. */
const TRIALS = [
  [0.1, 3, 0.82],
  [0.02, 3, 0.84],
  [0.05, 1, 0.89],
  [0.3, 2, 0.63],
];

/** Runs a command from the palette whose label contains `title`. */
async function runCommandContaining(wb, title) {
  await wb.dismissQuickInput();
  await wb.keyboard.press('F1');
  await wb.page.waitForSelector('.quick-input-widget .quick-input-box input', { state: 'visible', timeout: 10_000 });
  await wb.keyboard.type(title, { delay: 10 });
  await wb.acceptQuickInputRow((row) => row.label.includes(title) || row.aria.includes(title), `command "${title}"`);
}

/** The webview frame of the experiments table, or null. */
async function tableFrame(page) {
  for (const frame of page.frames()) {
    const found = await frame.evaluate(() => Boolean(document.querySelector('.grid .header'))).catch(() => false);
    if (found) return frame;
  }
  return null;
}

/** The rendered rows, in row order: [{ run, name, auc }]. */
async function renderedRows(frame) {
  return frame.$$eval('.body .row', (rows) =>
    rows
      .map((row) => ({
        index: Number(row.dataset.rowIndex),
        run: row.dataset.run,
        name: row.querySelector('[data-column="name"]')?.textContent ?? '',
        auc: row.querySelector('[data-column="metrics.auc"]')?.textContent ?? '',
      }))
      .sort((a, b) => a.index - b.index),
  );
}

/** Writes params.yaml with the toy section for one trial, keeping the rest of the file. */
function writeParams(file, original, lr, depth) {
  fs.writeFileSync(file, `${original.trimEnd()}\ntoy:\n  lr: ${lr}\n  depth: ${depth}\n`);
}

/** Runs the toy pipeline once with the given params; params.yaml is put back afterwards. */
function seedRun(workspace, lr, depth) {
  const paramsFile = path.join(workspace, 'params.yaml');
  const original = fs.readFileSync(paramsFile, 'utf8');
  try {
    writeParams(paramsFile, original, lr, depth);
    execFileSync(process.execPath, [CLI, 'run', PIPELINE, '--workspace', workspace], {
      cwd: workspace,
      encoding: 'utf8',
      stdio: 'pipe',
    });
  } catch (error) {
    throw new Error(`seeding a run failed: ${short(`${error.stdout ?? ''} ${error.stderr ?? ''}`, 600)}`, {
      cause: error,
    });
  } finally {
    fs.writeFileSync(paramsFile, original);
  }
}

/** Shared between the cases, which run in order. */
const shared = { frame: null };

export const EXPERIMENT_TABLE_TESTS = [
  {
    name: 'experiments table: open from the palette with seeded runs',
    async run(wb, ctx) {
      const workspace = ctx.workspace;
      fs.writeFileSync(path.join(workspace, PIPELINE), TOY_PIPELINE);
      for (const [lr, depth] of TRIALS) seedRun(workspace, lr, depth);
      await runCommandContaining(wb, 'Open Experiments Table');
      const frame = await waitUntil(
        async () => {
          const found = await tableFrame(wb.page);
          if (!found) return null;
          const count = await found.evaluate(() => document.querySelectorAll('.body .row').length).catch(() => 0);
          return count >= TRIALS.length ? found : null;
        },
        { timeout: SLOW, interval: 500, message: `the experiments table to show at least ${TRIALS.length} rows` },
      ).catch(async (error) => {
        await ctx.shot('no experiments table');
        const found = await tableFrame(wb.page);
        const text = found ? await found.evaluate(() => document.body.innerText).catch(() => '') : '(no webview)';
        throw new Error(`${error.message}; webview text: ${short(text)}`);
      });
      shared.frame = frame;
      const headers = await frame.$$eval('.header .cell.head', (cells) => cells.map((cell) => cell.dataset.column));
      for (const column of ['name', 'metrics.auc', 'metrics.loss', 'params.toy.lr', 'params.toy.depth']) {
        if (!headers.includes(column)) throw new Error(`the table has no column ${column}; columns: ${short(headers)}`);
      }
      await ctx.shot('experiments table open');
    },
  },
  {
    name: 'experiments table: sort by a metric from its header',
    async run(wb, ctx) {
      const frame = shared.frame;
      if (!frame) throw new Error('the experiments table is not open (the first case failed)');
      await frame.locator('.header .cell.head[data-column="metrics.auc"]').click();
      const order = await waitUntil(
        async () => {
          const sorted = await frame.$eval('.header .cell.head[data-column="metrics.auc"]', (cell) =>
            cell.getAttribute('aria-sort'),
          );
          if (sorted !== 'descending') return null;
          const values = (await renderedRows(frame)).map((row) => row.auc).filter((auc) => auc !== '');
          return values.length >= TRIALS.length ? values : null;
        },
        { timeout: SLOW, message: 'rows sorted by metrics.auc, largest first' },
      );
      const expected = TRIALS.map((trial) => trial[2])
        .sort((a, b) => b - a)
        .map(String);
      if (order.slice(0, expected.length).join(',') !== expected.join(',')) {
        throw new Error(`rows are not sorted by metrics.auc descending: ${short(order)}, expected ${expected}`);
      }
      await ctx.shot('sorted by metrics.auc');
    },
  },
  {
    name: 'experiments table: filter, with a bad filter shown inline',
    async run(wb, ctx) {
      const frame = shared.frame;
      if (!frame) throw new Error('the experiments table is not open (the first case failed)');
      const input = frame.locator('input.filter');
      await input.fill('metrics.auc >> 0.8');
      await input.press('Enter');
      const problem = await waitUntil(
        async () => {
          const text = await frame.$eval('.filter-problem', (node) => node.textContent ?? '');
          return text.includes('column') ? text : null;
        },
        { timeout: SLOW, message: 'the filter problem under the filter box' },
      );
      if (!/at column \d+/.test(problem)) throw new Error(`the filter problem names no column: ${short(problem)}`);
      await ctx.shot('bad filter');
      // Completion offers column names: typing "metrics.a" offers metrics.auc.
      await input.fill('');
      await input.pressSequentially('metrics.a', { delay: 20 });
      const offered = await waitUntil(
        async () => {
          const labels = await frame.$$eval('.suggestions li', (items) => items.map((item) => item.textContent));
          return labels.includes('metrics.auc') ? labels : null;
        },
        { timeout: 10_000, message: 'a completion of metrics.auc' },
      );
      if (offered.length === 0) throw new Error('no completion offered');
      await ctx.shot('filter completion');
      await input.press('Tab');
      await input.pressSequentially('> 0.8', { delay: 20 });
      await input.press('Enter');
      const rows = await waitUntil(
        async () => {
          const problemText = await frame.$eval('.filter-problem', (node) => node.textContent ?? '');
          const found = await renderedRows(frame);
          const expected = TRIALS.filter((trial) => trial[2] > 0.8).length;
          return problemText === '' && found.length === expected ? found : null;
        },
        { timeout: SLOW, message: 'only the runs with metrics.auc > 0.8' },
      );
      if (rows.some((row) => Number(row.auc) <= 0.8)) throw new Error(`the filter let through ${short(rows)}`);
      await ctx.shot('filtered');
    },
  },
  {
    name: 'experiments table: select two runs and compare them',
    async run(wb, ctx) {
      const frame = shared.frame;
      if (!frame) throw new Error('the experiments table is not open (the first case failed)');
      const boxes = frame.locator('.body .row .check input');
      await boxes.nth(0).check();
      await boxes.nth(1).check();
      await ctx.shot('two runs selected');
      const compare = frame.locator('.toolbar button', { hasText: 'Compare' });
      await compare.click();
      const text = await waitUntil(
        async () => {
          const view = await frame.$eval('.compare', (node) => (node.classList.contains('open') ? node.innerText : ''));
          return view.includes('Params that differ') ? view : null;
        },
        { timeout: SLOW, message: 'the comparison with the params that differ' },
      ).catch(async (error) => {
        await ctx.shot('no comparison');
        throw error;
      });
      if (!/toy\.(lr|depth)/.test(text)) throw new Error(`the param diff shows no toy param: ${short(text)}`);
      if (!/auc/.test(text)) throw new Error(`the comparison shows no metrics.auc: ${short(text)}`);
      const series = await frame.$$eval('.charts svg .series', (nodes) => nodes.length);
      if (series < 2) throw new Error(`the history chart draws ${series} series, expected 2`);
      const points = await frame.$$eval('.charts svg .point.selected', (nodes) => nodes.length);
      if (points < 2) throw new Error(`the scatter highlights ${points} runs, expected 2`);
      await frame.locator('.compare').scrollIntoViewIfNeeded();
      await ctx.shot('comparison');
    },
  },
  {
    name: 'experiments table: refreshes itself after a new run',
    async run(wb, ctx) {
      const frame = shared.frame;
      if (!frame) throw new Error('the experiments table is not open (the first case failed)');
      const before = (await renderedRows(frame)).length;
      // auc 0.86 passes the table's filter (metrics.auc > 0.8): one more row, without a click.
      seedRun(ctx.workspace, 0.07, 2);
      const rows = await waitUntil(
        async () => {
          const found = await renderedRows(frame);
          return found.length === before + 1 ? found : null;
        },
        { timeout: SLOW, interval: 500, message: `the table to show ${before + 1} rows after a new run` },
      );
      if (!rows.some((row) => row.auc === '0.86')) throw new Error(`the new run is not in the table: ${short(rows)}`);
      await ctx.shot('refreshed after a run');
    },
  },
  {
    name: 'experiments table: star a run from its row',
    async run(wb, ctx) {
      const frame = shared.frame;
      if (!frame) throw new Error('the experiments table is not open (the first case failed)');
      const [first] = await renderedRows(frame);
      if (!first) throw new Error('the table shows no rows');
      await frame.locator(`.body .row[data-run="${first.run}"] .star`).click();
      await waitUntil(
        () => frame.$eval(`.body .row[data-run="${first.run}"] .star`, (star) => star.classList.contains('on')),
        { timeout: SLOW, message: `the star of ${first.name} to light` },
      );
      const shown = JSON.parse(
        execFileSync(process.execPath, [CLI, 'exp', 'show', first.run, '--json', '--workspace', ctx.workspace], {
          encoding: 'utf8',
        }),
      );
      if (shown.tags['cairn.starred'] !== 'true') throw new Error(`the run has no star tag: ${short(shown.tags)}`);
      await ctx.shot('starred');
    },
  },
  {
    name: 'experiments table: Compare Runs from the palette',
    async run(wb, ctx) {
      const frame = shared.frame;
      if (!frame) throw new Error('the experiments table is not open (the first case failed)');
      const runs = JSON.parse(
        execFileSync(process.execPath, [CLI, 'exp', 'list', '--json', '--workspace', ctx.workspace], {
          encoding: 'utf8',
        }),
      ).runs;
      const names = runs.filter((run) => run.metrics.auc === 0.89 || run.metrics.auc === 0.63).map((run) => run.name);
      if (names.length !== 2) throw new Error(`expected two seeded runs with auc 0.89 and 0.63, got ${short(names)}`);
      await frame.locator('.compare button', { hasText: 'Close' }).click();
      await runCommandContaining(wb, 'Cairn: Compare Runs');
      for (const name of names) {
        const row = wb.page.locator('.quick-input-list .monaco-list-row', { hasText: name });
        await row.waitFor({ state: 'visible', timeout: SLOW });
        await row.click();
      }
      await ctx.shot('two runs picked');
      await wb.keyboard.press('Enter');
      const text = await waitUntil(
        async () => {
          const view = await frame.$eval('.compare', (node) => (node.classList.contains('open') ? node.innerText : ''));
          return names.every((name) => view.includes(name)) ? view : null;
        },
        { timeout: SLOW, message: `the comparison of ${names.join(' and ')}` },
      );
      if (!text.includes('toy.lr')) throw new Error(`the comparison shows no toy.lr difference: ${short(text)}`);
      await ctx.shot('compared from the palette');
    },
  },
];
