import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { Boundary } from '../../core/src/util/boundary';
import { importDvc } from '../../core/src/interop/dvc/import';
import { dvcMd5, parseLock } from '../../core/src/interop/dvc/lock';
import { translateDvc, DVC_LIMITS, type TranslateInput } from '../../core/src/interop/dvc/translate';
import { readSeed } from '../../core/src/runner/seed';
import { MlpipeDir } from '../../core/src/runs/records';
import { ROOT } from '../support/files';

const FIXTURES = join(ROOT, 'test/fixtures/dvc');
const temporary: string[] = [];
after(() => temporary.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A fixture project copied to a fresh folder (imports write into it). */
function project(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mlpipe-dvc-${name}-`));
  temporary.push(dir);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

function translate(text: string, params: Record<string, unknown> | undefined, extra: Partial<TranslateInput> = {}) {
  return translateDvc({
    text,
    shown: 'dvc.yaml',
    image: 'localhost/mlpipe-python:3.11',
    readData: (path) => (path === 'params.yaml' && params ? { data: params } : { missing: true }),
    ...extra,
  });
}

type Stages = Record<string, Record<string, unknown>>;
const stagesOf = (result: ReturnType<typeof translate>) => result.pipeline.stages as Stages;

describe('dvc.yaml to mlpipe.yaml', () => {
  it("rewrites ${train.seed} as ${params.train.seed}, writes vars in, and keeps the stage's params list", () => {
    const result = translate(
      [
        'vars:',
        '  - out_dir: models',
        'stages:',
        '  train:',
        '    cmd: python train.py --seed ${train.seed} --out ${out_dir}/m.pkl --lr ${ train[lr] }',
        '    deps: [train.py]',
        '    params: [train.epochs]',
        '    outs:',
        '      - ${out_dir}/m.pkl',
        '    always_changed: true',
        '    desc: Train it',
      ].join('\n'),
      { train: { seed: 7, lr: 0.1, epochs: 3 } },
    );
    assert.deepEqual(result.errors, []);
    assert.deepEqual(stagesOf(result).train, {
      description: 'Train it',
      cmd: 'python train.py --seed ${params.train.seed} --out models/m.pkl --lr ${params.train.lr}',
      deps: ['train.py'],
      outs: ['models/m.pkl'],
      params: ['train.epochs'],
      always_run: true,
    });
    assert.equal(result.pipeline.version, 1);
    assert.deepEqual(result.pipeline.defaults, { image: 'localhost/mlpipe-python:3.11' });
  });

  it('makes an unresolvable ${...} an error at its line and column, with the nearest name', () => {
    const result = translate('stages:\n  train:\n    cmd: python train.py --seed ${trian.seed}\n', {
      train: { seed: 1 },
    });
    assert.equal(result.errors.length, 1);
    assert.equal(result.errors[0].where, 'dvc.yaml:3:33');
    assert.match(result.errors[0].message, /\$\{trian\.seed\}` cannot be resolved.*did you mean train\?/);
  });

  it('turns foreach over plain values into a matrix, named as DVC names the instances', () => {
    const result = translate(
      'stages:\n  clean:\n    foreach: [raw1, labels1]\n    do:\n      cmd: clean.py "${item}"\n      outs: [${item}.cln]\n'.replace(
        '[${item}.cln]',
        '["${item}.cln"]',
      ),
      undefined,
    );
    assert.deepEqual(result.errors, []);
    assert.deepEqual(stagesOf(result).clean, {
      cmd: 'clean.py "${matrix.item}"',
      outs: ['${matrix.item}.cln'],
      matrix: { item: ['raw1', 'labels1'] },
    });
    assert.deepEqual(
      result.instances.map((instance) => [instance.dvcName, instance.mlpipeName, instance.dvcCmd]),
      [
        ['clean@raw1', 'clean@raw1', 'clean.py "raw1"'],
        ['clean@labels1', 'clean@labels1', 'clean.py "labels1"'],
      ],
    );
  });

  it('writes foreach over a mapping from params out stage by stage, its values still params', () => {
    const dir = FIXTURES + '/parametrized';
    const result = translateDvc({
      text: readFileSync(join(dir, 'dvc.yaml'), 'utf8'),
      shown: 'dvc.yaml',
      image: 'x',
      readData: (path) => ({ data: parse(readFileSync(join(dir, path), 'utf8')) as unknown }),
    });
    assert.deepEqual(result.errors, []);
    const stages = stagesOf(result);
    assert.deepEqual(Object.keys(stages), ['stage1', 'stage2-first', 'stage2-second', 'stage2-third', 'stage2-fourth']);
    assert.deepEqual(stages['stage2-second'], {
      cmd: 'cp ${params.mapping.second.from} ${params.mapping.second.to}',
      deps: ['${params.mapping.second.from}'],
      outs: ['${params.mapping.second.to}'],
    });
    assert.equal(result.instances[2].dvcName, 'stage2@second');
    assert.equal(result.instances[2].dvcCmd, 'cp foo foobar');
  });

  it("turns DVC 3's matrix into mlpipe's, ${item.KEY} into ${matrix.KEY}", () => {
    const result = translate(
      [
        'stages:',
        '  train:',
        '    matrix:',
        '      model: [cnn, xgb]',
        '      feature: ${features}',
        '    cmd: python train.py --model ${item.model} --feature ${item.feature}',
        '    outs:',
        '      - models/${item.model}-${item.feature}.pkl',
      ].join('\n'),
      { features: ['f1', 'f2'] },
    );
    assert.deepEqual(result.errors, []);
    assert.deepEqual(stagesOf(result).train, {
      cmd: 'python train.py --model ${matrix.model} --feature ${matrix.feature}',
      outs: ['models/${matrix.model}-${matrix.feature}.pkl'],
      matrix: { model: ['cnn', 'xgb'], feature: ['f1', 'f2'] },
    });
    assert.deepEqual(
      result.instances.map((instance) => instance.dvcName),
      ['train@cnn-f1', 'train@cnn-f2', 'train@xgb-f1', 'train@xgb-f2'],
    );
  });

  it('unpacks a mapping in cmd as DVC does, each value a tracked param', () => {
    const result = translate('stages:\n  train:\n    cmd: python train.py ${opts}\n', {
      opts: { lr: 0.1, amp: true, debug: false, layers: [2, 3], optim: { name: 'adam' } },
    });
    assert.deepEqual(result.errors, []);
    assert.equal(
      stagesOf(result).train.cmd,
      'python train.py --lr ${params.opts.lr} --amp --layers ${params.opts.layers.0} ${params.opts.layers.1} --optim.name ${params.opts.optim.name}',
    );
  });

  it('joins wdir into every path and refuses a path that leads out of the project', () => {
    const ok = translate(
      'stages:\n  s:\n    wdir: sub\n    cmd: ./run.sh\n    deps: [in.csv, ../shared.py]\n    outs: [out.csv]\n',
      undefined,
    );
    assert.deepEqual(ok.errors, []);
    assert.deepEqual(stagesOf(ok).s, {
      workdir: 'sub',
      cmd: './run.sh',
      deps: ['sub/in.csv', 'shared.py'],
      outs: ['sub/out.csv'],
    });
    const out = translate(
      'stages:\n  s:\n    cmd: x\n    outs: [../../etc/cron.d/x]\n    deps: [/etc/passwd]\n',
      undefined,
    );
    assert.deepEqual(out.errors.map((error) => error.where).sort(), ['dvc.yaml:4:12', 'dvc.yaml:5:12']);
    assert.ok(out.errors.some((error) => /leads out of the project folder/.test(error.message)));
    assert.ok(out.errors.some((error) => /absolute path/.test(error.message)));
  });

  it('moves top-level metrics and plots into the stage that writes them, splitting the folder output', () => {
    const dir = FIXTURES + '/pool-segmentation';
    const result = translateDvc({
      text: readFileSync(join(dir, 'dvc.yaml'), 'utf8'),
      shown: 'dvc.yaml',
      image: 'x',
      readData: (path) => ({ data: parse(readFileSync(join(dir, path), 'utf8')) as unknown }),
    });
    assert.deepEqual(result.errors, []);
    const train = stagesOf(result).train;
    assert.deepEqual(train.metrics, ['results/train/metrics.json']);
    assert.deepEqual(train.outs, ['models/model.pkl', 'models/model.pth', 'results/train/plots/metrics']);
    assert.deepEqual(train.params, ['base', 'train']);
    assert.deepEqual(result.pipeline.model, { artifact: 'models/model.pkl' });
    assert.ok(result.notes.some((note) => /top-level `params`/.test(note.message)));
    assert.ok(result.notes.some((note) => /folder was split/.test(note.message)));
  });

  it('says what it leaves out: Vega-Lite templates, checkpoints, dvclive sections', () => {
    const dir = FIXTURES + '/get-started-mnist';
    const result = translateDvc({
      text: readFileSync(join(dir, 'dvc.yaml'), 'utf8'),
      shown: 'dvc.yaml',
      image: 'x',
      readData: (path) => ({ data: parse(readFileSync(join(dir, path), 'utf8')) as unknown }),
    });
    assert.deepEqual(result.errors, []);
    const messages = result.notes.map((note) => `${note.where}: ${note.message}`).join('\n');
    assert.match(messages, /dvc\.yaml:12:7: output model\.pt is a DVC 2 checkpoint/);
    assert.match(messages, /template 'confusion'/);
    assert.match(messages, /`live` of stage 'train'/);
  });

  it('bounds what it reads: stage count, nesting, alias expansion', () => {
    const many = `stages:\n${Array.from({ length: DVC_LIMITS.stages + 1 }, (_, i) => `  s${i}: {cmd: x}`).join('\n')}\n`;
    assert.match(translate(many, undefined).errors[0].message, /more than the 1000 an import reads/);
    const deep = `stages:\n  s:\n    cmd: x\n    meta: ${'['.repeat(80)}${']'.repeat(80)}\n`;
    assert.match(translate(deep, undefined).errors[0].message, /deeper than 64 levels/);
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++)
      bomb.push(
        `${'b'.repeat(i)}: &${'b'.repeat(i)} [${Array(10)
          .fill(i === 1 ? '*a' : `*${'b'.repeat(i - 1)}`)
          .join(', ')}]`,
      );
    bomb.push('stages: {s: {cmd: x}}');
    assert.match(translate(bomb.join('\n'), undefined).errors[0].message, /alias/i);
    const wide = `stages:\n  s:\n    foreach: [${Array.from({ length: DVC_LIMITS.instances + 1 }, (_, i) => i).join(', ')}]\n    do: {cmd: x}\n`;
    assert.match(translate(wide, undefined).errors[0].message, /more than 10000 stages/);
  });

  it('refuses two DVC stages that would get one mlpipe name', () => {
    const result = translate('stages:\n  "a b": {cmd: x}\n  a-b: {cmd: y}\n', undefined);
    assert.match(result.errors[0].message, /two stages become a-b in mlpipe/);
  });

  it('refuses a dvc.yaml with no stages (a real stray one whose paths lead out)', () => {
    const result = translateDvc({
      text: readFileSync(join(FIXTURES, 'dvclive-stray/dvc.yaml'), 'utf8'),
      shown: 'dvc.yaml',
      image: 'x',
      readData: () => ({ missing: true }),
    });
    assert.match(result.errors[0].message, /has no `stages:` mapping/);
  });
});

