import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, pack, type Header } from 'tar-stream';

export interface Owner {
  uid: number;
  gid: number;
}

function listFiles(root: string, path: string): { name: string; full: string; dir: boolean }[] {
  const full = join(root, path);
  const stat = statSync(full);
  if (!stat.isDirectory()) return [{ name: path, full, dir: false }];
  const out: { name: string; full: string; dir: boolean }[] = [{ name: path, full, dir: true }];
  for (const entry of readdirSync(full, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    out.push(...listFiles(root, relative(root, join(full, entry.name)).split(sep).join('/')));
  }
  return out;
}

/**
 * A tar stream of workspace paths (files and folders), each under `prefix/` and owned by `owner`,
 * with the folders above them; file contents are streamed from disk.
 */
export function packPaths(root: string, paths: string[], prefix: string, owner: Owner, extraDirs: string[] = []): Readable {
  const tar = pack();
  const written = new Set<string>();
  const header = (name: string, type: 'file' | 'directory', size = 0, mode = 0o644): Header => ({ name, type, size, mode, uid: owner.uid, gid: owner.gid, mtime: new Date(), linkname: '', uname: '', gname: '', devmajor: 0, devminor: 0 });
  const addDirs = (name: string) => {
    const parts = name.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (written.has(dir)) continue;
      written.add(dir);
      tar.entry(header(`${dir}/`, 'directory', 0, 0o755));
    }
  };
  void (async () => {
    try {
      addDirs(prefix);
      for (const dir of extraDirs) addDirs(posix.join(prefix, dir));
      for (const path of paths) {
        for (const file of listFiles(root, path)) {
          const name = posix.join(prefix, file.name);
          if (file.dir) {
            addDirs(name);
            continue;
          }
          addDirs(posix.dirname(name));
          const stat = statSync(file.full);
          await new Promise<void>((resolve, reject) => {
            const entry = tar.entry(header(name, 'file', stat.size, stat.mode & 0o777), (error) => (error ? reject(error) : resolve()));
            createReadStream(file.full).on('error', reject).pipe(entry);
          });
        }
      }
      tar.finalize();
    } catch (error) {
      tar.destroy(error as Error);
    }
  })();
  // tar-stream builds on streamx, whose streams pipe like Node's.
  return tar as unknown as Readable;
}

export class ArchiveError extends Error {}

/**
 * Extracts a tar stream from `docker cp`/getArchive of a container path into `target`: the
 * archive's top entry (the path's base name) becomes `target`. Refuses links and any entry that
 * would land outside `target`. Returns each file's sha256, computed as it is written.
 */
export async function extractInto(stream: Readable, target: string): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  const unpack = extract();
  rmSync(target, { recursive: true, force: true });
  unpack.on('entry', (entryHeader, entryStream, next) => {
    const name = entryHeader.name.replace(/\/+$/, '');
    const parts = name.split('/');
    const rest = parts.slice(1);
    if (name.startsWith('/') || parts.some((part) => part === '..')) {
      next(new ArchiveError(`refusing archive entry ${entryHeader.name}: it points outside the output`));
      return;
    }
    const destination = rest.length === 0 ? target : join(target, ...rest);
    if (entryHeader.type === 'directory') {
      mkdirSync(destination, { recursive: true });
      entryStream.resume();
      entryStream.on('end', () => next());
      return;
    }
    if (entryHeader.type !== 'file') {
      entryStream.resume();
      next(new ArchiveError(`refusing archive entry ${entryHeader.name}: outputs must be files and folders, not ${entryHeader.type}s`));
      return;
    }
    mkdirSync(dirname(destination), { recursive: true });
    const hash = createHash('sha256');
    entryStream.on('data', (chunk: unknown) => hash.update(chunk as Buffer));
    pipeline(entryStream as unknown as Readable, createWriteStream(destination, { mode: (entryHeader.mode ?? 0o644) & 0o777 })).then(
      () => {
        hashes[rest.join('/')] = `sha256:${hash.digest('hex')}`;
        next();
      },
      (error: Error) => next(error),
    );
  });
  await pipeline(stream, unpack as unknown as NodeJS.WritableStream);
  return hashes;
}
