#!/usr/bin/env node
// `npm run package`: a production VSIX with @vscode/vsce. Bundled, minified dist/ only (the
// .vscodeignore allowlist decides the rest); prints the file list and the size against the 3 MB target.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { name, version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const out = join(root, `${name}-${version}.vsix`);
const vsce = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');

function run(args) {
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run([join(root, 'scripts', 'build.mjs'), '--production']);
// --no-dependencies: everything that runs is bundled into dist/.
run([vsce, 'package', '--no-dependencies', '--out', out]);
const size = statSync(out).size;
const megabytes = (size / 1024 / 1024).toFixed(2);
console.log(`\n${out}: ${megabytes} MB (target under 3 MB: ${size < 3 * 1024 * 1024 ? 'met' : 'MISSED'})`);
if (size >= 3 * 1024 * 1024) process.exit(1);
