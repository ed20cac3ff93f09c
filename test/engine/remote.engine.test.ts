import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX_IMAGE, ensureImages } from '../../scripts/sample-image';
import {
  enginesMissing,
  makeCertificates,
  mlpipeContainers,
  startDockerd,
  type RunningEngine,
} from '../support/engines';
import { freePort } from '../../scripts/vscode-web';
import { lastRecord, mlpipe, statuses } from '../support/mlpipe-cli';

const missing =
  enginesMissing() ??
  (existsSync('/usr/sbin/sshd') ? undefined : 'openssh-server is not installed: apt-get install -y openssh-server');
if (missing && process.env.CI) throw new Error(`Remote engine tests cannot run: ${missing}`);

const STAGES = (host: string) => `stages:
  remote-work:
    host: ${host}
    cmd: sh -c "mkdir -p out && cat data/input.txt > out/copy.txt && echo made-remotely > out/extra.txt && wc -c < data/input.txt > size.txt"
    deps: [data/input.txt]
    outs: [out, size.txt]
  local-after:
    cmd: sh -c "cat out/copy.txt out/extra.txt > final.txt"
    deps: [out]
    outs: [final.txt]
`;

describe('stages on remote hosts that share no files with the workspace', { skip: missing }, () => {
  let local: RunningEngine;
  let remote: RunningEngine;
  let hidden: string;
  let sshd: ChildProcess | undefined;
  let home: string;
  let sshPort: number;

  before(async () => {
    // Workspaces live under `hidden`, which the remote engine cannot see (a tmpfs covers it there).
    hidden = mkdtempSync(join(tmpdir(), 'mlpipe-remote-'));
    local = await startDockerd();
    remote = await startDockerd({ tcpPort: await freePort(), hide: [hidden] });
    await ensureImages(local.docker, [BUSYBOX_IMAGE]);
    await ensureImages(remote.docker, [BUSYBOX_IMAGE]);

    // sshd on loopback, answering `docker system dial-stdio` against the remote engine.
    home = mkdtempSync(join(tmpdir(), 'mlpipe-home-'));
    const ssh = join(home, '.ssh');
    mkdirSync(ssh, { mode: 0o700 });
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(ssh, 'id_ed25519')]);
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, 'host_key')]);
    sshPort = await freePort();
    writeFileSync(join(home, 'authorized_keys'), readFileSync(join(ssh, 'id_ed25519.pub')));
    writeFileSync(
      join(ssh, 'known_hosts'),
      `[127.0.0.1]:${sshPort} ${readFileSync(join(home, 'host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ')}\n`,
    );
    writeFileSync(
      join(home, 'sshd_config'),
      [
        `Port ${sshPort}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${join(home, 'host_key')}`,
        `PidFile ${join(home, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(home, 'authorized_keys')}`,
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'UsePAM no',
        'StrictModes no',
        `SetEnv DOCKER_HOST=${remote.address}`,
      ].join('\n'),
    );
    mkdirSync('/run/sshd', { recursive: true });
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(home, 'sshd_config')], { stdio: 'ignore' });
  });

  after(async () => {
    sshd?.kill('SIGTERM');
    await remote?.stop();
    await local?.stop();
    rmSync(hidden, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  function workspace(hosts: string, host: string): string {
    const dir = mkdtempSync(join(hidden, 'ws-'));
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data/input.txt'), 'input made on the local machine\n');
    writeFileSync(
      join(dir, 'mlpipe.yaml'),
      `version: 1\ndefaults: { image: ${BUSYBOX_IMAGE} }\nhosts:\n${hosts}\n${STAGES(host)}`,
    );
    return dir;
  }

  it('cannot see the workspace from the remote engine (so the copies below are real)', async () => {
    const dir = workspace('  remote: { docker: "unix:///nonexistent" }', 'remote');
    const container = await remote.docker.createContainer({
      Image: BUSYBOX_IMAGE,
      Cmd: ['ls', '-A', dir],
      HostConfig: { Binds: [`${dir}:${dir}`], NetworkMode: 'none' },
    });
    await container.start();
    await container.wait();
    const logs = (await container.logs({ stdout: true, stderr: true })).toString();
    await container.remove({ force: true });
    assert.ok(readdirSync(dir).length >= 2, 'the workspace has files here');
    assert.equal(logs.replace(/[^\x20-\x7e]/g, '').trim(), '', 'and none there');
  });

  it('copies deps to a tcp:// host with TLS, runs there, and copies the outputs back, verified', async () => {
    const tls = `tls: { ca: "${remote.tls!.ca}", cert: "${remote.tls!.cert}", key: "${remote.tls!.key}" }`;
    const dir = workspace(`  remote: { docker: "${remote.tcpAddress}", ${tls} }`, 'remote');
    const result = mlpipe(['run'], dir, { DOCKER_HOST: local.address });
    assert.equal(result.status, 0, result.stderr + result.stdout);
    assert.deepEqual(statuses(lastRecord(dir)), { 'remote-work': 'succeeded', 'local-after': 'succeeded' });
    assert.equal(readFileSync(join(dir, 'out/copy.txt'), 'utf8'), 'input made on the local machine\n');
    assert.equal(readFileSync(join(dir, 'final.txt'), 'utf8'), 'input made on the local machine\nmade-remotely\n');
    assert.equal(readFileSync(join(dir, 'size.txt'), 'utf8').trim(), '32');
    assert.doesNotMatch(
      result.stdout + result.stderr,
      /not verified/,
      'the image has sha256sum, so outputs were verified',
    );
    assert.match(lastRecord(dir).stages[0].engine ?? '', /^docker 20\./);
    assert.deepEqual(await mlpipeContainers(remote.docker, dir), []);
    // A second run skips both: outputs came back intact.
    assert.equal(mlpipe(['run'], dir, { DOCKER_HOST: local.address }).status, 0);
    assert.deepEqual(statuses(lastRecord(dir)), { 'remote-work': 'skipped', 'local-after': 'skipped' });
  });

  it("verifies the engine's TLS certificate: another CA is refused with a clear message", () => {
    const other = makeCertificates(mkdtempSync(join(tmpdir(), 'mlpipe-other-ca-')));
    const dir = workspace(
      `  remote: { docker: "${remote.tcpAddress}", tls: { ca: "${other.ca}", cert: "${remote.tls!.cert}", key: "${remote.tls!.key}" } }`,
      'remote',
    );
    const result = mlpipe(['run'], dir, { DOCKER_HOST: local.address });
    assert.equal(result.status, 1);
    const stage = lastRecord(dir).stages[0];
    assert.match(
      stage.error ?? '',
      /^cannot reach the Docker engine of host 'remote' at tcp:\/\/127\.0\.0\.1:\d+: its TLS certificate does not verify \(unable to verify the first certificate\); check hosts\.remote\.tls\.ca/,
    );
  });

  it('runs a stage over ssh:// (key from ~/.ssh, host key checked against known_hosts)', () => {
    const dir = workspace(`  remote: { docker: "ssh://root@127.0.0.1:${sshPort}" }`, 'remote');
    const result = mlpipe(['run'], dir, { DOCKER_HOST: local.address, HOME: home, SSH_AUTH_SOCK: '' });
    assert.equal(result.status, 0, result.stderr + result.stdout);
    assert.equal(readFileSync(join(dir, 'final.txt'), 'utf8'), 'input made on the local machine\nmade-remotely\n');
  });

  it('refuses an ssh host whose key is not in known_hosts', () => {
    const dir = workspace(`  remote: { docker: "ssh://root@127.0.0.1:${sshPort}" }`, 'remote');
    const stranger = mkdtempSync(join(tmpdir(), 'mlpipe-stranger-'));
    const result = mlpipe(['run'], dir, { DOCKER_HOST: local.address, HOME: stranger, SSH_AUTH_SOCK: '' });
    rmSync(stranger, { recursive: true, force: true });
    assert.equal(result.status, 1);
    assert.match(
      lastRecord(dir).stages[0].error ?? '',
      /127\.0\.0\.1:\d+ is not in ~\/\.ssh\/known_hosts; connect once with ssh to check and record its key/,
    );
  });
});
