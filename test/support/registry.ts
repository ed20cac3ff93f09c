import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pushToOci, type OciPushOptions } from '../../core/src/registry/oci';
import type { ModelPackage, PushResult } from '../../core/src/registry/types';
import { freePort } from '../../scripts/vscode-web';

/**
 * A real OCI registry for tests: CNCF Distribution (Debian's `docker-registry`, 2.8) on a free
 * loopback port with filesystem storage in a temporary folder; optionally htpasswd (bcrypt) auth
 * and TLS with a self-signed certificate for 127.0.0.1 made by openssl.
 */

const INSTALL = 'apt-get install -y docker-registry apache2-utils openssl (or run .ci/run)';

/** Why the registry cannot run here, or undefined. Tests fail with this in CI and skip outside it. */
export function registryMissing(): string | undefined {
  for (const [program, args] of [
    ['docker-registry', ['--version']],
    ['htpasswd', ['-h']],
    ['openssl', ['version']],
  ] as const) {
    const result = spawnSync(program, [...args], { encoding: 'utf8' });
    if (result.error) return `${program} is not installed: ${INSTALL}`;
  }
  return undefined;
}

export interface RunningRegistry {
  /** `http://127.0.0.1:PORT` or `https://...`. */
  url: string;
  /** `127.0.0.1:PORT`. */
  host: string;
  port: number;
  /** The self-signed certificate (its own CA), with tls. */
  caFile?: string;
  /** The storage root, config and logs. */
  dir: string;
  /** An oci:// (TLS) or oci+http:// target for a repository. */
  target(repository: string, tag?: string): string;
  /** Stops it (SIGTERM) and removes its data. */
  stop(): Promise<void>;
  /** SIGKILL, keeping its data (a crash mid-upload). */
  kill(): Promise<void>;
  /** Starts it again on the same port and storage. */
  restart(): Promise<void>;
  /** The end of its log. */
  log(): string;
}

export interface RegistryOptions {
  auth?: { username: string; password: string };
  tls?: boolean;
  timeoutMs?: number;
}

function run(program: string, args: string[], input?: string): string {
  const result = spawnSync(program, args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
  if (result.status !== 0)
    throw new Error(
      `${program} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}${result.error?.message ?? ''}`,
    );
  return result.stdout;
}

/** GET `path` on the registry; resolves with the status and body. */
export function registryGet(
  url: string,
  options: { caFile?: string; headers?: Record<string, string>; method?: string } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const parsed = new URL(url);
    const module = parsed.protocol === 'https:' ? https : http;
    const request = module.request(
      parsed,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        ...(options.caFile ? { ca: readFileSync(options.caFile) } : {}),
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.setTimeout(10_000, () => request.destroy(new Error('timeout')));
    request.end();
  });
}

async function waitReady(
  url: string,
  child: ChildProcess,
  logFile: string,
  caFile: string | undefined,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(
        `docker-registry exited with ${child.exitCode ?? child.signalCode}:\n${readFileSync(logFile, 'utf8').slice(-3000)}`,
      );
    try {
      const { status } = await registryGet(`${url}/v2/`, caFile ? { caFile } : {});
      if (status === 200 || status === 401) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(
        `docker-registry did not answer ${url}/v2/ within ${timeoutMs / 1000} s:\n${readFileSync(logFile, 'utf8').slice(-3000)}`,
      );
    await new Promise((done) => setTimeout(done, 50));
  }
}

