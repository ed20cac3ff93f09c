import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../core/src/cli/main';
import { nodeFileHost } from '../../core/src/workspace/file-host';
import { makeDecoy, type Decoy } from '../support/decoy';
import { mlpipe } from '../support/mlpipe-cli';
import { pick, seeded } from '../support/random';

/**
 * `.mlpipe/` is input: a cloned repository can carry it and, before this issue, any local container
 * could write it. Crafted cache entries, records, last results, locks, plans and links inside it
 * must never make `checkout`, `runs gc`, `runs delete`, `cancel` or `status` read, write or delete
 * outside the workspace, print a secret, or crash.
 */

const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const RUN = '20261204-101010-123-abcd';
const MODEL = 'the trained model\n';
const KEY = sha('the cache key');

interface Files {
  [path: string]: unknown;
}

/** A valid workspace state as the runner writes it: one succeeded run of `train`, its cache entry, object and last result. */
function validState(dir: string): Files {
  const hash = sha(MODEL);
  const outputs = { 'models/model.bin': { kind: 'file', hash, size: MODEL.length } };
  const inputs = {
    command: 'train',
    image: sha('image'),
    params: {},
    deps: {},
    env: {},
    resources: {},
    workdir: '',
    network: 'none',
  };
  return {
    [`.mlpipe/runs/${RUN}/run.json`]: {
      version: 1,
      id: RUN,
      pipeline: 'mlpipe.yaml',
      workspace: dir,
      status: 'succeeded',
      target: { stages: [], upstream: false, force: false },
      started: '2026-12-04T10:10:10.123Z',
      ended: '2026-12-04T10:10:20.000Z',
      pid: 999_999,
      host: hostname(),
      params: {},
      stages: [
        {
          name: 'train',
          stage: 'train',
          matrix: {},
          status: 'succeeded',
          host: 'local',
          image: 'localhost/x:1',
          command: 'train',
          key: KEY,
          attempts: 1,
          params: {},
          deps: {},
          outputs: { 'models/model.bin': hash },
          metrics: {},
          log: 'logs/train.log',
        },
      ],
    },
    [`.mlpipe/cache/stages/${KEY.slice(7)}.json`]: {
      version: 1,
      key: KEY,
      stage: 'train',
      run: RUN,
      created: '2026-12-04T10:10:20.000Z',
      outputs,
      inputs,
    },
    [`.mlpipe/last/train.json`]: {
      version: 1,
      key: KEY,
      inputs,
      outputs: { 'models/model.bin': hash },
      run: RUN,
      ended: '2026-12-04T10:10:20.000Z',
    },
    [`.mlpipe/cache/objects/${hash.slice(7, 9)}/${hash.slice(9)}`]: MODEL,
  };
}

function write(dir: string, files: Files): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), typeof content === 'string' ? content : JSON.stringify(content));
  }
}

function makeWorkspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-hostile-meta-'));
  writeFileSync(
    join(dir, 'mlpipe.yaml'),
    'version: 1\ndefaults: { image: localhost/x:1 }\nstages:\n  train:\n    cmd: train\n    outs: [models/model.bin]\n',
  );
  write(dir, validState(dir));
  return dir;
}

/** Runs the CLI in this process; a thrown error is an internal error (a bug), which the tests forbid. */
async function cli(args: string[], cwd: string): Promise<{ code: number; output: string }> {
  let output = '';
  const io = { cwd, stdout: (text: string) => void (output += text), stderr: (text: string) => void (output += text) };
  const code = await main(args, io, nodeFileHost);
  return { code, output };
}

