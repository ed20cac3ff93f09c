import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { acquireFileLock } from '../../core/src/runs/file-lock';
import { freePort } from '../../scripts/vscode-web';

/**
 * A real S3 server for tests: SeaweedFS's `weed mini` (master, volume server, filer and S3
 * gateway in one process), built once from its Go module and cached as one binary
 * (`~/.cache/mlpipe/seaweedfs-4.53/weed`, MLPIPE_CACHE_DIR moves it), started per test on free
 * loopback ports with its data in a temporary folder and one access key. See
 * shared/recipes/s3-seaweedfs.md for how the build and the server were checked by hand.
 */
export const SEAWEEDFS_VERSION = 'v0.0.0-20261109003541-7506e5f91cd6';

/** The version this module reports itself as (`weed version`). */
const SEAWEEDFS_RELEASE = '4.53';

/** The `go` line of its go.mod: an older Go builds it only when it may fetch this toolchain. */
const GO_REQUIRED = [1, 26, 6];

const INSTALL =
  'install Go 1.26.6 or later from https://go.dev/dl (Debian 12\'s "apt-get install golang" is Go 1.19, too old), or Go 1.21 or later with GOTOOLCHAIN=auto, which downloads the newer toolchain';

export function weedBinary(): string {
  return resolve(
    process.env.MLPIPE_CACHE_DIR ?? join(homedir(), '.cache', 'mlpipe'),
    `seaweedfs-${SEAWEEDFS_RELEASE}`,
    'weed',
  );
}

/** Whether version a (like [1, 24, 0]) is at least b. */
function atLeast(a: number[], b: number[]): boolean {
  for (let i = 0; i < b.length; i++) if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) > b[i]!;
  return true;
}

/**
 * Why the S3 server cannot run here, or undefined: it can when the binary is cached, or when Go
 * can build it. Tests fail with this in CI and skip outside it.
 */
export function s3ServerMissing(): string | undefined {
  if (existsSync(weedBinary())) return undefined;
  const go = spawnSync('go', ['env', 'GOVERSION', 'GOTOOLCHAIN'], { encoding: 'utf8' });
  if (go.error) return `Go is not installed (SeaweedFS is built from source on first use): ${INSTALL}`;
  const [goVersion = '', toolchain = ''] = go.stdout.trim().split('\n');
  const version = (/^go(\d+)\.(\d+)(?:\.(\d+))?/.exec(goVersion) ?? []).slice(1).map((part) => Number(part ?? 0));
  if (go.status !== 0 || version.length === 0) return `'go env GOVERSION' failed (${go.stderr.trim()}): ${INSTALL}`;
  if (atLeast(version, GO_REQUIRED)) return undefined;
  // Go 1.21 and later download the toolchain a go.mod asks for when GOTOOLCHAIN allows it (auto).
  if (atLeast(version, [1, 21])) {
    if (toolchain === 'auto' || toolchain.endsWith('+auto')) return undefined;
    return `SeaweedFS ${SEAWEEDFS_RELEASE} needs Go ${GO_REQUIRED.join('.')}; this is ${goVersion} with GOTOOLCHAIN=${toolchain}: ${INSTALL}`;
  }
  return `SeaweedFS ${SEAWEEDFS_RELEASE} needs Go ${GO_REQUIRED.join('.')}; this is ${goVersion}: ${INSTALL}`;
}

/**
 * The `weed` binary, built on first use (5 to 15 minutes on 2 cores). `go install` refuses the
 * module (its go.mod has replace directives), so this downloads its source and builds it there,
 * with Go caches of its own (about 4 GB) that are removed afterwards: only the binary is kept. It
 * is renamed into place when complete, and a lock keeps two test processes from building at once.
 */
