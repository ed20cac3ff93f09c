import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MlpipeDir } from '../../core/src/runs/records';
import { ContentStore } from '../../core/src/runs/content-cache';
import { Boundary } from '../../core/src/util/boundary';
import { makeDecoy, type Decoy } from '../support/decoy';
import { ROOT } from '../support/files';
import { fakeRecord } from '../support/store-fixtures';

/**
 * What a red-team review of the boundary found (ADR 0011), each reproduced as it was reported:
 * links in `.mlpipe/registry` and `.mlpipe/tracking`, a plan cache carrying other commands, links
 * to /dev/zero and FIFOs where mlpipe reads, `.GIT` spelt in another case, and folders swapped for
 * links while mlpipe writes or removes below them.
 */

const CLI = join(ROOT, 'dist/cli.js');
const model = Buffer.from('weights');
const digest = `sha256:${createHash('sha256').update(model).digest('hex')}`;
const RUN = '20260501-100000-000-aaa0';

interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** The bundled CLI in a 256 MB heap with a 60 s limit: a read of /dev/zero or a FIFO fails the test by memory or by time. */
function mlpipe(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--max-old-space-size=256', CLI, ...args], {
      cwd,
      env: { ...process.env, HOME: cwd, XDG_CONFIG_HOME: join(cwd, '.config-home'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, output });
    });
  });
}

/** An approved run of a pipeline with its model cached, as release-cli.test.ts builds it. */
function approvedWorkspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-redteam-'));
  mkdirSync(join(dir, 'cards'));
  writeFileSync(
    join(dir, 'mlpipe.yaml'),
    'version: 1\nname: churn\nstages: {}\nmodel:\n  card: cards/churn.yaml\n  artifact: models/model.bin\n',
  );
  writeFileSync(
    join(dir, 'cards/churn.yaml'),
    `model: { name: churn, version: 1.0.0 }\napproval:\n  status: approved\n  by: Ada\n  at: 2026-05-01T10:00:00Z\n  run: ${RUN}\n  artifact_digest: ${digest}\n`,
  );
  const cache = new ContentStore(join(dir, '.mlpipe', 'cache'));
  mkdirSync(join(dir, 'models'));
  writeFileSync(join(dir, 'models/model.bin'), model);
  cache.put(join(dir, 'models/model.bin'), { kind: 'file', hash: digest, size: model.length });
  const record = fakeRecord(RUN, dir, { started: '2026-05-01T10:00:00.000Z', key: `sha256:${'0'.repeat(64)}` });
  record.stages[0].outputs = { 'models/model.bin': digest };
  new MlpipeDir(join(dir, '.mlpipe')).writeRecord(record);
  cache.saveEntry({
    version: 1,
    key: `sha256:${'0'.repeat(64)}`,
    stage: 'train',
    run: RUN,
    created: '',
    outputs: { 'models/model.bin': { kind: 'file', hash: digest, size: model.length } },
  });
  return dir;
}

