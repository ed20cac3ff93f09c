import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX_IMAGE, ensureImages } from '../../scripts/sample-image';
import { enginesMissing, mlpipeContainers, startPodman, within, type RunningEngine } from '../support/engines';
import { lastRecord, mlpipe, statuses } from '../support/mlpipe-cli';

const missing = enginesMissing();
if (missing && process.env.CI) throw new Error(`Podman tests cannot run: ${missing}`);

describe("Podman's Docker-compatible API as the engine", { skip: missing }, () => {
  let podman: RunningEngine;
  const dirs: string[] = [];

  before(async () => {
    podman = await startPodman();
    await within(ensureImages(podman.docker, [BUSYBOX_IMAGE]), 120_000, 'importing busybox into Podman');
  });

  after(async () => {
    await podman?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  function workspace(pipeline: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-podman-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'mlpipe.yaml'), `version: 1\ndefaults: { image: ${BUSYBOX_IMAGE} }\n${pipeline}`);
    return dir;
  }

  it('runs stages, recognises the engine, and leaves no container', async () => {
    const dir = workspace(`stages:
  hello:
    cmd: sh -c "echo from podman > hello.txt"
    outs: [hello.txt]
  after:
    cmd: sh -c "cat hello.txt hello.txt > twice.txt"
    deps: [hello.txt]
    outs: [twice.txt]
`);
    const result = mlpipe(['run'], dir, { DOCKER_HOST: podman.address });
    assert.equal(result.status, 0, result.stderr);
    const record = lastRecord(dir);
    assert.deepEqual(statuses(record), { hello: 'succeeded', after: 'succeeded' });
    assert.match(record.stages[0].engine ?? '', /^podman 4\./);
    assert.equal(readFileSync(join(dir, 'twice.txt'), 'utf8'), 'from podman\nfrom podman\n');
    assert.deepEqual(await mlpipeContainers(podman.docker, dir), []);
  });

  it('asks Podman for GPUs as CDI devices and explains a missing GPU runtime', () => {
    const dir = workspace(
      `hosts:
  local: { docker: "${'PODMAN'}", engine: podman, gpus: 1 }
stages:
  train:
    cmd: echo train
    resources: { gpus: 1 }
    outs: [model.txt]
`.replace('PODMAN', podman.address),
    );
    const result = mlpipe(['run'], dir, { DOCKER_HOST: podman.address });
    assert.equal(result.status, 1);
    assert.match(
      lastRecord(dir).stages[0].error ?? '',
      /^host 'local' has no GPU runtime \(install the NVIDIA Container Toolkit\), so stage 'train' cannot have GPUs \(.*nvidia\.com\/gpu=0.*\)\.$/,
    );
  });
});
