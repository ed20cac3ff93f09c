import { closeSync, constants, copyFileSync, existsSync, lstatSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Boundary, BoundaryError } from '../util/boundary';
import { readStateFile, writeFileAtomic } from './files';
import { type ContentHash, type HashState } from './hash';
import { isDigest, isRecord, isRunId, isSafeRelativePath, isSafeSubpath, jsonRecord, MetadataError } from './metadata';
import { type KeyInputs } from './keys';

/** What a successful stage run left behind, by the cache key it ran under. */
export interface StageCacheEntry {
  version: 1;
  key: string;
  /** Instance name (`evaluate@test`). */
  stage: string;
  run: string;
  created: string;
  /** Output path (workspace-relative) to its content. */
  outputs: Record<string, ContentHash>;
  /** What the key was made of, to explain later changes. */
  inputs?: KeyInputs;
}

/** A folder output of 1,000,000 files has an entry of about 100 MB. */
const MAX_ENTRY_BYTES = 128 * 1024 * 1024;
const ENTRY_FILE = /^[0-9a-f]{64}\.json$/;

/** A content hash as metadata may hold it: digests everywhere, file names that stay below the output. */
export function isContentHash(value: unknown): value is ContentHash {
  if (!isRecord(value) || !isDigest(value.hash) || !Number.isSafeInteger(value.size) || (value.size as number) < 0)
    return false;
  if (value.kind === 'file') return value.files === undefined;
  if (value.kind !== 'dir' || !isRecord(value.files)) return false;
  if (!Object.entries(value.files).every(([name, hash]) => isSafeSubpath(name) && isDigest(hash))) return false;
  // No file may also be a folder of another (`x` and `x/y`): a restore could not make both.
  const names = new Set(Object.keys(value.files));
  for (const name of names)
    for (let slash = name.indexOf('/'); slash !== -1; slash = name.indexOf('/', slash + 1))
      if (names.has(name.slice(0, slash))) return false;
  return true;
}

/** A stage cache entry read back from `.mlpipe/cache/stages/`, or undefined when it is not a valid one for `key`. */
export function parseCacheEntry(text: string, key: string): StageCacheEntry | undefined {
  const data = jsonRecord(text);
  if (
    !data ||
    data.key !== key ||
    !isDigest(data.key) ||
    typeof data.stage !== 'string' ||
    !isRunId(data.run) ||
    !isRecord(data.outputs)
  )
    return undefined;
  if (!Object.entries(data.outputs).every(([path, content]) => isSafeRelativePath(path) && isContentHash(content)))
    return undefined;
  return data as unknown as StageCacheEntry;
}

/** The file systems's own error code, for telling "not there" from "refused". */
function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/**
 * The content-addressed cache under `.mlpipe/cache`: `objects/ab/cdef...` holds each distinct file
 * content once, however many runs or outputs produced it; `stages/<key>.json` maps a stage's cache
 * key to the outputs it produced. Files are copied in and out (a copy-on-write clone where the file
 * system can), never hard-linked, so editing a restored output cannot corrupt the cache.
 *
 * Everything here crosses the workspace boundary check: objects are named only by digests, entries
 * are parsed and validated before use, outputs are read without following links and restored only
 * through real folders inside the workspace.
 */
export class ContentStore {
  /** The pipeline's folder, which outputs are read from and restored into. */
  readonly workspace: Boundary;

  constructor(readonly root: string) {
    const workspace = resolve(root, '..', '..');
    this.workspace = new Boundary(workspace, { trash: join(workspace, '.mlpipe', 'trash') });
  }

  /** Where an object lives; refuses anything but a digest (a planted entry could say `sha256:../..`). */
  objectFile(hash: string): string {
    if (!isDigest(hash))
      throw new MetadataError(
        `'${String(hash).slice(0, 80)}' is not a sha256 digest; the cache entry naming it is damaged`,
      );
    const hex = hash.slice('sha256:'.length);
    return join(this.root, 'objects', hex.slice(0, 2), hex.slice(2));
  }

