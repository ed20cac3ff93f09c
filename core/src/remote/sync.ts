import { createHash, type Hash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  openSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { type RegistryCredentials } from '../registry/oci-session';
import { isContentHash, parseCacheEntry, type ContentStore, type StageCacheEntry } from '../runs/content-cache';
import { type ContentHash } from '../runs/hash';
import { isDigest, isRecord, isRunId, jsonRecord } from '../runs/metadata';
import {
  type DocumentKind,
  inParallel,
  printable,
  type ObjectInfo,
  type RemoteBackend,
  RemoteDamaged,
  RemoteError,
} from './backend';
import { openBackend } from './open';
import { pickRemote, type RemoteConfig, type RemoteSpec } from './spec';

/*
 * The team cache on top of the local one: pushing stage entries with the objects they reference
 * (objects first, the entry last, so an entry is never visible before its objects), fetching an
 * entry by cache key and its objects into the local cache (each object's sha256 checked before it
 * is renamed into place), and run indexes (which entries a run made), so `mlpipe cache pull RUN`
 * works in a fresh clone.
 */

/** The largest entry or run index read from a remote (the local cache's own bound). */
export const MAX_DOCUMENT_BYTES = 128 * 1024 * 1024;

export interface TransferProgress {
  remote: string;
  phase: 'checking' | 'uploading' | 'downloading';
  files: number;
  filesDone: number;
  bytes: number;
  bytesDone: number;
}

export interface RemoteCacheOptions {
  /** Parallel transfers; the remote kind's own default otherwise. */
  jobs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: TransferProgress) => void;
  onNote?: (message: string) => void;
  /** Registry logins from elsewhere than ~/.docker/config.json (VS Code's SecretStorage). */
  registryCredentials?: (host: string) => RegistryCredentials | undefined;
  /** S3 keys from elsewhere than the AWS environment and profiles (VS Code's SecretStorage), by remote. */
  s3Credentials?: (remote: RemoteSpec) => S3Keys | undefined;
}

export interface S3Keys {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Which entries a run made: what `mlpipe cache pull RUN` fetches anywhere. */
export interface RunIndex {
  version: 1;
  run: string;
  pipeline: string;
  name?: string;
  created: string;
  git?: { commit: string; dirty: boolean };
  stages: { name: string; key: string }[];
}

export interface PushSummary {
  remote: string;
  objectsUploaded: number;
  bytesUploaded: number;
  objectsPresent: number;
  entriesWritten: number;
  entriesPresent: number;
  runsWritten: number;
  /** Stages whose entry was not pushed, and why (an object the local cache no longer holds). */
  skipped: string[];
}

export interface FetchSummary {
  objects: number;
  bytes: number;
}

/** Where the objects of an entry's output live: its own `remote:` or the default. */
export type OutputRemote = (stage: string, path: string) => string | undefined;

export function parseRunIndex(text: string, id: string): RunIndex | undefined {
  const data = jsonRecord(text);
  if (!data || data.version !== 1 || data.run !== id || !isRunId(data.run) || !Array.isArray(data.stages))
    return undefined;
  if (
    !data.stages.every(
      (stage) => isRecord(stage) && typeof stage.name === 'string' && stage.name.length < 300 && isDigest(stage.key),
    )
  )
    return undefined;
  return data as unknown as RunIndex;
}

/** The digests an output's content is made of. */
export function digestsOf(content: ContentHash): string[] {
  return content.kind === 'file' ? [content.hash] : [...new Set(Object.values(content.files ?? {}))];
}

export class RemoteCache {
  private readonly backends = new Map<string, Promise<RemoteBackend>>();
  /** Set by a run when the remote failed: the rest of that run does not ask it again. */
  failure: string | undefined;

  constructor(
    readonly store: ContentStore,
    readonly config: RemoteConfig,
    private readonly options: RemoteCacheOptions = {},
  ) {}

  /** Whether any remote is declared. */
  get configured(): boolean {
    return this.config.remotes.size > 0;
  }

  spec(name?: string): RemoteSpec {
    return pickRemote(this.config, name);
  }

