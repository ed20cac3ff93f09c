import { createHash } from 'node:crypto';
import { canonicalJson, MEDIA_TYPE_MANIFEST, type Descriptor } from '../registry/modelpack';
import { dockerCredentials } from '../registry/credentials';
import {
  pushBlob,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_MONOLITHIC_LIMIT,
  type BlobPush,
  type BlobTally,
} from '../registry/oci-blobs';
import { RegistryPushError } from '../registry/oci-errors';
import { header, Session, type RegistryCredentials } from '../registry/oci-session';
import { PushError } from '../registry/types';
import { type AnswerSink, deadlineFor } from '../tracking/transfer';
import { isDigest } from '../runs/metadata';
import {
  type DocumentKind,
  inParallel,
  type Listed,
  type ObjectInfo,
  type RemoteBackend,
  RemoteError,
  RemoteNotFound,
} from './backend';
import { type RemoteSpec } from './spec';

/*
 * A remote in an OCI registry (the one a team already pushes models to): every object is a blob
 * of the repository, by its digest; every document (a run-cache entry, a run index) is the config
 * blob of a small manifest tagged `stages-<key>` or `runs-<run id>`, whose layers are the objects
 * it references, so the registry's own garbage collection keeps exactly what some tag names.
 * Blobs and manifests go through the project's OCI client (registry/oci-session.ts): the
 * registry's auth challenge, TLS verified, retries, bounds, no credential ever shown.
 */

export const MEDIA_TYPE_ENTRY = 'application/vnd.mlpipe.cache.entry.v1+json';
export const MEDIA_TYPE_RUN = 'application/vnd.mlpipe.cache.run.v1+json';
export const MEDIA_TYPE_OBJECT = 'application/vnd.mlpipe.cache.object.v1';
/** The image-spec's empty descriptor, the one layer of a manifest that references no object. */
const EMPTY: Descriptor = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
};
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** The most tags one listing reads. */
const MAX_TAGS = 2_000_000;

/** `stages-<64 hex>` or `runs-<run id>`: tags are [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. */
function tagOf(kind: DocumentKind, name: string): string {
  return `${kind}-${name}`;
}

export class OciBackend implements RemoteBackend {
  readonly shown: string;
  readonly defaultJobs = 8;
  private readonly session: Session;
  private readonly repo: string;
  private readonly push: BlobPush;

