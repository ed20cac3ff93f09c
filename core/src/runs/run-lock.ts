import { acquireFileLock, alive as processAlive } from './file-lock';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readStateFile } from './files';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { Boundary } from '../util/boundary';
import { isRunId, jsonRecord } from './metadata';

export interface RunLock {
  run: string;
  pid: number;
  hostname: string;
  started: string;
  /** Output paths the run may write. */
  outputs: string[];
  /** When the process started (Linux: /proc/PID/stat's start time), so a reused pid is never mistaken for the run. */
  processStart?: string;
  /** Whether `mlpipe cancel` may signal the process (the CLI); otherwise it asks through a cancel file (VS Code's extension host). */
  signal?: boolean;
}

export class LockError extends Error {}

/** A process's start time in clock ticks since boot, from /proc; undefined where there is no /proc. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the process a lock names is that run's process, alive, on this machine. */
export function isRunProcess(lock: RunLock): boolean {
  if (lock.hostname !== hostname() || !processAlive(lock.pid)) return false;
  const now = processStart(lock.pid);
  return now === undefined || lock.processStart === undefined
    ? process.platform !== 'linux'
    : now === lock.processStart;
}

function alive(lock: RunLock): boolean {
  // Another machine's run on a shared folder: assume it is alive.
  if (lock.hostname !== hostname()) return true;
  if (!processAlive(lock.pid)) return false;
  // A pid reused by another process since: the run is gone.
  const now = processStart(lock.pid);
  return now === undefined || lock.processStart === undefined || now === lock.processStart;
}

function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/** A lock file's content, or undefined when it is not one (a planted or damaged file). */
function parseLock(text: string, name: string): RunLock | undefined {
  const data = jsonRecord(text);
  if (
    !data ||
    !isRunId(data.run) ||
    `${data.run}.json` !== name ||
    !Number.isSafeInteger(data.pid) ||
    (data.pid as number) <= 1
  )
    return undefined;
  if (
    typeof data.hostname !== 'string' ||
    typeof data.started !== 'string' ||
    !Array.isArray(data.outputs) ||
    !data.outputs.every((path) => typeof path === 'string')
  )
    return undefined;
  return data as unknown as RunLock;
}

/** Runs in progress in a workspace (locks of dead processes, and files that are not locks, are cleared on the way). */
export function activeLocks(dir: string): RunLock[] {
  if (!existsSync(dir)) return [];
  // `.mlpipe/locks` is cleaned here: it must be the workspace's own folder, not a link to one elsewhere.
  const boundary = new Boundary(dirname(dirname(dir)));
  boundary.assertNoLinks(dir, true);
  const locks: RunLock[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json')) continue;
    const path = join(dir, name);
    let lock: RunLock | undefined;
    try {
      lock = parseLock(readStateFile(boundary, path, 64 * 1024) ?? '', name);
    } catch {
      lock = undefined;
    }
    if (lock && alive(lock)) locks.push(lock);
    else rmSync(path, { force: true });
  }
  return locks;
}

/**
 * Takes the lock for a run: refused when a running run may write the same outputs, naming it.
 * Runs over disjoint outputs can proceed side by side. The look at the other locks and the
 * creation of this one happen under one exclusive file lock, so two runs that start at the same
 * moment cannot both see the other absent.
 */
export function acquireLock(dir: string, lock: RunLock): () => void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${lock.run}.json`);
  const release = acquireFileLock(join(dir, '.acquire'));
  try {
    for (const other of activeLocks(dir)) {
      const clash = lock.outputs.find((output) => other.outputs.some((theirs) => overlaps(output, theirs)));
      if (clash) {
        throw new LockError(
          `run ${other.run} (pid ${other.pid}, started ${other.started}) is writing ${clash}; wait for it to finish or stop it with \`mlpipe cancel\`.`,
        );
      }
    }
    writeFileSync(path, JSON.stringify({ ...lock, processStart: processStart(lock.pid) }), { flag: 'wx' });
  } finally {
    release();
  }
  return () => {
    rmSync(path, { force: true });
    rmSync(cancelPath(dir, lock.run), { force: true });
  };
}

/** The file `mlpipe cancel` creates to ask a run to stop, whatever process runs it. */
export function cancelPath(dir: string, run: string): string {
  return join(dir, `${run}.cancel`);
}
