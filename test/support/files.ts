import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');

/** A temporary folder with the given files; removed by the returned cleanup. */
export function tempWorkspace(files: Record<string, string>): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-test-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every file below a folder (relative path -> sha256), `.mlpipe` left out: what a run left, to compare byte for byte. */
export function fileTree(dir: string, under = dir, into: Record<string, string> = {}): Record<string, string> {
  for (const name of readdirSync(under)) {
    const path = join(under, name);
    if (relative(dir, path) === '.mlpipe') continue;
    if (statSync(path).isDirectory()) fileTree(dir, path, into);
    else into[relative(dir, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
  }
  return into;
}
