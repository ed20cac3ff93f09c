import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../../scripts/vscode-web';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { acquireFileLock } from '../../core/src/runs/file-lock';

/**
 * A real MLflow tracking server for tests: MLflow from PyPI in a venv made once and reused
 * (`~/.cache/mlpipe/mlflow-<version>`, MLPIPE_CACHE_DIR moves it), started per test file on a
 * free port with a SQLite store and artifacts in a temporary folder (proxied, or a plain
 * `--default-artifact-root` as many people start it), and stopped (its whole process group) by
 * the tests. `mlflowPython` runs MLflow's own Python client from the same venv: the other side.
 */
export const MLFLOW_VERSION = '3.17.2';

const INSTALL = 'apt-get install -y python3 python3-venv (or run .ci/run)';

export function mlflowVenv(): string {
  return resolve(process.env.MLPIPE_CACHE_DIR ?? join(homedir(), '.cache', 'mlpipe'), `mlflow-${MLFLOW_VERSION}`);
}

/** Why MLflow cannot be installed here, or undefined. Tests fail with this in CI and skip outside it. */
export function mlflowMissing(): string | undefined {
  if (existsSync(join(mlflowVenv(), '.installed'))) return undefined;
  const python = spawnSync('python3', ['-c', 'import sys, venv, ensurepip; print(sys.version_info >= (3, 10))'], {
    encoding: 'utf8',
  });
  if (python.error) return `python3 is not installed: ${INSTALL}`;
  if (python.status !== 0)
    return `python3 cannot make virtual environments (the venv module or ensurepip is missing): ${INSTALL}`;
  if (python.stdout.trim() !== 'True') return `MLflow ${MLFLOW_VERSION} needs Python 3.10 or later: ${INSTALL}`;
  return undefined;
}

/**
 * The `mlflow` executable of the pinned version, installed on first use. The marker file is
 * written only after pip succeeded, so a half-made venv is made again; a lock keeps two test
 * processes from installing into one folder at once.
 */
export function ensureMlflow(): string {
  const venv = mlflowVenv();
  const marker = join(venv, '.installed');
  const bin = join(venv, 'bin', 'mlflow');
  if (existsSync(marker)) return bin;
  mkdirSync(resolve(venv, '..'), { recursive: true });
  const release = acquireFileLock(`${venv}.lock`, 20 * 60_000, 30 * 60_000);
  try {
    if (existsSync(marker)) return bin;
    rmSync(venv, { recursive: true, force: true });
    const steps: [string, string[]][] = [
      ['python3', ['-m', 'venv', venv]],
      [
        join(venv, 'bin', 'pip'),
        ['install', '--disable-pip-version-check', '--no-input', '--quiet', `mlflow==${MLFLOW_VERSION}`],
      ],
    ];
    for (const [command, args] of steps) {
      const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      if (result.status !== 0) {
        throw new Error(
          `installing MLflow ${MLFLOW_VERSION} failed at '${command} ${args.join(' ')}' (exit ${result.status ?? result.signal}):\n${`${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}`.slice(-3000)}`,
        );
      }
    }
    writeFileSync(marker, `${MLFLOW_VERSION}\n`);
    return bin;
  } finally {
    release();
  }
}

/** boto3 for the S3 tests: MLflow's client and server need it for an `s3://` artifact root. */
export const BOTO3 = 'boto3==1.44.18';

