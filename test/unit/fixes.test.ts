import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { type Fix } from '../../core/src/diagnostics/diagnostic';
import { nodeFileHost } from '../../core/src/workspace/file-host';
import { kindByName } from '../../core/src/util/file-kinds';
import { Workspace } from '../../core/src/workspace/workspace';
import { ROOT } from '../support/files';

/** Applies a fix's edits to the files on disk (edits in one file from the end backwards). */
function apply(fix: Fix): void {
  const byFile = new Map<string, typeof fix.edits>();
  for (const edit of fix.edits) byFile.set(edit.path, [...(byFile.get(edit.path) ?? []), edit]);
  for (const [path, edits] of byFile) {
    let text = (() => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return '';
      }
    })();
    for (const edit of [...edits].sort((a, b) => b.start - a.start))
      text = text.slice(0, edit.start) + edit.newText + text.slice(edit.end);
    mkdirSync(dirname(path), { recursive: true }); // a fix may create a file, as an editor's workspace edit does
    writeFileSync(path, text);
  }
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? yamlFiles(path) : /\.ya?ml$/.test(name) ? [path] : [];
  });
}

describe('every quick fix', () => {
  it('repairs its finding and breaks nothing else, on every broken fixture', () => {
    let applied = 0;
    const broken = join(ROOT, 'test/fixtures/broken');
    for (const fixture of readdirSync(broken).filter((name) => statSync(join(broken, name)).isDirectory())) {
      for (const original of yamlFiles(join(broken, fixture))) {
        const kind = kindByName(original);
        if (kind !== 'pipeline' && kind !== 'modelcard') continue;
        const baseline = new Workspace(nodeFileHost).analyze(original, kind);
        baseline.diagnostics.forEach((diagnostic, index) => {
          for (const [fixIndex, fix] of (diagnostic.fixes ?? []).entries()) {
            // Each fix on a fresh copy of the fixture.
            const copy = mkdtempSync(join(tmpdir(), 'mlpipe-fix-'));
            try {
              cpSync(join(broken, fixture), copy, { recursive: true });
              const file = join(copy, relative(join(broken, fixture), original));
              const moved = {
                ...fix,
                edits: fix.edits.map((edit) => ({
                  ...edit,
                  path: join(copy, relative(join(broken, fixture), edit.path)),
                })),
              };
              apply(moved);
              const after = new Workspace(nodeFileHost).analyze(file, kind);
              const where = `${fixture}/${relative(join(broken, fixture), original)} finding ${index} (${diagnostic.code}) fix ${fixIndex} '${fix.title}'`;
              const syntaxBefore = baseline.diagnostics.filter(
                (d) => d.code === 'yaml-syntax' || d.code === 'duplicate-key',
              ).length;
              const syntaxAfter = after.diagnostics.filter(
                (d) => d.code === 'yaml-syntax' || d.code === 'duplicate-key',
              ).length;
              assert.ok(
                syntaxAfter <= syntaxBefore,
                `${where} added YAML errors:\n${after.diagnostics.map((d) => d.message).join('\n')}`,
              );
              // The finding is gone (a fix may leave a milder one: adding `needs` settles the order, not the cache key).
              const same = (d: { code: string; message: string }) =>
                d.code === diagnostic.code && d.message === diagnostic.message;
              const sameBefore = baseline.diagnostics.filter(same).length;
              const sameAfter = after.diagnostics.filter(same).length;
              assert.ok(sameAfter < sameBefore, `${where} did not remove the finding:\n${readFileSync(file, 'utf8')}`);
              applied++;
            } finally {
              rmSync(copy, { recursive: true, force: true });
            }
          }
        });
      }
    }
    assert.ok(applied >= 15, `only ${applied} fixes exercised`);
  });
});
