import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeDecoy, type Decoy } from '../support/decoy';
import { craftTar, startHostileEngine, type HostileEngine } from '../support/hostile-engine';
import { lastRecord, mlpipeAsync } from '../support/mlpipe-cli';

/**
 * A remote engine that answers `getArchive` of a stage's output with a hostile tar: a path out of
 * the output, an absolute name, a link to a host file, a device, garbage, a stream cut short. Each
 * must fail the stage cleanly (record written, lock released, container removed, exit 1, no
 * internal error) with nothing outside the workspace read or written.
 */
describe('a hostile remote engine answering with crafted archives', () => {
  let decoy: Decoy;
  let before_: string;
  const dirs: string[] = [];
  before(() => {
    decoy = makeDecoy();
    before_ = decoy.fingerprint();
  });
  after(() => {
    decoy.cleanup();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function runAgainst(
    archive: (workspace: string) => Promise<Buffer> | Buffer | 'cut' | 'garbage',
  ): Promise<{ dir: string; stdout: string; stderr: string; status: number | null; engine: HostileEngine }> {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-hostile-archive-'));
    dirs.push(dir);
    let engine: HostileEngine | undefined;
    engine = await startHostileEngine({
      archive: (path, response) => {
        void (async () => {
          if (path === '/tmp/.mlpipe-hashes') {
            response.writeHead(404, { 'Content-Type': 'application/json' });
            return response.end('{"message":"no such file"}');
          }
          const body = await archive(dir);
          if (body === 'garbage') {
            response.writeHead(200, { 'Content-Type': 'application/x-tar' });
            return response.end(
              Buffer.from('this is not a tar archive at all, but it is long enough to look like a header '.repeat(20)),
            );
          }
          if (body === 'cut') {
            const whole = await craftTar([
              { name: 'model.bin', type: 'file', mode: 0o644, body: Buffer.alloc(64 * 1024, 7) },
            ]);
            response.writeHead(200, { 'Content-Type': 'application/x-tar', 'Content-Length': String(whole.length) });
            response.write(whole.subarray(0, 10_000));
            setTimeout(() => response.destroy(), 50);
            return;
          }
          response.writeHead(200, { 'Content-Type': 'application/x-tar' });
          response.end(body);
        })();
      },
    });
    writeFileSync(
      join(dir, 'mlpipe.yaml'),
      `version: 1\nhosts:\n  evil: { docker: "${engine.address}" }\ndefaults: { image: localhost/hostile:1, host: evil }\nstages:\n  train:\n    cmd: train --now\n    outs: [models/model.bin]\n`,
    );
    // Not spawnSync: the engine answers from this very process.
    const result = await mlpipeAsync(['run'], dir, { HOME: dir, XDG_CONFIG_HOME: join(dir, '.config-home') }).done;
    await engine.stop();
    return { dir, ...result, engine };
  }

  function assertCleanFailure(run: Awaited<ReturnType<typeof runAgainst>>, message: RegExp): void {
    const output = run.stdout + run.stderr;
    assert.equal(run.status, 1, output);
    assert.doesNotMatch(output, /internal error|at [\w.]+ \(|node:internal/, 'no crash and no stack trace');
    assert.match(output, message);
    const record = lastRecord(run.dir);
    assert.equal(record.status, 'failed');
    assert.equal(record.stages[0].status, 'failed');
    const locks = join(run.dir, '.mlpipe', 'locks');
    assert.deepEqual(
      existsSync(locks) ? readdirSync(locks).filter((name) => name.endsWith('.json')) : [],
      [],
      'the run lock is released',
    );
    assert.ok(run.engine.removed.includes('hostile-container'), 'the container is removed');
    assert.equal(decoy.fingerprint(), before_, 'nothing outside the workspace changed');
    assert.ok(!output.includes(decoy.secret));
  }

  it('refuses an entry that climbs out of the output', async () => {
    const run = await runAgainst(async (workspace) => {
      const out = relative(join(workspace, 'models'), join(decoy.folder, 'pwned.txt'));
      return craftTar([
        { name: 'model.bin', type: 'directory', mode: 0o755 },
        { name: `model.bin/${out}`, type: 'file', mode: 0o644, body: 'pwned' },
      ]);
    });
    assertCleanFailure(run, /refusing archive entry .*points outside the output/);
    assert.ok(!existsSync(join(decoy.folder, 'pwned.txt')));
  });

  it('refuses an absolute entry name', async () => {
    const run = await runAgainst(() =>
      craftTar([{ name: join(decoy.folder, 'abs.txt'), type: 'file', mode: 0o644, body: 'pwned' }]),
    );
    assertCleanFailure(run, /refusing archive entry/);
  });

  it('refuses a symbolic link and a hard link to a host file', async () => {
    for (const type of ['symlink', 'link'] as const) {
      const run = await runAgainst(() =>
        craftTar([{ name: 'model.bin', type, linkname: decoy.secretFile, mode: 0o644 }]),
      );
      assertCleanFailure(run, /refusing archive entry model\.bin: outputs must be files and folders/);
    }
  });

  it('refuses a device entry', async () => {
    const run = await runAgainst(() =>
      craftTar([{ name: 'model.bin', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 }]),
    );
    assertCleanFailure(run, /refusing archive entry model\.bin/);
  });

  it("removes only its own machine's orphans from a shared engine", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-hostile-orphans-'));
    dirs.push(dir);
    const config = join(dir, '.config-home');
    mkdirSync(join(config, 'mlpipe'), { recursive: true });
    const ours = 'a'.repeat(32);
    writeFileSync(join(config, 'mlpipe', 'machine-id'), `${ours}\n`);
    // Another CI runner with the same workspace path, and a killed run of this machine.
    const labels = (machine: string | undefined, run: string) => ({
      'dev.mlpipe.workspace': dir,
      'dev.mlpipe.run': run,
      'dev.mlpipe.stage': 'train',
      ...(machine ? { 'dev.mlpipe.machine': machine } : {}),
    });
    const engine = await startHostileEngine({
      containers: [
        { Id: 'theirs', Labels: labels('b'.repeat(32), '20261204-000000-000-aaaa') },
        { Id: 'unlabelled-old', Labels: labels(undefined, '20261204-000000-000-bbbb') },
        { Id: 'our-orphan', Labels: labels(ours, '20261204-000000-000-cccc') },
      ],
      archive: (_path, response) => {
        response.writeHead(404, { 'Content-Type': 'application/json' });
        response.end('{"message":"none"}');
      },
    });
    writeFileSync(
      join(dir, 'mlpipe.yaml'),
      `version: 1\nhosts:\n  shared: { docker: "${engine.address}" }\ndefaults: { image: localhost/hostile:1, host: shared }\nstages:\n  train:\n    cmd: train\n    outs: [model.bin]\n`,
    );
    await mlpipeAsync(['run'], dir, { HOME: dir, XDG_CONFIG_HOME: config }).done;
    await engine.stop();
    assert.ok(engine.removed.includes('our-orphan'), `removed ${engine.removed.join(', ')}`);
    assert.ok(!engine.removed.includes('theirs'), "another machine's container stays");
    assert.ok(!engine.removed.includes('unlabelled-old'), 'a container with no machine label is not known to be ours');
  });

  it('never ships a file a committed link points at to a remote engine', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-hostile-ship-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'data'));
    symlinkSync(decoy.secretFile, join(dir, 'data', 'raw.csv'));
    mkdirSync(join(dir, 'inputs'));
    writeFileSync(join(dir, 'inputs', 'ok.csv'), 'a,b\n1,2\n');
    symlinkSync(decoy.folder, join(dir, 'inputs', 'linked-folder'));
    symlinkSync(join(decoy.dir, '.env'), join(dir, 'inputs', 'env.csv'));
    const engine = await startHostileEngine({ archive: (_path, response) => response.writeHead(404).end() });
    for (const dep of ['data/raw.csv', 'inputs']) {
      writeFileSync(
        join(dir, 'mlpipe.yaml'),
        `version: 1\nhosts:\n  remote: { docker: "${engine.address}" }\ndefaults: { image: localhost/hostile:1, host: remote }\nstages:\n  train:\n    cmd: train\n    deps: [${dep}]\n    outs: [model.bin]\n`,
      );
      const result = await mlpipeAsync(['run'], dir, { HOME: dir, XDG_CONFIG_HOME: join(dir, '.config-home') }).done;
      const output = result.stdout + result.stderr;
      assert.equal(result.status, 1, output);
      assert.match(output, /symbolic link .*leads outside the workspace/);
      assert.ok(!output.includes(decoy.secret));
    }
    await engine.stop();
    for (const upload of engine.uploads) assert.ok(!upload.includes(decoy.secret), 'the secret never left the machine');
    assert.equal(decoy.fingerprint(), before_);
  });

  it('fails cleanly on an archive that is not a tar, and on one cut short', async () => {
    assertCleanFailure(await runAgainst(() => 'garbage'), /output models\/model\.bin|archive|tar|header/i);
    assertCleanFailure(
      await runAgainst(() => 'cut'),
      /output models\/model\.bin|archive|aborted|closed|premature|socket|end/i,
    );
  });
});
