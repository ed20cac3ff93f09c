import { readSync } from 'node:fs';

/**
 * Reads `size` bytes of an open file from its start (fewer when it shrank meanwhile). The callers
 * opened it through a Boundary and checked that it is a regular file no larger than they allow.
 */
export function readOpenedFile(fd: number, size: number): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  let read = 0;
  while (read < size) {
    const count = readSync(fd, buffer, read, size - read, read);
    if (count === 0) break;
    read += count;
  }
  return buffer.subarray(0, read);
}
