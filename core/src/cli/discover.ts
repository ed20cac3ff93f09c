import { join } from 'node:path';
import { type FileHost } from '../workspace/file-host';
import { kindByName, type FileKind } from '../util/file-kinds';

const SKIP_DIRS = new Set([
  'node_modules',
  '.git',
  '.mlpipe',
  '.venv',
  'venv',
  '__pycache__',
  'dist',
  'out',
  '.vscode-test',
]);

/** Pipelines and model cards under a folder, in a stable order (params files come in through their pipelines). */
export function discover(host: FileHost, root: string): { path: string; kind: FileKind }[] {
  const found: { path: string; kind: FileKind }[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const entries = (host.readDirectory(dir) ?? []).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) {
        if (!SKIP_DIRS.has(entry.name) && !entry.name.startsWith('.')) stack.push(path);
        continue;
      }
      const kind = kindByName(path);
      if (kind === 'pipeline' || kind === 'modelcard') found.push({ path, kind });
    }
  }
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** What an explicitly named file is, when its name does not say: by its top-level keys. */
export function sniffKind(text: string): FileKind {
  if (/^stages\s*:/m.test(text)) return 'pipeline';
  if (/^model\s*:/m.test(text)) return 'modelcard';
  return 'other';
}