describe('crafted .mlpipe metadata', () => {
  let decoy: Decoy;
  let pristine: string;
  const dirs: string[] = [];
  const fresh = () => {
    const dir = makeWorkspace();
    dirs.push(dir);
    return dir;
  };
  before(() => {
    decoy = makeDecoy();
    pristine = decoy.fingerprint();
  });
  after(() => {
    decoy.cleanup();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const untouched = (output: string) => {
    assert.equal(decoy.fingerprint(), pristine, 'nothing outside the workspace changed');
    assert.ok(!output.includes(decoy.secret), 'no secret printed');
  };

  it('restores a valid state (the baseline the attacks start from)', async () => {
    const dir = fresh();
    const result = await cli(['checkout', RUN], dir);
    assert.equal(result.code, 0, result.output);
    assert.equal(readFileSync(join(dir, 'models', 'model.bin'), 'utf8'), MODEL);
  });

  it('refuses cache entries and records whose paths or hashes climb out', async () => {
    const climbs = relative(fresh(), join(decoy.folder, 'a.txt'));
    const hostile: [string, (files: Files) => void][] = [
      [
        'an output key ../..',
        (files) =>
          ((files[`.mlpipe/cache/stages/${KEY.slice(7)}.json`] as { outputs: Files }).outputs = {
            [climbs]: { kind: 'file', hash: sha(MODEL), size: 1 },
          }),
      ],
      [
        'an absolute output key',
        (files) =>
          ((files[`.mlpipe/cache/stages/${KEY.slice(7)}.json`] as { outputs: Files }).outputs = {
            [join(decoy.folder, 'a.txt')]: { kind: 'file', hash: sha(MODEL), size: 1 },
          }),
      ],
      [
        'a hash sha256:../..',
        (files) =>
          ((files[`.mlpipe/cache/stages/${KEY.slice(7)}.json`] as { outputs: Files }).outputs = {
            'models/model.bin': { kind: 'file', hash: `sha256:../../../../../../${decoy.secretFile}`, size: 1 },
          }),
      ],
      [
        'a folder file name ../..',
        (files) =>
          ((files[`.mlpipe/cache/stages/${KEY.slice(7)}.json`] as { outputs: Files }).outputs = {
            models: { kind: 'dir', hash: sha('x'), size: 1, files: { [`../${climbs}`]: sha(MODEL) } },
          }),
      ],
      [
        'an output under .git',
        (files) =>
          ((files[`.mlpipe/cache/stages/${KEY.slice(7)}.json`] as { outputs: Files }).outputs = {
            '.git/config': { kind: 'file', hash: sha(MODEL), size: 1 },
          }),
      ],
    ];
    for (const [what, mutate] of hostile) {
      const dir = fresh();
      const files = validState(dir);
      mutate(files);
      write(dir, files);
      mkdirSync(join(dir, '.git'));
      writeFileSync(join(dir, '.git', 'config'), '[core]\n');
      const result = await cli(['checkout', RUN], dir);
      assert.equal(result.code, 1, `${what}: ${result.output}`);
      assert.match(result.output, /cache no longer holds train/, what);
      assert.equal(readFileSync(join(dir, '.git', 'config'), 'utf8'), '[core]\n', what);
      untouched(result.output);
      const gc = await cli(['runs', 'gc', '--keep', '0'], dir);
      assert.ok([0, 1].includes(gc.code), `${what}: ${gc.output}`);
      untouched(gc.output);
    }
  });

  it('never copies a host file a planted object link points at', async () => {
    const dir = fresh();
    const hash = sha(MODEL);
    const object = join(dir, '.mlpipe', 'cache', 'objects', hash.slice(7, 9), hash.slice(9));
    rmSync(object);
    symlinkSync(decoy.secretFile, object);
    const result = await cli(['checkout', RUN], dir);
    assert.notEqual(result.code, 0);
    assert.ok(
      !existsSync(join(dir, 'models', 'model.bin')) ||
        !readFileSync(join(dir, 'models', 'model.bin'), 'utf8').includes(decoy.secret),
    );
    untouched(result.output);
    // A folder of objects that is a link: the same.
    rmSync(dirname(object), { recursive: true });
    symlinkSync(decoy.dir, dirname(object));
    const again = await cli(['checkout', RUN], dir);
    assert.notEqual(again.code, 0);
    untouched(again.output);
  });

  it('refuses .mlpipe folders that are links, for every command', async () => {
    for (const part of ['.mlpipe', '.mlpipe/runs', '.mlpipe/cache', '.mlpipe/locks', '.mlpipe/last', '.mlpipe/store']) {
      const dir = fresh();
      rmSync(join(dir, part), { recursive: true, force: true });
      symlinkSync(decoy.folder, join(dir, part));
      for (const args of [
        ['checkout', RUN],
        ['runs', 'gc', '--keep', '0'],
        ['runs', 'delete', RUN],
        ['cancel'],
        ['status'],
        ['runs', 'reindex'],
      ]) {
        const result = await cli(args, dir);
        untouched(`${part} ${args.join(' ')}: ${result.output}`);
      }
    }
  });

  it('never signals a process a planted lock names', async () => {
    const dir = fresh();
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      mkdirSync(join(dir, '.mlpipe', 'locks'), { recursive: true });
      const run = '20261204-101010-999-beef';
      writeFileSync(
        join(dir, '.mlpipe', 'locks', `${run}.json`),
        JSON.stringify({
          run,
          pid: sleeper.pid,
          hostname: hostname(),
          started: new Date().toISOString(),
          outputs: ['x'],
          signal: true,
          processStart: '1',
        }),
      );
      const result = await cli(['cancel'], dir);
      assert.equal(result.code, 0, result.output);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(sleeper.exitCode, null, 'the process is still running');
      assert.equal(sleeper.signalCode, null, 'and was not signalled');
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('takes the run lock atomically: two racing processes never both hold overlapping locks', async () => {
    const dir = fresh();
    const locks = join(dir, '.mlpipe', 'locks');
    mkdirSync(locks, { recursive: true });
    // Each worker takes and releases the lock as fast as it can and counts the times it saw the other's lock while holding its own.
    const worker = `
      const { acquireLock, activeLocks } = require(${JSON.stringify(join(__dirname, '..', '..', 'core', 'src', 'runs', 'run-lock.ts'))});
      const { hostname } = require('node:os');
      let held = 0, both = 0;
      for (let i = 0; i < 1500; i++) {
        const run = '20261204-101010-' + String(i % 1000).padStart(3, '0') + '-' + (process.argv[1] === 'a' ? 'aaaa' : 'bbbb');
        let release;
        try { release = acquireLock(${JSON.stringify(locks)}, { run, pid: process.pid, hostname: hostname(), started: '', outputs: ['model.bin'] }); } catch { continue; }
        held++;
        if (activeLocks(${JSON.stringify(locks)}).length > 1) both++;
        release();
      }
      console.log(JSON.stringify({ held, both }));
    `;
    const start = (name: string) =>
      new Promise<{ held: number; both: number }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '-e', worker, name], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.on('exit', (code) =>
          code === 0
            ? resolve(JSON.parse(out) as { held: number; both: number })
            : reject(new Error(`worker exited ${code}`)),
        );
      });
    const [a, b] = await Promise.all([start('a'), start('b')]);
    assert.ok(a.held + b.held > 100, `the lock was taken (${a.held} + ${b.held})`);
    assert.equal(a.both + b.both, 0, `two holders at once: ${a.both + b.both} times`);
  });

  it('survives a seeded fuzz of every .mlpipe file with nothing outside touched and no crash', async () => {
    const random = seeded(20261204);
    const dir = fresh();
    const climbs = relative(dir, join(decoy.folder, 'a.txt'));
    const hostileValues: unknown[] = [
      climbs,
      `../${climbs}`,
      join(decoy.folder, 'a.txt'),
      decoy.secretFile,
      `sha256:../../${climbs}`,
      '',
      '.',
      '..',
      '/',
      null,
      true,
      0,
      -1,
      1e308,
      [],
      {},
      '\u0000',
      'a'.repeat(5000),
      { __proto__: { polluted: 1 } },
      RUN,
      KEY,
      '.git',
      '.mlpipe/cache',
      'models/../../..',
    ];
    const mutate = (value: unknown, depth: number): unknown => {
      if (depth > 6 || random() < 0.15) return pick(random, hostileValues);
      if (Array.isArray(value)) return value.map((item) => mutate(item, depth + 1));
      if (value && typeof value === 'object') {
        const out: Record<string, unknown> = {};
        for (const [key, child] of Object.entries(value))
          out[random() < 0.1 ? String(pick(random, hostileValues)) : key] = mutate(child, depth + 1);
        return out;
      }
      return random() < 0.3 ? pick(random, hostileValues) : value;
    };
    const commands = [
      ['checkout', RUN],
      ['status'],
      ['runs', 'list'],
      ['runs', 'show', RUN],
      ['runs', 'gc', '--keep', '0'],
      ['runs', 'delete', RUN],
      ['cancel'],
      ['runs', 'reindex'],
    ];
    for (let round = 0; round < 150; round++) {
      rmSync(join(dir, '.mlpipe'), { recursive: true, force: true });
      rmSync(join(dir, 'models'), { recursive: true, force: true });
      const files = validState(dir);
      for (const path of Object.keys(files)) if (typeof files[path] !== 'string') files[path] = mutate(files[path], 0);
      if (random() < 0.3)
        files['.mlpipe/state.json'] = mutate(
          { version: 1, files: { [join(dir, 'models/model.bin')]: { size: 1, mtimeMs: 1, ino: 1, hash: sha(MODEL) } } },
          0,
        );
      if (random() < 0.3)
        files[`.mlpipe/locks/${RUN}.json`] = mutate(
          { run: RUN, pid: process.pid, hostname: hostname(), started: '', outputs: ['models'] },
          0,
        );
      if (random() < 0.3)
        files['.mlpipe/plans/mlpipe.yaml.json'] = mutate(
          {
            format: 1,
            build: 'x',
            inputs: {},
            stages: [{ name: 'train', outputs: [{ path: climbs }] }],
            hosts: {},
            paramsFiles: [],
          },
          0,
        );
      if (random() < 0.3)
        files['.mlpipe/store/index.jsonl'] =
          `${JSON.stringify(mutate({ op: 'run', summary: { v: 1, id: RUN, pipeline: 'mlpipe.yaml', status: 'succeeded', started: '', params: {}, metrics: {}, stages: {}, series: [] } }, 0))}\n`;
      write(dir, files);
      const command = pick(random, commands);
      let result: { code: number; output: string };
      try {
        result = await cli(command, dir);
      } catch (error) {
        assert.fail(`round ${round}, mlpipe ${command.join(' ')}: internal error ${(error as Error).stack}`);
      }
      assert.ok([0, 1, 2].includes(result.code), `round ${round}: exit ${result.code}`);
      untouched(`round ${round} ${command.join(' ')}: ${result.output}`);
      assert.ok(
        readdirSync(dir).every((name) => ['mlpipe.yaml', '.mlpipe', 'models'].includes(name)),
        `round ${round}: nothing written beside the workspace's own files: ${readdirSync(dir).join(', ')}`,
      );
    }
  });

  it('answers status and dag when a folder or a link out stands where the hash state goes', async () => {
    for (const plant of ['folder', 'link'] as const) {
      const dir = fresh();
      rmSync(join(dir, '.mlpipe', 'state.json'), { recursive: true, force: true });
      if (plant === 'folder') mkdirSync(join(dir, '.mlpipe', 'state.json'));
      else symlinkSync(decoy.secretFile, join(dir, '.mlpipe', 'state.json'));
      for (const command of [['status'], ['dag', '--format', 'json']]) {
        const result = await cli(command, dir);
        assert.equal(result.code, 0, `${plant}, mlpipe ${command.join(' ')}: ${result.output}`);
        assert.doesNotMatch(result.output, /internal error|EISDIR/);
        untouched(result.output);
      }
    }
  });

  it('keeps the CLI clean end to end on a damaged cache (bundled CLI, as CI runs it)', () => {
    const dir = fresh();
    write(dir, {
      [`.mlpipe/cache/stages/${KEY.slice(7)}.json`]:
        '{"version": 1, "key": "' + KEY + '", "outputs": {"../../../etc": {"kind": "dir"',
    });
    const result = mlpipe(['checkout', RUN], dir);
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(result.stderr, /cache no longer holds train/);
    assert.doesNotMatch(result.stderr, /internal error/);
  });
});
