import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../support/files';
import { mlpipe } from '../support/mlpipe-cli';

interface Example {
  code: string;
  files: { name: string; text: string }[];
  expected: string[];
}

/** Each `## code` section of docs/diagnostics.md: its `file`: + yaml (or json) blocks and the text block of findings. */
function examples(): Example[] {
  const markdown = readFileSync(join(ROOT, 'docs/diagnostics.md'), 'utf8');
  const found: Example[] = [];
  for (const section of markdown.split(/\n## /).slice(1)) {
    const code = section.slice(0, section.indexOf('\n')).trim();
    const files = [...section.matchAll(/`([^`\n]+)`:\n\n```(?:ya?ml|json)\n([\s\S]*?)```/g)].map((match) => ({
      name: match[1],
      text: match[2],
    }));
    const output = /```text\n([\s\S]*?)```/.exec(section);
    if (files.length === 0 || !output) continue;
    found.push({
      code,
      files,
      expected: output[1].split('\n').filter((line) => /: (error|warning|info|hint): /.test(line)),
    });
  }
  return found;
}

describe('docs/diagnostics.md', () => {
  const all = examples();

  it('has a worked example for most codes', () => {
    assert.ok(all.length >= 40, `only ${all.length} examples found`);
  });

  for (const example of all) {
    it(`the example of ${example.code} gives the findings the page shows`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'mlpipe-docs-'));
      try {
        for (const file of example.files) {
          mkdirSync(dirname(join(dir, file.name)), { recursive: true });
          writeFileSync(join(dir, file.name), file.text);
        }
        const result = mlpipe(
          ['check', ...example.files.map((file) => file.name).filter((name) => /\.ya?ml$/.test(name))],
          dir,
        );
        const actual = result.stdout.split('\n');
        for (const line of example.expected)
          assert.ok(
            actual.includes(line),
            `${example.code}: the page shows\n  ${line}\nmlpipe check says:\n  ${actual.filter(Boolean).join('\n  ')}`,
          );
        assert.ok(
          actual.some((line) => line.endsWith(`[${example.code}]`)),
          `${example.code}: the example does not produce its own code`,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
