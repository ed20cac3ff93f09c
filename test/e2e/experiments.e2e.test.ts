import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX_IMAGE, PYTHON_IMAGE, ensureImages } from '../../scripts/sample-image';
import { enginesMissing, startDockerd, type RunningEngine } from '../support/engines';
import { mlpipe } from '../support/mlpipe-cli';
import { Session, missingComponent } from './harness';

const missing = missingComponent() ?? enginesMissing();
if (missing && process.env.CI) throw new Error(`The experiments scenario cannot run: ${missing}`);

interface Listed {
  id: string;
  status: string;
  params: Record<string, unknown>;
  metrics: Record<string, number>;
}

/**
 * The experiment browser as a new user meets it: two runs of the sample pipeline with different
 * params (one from the terminal, one from VS Code), then the sidebar, the table and the comparison.
 */
const session = new Session('experiments');

describe(
  'experiments, drift and release: sidebar, table, comparison, drift report, approval and push (code-server + Chromium + dockerd)',
  { skip: missing },
  () => {
    let engine: RunningEngine;
    let runs: Listed[] = [];

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

    const experimentsView = () =>
      session.page.locator('.pane', { has: session.page.locator('.pane-header', { hasText: 'Experiments' }) });
    const runRows = () => experimentsView().locator('.monaco-list-row[aria-level="1"]');

    it('lists a run started from the terminal, and one started in VS Code live, newest first', async () => {
      // Run 1 from the CLI, as a terminal user would: the view learns of it from the store's index.
      const first = mlpipe(['run'], session.folder, { DOCKER_HOST: engine.address });
      assert.equal(first.status, 0, first.stderr);
      await session.command('View: Show MLPipe');
      await session.waitFor(
        'the Pipelines view with the train stage',
        session.page
          .locator('.pane', { hasText: 'Pipelines' })
          .locator('.monaco-list-row', { hasText: 'train' })
          .first(),
        60_000,
      );
      await session.waitFor(
        'the first run in the Experiments view',
        runRows().filter({ hasText: 'churn' }).first(),
        60_000,
      );
      assert.equal(await runRows().count(), 1);

      // Run 2 from VS Code with a smaller learning rate (another loss curve): the view shows it running, then done with its metrics.
      const params = join(session.folder, 'params.yaml');
      writeFileSync(params, readFileSync(params, 'utf8').replace('lr: 0.1', 'lr: 0.03'));
      await session.command('MLPipe: Run Pipeline');
      await session.waitFor('a second run in the view', runRows().nth(1), 60_000);
      await session.waitFor(
        'the new run finished with its metrics',
        runRows()
          .first()
          .filter({ hasText: /eval-test\.auc 0\.\d+/ }),
        240_000,
      );
      await session.screenshot('experiments-sidebar');

      // `mlpipe runs list` agrees with the sidebar.
      const list = mlpipe(['runs', 'list', '--format', 'json'], session.folder);
      assert.equal(list.status, 0, list.stderr);
      runs = (JSON.parse(list.stdout) as { runs: Listed[] }).runs;
      assert.equal(runs.length, 2);
      assert.deepEqual(
        runs.map((run) => run.params['train.lr']),
        [0.03, 0.1],
      );
      assert.equal(await runRows().count(), runs.length);
      const auc = Number(runs[0].metrics['eval-test.auc'].toPrecision(3)).toString();
      assert.match(
        (await runRows().first().innerText()).replace(/\s+/g, ' '),
        new RegExp(`eval-test\\.auc ${auc.replace('.', '\\.')}`),
      );
    });

    it('opens the experiments table with both runs, their params and metrics, and sorts it', async () => {
      // Run data is text, never markup: a tag holding HTML must not become an element.
      const xss = mlpipe(['runs', 'tag', runs[1].id, 'label=<img src=x onerror=alert(1)>'], session.folder);
      assert.equal(xss.status, 0, xss.stderr);
      await session.command('MLPipe: Open Experiments Table');
      const table = await session.webviewFrame('the experiments table', 'body[data-rendered="2"] .table-row[data-id]');
      const rowText = async (id: string) =>
        (await table.locator(`.table-row[data-id="${id}"]`).innerText()).replace(/\s+/g, ' ');
      for (const run of runs) {
        const text = await rowText(run.id);
        assert.ok(text.includes(` ${run.params['train.lr'] as number} `), `lr of ${run.id} in: ${text}`);
      }
      // The metrics are there too (columns off to the right are not in the DOM): the filter finds each run by its auc.
      const filter = table.locator('vscode-text-field.filter input');
      const shown = () => table.locator('.table-row[data-id]:not([hidden])');
      for (const run of runs) {
        await filter.fill(`metrics.\`eval-test.auc\` = ${run.metrics['eval-test.auc']}`);
        await expectSoon(
          async () => (await shown().count()) === 1 && (await shown().first().getAttribute('data-id')) === run.id,
          `the auc filter shows only ${run.id}`,
        );
      }
      await filter.fill("tags.label like '<img%'");
      await expectSoon(
        async () => (await shown().count()) === 1 && (await shown().first().getAttribute('data-id')) === runs[1].id,
        'the tag filter finds the run with the HTML tag',
      );
      assert.equal(await table.locator('img').count(), 0, 'the tag is text, not an image element');
      await filter.fill('');
      await expectSoon(async () => (await shown().count()) === 2, 'both runs shown again');
      const firstId = () => table.locator('.table-row[data-id]:not([hidden])').first().getAttribute('data-id');
      const header = table.locator('[data-column="params.train.lr"]');
      await header.click();
      await expectSoon(async () => (await firstId()) === runs[0].id, 'ascending lr puts the 0.03 run first');
      await header.click();
      await expectSoon(async () => (await firstId()) === runs[1].id, 'descending lr puts the 0.1 run first');
      assert.equal(await header.getAttribute('aria-sort'), 'descending');
      await session.screenshot('experiments-table');

      // Select both and compare.
      for (const run of runs) await table.locator(`.table-row[data-id="${run.id}"] input[type=checkbox]`).click();
      await table.locator('vscode-button', { hasText: 'Compare (2)' }).click();
    });

    it('compares the two runs: both loss curves drawn, params and metrics side by side', async () => {
      const compare = await session.webviewFrame(
        'the comparison',
        'body[data-rendered="2"] section.chart[aria-label="loss"]',
      );
      assert.equal(await compare.locator('.legend-item').count(), 2);
      // Charts are drawn when they scroll into view.
      await compare.locator('section.chart[aria-label="loss"]').scrollIntoViewIfNeeded();
      await compare.locator('section.chart[aria-label="loss"] canvas').waitFor({ timeout: 10_000 });
      // Each run's colour is on the loss chart's canvas: both curves are drawn.
      // (A string: this runs in the webview, and the tests' TypeScript has no DOM types.)
      const pixels = async () =>
        (await compare.evaluate(`(() => {
      const colours = [...document.querySelectorAll('.legend-item .swatch')].map((swatch) => getComputedStyle(swatch).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number));
      const canvas = document.querySelector('section.chart[aria-label="loss"] canvas');
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      return colours.map(([r, g, b]) => {
        let count = 0;
        for (let i = 0; i < pixels.length; i += 4) if (Math.abs(pixels[i] - r) + Math.abs(pixels[i + 1] - g) + Math.abs(pixels[i + 2] - b) < 40 && pixels[i + 3] > 200) count++;
        return count;
      });
    })()`)) as number[];
      await expectSoon(async () => (await pixels()).every((count) => count > 50), 'both curves on the canvas');
      const drawn = await pixels();
      assert.equal(drawn.length, 2);
      assert.ok(
        drawn.every((count) => count > 50),
        `pixels of each run's colour on the loss chart: ${drawn.join(', ')}`,
      );
      const params = (await compare.locator('tr.differs-row', { hasText: 'train.lr' }).innerText()).replace(
        /\s+/g,
        ' ',
      );
      assert.match(params, /train\.lr 0\.03 0\.1/);
      await compare.locator('tr', { hasText: 'eval-test.auc' }).first().waitFor();
      await session.screenshot('compare-runs');
    });

    it('brings both panels back after a window reload', async () => {
      await session.command('Developer: Reload Window');
      await session.waitFor(
        'the workbench after the reload',
        session.page.locator('.monaco-workbench .part.editor'),
        90_000,
      );
      const compare = await session.webviewFrame(
        'the comparison after the reload',
        'body[data-rendered="2"] section.chart[aria-label="loss"]',
        90_000,
      );
      assert.equal(await compare.locator('.legend-item').count(), 2);
      await session.page.locator('.tab', { hasText: 'Experiments' }).click();
      const table = await session.webviewFrame(
        'the table after the reload',
        'body[data-rendered="2"] .table-row[data-id]',
        60_000,
      );
      // The sort chosen before the reload is kept (descending lr: the 0.1 run first).
      assert.equal(await table.locator('[data-column="params.train.lr"]').getAttribute('aria-sort'), 'descending');
      assert.equal(
        await table.locator('.table-row[data-id]:not([hidden])').first().getAttribute('data-id'),
        runs[1].id,
      );
      await session.screenshot('restored-after-reload');
    });

    it("checks drift of the pipeline's monitor section: the report agrees with mlpipe drift and offers a rerun", async () => {
      const cli = mlpipe(['drift', '--format', 'json'], session.folder);
      assert.equal(cli.status, 0, cli.stderr);
      const report = JSON.parse(cli.stdout) as {
        number_of_drifted_columns: number;
        number_of_columns: number;
        columns: { column: string; drifted: boolean }[];
      };
      assert.ok(report.number_of_drifted_columns > 0, "the sample's current data has drifted");
      await session.command('MLPipe: Check Drift...');
      await session.waitFor(
        'the monitor.drift choice',
        session.page.locator('.quick-input-list .monaco-list-row', { hasText: 'monitor.drift' }).first(),
      );
      await session.page.keyboard.press('Enter');
      const headline = `Drift detected in ${report.number_of_drifted_columns} of ${report.number_of_columns} columns`;
      const drift = await session.webviewFrame('the drift report', `text=${headline}`, 60_000);
      for (const column of report.columns.filter((one) => one.drifted))
        await drift.getByText(column.column, { exact: true }).first().waitFor({ timeout: 10_000 });
      await drift.getByText('Run pipeline again').first().waitFor({ timeout: 10_000 });
      await session.screenshot('drift-report');
    });

    it('approves the newest run through the gate, pushes it to the local registry and lists it in the Registry view', async () => {
      await session.command('MLPipe: Approve Model Version...');
      const picks = session.page.locator('.quick-input-list .monaco-list-row');
      await session.waitFor('the run picker', picks.filter({ hasText: runs[0].id }).first());
      await picks.filter({ hasText: runs[0].id }).first().click();
      // The sample workspace is not a git repository: the gate asks to acknowledge that.
      const acknowledge = session.page.locator('.monaco-dialog-box .monaco-button', {
        hasText: 'Acknowledge and Continue',
      });
      await session.waitFor('the dirty-tree question', acknowledge, 60_000);
      await session.clickUntilGone('the dirty-tree question', acknowledge, session.page.locator('.monaco-dialog-box'));
      const input = session.page.locator('.quick-input-widget input');
      await session.waitFor(
        'the approver prompt',
        session.page.locator('.quick-input-widget', { hasText: 'Approved by' }),
      );
      await input.fill('E2E Reviewer');
      await session.page.keyboard.press('Enter');
      await session.waitFor(
        'the note prompt',
        session.page.locator('.quick-input-widget', { hasText: 'Note (optional)' }),
      );
      await session.page.keyboard.press('Enter');
      await session.waitFor(
        'the approval in the card',
        session.page.locator('.tab.active', { hasText: 'modelcard.yaml' }),
        30_000,
      );
      const card = readFileSync(join(session.folder, 'modelcard.yaml'), 'utf8');
      assert.match(card, /^approval:\n {2}status: approved\n {2}by: E2E Reviewer\n/m);
      assert.match(card, new RegExp(`^ {2}run: ${runs[0].id}$`, 'm'));
      assert.match(card, /^ {2}artifact_digest: sha256:[0-9a-f]{64}$/m);

      await session.command('MLPipe: Push Approved Version...');
      await session.waitFor('the target picker', picks.filter({ hasText: 'Local registry' }).first());
      await picks.filter({ hasText: 'Local registry' }).first().click();
      await session.waitFor(
        'the pushed notification',
        session.page.locator('.notification-list-item', { hasText: 'pushed churn-classifier:1.0.0' }),
        60_000,
      );
      const registry = session.page.locator('.pane', {
        has: session.page.locator('.pane-header', { hasText: 'Registry' }),
      });
      await session.waitFor(
        'the version in the Registry view',
        registry.locator('.monaco-list-row', { hasText: 'churn-classifier:1.0.0' }),
        30_000,
      );
      assert.match(
        await registry.locator('.monaco-list-row', { hasText: 'churn-classifier:1.0.0' }).innerText(),
        /approved by E2E Reviewer/,
      );
      const index = JSON.parse(readFileSync(join(session.folder, '.mlpipe/registry/index.json'), 'utf8')) as {
        manifests: { annotations?: Record<string, string> }[];
      };
      assert.ok(
        index.manifests.some((manifest) => manifest.annotations?.['org.opencontainers.image.ref.name'] === '1.0.0'),
        'the local OCI layout has the tag',
      );
      await session.screenshot('registry-view');
    });
  },
);

async function expectSoon(condition: () => Promise<boolean>, what: string, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(
        `Timed out after ${timeout} ms waiting until ${what}; last screenshot: ${await session.screenshot('timeout-condition')}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
