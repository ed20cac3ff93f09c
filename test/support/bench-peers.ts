import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { acquireFileLock } from '../../core/src/runs/file-lock';

/**
 * The tools the remote benchmark (`npm run bench:remote`) measures mlpipe against: DVC with its
 * S3 extra (`dvc push` / `dvc pull`) and the AWS CLI (`aws s3 sync` / `aws s3 cp`, the plain-copy
 * reference), both from PyPI in one venv made once and reused
 * (`~/.cache/mlpipe/bench-peers-<dvc version>`, MLPIPE_CACHE_DIR moves it), plus the small
 * helpers the benchmark needs to drive them against an S3-compatible server and to time them.
 *
 * The versions are the newest that pip installed together on Python 3.11 (2026-12-05). The AWS
 * CLI on PyPI is version 1 (version 2 is not published there); since 1.44 or so it carries its
 * own copy of botocore and s3transfer (awscli/botocore), so its exact botocore pin no longer
 * fights the one aiobotocore (under s3fs, under dvc-s3) wants. The S3 transfer stack under DVC
 * is pinned too, so that a new aiobotocore does not move the figures between machines.
 */
export const DVC_VERSION = '3.67.1';
export const DVC_S3_VERSION = '3.3.0';
export const AWSCLI_VERSION = '1.46.3';
const PINS = [
  `dvc[s3]==${DVC_VERSION}`,
  `dvc-s3==${DVC_S3_VERSION}`,
  `awscli==${AWSCLI_VERSION}`,
  's3fs==2026.9.0',
  'aiobotocore==3.10.0',
  'botocore==1.43.117',
];

const INSTALL = 'apt-get install -y python3 python3-venv (or run .ci/run)';

export interface BenchPeers {
  /** The `dvc` executable. */
  dvc: string;
  /** The `aws` executable (AWS CLI v1). */
  aws: string;
  /** The venv's python. */
  python: string;
}

/** An S3-compatible remote: a bucket and a key prefix on a server. */
export interface S3Target {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing slash ('' for the whole bucket). */
  prefix: string;
  accessKey: string;
  secretKey: string;
  /** us-east-1 for SeaweedFS; any value works where the server ignores it. */
  region: string;
}

export function benchPeersVenv(): string {
  return resolve(process.env.MLPIPE_CACHE_DIR ?? join(homedir(), '.cache', 'mlpipe'), `bench-peers-${DVC_VERSION}`);
}

/** Why DVC and the AWS CLI cannot be installed here, or undefined. */
export function benchPeersMissing(): string | undefined {
  if (existsSync(join(benchPeersVenv(), '.installed'))) return undefined;
  const python = spawnSync('python3', ['-c', 'import sys, venv, ensurepip; print(sys.version_info >= (3, 10))'], {
    encoding: 'utf8',
  });
  if (python.error) return `python3 is not installed: ${INSTALL}`;
  if (python.status !== 0)
    return `python3 cannot make virtual environments (the venv module or ensurepip is missing): ${INSTALL}`;
  if (python.stdout.trim() !== 'True')
    return `DVC ${DVC_VERSION} and awscli ${AWSCLI_VERSION} need Python 3.10 or later`;
  if (spawnSync('git', ['--version']).error) return 'git is not installed (dvc init needs a Git repository)';
  return undefined;
}

function peers(venv: string): BenchPeers {
  return { dvc: join(venv, 'bin', 'dvc'), aws: join(venv, 'bin', 'aws'), python: join(venv, 'bin', 'python') };
}

/**
 * The executables of the pinned versions, installed on first use (about 35 s and 390 MB). The
 * marker file is written only after pip succeeded, so a half-made venv is made again; a lock
 * keeps two processes from installing into one folder at once. `versions.txt` beside it holds
 * `pip freeze`, for the benchmark's report.
 */
