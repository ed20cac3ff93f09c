import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { readExpectations, type Expectation } from '../support/expectations';
import { ROOT } from '../support/files';

const BROKEN = join(ROOT, 'test/fixtures/broken');
const CLI = join(ROOT, 'dist/cli.js');

interface JsonFinding {
  file: string;
  line: number;
  severity: string;
  code: string;
  message: string;
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(name)) out.push(path);
  }
  return out;
}

describe('mlpipe check on the broken fixtures', () => {
  for (const name of readdirSync(BROKEN).filter((entry) => statSync(join(BROKEN, entry)).isDirectory())) {
    it(`reports every mistake in ${name} on its line, and nothing else`, () => {
      const dir = join(BROKEN, name);
      const result = spawnSync(process.execPath, [CLI, 'check', dir, '--format', 'json'], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      assert.equal(result.stderr, '', 'json output writes nothing to stderr');
      const report = JSON.parse(result.stdout) as { diagnostics: JsonFinding[] };
      const expected: Expectation[] = yamlFiles(dir).flatMap((file) => readExpectations(file, relative(ROOT, file)));
      assert.ok(expected.length > 0, `${name} declares no expectations`);
      const key = (f: { file: string; line: number; severity: string; code: string }) =>
        `${f.file}:${f.line}: ${f.severity} ${f.code}`;
      const actual = report.diagnostics.map(key).sort();
      assert.deepEqual(
        actual,
        expected.map(key).sort(),
        `findings differ from the # expect comments:\n${report.diagnostics.map((d) => `${key(d)}  ${d.message}`).join('\n')}`,
      );
      const errors = report.diagnostics.filter((d) => d.severity === 'error').length;
      assert.equal(result.status, errors > 0 ? 1 : 0, 'exit code: 1 with errors, 0 without');
      for (const finding of report.diagnostics)
        assert.ok(finding.message.length > 20 && /[.?]$/.test(finding.message), `a full sentence: ${finding.message}`);
    });
  }
});
