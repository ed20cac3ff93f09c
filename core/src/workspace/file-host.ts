import { readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';

export interface FileStat {
  isFile: boolean;
  isDirectory: boolean;
  size: number;
  mtimeMs: number;
}

export interface DirEntry {
  name: string;
  isDirectory: boolean;
}

/** The file system as the analysis sees it; tests and the server may wrap it. */
export interface FileHost {
  readFile(path: string): string | undefined;
  stat(path: string): FileStat | undefined;
  readDirectory(path: string): DirEntry[] | undefined;
  /**
   * Where a path really is once every symbolic link on the way is followed; undefined when it does
   * not exist. A host that has no links (one kept in memory) may leave it out.
   */
  realPath?(path: string): string | undefined;
}

export const nodeFileHost: FileHost = {
  readFile(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  stat(path) {
    try {
      const stat = statSync(path);
      return { isFile: stat.isFile(), isDirectory: stat.isDirectory(), size: stat.size, mtimeMs: stat.mtimeMs };
    } catch {
      return undefined;
    }
  },
  readDirectory(path) {
    try {
      return readdirSync(path, { withFileTypes: true }).map((entry) => ({
        name: entry.name,
        isDirectory: entry.isDirectory(),
      }));
    } catch {
      return undefined;
    }
  },
  realPath(path) {
    try {
      return realpathSync.native(path);
    } catch {
      return undefined;
    }
  },
};

/** Whether `path` is `folder` or lies below it (both absolute, normalised). */
export function isWithin(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}
