import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type RunRecord } from '../../core/src/runs/records';
import { ROOT } from './files';

const CLI = join(ROOT, 'dist/cli.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the bundled CLI as a user would, in `cwd`, with extra environment (DOCKER_HOST, HOME). */
export function mlpipe(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): CliResult {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 600_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The same, without waiting: for tests that cancel or disturb a run in progress. */
export function mlpipeAsync(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<CliResult>((resolve) => child.on('exit', (status) => resolve({ status, stdout, stderr })));
  return { child, done, output: () => ({ stdout, stderr }) };
}

/** The newest run record of a workspace. */
export function lastRecord(workspace: string): RunRecord {
  const runs = join(workspace, '.mlpipe', 'runs');
  const ids = readdirSync(runs).sort();
  return JSON.parse(readFileSync(join(runs, ids[ids.length - 1], 'run.json'), 'utf8')) as RunRecord;
}

export function statuses(record: RunRecord): Record<string, string> {
  return Object.fromEntries(record.stages.map((stage) => [stage.name, stage.status]));
}

/** Polls until `check` passes (a condition, not a fixed sleep); fails with `what` after the timeout. */
export async function until<T>(what: string, check: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let value: T | undefined;
    try {
      value = check();
    } catch {
      value = undefined;
    }
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
