import { createHash } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, readFileSync, readdirSync, statSync, type Stats } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { writeFileAtomic } from './fsutil';

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

/** Streams a file through sha256: large files are never loaded whole. */
export function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path, { highWaterMark: 1024 * 1024 })
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(`sha256:${hash.digest('hex')}`));
  });
}

export function hashText(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

const STATE_VERSION = 1;

/**
 * Content hashes, computed once per content change. The state file (`.mlpipe/state.json`) maps a
 * path to the size, mtime, inode and hash seen last; while those three match, the hash is reused
 * without reading the file, so a warm status check only stats files.
 */
export class HashState {
  private entries = new Map<string, StateEntry>();
  private dirty = false;

  constructor(private readonly file: string) {
    if (!existsSync(file)) return;
    try {
      const data = JSON.parse(readFileSync(file, 'utf8')) as { version: number; files: Record<string, StateEntry> };
      if (data.version === STATE_VERSION) this.entries = new Map(Object.entries(data.files));
    } catch {
      // A damaged state file only costs re-hashing.
    }
  }

  private async fileHash(path: string, stat: Stats): Promise<string> {
    const known = this.entries.get(path);
    if (known && known.size === stat.size && known.mtimeMs === stat.mtimeMs && known.ino === stat.ino) return known.hash;
    const hash = await hashFile(path);
    this.entries.set(path, { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino, hash });
    this.dirty = true;
    return hash;
  }

  /** The hash of a file or directory, or undefined when it does not exist. */
  async hash(path: string): Promise<ContentHash | undefined> {
    let stat: Stats;
    try {
      stat = statSync(path);
    } catch {
      return undefined;
    }
    if (stat.isFile()) return { kind: 'file', hash: await this.fileHash(path, stat), size: stat.size };
    if (!stat.isDirectory()) return undefined;
    const files: Record<string, string> = {};
    let size = 0;
    const walk = async (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.isFile() || (entry.isSymbolicLink() && statSync(full).isFile())) {
          const fileStat = statSync(full);
          files[relative(path, full).split(sep).join('/')] = await this.fileHash(full, fileStat);
          size += fileStat.size;
        }
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
      const stat = statSync(path);
      this.entries.set(path, { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino, hash });
      this.dirty = true;
    } catch {
      // gone again: nothing to remember
    }
  }

  /** Saves the state when something changed; safe against a killed process. */
  save(): void {
    if (!this.dirty) return;
    writeFileAtomic(this.file, JSON.stringify({ version: STATE_VERSION, files: Object.fromEntries(this.entries) }));
    this.dirty = false;
  }
}

/** Whether a path is a symbolic link (outputs are stored by content, links are followed). */
export function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