async function terminate(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Starts a Distribution registry; stop() it in `after`. */
export async function startRegistry(options: RegistryOptions = {}): Promise<RunningRegistry> {
  const missing = registryMissing();
  if (missing) throw new Error(`cannot start a registry: ${missing}`);
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let caFile: string | undefined;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${host}`,
    '  secret: mlpipe-test-secret',
  ];
  if (options.tls) {
    const key = join(dir, 'key.pem');
    caFile = join(dir, 'cert.pem');
    run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      caFile,
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    ]);
    lines.push('  tls:', `    certificate: ${caFile}`, `    key: ${key}`);
  }
  if (options.auth) {
    const file = join(dir, 'htpasswd');
    writeFileSync(file, run('htpasswd', ['-Bbn', options.auth.username, options.auth.password]));
    lines.push('auth:', '  htpasswd:', '    realm: mlpipe-test', `    path: ${file}`);
  }
  const config = join(dir, 'config.yml');
  writeFileSync(config, `${lines.join('\n')}\n`);
  const logFile = join(dir, 'registry.log');
  const url = `${options.tls ? 'https' : 'http'}://${host}`;
  let child: ChildProcess | undefined;

  const start = async () => {
    const fd = openSync(logFile, 'a');
    try {
      child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    await waitReady(url, child, logFile, caFile, options.timeoutMs ?? 30_000);
  };
  await start();
  return {
    url,
    host,
    port,
    ...(caFile ? { caFile } : {}),
    dir,
    target: (repository, tag) => `${options.tls ? 'oci' : 'oci+http'}://${host}/${repository}${tag ? `:${tag}` : ''}`,
    stop: async () => {
      await terminate(child, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    kill: () => terminate(child, 'SIGKILL'),
    restart: async () => {
      await terminate(child, 'SIGTERM');
      await start();
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-3000) : ''),
  };
}

/** A model package made of real files in `dir`: a model of `modelBytes` random bytes, a card and a metrics file. */
export function makePackage(
  dir: string,
  options: { modelBytes?: number; name?: string; version?: string; modelFile?: string; modelDigest?: string } = {},
): ModelPackage {
  mkdirSync(join(dir, 'metrics'), { recursive: true });
  const model = options.modelFile ?? join(dir, 'model.npz');
  if (!options.modelFile) writeFileSync(model, randomBytes(options.modelBytes ?? 3 * 1024 * 1024 + 17));
  writeFileSync(
    join(dir, 'modelcard.yaml'),
    `name: ${options.name ?? 'churn-classifier'}\nversion: ${options.version ?? '1.0.0'}\nintended_use: predicting churn\n`,
  );
  writeFileSync(join(dir, 'metrics', 'eval-test.json'), JSON.stringify({ auc: 0.91, f1: 0.88 }));
  const digest = options.modelDigest ?? `sha256:${createHash('sha256').update(readFileSync(model)).digest('hex')}`;
  return {
    name: options.name ?? 'churn-classifier',
    version: options.version ?? '1.0.0',
    files: [
      { name: 'model.npz', file: model, role: 'model', digest },
      { name: 'modelcard.yaml', file: join(dir, 'modelcard.yaml'), role: 'card' },
      { name: 'metrics/eval-test.json', file: join(dir, 'metrics', 'eval-test.json'), role: 'metrics' },
    ],
    artifactDigest: digest,
    run: 'r-20260102-030405-abcd',
    approval: { by: 'ana@example.com', at: '2026-01-03T10:00:00.000Z', note: 'beats the baseline' },
    metrics: { 'evaluate@test.auc': 0.91, 'evaluate@test.f1': 0.88 },
    annotations: {
      'org.opencontainers.image.source': 'https://example.com/churn.git',
      'org.opencontainers.image.revision': 'abc123',
    },
  };
}

export interface ChildPush {
  result: PushResult;
  /** Wall time of pushToOci in the child. */
  seconds: number;
  /** The child's peak resident memory (VmHWM of /proc/PID/status, read by the child at the end). */
  peakRssMB: number;
  /** The highest VmHWM the parent saw while polling the child (a check of the above). */
  polledPeakMB: number;
}

function vmHwmKB(status: string): number {
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
}

/**
 * Pushes in a fresh Node process, so its peak RSS measures the push alone: the parent polls
 * /proc/PID/status (VmHWM) and the child reports its own at the end.
 */
export async function pushInChild(
  pkg: ModelPackage,
  target: string,
  options: Pick<OciPushOptions, 'chunkSize' | 'monolithicLimit' | 'caFile' | 'credentials'> = {},
): Promise<ChildPush> {
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-push-child-'));
  try {
    const input = join(dir, 'input.json');
    writeFileSync(input, JSON.stringify({ pkg, target, options }));
    const child = spawn(process.execPath, ['--import', 'tsx', __filename, 'push-child', input], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    let polled = 0;
    let running = true;
    void exited.then(() => (running = false));
    while (running) {
      try {
        polled = Math.max(polled, vmHwmKB(await readFile(`/proc/${child.pid}/status`, 'utf8')));
      } catch {
        // exited between the check and the read
      }
      await Promise.race([exited, new Promise((done) => setTimeout(done, 50))]);
    }
    const code = await exited;
    const line = stdout.trim().split('\n').at(-1) ?? '';
    if (code !== 0 || !line.startsWith('{'))
      throw new Error(`the push child exited with ${code}:\n${stderr.slice(-3000)}${stdout.slice(-1000)}`);
    const report = JSON.parse(line) as { result: PushResult; seconds: number; vmHwmKB: number };
    return {
      result: report.result,
      seconds: report.seconds,
      peakRssMB: report.vmHwmKB / 1024,
      polledPeakMB: polled / 1024,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function childMain(input: string): Promise<void> {
  const { pkg, target, options } = JSON.parse(readFileSync(input, 'utf8')) as {
    pkg: ModelPackage;
    target: string;
    options: OciPushOptions;
  };
  const started = performance.now();
  const result = await pushToOci(pkg, target, options);
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `${JSON.stringify({ result, seconds, vmHwmKB: vmHwmKB(readFileSync('/proc/self/status', 'utf8')) })}\n`,
  );
}

if (require.main === module && process.argv[2] === 'push-child') {
  childMain(process.argv[3]!).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
