import { constants, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from './fsutil';
import { type ContentHash, type HashState } from './hash';
import { type KeyInputs } from './plan';

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

/**
 * The content-addressed cache under `.mlpipe/cache`: `objects/ab/cdef...` holds each distinct file
 * content once, however many runs or outputs produced it; `stages/<key>.json` maps a stage's cache
 * key to the outputs it produced. Files are copied in and out (a copy-on-write clone where the file
 * system can), never hard-linked, so editing a restored output cannot corrupt the cache.
 */
export class ContentStore {
  constructor(readonly root: string) {}

  /** Where an object lives (for garbage collection). */
  objectFile(hash: string): string {
    return this.objectPath(hash);
  }

  private objectPath(hash: string): string {
    const hex = hash.replace(/^sha256:/, '');
    return join(this.root, 'objects', hex.slice(0, 2), hex.slice(2));
  }

  private putFile(source: string, hash: string): void {
    const target = this.objectPath(hash);
    if (existsSync(target)) return;
    mkdirSync(dirname(target), { recursive: true });
    const temporary = `${target}.tmp-${process.pid}`;
    copyFileSync(source, temporary, constants.COPYFILE_FICLONE);
    renameSync(temporary, target);
  }

  /** Stores an output (file or folder) by content. */
  put(path: string, content: ContentHash): void {
    if (content.kind === 'file') this.putFile(path, content.hash);
    else for (const [name, hash] of Object.entries(content.files ?? {})) this.putFile(join(path, name), hash);
  }

  has(content: ContentHash): boolean {
    if (content.kind === 'file') return existsSync(this.objectPath(content.hash));
    return Object.values(content.files ?? {}).every((hash) => existsSync(this.objectPath(hash)));
  }

  /** Replaces whatever is at `path` with the stored content. */
  restore(path: string, content: ContentHash, state?: HashState): void {
    rmSync(path, { recursive: true, force: true });
    const files: [string, string][] = content.kind === 'file' ? [[path, content.hash]] : Object.entries(content.files ?? {}).map(([name, hash]) => [join(path, name), hash]);
    if (content.kind === 'dir') mkdirSync(path, { recursive: true });
    for (const [target, hash] of files) {
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(this.objectPath(hash), target, constants.COPYFILE_FICLONE);
      state?.remember(target, hash);
    }
  }

  private entryPath(key: string): string {
    return join(this.root, 'stages', `${key.replace(/^sha256:/, '')}.json`);
  }

  entry(key: string): StageCacheEntry | undefined {
    try {
      return JSON.parse(readFileSync(this.entryPath(key), 'utf8')) as StageCacheEntry;
    } catch {
      return undefined;
    }
  }

  removeEntry(key: string): void {
    rmSync(this.entryPath(key), { force: true });
  }

  saveEntry(entry: StageCacheEntry): void {
    writeFileAtomic(this.entryPath(entry.key), JSON.stringify(entry, null, 2));
  }

  /** Every stored stage result (for `mlpipe checkout` and garbage collection). */
  entries(): StageCacheEntry[] {
    const dir = join(this.root, 'stages');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((name) => name.endsWith('.json'))
      .map((name) => this.entry(name.slice(0, -5)))
      .filter((entry): entry is StageCacheEntry => entry !== undefined);
  }
}
