import { alive as processAlive } from '../store/lock';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export interface RunLock {
  run: string;
  pid: number;
  hostname: string;
  started: string;
  /** Output paths the run may write. */
  outputs: string[];
}

export class LockError extends Error {}

function alive(lock: RunLock): boolean {
  // Another machine's run on a shared folder: assume it is alive.
  return lock.hostname !== hostname() || processAlive(lock.pid);
}

function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/** Runs in progress in a workspace (locks of dead processes are cleared on the way). */
export function activeLocks(dir: string): RunLock[] {
  if (!existsSync(dir)) return [];
  const locks: RunLock[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    try {
      const lock = JSON.parse(readFileSync(path, 'utf8')) as RunLock;
      if (alive(lock)) locks.push(lock);
      else rmSync(path, { force: true });
    } catch {
      rmSync(path, { force: true });
    }
  }
  return locks;
}

/**
 * Takes the lock for a run: refused when a running run may write the same outputs, naming it.
 * Runs over disjoint outputs can proceed side by side.
 */
export function acquireLock(dir: string, lock: RunLock): () => void {
  mkdirSync(dir, { recursive: true });
  for (const other of activeLocks(dir)) {
    const clash = lock.outputs.find((path) => other.outputs.some((theirs) => overlaps(path, theirs)));
    if (clash) {
      throw new LockError(`run ${other.run} (pid ${other.pid}, started ${other.started}) is writing ${clash}; wait for it to finish or stop it with \`mlpipe cancel\`.`);
    }
  }
  const path = join(dir, `${lock.run}.json`);
  writeFileSync(path, JSON.stringify(lock), { flag: 'wx' });
  return () => rmSync(path, { force: true });
}