export function ensureWeed(): string {
  const bin = weedBinary();
  if (existsSync(bin)) return bin;
  mkdirSync(dirname(bin), { recursive: true });
  const release = acquireFileLock(`${dirname(bin)}.lock`, 40 * 60_000, 45 * 60_000);
  let work: string | undefined;
  try {
    if (existsSync(bin)) return bin;
    // Next to the binary (on disk, where /tmp may be in memory), so that the rename is atomic.
    work = mkdtempSync(join(dirname(bin), '.build-'));
    const env = {
      ...process.env,
      GOMODCACHE: join(work, 'gomod'),
      GOCACHE: join(work, 'gocache'),
      // Writable module cache folders, so that rmSync can remove them; no VCS stamping of a copy.
      GOFLAGS: '-modcacherw -buildvcs=false',
      GOWORK: 'off',
    };
    const step = (what: string, command: string, args: string[], cwd: string): string => {
      const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      if (result.status !== 0)
        throw new Error(
          `building SeaweedFS ${SEAWEEDFS_RELEASE} failed at ${what}: '${command} ${args.join(' ')}' (exit ${result.status ?? result.signal}):\n${`${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}`.slice(-3000)}`,
        );
      return result.stdout;
    };
    const download = step(
      'downloading the module',
      'go',
      ['mod', 'download', '-json', `github.com/seaweedfs/seaweedfs@${SEAWEEDFS_VERSION}`],
      work,
    );
    const source = (JSON.parse(download) as { Dir?: string }).Dir;
    if (!source) throw new Error(`building SeaweedFS: 'go mod download' named no folder:\n${download.slice(-3000)}`);
    const src = join(work, 'src');
    cpSync(source, src, { recursive: true });
    step('making the source writable', 'chmod', ['-R', 'u+w', src], work);
    step('compiling', 'go', ['build', '-o', join(work, 'weed'), './weed'], src);
    renameSync(join(work, 'weed'), bin);
    return bin;
  } finally {
    if (work) rmSync(work, { recursive: true, force: true, maxRetries: 3 });
    release();
  }
}

export interface RunningS3 {
  /** http://127.0.0.1:PORT, for a client with forcePathStyle. */
  endpoint: string;
  port: number;
  accessKey: string;
  secretKey: string;
  /** 'us-east-1'. */
  region: string;
  /** Its data, identity file and log. */
  dir: string;
  createBucket(name: string): Promise<void>;
  /** SIGKILL, keeping its data (a server that dies mid-upload). */
  halt(): Promise<void>;
  /** Starts it again on the same ports with the same data; resolves once it takes writes (about 15 s). */
  resume(): Promise<void>;
  /** Stops it (SIGTERM, SIGKILL after 5 s) and removes its data. */
  stop(): Promise<void>;
  /** The end of its log, for failure messages. */
  log(): string;
}

/**
 * The ports weed mini listens on, each pinned (its other listeners are turned off): left to itself
 * it takes fixed defaults (8333, 9333, ...) or the next free one, which two servers can race for.
 */
export const PORT_FLAGS = [
  'master.port',
  'master.port.grpc',
  'volume.port',
  'volume.port.grpc',
  'filer.port',
  'filer.port.grpc',
  's3.port',
  's3.port.grpc',
  'admin.port',
  'admin.port.grpc',
] as const;
export type Ports = Record<(typeof PORT_FLAGS)[number], number>;

/**
 * weed mini's command line: `data` its store, `dir` where its own Unix sockets go, every port
 * pinned, and `config` the S3 identities file.
 */