describe('dvc.lock seeds', () => {
  it("computes DVC's md5 for files and folders exactly as DVC 3.67.1 wrote them", async () => {
    const dir = project('dvc-made');
    const lock = parseLock(parse(readFileSync(join(dir, 'dvc.lock'), 'utf8')));
    const boundary = new Boundary(dir);
    assert.equal(await dvcMd5(boundary, dir, 'data', false), lock.get('copy')!.deps[0].md5);
    assert.equal(await dvcMd5(boundary, dir, 'out', false), lock.get('copy')!.outs[0].md5);
    assert.equal(await dvcMd5(boundary, dir, 'count.txt', false), lock.get('count')!.outs[0].md5);
  });

  it('seeds the stages whose files match dvc.lock, and not one whose file changed', async () => {
    const dir = project('dvc-made');
    const result = await importDvc({
      dvcYaml: join(dir, 'dvc.yaml'),
      image: 'localhost/mlpipe-busybox:1',
      force: false,
      lock: true,
      cwd: dir,
    });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(
      result.lock.map((verdict) => [verdict.stage, verdict.why ?? 'seeded']),
      [
        ['copy', 'seeded'],
        ['count', 'seeded'],
      ],
    );
    const seed = readSeed(new MlpipeDir(join(dir, '.mlpipe')), 'count')!;
    assert.deepEqual(seed.inputs.params, { seed: 7, 'split.ratio': 0.25 });
    assert.match(seed.outputs['count.txt'].hash, /^sha256:/);

    const changed = project('dvc-made');
    appendFileSync(join(changed, 'count.txt'), 'edited\n');
    const again = await importDvc({
      dvcYaml: join(changed, 'dvc.yaml'),
      image: 'localhost/mlpipe-busybox:1',
      force: false,
      lock: true,
      cwd: changed,
    });
    assert.deepEqual(
      again.lock.map((verdict) => [verdict.stage, verdict.why ?? 'seeded']),
      [
        ['copy', 'seeded'],
        ['count', 'count.txt is not the content dvc.lock recorded'],
      ],
    );
    assert.equal(readSeed(new MlpipeDir(join(changed, '.mlpipe')), 'count'), undefined);
  });

  it('does not seed when a param differs from the one dvc.lock recorded', async () => {
    const dir = project('dvc-made');
    writeFileSync(join(dir, 'params.yaml'), 'seed: 8\nsplit: {ratio: 0.25}\n');
    const result = await importDvc({
      dvcYaml: join(dir, 'dvc.yaml'),
      image: 'x:1',
      force: false,
      lock: true,
      cwd: dir,
    });
    assert.equal(
      result.lock.find((verdict) => verdict.stage === 'count')!.why,
      'param seed is not what dvc.lock recorded',
    );
  });

  it('never opens a params file or a folder file that links out of the project', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'mlpipe-dvc-secret-'));
    temporary.push(outside);
    writeFileSync(join(outside, 'secret.yaml'), 'seed: 7\nsplit: {ratio: 0.25}\ntoken: hunter2\n');
    const dir = project('dvc-made');
    rmSync(join(dir, 'params.yaml'));
    symlinkSync(join(outside, 'secret.yaml'), join(dir, 'params.yaml'));
    const result = await importDvc({
      dvcYaml: join(dir, 'dvc.yaml'),
      image: 'x:1',
      force: false,
      lock: true,
      cwd: dir,
    });
    assert.equal(result.written, undefined);
    assert.match(result.errors.map((error) => error.message).join('\n'), /params\.yaml: .*(link|outside)/i);
    assert.doesNotMatch(JSON.stringify(result), /hunter2/);

    const linked = project('dvc-made');
    rmSync(join(linked, 'data/blob.bin'));
    symlinkSync(join(outside, 'secret.yaml'), join(linked, 'data/blob.bin'));
    const verdicts = await importDvc({
      dvcYaml: join(linked, 'dvc.yaml'),
      image: 'x:1',
      force: false,
      lock: true,
      cwd: linked,
    });
    assert.match(verdicts.lock.find((verdict) => verdict.stage === 'copy')!.why!, /data cannot be read/);
  });

  it('never overwrites an existing mlpipe.yaml without --force, and never reads a dvc.yaml linked from outside', async () => {
    const dir = project('dvc-made');
    writeFileSync(join(dir, 'mlpipe.yaml'), 'mine\n');
    await assert.rejects(
      importDvc({ dvcYaml: join(dir, 'dvc.yaml'), image: 'x:1', force: false, lock: true, cwd: dir }),
      /mlpipe\.yaml exists; give --force/,
    );
    assert.equal(readFileSync(join(dir, 'mlpipe.yaml'), 'utf8'), 'mine\n');
    const forced = await importDvc({
      dvcYaml: join(dir, 'dvc.yaml'),
      image: 'x:1',
      force: true,
      lock: false,
      cwd: dir,
    });
    assert.ok(forced.written);
    assert.match(readFileSync(join(dir, 'mlpipe.yaml'), 'utf8'), /^version: 1$/m);

    const outside = mkdtempSync(join(tmpdir(), 'mlpipe-dvc-outside-'));
    temporary.push(outside);
    writeFileSync(join(outside, 'dvc.yaml'), 'stages: {s: {cmd: x}}\n');
    const linked = project('dvc-made');
    rmSync(join(linked, 'dvc.yaml'));
    symlinkSync(join(outside, 'dvc.yaml'), join(linked, 'dvc.yaml'));
    await assert.rejects(
      importDvc({ dvcYaml: join(linked, 'dvc.yaml'), image: 'x:1', force: false, lock: true, cwd: linked }),
      /link|outside/i,
    );
  });
});
