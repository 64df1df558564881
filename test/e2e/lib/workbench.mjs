// Driving the VS Code web workbench (code-server) the way a user does: keyboard shortcuts, Quick
// Open, the command palette, the mouse. Every wait polls the DOM with a timeout.
import * as path from 'node:path';
import { delay, short, slug, waitUntil } from './util.mjs';

/** Selectors that worked with VS Code 1.100.3 (code-server 4.100.3). */
export const SEL = {
  workbench: '.monaco-workbench',
  statusbar: '#workbench\\.parts\\.statusbar',
  statusItem: '#workbench\\.parts\\.statusbar .statusbar-item',
  explorerRow: '.explorer-folders-view .monaco-list-row',
  quickInput: '.quick-input-widget',
  quickInputBox: '.quick-input-widget .quick-input-box input',
  quickInputRow: '.quick-input-widget .quick-input-list .monaco-list-row',
  activeTab: '.editor-group-container.active .tab.active',
  activeEditor: '.editor-group-container.active .monaco-editor',
  suggest: '.monaco-editor .suggest-widget.visible',
  suggestRow: '.monaco-editor .suggest-widget.visible .monaco-list-row',
  hover: '.monaco-hover',
  problems: '.markers-panel',
  notification: '.notifications-toasts .notification-toast',
};

export class Workbench {
  /**
   * @param {import('playwright-core').Page} page
   * @param {{ artifactsDir: string }} options
   */
  constructor(page, { artifactsDir }) {
    this.page = page;
    this.keyboard = page.keyboard;
    this.artifactsDir = artifactsDir;
    this.shots = 0;
    this.prefix = 'setup';
  }

  /** Saves a screenshot `NN-<prefix>-<name>.png` into the artifacts folder; never throws. */
  async screenshot(name) {
    this.shots += 1;
    const file = path.join(
      this.artifactsDir,
      `${String(this.shots).padStart(2, '0')}-${slug(this.prefix)}-${slug(name)}.png`,
    );
    try {
      await this.page.screenshot({ path: file, timeout: 10_000 });
    } catch {
      /* a screenshot must never turn a pass into a failure */
    }
    return file;
  }

  /** Waits for the workbench, its status bar and the workspace files in the Explorer. */
  async waitForReady({ expectFile, timeout = 90_000 } = {}) {
    const { page } = this;
    await page.waitForSelector(SEL.workbench, { timeout });
    await page.waitForSelector(SEL.statusbar, { state: 'visible', timeout });
    if (expectFile) {
      await waitUntil(
        async () => (await page.locator(SEL.explorerRow).allTextContents()).some((text) => text.includes(expectFile)),
        { timeout, message: `the Explorer to list ${expectFile}` },
      );
    }
    // The editor area must be able to take focus (no modal dialog in the way).
    await waitUntil(async () => (await page.locator('.monaco-dialog-box').count()) === 0, {
      timeout: 10_000,
      message: 'no modal dialog',
    });
  }

  /** Visible rows of the quick input: [{ index, label, focused, aria }]. */
  async quickInputRows() {
    return this.page.$$eval(SEL.quickInputRow, (rows) =>
      rows
        .filter((row) => row.getClientRects().length > 0)
        .map((row) => ({
          index: Number(row.getAttribute('data-index')),
          label: (row.querySelector('.label-name')?.textContent ?? '').replace(/\u00a0/g, ' ').trim(),
          focused: row.classList.contains('focused'),
          aria: row.getAttribute('aria-label') ?? '',
        }))
        .sort((a, b) => a.index - b.index),
    );
  }

  async quickInputVisible() {
    return this.page.locator(SEL.quickInput).isVisible();
  }

