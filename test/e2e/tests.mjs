// The end-to-end cases, run in order against one code-server workbench with the packaged Cairn
// extension installed and a copy of examples/iris opened. Each case gets `wb` (a Workbench) and
// `ctx` ({ workspace, shot(name) }) and throws to fail.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEPLOY_TESTS } from './deploy.mjs';
import { EXPERIMENT_TABLE_TESTS } from './experiments.mjs';
import { short, waitUntil } from './lib/util.mjs';
import { MODEL_TESTS } from './models.mjs';
import { PIPELINE_TESTS } from './pipelines.mjs';

/** Files the runner writes into the workspace copy before code-server starts. */
export const EXTRA_FILES = {
  // An undefined param (`train.lrr`, the server suggests `train.lr`) and a dep that neither exists
  // nor is produced by any stage. Stage names and outs do not clash with pipeline.yaml's.
  'broken.pipeline.yaml': [
    'stages:',
    '  broken_train:',
    '    cmd: python src/train.py --lr ${train.lrr}',
    '    deps:',
    '      - data/missing.csv',
    '    outs:',
    '      - models/broken.pkl',
    '',
  ].join('\n'),
};

// How long the language server may take to answer after a file opens (cold start included).
const SERVER_TIMEOUT = 60_000;

export const TESTS = [
  {
    name: 'diagnostic in Problems',
    async run(wb, ctx) {
      await wb.openFile('broken.pipeline.yaml');
      await ctx.shot('opened broken.pipeline.yaml');
      await wb.runCommand('View: Focus Problems (Errors, Warnings, Infos)');
      await wb.page.waitForSelector('.markers-panel', { state: 'visible', timeout: 10_000 });
      await ctx.shot('problems panel open');
      const text = await waitUntil(
        async () => {
          const t = await wb.problemsText();
          return t.includes('train.lrr') && t.includes('data/missing.csv') ? t : null;
        },
        { timeout: SERVER_TIMEOUT, message: 'problems mentioning "train.lrr" and "data/missing.csv"' },
      ).catch(async (error) => {
        throw new Error(`${error.message}; Problems panel: ${short(await wb.problemsText())}`);
      });
      await ctx.shot('problems listed');
      const lrr = text.split('\n').find((line) => line.includes('train.lrr'));
      if (!/not defined/i.test(lrr)) throw new Error(`the train.lrr problem does not say "not defined": ${short(lrr)}`);
      if (!lrr.replaceAll('train.lrr', '').includes('train.lr')) {
        throw new Error(`the train.lrr problem does not suggest train.lr: ${short(lrr)}`);
      }
    },
  },
  {
    name: 'completion of a stage name',
    async run(wb, ctx) {
      const file = 'iris.experiment.yaml';
      await wb.openFile(file);
      // The runner made sure the file ends with a newline: Ctrl+End lands on an empty last line.
      await wb.keyboard.press('Control+End');
      await wb.keyboard.type('holdout:', { delay: 20 });
      await wb.keyboard.press('Escape'); // an auto-opened suggestion must not eat the Enter
      await wb.keyboard.press('Enter');
      await wb.keyboard.type('  stage: ', { delay: 20 });
      await wb.keyboard.press('Control+Space');
      await ctx.shot('typed stage key');
      const labels = await waitUntil(
        async () => {
          const rows = (await wb.suggestLabels()).map((row) => row.label);
          return rows.includes('evaluate') && rows.includes('train') ? rows : null;
        },
        { timeout: SERVER_TIMEOUT, interval: 500, message: 'the suggest widget to list "evaluate" and "train"' },
      ).catch(async (error) => {
        await ctx.shot('no suggestions');
        throw new Error(`${error.message}; suggestions: ${short((await wb.suggestLabels()).map((r) => r.label))}`);
      });
      await ctx.shot(`suggestions ${labels.join(' ')}`);
      await wb.keyboard.type('eva', { delay: 50 });
      await waitUntil(async () => (await wb.suggestLabels()).find((row) => row.focused && row.label === 'evaluate'), {
        timeout: 10_000,
        message: '"evaluate" focused in the suggest widget',
      });
      await wb.keyboard.press('Enter');
      const line = await waitUntil(
        async () => {
          const current = await wb.cursorLine();
          return current?.trim() === 'stage: evaluate' ? current : null;
        },
        { timeout: 10_000, message: 'the line to read "stage: evaluate"' },
      ).catch(async (error) => {
        throw new Error(`${error.message}; cursor line: ${JSON.stringify(await wb.cursorLine())}`);
      });
      await ctx.shot('accepted evaluate');
      // Save and check the file on disk too.
      await wb.keyboard.press('Control+S');
      const onDisk = path.join(ctx.workspace, file);
      await waitUntil(() => /^holdout:\n {2}stage: evaluate\s*$/m.test(fs.readFileSync(onDisk, 'utf8')), {
        timeout: 10_000,
        message: `${file} on disk to contain "holdout:\\n  stage: evaluate" (editor line: ${JSON.stringify(line)})`,
      }).catch((error) => {
        throw new Error(
          `${error.message}; file ends with: ${JSON.stringify(fs.readFileSync(onDisk, 'utf8').slice(-80))}`,
        );
      });
      await ctx.shot('saved');
    },
  },
  {
    name: 'hover a param',
    async run(wb, ctx) {
      await wb.openFile('pipeline.yaml');
      const needle = 'train.lr}';
      let rect = await wb.textRect(needle);
      if (!rect) {
        await wb.revealText('${train.lr}');
        rect = await waitUntil(() => wb.textRect(needle), {
          timeout: 5000,
          message: `"${needle}" rendered in the editor`,
        });
      }
      // Centre of "train.lr" (without the closing brace).
      let target = { ...rect, width: rect.width * (8 / 9) };
      const expectHover = (timeout) =>
        waitUntil(
          async () => {
            const text = await wb.hoverText();
            return text.includes('0.5') && text.includes('params.yaml') ? text : null;
          },
          { timeout, interval: 250, message: 'a hover showing "0.5" and "params.yaml"' },
        );
      // The language server may still be starting: re-hover a few times (like a user would).
      let text = null;
      const deadline = Date.now() + SERVER_TIMEOUT;
      while (!text && Date.now() < deadline) {
        await wb.page.mouse.move(5, 5);
        // Code lenses arrive after the text and push the lines down: measure again on every try.
        const again = await wb.textRect(needle);
        if (again) target = { ...again, width: again.width * (8 / 9) };
        await wb.hoverRect(target);
        text = await expectHover(6000).catch(() => null);
      }
      if (!text) {
        // Keyboard fallback: put the cursor there and run "Show or Focus Hover" (Ctrl+K Ctrl+I).
        await wb.page.mouse.click(target.x + target.width / 2, target.y + target.height / 2);
        await wb.keyboard.press('Control+K');
        await wb.keyboard.press('Control+I');
        await expectHover(10_000).catch(async (error) => {
          await ctx.shot('no hover');
          throw new Error(`${error.message}; visible hover text: ${short(await wb.hoverText())}`);
        });
        ctx.note('hover appeared only with the keyboard (Ctrl+K Ctrl+I), not with the mouse');
      }
      await ctx.shot('hover shown');
    },
  },
  {
    name: 'server status',
    async run(wb, ctx) {
      await waitUntil(async () => (await wb.statusBarItems()).some((item) => item.includes('Cairn')), {
        timeout: SERVER_TIMEOUT,
        message: 'a status bar item "Cairn"',
      }).catch(async (error) => {
        throw new Error(`${error.message}; status bar: ${short(await wb.statusBarItems())}`);
      });
      await ctx.shot('status bar');
    },
  },
  // Runs, the Pipelines view and lineage (they need `cairn run`, `status` and `lineage`).
  ...PIPELINE_TESTS,
  // The experiments table webview (it needs `cairn run` and `exp table|compare|history`).
  ...EXPERIMENT_TABLE_TESTS,
  // Experiments and the model registry (they need `cairn run`, `exp` and `models`); last, since
  // their sweep adds runs that other cases would count.
  ...MODEL_TESTS,
  // Deployments (they need `cairn deploy` and `cairn monitor`): after the registry cases, whose
  // model they serve when those ran.
  ...DEPLOY_TESTS,
];
