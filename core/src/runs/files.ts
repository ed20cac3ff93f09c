import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { dirname } from 'node:path';
import { type Boundary } from '../util/boundary';
import { MetadataError } from './metadata';
import { readOpenedFile } from '../util/read-whole';

/**
 * Writes a file so that a reader sees the old content or the new, never a half-written one, even
 * if the process is killed: write a temporary file beside it, flush it to disk, then rename.
 * With a boundary, the folders on the way are proven to be real folders inside it (no link), and
 * the temporary file is created exclusively, so a link planted under its name is never followed.
 */
export function writeFileAtomic(path: string, content: string | Buffer, boundary?: Boundary): void {
  if (!boundary) {
    mkdirSync(dirname(path), { recursive: true });
    return writeBeside(path, content);
  }
  // The temporary file and the rename both go through the folder held open (Boundary.openParent).
  const anchored = boundary.openParent(path, true)!;
  try {
    writeBeside(anchored.path, content);
  } finally {
    anchored.close();
  }
}

function writeBeside(path: string, content: string | Buffer): void {
  const temporary = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const fd = openSync(
      temporary,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o644,
    );
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

/** Reads an open regular file whole, refusing one over `maxBytes` (never loaded) or not a regular file. */
function readWhole(fd: number, stat: Stats, maxBytes: number, shown: string): Buffer {
  if (!stat.isFile()) throw new MetadataError(`${shown} is not a regular file`);
  if (stat.size > maxBytes)
    throw new MetadataError(`${shown} is ${stat.size} bytes, more than the ${maxBytes} it may hold; it was not read`);
  return readOpenedFile(fd, stat.size);
}

/**
 * Reads a small state file of `.mlpipe/` that may have been planted: never through a link (or,
 * with `follow-inside`, only through links that stay in the workspace), never a FIFO or device,
 * and never more than `maxBytes` (a larger file is refused, not loaded). Undefined when missing.
 */
export function readStateFile(
  boundary: Boundary,
  path: string,
  maxBytes: number,
  links: 'refuse' | 'follow-inside' = 'refuse',
): string | undefined {
  let opened: ReturnType<Boundary['openRead']>;
  try {
    opened = boundary.openRead(path, links);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return readWhole(opened.fd, opened.stat, maxBytes, boundary.show(path)).toString('utf8');
  } finally {
    closeSync(opened.fd);
  }
}

/**
 * Reads a file the user's configuration names (a TLS key, a card) whole, but bounded: a regular
 * file of at most `maxBytes`, opened without blocking, so a link to /dev/zero or a FIFO is an error
 * in a moment rather than a hang or the whole memory. Throws MetadataError, or the open's error.
 */
export function readFileBounded(path: string, maxBytes: number): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    return readWhole(fd, fstatSync(fd), maxBytes, path);
  } finally {
    closeSync(fd);
  }
}
