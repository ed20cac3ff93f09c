import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Diagnostic } from 'vscode-languageserver-protocol';
import { MAX_PARAM_ENTRIES } from '../../core/src/params/params';
import { MAX_VARIANTS } from '../../core/src/pipeline/model';
import { MlpipeDir } from '../../core/src/runs/records';
import { ContentStore } from '../../core/src/runs/content-cache';
import { makeDecoy, type Decoy } from '../support/decoy';
import { ROOT, tempWorkspace } from '../support/files';
import { LspClient, bundledServer, messageOf } from '../support/lsp-client';
import { mlpipe, type CliResult } from '../support/mlpipe-cli';
import { fakeRecord } from '../support/store-fixtures';

/**
 * What the analysis reads when the repository is someone else's: `mlpipe check` in CI and the
 * language server in an editor, on symbolic links that lead out of the pipeline's folder, alias
 * bombs, outputs that name .git or the pipeline itself, matrices that multiply past any use, and
 * files of absurd size or shape. Each is answered with a finding that names the file and what to
 * do; nothing of the decoy's secret reaches any output format, nothing outside changes, and every
 * child process runs in a 512 MB heap, so a regression that expands a bomb fails by running out of
 * memory (no timed assertions).
 */

const HEAP = '--max-old-space-size=512';
const FORMATS = ['text', 'json', 'sarif', 'github'] as const;

let decoy: Decoy;
let fingerprint: string;
const cleanups: (() => void)[] = [];
before(() => {
  decoy = makeDecoy();
  fingerprint = decoy.fingerprint();
});
after(() => {
  for (const cleanup of cleanups) cleanup();
  assert.equal(decoy.fingerprint(), fingerprint, 'nothing outside the workspace changed');
  decoy.cleanup();
});

function workspace(files: Record<string, string>): string {
  const { dir, cleanup } = tempWorkspace(files);
  cleanups.push(cleanup);
  return dir;
}

/** The CLI in a 512 MB heap, as CI would run it on a pull request. */
function check(dir: string, args: string[] = [], format: (typeof FORMATS)[number] = 'text'): CliResult {
  return mlpipe(['check', '--format', format, ...args], dir, {
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${HEAP}`,
  });
}

/** `mlpipe check` in every output format: none may hold the secret; the text one is returned. */
function checkAllFormats(dir: string, args: string[] = []): CliResult {
  let text: CliResult | undefined;
  for (const format of FORMATS) {
    const result = check(dir, args, format);
    assert.ok(result.status === 0 || result.status === 1, `${format}: exit ${result.status}\n${result.stderr}`);
    for (const output of [result.stdout, result.stderr])
      assert.ok(!output.includes(decoy.secret), `${format}: the decoy's secret is in the output:\n${output}`);
    if (format === 'json') JSON.parse(result.stdout);
    if (format === 'sarif') assert.equal((JSON.parse(result.stdout) as { version: string }).version, '2.1.0');
    if (format === 'text') text = result;
  }
  return text!;
}

/** A file of `size` bytes: `head`, then zeros (sparse on disk). */
function sparseFile(path: string, head: string, size: number): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, head);
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

/** Lines of the text format with a code: `file:line:col: severity: message [code]`. */
function findings(result: CliResult, code: string): string[] {
  return result.stdout.split('\n').filter((line) => line.endsWith(`[${code}]`));
}

