#!/usr/bin/env node
// `npm start`: build and package the extension, then open sample-workspace with it: desktop VS
// Code when `code` is on PATH (extension development host), otherwise the browser VS Code
// (code-server, installed once into ~/.cache/mlpipe) with the packaged extension, until Ctrl-C.
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sample = join(root, 'sample-workspace');

const packaged = spawnSync(process.execPath, [join(root, 'scripts/package.mjs')], { stdio: 'inherit' });
if (packaged.status !== 0) process.exit(packaged.status ?? 1);

const code = spawnSync('code', ['--version'], { encoding: 'utf8' });
if (code.status === 0) {
  console.log(`Opening ${sample} in VS Code ${code.stdout.split('\n')[0]} with the extension from ${root}`);
  const opened = spawnSync('code', ['--new-window', `--extensionDevelopmentPath=${root}`, sample], {
    stdio: 'inherit',
  });
  process.exit(opened.status ?? 0);
}

console.log('No desktop VS Code (`code`) on PATH: starting the browser VS Code (code-server) instead.');
const server = spawn(process.execPath, ['--import', 'tsx', join(root, 'scripts/vscode-web.ts'), 'serve', sample], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, PORT: process.env.PORT ?? '8080' },
});
const stop = () => server.kill('SIGTERM');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
server.on('exit', (status) => process.exit(status ?? 0));