  private putFile(source: string, hash: string): void {
    const target = this.objectFile(hash);
    if (existsSync(target)) return;
    // The output is opened without following links and proven inside the workspace; the copy reads
    // that very descriptor (through /proc on Linux), so a link swapped in meanwhile changes nothing.
    const { fd, stat } = this.workspace.openRead(source, 'refuse');
    try {
      if (!stat.isFile())
        throw new BoundaryError(
          this.workspace.show(source),
          `${this.workspace.show(source)} is not a regular file; outputs must be files and folders`,
        );
      this.workspace.makeDirs(dirname(target));
      const temporary = `${target}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      try {
        copyFileSync(
          process.platform === 'linux' ? `/proc/self/fd/${fd}` : source,
          temporary,
          constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL,
        );
        renameSync(temporary, target);
      } catch (error) {
        rmSync(temporary, { force: true });
        throw error;
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Stores an output (file or folder) by content. */
  put(path: string, content: ContentHash): void {
    if (content.kind === 'file') this.putFile(path, content.hash);
    else for (const [name, hash] of Object.entries(content.files ?? {})) this.putFile(join(path, name), hash);
  }

  has(content: ContentHash): boolean {
    if (content.kind === 'file') return existsSync(this.objectFile(content.hash));
    return Object.values(content.files ?? {}).every((hash) => existsSync(this.objectFile(hash)));
  }

  /**
   * Replaces whatever is at `path` with the stored content. The path must be inside the workspace
   * with no link on the way; a link at the path is removed, never followed; each file is created
   * exclusively (a link planted in its place makes the restore fail instead of writing through it).
   */
  restore(path: string, content: ContentHash, state?: HashState): void {
    if (!isContentHash(content))
      throw new MetadataError(`the cache's record of ${this.workspace.show(path)} is damaged; rerun the stage`);
    this.workspace.remove(path);
    const files: [string, string][] =
      content.kind === 'file'
        ? [[path, content.hash]]
        : Object.entries(content.files ?? {}).map(([name, hash]) => [join(path, name), hash]);
    if (content.kind === 'dir') this.workspace.makeDirs(path);
    for (const [target, hash] of files) {
      this.copyObject(hash, target);
      // One more look now that the file exists: a folder swapped for a link meanwhile is caught.
      this.workspace.assertNoLinks(target, true);
      state?.remember(target, hash);
    }
  }

  /** Copies an object out, reading it without following a link (a planted `objects/ab/...` link cannot make mlpipe copy a file from elsewhere). */
  private copyObject(hash: string, target: string): void {
    const { fd, stat } = this.workspace.openRead(this.objectFile(hash), 'refuse');
    try {
      if (!stat.isFile())
        throw new MetadataError(`cache object ${hash} is not a file; run mlpipe runs gc and rerun the stage`);
      const source = process.platform === 'linux' ? `/proc/self/fd/${fd}` : this.objectFile(hash);
      // Created exclusively in its folder held open by descriptor: never through a link swapped in.
      this.workspace.createFile(target, (path) =>
        copyFileSync(source, path, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL),
      );
    } finally {
      closeSync(fd);
    }
  }

  /**
   * The path of a cached object that is really there: a file, not a link, with no link on the way
   * (what a push may send). Undefined when the cache does not hold it.
   */
  intactObject(hash: string): string | undefined {
    const path = this.objectFile(hash);
    try {
      const { fd } = this.openObject(hash);
      closeSync(fd);
      return path;
    } catch {
      return undefined;
    }
  }

  /** Opens a cached object to read it (for a push), never through a link; the caller closes the descriptor. */
  openObject(hash: string): { fd: number; size: number } {
    const { fd, stat } = this.workspace.openRead(this.objectFile(hash), 'refuse');
    if (!stat.isFile()) {
      closeSync(fd);
      throw new MetadataError(`cache object ${hash} is not a file`);
    }
    return { fd, size: stat.size };
  }

  private entryPath(key: string): string {
    if (!isDigest(key)) throw new MetadataError(`'${String(key).slice(0, 80)}' is not a cache key`);
    return join(this.root, 'stages', `${key.slice('sha256:'.length)}.json`);
  }

  /** The entry for a key, or undefined when there is none or it is damaged (a damaged entry is only a cache miss). */
  entry(key: string): StageCacheEntry | undefined {
    if (!isDigest(key)) return undefined;
    try {
      const text = readStateFile(this.workspace, this.entryPath(key), MAX_ENTRY_BYTES);
      return text === undefined ? undefined : parseCacheEntry(text, key);
    } catch (error) {
      if (error instanceof BoundaryError || error instanceof MetadataError || code(error)) return undefined;
      throw error;
    }
  }

  removeEntry(key: string): void {
    const path = this.entryPath(key);
    this.workspace.assertNoLinks(path);
    rmSync(path, { force: true });
  }

  saveEntry(entry: StageCacheEntry): void {
    writeFileAtomic(this.entryPath(entry.key), JSON.stringify(entry, null, 2), this.workspace);
  }

  /** Every valid stored stage result (for `mlpipe checkout` and garbage collection). */
  entries(): StageCacheEntry[] {
    const dir = join(this.root, 'stages');
    try {
      if (!lstatSync(dir).isDirectory()) return [];
    } catch {
      return [];
    }
    return readdirSync(dir)
      .filter((name) => ENTRY_FILE.test(name))
      .map((name) => this.entry(`sha256:${name.slice(0, -5)}`))
      .filter((entry): entry is StageCacheEntry => entry !== undefined);
  }
}
