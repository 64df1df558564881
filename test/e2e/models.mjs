// End-to-end cases of experiments and the model registry as a user sees them: the Experiments view
// lists the workspace's tracked runs, a run is starred from its row, and a model is registered from
// a run's ONNX artifact, given an alias and approved from the command palette, all of which the
// Models view then shows. The runs are seeded with the CLI: a small pipeline whose stage copies a
// prepared ONNX model and its evaluation metrics (the Iris pipeline's own train stage needs
// Python's onnx package, which this machine may not have). The sweep case runs the weather
// example's experiment, which the runner copies into the workspace's weather/ folder.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import { delay, short, waitUntil } from './lib/util.mjs';

const SLOW = 60_000;
const MODEL = 'iris-classifier';
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli', 'cairn.js');

/** The pipeline whose runs the cases read: its stage puts a model and its metrics in place. */
const SEED_PIPELINE = [
  '# Seeds tracked runs for the end-to-end tests of the Experiments and Models views.',
  'stages:',
  '  export_tiny:',
  '    cmd: mkdir -p models metrics && cp seed/tiny.onnx models/tiny.onnx && cp seed/tiny.json metrics/tiny.json',
  '    deps:',
  '      - seed/tiny.onnx',
  '      - seed/tiny.json',
  '    outs:',
  '      - models/tiny.onnx',
  '    metrics:',
  '      - metrics/tiny.json:',
  '          cache: false',
  '',
].join('\n');

/** Metrics that pass the gate pipeline.yaml declares for iris-classifier (split test, recall per species). */
const PASSING_METRICS = {
  test: {
    accuracy: 0.956,
    slices: { species: { setosa: { recall: 1 }, versicolor: { recall: 0.93 }, virginica: { recall: 0.94 } } },
  },
};

