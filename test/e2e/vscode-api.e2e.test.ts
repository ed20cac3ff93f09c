import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { launchChromium } from '../support/chromium';
import { developmentUrl, startVsCode } from '../../scripts/vscode-web';
import { ROOT } from '../support/files';
import { buildSuite, declaredTests } from '../vscode/build-suite';
import { missingComponent } from './harness';

const missing = missingComponent();
if (missing && process.env.CI) throw new Error(`The VS Code API suite cannot run: ${missing}`);

interface SuiteResults {
  failures: number;
  results: { title: string; state: string; error?: string }[];
}

describe("the VS Code API suite (test/vscode) inside the browser VS Code's extension host", { skip: missing }, () => {
  it('runs every test of the suite and all pass', async () => {
    const suite = await buildSuite();
    const folder = mkdtempSync(join(tmpdir(), 'mlpipe-vscode-api-'));
    cpSync(join(ROOT, 'sample-workspace'), folder, { recursive: true });
    cpSync(join(ROOT, 'test/fixtures/broken/stages/mlpipe.yaml'), join(folder, 'broken.pipeline.yaml'));
    const resultsFile = join(folder, '..', `mlpipe-vscode-api-${process.pid}.json`);
    rmSync(resultsFile, { force: true });
    const vscode = await startVsCode({ folder, env: { MLPIPE_VSCODE_RESULTS: resultsFile } });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(developmentUrl(vscode, ROOT, suite));
      // The extension host writes the results when mocha finishes (it cannot hand back an exit code).
      const deadline = Date.now() + 180_000;
      while (!existsSync(resultsFile)) {
        if (Date.now() > deadline)
          throw new Error(
            `no results from the extension host within 180 s; code-server said:\n${vscode.output.join('').slice(-3000)}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as SuiteResults;
      for (const result of results.results)
        console.log(
          `  ${result.state === 'passed' ? 'ok' : 'FAILED'}  ${result.title}${result.error ? `\n${result.error}` : ''}`,
        );
      assert.equal(
        results.failures,
        0,
        results.results
          .filter((r) => r.state !== 'passed')
          .map((r) => `${r.title}: ${r.error}`)
          .join('\n'),
      );
      assert.equal(results.results.length, declaredTests(), 'every test of the suite ran');
    } finally {
      await browser.close();
      await vscode.stop();
      rmSync(folder, { recursive: true, force: true });
      rmSync(resultsFile, { force: true });
    }
  });
});
