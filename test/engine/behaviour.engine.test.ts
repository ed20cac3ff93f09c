import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX_IMAGE, ensureImages } from '../../scripts/sample-image';
import { enginesMissing, mlpipeContainers, startDockerd, type RunningEngine } from '../support/engines';
import { ROOT } from '../support/files';
import { lastRecord, mlpipe, mlpipeAsync, statuses, until } from '../support/mlpipe-cli';

const missing = enginesMissing();
if (missing && process.env.CI) throw new Error(`Engine tests cannot run: ${missing}`);

/**
 * Polls an asynchronous `check` (the engine's containers) until it passes; fails naming `what`
 * after `timeoutMs`, or as soon as the run being waited on has exited.
 */
async function untilAsync(
  what: string,
  check: () => Promise<boolean>,
  run: ChildProcess,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (run.exitCode !== null || run.signalCode !== null)
      throw new Error(`the run exited (${run.exitCode ?? run.signalCode}) while waiting for ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A workspace holding one pipeline (busybox stages) and nothing else. */
function workspaceWith(pipeline: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-run-'));
  writeFileSync(join(dir, 'mlpipe.yaml'), `version: 1\ndefaults: { image: ${BUSYBOX_IMAGE} }\n${pipeline}`);
  return dir;
}

describe('running stages on a real Docker Engine', { skip: missing }, () => {
  let engine: RunningEngine;
  const workspaces: string[] = [];
  const env = () => ({ DOCKER_HOST: engine.address });
  const make = (pipeline: string) => {
    const dir = workspaceWith(pipeline);
    workspaces.push(dir);
    return dir;
  };

  before(async () => {
    engine = await startDockerd();
    await ensureImages(engine.docker, [BUSYBOX_IMAGE]);
  });

  after(async () => {
    await engine?.stop();
    for (const dir of workspaces) rmSync(dir, { recursive: true, force: true });
  });

  it('runs independent branches at the same time', () => {
    const dir = make(`stages:
  left:
    cmd: sh -c "sleep 2; echo left > left.txt"
    outs: [left.txt]
  right:
    cmd: sh -c "sleep 2; echo right > right.txt"
    outs: [right.txt]
  join:
    cmd: sh -c "cat left.txt right.txt > both.txt"
    deps: [left.txt, right.txt]
    outs: [both.txt]
`);
    const result = mlpipe(['run', '--jobs', '2'], dir, env());
    assert.equal(result.status, 0, result.stderr);
    const record = lastRecord(dir);
    const span = (name: string) => {
      const stage = record.stages.find((entry) => entry.name === name)!;
      return [Date.parse(stage.started!), Date.parse(stage.ended!)];
    };
    const [leftStart, leftEnd] = span('left');
    const [rightStart, rightEnd] = span('right');
    assert.ok(
      leftStart < rightEnd && rightStart < leftEnd,
      `left ${leftStart}-${leftEnd} and right ${rightStart}-${rightEnd} overlap`,
    );
    assert.ok(span('join')[0] >= Math.max(leftEnd, rightEnd), 'join waits for both');
    assert.equal(readFileSync(join(dir, 'both.txt'), 'utf8'), 'left\nright\n');
  });

  it('stops what depends on a failed stage and lets independent branches finish', async () => {
    const dir = make(`stages:
  broken:
    cmd: sh -c "echo about to fail; exit 3"
    outs: [broken.txt]
  after-broken:
    cmd: sh -c "echo never > after.txt"
    needs: [broken]
    outs: [after.txt]
  independent:
    cmd: sh -c "echo fine > fine.txt"
    outs: [fine.txt]
`);
    const result = mlpipe(['run'], dir, env());
    assert.equal(result.status, 1);
    const record = lastRecord(dir);
    assert.equal(record.status, 'failed');
    assert.deepEqual(statuses(record), { broken: 'failed', 'after-broken': 'blocked', independent: 'succeeded' });
    const broken = record.stages.find((stage) => stage.name === 'broken')!;
    assert.equal(broken.exitCode, 3);
    assert.match(broken.reason ?? '', /exited with code 3/);
    assert.match(result.stdout, /broken\s+\| about to fail/);
    assert.deepEqual(await mlpipeContainers(engine.docker, dir), []);
  });

  it('retries a failed stage as declared and stops a stage at its timeout', () => {
    const dir = make(`stages:
  flaky:
    cmd: sh -c "if [ -f tried ]; then echo ok > flaky.txt; else touch tried; exit 1; fi"
    outs: [flaky.txt]
    retries: 1
  slow:
    cmd: sleep 60
    outs: [slow.txt]
    timeout: 2s
`);
    const result = mlpipe(['run'], dir, env());
    assert.equal(result.status, 1);
    const record = lastRecord(dir);
    const flaky = record.stages.find((stage) => stage.name === 'flaky')!;
    assert.equal(flaky.status, 'succeeded');
    assert.equal(flaky.attempts, 2);
    const slow = record.stages.find((stage) => stage.name === 'slow')!;
    assert.equal(slow.status, 'failed');
    assert.match(slow.reason ?? '', /timed out after 2 s/);
    assert.ok(slow.durationMs! < 30_000);
  });

  it('cancels a run in progress (Ctrl-C) and leaves no container behind', async () => {
    const dir = make(`stages:
  long:
    cmd: sleep 120
    outs: [long.txt]
`);
    const run = mlpipeAsync(['run'], dir, env());
    await until(
      'the stage to be running',
      () => lastRecord(dir).stages[0].status === 'running' && lastRecord(dir).stages[0].attempts === 1,
    );
    await untilAsync(
      "the stage's container",
      async () => (await mlpipeContainers(engine.docker, dir)).length > 0,
      run.child,
    );
    run.child.kill('SIGINT');
    const result = await run.done;
    assert.equal(result.status, 1);
    const record = lastRecord(dir);
    assert.equal(record.status, 'cancelled');
    assert.equal(record.stages[0].status, 'cancelled');
    assert.deepEqual(await mlpipeContainers(engine.docker, dir), []);
    assert.equal(existsSync(join(dir, '.mlpipe', 'locks', `${record.id}.json`)), false, 'the lock is released');
  });

  it('refuses a second run that would write the same outputs, naming the first', async () => {
    const dir = make(`stages:
  long:
    cmd: sleep 120
    outs: [long.txt]
`);
    const first = mlpipeAsync(['run'], dir, env());
    const id = await until('the first run to start', () =>
      lastRecord(dir).stages[0].status === 'running' ? lastRecord(dir).id : undefined,
    );
    const second = mlpipe(['run'], dir, env());
    assert.equal(second.status, 2);
    assert.match(
      second.stderr,
      new RegExp(
        `run ${id} \\(pid \\d+, started .*\\) is writing long\\.txt; wait for it to finish or stop it with \`mlpipe cancel\``,
      ),
    );
    const cancel = mlpipe(['cancel'], dir, env());
    assert.match(cancel.stderr, new RegExp(`asked ${id} to stop`));
    assert.equal((await first.done).status, 1);
  });

  it('records a readable failure when the engine stops mid-run, and the next run works', async () => {
    const own = await startDockerd();
    try {
      await ensureImages(own.docker, [BUSYBOX_IMAGE]);
      const dir = make(`stages:
  work:
    cmd: sh -c "if [ -f quick ]; then echo done > out.txt; else sleep 120; fi"
    outs: [out.txt]
`);
      const run = mlpipeAsync(['run'], dir, { DOCKER_HOST: own.address });
      await until(
        'the stage to be running',
        () => lastRecord(dir).stages[0].status === 'running' && lastRecord(dir).stages[0].attempts === 1,
      );
      // Mid-run: the container is running (not just created) when the engine goes.
      await untilAsync(
        "the stage's container to be running",
        async () => (await mlpipeContainers(own.docker, dir)).some((container) => container.State === 'running'),
        run.child,
      );
      await own.stop();
      const result = await run.done;
      assert.equal(result.status, 1);
      const record = lastRecord(dir);
      assert.equal(record.status, 'failed');
      assert.equal(record.stages[0].status, 'failed');
      assert.match(
        record.stages[0].error ?? '',
        /^lost the Docker engine of host 'local' \(unix:\/\/.*\) while the stage ran; start it again and rerun\.$/,
      );

      writeFileSync(join(dir, 'quick'), '');
      const next = mlpipe(['run'], dir, env());
      assert.equal(next.status, 0, next.stderr);
      assert.equal(lastRecord(dir).stages[0].status, 'succeeded');
    } finally {
      await own.stop();
    }
  });

  it('says which host has no GPU runtime before starting a GPU stage', () => {
    const dir = make(`hosts:
  local: { docker: "${engine.address}", gpus: 1 }
stages:
  gpu:
    cmd: echo training
    resources: { gpus: 1 }
    outs: [gpu.txt]
`);
    const result = mlpipe(['run'], dir, env());
    assert.equal(result.status, 1);
    const stage = lastRecord(dir).stages[0];
    assert.equal(stage.status, 'failed');
    assert.equal(
      stage.error,
      "host 'local' has no GPU runtime (install the NVIDIA Container Toolkit), so stage 'gpu' cannot have GPUs.",
    );
  });

  it('writes outputs as the user who runs mlpipe, not as root', () => {
    const dir = make(`stages:
  write:
    cmd: sh -c "id -u > who.txt"
    outs: [who.txt]
`);
    // mlpipe runs as nobody here: its workspace and the engine's socket must be reachable for it.
    chownSync(dir, 65534, 65534);
    chownSync(join(dir, 'mlpipe.yaml'), 65534, 65534);
    chmodSync(engine.address.slice('unix://'.length), 0o666);
    chmodSync(engine.dir, 0o711);
    // The bundled CLI is dist/cli.js and the scripts it requires beside it (the other commands,
    // dockerode, the drift reader thread): a copy where nobody can read it (the checkout may be in a
    // private folder).
    const bin = mkdtempSync(join(tmpdir(), 'mlpipe-bin-'));
    chmodSync(bin, 0o755);
    for (const script of ['cli.js', 'cli-commands.js', 'dockerode.js', 'drift-worker.js'])
      copyFileSync(join(ROOT, 'dist', script), join(bin, script));
    chmodSync(join(bin, 'cli.js'), 0o755);
    const asNobody = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, join(bin, 'cli.js'), 'run'],
      {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, ...env(), HOME: dir },
      },
    );
    rmSync(bin, { recursive: true, force: true });
    assert.equal(asNobody.status, 0, asNobody.stderr);
    assert.equal(readFileSync(join(dir, 'who.txt'), 'utf8').trim(), '65534');
    assert.equal(statSync(join(dir, 'who.txt')).uid, 65534);
  });
});