/** Installs `packages` into the MLflow venv once (a marker per set), under the same lock as MLflow. */
export function ensureMlflowExtras(packages: string[]): void {
  const venv = mlflowVenv();
  ensureMlflow();
  const marker = join(venv, `.extras-${packages.join('+').replace(/[^A-Za-z0-9.+=-]/g, '_')}`);
  if (existsSync(marker)) return;
  const release = acquireFileLock(`${venv}.lock`, 20 * 60_000, 30 * 60_000);
  try {
    if (existsSync(marker)) return;
    const pip = spawnSync(
      join(venv, 'bin', 'pip'),
      ['install', '--disable-pip-version-check', '--no-input', '--quiet', ...packages],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    if (pip.status !== 0)
      throw new Error(
        `installing ${packages.join(' ')} into ${venv} failed (exit ${pip.status ?? pip.signal}):\n${`${pip.stdout ?? ''}${pip.stderr ?? ''}`.slice(-3000)}`,
      );
    writeFileSync(marker, `${packages.join('\n')}\n`);
  } finally {
    release();
  }
}

export interface RunningMlflow {
  /** http://127.0.0.1:PORT */
  uri: string;
  port: number;
  /** Its SQLite store and artifacts. */
  dir: string;
  /** Stops the server, keeping its data (for a test of a server that is down). */
  halt(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  resume(): Promise<void>;
  /** Stops it and removes its data. */
  stop(): Promise<void>;
  /** The end of the server's log, for failure messages. */
  log(): string;
}

async function waitForHealth(uri: string, child: ChildProcess, log: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(
        `mlflow server exited with ${child.exitCode ?? child.signalCode}:\n${readFileSync(log, 'utf8').slice(-3000)}`,
      );
    try {
      const response = await fetch(`${uri}/health`, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
      await response.body?.cancel();
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(
        `mlflow server did not answer ${uri}/health within ${timeoutMs / 1000} s:\n${readFileSync(log, 'utf8').slice(-3000)}`,
      );
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** Kills the server's whole process group and waits until its main process is gone. */
async function killGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
  // Workers left behind by a main process that died first.
  signal('SIGKILL');
}

/**
 * How the server keeps artifacts, as people start it:
 * - `proxy`: `--artifacts-destination DIR` (serves them; runs get `mlflow-artifacts:/...`);
 * - `default-root`: `--default-artifact-root DIR`, the common way (runs get the bare path
 *   `DIR/<experiment>/<run>/artifacts`, which clients write themselves);
 * - `no-serve`: `--default-artifact-root DIR --no-serve-artifacts`;
 * - any other string: `--default-artifact-root THAT --no-serve-artifacts` (`gs://bucket/x`: a store
 *   that mlpipe cannot reach).
 */
export type MlflowArtifactMode = 'proxy' | 'default-root' | 'no-serve' | (string & {});

/** The server's command-line arguments for keeping artifacts (see MlflowArtifactMode). */
function artifactArgs(mode: MlflowArtifactMode, dir: string): string[] {
  const folder = join(dir, 'artifacts');
  if (mode === 'proxy') return ['--artifacts-destination', folder];
  if (mode === 'default-root') return ['--default-artifact-root', folder];
  if (mode === 'no-serve') return ['--default-artifact-root', folder, '--no-serve-artifacts'];
  return ['--default-artifact-root', mode, '--no-serve-artifacts'];
}

/** Starts `mlflow server` on a free port; installs MLflow first when needed. */
export async function startMlflow(
  options: { timeoutMs?: number; artifacts?: MlflowArtifactMode; env?: NodeJS.ProcessEnv } = {},
): Promise<RunningMlflow> {
  const mlflow = ensureMlflow();
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-mlflow-'));
  const port = await freePort();
  const uri = `http://127.0.0.1:${port}`;
  const log = join(dir, 'server.log');
  let child: ChildProcess | undefined;
  const killOnExit = () => {
    if (child?.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', killOnExit);

  const start = async () => {
    const fd = openSync(log, 'a');
    try {
      child = spawn(
        mlflow,
        [
          'server',
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--backend-store-uri',
          `sqlite:///${join(dir, 'mlflow.db')}`,
          ...artifactArgs(options.artifacts ?? 'proxy', dir),
          '--workers',
          '1',
        ],
        {
          cwd: dir,
          detached: true,
          stdio: ['ignore', fd, fd],
          // No telemetry or update checks: the tests run offline.
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            LANG: 'C.UTF-8',
            MLFLOW_DISABLE_TELEMETRY: 'true',
            DO_NOT_TRACK: 'true',
            ...options.env,
          },
        },
      );
    } finally {
      closeSync(fd);
    }
    await waitForHealth(uri, child, log, options.timeoutMs ?? 120_000);
  };

  try {
    await start();
  } catch (error) {
    if (child) await killGroup(child);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    uri,
    port,
    dir,
    halt: async () => {
      if (child) await killGroup(child);
    },
    resume: start,
    stop: async () => {
      if (child) await killGroup(child);
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    },
    log: () => (existsSync(log) ? readFileSync(log, 'utf8').slice(-3000) : ''),
  };
}

/**
 * Runs a Python script with MLflow's own client (the venv's python), its arguments as an array (no
 * shell), MLFLOW_TRACKING_URI set, and returns what it printed last as JSON. A failure throws
 * with the script's output, for the test's message.
 */
export function mlflowPython<T>(
  trackingUri: string,
  script: string,
  args: string[] = [],
  cwd = tmpdir(),
  env: NodeJS.ProcessEnv = {},
): T {
  const python = join(mlflowVenv(), 'bin', 'python');
  const result = spawnSync(python, ['-c', script, ...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 240_000,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LANG: 'C.UTF-8',
      MLFLOW_TRACKING_URI: trackingUri,
      MLFLOW_DISABLE_TELEMETRY: 'true',
      DO_NOT_TRACK: 'true',
      PYTHONWARNINGS: 'ignore',
      ...env,
    },
  });
  if (result.status !== 0)
    throw new Error(
      `MLflow's Python client failed (exit ${result.status ?? result.signal}):\n${`${result.stdout}${result.stderr}${result.error?.message ?? ''}`.slice(-4000)}`,
    );
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}
