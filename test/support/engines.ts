import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';

/**
 * Real container engines for tests, started and stopped by the tests themselves (nothing is left
 * running): Docker Engine (dockerd from Debian's docker.io) on a private socket, optionally also on
 * tcp:// with TLS and in its own mount namespace with chosen paths hidden from it (a "remote" host
 * that shares no files), and Podman's Docker-compatible API.
 */
export interface RunningEngine {
  kind: 'docker' | 'podman';
  /** unix:// socket address. */
  address: string;
  /** tcp:// address when started with TLS. */
  tcpAddress?: string;
  tls?: { ca: string; cert: string; key: string };
  docker: Docker;
  dir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

const INSTALL =
  'apt-get install -y docker.io podman runc busybox-static debootstrap openssh-server openssl (or run .ci/run)';

/** Why real engines cannot run here, or undefined. Tests fail with this in CI and skip outside it. */
export function enginesMissing(): string | undefined {
  for (const tool of ['dockerd', 'podman', 'runc', 'unshare', 'openssl']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed: ${INSTALL}`;
  }
  if (!existsSync('/bin/busybox')) return `busybox-static is not installed: ${INSTALL}`;
  if (process.getuid?.() !== 0) return 'the engine tests start dockerd and podman, which needs root';
  return undefined;
}

/** `promise`, or an error naming `what` when it has not settled within `ms` (the promise is left to itself). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${Math.round(ms / 1000)} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits until the engine answers /_ping. Each ping has its own time limit: an engine that accepts
 * the connection and never answers (a daemon stuck while it starts) must not hang the tests.
 */
async function waitForPing(
  docker: Docker,
  child: ChildProcess,
  log: string,
  what: string,
  limitMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`${what} exited with ${child.exitCode}:\n${readFileSync(log, 'utf8').slice(-3000)}`);
    try {
      await within(docker.ping(), 5_000, `${what} /_ping`);
      return;
    } catch {
      if (Date.now() > deadline)
        throw new Error(
          `${what} did not answer within ${limitMs / 1000} s:\n${readFileSync(log, 'utf8').slice(-3000)}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  };
}

function openssl(args: string[], cwd: string): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, as Docker's TLS guide makes them. */
export function makeCertificates(dir: string): {
  ca: string;
  serverCert: string;
  serverKey: string;
  cert: string;
  key: string;
} {
  mkdirSync(dir, { recursive: true });
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca-key.pem',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=mlpipe-test-ca',
    ],
    dir,
  );
  for (const [name, usage, subject] of [
    ['server', 'serverAuth', '127.0.0.1'],
    ['client', 'clientAuth', 'mlpipe-test-client'],
  ]) {
    openssl(
      [
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${name}-key.pem`,
        '-out',
        `${name}.csr`,
        '-subj',
        `/CN=${subject}`,
      ],
      dir,
    );
    writeFileSync(
      join(dir, `${name}.ext`),
      `extendedKeyUsage=${usage}\n${name === 'server' ? 'subjectAltName=IP:127.0.0.1\n' : ''}`,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca-key.pem',
        '-CAcreateserial',
        '-out',
        `${name}-cert.pem`,
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
      ],
      dir,
    );
  }
  return {
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server-cert.pem'),
    serverKey: join(dir, 'server-key.pem'),
    cert: join(dir, 'client-cert.pem'),
    key: join(dir, 'client-key.pem'),
  };
}

export interface DockerdOptions {
  /** Also listen on tcp://127.0.0.1:PORT with TLS (client certificates required). */
  tcpPort?: number;
  /** Paths the engine must not see: a tmpfs is mounted over each in its own mount namespace. */
  hide?: string[];
}

export async function startDockerd(options: DockerdOptions = {}): Promise<RunningEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'mlpd-'));
  const socket = join(dir, 'docker.sock');
  const args = [
    '--host',
    `unix://${socket}`,
    '--data-root',
    join(dir, 'data'),
    '--exec-root',
    join(dir, 'x'),
    '--pidfile',
    join(dir, 'docker.pid'),
    '--iptables=false',
    '--ip6tables=false',
    '--bridge=none',
    '--storage-driver=vfs',
  ];
  let tls: RunningEngine['tls'];
  if (options.tcpPort) {
    const certs = makeCertificates(join(dir, 'certs'));
    args.push(
      '--host',
      `tcp://127.0.0.1:${options.tcpPort}`,
      '--tlsverify',
      '--tlscacert',
      certs.ca,
      '--tlscert',
      certs.serverCert,
      '--tlskey',
      certs.serverKey,
    );
    tls = { ca: certs.ca, cert: certs.cert, key: certs.key };
  }
  const log = join(dir, 'dockerd.log');
  writeFileSync(log, '');
  const out = openSync(log, 'a');
  let child: ChildProcess;
  if (options.hide && options.hide.length > 0) {
    // Its own mount namespace, with the hidden paths covered: it cannot bind-mount or read them.
    const script =
      'for p in "$@"; do case "$p" in --) shift; break;; esac; mount -t tmpfs mlpipe-hidden "$p"; shift; done; exec dockerd "$@"';
    child = spawn(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', ...options.hide, '--', ...args],
      { stdio: ['ignore', out, out] },
    );
  } else {
    child = spawn('dockerd', args, { stdio: ['ignore', out, out] });
  }
  const docker = new Docker({ socketPath: socket });
  await waitForPing(docker, child, log, 'dockerd');
  return {
    kind: 'docker',
    address: `unix://${socket}`,
    tcpAddress: options.tcpPort ? `tcp://127.0.0.1:${options.tcpPort}` : undefined,
    tls,
    docker,
    dir,
    process: child,
    stop: stopper(child, dir),
  };
}

async function startPodmanOnce(): Promise<RunningEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'mlpp-'));
  const socket = join(dir, 'podman.sock');
  const conf = join(dir, 'containers.conf');
  // runc, not crun (crun fails on these hybrid cgroups), and no default nofile ulimit (refused here).
  // File locks under this instance's own tmpdir, not the machine-wide shared-memory segment
  // (/dev/shm/libpod_lock) that every Podman shares: a lock an earlier, killed Podman held there is
  // never released, and the next Podman to need it waits forever.
  writeFileSync(
    conf,
    '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nlock_type = "file"\n',
  );
  const log = join(dir, 'podman.log');
  writeFileSync(log, '');
  const out = openSync(log, 'a');
  const child = spawn(
    'podman',
    [
      '--root',
      join(dir, 'root'),
      '--runroot',
      join(dir, 'run'),
      '--tmpdir',
      join(dir, 'tmp'),
      '--log-level',
      'info',
      '--storage-driver',
      'vfs',
      'system',
      'service',
      '--time=0',
      `unix://${socket}`,
    ],
    {
      stdio: ['ignore', out, out],
      env: { ...process.env, CONTAINERS_CONF: conf },
    },
  );
  const docker = new Docker({ socketPath: socket });
  const stop = stopper(child, dir);
  try {
    await waitForPing(docker, child, log, 'podman system service', 45_000);
  } catch (error) {
    child.kill('SIGKILL');
    await stop();
    throw error;
  }
  return { kind: 'podman', address: `unix://${socket}`, docker, dir, process: child, stop };
}

/**
 * Podman's Docker-compatible API on a private socket, with its own storage, run and lock folders.
 * One more try when the first service never answers (its log goes to stderr, so that a slow or
 * stuck start is seen, not hidden); a second failure fails the test with both logs.
 */
export async function startPodman(): Promise<RunningEngine> {
  try {
    return await startPodmanOnce();
  } catch (first) {
    console.error(`[engines] Podman did not start; trying once more. ${String(first)}`);
    try {
      return await startPodmanOnce();
    } catch (second) {
      throw new Error(`Podman did not start twice.\nfirst: ${String(first)}\nsecond: ${String(second)}`);
    }
  }
}

/** Containers an engine has that mlpipe labelled for a workspace. */
export async function mlpipeContainers(docker: Docker, workspace: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`dev.mlpipe.workspace=${workspace}`] } });
}
