import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT } from '../support/files';
import { mlpipe } from '../support/mlpipe-cli';

const FIXTURES = join(ROOT, 'test/fixtures/dvc');
const temporary: string[] = [];
after(() => temporary.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function project(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mlpipe-dvc-cli-${name}-`));
  temporary.push(dir);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

describe('mlpipe import dvc', () => {
  for (const name of ['get-started', 'get-started-mnist', 'pool-segmentation', 'parametrized', 'dvc-made']) {
    it(`turns the real project ${name} into a pipeline that mlpipe check passes`, () => {
      const dir = project(name);
      const imported = mlpipe(['import', 'dvc'], dir);
      assert.equal(imported.status, 0, imported.stderr + imported.stdout);
      assert.match(imported.stdout, /^wrote mlpipe\.yaml \(\d+ stages?\); it checks clean$/m);
      const check = mlpipe(['check', 'mlpipe.yaml'], dir);
      assert.equal(check.status, 0, check.stdout + check.stderr);
      assert.match(check.stderr, / 0 errors, /);
      // The only warnings are deps DVC keeps in its remote, which the report names.
      for (const warning of check.stdout.split('\n').filter(Boolean)) assert.match(warning, /\[missing-dep\]$/);
    });
  }

  it('reports what it could not carry over: the remote, the dvc import, the plot templates', () => {
    const dir = project('get-started');
    const result = mlpipe(['import', 'dvc', 'dvc.yaml'], dir);
    assert.equal(result.status, 0, result.stderr);
    assert.match(
      result.stdout,
      /\.dvc\/config: DVC remote 'storage' \(https:\/\/remote\.dvc\.org\/get-started\) is not carried over/,
    );
    assert.match(
      result.stdout,
      /data\/data\.xml\.dvc: data\/data\.xml is imported \(dvc import\) from https:\/\/github\.com\/iterative\/dataset-registry/,
    );
    assert.match(result.stdout, /prepare: runs \(data\/data\.xml is not in the workspace\)/);
    const pipeline = readFileSync(join(dir, 'mlpipe.yaml'), 'utf8');
    assert.match(pipeline, /^# Imported from dvc\.yaml by `mlpipe import dvc`/);
    assert.match(pipeline, /#  - \.dvc\/config: DVC remote 'storage'/);

    const templates = mlpipe(['import', 'dvc', '--format', 'json'], project('get-started-mnist'));
    const json = JSON.parse(templates.stdout) as { written: string; notes: { message: string }[] };
    assert.equal(json.written, 'mlpipe.yaml');
    assert.ok(json.notes.some((note) => /template 'confusion'/.test(note.message)));
  });

  it('stops at an unresolvable ${...} with its position, and writes nothing', () => {
    const dir = project('parametrized');
    writeFileSync(join(dir, 'dvc.yaml'), readFileSync(join(dir, 'dvc.yaml'), 'utf8').replace('${bar}', '${baz}'));
    const result = mlpipe(['import', 'dvc'], dir);
    assert.equal(result.status, 1);
    assert.match(
      result.stderr,
      /^dvc\.yaml:3:20: error: `\$\{baz\}` cannot be resolved: baz is in neither params\.yaml nor `vars` \(DVC would refuse it too\); did you mean bar\?/m,
    );
    assert.match(result.stderr, /nothing written: 1 error to fix first/);
    assert.equal(existsSync(join(dir, 'mlpipe.yaml')), false);
    assert.equal(existsSync(join(dir, '.mlpipe')), false);
  });

  it('refuses paths that leave the project and an existing mlpipe.yaml, writing nothing', () => {
    const dir = project('parametrized');
    writeFileSync(join(dir, 'dvc.yaml'), 'stages:\n  s:\n    cmd: cp a b\n    outs: [../../outside]\n');
    const escape = mlpipe(['import', 'dvc'], dir);
    assert.equal(escape.status, 1);
    assert.match(escape.stderr, /dvc\.yaml:4:12: error: \.\.\/\.\.\/outside leads out of the project folder/);
    const stray = mlpipe(['import', 'dvc'], project('dvclive-stray'));
    assert.equal(stray.status, 1);
    assert.match(stray.stderr, /has no `stages:` mapping/);
    assert.doesNotMatch(stray.stderr, /\n\s+at /, 'no stack trace');

    const existing = project('dvc-made');
    writeFileSync(join(existing, 'mlpipe.yaml'), 'keep me\n');
    const refused = mlpipe(['import', 'dvc'], existing);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /mlpipe\.yaml exists; give --force to replace it/);
    assert.equal(readFileSync(join(existing, 'mlpipe.yaml'), 'utf8'), 'keep me\n');
    assert.deepEqual(
      readdirSync(existing).filter((name) => name.includes('.tmp-')),
      [],
      'no temporary file is left behind',
    );
    assert.equal(mlpipe(['import', 'dvc', '--force'], existing).status, 0);
  });

  it('says which stages dvc.lock had up to date', () => {
    const result = mlpipe(['import', 'dvc'], project('dvc-made'));
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^  copy: up to date \(its files match dvc\.lock\): mlpipe run skips it$/m);
    assert.match(result.stdout, /^  count: up to date/m);
  });

  it("prints no terminal control characters from dvc.yaml, in the report or mlpipe.yaml's header", () => {
    const dir = project('dvc-made');
    writeFileSync(
      join(dir, 'dvc.yaml'),
      'stages:\n  "a\\e]0;owned\\a\\e[2J":\n    cmd: echo\n    frozen: true\n    deps: ["\\e[31mred"]\n',
    );
    const result = mlpipe(['import', 'dvc'], dir);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /is frozen in DVC/);
    assert.doesNotMatch(result.stdout + result.stderr, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    assert.doesNotMatch(
      readFileSync(join(dir, 'mlpipe.yaml'), 'utf8'),
      /^#.*[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/m,
    );
  });

  it('answers a wrong call with usage, not a stack trace', () => {
    const dir = project('dvc-made');
    assert.match(mlpipe(['import', 'snakemake'], dir).stderr, /import needs a source: dvc \(not 'snakemake'\)/);
    assert.match(mlpipe(['import', 'dvc', 'nope.yaml'], dir).stderr, /nope\.yaml: no such file/);
    assert.equal(mlpipe(['import', 'dvc', '--bogus'], dir).status, 2);
  });
});
