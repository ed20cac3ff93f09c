import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX_IMAGE, ensureImages } from '../../scripts/sample-image';
import { makeDecoy, type Decoy } from '../support/decoy';
import { enginesMissing, startDockerd, startPodman, within, type RunningEngine } from '../support/engines';
import { lastRecord, mlpipe } from '../support/mlpipe-cli';

const missing = enginesMissing();
if (missing && process.env.CI) throw new Error(`Hostile engine tests cannot run: ${missing}`);

/** Every file under a folder, with its content, for "the secret is nowhere in it". */
function contents(dir: string): string {
  if (!existsSync(dir)) return '';
  let all = '';
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, name);
    if (lstatSync(path).isFile()) all += readFileSync(path, 'latin1');
  }
  return all;
}

/**
 * A pipeline's own containers, on a real Docker Engine, trying to reach outside the workspace:
 * outputs left as links to host files, an output's folder replaced by a link, writes to .mlpipe
 * and .git, param values pasted into a nested shell. Each is refused and the decoy tree outside
 * the workspace is byte for byte the same afterwards.
 */
describe('a local stage trying to leave the workspace (real Docker Engine)', { skip: missing }, () => {
  let engine: RunningEngine;
  let decoy: Decoy;
  let pristine: string;
  const dirs: string[] = [];
  const env = () => ({ DOCKER_HOST: engine.address });
  const workspace = (pipeline: string, files: Record<string, string> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-hostile-local-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'mlpipe.yaml'), `version: 1\ndefaults: { image: ${BUSYBOX_IMAGE} }\n${pipeline}`);
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), content);
    }
    return dir;
  };
  const noSecretAnywhere = (dir: string, output: string) => {
    assert.ok(!output.includes(decoy.secret), 'the secret is not printed');
    assert.ok(
      !contents(join(dir, '.mlpipe')).includes(decoy.secret),
      'the secret is not in .mlpipe (cache, records, logs)',
    );
    assert.equal(decoy.fingerprint(), pristine, 'nothing outside the workspace changed');
  };

  before(async () => {
    engine = await startDockerd();
    await within(ensureImages(engine.docker, [BUSYBOX_IMAGE]), 120_000, 'importing busybox into Podman');
    decoy = makeDecoy();
    pristine = decoy.fingerprint();
  });
  after(async () => {
    await engine?.stop();
    decoy?.cleanup();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('fails a stage whose output is a link to a host file, and caches nothing', () => {
    const dir = workspace(
      `stages:\n  train:\n    cmd: sh -c "mkdir -p models && ln -sf ${decoy.secretFile} models/model.npz"\n    outs: [models/model.npz]\n  folder:\n    cmd: sh -c "mkdir -p out && echo fine > out/a.txt && ln -sf ${decoy.secretFile} out/key"\n    outs: [out]\n`,
    );
    const result = mlpipe(['run'], dir, env());
    const output = result.stdout + result.stderr;
    assert.equal(result.status, 1, output);
    assert.match(output, /models\/model\.npz is a symbolic link/);
    assert.match(output, /out\/key is a symbolic link/);
    const record = lastRecord(dir);
    assert.deepEqual(record.stages.map((stage) => `${stage.name} ${stage.status}`).sort(), [
      'folder failed',
      'train failed',
    ]);
    assert.deepEqual(
      existsSync(join(dir, '.mlpipe', 'cache', 'objects')) ? readdirSync(join(dir, '.mlpipe', 'cache', 'objects')) : [],
      [],
      'no object cached',
    );
    // status does not follow the link either
    const status = mlpipe(['status'], dir, env());
    assert.doesNotMatch(status.stdout + status.stderr, /internal error/);
    noSecretAnywhere(dir, output + status.stdout + status.stderr);
  });

  it('never removes or restores through an output folder a stage replaced with a link', () => {
    const dir = workspace(
      `stages:\n  train:\n    cmd: sh -c "mkdir -p models && echo model > models/a.txt"\n    outs: [models/a.txt]\n  swap:\n    cmd: sh -c "rm -rf models && ln -s ${decoy.folder} models && echo done > swapped.txt"\n    always_run: true\n    outs: [swapped.txt]\n`,
    );
    assert.equal(mlpipe(['run', 'train'], dir, env()).status, 0);
    const trained = lastRecord(dir).id;
    assert.equal(mlpipe(['run', 'swap'], dir, env()).status, 0);
    assert.ok(lstatSync(join(dir, 'models')).isSymbolicLink());
    // --force removes the output first: through the link it would delete the decoy's a.txt.
    const forced = mlpipe(['run', 'train', '--force'], dir, env());
    assert.equal(forced.status, 1, forced.stdout + forced.stderr);
    assert.match(forced.stdout + forced.stderr, /models is a symbolic link on the way to a path mlpipe writes/);
    // checkout restores from the cache: through the link it would write into the decoy.
    const checkout = mlpipe(['checkout', trained], dir, env());
    assert.notEqual(checkout.status, 0);
    assert.match(checkout.stdout + checkout.stderr, /models is a symbolic link/);
    assert.doesNotMatch(checkout.stdout + checkout.stderr, /internal error/);
    noSecretAnywhere(dir, forced.stdout + forced.stderr + checkout.stdout + checkout.stderr);
  });

  it('hides .mlpipe from stages and mounts .git and .vscode read-only', () => {
    const dir = workspace(
      `stages:\n  probe:\n    cmd: sh -c "ls -A .mlpipe > seen.txt; echo planted > .mlpipe/planted 2>/dev/null; echo '[core] fsmonitor = touch /tmp/pwned' >> .git/config 2>/dev/null; echo hook > .git/hooks/post-checkout 2>/dev/null; echo '{}' > .vscode/tasks.json 2>/dev/null; echo ok >> seen.txt"\n    outs: [seen.txt]\n`,
      {
        '.git/config': '[core]\n\tbare = false\n',
        '.git/HEAD': 'ref: refs/heads/main\n',
        '.vscode/settings.json': '{}\n',
      },
    );
    mkdirSync(join(dir, '.git', 'hooks'));
    const result = mlpipe(['run'], dir, env());
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.equal(readFileSync(join(dir, 'seen.txt'), 'utf8'), 'ok\n', 'the stage saw an empty .mlpipe');
    assert.ok(!existsSync(join(dir, '.mlpipe', 'planted')));
    assert.equal(readFileSync(join(dir, '.git', 'config'), 'utf8'), '[core]\n\tbare = false\n');
    assert.deepEqual(readdirSync(join(dir, '.git', 'hooks')), []);
    assert.ok(!existsSync(join(dir, '.vscode', 'tasks.json')));
  });

  it("refuses outputs that are .git, .mlpipe or the pipeline's own files, before anything runs", () => {
    for (const out of ['.git', '.mlpipe', '.mlpipe/cache', 'mlpipe.yaml', '.']) {
      const dir = workspace(`stages:\n  wipe:\n    cmd: sh -c "echo wiped"\n    outs: ["${out}"]\n`, {
        '.git/HEAD': 'ref: refs/heads/main\n',
      });
      const result = mlpipe(['run'], dir, env());
      assert.notEqual(result.status, 0, `${out}: ${result.stdout}${result.stderr}`);
      assert.doesNotMatch(result.stdout + result.stderr, /internal error/);
      assert.ok(existsSync(join(dir, '.git', 'HEAD')), `${out}: .git survives`);
      assert.ok(existsSync(join(dir, 'mlpipe.yaml')), `${out}: the pipeline survives`);
    }
  });

  it('passes a param into a nested sh -c as data, and refuses one pasted into inline code', () => {
    const value = '$(touch pwned-by-param); `touch pwned-too` \'"';
    const dir = workspace(
      `params: params.yaml\nstages:\n  echo:\n    cmd: sh -c "printf '%s' \${params.name} > out.txt"\n    outs: [out.txt]\n`,
      { 'params.yaml': `name: ${JSON.stringify(value)}\n` },
    );
    const result = mlpipe(['run'], dir, env());
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.equal(readFileSync(join(dir, 'out.txt'), 'utf8'), value);
    assert.ok(!existsSync(join(dir, 'pwned-by-param')) && !existsSync(join(dir, 'pwned-too')));
    writeFileSync(
      join(dir, 'mlpipe.yaml'),
      `version: 1\ndefaults: { image: ${BUSYBOX_IMAGE} }\nparams: params.yaml\nstages:\n  echo:\n    cmd: python3 -c "print(\${params.name})"\n    outs: [out.txt]\n`,
    );
    const refused = mlpipe(['run'], dir, env());
    assert.notEqual(refused.status, 0);
    assert.match(refused.stdout + refused.stderr, /sits inside code that python3 parses/);
  });

  it('refuses a workspace whose .mlpipe is a link elsewhere', () => {
    const dir = workspace(`stages:\n  train:\n    cmd: sh -c "echo x > o.txt"\n    outs: [o.txt]\n`);
    spawnSync('ln', ['-s', decoy.folder, join(dir, '.mlpipe')]);
    const result = mlpipe(['run'], dir, env());
    assert.notEqual(result.status, 0);
    assert.match(result.stdout + result.stderr, /\.mlpipe is not a real folder/);
    assert.equal(decoy.fingerprint(), pristine);
  });
});