  backend(name?: string): Promise<RemoteBackend> {
    const spec = this.spec(name);
    let backend = this.backends.get(spec.name);
    if (!backend) {
      backend = openBackend(spec, this.store.workspace.root, {
        ...(this.options.registryCredentials ? { registryCredentials: this.options.registryCredentials } : {}),
        ...(this.options.s3Credentials ? { s3Credentials: this.options.s3Credentials } : {}),
      });
      this.backends.set(spec.name, backend);
      backend.catch(() => this.backends.delete(spec.name));
    }
    return backend;
  }

  close(): void {
    for (const backend of this.backends.values()) void backend.then((opened) => opened.close()).catch(() => undefined);
    this.backends.clear();
  }

  private jobs(backend: RemoteBackend): number {
    return Math.max(1, Math.floor(this.options.jobs ?? backend.defaultJobs));
  }

  /**
   * Pushes entries (their objects first) and run indexes to the remote (`remote` or the default);
   * the objects of an output with its own `remote:` go there. Objects and documents the remote
   * holds already are not sent again.
   */
  async push(
    entries: StageCacheEntry[],
    runs: RunIndex[],
    options: { remote?: string; outputRemote?: OutputRemote } = {},
  ): Promise<PushSummary> {
    const main = await this.backend(options.remote);
    const summary: PushSummary = {
      remote: main.spec.name,
      objectsUploaded: 0,
      bytesUploaded: 0,
      objectsPresent: 0,
      entriesWritten: 0,
      entriesPresent: 0,
      runsWritten: 0,
      skipped: [],
    };
    // Objects by the remote they go to, with their sizes from the local cache.
    const byRemote = new Map<string, Map<string, ObjectInfo & { file: string }>>();
    const complete: { entry: StageCacheEntry; objects: ObjectInfo[] }[] = [];
    for (const entry of entries) {
      const wanted: { remote: string; object: ObjectInfo & { file: string } }[] = [];
      let missing: string | undefined;
      for (const [path, content] of Object.entries(entry.outputs)) {
        if (!isContentHash(content)) continue;
        const remote = options.outputRemote?.(entry.stage, path) ?? main.spec.name;
        for (const digest of digestsOf(content)) {
          const file = this.store.intactObject(digest);
          if (!file) {
            missing ??= `${path} (${digest.slice(0, 19)}...)`;
            continue;
          }
          wanted.push({ remote, object: { digest, size: statSync(file).size, file } });
        }
      }
      if (missing) {
        summary.skipped.push(`${entry.stage}: the local cache no longer holds ${missing}`);
        continue;
      }
      for (const { remote, object } of wanted) {
        let objects = byRemote.get(remote);
        if (!objects) byRemote.set(remote, (objects = new Map()));
        objects.set(object.digest, object);
      }
      complete.push({ entry, objects: wanted.filter((one) => one.remote === main.spec.name).map((one) => one.object) });
    }
    for (const [name, objects] of byRemote) {
      const backend = name === main.spec.name ? main : await this.backend(name);
      await this.uploadMissing(backend, [...objects.values()], summary);
    }
    // Documents last: an entry names only objects its remote holds by now.
    const [knownEntries, knownRuns] = await Promise.all([
      main.listDocuments('stages', this.options.signal),
      runs.length > 0 ? main.listDocuments('runs', this.options.signal) : Promise.resolve([]),
    ]);
    const presentEntries = new Set(knownEntries.map((listed) => listed.name));
    const presentRuns = new Set(knownRuns.map((listed) => listed.name));
    const writes: [DocumentKind, string, Buffer, ObjectInfo[]][] = [];
    for (const { entry, objects } of complete) {
      const name = entry.key.slice('sha256:'.length);
      if (presentEntries.has(name)) summary.entriesPresent++;
      else {
        writes.push([
          'stages',
          name,
          Buffer.from(JSON.stringify(entry)),
          objects.map(({ digest, size }) => ({ digest, size })),
        ]);
        presentEntries.add(name);
      }
    }
    const pushedKeys = new Set(complete.map(({ entry }) => entry.key));
    for (const run of runs) {
      if (presentRuns.has(run.run)) continue;
      const stages = run.stages.filter((stage) => pushedKeys.has(stage.key) || presentEntries.has(stage.key.slice(7)));
      writes.push(['runs', run.run, Buffer.from(JSON.stringify({ ...run, stages })), []]);
    }
    await inParallel(
      writes,
      this.jobs(main),
      async ([kind, name, body, objects]) => {
        await this.retry(() => main.writeDocument(kind, name, body, objects, this.options.signal));
        if (kind === 'stages') summary.entriesWritten++;
        else summary.runsWritten++;
      },
      this.options.signal,
    );
    return summary;
  }

