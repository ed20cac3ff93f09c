#!/usr/bin/env node
// `npm start`: build the extension and open sample-workspace with it.
// Desktop VS Code when `code` is on PATH (extension development host); otherwise print how to
// open it. (The browser VS Code for machines without a desktop comes with the e2e harness.)
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sample = join(root, 'sample-workspace');

const build = spawnSync(process.execPath, [join(root, 'scripts/build.mjs')], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const code = spawnSync('code', ['--version'], { encoding: 'utf8' });
if (code.status === 0) {
  console.log(`Opening ${sample} in VS Code ${code.stdout.split('\n')[0]} with the extension from ${root}`);
  const opened = spawnSync('code', ['--new-window', `--extensionDevelopmentPath=${root}`, sample], { stdio: 'inherit' });
  process.exit(opened.status ?? 0);
}
console.log(`
Built dist/. No desktop VS Code ('code') on PATH.
Open the sample workspace with the extension yourself:
  code --extensionDevelopmentPath=${root} ${sample}
or check it from the command line:
  node dist/cli.js check sample-workspace
`);
