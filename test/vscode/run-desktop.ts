/**
 * `npm run test:vscode`: the VS Code API suite in desktop VS Code through @vscode/test-electron.
 * Uses VSCODE_EXECUTABLE_PATH when set, otherwise lets test-electron download VS Code (which needs
 * network access to update.code.visualstudio.com). Where neither works it fails and says so: the
 * same suite runs in the browser VS Code as part of `npm test` (test/e2e/vscode-api.e2e.test.ts).
 */
import { runTests } from '@vscode/test-electron';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSuite } from './build-suite';

const ROOT = join(__dirname, '..', '..');

async function main(): Promise<void> {
  const suite = await buildSuite();
  const folder = mkdtempSync(join(tmpdir(), 'mlpipe-vscode-api-'));
  cpSync(join(ROOT, 'sample-workspace'), folder, { recursive: true });
  cpSync(join(ROOT, 'test/fixtures/broken/stages/mlpipe.yaml'), join(folder, 'broken.pipeline.yaml'));
  try {
    const code = await runTests({
      vscodeExecutablePath: process.env.VSCODE_EXECUTABLE_PATH,
      extensionDevelopmentPath: ROOT,
      extensionTestsPath: suite,
      launchArgs: [
        folder,
        '--disable-extensions',
        '--disable-workspace-trust',
        '--skip-welcome',
        '--skip-release-notes',
      ],
    });
    process.exit(code);
  } catch (error) {
    console.error(`The VS Code API suite did not run in desktop VS Code: ${error instanceof Error ? error.message : String(error)}
Set VSCODE_EXECUTABLE_PATH to a VS Code >= 1.91 executable, or allow the download. The same suite
runs inside the browser VS Code as part of \`npm test\` (node scripts/test.mjs e2e).`);
    process.exit(1);
  }
}

void main();