  private async uploadMissing(
    backend: RemoteBackend,
    objects: (ObjectInfo & { file: string })[],
    summary: PushSummary,
  ): Promise<void> {
    const progress: TransferProgress = {
      remote: backend.spec.name,
      phase: 'checking',
      files: objects.length,
      filesDone: 0,
      bytes: 0,
      bytesDone: 0,
    };
    this.options.onProgress?.(progress);
    const present = await backend.present(
      objects.map((object) => object.digest),
      this.options.signal,
    );
    const missing = objects.filter((object) => !present.has(object.digest));
    summary.objectsPresent += objects.length - missing.length;
    progress.phase = 'uploading';
    progress.files = missing.length;
    progress.bytes = missing.reduce((sum, object) => sum + object.size, 0);
    this.options.onProgress?.(progress);
    // Large objects first: the many small ones then fill the lanes around them.
    missing.sort((a, b) => b.size - a.size);
    await inParallel(
      missing,
      this.jobs(backend),
      async (object) => {
        let sent = 0;
        await this.retry(() => {
          progress.bytesDone -= sent;
          sent = 0;
          return backend.upload(
            object,
            object.file,
            (bytes) => {
              sent += bytes;
              progress.bytesDone += bytes;
              this.options.onProgress?.(progress);
            },
            this.options.signal,
          );
        });
        progress.filesDone++;
        summary.objectsUploaded++;
        summary.bytesUploaded += object.size;
        this.options.onProgress?.(progress);
      },
      this.options.signal,
    );
  }