/** The bytes of a 4-feature, 3-class softmax regression as an ONNX model. */
function tinyOnnx() {
  const { onnx } = onnxProto;
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const tensor = (name, shape) => ({
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: shape.map((size) => (typeof size === 'string' ? { dimParam: size } : { dimValue: size })) },
      },
    },
  });
  const model = onnx.ModelProto.fromObject({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'cairn-e2e',
    graph: {
      name: 'softmax_regression',
      node: [
        { name: 'linear', opType: 'Gemm', input: ['features', 'weights', 'bias'], output: ['logits'] },
        { name: 'softmax', opType: 'Softmax', input: ['logits'], output: ['probabilities'] },
      ],
      initializer: [
        {
          name: 'weights',
          dataType: FLOAT,
          dims: [4, 3],
          floatData: [0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, 0.9, -1, 1.1, 1.2],
        },
        { name: 'bias', dataType: FLOAT, dims: [3], floatData: [0, 0.1, -0.1] },
      ],
      input: [tensor('features', ['N', 4])],
      output: [tensor('probabilities', ['N', 3])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Runs the CLI on the workspace and returns its parsed --json output. */
function cairn(workspace, args) {
  const stdout = execFileSync(process.execPath, [CLI, ...args, '--json', '--workspace', workspace], {
    cwd: workspace,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(stdout);
}

/** Tree rows anywhere in the workbench whose aria label starts with `prefix`, top to bottom. */
async function treeRows(page, prefix) {
  return page.$$eval(
    '.monaco-list-row[aria-label]',
    (rows, start) =>
      rows
        .map((row) => ({
          label: (row.getAttribute('aria-label') ?? '').replace(/\u00a0/g, ' '),
          top: row.getBoundingClientRect().top,
        }))
        .filter((row) => row.label.startsWith(start))
        .sort((a, b) => a.top - b.top)
        .map((row) => row.label),
    prefix,
  );
}

/** The tree row whose aria label is exactly `label`. */
function treeRow(page, label) {
  return page.locator(`.monaco-list-row[aria-label="${label.replace(/"/g, '\\"')}"]`).first();
}

/**
 * Expands the tree row labelled `label` with its twistie, again if a refresh of the view swallowed
 * the click (the row is drawn anew when the store changes).
 */
async function expand(wb, label) {
  await waitUntil(
    async () => {
      const row = treeRow(wb.page, label);
      if ((await row.getAttribute('aria-expanded', { timeout: 1000 })) === 'true') return true;
      await row.locator('.monaco-tl-twistie').click({ timeout: 1000 });
      await delay(700);
      return (await row.getAttribute('aria-expanded', { timeout: 1000 })) === 'true';
    },
    { timeout: SLOW, interval: 300, message: `the row "${label}" expanded` },
  );
}

/** Collapses every row of the Experiments view (its title bar's Collapse All), so the rows a case looks for are in sight. */
async function collapseExperiments(wb) {
  const header = wb.page.locator('.pane-header', { hasText: 'Experiments' }).first();
  await header.hover();
  await header.locator('.action-label[aria-label^="Collapse All"]').click({ timeout: 10_000 });
  await delay(300);
}

/** Runs a command from the palette whose label contains `title` (categories render differently). */
async function runCommandContaining(wb, title) {
  await wb.dismissQuickInput();
  await wb.keyboard.press('F1');
  await wb.page.waitForSelector('.quick-input-widget .quick-input-box input', { state: 'visible', timeout: 10_000 });
  await wb.keyboard.type(title, { delay: 10 });
  await wb.acceptQuickInputRow((row) => row.label.includes(title) || row.aria.includes(title), `command "${title}"`);
}

/** Waits for the quick pick to offer a row matching `match`, then accepts it. */
async function pick(wb, match, what) {
  await wb.page.waitForSelector('.quick-input-widget .quick-input-list .monaco-list-row', {
    state: 'visible',
    timeout: SLOW,
  });
  await wb.acceptQuickInputRow(match, what);
}

/** Types into the input box whose prompt contains `prompt` and accepts it. */
async function answer(wb, prompt, text) {
  await waitUntil(
    async () => {
      if (!(await wb.quickInputVisible()) || (await wb.quickInputRows()).length > 0) return false;
      const message = await wb.page.locator('.quick-input-widget .quick-input-message').textContent({ timeout: 1000 });
      return message?.includes(prompt) ?? false;
    },
    { timeout: 20_000, message: `the input box asking "${prompt}"` },
  );
  await wb.keyboard.type(text, { delay: 10 });
  await wb.keyboard.press('Enter');
}

/** The text of the notification toasts on screen (as rendered: no style sheets). */
async function toasts(page) {
  const texts = await page.$$eval('.notifications-toasts .notification-toast', (nodes) =>
    nodes.map((node) => node.innerText),
  );
  return texts.map((text) => text.replace(/\s+/g, ' ').trim());
}

async function waitForToast(wb, ctx, pattern, what) {
  return waitUntil(async () => (await toasts(wb.page)).find((text) => pattern.test(text)) ?? null, {
    timeout: SLOW,
    interval: 300,
    message: what,
  }).catch(async (error) => {
    await ctx.shot(`no toast ${what}`);
    throw new Error(`${error.message}; toasts: ${short(await toasts(wb.page), 800)}`);
  });
}

/** Closes every notification toast, so the next wait reads only new ones. */
async function clearToasts(wb) {
  await runCommandContaining(wb, 'Notifications: Clear All Notifications').catch(() => {});
  await delay(300);
}

export const MODEL_TESTS = [
  {
    name: 'models: experiments view lists runs, star a run',
    async run(wb, ctx) {
      const workspace = ctx.workspace;
      fs.mkdirSync(path.join(workspace, 'seed'), { recursive: true });
      fs.writeFileSync(path.join(workspace, 'seed', 'tiny.onnx'), tinyOnnx());
      fs.writeFileSync(path.join(workspace, 'seed', 'tiny.json'), `${JSON.stringify(PASSING_METRICS, null, 2)}\n`);
      fs.writeFileSync(path.join(workspace, 'seed.pipeline.yaml'), SEED_PIPELINE);
      // Metrics of a model the gate refuses (accuracy below 0.9), for the registration case.
      fs.mkdirSync(path.join(workspace, 'metrics'), { recursive: true });
      fs.writeFileSync(path.join(workspace, 'metrics', 'failing.json'), '{"test": {"accuracy": 0.5}}\n');
      for (const force of [[], ['--force']]) {
        try {
          execFileSync(process.execPath, [CLI, 'run', 'seed.pipeline.yaml', ...force, '--workspace', workspace], {
            cwd: workspace,
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'pipe'],
          });
        } catch (error) {
          throw new Error(`seeding a run failed: ${short(`${error.stdout ?? ''} ${error.stderr ?? ''}`, 600)}`, {
            cause: error,
          });
        }
      }
      // The workspace's experiment: the one the newest run (ours) went into.
      const newest = cairn(workspace, ['exp', 'list', '--sort', 'start_time DESC', '--limit', '1']).runs[0];
      const summary = cairn(workspace, ['exp', 'experiments']).experiments.find(
        (entry) => entry.name === newest?.experiment,
      );
      if (!summary) throw new Error(`the CLI lists no experiment for the run ${short(newest)}`);
      const experiment = summary.name;
      const { runs } = cairn(workspace, ['exp', 'list', '--experiment', experiment, '--sort', 'start_time DESC']);
      const seeded = runs.filter((run) => run.metrics['test.accuracy'] !== undefined);
      if (seeded.length < 2)
        throw new Error(
          `expected two runs with metrics, got ${short(
            runs.map((run) => [run.name, run.metrics]),
            600,
          )}`,
        );
      ctx.note(
        `seeded ${runs.length} runs in experiment ${experiment}; metrics ${short(Object.keys(seeded[0].metrics))}`,
      );

      await runCommandContaining(wb, 'Focus on Experiments View');
      const experimentLabel = `Experiment ${experiment}: ${summary.runs} runs`;
      await waitUntil(async () => (await treeRows(wb.page, experimentLabel)).length > 0, {
        timeout: SLOW,
        interval: 500,
        message: `the Experiments view to show "${experimentLabel}"`,
      }).catch(async (error) => {
        await ctx.shot('no experiment');
        throw new Error(`${error.message}; tree rows: ${short(await treeRows(wb.page, ''), 800)}`);
      });
      await ctx.shot('experiment listed');
      await expand(wb, experimentLabel);
      // Newest first: the older seeded run is the second row; starring it moves it to the top.
      const older = seeded[1];
      const runRows = await waitUntil(
        async () => {
          const found = await treeRows(wb.page, `${seeded[0].name}: `);
          const second = await treeRows(wb.page, `${older.name}: `);
          return found.length && second.length ? [...found, ...second] : null;
        },
        { timeout: SLOW, interval: 500, message: `the runs ${seeded[0].name} and ${older.name} under ${experiment}` },
      ).catch(async (error) => {
        await ctx.shot('no runs');
        throw new Error(`${error.message}; tree rows: ${short(await treeRows(wb.page, ''), 800)}`);
      });
      ctx.note(`run rows: ${short(runRows, 600)}`);
      if (!/succeeded/.test(runRows[0])) throw new Error(`the run row does not show its status: ${runRows[0]}`);
      await ctx.shot('runs listed');

      // A click on the star of a row the view replaces at that moment (it re-reads the store) reaches
      // the command without its row, which then asks "Star which run?": dismiss and click the fresh
      // row's star again, as a user would.
      for (let attempt = 1; ; attempt++) {
        const olderRow = wb.page.locator(`.monaco-list-row[aria-label^="${older.name}: "]`).first();
        await olderRow.hover();
        await olderRow.locator('.action-label[aria-label="Star Run"]').click({ timeout: 10_000 });
        await delay(1000);
        const asked = await wb.page
          .locator('.quick-input-widget .quick-input-box input[placeholder="Star which run?"]')
          .isVisible()
          .catch(() => false);
        if (!asked) break;
        ctx.note(`attempt ${attempt}: the click reached a replaced row; clicking the star again`);
        await wb.keyboard.press('Escape');
        if (attempt === 3) throw new Error('three clicks on the star of a run all reached a replaced row');
      }
      const starred = await waitUntil(
        async () => {
          const rows = await treeRows(wb.page, '');
          const runLabels = rows.filter(
            (label) => label.startsWith(`${older.name}: `) || label.startsWith(`${seeded[0].name}: `),
          );
          return runLabels[0]?.startsWith(`${older.name}: `) && runLabels[0].includes('starred') ? runLabels : null;
        },
        { timeout: SLOW, interval: 500, message: `${older.name} starred and listed first` },
      ).catch(async (error) => {
        await ctx.shot('not starred');
        throw new Error(`${error.message}; tree rows: ${short(await treeRows(wb.page, ''), 800)}`);
      });
      const tags = cairn(workspace, ['exp', 'show', older.id]).tags;
      if (tags['cairn.starred'] !== 'true') throw new Error(`the store has no star on ${older.id}: ${short(tags)}`);
      ctx.note(`after starring: ${short(starred, 600)}`);
      await ctx.shot('run starred and first');

      // A click on the run opens its details as a read-only document. A click on a row the view has
      // just replaced (it reads the store again after the star) ends in "Actual command not found":
      // then the fresh row is clicked again, as a user would.
      const activeTab = () =>
        wb.page.locator('.editor-group-container.active .tab.active').first().textContent({ timeout: 1000 });
      for (let attempt = 1; ; attempt++) {
        await wb.page.locator(`.monaco-list-row[aria-label^="${older.name}: "]`).first().click();
        const opened = await waitUntil(async () => ((await activeTab())?.includes(older.name) ? true : null), {
          timeout: attempt === 3 ? SLOW : 5000,
          message: `a document for run ${older.name}`,
        }).catch((error) => {
          if (attempt === 3) throw error;
          return false;
        });
        if (opened) break;
        ctx.note(`the click on the run row did not open it (attempt ${attempt}); clicking again`);
      }
      const text = (await wb.editorLines()).join('\n');
      if (!text.includes(`# Run ${older.name}`) || !text.includes(older.id))
        throw new Error(`the run document does not show the run: ${short(text, 600)}`);
      await ctx.shot('run opened');
    },
  },
  {
    name: 'models: register, alias and approve from the palette',
    async run(wb, ctx) {
      const workspace = ctx.workspace;
      const starred = cairn(workspace, ['exp', 'list', '--limit', '1000']).runs.find(
        (run) => run.tags['cairn.starred'] === 'true' && run.metrics['test.accuracy'] !== undefined,
      );
      if (!starred) throw new Error('no starred seeded run: the previous case stars one');
      const register = async (metrics) => {
        await clearToasts(wb);
        await wb.runCommand('Cairn: Register Model');
        await pick(wb, (row) => row.label.includes(starred.name), `the starred run ${starred.name}`);
        await pick(wb, (row) => row.label === 'models/tiny.onnx', 'the ONNX artifact models/tiny.onnx');
        await pick(wb, (row) => row.label === MODEL, `the declared model ${MODEL}`);
        await ctx.shot(`model name picked, metrics ${metrics}`);
        await pick(wb, (row) => row.label === metrics, `the metrics ${metrics}`);
      };
      await register('metrics/failing.json');
      const refused = await waitForToast(wb, ctx, /did not register .*the gate failed/, 'the refusal');
      if (!/accuracy >= 0\.9: accuracy is 0\.5/.test(refused))
        throw new Error(`the refusal does not give the gate's reason: ${short(refused, 600)}`);
      ctx.note(`refused: ${short(refused, 400)}`);
      await ctx.shot('gate refused');
      if (cairn(workspace, ['models', 'list']).models.length !== 0)
        throw new Error('a refused model was registered anyway');

      await register('metrics/tiny.json');
      const registered = await waitForToast(
        wb,
        ctx,
        new RegExp(`Registered ${MODEL} v1, gate passed`),
        'the registration',
      );
      ctx.note(`toast: ${registered}`);
      await ctx.shot('registered');
      await clearToasts(wb);

      await wb.runCommand('Cairn: Set Alias');
      await pick(wb, (row) => row.label === 'v1', 'version v1');
      await pick(wb, (row) => row.label === 'champion', 'the alias champion');
      await answer(wb, 'Why move champion?', 'first model that passes the gate');
      await waitForToast(wb, ctx, new RegExp(`${MODEL}@champion now points at v1`), 'the alias');
      await ctx.shot('alias set');
      await clearToasts(wb);

      await wb.runCommand('Cairn: Approve Model Version');
      await pick(wb, (row) => row.label === 'v1', 'version v1');
      await answer(wb, `Why approve ${MODEL} v1?`, 'reviewed the slices');
      await waitForToast(wb, ctx, new RegExp(`${MODEL} v1 approved`), 'the approval');
      await ctx.shot('approved');
      await clearToasts(wb);

      const shown = cairn(workspace, ['models', 'show', `${MODEL}@champion`]);
      if (!shown.version.approved || shown.version.version !== 1)
        throw new Error(`the registry does not hold an approved champion v1: ${short(shown.version, 600)}`);
      if (!shown.audit.some((entry) => entry.action === 'approve' && entry.reason === 'reviewed the slices'))
        throw new Error(`the audit log has no approval with its reason: ${short(shown.audit, 600)}`);

      await runCommandContaining(wb, 'Focus on Models View');
      const expected = `${MODEL} v1: champion, gate passed, approved`;
      await waitUntil(async () => (await treeRows(wb.page, expected)).length > 0, {
        timeout: SLOW,
        interval: 500,
        message: `the Models view to show "${expected}"`,
      }).catch(async (error) => {
        await ctx.shot('models view');
        throw new Error(`${error.message}; tree rows: ${short(await treeRows(wb.page, ''), 800)}`);
      });
      const modelRow = await treeRows(wb.page, `${MODEL}`);
      ctx.note(`Models view: ${short(modelRow, 600)}`);
      await ctx.shot('models view shows the approved champion');
    },
  },
  {
    name: 'models: run a sweep from the palette',
    async run(wb, ctx) {
      // The weather example (Node.js stages) sweeps 12 TPE trials, two at a time, in seconds, and
      // registers its best model as rain-tomorrow@challenger when the gate passes.
      const file = 'weather/rain.experiment.yaml';
      await clearToasts(wb);
      await wb.runCommand('Cairn: Run Experiment');
      await pick(wb, (row) => row.label === file, file);
      const progress = await waitUntil(
        async () => (await toasts(wb.page)).find((text) => /trial \d+\/12 · best \d/.test(text)) ?? null,
        { timeout: SLOW, interval: 100, message: 'a progress notification with "trial i/12 · best …"' },
      ).catch(async (error) => {
        await ctx.shot('no sweep progress');
        throw new Error(`${error.message}; toasts: ${short(await toasts(wb.page), 800)}`);
      });
      ctx.note(`progress: ${short(progress)}`);
      await ctx.shot('sweep progress');
      const ended = await waitForToast(
        wb,
        ctx,
        new RegExp(`sweep ${file} ended, best trial \\d+: 0\\.\\d+ .*Registered rain-tomorrow v\\d+ as @challenger`),
        'the end of the sweep',
      );
      ctx.note(`end: ${short(ended, 400)}`);
      const version = /Registered rain-tomorrow v(\d+)/.exec(ended)[1];
      await ctx.shot('sweep ended');
      const { runs } = cairn(ctx.workspace, ['exp', 'list', '--experiment', 'rain-sweep', '--sort', 'start_time DESC']);
      const sweepRun = runs.find((run) => run.parent === null);
      const trials = runs.filter((run) => run.parent === sweepRun?.id);
      if (!sweepRun || trials.length !== 12)
        throw new Error(`the store does not hold the sweep and its 12 trials: ${short(runs.map((run) => run.name))}`);

      await wb.page
        .locator('.notifications-toasts .notification-toast')
        .filter({ hasText: 'ended, best trial' })
        .getByRole('button', { name: 'Open table' })
        .click();
      // The experiments table opens on the sweep's trials, sorted by the objective, best first.
      let seen = [];
      await waitUntil(
        async () => {
          for (const frame of wb.page.frames()) {
            const rows = await frame
              .$$eval('.grid .body .row', (elements) =>
                elements
                  .map((row) => ({
                    index: Number(row.dataset.rowIndex),
                    name: row.querySelector('[data-column="name"]')?.textContent ?? '',
                    auc: Number(row.querySelector('[data-column="metrics.auc"]')?.textContent ?? 'NaN'),
                  }))
                  .sort((a, b) => a.index - b.index),
              )
              .catch(() => []);
            if (rows.length === 0) continue;
            seen = rows;
            const trials = rows.every((row) => /^trial-\d+$/.test(row.name));
            const sorted = rows.every((row, index) => index === 0 || !(row.auc > rows[index - 1].auc));
            if (rows.length === 12 && trials && sorted) return rows;
          }
          return null;
        },
        { timeout: SLOW, interval: 500, message: "the experiments table with the sweep's 12 trials, best first" },
      ).catch(async (error) => {
        await ctx.shot('no sweep table');
        throw new Error(`${error.message}; rows: ${short(JSON.stringify(seen), 600)}`);
      });
      await ctx.shot('sweep table');

      // The sweep in the Experiments view: its run, expandable to its trials, with the objective.
      await runCommandContaining(wb, 'Focus on Experiments View');
      const runCount = cairn(ctx.workspace, ['exp', 'experiments']).experiments.find(
        (entry) => entry.name === 'rain-sweep',
      )?.runs;
      const experimentLabel = `Experiment rain-sweep: ${runCount} runs`;
      await waitUntil(async () => (await treeRows(wb.page, experimentLabel)).length > 0, {
        timeout: SLOW,
        interval: 500,
        message: `the Experiments view to show "${experimentLabel}"`,
      });
      await expand(wb, experimentLabel);
      const sweepLabel = await waitUntil(async () => (await treeRows(wb.page, `${sweepRun.name}: `))[0], {
        timeout: SLOW,
        interval: 500,
        message: `the sweep's run ${sweepRun.name}`,
      });
      if (!/: succeeded, auc 0\.\d+/.test(sweepLabel))
        throw new Error(`the sweep's run does not show its objective: ${sweepLabel}`);
      // A click on the row opens the run; its twistie expands it.
      await expand(wb, sweepLabel);
      // The tree draws only the rows in sight: the trials it holds are counted by the rows' set size.
      const trialRows = await waitUntil(
        async () => {
          const rows = await treeRows(wb.page, 'trial-');
          const size = await wb.page
            .locator('.monaco-list-row[aria-label^="trial-"]')
            .first()
            .getAttribute('aria-setsize', { timeout: 1000 });
          return rows.length > 0 && size === '12' ? rows : null;
        },
        { timeout: SLOW, interval: 500, message: "the sweep's 12 trials under its run" },
      ).catch(async (error) => {
        await ctx.shot('no trials');
        throw new Error(`${error.message}; tree rows: ${short(await treeRows(wb.page, ''), 800)}`);
      });
      // Each complete trial in sight shows its objective, as the CLI recorded it (five significant digits).
      for (const label of trialRows) {
        const trial = trials.find((run) => label.startsWith(`${run.name}: `));
        if (!trial) throw new Error(`the row ${label} is no trial of the sweep`);
        if (trial.tags['cairn.trial_state'] !== 'complete') continue;
        const shown = `auc ${Number(trial.metrics.auc.toPrecision(5))}`;
        if (!label.includes(shown)) throw new Error(`${trial.name} does not show "${shown}": ${label}`);
      }
      ctx.note(`trials: ${short(trialRows.slice(0, 3), 400)}`);
      await ctx.shot('sweep trials in the Experiments view');

      await runCommandContaining(wb, 'Focus on Models View');
      const expected = `rain-tomorrow v${version}: challenger, gate passed, not approved`;
      await waitUntil(async () => (await treeRows(wb.page, expected)).length > 0, {
        timeout: SLOW,
        interval: 500,
        message: `the Models view to show "${expected}"`,
      }).catch(async (error) => {
        await ctx.shot('models view');
        throw new Error(`${error.message}; tree rows: ${short(await treeRows(wb.page, ''), 800)}`);
      });
      await ctx.shot('registered sweep model in the Models view');

      // Registering the best trial by hand finds its model in the content cache (the trial ran in a
      // working copy: the workspace's model file is another one) and judges the gate on the trial's
      // recorded metrics; the registry already holds that content, so no new version is made.
      const best = /best trial (\d+)/.exec(ended)[1];
      await clearToasts(wb);
      // From the trial's row in the Experiments view: its context menu's Register Model.
      await runCommandContaining(wb, 'Focus on Experiments View');
      await collapseExperiments(wb);
      await expand(wb, experimentLabel);
      await expand(wb, sweepLabel);
      const bestRow = wb.page.locator(`.monaco-list-row[aria-label^="trial-${best}: "]`).first();
      await bestRow.click({ button: 'right', timeout: SLOW });
      // The menu takes its choice on Enter (a synthetic click on its item can go unheard).
      await wb.page
        .locator('.context-view .monaco-menu .action-label', { hasText: 'Register Model' })
        .hover({ timeout: 10_000 });
      await wb.keyboard.press('Enter');
      await pick(
        wb,
        (row) => row.label === 'weather/models/model.onnx' && row.aria.includes('from the cache'),
        'the trial model, from the cache',
      );
      await pick(wb, (row) => row.label === 'rain-tomorrow', 'the declared model rain-tomorrow');
      await pick(wb, (row) => row.label.includes("The run's recorded metrics"), "the run's recorded metrics");
      const existing = await waitForToast(
        wb,
        ctx,
        new RegExp(`rain-tomorrow v${version} already holds this model`),
        'registration of the best trial',
      );
      ctx.note(`best trial registered again: ${short(existing, 300)}`);
      await ctx.shot('best trial found in the cache');
    },
  },
  {
    name: 'models: cancel a sweep; the view follows the store',
    async run(wb, ctx) {
      const file = 'weather/rain.experiment.yaml';
      const sweepsBefore = cairn(ctx.workspace, [
        'exp',
        'list',
        '--experiment',
        'rain-sweep',
        '--limit',
        '1000',
      ]).runs.filter((run) => run.parent === null).length;
      await clearToasts(wb);
      await wb.runCommand('Cairn: Run Experiment');
      await pick(wb, (row) => row.label === file, file);
      const progress = wb.page
        .locator('.notifications-toasts .notification-toast')
        .filter({ hasText: `sweep ${file}:` });
      await progress.getByRole('button', { name: 'Cancel' }).click({ timeout: SLOW });
      await ctx.shot('cancel clicked');
      const cancelled = await waitForToast(wb, ctx, new RegExp(`sweep ${file} was cancelled`), 'the cancellation');
      ctx.note(`cancelled: ${short(cancelled, 300)}`);
      await ctx.shot('sweep cancelled');
      // The CLI stopped its trials and recorded the sweep as cancelled (SIGINT, exit 130).
      const sweeps = cairn(ctx.workspace, ['exp', 'list', '--experiment', 'rain-sweep', '--limit', '1000']).runs.filter(
        (run) => run.parent === null,
      );
      if (sweeps.length !== sweepsBefore + 1)
        throw new Error(`expected a new sweep run, got ${short(sweeps.map((run) => run.name))}`);
      const newest = sweeps.sort((a, b) => b.start_time - a.start_time)[0];
      if (newest.status !== 'cancelled') throw new Error(`the cancelled sweep is recorded as ${newest.status}`);

      // A run made outside the editor shows up by itself: the view follows writes to the store.
      await runCommandContaining(wb, 'Focus on Experiments View');
      await collapseExperiments(wb);
      const experiment = cairn(ctx.workspace, [
        'exp',
        'list',
        '--sort',
        'start_time DESC',
        '--limit',
        '1000',
      ]).runs.find((run) => run.metrics['test.accuracy'] !== undefined).experiment;
      const count = () =>
        cairn(ctx.workspace, ['exp', 'experiments']).experiments.find((entry) => entry.name === experiment).runs;
      const before = count();
      await waitUntil(async () => (await treeRows(wb.page, `Experiment ${experiment}: ${before} runs`)).length > 0, {
        timeout: SLOW,
        interval: 500,
        message: `the Experiments view to show ${before} runs in ${experiment}`,
      });
      execFileSync(process.execPath, [CLI, 'run', 'seed.pipeline.yaml', '--force', '--workspace', ctx.workspace], {
        cwd: ctx.workspace,
        stdio: 'ignore',
      });
      const started = Date.now();
      await waitUntil(
        async () => (await treeRows(wb.page, `Experiment ${experiment}: ${before + 1} runs`)).length > 0,
        {
          timeout: 15_000,
          interval: 200,
          message: `the Experiments view to show the new run (${before + 1} runs in ${experiment}) by itself`,
        },
      ).catch(async (error) => {
        await ctx.shot('no refresh');
        throw new Error(`${error.message}; tree rows: ${short(await treeRows(wb.page, 'Experiment'), 600)}`);
      });
      ctx.note(`the view showed a run made by the CLI ${((Date.now() - started) / 1000).toFixed(1)} s after it ended`);
      await ctx.shot('view refreshed by itself');
    },
  },
];
