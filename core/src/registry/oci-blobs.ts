import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type Readable, Transform } from 'node:stream';
import { backoff } from '../tracking/transfer';
import { changedMessage, type ArtifactBlob } from './modelpack';
import { RegistryPushError } from './oci-errors';
import { header, type OciPushOptions, type Session } from './oci-session';
import { type PushProgress } from './types';

/*
 * The blobs of a push (distribution-spec "Pushing blobs", "Pushing a blob monolithically",
 * "Pushing a blob in chunks", "Mounting a blob from another repository"): a blob the registry
 * holds already is skipped (HEAD); else it is mounted from another repository, or uploaded (one
 * PUT, or PATCHes in chunks) and checked with HEAD. Every byte is hashed as it is sent, so a file
 * that changed under the push is refused, never stored under the wrong digest.
 */

export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;
export const DEFAULT_MONOLITHIC_LIMIT = 16 * 1024 * 1024;
const READ_BUFFER = 4 * 1024 * 1024;

/** What the blob steps of one push share. */
export interface BlobPush {
  session: Session;
  repo: string;
  options: OciPushOptions;
  progress: PushProgress;
  /** Bytes per PATCH of a chunked upload. */
  chunkSize: number;
  /** Blobs smaller than this go in one PUT. */
  monolithicLimit: number;
}

/** How far a push got with its blobs. */
export interface BlobTally {
  uploadedBlobs: number;
  skippedBlobs: number;
  bytesUploaded: number;
}

/**
 * Makes the registry hold one blob: skipped when it does already, else mounted or uploaded. A blob
 * is content-addressed, so uploading it again in a new session after a transient failure is
 * idempotent.
 */
export async function pushBlob(push: BlobPush, blob: ArtifactBlob, tally: BlobTally): Promise<void> {
  const { session, progress } = push;
  const { digest, size } = blob.descriptor;
  if (await blobExists(push, blob, `checking ${blob.name} (${digest})`)) {
    tally.skippedBlobs++;
    progress({ file: blob.name, bytes: size, total: size });
    return;
  }
  for (let attempt = 0; ; attempt++) {
    try {
      if (await storeBlob(push, blob)) tally.skippedBlobs++;
      else {
        tally.uploadedBlobs++;
        tally.bytesUploaded += size;
      }
      return;
    } catch (error) {
      if (!(error instanceof RegistryPushError && error.transient && attempt < session.limits.retries)) throw error;
      progress({
        message: `${session.target.host}: ${error.step}: ${error.code ?? `HTTP ${error.status}`}; uploading ${blob.name} again (${attempt + 2} of ${session.limits.retries + 1})`,
      });
      await backoff(attempt + 1, push.options.signal);
    }
  }
}

/** Whether the registry holds the blob, with its size. */
async function blobExists(push: BlobPush, blob: ArtifactBlob, step: string): Promise<boolean> {
  const { session } = push;
  const response = await session.request(
    step,
    'HEAD',
    session.resolve(`/v2/${push.repo}/blobs/${blob.descriptor.digest}`),
    {},
  );
  if (response.status === 200) {
    const length = header(response, 'content-length');
    return length === undefined || Number(length) === blob.descriptor.size;
  }
  if (response.status === 404) return false;
  throw session.statusError(step, response);
}

/** Mounts or uploads one blob and checks that the registry holds it; true when it was mounted. */
async function storeBlob(push: BlobPush, blob: ArtifactBlob): Promise<boolean> {
  const { session, options, progress, repo } = push;
  const { digest, size } = blob.descriptor;
  let location: string | undefined;
  if (options.mountFrom && options.mountFrom !== repo) {
    const step = `mounting ${blob.name} from ${options.mountFrom}`;
    const url = session.resolve(`/v2/${repo}/blobs/uploads/`);
    url.searchParams.set('mount', digest);
    url.searchParams.set('from', options.mountFrom);
    const response = await session.request(step, 'POST', url, {});
    if (response.status === 201) {
      progress({ file: blob.name, bytes: size, total: size });
      progress({ message: `${blob.name}: mounted from ${options.mountFrom}` });
      return true;
    }
    if (response.status !== 202) throw session.statusError(step, response);
    location = header(response, 'location');
  }
  if (!location) {
    const step = `starting the upload of ${blob.name}`;
    const response = await session.request(step, 'POST', session.resolve(`/v2/${repo}/blobs/uploads/`), {});
    if (response.status !== 202) throw session.statusError(step, response);
    location = header(response, 'location');
  }
  if (!location)
    throw session.fail(`starting the upload of ${blob.name}`, 'the registry answered without a Location to upload to');
  await uploadBlob(push, blob, location);
  if (!(await blobExists(push, blob, `checking the uploaded ${blob.name}`))) {
    throw session.fail(
      `checking the uploaded ${blob.name}`,
      `the registry does not hold ${digest} (${size} bytes) after accepting it; push again`,
    );
  }
  return false;
}

const OCTETS = { 'Content-Type': 'application/octet-stream' };

/** Uploads a blob into an open upload session at `location`: from memory, in one PUT, or in chunks. */
async function uploadBlob(push: BlobPush, blob: ArtifactBlob, location: string): Promise<void> {
  const upload = new BlobUpload(push, blob);
  if (blob.content) return putFromMemory(upload, blob.content, location);
  if (blob.descriptor.size < push.monolithicLimit) return putWhole(upload, location);
  return patchChunks(upload, location);
}

