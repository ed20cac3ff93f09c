import { type AnswerSink } from '../tracking/transfer';
import {
  createReadStream,
  lstatSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { lstat, open, readdir, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { isDigest } from '../runs/metadata';
import {
  digestOfKey,
  documentKey,
  inParallel,
  type DocumentKind,
  type Listed,
  objectKey,
  type ObjectInfo,
  type RemoteBackend,
  RemoteError,
  RemoteNotFound,
} from './backend';
import { type RemoteSpec } from './spec';

/**
 * A remote in a local or mounted folder (`file:///mnt/shared/mlpipe-cache`), laid out as the local
 * cache is (`objects/ab/cdef...`, `stages/<key>.json`, `runs/<id>.json`). Every file appears by a
 * rename of a complete temporary file, so a reader never sees half of one.
 *
 * A pipeline from someone else may name any folder: mlpipe writes only into a folder that does not
 * exist yet, is empty, or holds the marker file `mlpipe-remote.json` it wrote there, and never
 * follows a link inside it. Nothing else in the folder is read, listed or deleted.
 */
const MARKER = 'mlpipe-remote.json';

export class FolderBackend implements RemoteBackend {
  readonly shown: string;
  readonly defaultJobs = 8;
  private readonly root: string;
  private ready = false;

  constructor(
    readonly spec: RemoteSpec,
    private readonly workspace: string,
  ) {
    this.root = spec.folder!;
    this.shown = `${spec.url}`;
  }

  /** Refuses the workspace itself (the cache would copy into what it caches) and a folder mlpipe did not make. */
  private check(write: boolean): void {
    if (this.ready) return;
    const within = (outer: string, inner: string) => {
      const path = relative(outer, inner);
      return path === '' || (!path.startsWith('..') && !isAbsolute(path));
    };
    if (within(this.workspace, this.root) || within(this.root, this.workspace))
      throw new RemoteError(
        `remote '${this.spec.name}': ${this.root} is the workspace or overlaps it; a folder remote lives outside the project`,
      );
    if (existsSync(join(this.root, MARKER))) {
      this.ready = true;
      return;
    }
    let entries: string[] = [];
    try {
      entries = readdirSync(this.root);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new RemoteError(
          `remote '${this.spec.name}': cannot read ${this.root} (${(error as NodeJS.ErrnoException).code})`,
        );
      if (!write) return;
    }
    // Another push may have marked it between the first look and the listing.
    if (entries.length > 0 && existsSync(join(this.root, MARKER))) {
      this.ready = true;
      return;
    }
    if (entries.length > 0)
      throw new RemoteError(
        `remote '${this.spec.name}': ${this.root} is not an mlpipe remote (it holds other files and no ${MARKER}); name an empty or new folder`,
      );
    if (!write) return;
    mkdirSync(this.root, { recursive: true });
    try {
      writeFileSync(join(this.root, MARKER), `${JSON.stringify({ mlpipe: 'cache remote', version: 1 })}\n`, {
        flag: 'wx',
      });
    } catch (error) {
      // Another push marked it a moment ago.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    this.ready = true;
  }

  private path(key: string): string {
    return join(this.root, ...key.split('/'));
  }

  /**
   * The path of a key to write or delete, once no folder on the way is a link: a link planted in
   * the shared folder (`objects` -> ~/.ssh) must not carry a write or a delete out of it.
   */
  private safePath(key: string): string {
    let path = this.root;
    for (const part of key.split('/')) {
      path = join(path, part);
      try {
        if (lstatSync(path).isSymbolicLink())
          throw new RemoteError(`remote '${this.spec.name}': ${relative(this.root, path)} is a symbolic link; refused`);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') break;
        throw error;
      }
    }
    return this.path(key);
  }

  /** A file of the remote, opened only when it and every folder on the way are not links. */
  private async openInside(key: string): Promise<Awaited<ReturnType<typeof open>> | undefined> {
    let path = this.root;
    for (const part of key.split('/')) {
      path = join(path, part);
      try {
        const stat = await lstat(path);
        if (stat.isSymbolicLink())
          throw new RemoteError(`remote '${this.spec.name}': ${relative(this.root, path)} is a symbolic link; refused`);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    }
    // Non-blocking, so a FIFO planted in the share cannot hang the open; then only a regular file is read.
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    if (!(await handle.stat()).isFile()) {
      await handle.close();
      throw new RemoteError(`remote '${this.spec.name}': ${key} is not a regular file; refused`);
    }
    return handle;
  }

  async present(digests: string[]): Promise<Set<string>> {
    this.check(false);
    const found = new Set<string>();
    await inParallel(digests, 32, async (digest) => {
      try {
        if ((await lstat(this.path(objectKey(digest)))).isFile()) found.add(digest);
      } catch {
        // not there
      }
    });
    return found;
  }

  async upload(object: ObjectInfo, file: string, onBytes: (bytes: number) => void): Promise<void> {
    this.check(true);
    const target = this.safePath(objectKey(object.digest));
    mkdirSync(dirname(target), { recursive: true });
    const temporary = `${target}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    try {
      copyFileSync(file, temporary, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
      renameSync(temporary, target);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw new RemoteError(
        `remote '${this.spec.name}': writing ${objectKey(object.digest)} failed (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
    onBytes(object.size);
  }

  async download(digest: string, maxBytes: number, sink: AnswerSink): Promise<void> {
    this.check(false);
    const handle = await this.openInside(objectKey(digest));
    if (!handle) throw new RemoteNotFound(`remote '${this.spec.name}' does not hold ${digest}`);
    try {
      let read = 0;
      for await (const chunk of createReadStream('', { fd: handle.fd, autoClose: false, highWaterMark: 1024 * 1024 })) {
        read += (chunk as Buffer).length;
        if (read > maxBytes)
          throw new RemoteError(`remote '${this.spec.name}': ${digest} is larger than expected (${maxBytes} bytes)`);
        sink.write(chunk as Buffer);
      }
    } finally {
      await handle.close();
    }
  }

  async readDocument(kind: DocumentKind, name: string, maxBytes: number): Promise<Buffer | undefined> {
    this.check(false);
    const handle = await this.openInside(documentKey(kind, name));
    if (!handle) return undefined;
    try {
      const { size } = await handle.stat();
      if (size > maxBytes)
        throw new RemoteError(
          `remote '${this.spec.name}': ${documentKey(kind, name)} is ${size} bytes, more than ${maxBytes}`,
        );
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async writeDocument(kind: DocumentKind, name: string, body: Buffer): Promise<void> {
    this.check(true);
    const target = this.safePath(documentKey(kind, name));
    mkdirSync(dirname(target), { recursive: true });
    const temporary = `${target}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    try {
      writeFileSync(temporary, body, { flag: 'wx' });
      renameSync(temporary, target);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw new RemoteError(
        `remote '${this.spec.name}': writing ${documentKey(kind, name)} failed (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
  }

  private async listFolder(folder: string): Promise<{ name: string; path: string }[]> {
    try {
      const stat = await lstat(folder);
      if (!stat.isDirectory()) return [];
    } catch {
      return [];
    }
    return (await readdir(folder)).map((name) => ({ name, path: join(folder, name) }));
  }

  async listDocuments(kind: DocumentKind): Promise<Listed[]> {
    this.check(false);
    const listed: Listed[] = [];
    for (const { name, path } of await this.listFolder(join(this.root, kind))) {
      if (!name.endsWith('.json')) continue;
      const stat = await lstat(path);
      if (stat.isFile()) listed.push({ name: name.slice(0, -5), modified: stat.mtime });
    }
    return listed;
  }

  async listObjects(): Promise<(Listed & { size?: number })[]> {
    this.check(false);
    const listed: (Listed & { size?: number })[] = [];
    for (const shard of await this.listFolder(join(this.root, 'objects'))) {
      if (!/^[0-9a-f]{2}$/.test(shard.name) || !(await lstat(shard.path)).isDirectory()) continue;
      for (const { name, path } of await this.listFolder(shard.path)) {
        const digest = digestOfKey(`objects/${shard.name}/${name}`);
        if (!digest) continue;
        const stat = await lstat(path);
        if (stat.isFile()) listed.push({ name: digest, modified: stat.mtime, size: stat.size });
      }
    }
    return listed;
  }

  async deleteDocuments(kind: DocumentKind, names: string[]): Promise<void> {
    this.check(true);
    for (const name of names) await rm(this.safePath(documentKey(kind, name)), { force: true });
  }

  async deleteObjects(digests: string[]): Promise<boolean> {
    this.check(true);
    for (const digest of digests) if (isDigest(digest)) await rm(this.safePath(objectKey(digest)), { force: true });
    return true;
  }

  close(): void {
    // nothing held open
  }
}