describe('a local stage on Podman sees no .mlpipe and a read-only .git', { skip: missing }, () => {
  let engine: RunningEngine;
  let dir: string;
  before(async () => {
    engine = await startPodman();
    await within(ensureImages(engine.docker, [BUSYBOX_IMAGE]), 120_000, 'importing busybox into Podman');
    dir = mkdtempSync(join(tmpdir(), 'mlpipe-hostile-podman-'));
  });
  after(async () => {
    await engine?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hides .mlpipe (Podman would copy it into a tmpfs unless told not to) and keeps .git unchanged', () => {
    writeFileSync(
      join(dir, 'mlpipe.yaml'),
      `version: 1\ndefaults: { image: ${BUSYBOX_IMAGE} }\nstages:\n  probe:\n    cmd: sh -c "ls -A .mlpipe > seen.txt; echo planted > .mlpipe/planted 2>/dev/null; echo evil >> .git/config 2>/dev/null; echo ok >> seen.txt"\n    outs: [seen.txt]\n`,
    );
    mkdirSync(join(dir, '.git'));
    writeFileSync(join(dir, '.git', 'config'), '[core]\n');
    // Something in .mlpipe already, as after earlier runs: it must not be visible to the stage.
    mkdirSync(join(dir, '.mlpipe', 'cache'), { recursive: true });
    writeFileSync(join(dir, '.mlpipe', 'cache', 'secret-output'), 'from another run\n');
    const result = mlpipe(['run'], dir, { DOCKER_HOST: engine.address });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.equal(readFileSync(join(dir, 'seen.txt'), 'utf8'), 'ok\n');
    assert.ok(!existsSync(join(dir, '.mlpipe', 'planted')));
    assert.equal(readFileSync(join(dir, '.git', 'config'), 'utf8'), '[core]\n');
  });
});
