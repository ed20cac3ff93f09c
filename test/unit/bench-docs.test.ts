/**
 * The figures in docs/performance.md and the README are generated from docs/performance.json
 * (scripts/bench-docs.mjs): these tests fail when a figure was edited by hand or the JSON changed
 * without `npm run bench:docs`, and check what the generator keeps and refuses.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type WrittenBenchResult } from '../support/bench-result';
import { ROOT } from '../support/files';

const GENERATOR = join(ROOT, 'scripts', 'bench-docs.mjs');

function generate(args: string[]) {
  return spawnSync(process.execPath, [GENERATOR, ...args], { cwd: ROOT, encoding: 'utf8' });
}

function result(bench: string, value: number): WrittenBenchResult {
  return {
    bench,
    command: `MLPIPE_BENCH_SIZE=quick npm run bench:${bench}`,
    size: 'quick: a test',
    tables: [{ title: 'A table', columns: ['measure', 'ms'], rows: [['open | read', value]], notes: ['a note'] }],
    targets: [{ name: 'open', value, unit: 'ms', op: '<=', target: 100 }],
    ratios: [{ name: 'peer / mlpipe', value: 12.5 }],
    peers: { peer: '1.0' },
    date: '2026-12-04T23:00:00.000Z',
    commit: 'abcdef123456',
    machine: { cpus: 2, model: 'a CPU', memoryGiB: 23, node: 'v20.20.2', platform: 'linux x64' },
    seconds: 12.3,
    targetsPassed: value <= 100 ? 1 : 0,
    targetsTotal: 1,
  };
}

/** Copies of the three files in a temp folder, generated once from `benches`. */
function scratch(
  benches: Record<string, WrittenBenchResult>,
  markdown: string,
  readme: string,
  full: Record<string, WrittenBenchResult> = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-bench-docs-'));
  const paths = {
    json: join(dir, 'performance.json'),
    md: join(dir, 'performance.md'),
    readme: join(dir, 'README.md'),
  };
  writeFileSync(paths.json, JSON.stringify({ benches, full }));
  writeFileSync(paths.md, markdown);
  writeFileSync(paths.readme, readme);
  const args = ['--json', paths.json, '--md', paths.md, '--readme', paths.readme];
  return { dir, paths, args, done: () => rmSync(dir, { recursive: true, force: true }) };
}

const MARKDOWN = [
  '# Performance',
  '',
  'Prose that stays.',
  '',
  '<!-- bench:lsp -->',
  'hand-copied lsp figures, 2026-11-23',
  '<!-- /bench:lsp -->',
  '',
  '<!-- bench:startup -->',
  'Not yet measured.',
  '<!-- /bench:startup -->',
  '',
  'More prose.',
  '',
].join('\n');
const README = '# mlpipe\n\n<!-- bench:startup -->\nold\n<!-- /bench:startup -->\n\n## Development\n';

describe('docs/performance.md and the README against docs/performance.json', () => {
  it('show exactly the figures the JSON holds (npm run bench:docs regenerates them)', () => {
    const check = generate(['--check']);
    assert.equal(check.status, 0, `${check.stderr}${check.stdout}`);
  });

  it('every bench in the JSON has its section in docs/performance.md and was written by writeBenchResult', () => {
    const json = JSON.parse(readFileSync(join(ROOT, 'docs', 'performance.json'), 'utf8')) as {
      benches: Record<string, WrittenBenchResult>;
    };
    const markdown = readFileSync(join(ROOT, 'docs', 'performance.md'), 'utf8');
    for (const [name, bench] of Object.entries(json.benches)) {
      assert.equal(bench.bench, name);
      assert.ok(markdown.includes(`<!-- bench:${name} -->`), `no section for ${name}`);
      for (const field of ['date', 'commit', 'machine', 'command', 'size', 'tables', 'targets', 'ratios'] as const)
        assert.ok(bench[field] !== undefined, `${name} has no ${field}`);
    }
  });

  it('fails the check when a generated figure is edited by hand, and rewrites it back', () => {
    const files = scratch({ startup: result('startup', 87.5) }, MARKDOWN, README);
    try {
      assert.equal(generate(files.args).status, 0);
      const generated = readFileSync(files.paths.md, 'utf8');
      assert.match(generated, /\| open \\\| read \| 87\.5 \|/);
      assert.match(generated, /Run of 2026-12-04 23:00 UTC, commit `abcdef123456`, 2 cores/);
      assert.match(generated, /\| open \| 87\.5 ms \| <= 100 ms \| met \|/);
      assert.match(readFileSync(files.paths.readme, 'utf8'), /\| open \| 87\.5 ms \| <= 100 ms \| met \|/);
      assert.equal(generate([...files.args, '--check']).status, 0);

      writeFileSync(files.paths.md, generated.replace('87.5 ms', '57.5 ms'));
      const check = generate([...files.args, '--check']);
      assert.equal(check.status, 1);
      assert.match(check.stderr, /performance\.md is not what .* generates/);
      assert.equal(generate(files.args).status, 0);
      assert.equal(readFileSync(files.paths.md, 'utf8'), generated);
    } finally {
      files.done();
    }
  });

  it('keeps the section of a bench that was not run, and the prose around the sections', () => {
    const files = scratch({ startup: result('startup', 140) }, MARKDOWN, README);
    try {
      assert.equal(generate(files.args).status, 0);
      const markdown = readFileSync(files.paths.md, 'utf8');
      assert.ok(markdown.includes('<!-- bench:lsp -->\nhand-copied lsp figures, 2026-11-23\n<!-- /bench:lsp -->'));
      assert.ok(markdown.startsWith('# Performance\n\nProse that stays.\n'));
      assert.ok(markdown.endsWith('<!-- /bench:startup -->\n\nMore prose.\n'));
      assert.match(markdown, /\| open \| 140 ms \| <= 100 ms \| \*\*missed\*\* \|/);
    } finally {
      files.done();
    }
  });

  it('shows the last run at the target sizes after a quick run', () => {
    const full = { ...result('startup', 95), size: 'full: a test', date: '2026-12-01T10:00:00.000Z' };
    const files = scratch({ startup: result('startup', 140) }, MARKDOWN, README, { startup: full });
    try {
      assert.equal(generate(files.args).status, 0);
      for (const path of [files.paths.md, files.paths.readme]) {
        const text = readFileSync(path, 'utf8');
        const quick = text.indexOf('| open | 140 ms | <= 100 ms | **missed** |');
        const atTarget = text.indexOf('**At the target sizes**');
        assert.ok(quick !== -1 && atTarget > quick, text);
        assert.ok(text.indexOf('| open | 95 ms | <= 100 ms | met |') > atTarget, text);
      }
    } finally {
      files.done();
    }
  });

  it('refuses figures that have no section to go to', () => {
    const files = scratch({ store: result('store', 10) }, MARKDOWN, README);
    try {
      const run = generate(files.args);
      assert.notEqual(run.status, 0);
      assert.match(run.stderr, /has no <!-- bench:store --> section/);
    } finally {
      files.done();
    }
  });
});
