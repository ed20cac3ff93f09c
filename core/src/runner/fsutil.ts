import { closeSync, constants, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Boundary } from '../util/boundary';
import { MetadataError } from './metadata';

/**
 * Writes a file so that a reader sees the old content or the new, never a half-written one, even
 * if the process is killed: write a temporary file beside it, flush it to disk, then rename.
 * With a boundary, the folders on the way are proven to be real folders inside it (no link), and
 * the temporary file is created exclusively, so a link planted under its name is never followed.
 */
export function writeFileAtomic(path: string, content: string | Buffer, boundary?: Boundary): void {
  if (boundary) boundary.prepareWrite(path);
  else mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    try {
      writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/**
 * Reads a small state file of `.mlpipe/` that may have been planted: never through a link, and
 * never more than `maxBytes` (a larger file is refused, not loaded). Undefined when it is missing.
 */
export function readStateFile(boundary: Boundary, path: string, maxBytes: number): string | undefined {
  let opened: ReturnType<Boundary['openRead']>;
  try {
    opened = boundary.openRead(path, 'refuse');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const { fd, stat } = opened;
  try {
    if (!stat.isFile()) throw new MetadataError(`${boundary.show(path)} is not a file`);
    if (stat.size > maxBytes) throw new MetadataError(`${boundary.show(path)} is ${stat.size} bytes, more than the ${maxBytes} an mlpipe state file may hold; it was not read`);
    const buffer = Buffer.allocUnsafe(stat.size);
    let read = 0;
    while (read < stat.size) {
      const count = readSync(fd, buffer, read, stat.size - read, read);
      if (count === 0) break;
      read += count;
    }
    return buffer.toString('utf8', 0, read);
  } finally {
    closeSync(fd);
  }
}
