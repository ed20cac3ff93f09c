import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readdirSync, statSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, pack, type Header } from 'tar-stream';
import { type AnchoredPath, type Boundary } from '../util/boundary';

export interface Owner {
  uid: number;
  gid: number;
}

export interface PackedFile {
  name: string;
  full: string;
  dir: boolean;
}

/**
 * The files and folders under a workspace path, as they will be sent. A link whose target stays
 * in the workspace is sent as the file it points at (a linked folder is skipped, as hashing skips
 * it); a link that leads out of the workspace is refused (BoundaryError), so a cloned repository
 * cannot make mlpipe ship a file of this machine to a remote engine.
 */
export function listFiles(boundary: Boundary, root: string, path: string, out: PackedFile[] = []): PackedFile[] {
  const full = join(root, path);
  const real = boundary.resolveRead(full);
  if (real === undefined) throw new ArchiveError(`${path} does not exist`);
  const stat = statSync(real);
  if (!stat.isDirectory()) {
    if (stat.isFile()) out.push({ name: path, full, dir: false });
    return out;
  }
  out.push({ name: path, full, dir: true });
  for (const entry of readdirSync(full, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const child = relative(root, join(full, entry.name)).split(sep).join('/');
    if (entry.isSymbolicLink()) {
      const target = boundary.resolveRead(join(full, entry.name));
      if (target !== undefined && statSync(target).isFile())
        out.push({ name: child, full: join(full, entry.name), dir: false });
    } else if (entry.isDirectory() || entry.isFile()) listFiles(boundary, root, child, out);
  }
  return out;
}

/**
 * A tar stream of workspace paths (files and folders), each under `prefix/` and owned by `owner`,
 * with the folders above them; file contents are streamed from disk, each file opened and proven
 * inside the workspace. What is sent is listed first, so a link out of the workspace fails here,
 * before anything is sent.
 */
export function packPaths(
  boundary: Boundary,
  paths: string[],
  prefix: string,
  owner: Owner,
  extraDirs: string[] = [],
): Readable {
  const root = boundary.root;
  const files = paths.flatMap((path) => listFiles(boundary, root, path));
  const tar = pack();
  const written = new Set<string>();
  const header = (name: string, type: 'file' | 'directory', size = 0, mode = 0o644): Header => ({
    name,
    type,
    size,
    mode,
    uid: owner.uid,
    gid: owner.gid,
    mtime: new Date(),
    linkname: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
  });
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
      for (const file of files) {
        const name = posix.join(prefix, file.name);
        if (file.dir) {
          addDirs(name);
          continue;
        }
        addDirs(posix.dirname(name));
        const { fd, stat } = boundary.openRead(file.full);
        await new Promise<void>((resolve, reject) => {
          const entry = tar.entry(header(name, 'file', stat.size, stat.mode & 0o777), (error) =>
            error ? reject(error) : resolve(),
          );
          createReadStream('', { fd }).on('error', reject).pipe(entry);
        });
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

/** More entries than this in one output's archive is not an output, it is an attack on the disk's inodes. */
const MAX_ENTRIES = 1_000_000;

/**
 * Extracts a tar stream from `docker cp`/getArchive of a container path into `target`: the
 * archive's top entry (the path's base name) becomes `target`. The archive comes from an engine
 * that may lie: links, devices and any entry that would land outside `target` are refused, every
 * folder is made and every file created (exclusively) only through real folders inside the
 * workspace, and a refusal or a broken stream rejects the promise, never the process. Returns
 * each file's sha256, computed as it is written.
 */
export async function extractInto(
  stream: Readable,
  target: string,
  boundary: Boundary,
): Promise<Record<string, string>> {
  // No prototype: a file named __proto__ is a file like any other.
  const hashes: Record<string, string> = Object.create(null) as Record<string, string>;
  const unpack = extract();
  boundary.remove(target);
  let entries = 0;
  unpack.on('entry', (entryHeader, entryStream, next) => {
    // Errors reach the caller through next(error) and the pipeline; an entry stream destroyed on
    // the way must not raise an 'error' event that nobody hears (that crashed the process).
    entryStream.on('error', () => undefined);
    const refuse = (why: string) => {
      entryStream.resume();
      next(new ArchiveError(`refusing archive entry ${printable(entryHeader.name)}: ${why}`));
    };
    if (++entries > MAX_ENTRIES) return refuse(`the output has more than ${MAX_ENTRIES} entries`);
    const name = entryHeader.name.replace(/\/+$/, '');
    const parts = name.split('/');
    const rest = parts.slice(1);
    if (
      name.startsWith('/') ||
      name.includes('\0') ||
      parts.some((part) => part === '..' || part === '.' || part === '')
    )
      return refuse('it points outside the output');
    const destination = rest.length === 0 ? target : join(target, ...rest);
    let anchored: AnchoredPath | undefined;
    try {
      if (entryHeader.type === 'directory') {
        boundary.makeDirs(destination);
        entryStream.resume();
        entryStream.on('end', () => next());
        return;
      }
      if (entryHeader.type !== 'file') return refuse(`outputs must be files and folders, not ${entryHeader.type}s`);
      // Written through its folder held open by descriptor: a local stage running meanwhile cannot
      // swap a folder on the way for a link.
      anchored = boundary.openParent(destination, true);
    } catch (error) {
      return refuse(error instanceof Error ? error.message : String(error));
    }
    const file = anchored!;
    const hash = createHash('sha256');
    entryStream.on('data', (chunk: unknown) => hash.update(chunk as Buffer));
    pipeline(
      entryStream as unknown as Readable,
      createWriteStream(file.path, { flags: 'wx', mode: (entryHeader.mode ?? 0o644) & 0o777 }),
    ).then(
      () => {
        file.close();
        hashes[rest.join('/')] = `sha256:${hash.digest('hex')}`;
        next();
      },
      (error: Error) => {
        file.close();
        next(error);
      },
    );
  });
  await pipeline(stream, unpack as unknown as NodeJS.WritableStream);
  return hashes;
}

/** An entry name as it may be shown: control characters escaped, cut at 200 characters. */
function printable(name: string): string {
  const clean = name.replace(
    /[\u0000-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  return clean.length > 200 ? `${clean.slice(0, 200)}...` : clean;
}