/** A blob held in memory (the config, small files), in one PUT. */
async function putFromMemory(upload: BlobUpload, content: Buffer, location: string): Promise<void> {
  const { session } = upload.push;
  const step = `upload of ${upload.blob.name}`;
  upload.meter(content);
  const response = await session.request(step, 'PUT', upload.closing(session.resolve(location)), OCTETS, content);
  if (response.status !== 201) throw session.statusError(step, response);
}

/** A file streamed in one PUT (monolithic upload). */
async function putWhole(upload: BlobUpload, location: string): Promise<void> {
  const { session } = upload.push;
  const { digest, size } = upload.blob.descriptor;
  const step = `upload of ${upload.blob.name}`;
  const response = await session.request(
    step,
    'PUT',
    upload.closing(session.resolve(location)),
    { ...OCTETS, 'Content-Length': String(size) },
    upload.body(0, size),
    { bodyBytes: size },
  );
  // The registry checks the digest too (400 DIGEST_INVALID); ours says which file and why.
  if (upload.sent !== size || upload.digestSoFar() !== digest) await upload.refuseChanged(step, undefined);
  if (response.status !== 201) throw session.statusError(step, response);
}

/** A file streamed in PATCHes of `chunkSize` bytes, each acknowledged, then closed with a PUT of the digest. */
async function patchChunks(upload: BlobUpload, location: string): Promise<void> {
  const { session, chunkSize } = upload.push;
  const { name, descriptor } = upload.blob;
  const { digest, size } = descriptor;
  let url = session.resolve(location);
  for (let offset = 0; offset < size;) {
    const end = Math.min(offset + chunkSize, size);
    const step = `upload of ${name} (bytes ${offset}-${end - 1} of ${size})`;
    const headers = { ...OCTETS, 'Content-Length': String(end - offset), 'Content-Range': `${offset}-${end - 1}` };
    const response = await session.request(step, 'PATCH', url, headers, upload.body(offset, end), {
      bodyBytes: end - offset,
    });
    if (response.status !== 202) throw session.statusError(step, response);
    if (upload.sent !== end) await upload.refuseChanged(step, url);
    const next = header(response, 'location');
    if (!next) throw session.fail(step, 'the registry answered without a Location for the next chunk');
    url = session.resolve(next);
    const range = header(response, 'range');
    if (range && !new RegExp(`^(bytes=)?0-${end - 1}$`).test(range)) {
      throw session.fail(step, `the registry holds bytes ${range} of the upload, expected 0-${end - 1}; push again`);
    }
    offset = end;
  }
  const step = `closing the upload of ${name}`;
  if (upload.digestSoFar() !== digest) await upload.refuseChanged(step, url);
  const response = await session.request(step, 'PUT', upload.closing(url), OCTETS);
  if (response.status !== 201) throw session.statusError(step, response);
}

/** One blob's bytes on their way: hashed and counted as they are sent, and reported as progress. */
class BlobUpload {
  #hash: Hash = createHash('sha256');
  #sent = 0;

  constructor(
    readonly push: BlobPush,
    readonly blob: ArtifactBlob,
  ) {}

  /** Bytes sent so far. */
  get sent(): number {
    return this.#sent;
  }

  meter(chunk: Buffer): void {
    this.#hash.update(chunk);
    this.#sent += chunk.length;
    this.push.progress({ file: this.blob.name, bytes: this.#sent, total: this.blob.descriptor.size });
  }

  /** A body factory for bytes [start, end): a body sent again after a 401 hashes from where it began. */
  body(start: number, end: number): () => Readable {
    const saved = this.#hash.copy();
    const savedSent = this.#sent;
    let first = true;
    return () => {
      if (!first) {
        this.#hash = saved.copy();
        this.#sent = savedSent;
      }
      first = false;
      return fileStream(this.blob.file!, start, end, (chunk) => this.meter(chunk));
    };
  }

  /** The digest of the bytes sent so far. */
  digestSoFar(): string {
    return `sha256:${this.#hash.copy().digest('hex')}`;
  }

  /** The URL that closes the upload: it names the digest. */
  closing(url: URL): URL {
    url.searchParams.set('digest', this.blob.descriptor.digest);
    return url;
  }

  /** The file changed under the push: the upload is cancelled (when one is open) and refused. */
  async refuseChanged(step: string, cancel: URL | undefined): Promise<never> {
    const { session } = this.push;
    const { size } = this.blob.descriptor;
    const actual =
      this.#sent === size ? `sha256:${this.#hash.digest('hex')}` : `${this.#sent} bytes instead of ${size}`;
    if (cancel)
      await session.request(`cancelling the upload of ${this.blob.name}`, 'DELETE', cancel, {}).catch(() => undefined);
    throw session.fail(step, changedMessage(this.blob, actual), undefined, 'CHANGED');
  }
}

/** Streams a byte range of a file, hashing it and reporting progress as it goes. */
function fileStream(path: string, start: number, end: number, onData: (chunk: Buffer) => void): Readable {
  const file = createReadStream(path, { start, end: end - 1, highWaterMark: READ_BUFFER });
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      onData(chunk);
      done(null, chunk);
    },
  });
  file.on('error', (error) => meter.destroy(error));
  return file.pipe(meter);
}
