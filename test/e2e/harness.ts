import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { type Browser, type Frame, type Locator, type Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from '../support/chromium';
import { builtVsix, cacheDir, startVsCode, type RunningVsCode } from '../../scripts/vscode-web';
import { ROOT } from '../support/files';

export { CHROMIUM };
export const RESULTS = join(ROOT, 'test-results', 'e2e');
const INSTALL = 'apt-get install -y chromium libkrb5-dev ripgrep g++ make python3 (or run .ci/run)';

/** Why the end-to-end tests cannot run here, or undefined when they can. */
export function missingComponent(): string | undefined {
  if (!existsSync(CHROMIUM)) return `Chromium is not installed at ${CHROMIUM}: ${INSTALL}`;
  if (!existsSync('/usr/include/node/node.h') && !existsSync(join(cacheDir(), '.mlpipe-ready')))
    return `Node headers for building code-server's native modules are missing: ${INSTALL}`;
  if (!existsSync('/usr/bin/rg') && !existsSync(join(cacheDir(), '.mlpipe-ready')))
    return `ripgrep is missing: ${INSTALL}`;
  try {
    statSync(builtVsix());
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
}

/**
 * One browser VS Code session: a copy of sample-workspace (plus extra files) opened in code-server
 * with the packaged extension, driven by Chromium through Playwright. Every wait is on a condition;
 * a wait that times out fails with the path of a screenshot taken at that moment.
 */
export class Session {
  page!: Page;
  folder!: string;
  private browser!: Browser;
  private vscode!: RunningVsCode;
  private shot = 0;
  readonly screenshots: string[] = [];
  private readonly results: string;

  /** `name` is this session's folder under test-results/e2e/, so sessions running side by side keep their screenshots apart. */
  constructor(name: string) {
    this.results = join(RESULTS, name);
  }

  async start(extraFiles: Record<string, string> = {}, env: Record<string, string> = {}): Promise<void> {
    rmSync(this.results, { recursive: true, force: true });
    mkdirSync(this.results, { recursive: true });
    this.folder = mkdtempSync(join(tmpdir(), 'mlpipe-e2e-'));
    cpSync(join(ROOT, 'sample-workspace'), this.folder, { recursive: true });
    for (const [name, source] of Object.entries(extraFiles)) cpSync(source, join(this.folder, name));
    this.vscode = await startVsCode({
      folder: this.folder,
      vsix: builtVsix(),
      env,
      settings: { 'terminal.integrated.gpuAcceleration': 'off' },
    });
    this.browser = await launchChromium();
    this.page = await this.browser.newPage({ viewport: { width: 1400, height: 900 } });
    await this.page.goto(this.vscode.folderUrl);
    await this.waitFor('workbench', this.page.locator('.monaco-workbench .part.editor'), 90_000);
    await this.waitFor('explorer', this.page.locator('.explorer-folders-view .monaco-list-row').first(), 60_000);
  }

  async stop(): Promise<void> {
    await this.browser?.close().catch(() => undefined);
    await this.vscode?.stop();
    if (this.folder) rmSync(this.folder, { recursive: true, force: true });
  }

  /** Saves a screenshot under test-results/e2e/ and returns its path. */
  async screenshot(name: string): Promise<string> {
    const path = join(this.results, `${String(++this.shot).padStart(2, '0')}-${name}.png`);
    await this.page.screenshot({ path });
    this.screenshots.push(relative(ROOT, path));
    return path;
  }

  /** Waits for a locator to be visible; on timeout, fails naming a screenshot of the moment. */
  async waitFor(what: string, locator: Locator, timeout = 30_000): Promise<Locator> {
    try {
      await locator.waitFor({ state: 'visible', timeout });
      return locator;
    } catch (error) {
      const path = await this.screenshot(`timeout-${what.replace(/[^a-z0-9]+/gi, '-')}`).catch(() => '(no screenshot)');
      throw new Error(
        `Timed out after ${timeout} ms waiting for ${what}; last screenshot: ${path}\n${(error as Error).message.split('\n')[0]}`,
      );
    }
  }

  /**
   * Clicks a button of a dialog or widget and waits for `gone` to close. A click that lands while
   * the workbench is still wiring the dialog up can be lost under load (seen once in CI: the modal
   * stayed open), so it clicks again, at most three times, before failing with a screenshot.
   */
  async clickUntilGone(what: string, button: Locator, gone: Locator): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await button.click({ timeout: 10_000 }).catch(() => undefined);
      try {
        await gone.waitFor({ state: 'hidden', timeout: 5_000 });
        return;
      } catch (error) {
        if (attempt < 3) continue;
        const path = await this.screenshot(`still-open-${what.replace(/[^a-z0-9]+/gi, '-')}`).catch(
          () => '(no screenshot)',
        );
        throw new Error(
          `${what} stayed open after three clicks; last screenshot: ${path}\n${(error as Error).message.split('\n')[0]}`,
        );
      }
    }
  }

  /** Runs a command from the command palette by its label. */
  async command(label: string): Promise<void> {
    await this.page.keyboard.press('F1');
    const input = await this.waitFor('command palette', this.page.locator('.quick-input-widget input'));
    await input.fill(`>${label}`);
    await this.waitFor(
      `command '${label}'`,
      this.page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first(),
    );
    await this.page.keyboard.press('Enter');
  }

  /** Opens a workspace file through Quick Open and waits for its editor. */
  async open(name: string): Promise<void> {
    // F1 works wherever the focus is (Ctrl+P does not inside a panel's tree); without the leading
    // `>` the palette is Quick Open.
    await this.page.keyboard.press('F1');
    const input = await this.waitFor('quick open', this.page.locator('.quick-input-widget input'));
    await input.fill(name);
    await this.waitFor(
      `'${name}' in quick open`,
      this.page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first(),
    );
    await this.page.keyboard.press('Enter');
    await this.waitFor(`editor tab for ${name}`, this.page.locator('.tab.active', { hasText: name }));
    await this.waitFor(`text of ${name}`, this.page.locator('.editor-instance .monaco-editor .view-lines').first());
  }

  /** Moves the cursor to a 1-based line and column with Go to Line. */
  async goTo(line: number, column: number): Promise<void> {
    await this.page.keyboard.press('F1');
    const input = await this.waitFor('quick open', this.page.locator('.quick-input-widget input'));
    await input.fill(`:${line}:${column}`);
    await this.page.keyboard.press('Enter');
    await this.waitFor(
      `cursor at ${line}:${column}`,
      this.page.locator('.statusbar-item', { hasText: `Ln ${line}, Col ${column}` }),
    );
  }

  /** The text of the terminals' rows (the DOM renderer, as the harness configures VS Code). */
  async terminalText(): Promise<string> {
    return (await this.page.locator('.terminal-wrapper .xterm-rows').allInnerTexts()).join('\n');
  }

  /** The webview frame (code-server nests each in two iframes) in which `selector` appears. */
  async webviewFrame(what: string, selector: string, timeout = 60_000): Promise<Frame> {
    const deadline = Date.now() + timeout;
    for (;;) {
      for (const frame of this.page.frames()) {
        if (
          (await frame
            .locator(selector)
            .count()
            .catch(() => 0)) > 0
        )
          return frame;
      }
      if (Date.now() > deadline) {
        const shot = await this.screenshot(`timeout-${what.replace(/[^a-z0-9]+/gi, '-')}`);
        throw new Error(`Timed out after ${timeout} ms waiting for ${what} (${selector}); last screenshot: ${shot}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  editor(): Locator {
    return this.page.locator('.editor-instance .monaco-editor').first();
  }
}
