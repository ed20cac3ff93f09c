import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { importDvc } from '../../core/src/interop/dvc/import';
import { type AttemptSpec, type Executor, type StageExecution } from '../../core/src/runner/executor';
import { Runner } from '../../core/src/runner/runner';
import { dvcMd5 } from '../../core/src/interop/dvc/lock';
import { Boundary } from '../../core/src/util/boundary';
import { translateDvc } from '../../core/src/interop/dvc/translate';
import { readSeed, writeSeed } from '../../core/src/runner/seed';
import { MlpipeDir } from '../../core/src/runs/records';
import { ROOT } from '../support/files';

// A dvc.yaml, its params, dvc.lock and the project folder from someone else's repository.
const FIXTURES = join(ROOT, 'test/fixtures/dvc');
const temporary: string[] = [];
after(() => temporary.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-dvc-hostile-'));
  temporary.push(dir);
  return dir;
}

function project(name: string): string {
  const dir = folder();
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

const run = (dir: string, force = false) =>
  importDvc({ dvcYaml: join(dir, 'dvc.yaml'), image: 'x:1', force, lock: true, cwd: dir });

// The inputs below took minutes before their fixes (quadratic or worse); these tests take under a
// few seconds. A hang fails on the test's own time limit, a generous bound, not a speed figure
// (speed is measured by benchmarks, never asserted).
const HANG = { timeout: 120_000 };

describe('mlpipe import dvc on a hostile project', () => {
  it('answers many unresolvable references against a large params file in moments, not minutes', HANG, () => {
    const params: Record<string, number> = {};
    for (let i = 0; i < 50_000; i++) params[`k${i}`] = i;
    const refs = Array.from({ length: 50_000 }, (_, i) => `\${n${i}}`).join(' ');
    const result = translateDvc({
      text: `stages:\n  s:\n    cmd: echo ${refs}\n`,
      shown: 'dvc.yaml',
      image: 'x',
      readData: (path) => (path === 'params.yaml' ? { data: params } : { missing: true }),
    });
    assert.ok(result.errors.length > 0 && result.errors.length <= 101, `${result.errors.length} errors`);
    assert.match(result.errors.at(-1)!.message, /more errors/);
  });

  it('stops a foreach that multiplies a long command into a pipeline too large to check', HANG, () => {
    const entries = Array.from({ length: 10_000 }, (_, i) => `      k${i}: {a: 1}`).join('\n');
    const refs = Array.from({ length: 2_000 }, () => '${item.a}').join(' ');
    const result = translateDvc({
      text: `stages:\n  s:\n    foreach:\n${entries}\n    do:\n      cmd: echo ${refs}\n`,
      shown: 'dvc.yaml',
      image: 'x',
      readData: () => ({ missing: true }),
    });
    assert.match(result.errors.map((error) => error.message).join('\n'), /more than .* an import writes/);
  });

  it('reads a mapping of many keys in linear time, and still refuses a key written twice', HANG, () => {
    const keys = Array.from({ length: 30_000 }, (_, i) => `      k${i}: 1\n`).join('');
    const result = translateDvc({
      text: `vars:\n  - m:\n${keys}stages:\n  s:\n    cmd: echo\n`,
      shown: 'dvc.yaml',
      image: 'x',
      readData: () => ({ missing: true }),
    });
    assert.deepEqual(result.errors, []);
    const twice = translateDvc({
      text: 'stages:\n  s:\n    cmd: echo\n  s:\n    cmd: echo 2\n',
      shown: 'dvc.yaml',
      image: 'x',
      readData: () => ({ missing: true }),
    });
    assert.match(twice.errors[0].where ?? '', /^dvc\.yaml:4:3$/);
    assert.match(twice.errors[0].message, /unique/);
  });

  it('writes a value with `${` in it as text, not as an mlpipe reference (DVC substitutes once)', () => {
    const result = translateDvc({
      text: 'vars:\n  - v: "${params.x} ${matrix.y}"\nstages:\n  s:\n    cmd: echo ${v}\n',
      shown: 'dvc.yaml',
      image: 'x',
      readData: (path) => (path === 'params.yaml' ? { data: { x: 1 } } : { missing: true }),
    });
    assert.deepEqual(result.errors, []);
    assert.equal((result.pipeline.stages as Record<string, { cmd: string }>).s.cmd, 'echo $${params.x} $${matrix.y}');
    // DVC's own escape, \${...}, is text to DVC too: mlpipe's $${...}.
    const escaped = translateDvc({
      text: 'stages:\n  s:\n    cmd: echo \\${params.x} \\${HOME}\n',
      shown: 'dvc.yaml',
      image: 'x',
      readData: (path) => (path === 'params.yaml' ? { data: { x: 1 } } : { missing: true }),
    });
    assert.equal((escaped.pipeline.stages as Record<string, { cmd: string }>).s.cmd, 'echo $${params.x} $${HOME}');
  });

  it('refuses a path whose params value leads out of the project', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'params.yaml'), 'x: ../../../../etc/passwd\nw: ../..\n');
    writeFileSync(join(dir, 'dvc.yaml'), 'stages:\n  leak:\n    cmd: cat data/${x}\n    deps: ["data/${x}"]\n');
    const result = await run(dir);
    assert.equal(result.written, undefined);
    assert.match(result.errors.map((error) => error.message).join('\n'), /leads out of the project/);
    assert.equal(existsSync(join(dir, 'mlpipe.yaml')), false);
    writeFileSync(join(dir, 'dvc.yaml'), 'stages:\n  leak:\n    cmd: cat x\n    wdir: ${w}\n    deps: [x]\n');
    const wdir = await run(dir);
    assert.equal(wdir.written, undefined);
    assert.equal(existsSync(join(dir, 'mlpipe.yaml')), false);
  });

  it('never lists a folder outside the project to split a folder output reached through a link', async () => {
    const outside = folder();
    mkdirSync(join(outside, 'data'));
    writeFileSync(join(outside, 'data', 'SECRET_NAME'), '');
    writeFileSync(join(outside, 'data', 'm.json'), '{}');
    const dir = folder();
    symlinkSync(outside, join(dir, 'link'));
    writeFileSync(
      join(dir, 'dvc.yaml'),
      'stages:\n  s:\n    cmd: echo\n    outs: [link/data]\nmetrics: [link/data/m.json]\n',
    );
    const result = await run(dir);
    assert.doesNotMatch(JSON.stringify(result), /SECRET_NAME/);
    if (existsSync(join(dir, 'mlpipe.yaml')))
      assert.doesNotMatch(readFileSync(join(dir, 'mlpipe.yaml'), 'utf8'), /SECRET_NAME/);
  });

  it('never hashes a folder outside the project reached through a link on the way', async () => {
    const outside = folder();
    // Empty: listing it alone (no file opened) would tell dvc.lock's md5 of it.
    mkdirSync(join(outside, 'data'));
    const dir = folder();
    symlinkSync(outside, join(dir, 'link'));
    await assert.rejects(dvcMd5(new Boundary(dir), dir, 'link/data', false), /link is not a folder of the project/);
  });

  it('does not echo the credentials in a remote or import URL', async () => {
    const dir = project('dvc-made');
    mkdirSync(join(dir, '.dvc'));
    writeFileSync(
      join(dir, '.dvc', 'config'),
      `[core]\n    remote = store\n['remote "store"']\n    url = https://alice:s3cr3tpw@dvc.example.com/store\n`,
    );
    writeFileSync(
      join(dir, 'raw.dvc'),
      'deps:\n- path: data.xml\n  repo:\n    url: https://ghp_t0ken@github.com/x/y\nouts:\n- path: raw\n',
    );
    const result = await run(dir);
    assert.ok(result.written);
    assert.doesNotMatch(JSON.stringify(result.notes), /s3cr3tpw|ghp_t0ken/);
    assert.match(JSON.stringify(result.notes), /dvc\.example\.com\/store/);
  });

  it('does not seed a stage whose tracked params dvc.lock does not record', async () => {
    const dir = project('dvc-made');
    // The lock as an older dvc.yaml left it: the stage tracked no params then.
    writeFileSync(
      join(dir, 'dvc.lock'),
      readFileSync(join(dir, 'dvc.lock'), 'utf8').replace(/    params:\n(.*\n){3}/, ''),
    );
    const result = await run(dir);
    assert.ok(result.written);
    assert.match(result.lock.find((verdict) => verdict.stage === 'count')!.why ?? '', /param seed .*dvc\.lock/);
    assert.equal(readSeed(new MlpipeDir(join(dir, '.mlpipe')), 'count'), undefined);
  });

  it('removes a seed the project brought along for a stage that does not match dvc.lock', async () => {
    const dir = project('dvc-made');
    const first = await run(dir);
    assert.equal(first.lock.find((verdict) => verdict.stage === 'count')!.seed !== undefined, true);
    writeFileSync(join(dir, 'params.yaml'), 'seed: 8\nsplit: {ratio: 0.25}\n');
    const mlpipe = new MlpipeDir(join(dir, '.mlpipe'));
    // A seed committed to the repository, claiming the current state.
    const seed = readSeed(mlpipe, 'count')!;
    writeSeed(mlpipe, { ...seed, inputs: { ...seed.inputs, params: { seed: 8, 'split.ratio': 0.25 } } });
    const again = await run(dir, true);
    assert.match(again.lock.find((verdict) => verdict.stage === 'count')!.why ?? '', /param seed/);
    assert.equal(readSeed(mlpipe, 'count'), undefined);
    // --no-lock: every stage runs the first time, whatever seed was there.
    assert.ok(readSeed(mlpipe, 'copy'));
    await importDvc({ dvcYaml: join(dir, 'dvc.yaml'), image: 'x:1', force: true, lock: false, cwd: dir });
    assert.equal(readSeed(mlpipe, 'copy'), undefined);
  });

  it('reports, not aborts, when an output is a link or .mlpipe is not a folder', async () => {
    const dir = project('dvc-made');
    rmSync(join(dir, 'count.txt'));
    writeFileSync(join(dir, 'real.txt'), '3\n');
    symlinkSync('real.txt', join(dir, 'count.txt'));
    const result = await run(dir);
    assert.ok(result.written);
    assert.match(result.lock.find((verdict) => verdict.stage === 'count')!.why ?? '', /count\.txt/);

    const file = project('dvc-made');
    writeFileSync(join(file, '.mlpipe'), '');
    const noState = await run(file);
    assert.ok(noState.written);
    assert.match(JSON.stringify(noState.notes), /dvc\.lock.*\.mlpipe/);
  });

  it('adopts a seed only for a stage mlpipe never ran: once run, a new image reruns it (as status says)', async () => {
    const dir = project('dvc-made');
    const imported = await run(dir);
    assert.deepEqual(
      imported.lock.map((verdict) => verdict.seed !== undefined),
      [true, true],
    );
    // An executor that runs the commands here (cp, sh) and resolves the image to `digest`.
    let digest = `sha256:${'1'.repeat(64)}`;
    const executor = (workspace: string): Executor => ({
      host: 'local',
      version: 'fake 1.0',
      sharesFiles: true,
      unsupported: () => undefined,
      resolveImage: async () => digest,
      imageDigest: async () => digest,
      removeOrphans: async () => undefined,
      lost: async () => undefined,
      create: async (attempt: AttemptSpec): Promise<StageExecution> => ({
        prepareInputs: async () => undefined,
        start: async () => undefined,
        followLogs: async () => undefined,
        wait: async () => {
          const [file, ...args] = attempt.stage.command.argv;
          execFileSync(file, args, { cwd: workspace });
          return 0;
        },
        collectOutputs: async () => ({}),
        kill: () => undefined,
        remove: async () => undefined,
      }),
    });
    const runner = Runner.open(join(dir, 'mlpipe.yaml'), undefined, async (_, workspace) => executor(workspace));
    const go = async () =>
      Object.fromEntries(
        (await runner.run({ stages: [], upstream: false, force: false, jobs: 1 }, () => undefined)).stages.map(
          (stage) => [stage.name, stage.status],
        ),
      );
    assert.deepEqual(await go(), { copy: 'skipped', count: 'skipped' });
    digest = `sha256:${'2'.repeat(64)}`;
    assert.deepEqual(await go(), { copy: 'succeeded', count: 'succeeded' });
  });
});
