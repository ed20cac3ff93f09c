import { closeSync, constants, fstatSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';

/** Waits synchronously (the critical sections it guards take microseconds to milliseconds). */
function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Whether a process of this machine is alive (EPERM: alive, someone else's). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function stale(path: string, staleMs: number): boolean {
  let text: string;
  try {
    // A lock is a few bytes: read at most 4 KB, never through a link or from a FIFO.
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const buffer = Buffer.alloc(4096);
      text = fstatSync(fd).isFile() ? buffer.toString('utf8', 0, readSync(fd, buffer, 0, buffer.length, 0)) : '';
    } finally {
      closeSync(fd);
    }
  } catch {
    return false; // just released (or not a plain file: never taken over)
  }
  try {
    const owner = JSON.parse(text) as { pid: number; host: string; at: number };
    // An owner on this machine is stale only when dead (a slow one keeps its lock); one on
    // another machine, whose pid cannot be checked, after staleMs.
    return owner.host === hostname() ? !alive(owner.pid) : Date.now() - owner.at > staleMs;
  } catch {
    // Empty or cut short: its owner died between creating and writing it, or is writing it now.
    try {
      return Date.now() - statSync(path).mtimeMs > 2000;
    } catch {
      return false;
    }
  }
}

/**
 * Removes a stale lock. Takeovers go one at a time under a second lock and look again inside it,
 * so a waiter that saw the dead owner never removes the fresh lock another waiter just took.
 */
function takeOverIfStale(path: string, staleMs: number): boolean {
  if (!stale(path, staleMs)) return false;
  const guard = `${path}.takeover`;
  try {
    closeSync(openSync(guard, 'wx'));
  } catch {
    // Another waiter is taking over; a guard left by a crash is cleared after 2 s.
    try {
      if (Date.now() - statSync(guard).mtimeMs > 2000) rmSync(guard, { force: true });
    } catch {
      // gone already
    }
    return false;
  }
  try {
    if (!stale(path, staleMs)) return false;
    rmSync(path, { force: true });
    return true;
  } finally {
    rmSync(guard, { force: true });
  }
}

/**
 * A short-lived lock between processes: a file created with O_EXCL holding the owner's pid and
 * host. A lock whose owner on this host is dead, or that is older than `staleMs`, is taken over.
 * Returns the release function; throws after `timeoutMs`.
 */
export function acquireFileLock(path: string, timeoutMs = 10_000, staleMs = 30_000): () => void {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      const fd = openSync(path, 'wx');
      const token = JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now() });
      writeSync(fd, token);
      closeSync(fd);
      // Released only while it is still ours: a lock taken over meanwhile stays its new owner's.
      return () => {
        try {
          const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
          const buffer = Buffer.alloc(token.length + 1);
          let mine: boolean;
          try {
            mine = buffer.toString('utf8', 0, readSync(fd, buffer, 0, buffer.length, 0)) === token;
          } finally {
            closeSync(fd);
          }
          if (mine) rmSync(path, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (takeOverIfStale(path, staleMs)) continue;
    if (Date.now() > deadline)
      throw new Error(`${path} is held by another mlpipe process; if none is running, delete the file`);
    sleep(delay);
  }
}