describe('mlpipe check on links that lead out of the pipeline folder', () => {
  it('refuses a params file linked to a docker config: a finding naming the link, nothing of it quoted', () => {
    const dir = workspace({
      'mlpipe.yaml':
        'version: 1\ndefaults: { image: python:3.11 }\nstages:\n  train:\n    cmd: python3 train.py --auth ${params.auths.registry.example.auth}\n    resources: { memory: "${params.auths}" }\n',
    });
    symlinkSync(join(decoy.dir, 'config.json'), join(dir, 'params.yaml'));
    const result = checkAllFormats(dir);
    assert.equal(result.status, 1);
    const refused = findings(result, 'link-outside-workspace');
    assert.equal(refused.length, 1, result.stdout);
    assert.match(
      refused[0],
      /^mlpipe\.yaml:1:1: error: Params file 'params\.yaml' is not read: params\.yaml is a symbolic link that leads outside the pipeline's folder/,
    );
    assert.deepEqual(
      findings(result, 'unknown-param'),
      [],
      'one finding for the refused file, not one per param it held',
    );
    assert.deepEqual(findings(result, 'bad-size'), []);
  });

  it('refuses every other read through such a link: listed params, a folder link, the card, its metrics, a dep, the pipeline itself', () => {
    const dir = workspace({
      'real/params.yaml': 'lr: 0.1\n',
      'mlpipe.yaml': [
        'version: 1',
        'params: [params.yaml, conf/config.json, secrets.yaml]',
        'defaults: { image: python:3.11 }',
        'stages:',
        '  train:',
        '    cmd: python3 train.py --lr ${params.lr}',
        '    deps: [data/raw.csv]',
        '    outs: [models/model.pt]',
        '    metrics: [metrics/train.json]',
        'model: { card: modelcard.yaml, artifact: models/model.pt }',
        'monitor: { drift: { reference: data/ref.csv, current: data/raw.csv } }',
        '',
      ].join('\n'),
      'cards/modelcard.yaml':
        'pipeline: ../mlpipe.yaml\nmodel: { name: churn, version: 1.0.0, license: MIT }\nevaluation:\n  metrics:\n    - { name: auc, file: metrics/train.json, key: auc, threshold: ">= 0.8" }\n',
    });
    // A link that stays inside is followed: params.yaml -> real/params.yaml gives ${params.lr}.
    symlinkSync('real/params.yaml', join(dir, 'params.yaml'));
    symlinkSync(decoy.dir, join(dir, 'conf'));
    symlinkSync(join(decoy.dir, '.env'), join(dir, 'secrets.yaml'));
    symlinkSync(decoy.secretFile, join(dir, 'modelcard.yaml'));
    mkdirSync(join(dir, 'data'));
    mkdirSync(join(dir, 'metrics'));
    symlinkSync(decoy.secretFile, join(dir, 'data/raw.csv'));
    symlinkSync(join(decoy.dir, 'config.json'), join(dir, 'data/ref.csv'));
    symlinkSync(join(decoy.dir, 'config.json'), join(dir, 'metrics/train.json'));
    mkdirSync(join(dir, 'linked'));
    symlinkSync(join(decoy.dir, 'config.json'), join(dir, 'linked/mlpipe.yaml'));

    const result = checkAllFormats(dir);
    assert.equal(result.status, 1);
    const refused = findings(result, 'link-outside-workspace');
    const has = (pattern: RegExp) =>
      assert.ok(
        refused.some((line) => pattern.test(line)),
        `no finding matches ${pattern}:\n${result.stdout}`,
      );
    has(
      /^mlpipe\.yaml:2:\d+: error: Params file 'conf\/config\.json' is not read: conf\/config\.json lies under conf, a symbolic link, that leads outside the pipeline's folder/,
    );
    has(/^mlpipe\.yaml:2:\d+: error: Params file 'secrets\.yaml' is not read: secrets\.yaml is a symbolic link/);
    has(/^mlpipe\.yaml:7:\d+: error: Dep data\/raw\.csv is a symbolic link that leads outside the pipeline's folder/);
    has(/^mlpipe\.yaml:10:\d+: error: Model card modelcard\.yaml is a symbolic link/);
    has(/^mlpipe\.yaml:11:\d+: error: Drift data data\/ref\.csv is a symbolic link/);
    has(
      /^cards\/modelcard\.yaml:5:\d+: error: Metrics file metrics\/train\.json is not read: metrics\/train\.json is a symbolic link/,
    );
    has(
      /^linked\/mlpipe\.yaml:1:1: error: This file is not read: mlpipe\.yaml is a symbolic link that leads outside its folder/,
    );
    // The link that stays inside works: its param is known.
    assert.ok(!result.stdout.includes("'lr'"), result.stdout);
  });

  it('checks a file named on the command line that is such a link without reading it', () => {
    const dir = workspace({});
    symlinkSync(decoy.secretFile, join(dir, 'ci.yml'));
    const result = checkAllFormats(dir, ['ci.yml']);
    assert.equal(result.status, 1);
    assert.match(
      findings(result, 'link-outside-workspace')[0] ?? '',
      /^ci\.yml:1:1: error: This file is not read: ci\.yml is a symbolic link/,
    );
  });

  it('caps and escapes values it quotes: a long param, control characters that would forge a finding line', () => {
    const long = 'x'.repeat(10_000);
    const dir = workspace({
      'params.yaml': `long: "${long}"\nforged: "1\\nmlpipe.yaml:1:1: error: forged finding [forged]\\u202e"\n`,
      'mlpipe.yaml':
        'version: 1\ndefaults: { image: python:3.11 }\nstages:\n  a:\n    cmd: echo\n    resources: { memory: "${params.long}", shm: "${params.forged}" }\n  b:\n    image: "${params.long}"\n    cmd: echo\n',
    });
    const result = checkAllFormats(dir);
    assert.equal(result.status, 1);
    assert.ok(!result.stdout.includes('x'.repeat(200)), 'a 10,000-character value is not quoted whole');
    assert.ok(
      result.stdout.split('\n').every((line) => !line.startsWith('mlpipe.yaml:1:1: error: forged')),
      result.stdout,
    );
    assert.ok(
      !/[\u202e\u0000-\u0009\u000b-\u001f]/.test(result.stdout),
      'no control or bidi character reaches the output',
    );
    assert.match(findings(result, 'bad-size').join('\n'), /reads params\.forged = "1\\nmlpipe\.yaml/);
  });
});

describe('mlpipe gate, approve, reject and push on links that lead out of the pipeline folder', () => {
  it('refuses a model card linked outside before it reads it: nothing quoted, nothing written into the workspace', () => {
    const dir = workspace({
      'mlpipe.yaml':
        'version: 1\nname: churn\nstages: {}\nmodel:\n  card: modelcard.yaml\n  artifact: models/model.bin\n',
    });
    // A succeeded run with the artifact, so every command gets as far as reading the card.
    const id = '20260501-100000-000-aaa0';
    const model = Buffer.from('weights');
    const digest = `sha256:${createHash('sha256').update(model).digest('hex')}`;
    mkdirSync(join(dir, 'models'));
    writeFileSync(join(dir, 'models/model.bin'), model);
    new ContentStore(join(dir, '.mlpipe', 'cache')).put(join(dir, 'models/model.bin'), {
      kind: 'file',
      hash: digest,
      size: model.length,
    });
    const record = fakeRecord(id, dir);
    record.stages[0].outputs = { 'models/model.bin': digest };
    new MlpipeDir(join(dir, '.mlpipe')).writeRecord(record);
    symlinkSync(join(decoy.dir, 'config.json'), join(dir, 'modelcard.yaml'));

    for (const command of [
      ['gate'],
      ['gate', '--format', 'json'],
      ['push', '--dry-run'],
      ['approve', '--by', 'Ada', '--allow-dirty'],
      ['reject', '--by', 'Ada', '--note', 'no'],
    ]) {
      const result = mlpipe(command, dir, { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${HEAP}` });
      assert.equal(result.status, 1, `${command.join(' ')}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, /modelcard\.yaml.*symbolic link/, `${command.join(' ')}: ${result.stderr}`);
      for (const output of [result.stdout, result.stderr])
        assert.ok(!output.includes(decoy.secret), `${command.join(' ')} printed the secret`);
      assert.ok(
        lstatSync(join(dir, 'modelcard.yaml')).isSymbolicLink(),
        `${command.join(' ')} replaced the link with a copy of what it points at`,
      );
    }
  });
});

/** Ten anchors of ten aliases each, nested `levels` deep: 10^levels values. */
function aliasBomb(levels: number, prefix = ''): string {
  const lines = [`${prefix}a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]`];
  for (let i = 1; i < levels; i++)
    lines.push(
      `${prefix}l${i}: &l${i} [${Array(10)
        .fill(i === 1 ? '*a' : `*l${i - 1}`)
        .join(', ')}]`,
    );
  return `${lines.join('\n')}\n`;
}

/** A pipeline whose 200 stages each have a 100 x 100 matrix: 2,000,000 variants. */
function matrixPipeline(): string {
  const values = Array.from({ length: 100 }, (_, i) => i).join(', ');
  const lines = ['version: 1', 'defaults: { image: python:3.11 }', 'stages:'];
  for (let s = 0; s < 200; s++)
    lines.push(
      `  s${s}:`,
      '    matrix:',
      `      a: [${values}]`,
      `      b: [${values}]`,
      '    cmd: python3 sweep.py ${matrix.a} ${matrix.b}',
      `    outs: ["out/s${s}-\${matrix.a}-\${matrix.b}"]`,
    );
  return `${lines.join('\n')}\n`;
}

describe('mlpipe check on bombs and absurd sizes, in a 512 MB heap', () => {
  it('answers an alias bomb in a params file and in a model card with alias-expansion', () => {
    const dir = workspace({
      'params.yaml': `seed: 1\n${aliasBomb(10)}`,
      'mlpipe.yaml':
        'version: 1\ndefaults: { image: python:3.11 }\nstages:\n  train:\n    cmd: python3 train.py ${params.seed} ${params.l9}\n    metrics: [metrics.json]\nmodel: { card: modelcard.yaml }\n',
      'modelcard.yaml': `model: { name: m, version: 1.0.0, license: MIT }\n${aliasBomb(10, 'x-')}evaluation:\n  metrics: *l9\n`,
    });
    const result = checkAllFormats(dir);
    assert.equal(result.status, 1);
    const bombs = findings(result, 'alias-expansion');
    assert.ok(
      bombs.some((line) =>
        /^params\.yaml:11:\d+: error: Aliases in this file expand to [\d,]+ values \(an alias bomb\?\)/.test(line),
      ),
      result.stdout,
    );
    assert.ok(
      bombs.some((line) =>
        /^mlpipe\.yaml:1:1: warning: Aliases in params file 'params\.yaml' expand too far/.test(line),
      ),
      result.stdout,
    );
    assert.ok(
      bombs.some((line) => line.startsWith('modelcard.yaml:')),
      result.stdout,
    );
  });

  it('caps matrix variants pipeline-wide: 200 stages x 10,000 variants is one finding per matrix past the cap', () => {
    const dir = workspace({
      'mlpipe.yaml': matrixPipeline(),
      'sweep.pipeline.yaml': `version: 1\ndefaults: { image: python:3.11 }\nstages:\n  s:\n    matrix:\n${Array.from({ length: 8 }, (_, k) => `      k${k}: [${Array.from({ length: 1000 }, (_, i) => i).join(', ')}]\n`).join('')}    cmd: x\n`,
    });
    const result = checkAllFormats(dir);
    assert.equal(result.status, 1);
    const capped = findings(result, 'matrix-too-large');
    assert.equal(
      capped.filter((line) => line.startsWith('mlpipe.yaml:')).length,
      199,
      'the first matrix fits (10,000 variants), each later one does not',
    );
    assert.match(
      capped.find((line) => line.startsWith('mlpipe.yaml:'))!,
      new RegExp(
        `^mlpipe\\.yaml:12:7: error: The matrix of stage 's1' multiplies to 10,000 variants; all matrices of a pipeline together expand to at most ${MAX_VARIANTS.toLocaleString('en-US')}, and the matrices above it use all of them`,
      ),
    );
    assert.match(
      capped.find((line) => line.startsWith('sweep.pipeline.yaml:'))!,
      /stage 's' multiplies to 1,000,000,000,000,000,000,000,000 variants|stage 's' multiplies to more than 2\^53 variants/,
    );
  });

  it('refuses outputs that are .git, .mlpipe, under them, or the pipeline, its params or its card', () => {
    const dir = workspace({
      'conf/params.yaml': 'seed: 1\n',
      'modelcard.yaml': 'model: { name: m, version: 1.0.0, license: MIT }\n',
      'mlpipe.yaml': [
        'version: 1',
        'params: conf/params.yaml',
        'defaults: { image: python:3.11 }',
        'model: { card: modelcard.yaml }',
        'stages:',
        '  a:',
        '    cmd: echo',
        '    outs: [.git, .mlpipe, .git/hooks/pre-commit, .GIT/config, mlpipe.yaml, conf, modelcard.yaml, ./conf/params.yaml]',
        '  b:',
        '    matrix: { where: [.mlpipe, ok] }',
        '    cmd: echo',
        '    outs: ["${matrix.where}/cache"]',
        '',
      ].join('\n'),
    });
    const result = checkAllFormats(dir);
    assert.equal(result.status, 1);
    const reserved = findings(result, 'reserved-output');
    for (const [column, what] of [
      [12, 'Output .git is .git/, which git keeps to itself'],
      [18, 'Output .mlpipe is .mlpipe/, which mlpipe keeps to itself'],
      [27, 'Output .git/hooks/pre-commit lies inside .git/'],
      [50, 'Output .GIT/config lies inside .git/'],
      [63, 'Output mlpipe.yaml is the pipeline file itself'],
      [76, 'Output conf holds params file conf/params.yaml'],
      [82, 'Output modelcard.yaml is the model card modelcard.yaml'],
      [98, 'Output ./conf/params.yaml (conf/params.yaml for this stage) is params file conf/params.yaml'],
    ] as const) {
      assert.ok(
        reserved.some((line) => line.startsWith(`mlpipe.yaml:8:${column}: error: ${what}`)),
        `missing 8:${column} ${what}:\n${reserved.join('\n')}`,
      );
    }
    assert.ok(
      reserved.some((line) =>
        line.startsWith(
          'mlpipe.yaml:12:12: error: Output ${matrix.where}/cache (.mlpipe/cache for one variant) lies inside .mlpipe/',
        ),
      ),
      reserved.join('\n'),
    );
  });

  it('does not read a 100 MB params file, nor index 60,000 params or 10,000 levels of nesting', () => {
    const dir = workspace({
      'mlpipe.yaml':
        'version: 1\nparams: [huge/params.yaml, many.yaml, deep.yaml]\ndefaults: { image: python:3.11 }\nstages:\n  a:\n    cmd: echo ${params.k1}\n',
      'many.yaml': Array.from({ length: MAX_PARAM_ENTRIES + 10_000 }, (_, i) => `k${i}: ${i}`).join('\n'),
      'deep.yaml': `deep: ${'['.repeat(10_000)}${']'.repeat(10_000)}\nnested:\n${Array.from({ length: 2_000 }, (_, i) => `${' '.repeat(i + 1)}k${i}:`).join('\n')}\n`,
    });
    mkdirSync(join(dir, 'huge'));
    sparseFile(join(dir, 'huge/params.yaml'), `secret: ${decoy.secret}\n`, 100 * 1024 * 1024);
    const result = checkAllFormats(dir);
    assert.equal(result.status, 1);
    assert.match(
      findings(result, 'too-large').join('\n'),
      /^mlpipe\.yaml:2:\d+: warning: Params file 'huge\/params\.yaml' is not read: it is 100\.0 MB, over the 4\.0 MB limit/m,
    );
    assert.match(
      findings(result, 'too-many-params').join('\n'),
      new RegExp(
        `^mlpipe\\.yaml:2:\\d+: warning: Params file 'many\\.yaml' holds more than ${MAX_PARAM_ENTRIES.toLocaleString('en-US')} params`,
        'm',
      ),
    );
    assert.ok(
      findings(result, 'too-deep').some((line) => line.startsWith('deep.yaml:')),
      result.stdout,
    );
  });
});

describe('the language server on the same input, in a 512 MB heap', () => {
  let client: LspClient;
  let dir: string;

  before(async () => {
    dir = workspace({
      'bomb/params.yaml': `seed: 1\n${aliasBomb(10)}`,
      'bomb/mlpipe.yaml':
        'version: 1\ndefaults: { image: python:3.11 }\nstages:\n  train:\n    cmd: python3 train.py ${params.seed} ${params.l9}\n',
      'card/modelcard.yaml': `model: { name: m, version: 1.0.0, license: MIT }\n${aliasBomb(10, 'x-')}evaluation:\n  metrics: *l9\n`,
      'matrix/mlpipe.yaml': matrixPipeline(),
      'linked/mlpipe.yaml':
        'version: 1\ndefaults: { image: python:3.11 }\nstages:\n  train:\n    cmd: python3 train.py --auth ${params.auths}\n    resources: { memory: "${params.auths}" }\n',
      'reserved/mlpipe.yaml':
        'version: 1\ndefaults: { image: python:3.11 }\nstages:\n  train:\n    cmd: python3 train.py\n    outs: [.git, mlpipe.yaml]\n',
      'huge/mlpipe.yaml':
        'version: 1\ndefaults: { image: python:3.11 }\nstages:\n  train:\n    cmd: python3 train.py ${params.seed}\n',
    });
    symlinkSync(join(decoy.dir, 'config.json'), join(dir, 'linked/params.yaml'));
    sparseFile(join(dir, 'huge/params.yaml'), 'seed: 1\n', 100 * 1024 * 1024);
    const server = bundledServer(ROOT);
    client = new LspClient({ ...server, args: [HEAP, ...server.args] });
    await client.initialize(dir);
  });

  after(async () => {
    await client.shutdown();
  });

  const codes = (diagnostics: Diagnostic[]) => diagnostics.map((d) => String(d.code));
  const noSecret = (diagnostics: Diagnostic[]) => {
    for (const diagnostic of diagnostics)
      assert.ok(!JSON.stringify(diagnostic).includes(decoy.secret), messageOf(diagnostic));
  };

  /** Hover and completion in the middle of the document still answer. */
  async function answers(uri: string, needle: string): Promise<void> {
    const position = client.positionOf(uri, needle);
    await client.request('textDocument/hover', { textDocument: { uri }, position });
    assert.ok(Array.isArray(await client.complete(uri, position)));
  }

  it('reports a params file linked outside on the pipeline, and hover shows nothing of it', async () => {
    const path = join(dir, 'linked/mlpipe.yaml');
    const published = await client.open(path, 'mlpipe-pipeline');
    noSecret(published.diagnostics);
    assert.deepEqual(codes(published.diagnostics), ['link-outside-workspace'], JSON.stringify(published.diagnostics));
    assert.match(
      messageOf(published.diagnostics[0]),
      /Params file 'params\.yaml' is not read: params\.yaml is a symbolic link/,
    );
    const hover = await client.request<{ contents: { value: string } } | null>('textDocument/hover', {
      textDocument: { uri: published.uri },
      position: client.positionOf(published.uri, 'auths', 0, 2),
    });
    assert.ok(!JSON.stringify(hover ?? '').includes(decoy.secret));
    await answers(published.uri, 'memory');
  });

  it('answers an alias bomb in a params file, on the params file and on the pipeline', async () => {
    const pipeline = await client.open(join(dir, 'bomb/mlpipe.yaml'), 'mlpipe-pipeline');
    assert.ok(codes(pipeline.diagnostics).includes('alias-expansion'), JSON.stringify(pipeline.diagnostics));
    const params = await client.open(join(dir, 'bomb/params.yaml'), 'yaml');
    assert.ok(codes(params.diagnostics).includes('alias-expansion'), JSON.stringify(params.diagnostics));
    await answers(pipeline.uri, 'params.seed');
  });

  it('answers an alias bomb in a model card', async () => {
    const card = await client.open(join(dir, 'card/modelcard.yaml'), 'mlpipe-modelcard');
    assert.ok(codes(card.diagnostics).includes('alias-expansion'), JSON.stringify(card.diagnostics));
    await answers(card.uri, 'metrics');
  });

  it('answers 200 stages x 10,000 variants with matrix-too-large, and keeps answering edits', async () => {
    const published = await client.open(join(dir, 'matrix/mlpipe.yaml'), 'mlpipe-pipeline');
    assert.equal(codes(published.diagnostics).filter((code) => code === 'matrix-too-large').length, 199);
    const start = client.positionOf(published.uri, 'python3 sweep.py');
    const edited = await client.edit(published.uri, start, start, ' ');
    assert.equal(codes(edited.diagnostics).filter((code) => code === 'matrix-too-large').length, 199);
    await answers(published.uri, 's100:');
  });

  it('reports reserved outputs, with completion and hover unaffected', async () => {
    const published = await client.open(join(dir, 'reserved/mlpipe.yaml'), 'mlpipe-pipeline');
    assert.deepEqual(codes(published.diagnostics), ['reserved-output', 'reserved-output']);
    const items = await client.complete(published.uri, client.positionOf(published.uri, '    outs', 0, 4));
    assert.ok(
      items.some((item) => item.label === 'deps'),
      items.map((item) => item.label).join(', '),
    );
    await answers(published.uri, 'train');
  });

  it('does not read a 100 MB params file from disk: one too-large finding on the pipeline', async () => {
    const published = await client.open(join(dir, 'huge/mlpipe.yaml'), 'mlpipe-pipeline');
    assert.deepEqual(codes(published.diagnostics), ['too-large'], JSON.stringify(published.diagnostics));
    assert.match(
      messageOf(published.diagnostics[0]),
      /^Params file 'params\.yaml' is not read: it is 100\.0 MB, over the 4\.0 MB limit/,
    );
    await answers(published.uri, 'params.seed');
  });

  it('is still alive', () => {
    assert.ok(client.alive, client.stderr.join(''));
  });
});