export function ensureBenchPeers(): BenchPeers {
  const venv = benchPeersVenv();
  const marker = join(venv, '.installed');
  if (existsSync(marker)) return peers(venv);
  mkdirSync(resolve(venv, '..'), { recursive: true });
  const release = acquireFileLock(`${venv}.lock`, 20 * 60_000, 30 * 60_000);
  try {
    if (existsSync(marker)) return peers(venv);
    rmSync(venv, { recursive: true, force: true });
    const pip = join(venv, 'bin', 'pip');
    const steps: [string, string[]][] = [
      ['python3', ['-m', 'venv', venv]],
      [pip, ['install', '--disable-pip-version-check', '--no-input', '--quiet', ...PINS]],
    ];
    for (const [command, args] of steps) {
      const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      if (result.status !== 0) {
        throw new Error(
          `installing DVC ${DVC_VERSION} and awscli ${AWSCLI_VERSION} failed at '${command} ${args.join(' ')}' (exit ${result.status ?? result.signal}):\n${`${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}`.slice(-3000)}`,
        );
      }
    }
    const freeze = spawnSync(pip, ['freeze', '--disable-pip-version-check'], { encoding: 'utf8' });
    writeFileSync(join(venv, 'versions.txt'), freeze.stdout ?? '');
    writeFileSync(marker, `${PINS.join('\n')}\n`);
    return peers(venv);
  } finally {
    release();
  }
}

/** One line naming what was measured: `dvc 3.67.1 (dvc-s3 3.3.0, s3fs …, botocore …), awscli 1.46.3`. */
export function benchPeerVersions(): string {
  const frozen = existsSync(join(benchPeersVenv(), 'versions.txt'))
    ? readFileSync(join(benchPeersVenv(), 'versions.txt'), 'utf8')
    : '';
  const version = (name: string) => new RegExp(`^${name}==(\\S+)$`, 'im').exec(frozen)?.[1] ?? '?';
  return `dvc ${version('dvc')} (dvc-s3 ${version('dvc-s3')}, s3fs ${version('s3fs')}, aiobotocore ${version('aiobotocore')}, botocore ${version('botocore')}), awscli ${version('awscli')}`;
}

/** `s3://bucket/prefix[/sub]` */
export function s3Url(target: S3Target, sub = ''): string {
  return `s3://${[target.bucket, target.prefix, sub].filter((part) => part !== '').join('/')}`;
}

/**
 * The environment for `dvc` and `aws`: the credentials (here only, never in arguments, so they
 * stay out of logs and process lists), no user or machine AWS/DVC configuration, no DVC
 * analytics or update check (both would start a background `dvc daemon` that runs past the
 * timed command). `scratch` gets DVC's global, system and site-cache folders (the site cache
 * holds DVC's index of a repository, by its path) so that nothing of an earlier run is reused.
 *
 * Checksums: botocore since 1.36 (January 2025) adds a CRC32 to every upload (seen here over
 * http: an x-amz-checksum-crc32 header on each PUT and part; over https it streams aws-chunked
 * with a trailer) and checks the CRC32 of every download the server returns one for, unless
 * told `when_required`. The AWS CLI's own botocore and aiobotocore under DVC both read the two
 * variables below. SeaweedFS 4.53 works either way (it stores the CRC32 and answers with it);
 * servers that predate the change (older MinIO, Ceph RGW, appliances) may refuse it, and
 * `when_required` is the usual advice for third-party S3 servers.
 */
export function peerEnv(target: S3Target, scratch = join(tmpdir(), 'mlpipe-bench-peers')): NodeJS.ProcessEnv {
  mkdirSync(scratch, { recursive: true });
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: 'C.UTF-8',
    TMPDIR: process.env.TMPDIR ?? tmpdir(),
    AWS_ACCESS_KEY_ID: target.accessKey,
    AWS_SECRET_ACCESS_KEY: target.secretKey,
    AWS_DEFAULT_REGION: target.region,
    AWS_REGION: target.region,
    AWS_CONFIG_FILE: join(scratch, 'aws-config-none'),
    AWS_SHARED_CREDENTIALS_FILE: join(scratch, 'aws-credentials-none'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'when_required',
    AWS_PAGER: '',
    DVC_NO_ANALYTICS: '1',
    DVC_GLOBAL_CONFIG_DIR: join(scratch, 'dvc-global'),
    DVC_SYSTEM_CONFIG_DIR: join(scratch, 'dvc-system'),
    DVC_SITE_CACHE_DIR: join(scratch, 'dvc-site-cache'),
    GIT_CONFIG_NOSYSTEM: '1',
  };
}