export function weedMiniArgs(data: string, dir: string, ports: Ports, config: string): string[] {
  return [
    // All of its log in server.log, none in /tmp/weed.*.
    '-logtostderr',
    'mini',
    `-dir=${data}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    ...PORT_FLAGS.map((flag) => `-${flag}=${ports[flag]}`),
    // Listeners it would otherwise open on fixed ports; and no reports to its telemetry server.
    '-admin.port.legacy=0',
    '-admin.ui=false',
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    '-webdav=false',
    '-master.telemetry=false',
    // Its Unix sockets in dir rather than /tmp (those of its gRPC services cannot be moved).
    `-filer.localSocket=${join(dir, 'filer.sock')}`,
    `-s3.localSocket=${join(dir, 's3.sock')}`,
    `-s3.config=${config}`,
  ];
}

/** Ports handed to servers of this process, so that two started at once never get the same. */
const handedOut = new Set<number>();

async function pickPorts(): Promise<Ports> {
  const ports = {} as Ports;
  for (const flag of PORT_FLAGS) {
    let port = await freePort();
    while (handedOut.has(port)) port = await freePort();
    handedOut.add(port);
    ports[flag] = port;
  }
  return ports;
}

/** The status of a GET, or undefined when nothing answers. */
export async function status(url: string): Promise<number | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return undefined; // not listening yet
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Sends a signal to the server's process group, waits for its exit, then kills anything left. */
async function killGroup(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.pid === undefined) return;
  const send = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name);
    } catch {
      // already gone
    }
  };
  if (!exited(child)) {
    const exit = new Promise<void>((done) => child.once('exit', () => done()));
    send(signal);
    const timer = setTimeout(() => send('SIGKILL'), 5_000);
    await exit;
    clearTimeout(timer);
  }
  send('SIGKILL');
}

/**
 * Starts `weed mini` on free loopback ports (ready in about 4 s); builds weed first when needed.
 * stop() it in `after`.
 */
export async function startS3Server(options: { accessKey?: string; secretKey?: string } = {}): Promise<RunningS3> {
  const weed = ensureWeed();
  const accessKey = options.accessKey ?? 'AKIATEST';
  const secretKey = options.secretKey ?? randomBytes(20).toString('hex');
  const region = 'us-east-1';
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-s3-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const config = join(dir, 's3.json');
  writeFileSync(
    config,
    JSON.stringify({
      identities: [
        {
          name: 'tester',
          credentials: [{ accessKey, secretKey }],
          actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
        },
      ],
    }),
  );
  let ports = await pickPorts();
  let child: ChildProcess | undefined;
  // weed mini puts the Unix sockets of its gRPC services in /tmp, named by port, and leaves them.
  const removeSockets = () => {
    for (const service of ['master', 'volume', 'filer', 's3', 'admin'] as const)
      rmSync(`/tmp/seaweedfs-${service}-grpc-${ports[`${service}.port.grpc`]}.sock`, { force: true });
  };
  const killOnExit = () => {
    if (child?.pid !== undefined && !exited(child)) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    removeSockets();
  };
  process.once('exit', killOnExit);
  const logTail = () => (existsSync(log) ? readFileSync(log, 'utf8').slice(-3000) : '');

  const start = async () => {
    mkdirSync(data, { recursive: true });
    const fd = openSync(log, 'a');
    try {
      child = spawn(weed, weedMiniArgs(data, dir, ports, config), {
        cwd: dir,
        detached: true,
        stdio: ['ignore', fd, fd],
        // Not the developer's environment: AWS_* variables would add an identity, WEED_* ones and
        // ~/.seaweedfs/*.toml would change its configuration.
        env: { PATH: process.env.PATH, HOME: dir, LANG: 'C.UTF-8' },
      });
    } finally {
      closeSync(fd);
    }
    const server = child;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited(server))
        throw new Error(`weed mini exited with ${server.exitCode ?? server.signalCode}:\n${logTail()}`);
      // Ready when anonymous requests are refused (the gateway has loaded its identities) and the
      // master assigns volumes: after a restart with data it holds assignments for three heartbeats
      // (15 s) while volume servers report back, and a write would hang until then. A lookup of a
      // volume that does not exist says 503 during that hold and 404 after it.
      if (
        (await status(`http://127.0.0.1:${ports['s3.port']}/`)) === 403 &&
        (await status(`http://127.0.0.1:${ports['master.port']}/dir/lookup?volumeId=4294967295`)) === 404
      )
        return;
      if (Date.now() > deadline)
        throw new Error(`weed mini was not ready on port ${ports['s3.port']} within 60 s:\n${logTail()}`);
      await new Promise((done) => setTimeout(done, 100));
    }
  };

  // A free port can be taken by another process before weed binds it; weed then exits at once, and
  // a fresh start on other ports gets past it.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (error) {
      const early = child !== undefined && exited(child);
      await killGroup(child, 'SIGKILL');
      removeSockets();
      if (early && attempt < 3) {
        rmSync(data, { recursive: true, force: true });
        ports = await pickPorts();
        continue;
      }
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      throw error;
    }
  }

  const port = ports['s3.port'];
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    accessKey,
    secretKey,
    region,
    dir,
    createBucket: async (name) => {
      const client = new S3Client({
        endpoint,
        region,
        forcePathStyle: true,
        credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
      });
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        client.destroy();
      }
    },
    halt: () => killGroup(child, 'SIGKILL'),
    resume: async () => {
      await killGroup(child, 'SIGKILL');
      await start();
    },
    stop: async () => {
      await killGroup(child, 'SIGTERM');
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      removeSockets();
    },
    log: logTail,
  };
}