  /** Tries a transfer again after a transient failure (the SDK or session retried each request already). */
  private async retry<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (!(error instanceof RemoteError && error.transient) || attempt >= 3 || this.options.signal?.aborted)
          throw error;
        this.options.onNote?.(`${error.message}; trying again (${attempt + 1} of 3)`);
        await new Promise((done) => setTimeout(done, 500 * attempt));
      }
    }
  }

  /** The remote's entry for a cache key, validated as a local one is; undefined when it has none. */
  async fetchEntry(key: string, remote?: string): Promise<StageCacheEntry | undefined> {
    if (!isDigest(key)) return undefined;
    const backend = await this.backend(remote);
    const body = await this.retry(() =>
      backend.readDocument('stages', key.slice('sha256:'.length), MAX_DOCUMENT_BYTES, this.options.signal),
    );
    if (!body) return undefined;
    const entry = parseCacheEntry(body.toString('utf8'), key);
    if (!entry)
      throw new RemoteDamaged(
        `remote '${backend.spec.name}': its entry for ${key.slice(0, 19)}... is damaged or names another key; refused (mlpipe cache gc --remote removes it)`,
      );
    return entry;
  }

  async fetchRun(id: string, remote?: string): Promise<RunIndex | undefined> {
    if (!isRunId(id)) return undefined;
    const backend = await this.backend(remote);
    const body = await this.retry(() => backend.readDocument('runs', id, MAX_DOCUMENT_BYTES, this.options.signal));
    if (!body) return undefined;
    const run = parseRunIndex(body.toString('utf8'), id);
    if (!run) throw new RemoteDamaged(`remote '${backend.spec.name}': its index of run ${id} is damaged; refused`);
    return run;
  }

  /**
   * Downloads what the local cache lacks of an entry's outputs (`paths`, all when absent) into it,
   * each object checked against its digest before it is renamed into place. The objects of an
   * output with its own remote come from there.
   */
  async fetchObjects(
    entry: StageCacheEntry,
    options: { paths?: string[]; remote?: string; outputRemote?: OutputRemote } = {},
  ): Promise<FetchSummary> {
    const byRemote = new Map<string, Map<string, number>>();
    const main = this.spec(options.remote).name;
    let needed = 0;
    for (const [path, content] of Object.entries(entry.outputs)) {
      if (options.paths && !options.paths.includes(path)) continue;
      if (!isContentHash(content)) continue;
      const remote = options.outputRemote?.(entry.stage, path) ?? main;
      let wanted = byRemote.get(remote);
      if (!wanted) byRemote.set(remote, (wanted = new Map()));
      // A file's size is known exactly; a folder's files share its total as their bound.
      const missing = digestsOf(content).filter((digest) => !this.store.intactObject(digest));
      for (const digest of missing) wanted.set(digest, Math.max(wanted.get(digest) ?? 0, content.size));
      if (missing.length > 0) needed += content.size;
    }
    // What the entry says it needs must fit on the disk (with room to spare): a remote that claims
    // a petabyte is refused before a byte is written, not when the disk is full.
    const objects = join(this.store.root, 'objects');
    if (needed > 0) {
      let free: number | undefined;
      try {
        const stats = statfsSync(existsSync(objects) ? objects : this.store.workspace.root);
        free = stats.bavail * stats.bsize;
      } catch {
        // no figure: the per-object bounds still hold
      }
      if (free !== undefined && needed > free - 256 * 1024 * 1024)
        throw new RemoteError(
          `stage '${printable(entry.stage, 100)}' needs ${needed} bytes from the remote and the disk of ${this.store.workspace.root} has ${free} free; make room, or the entry claims more than it holds`,
        );
    }
    const summary: FetchSummary = { objects: 0, bytes: 0 };
    for (const [name, wanted] of byRemote)
      if (wanted.size > 0) await this.download(await this.backend(name), wanted, summary);
    return summary;
  }

  /** Downloads objects (digest -> the most bytes it may have) into the local cache. */
  async download(backend: RemoteBackend, wanted: Map<string, number>, summary: FetchSummary): Promise<void> {
    const progress: TransferProgress = {
      remote: backend.spec.name,
      phase: 'downloading',
      files: wanted.size,
      filesDone: 0,
      bytes: [...wanted.values()].reduce((sum, size) => sum + size, 0),
      bytesDone: 0,
    };
    this.options.onProgress?.(progress);
    const items = [...wanted.entries()].sort(([, a], [, b]) => b - a);
    await inParallel(
      items,
      this.jobs(backend),
      async ([digest, maxBytes]) => {
        const bytes = await this.retry(() => this.downloadOne(backend, digest, maxBytes, progress));
        progress.filesDone++;
        summary.objects++;
        summary.bytes += bytes;
        this.options.onProgress?.(progress);
      },
      this.options.signal,
    );
  }

  private async downloadOne(
    backend: RemoteBackend,
    digest: string,
    maxBytes: number,
    progress: TransferProgress,
  ): Promise<number> {
    const target = this.store.objectFile(digest);
    const workspace = this.store.workspace;
    workspace.makeDirs(dirname(target));
    const temporary = `${target}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    // Created exclusively in its folder held open (never through a link planted in .mlpipe/cache).
    const fd = workspace.createFile(temporary, (path) => openSync(path, 'wx', 0o644));
    let hash: Hash = createHash('sha256');
    let written = 0;
    let renamed = false;
    try {
      await backend.download(
        digest,
        maxBytes,
        {
          write: (chunk) => {
            hash.update(chunk);
            for (let offset = 0; offset < chunk.length;) offset += writeSync(fd, chunk, offset);
            written += chunk.length;
            progress.bytesDone += chunk.length;
            this.options.onProgress?.(progress);
          },
          restart: () => {
            progress.bytesDone -= written;
            written = 0;
            hash = createHash('sha256');
            ftruncateSync(fd, 0);
          },
        },
        this.options.signal,
      );
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest)
        throw new RemoteError(
          `remote '${backend.spec.name}' (${backend.shown}) sent bytes that hash to ${actual} for the object ${digest}: refused, nothing entered the local cache (the remote's copy is damaged or was tampered with)`,
        );
      closeSync(fd);
      workspace.assertNoLinks(target);
      renameSync(temporary, target);
      renamed = true;
      return written;
    } finally {
      if (!renamed) {
        progress.bytesDone -= written;
        try {
          closeSync(fd);
        } catch {
          // closed already
        }
        rmSync(temporary, { force: true });
      }
    }
  }
}
