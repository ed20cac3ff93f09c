import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX_IMAGE, PYTHON_IMAGE, ensureImages } from '../../scripts/sample-image';
import { enginesMissing, startDockerd, type RunningEngine } from '../support/engines';
import { Session, missingComponent } from './harness';

const missing = missingComponent() ?? enginesMissing();
if (missing && process.env.CI) throw new Error(`The run scenario cannot run: ${missing}`);

describe('running the sample pipeline from VS Code (code-server + Chromium + dockerd)', { skip: missing }, () => {
  const session = new Session('run');
  let engine: RunningEngine;

  before(async () => {
    engine = await startDockerd();
    await ensureImages(engine.docker, [PYTHON_IMAGE, BUSYBOX_IMAGE]);
    await session.start({}, { DOCKER_HOST: engine.address });
  });

  after(async () => {
    await session.stop();
    await engine?.stop();
    if (session.screenshots.length > 0) console.log(`screenshots:\n  ${session.screenshots.join('\n  ')}`);
  });

  it('runs the pipeline from its code lens with live logs, producing the model and metrics', async () => {
    await session.open('mlpipe.yaml');
    const lens = session.page.locator('.codelens-decoration a', { hasText: 'Run pipeline' }).first();
    await session.waitFor('the Run pipeline lens', lens, 60_000);
    await lens.click();
    await session.waitFor(
      'a running status bar item',
      session.page.locator('.statusbar-item', { hasText: 'MLPipe:' }),
      60_000,
    );
    const rows = session.page.locator('.terminal-wrapper .xterm-rows');
    await session.waitFor(
      'live training logs in the terminal',
      rows.filter({ hasText: /prepare \| kept \d+ of 3000 rows/ }).first(),
      120_000,
    );
    await session.waitFor('the run to succeed', rows.filter({ hasText: /run \S+ succeeded/ }).first(), 240_000);
    await session.waitFor(
      'the success notification',
      session.page.locator('.notification-list-item', { hasText: 'succeeded (4 ok)' }),
    );
    await session.screenshot('run-pipeline');
    assert.ok(existsSync(join(session.folder, 'models/model.npz')), 'the model was trained');
    assert.ok(existsSync(join(session.folder, 'metrics/eval-test.json')));
    const text = await session.terminalText();
    assert.match(text, /evaluate@test \| \{"auc": 0\.\d+/);
  });

  it('reruns instantly when nothing changed, and Show Status says all is up to date', async () => {
    await session.command('Terminal: Kill All Terminals');
    await session.command('Notifications: Clear All Notifications');
    await session.open('mlpipe.yaml');
    await session.page.locator('.codelens-decoration a', { hasText: 'Run pipeline' }).first().click();
    const rows = session.page.locator('.terminal-wrapper .xterm-rows');
    await session.waitFor('the rerun to finish', rows.filter({ hasText: /run \S+ succeeded/ }).first(), 60_000);
    await session.waitFor(
      'the all-up-to-date notification',
      session.page.locator('.notification-list-item', { hasText: 'succeeded (4 up to date)' }),
    );
    await session.screenshot('rerun-up-to-date');
    assert.equal(readdirSync(join(session.folder, '.mlpipe/runs')).length, 2);
    await session.command('MLPipe: Show Status');
    const picks = session.page.locator('.quick-input-list .monaco-list-row');
    for (const stage of ['prepare', 'train', 'evaluate@val', 'evaluate@test'])
      await session.waitFor(
        `status of ${stage}`,
        picks.filter({ hasText: stage }).filter({ hasText: 'up to date' }).first(),
        60_000,
      );
    await session.screenshot('status');
    await session.page.keyboard.press('Escape');
  });
});