  /**
   * With the quick input open and filtered, moves the focus to the row whose label satisfies
   * `match` (arrow keys) and presses Enter.
   */
  async acceptQuickInputRow(match, what) {
    const rows = await waitUntil(
      async () => {
        const list = await this.quickInputRows();
        return list.some((row) => match(row)) ? list : null;
      },
      { timeout: 20_000, message: `a quick input row for ${what}` },
    ).catch(async (error) => {
      const seen = (await this.quickInputRows().catch(() => [])).map((row) => row.label);
      throw new Error(`${error.message}; rows: ${short(seen)}`);
    });
    // Results can still change (Quick Open adds file search results to the recently opened ones and
    // resets the focus), so move one step at a time, re-reading the list, until the row is focused.
    let current = rows;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const target = current.find((row) => match(row));
      const focused = current.find((row) => row.focused) ?? current[0];
      if (target && focused && target.index === focused.index) {
        await delay(150); // and still focused a moment later (no late result reset the list)
        const again = await this.quickInputRows();
        if (again.find((row) => row.focused && match(row))) break;
        current = again;
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `could not focus the quick input row for ${what}; rows: ${short(current.map((r) => `${r.focused ? '*' : ''}${r.label}`))}`,
        );
      }
      if (target && focused) await this.keyboard.press(target.index > focused.index ? 'ArrowDown' : 'ArrowUp');
      await delay(100);
      current = await this.quickInputRows();
    }
    await this.keyboard.press('Enter');
  }

  /** Opens the command palette (F1), types the command's title and runs it (Enter). */
  async runCommand(title) {
    const { page } = this;
    await this.dismissQuickInput();
    await this.keyboard.press('F1');
    await page.waitForSelector(SEL.quickInputBox, { state: 'visible', timeout: 10_000 });
    await waitUntil(async () => (await page.inputValue(SEL.quickInputBox)).startsWith('>'), {
      timeout: 5000,
      message: 'the command palette (">" prefix)',
    });
    await this.keyboard.type(title, { delay: 10 });
    await this.acceptQuickInputRow((row) => row.label === title || row.aria.startsWith(title), `command "${title}"`);
    await waitUntil(async () => !(await this.quickInputVisible()), {
      timeout: 10_000,
      message: 'the command palette to close',
    });
  }

  /** Quick Open (Ctrl+P), types the file name, picks the row with exactly that name, Enter. */
  async openFile(fileName) {
    const { page } = this;
    await this.dismissQuickInput();
    await this.keyboard.press('Control+P');
    await page.waitForSelector(SEL.quickInputBox, { state: 'visible', timeout: 10_000 });
    await this.keyboard.type(fileName, { delay: 10 });
    await this.acceptQuickInputRow((row) => row.label === fileName, `file ${fileName}`);
    await waitUntil(
      async () => {
        const tab = await page.locator(SEL.activeTab).first().textContent({ timeout: 1000 });
        return tab?.includes(fileName) ? tab : null;
      },
      { timeout: 15_000, message: `an active editor tab for ${fileName}` },
    );
    await this.waitForEditorFocus();
    // The text must be rendered before anyone reads or types.
    await waitUntil(async () => (await this.editorLines()).some((line) => line.trim() !== ''), {
      timeout: 15_000,
      message: `the text of ${fileName}`,
    });
  }

  async waitForEditorFocus() {
    await waitUntil(
      () =>
        this.page.evaluate(() => {
          const active = document.activeElement;
          return !!active && !!active.closest('.editor-group-container.active .monaco-editor');
        }),
      { timeout: 10_000, message: 'the keyboard focus in the editor' },
    );
  }

  /** Closes an open quick input (Escape) if there is one. */
  async dismissQuickInput() {
    if (await this.quickInputVisible()) {
      await this.keyboard.press('Escape');
      await waitUntil(async () => !(await this.quickInputVisible()), {
        timeout: 5000,
        message: 'the quick input to close',
      });
    }
  }

  /**
   * The rendered lines of the active editor, top to bottom (only those in the viewport: Monaco
   * renders the visible part). Non-breaking spaces are turned into spaces.
   */
  async editorLines() {
    return this.page.evaluate((selector) => {
      const editor = document.querySelector(selector);
      if (!editor) return [];
      return [...editor.querySelectorAll('.view-lines .view-line')]
        .map((line) => ({
          top: parseFloat(line.style.top) || 0,
          text: (line.textContent ?? '').replace(/\u00a0/g, ' '),
        }))
        .sort((a, b) => a.top - b.top)
        .map((line) => line.text);
    }, SEL.activeEditor);
  }

  /** The line the cursor is on (the rendered line at the cursor's vertical position). */
  async cursorLine() {
    return this.page.evaluate((selector) => {
      const editor = document.querySelector(selector);
      const cursor = editor?.querySelector('.cursors-layer .cursor');
      if (!cursor) return null;
      const y = cursor.getBoundingClientRect().top + 2;
      for (const line of editor.querySelectorAll('.view-lines .view-line')) {
        const box = line.getBoundingClientRect();
        if (y >= box.top && y < box.bottom) return (line.textContent ?? '').replace(/\u00a0/g, ' ');
      }
      return null;
    }, SEL.activeEditor);
  }

  /**
   * Screen rectangle of the first occurrence of `text` inside the rendered lines of the active
   * editor (via a DOM Range over the text nodes), or null when it is not rendered.
   */
  async textRect(text) {
    return this.page.evaluate(
      ({ selector, needle }) => {
        const editor = document.querySelector(selector);
        if (!editor) return null;
        for (const line of editor.querySelectorAll('.view-lines .view-line')) {
          // Concatenate the line's text nodes and find the needle across span boundaries.
          const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
          const nodes = [];
          let all = '';
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            nodes.push({ node, start: all.length });
            all += node.nodeValue.replace(/\u00a0/g, ' ');
          }
          const at = all.indexOf(needle);
          if (at < 0) continue;
          const locate = (offset) => {
            for (let i = nodes.length - 1; i >= 0; i -= 1) {
              if (nodes[i].start <= offset) return { node: nodes[i].node, offset: offset - nodes[i].start };
            }
            return null;
          };
          const start = locate(at);
          const end = locate(at + needle.length - 1);
          const range = document.createRange();
          range.setStart(start.node, start.offset);
          range.setEnd(end.node, end.offset + 1);
          const box = range.getBoundingClientRect();
          if (box.width === 0 || box.height === 0) return null;
          return { x: box.x, y: box.y, width: box.width, height: box.height };
        }
        return null;
      },
      { selector: SEL.activeEditor, needle: text },
    );
  }

  /** Brings `text` into view with the Find widget (Ctrl+F, type, Enter, Escape). */
  async revealText(text) {
    await this.keyboard.press('Control+F');
    await this.page.waitForSelector(
      '.monaco-editor .find-widget.visible textarea, .monaco-editor .find-widget.visible input',
      {
        timeout: 5000,
      },
    );
    await this.keyboard.press('Control+A');
    await this.keyboard.type(text, { delay: 10 });
    await this.keyboard.press('Enter');
    await this.keyboard.press('Escape');
    await this.waitForEditorFocus();
  }

  /** Text of the visible hover widgets (empty string when none is visible). */
  async hoverText() {
    const texts = await this.page.locator(`${SEL.hover}:visible`).allTextContents();
    return texts.join('\n').replace(/\u00a0/g, ' ');
  }

  /** Text of the visible suggest widget's rows, in order (label names). */
  async suggestLabels() {
    return this.page.$$eval(SEL.suggestRow, (rows) =>
      rows
        .filter((row) => row.getClientRects().length > 0)
        .sort((a, b) => Number(a.getAttribute('data-index')) - Number(b.getAttribute('data-index')))
        .map((row) => ({
          label: (row.querySelector('.label-name')?.textContent ?? row.getAttribute('aria-label') ?? '')
            .replace(/\u00a0/g, ' ')
            .trim(),
          focused: row.classList.contains('focused'),
        })),
    );
  }

  /** Text of the Problems panel (its rows' text content and aria labels). */
  async problemsText() {
    return this.page.evaluate((selector) => {
      const panel = document.querySelector(selector);
      if (!panel) return '';
      const rows = [...panel.querySelectorAll('.monaco-list-row')];
      const fromRows = rows.map((row) => `${row.textContent ?? ''} | ${row.getAttribute('aria-label') ?? ''}`);
      return (fromRows.length ? fromRows.join('\n') : (panel.textContent ?? '')).replace(/\u00a0/g, ' ');
    }, SEL.problems);
  }

  /** Texts of the status bar items (text content and aria label). */
  async statusBarItems() {
    return this.page.$$eval(SEL.statusItem, (items) =>
      items.map((item) =>
        `${(item.textContent ?? '').trim()} | ${item.getAttribute('aria-label') ?? ''}`.replace(/\u00a0/g, ' '),
      ),
    );
  }

  /** Moves the mouse onto the centre of a rectangle in a few steps (real mousemove events). */
  async hoverRect(rect) {
    const x = rect.x + rect.width / 2;
    const y = rect.y + rect.height / 2;
    await this.page.mouse.move(x - 20, y + 1, { steps: 2 });
    await delay(50);
    await this.page.mouse.move(x, y, { steps: 5 });
  }
}