/** `--endpoint-url URL --only-show-errors --no-progress`: what every `aws s3 cp/sync` of the benchmark takes. */
export function awsS3Options(target: S3Target): string[] {
  return ['--endpoint-url', target.endpoint, '--only-show-errors', '--no-progress'];
}

/** Runs a setup step (not timed); throws with the end of its output when it fails. */
export function runPeer(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): string {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new Error(
      `'${command} ${args.join(' ')}' failed (exit ${result.status ?? result.signal}):\n${`${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}`.slice(-3000)}`,
    );
  }
  return result.stdout;
}

/** Creates the target's bucket if it is not there (create-bucket, BucketAlreadyOwnedByYou is fine). */
export function ensureBucket(target: S3Target, env = peerEnv(target)): void {
  const tools = ensureBenchPeers();
  const result = spawnSync(
    tools.aws,
    ['s3api', 'create-bucket', '--bucket', target.bucket, '--endpoint-url', target.endpoint],
    { env, encoding: 'utf8' },
  );
  if (result.status !== 0 && !/BucketAlreadyOwnedByYou|BucketAlreadyExists/.test(result.stderr ?? '')) {
    throw new Error(`creating bucket ${target.bucket} failed (exit ${result.status}):\n${result.stderr.slice(-3000)}`);
  }
}

const REMOTE = 'bench';

/**
 * The credentials in `.dvc/config.local` (git-ignored by `dvc init`, mode 600), written here
 * rather than with `dvc remote modify --local` so that they appear in no command line.
 */
