import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  createReadStream,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  statSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { Boundary, BoundaryError } from '../util/boundary';
import { readStateFile, writeFileAtomic } from './files';
import { isDigest, isRecord } from './metadata';

/** A file's content hash, or a directory's: the hash of its sorted listing of (path, file hash). */
export interface ContentHash {
  kind: 'file' | 'dir';
  /** `sha256:` + hex. */
  hash: string;
  size: number;
  /** For a directory, each file below it by path relative to it. */
  files?: Record<string, string>;
}

interface StateEntry {
  size: number;
  mtimeMs: number;
  ino: number;
  hash: string;
}

/**
 * Streams a file through sha256: large files are never loaded whole. Opened without blocking and
 * refused unless a regular file, so a FIFO a stage left in an artifact's place cannot hang it.
 */
export async function hashFile(path: string): Promise<string> {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new BoundaryError(path, `${path} is not a regular file`);
  }
  return hashStream(createReadStream('', { fd, highWaterMark: 1024 * 1024 }));
}

function hashStream(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    stream
      .on('data', (chunk) => hash.update(chunk as Buffer))
      .on('error', reject)
      .on('end', () => resolve(`sha256:${hash.digest('hex')}`));
  });
}

export function hashText(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

const STATE_VERSION = 1;
/** state.json for 1,000,000 files is about 200 MB; a larger one is not read. */
const MAX_STATE_BYTES = 256 * 1024 * 1024;

function isStateEntry(value: unknown): value is StateEntry {
  return (
    isRecord(value) &&
    typeof value.size === 'number' &&
    typeof value.mtimeMs === 'number' &&
    typeof value.ino === 'number' &&
    isDigest(value.hash)
  );
}

/**
 * How a hash treats symbolic links. Outputs (`refuse`): a stage's container made them, so a link
 * anywhere (the output, a file in it, a folder on the way) fails the stage, as on remote hosts.
 * Deps (`follow-inside`): a repository may link a file to another of its files; a link that leads
 * out of the workspace is refused, naming it.
 */
export type LinkPolicy = 'refuse' | 'follow-inside';

/**
 * Content hashes, computed once per content change. The state file (`.mlpipe/state.json`) maps a
 * path to the size, mtime, inode and hash seen last; while those three match, the hash is reused
 * without reading the file, so a warm status check only stats files. Every file read is opened
 * first and proven inside the workspace (see Boundary), so a hash never reads a file elsewhere.
 */
export class HashState {
  private entries = new Map<string, StateEntry>();
  private dirty = false;
  /** The workspace (the state file's `.mlpipe/` is in it). */
  readonly boundary: Boundary;
  /** Real paths of folders holding deps, resolved once per state (one realpath per folder, not per file). */
  private readonly realFolders = new Map<string, string | undefined>();

  constructor(private readonly file: string) {
    this.boundary = new Boundary(dirname(dirname(file)));
    let text: string | undefined;
    try {
      text = readStateFile(this.boundary, file, MAX_STATE_BYTES);
    } catch {
      return; // a damaged, planted or oversized state file only costs re-hashing
    }
    if (text === undefined) return;
    try {
      const data = JSON.parse(text) as { version: number; files: Record<string, unknown> };
      if (data.version === STATE_VERSION && isRecord(data.files)) {
        for (const [path, entry] of Object.entries(data.files)) if (isStateEntry(entry)) this.entries.set(path, entry);
      }
    } catch {
      // A damaged state file only costs re-hashing.
    }
  }

  private async fileHash(path: string, stat: Stats, links: LinkPolicy): Promise<string> {
    const known = this.entries.get(path);
    if (known && known.size === stat.size && known.mtimeMs === stat.mtimeMs && known.ino === stat.ino)
      return known.hash;
    const { fd } = this.boundary.openRead(path, links);
    const hash = await hashStream(createReadStream('', { fd, highWaterMark: 1024 * 1024 }));
    this.entries.set(path, { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino, hash });
    this.dirty = true;
    return hash;
  }

  /**
   * A dep's stats (of what it points at when it is a link), proven inside the workspace; undefined
   * when it does not exist. One realpath per folder, one lstat per file (a file that is not a link
   * needs no second stat).
   */
  /**
   * A folder's real path, proven inside; built from its parent's (one lstat per folder, cached),
   * with a realpath only where a folder is a link. Undefined when it does not exist.
   */
  private realFolder(folder: string): string | undefined {
    if (this.realFolders.has(folder)) return this.realFolders.get(folder);
    let real: string | undefined;
    const parent = dirname(folder);
    if (folder === this.boundary.root || parent === folder || !this.boundary.contains(parent))
      real = this.boundary.resolveRead(folder);
    else {
      const parentReal = this.realFolder(parent);
      let stat: Stats | undefined;
      try {
        stat = parentReal === undefined ? undefined : lstatSync(folder);
      } catch {
        stat = undefined;
      }
      real =
        stat === undefined
          ? undefined
          : stat.isSymbolicLink()
            ? this.boundary.resolveRead(folder)
            : join(parentReal!, basename(folder));
    }
    this.realFolders.set(folder, real);
    return real;
  }

  private depStat(path: string): Stats | undefined {
    if (this.realFolder(dirname(path)) === undefined) return undefined;
    let stat: Stats;
    try {
      stat = lstatSync(path);
    } catch {
      return undefined;
    }
    if (!stat.isSymbolicLink()) return stat;
    const real = this.boundary.resolveRead(path);
    try {
      return real === undefined ? undefined : statSync(real);
    } catch {
      return undefined;
    }
  }

  /**
   * The hash of a file or directory, or undefined when it does not exist. Throws BoundaryError for
   * a link the policy refuses (see LinkPolicy), naming it.
   */
  async hash(path: string, links: LinkPolicy = 'follow-inside'): Promise<ContentHash | undefined> {
    let stat: Stats;
    if (links === 'refuse') {
      const found = this.boundary.assertNoLinks(path, true);
      if (found === undefined) return undefined;
      stat = found;
    } else {
      const found = this.depStat(path);
      if (found === undefined) return undefined;
      stat = found;
    }
    if (stat.isFile()) return { kind: 'file', hash: await this.fileHash(path, stat, links), size: stat.size };
    if (!stat.isDirectory()) {
      if (links === 'refuse')
        throw new BoundaryError(
          this.boundary.show(path),
          `${this.boundary.show(path)} is not a regular file or folder; outputs must be files and folders`,
        );
      return undefined;
    }
    const files: Record<string, string> = {};
    let size = 0;
    const walk = async (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const full = join(dir, entry.name);
        let fileStat: Stats | undefined;
        if (entry.isDirectory()) await walk(full);
        else if (entry.isFile()) fileStat = lstatSync(full);
        else if (links === 'refuse') {
          throw new BoundaryError(
            this.boundary.show(full),
            `${this.boundary.show(full)} is ${entry.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}; outputs must be files and folders (a link could make mlpipe cache a file from outside the workspace)`,
          );
        } else if (entry.isSymbolicLink()) {
          const real = this.boundary.resolveRead(full);
          const target = real === undefined ? undefined : statSync(real);
          if (target?.isFile()) fileStat = target;
        }
        if (!fileStat) continue;
        files[relative(path, full).split(sep).join('/')] = await this.fileHash(full, fileStat, links);
        size += fileStat.size;
      }
    };
    await walk(path);
    const listing = Object.entries(files)
      .map(([name, hash]) => `${hash}  ${name}\n`)
      .join('');
    return { kind: 'dir', hash: hashText(listing), size, files };
  }

  /** Records a hash mlpipe already knows (a file it just restored), so the next check reads nothing. */
  remember(path: string, hash: string): void {
    try {
      const stat = lstatSync(path);
      if (!stat.isFile()) return;
      this.entries.set(path, { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino, hash });
      this.dirty = true;
    } catch {
      // gone again: nothing to remember
    }
  }

  /**
   * Saves the state when something changed; safe against a killed process. The state is a cache:
   * when it cannot be written (a folder or a link planted in its place, a full disk) the command
   * goes on and the next one hashes again, as a damaged state file costs when it is read.
   */
  save(): void {
    if (!this.dirty) return;
    try {
      writeFileAtomic(
        this.file,
        JSON.stringify({ version: STATE_VERSION, files: Object.fromEntries(this.entries) }),
        this.boundary,
      );
    } catch {
      // Not saved: only re-hashing lost.
    }
    this.dirty = false;
  }
}
