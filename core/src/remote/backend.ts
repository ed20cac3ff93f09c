import { type AnswerSink } from '../tracking/transfer';
import { EXIT, UserError } from '../errors';
import { type RemoteSpec } from './spec';

/*
 * What every kind of remote (S3-compatible, OCI registry, folder) does for the team cache. Objects
 * are named by their sha256 and nothing else; documents are the run-cache entries (`stages`, by
 * cache key) and the run indexes (`runs`, by run id). Nothing a remote answers is trusted: the sync
 * layer (sync.ts) checks every object's digest before it enters the local cache and validates
 * every document as it validates local metadata.
 */

export type DocumentKind = 'stages' | 'runs';

export interface ObjectInfo {
  digest: string;
  size: number;
}

export interface Listed {
  name: string;
  /** When the remote stored it (gc spares what is younger than its grace period). */
  modified?: Date;
}

/** One remote, opened (credentials resolved, nothing contacted yet). */
export interface RemoteBackend {
  readonly spec: RemoteSpec;
  /** The remote as people see it, credentials redacted: `s3://bucket/prefix (http://127.0.0.1:9000)`. */
  readonly shown: string;
  /** Parallel transfers this kind of remote serves well. */
  readonly defaultJobs: number;
  /** Which of `digests` the remote holds: in batches (a listing) where the kind allows, never one request per object when many are asked. */
  present(digests: string[], signal?: AbortSignal): Promise<Set<string>>;
  /** Uploads one object from a cache file; visible under its name only once complete. */
  upload(object: ObjectInfo, file: string, onBytes: (bytes: number) => void, signal?: AbortSignal): Promise<void>;
  /**
   * Streams one object into `write` (called again from the start after `restart`, when a transfer
   * is retried). Throws RemoteNotFound when the remote does not hold it; stops with an error past
   * `maxBytes`.
   */
  download(digest: string, maxBytes: number, sink: AnswerSink, signal?: AbortSignal): Promise<void>;
  /** A document, or undefined when there is none; at most `maxBytes`. */
  readDocument(kind: DocumentKind, name: string, maxBytes: number, signal?: AbortSignal): Promise<Buffer | undefined>;
  /** Stores a document; `objects` are what it references (an OCI remote lists them in the entry's manifest). */
  writeDocument(
    kind: DocumentKind,
    name: string,
    body: Buffer,
    objects: ObjectInfo[],
    signal?: AbortSignal,
  ): Promise<void>;
  listDocuments(kind: DocumentKind, signal?: AbortSignal): Promise<Listed[]>;
  /** Every object, for gc and status (name = digest). */
  listObjects(signal?: AbortSignal): Promise<(Listed & { size?: number })[]>;
  deleteDocuments(kind: DocumentKind, names: string[], signal?: AbortSignal): Promise<void>;
  /** Deletes objects; an OCI registry frees blobs with its own garbage collection instead (false). */
  deleteObjects(digests: string[], signal?: AbortSignal): Promise<boolean>;
  close(): void;
}

/**
 * What a cluster's pods need from a remote (the Kubernetes executor): URLs that let their holder
 * read one object or write one staging file, signed here so that a pod never holds the remote's
 * keys, and a staging area (`staging/` beside `objects/`) for what pods upload before the runner
 * has checked it. Only S3 remotes have one.
 */
export interface PodStaging {
  /** A URL to GET an object (by digest) or GET/PUT a staging file, valid for `seconds`, for a client reaching the remote at `endpoint` (the remote's own when absent). */
  presign(
    method: 'GET' | 'PUT',
    target: { object: string } | { staging: string },
    seconds: number,
    endpoint?: string,
  ): Promise<string>;
  writeStaging(name: string, body: Buffer, signal?: AbortSignal): Promise<void>;
  /** A staging file into `sink`, at most `maxBytes`; undefined (nothing written) when there is none. */
  readStaging(name: string, maxBytes: number, sink: AnswerSink, signal?: AbortSignal): Promise<boolean>;
  /** Every staging file under `prefix` (a run's, or one attempt's). */
  deleteStaging(prefix: string, signal?: AbortSignal): Promise<void>;
  /** The run folders under staging/, for removing what killed runs left. */
  listStagingRuns(signal?: AbortSignal): Promise<string[]>;
}

/** The remote's pod staging, when its kind has one. */
export function podStaging(backend: RemoteBackend): (RemoteBackend & PodStaging) | undefined {
  return typeof (backend as Partial<PodStaging>).presign === 'function'
    ? (backend as RemoteBackend & PodStaging)
    : undefined;
}

/** A remote failed: which one, at which step, and what to do; never a credential. */
export class RemoteError extends UserError {
  constructor(
    message: string,
    /** Worth another try (a dropped connection, a 5xx), as opposed to refused credentials or a missing bucket. */
    readonly transient = false,
  ) {
    super(message, EXIT.failed);
  }
}

export class RemoteNotFound extends RemoteError {}

/** A document the remote holds is not a valid one (or is for another key): unusable, and gc may remove it. */
export class RemoteDamaged extends RemoteError {}

/** Text a remote sent, fit to print: control characters (terminal escapes, CR) removed, length bounded. */
export function printable(text: string, max = 300): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}

/** The layout of object and document keys, shared by the S3 and folder remotes (the local cache's own). */
export function objectKey(digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return `objects/${hex.slice(0, 2)}/${hex.slice(2)}`;
}

/** A pod staging file's key: `staging/RUN/...`, names of plain segments only. */
export function stagingKey(name: string): string {
  if ((name !== '' && !/^[A-Za-z0-9._@-]+(\/[A-Za-z0-9._@-]+)*\/?$/.test(name)) || name.split('/').includes('..'))
    throw new RemoteError(`not a staging name: ${printable(name, 120)}`);
  return `staging/${name}`;
}

export function documentKey(kind: DocumentKind, name: string): string {
  return `${kind}/${name}.json`;
}

/** The digest an object key names, or undefined for anything else found under `objects/`. */
export function digestOfKey(key: string): string | undefined {
  const match = /(?:^|\/)objects\/([0-9a-f]{2})\/([0-9a-f]{62})$/.exec(key);
  return match ? `sha256:${match[1]}${match[2]}` : undefined;
}

/** Runs `work` over `items` with at most `jobs` at once; the first failure stops new work and is thrown. */
export async function inParallel<T>(
  items: readonly T[],
  jobs: number,
  work: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      if (signal?.aborted) throw Object.assign(new Error('cancelled'), { name: 'AbortError' });
      const index = next++;
      try {
        await work(items[index]!, index);
      } catch (error) {
        failed ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
  if (failed !== undefined) throw failed;
}