export function writeDvcCredentials(dir: string, target: S3Target): void {
  // configobj would need quoting for these; test keys never have them.
  if (/[\s#'"]/.test(target.accessKey + target.secretKey))
    throw new Error('S3 keys with spaces, quotes or # are not supported here');
  writeFileSync(
    join(dir, '.dvc', 'config.local'),
    `['remote "${REMOTE}"']\n    access_key_id = ${target.accessKey}\n    secret_access_key = ${target.secretKey}\n`,
    { mode: 0o600 },
  );
}

/**
 * Makes `dir` a Git repository with DVC in it whose default remote `bench` is the target
 * (`dvc remote add -d bench s3://bucket/prefix`, endpointurl and region in `.dvc/config`,
 * credentials in `.dvc/config.local`), commits that, and leaves `jobs` at DVC's default
 * (4 x CPUs; 8 on 2 cores) unless given. `env` defaults to peerEnv's.
 */
export function initDvcRepo(
  dir: string,
  target: S3Target,
  options: { env?: NodeJS.ProcessEnv; jobs?: number } = {},
): void {
  const tools = ensureBenchPeers();
  const env = options.env ?? peerEnv(target);
  mkdirSync(dir, { recursive: true });
  const git = (...args: string[]) => runPeer('git', args, { cwd: dir, env });
  const dvc = (...args: string[]) => runPeer(tools.dvc, args, { cwd: dir, env });
  git('init', '--quiet');
  git('config', 'user.email', 'bench@mlpipe.invalid');
  git('config', 'user.name', 'mlpipe bench');
  git('config', 'commit.gpgsign', 'false');
  dvc('init', '--quiet');
  dvc('config', 'core.analytics', 'false');
  dvc('config', 'core.check_update', 'false');
  dvc('remote', 'add', '--default', REMOTE, s3Url(target));
  dvc('remote', 'modify', REMOTE, 'endpointurl', target.endpoint);
  dvc('remote', 'modify', REMOTE, 'region', target.region);
  if (options.jobs !== undefined) dvc('remote', 'modify', REMOTE, 'jobs', String(options.jobs));
  writeDvcCredentials(dir, target);
  git('add', '--all');
  git('commit', '--quiet', '--message', 'dvc init');
}

/**
 * A fresh copy of a DVC repository for `dvc pull`: `git clone` (the `.dvc` files and config,
 * no data, no DVC cache) and the credentials again, since config.local is not committed.
 * Commit what `dvc add` made in the source first (`git add --all && git commit`).
 */
export function cloneDvcRepo(source: string, dir: string, target: S3Target, env = peerEnv(target)): void {
  runPeer('git', ['clone', '--quiet', source, dir], { env });
  writeDvcCredentials(dir, target);
}

export interface TimedCommand {
  /** Wall time from spawn to exit. */
  seconds: number;
  /** Peak resident set size in MB (kB / 1024, as the other benchmarks count): see RSS_SOURCE. */
  maxRssMb: number;
}

/**
 * How timeCommand reads the peak RSS. '/usr/bin/time' (GNU time, present on Debian and in CI's
 * image: `time -f %M -o FILE`): the kernel's ru_maxrss from wait4, which is the largest peak
 * of the child and every descendant it waited for, one process at a time, not their sum. DVC,
 * the AWS CLI and mlpipe each move data in threads of one process, so that is their footprint.
 * Without GNU time, 'VmHWM': /proc/PID/status of the child and its descendants, read every
 * 50 ms, the largest VmHWM seen (a descendant that lives under 50 ms may be missed).
 */
export const RSS_SOURCE: '/usr/bin/time' | 'VmHWM' =
  spawnSync('/usr/bin/time', ['-f', '%M', 'true'], { encoding: 'utf8' }).status === 0 ? '/usr/bin/time' : 'VmHWM';

/** The child's descendants, by /proc/PID/task/TID/children. */
function descendants(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.pop()!;
    found.push(next);
    try {
      for (const task of readdirSync(`/proc/${next}/task`)) {
        const children = readFileSync(`/proc/${next}/task/${task}/children`, 'utf8').trim();
        if (children !== '') queue.push(...children.split(/\s+/).map(Number));
      }
    } catch {
      // gone, or no /proc
    }
  }
  return found;
}

function vmHwmKb(pid: number): number {
  try {
    return Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Runs a command to completion, measuring its wall time and the peak RSS of its process tree
 * (RSS_SOURCE says how). Its output is kept (the last 64 KB) only for the error it throws when
 * it fails; the benchmark passes `--only-show-errors`/`--quiet` so that printing is not timed.
 */
export async function timeCommand(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<TimedCommand> {
  const scratch = RSS_SOURCE === '/usr/bin/time' ? mkdtempSync(join(tmpdir(), 'mlpipe-time-')) : undefined;
  const rssFile = scratch === undefined ? undefined : join(scratch, 'rss');
  const [file, argv] =
    rssFile === undefined
      ? [command, args]
      : ['/usr/bin/time', ['--format=%M', `--output=${rssFile}`, '--', command, ...args]];
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-65_536));
  try {
    const started = performance.now();
    const child = spawn(file, argv, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let peakKb = 0;
    const poll =
      rssFile === undefined
        ? setInterval(() => {
            if (child.pid !== undefined)
              for (const pid of descendants(child.pid)) peakKb = Math.max(peakKb, vmHwmKb(pid));
          }, 50)
        : undefined;
    // On timeout, the whole tree: killing /usr/bin/time alone would leave the command running.
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            for (const pid of child.pid === undefined ? [] : descendants(child.pid)) {
              try {
                process.kill(pid, 'SIGKILL');
              } catch {
                // gone already
              }
            }
          }, options.timeoutMs);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done, fail) => {
      child.once('error', fail);
      child.once('close', (exitCode, exitSignal) => done([exitCode, exitSignal]));
    });
    const seconds = (performance.now() - started) / 1000;
    clearInterval(poll);
    clearTimeout(timer);
    if (rssFile !== undefined) {
      // GNU time writes "Command exited with non-zero status N" above the figure when it fails.
      const lines = readFileSync(rssFile, 'utf8').trim().split('\n');
      peakKb = Number(lines[lines.length - 1]);
    }
    if (code !== 0) {
      throw new Error(
        `'${command} ${args.join(' ')}' failed (exit ${code ?? signal}) after ${seconds.toFixed(1)} s:\n${output.slice(-3000)}`,
      );
    }
    return { seconds, maxRssMb: peakKb / 1024 };
  } finally {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  }
}