describe("the red team's findings, reproduced", () => {
  let decoy: Decoy;
  let pristine: string;
  const dirs: string[] = [];
  const fresh = () => {
    const dir = approvedWorkspace();
    dirs.push(dir);
    return dir;
  };
  const clean = (result: Result, what: string) => {
    assert.equal(
      result.signal,
      null,
      `${what}: killed (${result.signal}): a hang or the heap ran out\n${result.output}`,
    );
    assert.doesNotMatch(result.output, /internal error|\n\s+at /, `${what}: ${result.output}`);
    assert.ok(!result.output.includes(decoy.secret.slice(0, 8)), `${what}: a secret (or its start) was printed`);
    assert.equal(decoy.fingerprint(), pristine, `${what}: something outside the workspace changed`);
  };
  before(() => {
    decoy = makeDecoy();
    pristine = decoy.fingerprint();
  });
  after(() => {
    decoy.cleanup();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('pushes to the local layout never through a committed .mlpipe/registry link, nor quotes a linked index', async () => {
    const dir = fresh();
    symlinkSync(decoy.folder, join(dir, '.mlpipe', 'registry'));
    const linked = await mlpipe(['push'], dir);
    assert.notEqual(linked.status, 0, linked.output);
    assert.match(linked.output, /\.mlpipe\/registry is not a real folder/, linked.output);
    clean(linked, 'registry link');
    rmSync(join(dir, '.mlpipe', 'registry'));
    symlinkSync(join(decoy.dir, 'nowhere'), join(dir, '.mlpipe', 'registry'));
    clean(await mlpipe(['push'], dir), 'dangling registry link');
    rmSync(join(dir, '.mlpipe', 'registry'));
    mkdirSync(join(dir, '.mlpipe', 'registry'));
    symlinkSync(decoy.secretFile, join(dir, '.mlpipe', 'registry', 'index.json'));
    const index = await mlpipe(['push'], dir);
    assert.notEqual(index.status, 0);
    clean(index, 'linked index.json');
  });

  it('sends to MLflow never writing through a .mlpipe/tracking link', async () => {
    const dir = fresh();
    mkdirSync(join(dir, '.mlpipe'), { recursive: true });
    symlinkSync(decoy.folder, join(dir, '.mlpipe', 'tracking'));
    const result = await mlpipe(['runs', 'sync'], dir, { MLFLOW_TRACKING_URI: 'http://127.0.0.1:9' });
    clean(result, 'tracking link');
    assert.deepEqual(readdirSync(decoy.folder).sort(), ['a.txt', 'nested']);
  });

  it('believes a plan cache only when this machine signed it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-redteam-plan-'));
    dirs.push(dir);
    writeFileSync(
      join(dir, 'mlpipe.yaml'),
      'version: 1\ndefaults: { image: localhost/x:1 }\nstages:\n  train:\n    cmd: echo benign\n    outs: [o.txt]\n',
    );
    const first = await mlpipe(['status', '--format', 'json'], dir);
    assert.equal(first.status, 0, first.output);
    const planFile = join(dir, '.mlpipe', 'plans', 'mlpipe.yaml.json');
    const [mac, ...rest] = readFileSync(planFile, 'utf8').split('\n');
    assert.match(mac, /^[0-9a-f]{64}$/, 'the cache is signed');
    // A repository carrying a plan with another stage (and another command): with the old signature, and with none.
    const plan = JSON.parse(rest.join('\n')) as { stages: { name: string; command: { argv: string[] } }[] };
    plan.stages.push({
      ...plan.stages[0],
      name: 'injected',
      command: { ...plan.stages[0].command, argv: ['sh', '-c', 'curl evil'] },
    });
    for (const tampered of [`${mac}\n${JSON.stringify(plan)}`, JSON.stringify(plan)]) {
      writeFileSync(planFile, tampered);
      const status = await mlpipe(['status', '--format', 'json'], dir);
      assert.equal(status.status, 0, status.output);
      assert.deepEqual(
        (JSON.parse(status.output) as { stages: { name: string }[] }).stages.map((stage) => stage.name),
        ['train'],
        'the plan comes from mlpipe.yaml',
      );
    }
  });

  it('answers links to /dev/zero and FIFOs where it reads with an error, in bounded memory and time', async () => {
    const cases: [string, (dir: string) => void, string[], NodeJS.ProcessEnv?][] = [
      [
        'last result',
        (dir) => (
          mkdirSync(join(dir, '.mlpipe', 'last'), { recursive: true }),
          symlinkSync('/dev/zero', join(dir, '.mlpipe', 'last', 'train.json'))
        ),
        ['runs', 'gc', '--keep', '0'],
      ],
      [
        'run lock',
        (dir) => (
          mkdirSync(join(dir, '.mlpipe', 'locks'), { recursive: true }),
          symlinkSync('/dev/zero', join(dir, '.mlpipe', 'locks', '20260501-100000-000-ffff.json'))
        ),
        ['cancel'],
      ],
      [
        'run lock (gc)',
        (dir) => (
          mkdirSync(join(dir, '.mlpipe', 'locks'), { recursive: true }),
          symlinkSync('/dev/zero', join(dir, '.mlpipe', 'locks', '20260501-100000-000-ffff.json'))
        ),
        ['runs', 'gc'],
      ],
      [
        'index lock',
        (dir) => (
          mkdirSync(join(dir, '.mlpipe', 'store'), { recursive: true }),
          symlinkSync('/dev/zero', join(dir, '.mlpipe', 'store', 'index.lock'))
        ),
        ['runs', 'tag', RUN, 'team=x'],
      ],
      [
        'tracking status',
        (dir) => (
          mkdirSync(join(dir, '.mlpipe', 'tracking'), { recursive: true }),
          symlinkSync('/dev/zero', join(dir, '.mlpipe', 'tracking', 'status.json'))
        ),
        ['runs', 'sync'],
        { MLFLOW_TRACKING_URI: 'http://127.0.0.1:9' },
      ],
      [
        'model card',
        (dir) => (rmSync(join(dir, 'cards', 'churn.yaml')), symlinkSync('/dev/zero', join(dir, 'cards', 'churn.yaml'))),
        ['runs', 'gc', '--keep', '0'],
      ],
      [
        'pipeline (drift)',
        (dir) => (rmSync(join(dir, 'mlpipe.yaml')), symlinkSync('/dev/zero', join(dir, 'mlpipe.yaml'))),
        ['drift'],
      ],
      [
        'pipeline (gc)',
        (dir) => (rmSync(join(dir, 'mlpipe.yaml')), symlinkSync('/dev/zero', join(dir, 'mlpipe.yaml'))),
        ['runs', 'gc'],
      ],
      [
        'TLS material',
        (dir) =>
          writeFileSync(
            join(dir, 'mlpipe.yaml'),
            'version: 1\nhosts:\n  far: { docker: "tcp://127.0.0.1:9", tls: { ca: /dev/zero } }\ndefaults: { image: localhost/x:1, host: far }\nstages:\n  train:\n    cmd: echo\n    outs: [o.txt]\n',
          ),
        ['status'],
      ],
      [
        'a FIFO as the artifact',
        (dir) => (rmSync(join(dir, 'models', 'model.bin')), spawnSync('mkfifo', [join(dir, 'models', 'model.bin')])),
        ['gate'],
      ],
    ];
    for (const [what, plant, args, env] of cases) {
      const dir = fresh();
      plant(dir);
      const result = await mlpipe(args, dir, env);
      clean(result, what);
    }
  });

  it('never restores into .GIT, .git. or GIT~1 (the same folder on a case-insensitive disk)', async () => {
    for (const spelt of [
      '.GIT/hooks/post-checkout',
      '.git./hooks/post-checkout',
      'GIT~1/hooks/post-checkout',
      '.VSCode/tasks.json',
    ]) {
      const dir = fresh();
      const key = `sha256:${'0'.repeat(64)}`;
      const record = fakeRecord(RUN, dir, { started: '2026-05-01T10:00:00.000Z', key });
      record.stages[0].outputs = { [spelt]: digest };
      writeFileSync(join(dir, '.mlpipe', 'runs', RUN, 'run.json'), JSON.stringify(record));
      writeFileSync(
        join(dir, '.mlpipe', 'cache', 'stages', `${'0'.repeat(64)}.json`),
        JSON.stringify({
          version: 1,
          key,
          stage: 'train',
          run: RUN,
          created: '',
          outputs: { [spelt]: { kind: 'file', hash: digest, size: model.length } },
        }),
      );
      const result = await mlpipe(['checkout', RUN], dir);
      assert.notEqual(result.status, 0, `${spelt}: ${result.output}`);
      assert.ok(!existsSync(join(dir, spelt.split('/')[0])), `${spelt}: nothing restored there`);
      clean(result, spelt);
    }
  });

  it('writes and removes through folders held open: a folder swapped for a link meanwhile changes nothing outside', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-redteam-anchor-'));
    dirs.push(dir);
    const boundary = new Boundary(dir, { trash: join(dir, '.mlpipe', 'trash') });
    // A write: the folder is opened, then (the race, made certain) swapped for a link to the decoy.
    mkdirSync(join(dir, 'd'));
    const anchored = boundary.openParent(join(dir, 'd', 'pwned.txt'), true)!;
    renameSync(join(dir, 'd'), join(dir, 'd-moved'));
    symlinkSync(decoy.folder, join(dir, 'd'));
    writeFileSync(anchored.path, 'payload', { flag: 'wx' });
    anchored.close();
    assert.ok(!existsSync(join(decoy.folder, 'pwned.txt')), 'nothing written in the decoy');
    assert.equal(
      readFileSync(join(dir, 'd-moved', 'pwned.txt'), 'utf8'),
      'payload',
      'the write went to the folder that was opened',
    );
    // A removal: `p/a.txt` with `p` swapped for a link to the decoy folder (which has an a.txt).
    mkdirSync(join(dir, 'p'));
    writeFileSync(join(dir, 'p', 'a.txt'), 'ours');
    const parent = boundary.openParent(join(dir, 'p', 'a.txt'), false)!;
    renameSync(join(dir, 'p'), join(dir, 'p-moved'));
    symlinkSync(decoy.folder, join(dir, 'p'));
    rmSync(parent.path, { force: true });
    parent.close();
    assert.equal(decoy.fingerprint(), pristine, 'the decoy kept its a.txt');
    assert.ok(!existsSync(join(dir, 'p-moved', 'a.txt')), 'ours was removed');
    // remove() moves a folder to .mlpipe/trash first: a link at the path is removed as a link.
    boundary.remove(join(dir, 'p'));
    assert.ok(!existsSync(join(dir, 'p')) && lstatSync(decoy.folder).isDirectory());
    assert.equal(decoy.fingerprint(), pristine);
    assert.throws(() => boundary.remove(join(dir, 'd', 'x')), /d is a symbolic link on the way/);
  });
});
