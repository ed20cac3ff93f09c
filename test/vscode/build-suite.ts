import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
export const SUITE_BUNDLE = join(ROOT, 'out', 'vscode-tests', 'index.js');

/** Bundles the mocha suite (with mocha) into one module the extension host can require. */
export async function buildSuite(): Promise<string> {
  await build({
    entryPoints: [join(ROOT, 'test/vscode/suite/index.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: SUITE_BUNDLE,
    external: ['vscode'],
    logLevel: 'error',
  });
  return SUITE_BUNDLE;
}

/** How many tests the suite declares, so a run that silently skipped some is caught. */
export function declaredTests(): number {
  return [...readFileSync(join(ROOT, 'test/vscode/suite/extension.test.ts'), 'utf8').matchAll(/^\s*test\('/gm)].length;
}
