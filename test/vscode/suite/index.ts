/**
 * Entry point VS Code's extension host calls to run the mocha suite (`--extensionTestsPath`).
 * Desktop VS Code (@vscode/test-electron) reads the exit code; the browser VS Code cannot pass
 * one back, so when MLPIPE_VSCODE_RESULTS is set the results are also written there as JSON.
 */
import { writeFileSync } from 'node:fs';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout: 60_000 });
  mocha.suite.emit('pre-require', globalThis, 'extension.test', mocha);
  // Loaded after the globals exist; esbuild keeps require() lazy.
  require('./extension.test');
  const results: { title: string; state: string; error?: string }[] = [];
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      const path = process.env.MLPIPE_VSCODE_RESULTS;
      if (path) writeFileSync(path, JSON.stringify({ failures, results }, null, 2));
      if (failures > 0) reject(new Error(`${failures} VS Code API test(s) failed`));
      else resolve();
    });
    runner.on('pass', (test) => results.push({ title: test.fullTitle(), state: 'passed' }));
    runner.on('fail', (test, error: Error) =>
      results.push({ title: test.fullTitle(), state: 'failed', error: error.stack ?? error.message }),
    );
  });
}