  constructor(
    readonly spec: RemoteSpec,
    options: { credentials?: RegistryCredentials; caFile?: string } = {},
  ) {
    const target = spec.oci!;
    this.repo = target.repository;
    this.shown = `${target.scheme === 'http' ? 'oci+http' : 'oci'}://${target.host}/${target.repository}`;
    let credentials = options.credentials;
    try {
      credentials ??= dockerCredentials(target.host);
    } catch (error) {
      throw new RemoteError(`remote '${spec.name}': ${(error as Error).message}`);
    }
    this.session = new Session(target, {
      ...(credentials ? { credentials } : {}),
      ...(options.caFile ? { caFile: options.caFile } : {}),
    });
    this.push = {
      session: this.session,
      repo: this.repo,
      options: {},
      progress: () => undefined,
      chunkSize: DEFAULT_CHUNK_SIZE,
      monolithicLimit: DEFAULT_MONOLITHIC_LIMIT,
    };
  }

  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof RemoteError) throw error;
      if (error instanceof PushError)
        throw new RemoteError(
          `remote '${this.spec.name}': ${error.message}`,
          error instanceof RegistryPushError && error.transient,
        );
      throw error;
    }
  }

  async present(digests: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    await this.call(() =>
      inParallel(digests, 8, async (digest) => {
        const step = `checking ${digest}`;
        const answer = await this.session.request(
          step,
          'HEAD',
          this.session.resolve(`/v2/${this.repo}/blobs/${digest}`),
          {},
        );
        if (answer.status === 200) found.add(digest);
        else if (answer.status !== 404) throw this.session.statusError(step, answer);
      }),
    );
    return found;
  }

  async upload(object: ObjectInfo, file: string, onBytes: (bytes: number) => void): Promise<void> {
    const tally: BlobTally = { uploadedBlobs: 0, skippedBlobs: 0, bytesUploaded: 0 };
    await this.call(() =>
      pushBlob(
        this.push,
        {
          descriptor: { mediaType: MEDIA_TYPE_OBJECT, digest: object.digest, size: object.size },
          name: object.digest,
          file,
          computed: false,
        },
        tally,
      ),
    );
    onBytes(object.size);
  }

  async download(digest: string, maxBytes: number, sink: AnswerSink): Promise<void> {
    const step = `downloading ${digest}`;
    await this.call(async () => {
      const answer = await this.session.request(
        step,
        'GET',
        this.session.resolve(`/v2/${this.repo}/blobs/${digest}`),
        {},
        undefined,
        {
          sink,
          maxAnswerBytes: maxBytes,
          deadlineMs: deadlineFor(maxBytes, this.session.limits),
        },
      );
      if (answer.status === 404)
        throw new RemoteNotFound(`remote '${this.spec.name}' (${this.shown}) does not hold ${digest}`);
      if (answer.status !== 200) throw this.session.statusError(step, answer);
    });
  }

  /** A blob read whole, checked against its digest (a config: small). */
  private async blob(descriptor: Descriptor, maxBytes: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    await this.download(descriptor.digest, maxBytes, {
      write: (chunk) => chunks.push(chunk),
      restart: () => (chunks.length = 0),
    });
    const body = Buffer.concat(chunks);
    const actual = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (actual !== descriptor.digest)
      throw new RemoteError(`remote '${this.spec.name}': the blob ${descriptor.digest} hashes to ${actual}; refused`);
    return body;
  }

  async readDocument(kind: DocumentKind, name: string, maxBytes: number): Promise<Buffer | undefined> {
    const step = `reading ${tagOf(kind, name)}`;
    return this.call(async () => {
      const answer = await this.session.request(
        step,
        'GET',
        this.session.resolve(`/v2/${this.repo}/manifests/${tagOf(kind, name)}`),
        { Accept: MEDIA_TYPE_MANIFEST },
        undefined,
        { maxAnswerBytes: MAX_MANIFEST_BYTES },
      );
      if (answer.status === 404) return undefined;
      if (answer.status !== 200) throw this.session.statusError(step, answer);
      let config: Descriptor | undefined;
      try {
        config = (JSON.parse(answer.body.toString('utf8')) as { config?: Descriptor }).config;
      } catch {
        // below
      }
      if (!config || !isDigest(config.digest) || typeof config.size !== 'number' || config.size > maxBytes)
        throw new RemoteError(
          `remote '${this.spec.name}': the manifest ${tagOf(kind, name)} is not an mlpipe cache document`,
        );
      return this.blob(config, maxBytes);
    });
  }

  async writeDocument(kind: DocumentKind, name: string, body: Buffer, objects: ObjectInfo[]): Promise<void> {
    const mediaType = kind === 'stages' ? MEDIA_TYPE_ENTRY : MEDIA_TYPE_RUN;
    const config: Descriptor = {
      mediaType,
      digest: `sha256:${createHash('sha256').update(body).digest('hex')}`,
      size: body.length,
    };
    const tally: BlobTally = { uploadedBlobs: 0, skippedBlobs: 0, bytesUploaded: 0 };
    await this.call(async () => {
      await pushBlob(this.push, { descriptor: config, name: `${kind} document`, content: body, computed: true }, tally);
      const layers =
        objects.length > 0 ? objects.map((object) => ({ mediaType: MEDIA_TYPE_OBJECT, ...object })) : [EMPTY];
      if (objects.length === 0)
        await pushBlob(
          this.push,
          { descriptor: EMPTY, name: 'empty', content: Buffer.from('{}'), computed: true },
          tally,
        );
      const manifest = Buffer.from(
        canonicalJson({ schemaVersion: 2, mediaType: MEDIA_TYPE_MANIFEST, artifactType: mediaType, config, layers }),
      );
      if (manifest.length > MAX_MANIFEST_BYTES)
        throw new RemoteError(
          `remote '${this.spec.name}': the entry references ${objects.length} objects, too many for one manifest (${manifest.length} bytes); use an S3 or folder remote for outputs of this many files`,
        );
      const step = `tagging ${tagOf(kind, name)}`;
      const put = await this.session.request(
        step,
        'PUT',
        this.session.resolve(`/v2/${this.repo}/manifests/${tagOf(kind, name)}`),
        { 'Content-Type': MEDIA_TYPE_MANIFEST },
        manifest,
        { idempotent: true },
      );
      if (put.status !== 201 && put.status !== 200) throw this.session.statusError(step, put);
    });
  }

  async listDocuments(kind: DocumentKind): Promise<Listed[]> {
    const listed: Listed[] = [];
    await this.call(async () => {
      let next: URL | undefined = this.session.resolve(`/v2/${this.repo}/tags/list?n=1000`);
      const visited = new Set<string>();
      let tagsSeen = 0;
      for (let page = 0; next && page < 10_000; page++) {
        // Pages stay on the registry, are never asked twice, and hold a bounded number of tags in all.
        if (visited.has(next.href) || next.origin !== this.session.base.origin)
          throw new RemoteError(
            `remote '${this.spec.name}': the tag list's next page leads back or elsewhere; stopped`,
          );
        visited.add(next.href);
        const answer = await this.session.request('listing tags', 'GET', next, {});
        if (answer.status === 404) return;
        if (answer.status !== 200) throw this.session.statusError('listing tags', answer);
        let tags: unknown;
        try {
          tags = (JSON.parse(answer.body.toString('utf8')) as { tags?: unknown }).tags;
        } catch {
          throw new RemoteError(`remote '${this.spec.name}': the tag list is not JSON`);
        }
        tagsSeen += Array.isArray(tags) ? tags.length : 0;
        if (tagsSeen > MAX_TAGS)
          throw new RemoteError(`remote '${this.spec.name}': more than ${MAX_TAGS} tags; stopped`);
        for (const tag of Array.isArray(tags) ? tags : [])
          if (typeof tag === 'string' && tag.startsWith(`${kind}-`)) listed.push({ name: tag.slice(kind.length + 1) });
        const link = /<([^>]+)>;\s*rel="?next"?/.exec(header(answer, 'link') ?? '');
        next = link ? this.session.resolve(link[1]!) : undefined;
      }
    });
    return listed;
  }

  /** A registry lists no blobs: objects are known through the entries that reference them. */
  async listObjects(): Promise<Listed[]> {
    return [];
  }

  async deleteDocuments(kind: DocumentKind, names: string[]): Promise<void> {
    await this.call(async () => {
      for (const name of names) {
        const url = this.session.resolve(`/v2/${this.repo}/manifests/${tagOf(kind, name)}`);
        const head = await this.session.request('finding a manifest to delete', 'HEAD', url, {
          Accept: MEDIA_TYPE_MANIFEST,
        });
        if (head.status === 404) continue;
        const digest = header(head, 'docker-content-digest');
        if (head.status !== 200 || !digest) throw this.session.statusError('finding a manifest to delete', head);
        if (!isDigest(digest))
          throw new RemoteError(
            `remote '${this.spec.name}': the registry named the manifest of ${tagOf(kind, name)} by something that is not a digest; nothing deleted`,
          );
        const step = `deleting ${tagOf(kind, name)}`;
        const answer = await this.session.request(
          step,
          'DELETE',
          this.session.resolve(`/v2/${this.repo}/manifests/${digest}`),
          {},
        );
        if (answer.status === 405)
          throw new RemoteError(
            `remote '${this.spec.name}': the registry does not allow deletes (Distribution: storage.delete.enabled: true); nothing was removed after ${name}`,
          );
        if (answer.status !== 202 && answer.status !== 200 && answer.status !== 404)
          throw this.session.statusError(step, answer);
      }
    });
  }

  async deleteObjects(): Promise<boolean> {
    return false;
  }

  close(): void {
    this.session.close();
  }
}
