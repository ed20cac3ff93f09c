import { createReadStream } from 'node:fs';
import { type Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  type AnswerSink,
  deadlineFor,
  redactText,
  seconds,
  transferLimits,
  type TransferLimits,
} from '../tracking/transfer';
import {
  digestOfKey,
  documentKey,
  inParallel,
  type DocumentKind,
  type Listed,
  objectKey,
  stagingKey,
  type ObjectInfo,
  printable,
  type RemoteBackend,
  type RemoteError,
  type RemoteNotFound,
} from './backend';
import { type RemoteSpec } from './spec';

/*
 * An S3-compatible remote (AWS, GCS's S3 interoperability, MinIO, Ceph, SeaweedFS) through the AWS
 * SDK for JavaScript v3. Credentials come from where the AWS CLI reads them (AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_PROFILE or the remote's `profile` in
 * ~/.aws/credentials and ~/.aws/config, then the SDK's other providers); mlpipe never stores them.
 *
 * Large objects go in parts (MULTIPART_FROM and up), streamed from the file part by part, so memory
 * stays flat whatever the size; an upload cut short is resumed by the next push (the parts the
 * service holds are listed and kept), and only a completed upload makes the key visible. This file
 * is bundled apart (dist/remote-s3.js) and loaded only when an S3 remote is used.
 */

/** Objects this large and up are uploaded in parts. */
const MULTIPART_FROM = 64 * 1024 * 1024;
const PART_SIZE = 16 * 1024 * 1024;
/** Parts of one object in flight at once. */
const PART_JOBS = 8;
/** Asked about more objects than this, the remote's listing answers instead of one HEAD each. */
const HEAD_LIMIT = 32;
/** The most keys one listing reads (about 200 bytes each in memory). */
const MAX_LISTED = 2_000_000;
// mlpipe pins the SDK's version: its notice that later versions need Node 22 is not the user's to act on.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

type Body = Readable & { destroy(): void };

export class S3Backend implements RemoteBackend {
  readonly shown: string;
  readonly defaultJobs = 32;
  private readonly client: S3Client;
  private readonly clientConfig: S3ClientConfig;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly secrets: string[];
  private readonly limits: TransferLimits = transferLimits();

  /**
   * The error classes of the bundle that loaded this one: this file is bundled apart, and a class
   * of its own copy would fail `instanceof` there (a user's error would read as an internal one).
   */
  constructor(
    readonly spec: RemoteSpec,
    private readonly errors: { RemoteError: typeof RemoteError; RemoteNotFound: typeof RemoteNotFound },
    /** Keys given by the caller (VS Code's SecretStorage); the AWS places otherwise. */
    keys?: { accessKeyId: string; secretAccessKey: string },
  ) {
    this.bucket = spec.bucket!;
    this.prefix = spec.prefix ? `${spec.prefix}/` : '';
    this.shown = `s3://${this.bucket}/${spec.prefix ?? ''}${spec.endpoint ? ` (${spec.endpoint})` : ''}`;
    this.secrets = [
      process.env.AWS_SECRET_ACCESS_KEY ?? '',
      process.env.AWS_SESSION_TOKEN ?? '',
      keys?.secretAccessKey ?? '',
    ].filter(Boolean);
    const agent = { keepAlive: true, maxSockets: 64 };
    this.clientConfig = {
      region: spec.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      ...(spec.endpoint ? { endpoint: spec.endpoint } : {}),
      forcePathStyle: spec.pathStyle ?? false,
      ...(spec.profile && !keys ? { profile: spec.profile } : {}),
      ...(keys ? { credentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey } } : {}),
      // The digest is checked end to end (sync.ts); S3-compatible services differ in the SDK's newer checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 4,
      // Failures reach the user once, as a RemoteError; the SDK's own console lines would repeat them.
      logger: {
        trace: () => undefined,
        debug: () => undefined,
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
      },
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000, httpAgent: agent, httpsAgent: agent },
    };
    this.client = new S3Client(this.clientConfig);
  }

  private key(relative: string): string {
    return `${this.prefix}${relative}`;
  }

  /** An SDK failure as a RemoteError: the step, the service's own code, what to do; never a secret. */
  private fail(step: string, error: unknown): RemoteError {
    if (error instanceof this.errors.RemoteError) return error;
    const e = error as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    const name = e.name ?? e.code ?? 'Error';
    const where = `remote '${this.spec.name}' (${this.shown})`;
    let advice = '';
    if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(e.message ?? ''))
      return new this.errors.RemoteError(
        `${where}: ${step}: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (or the remote's profile) naming a profile of ~/.aws/credentials`,
      );
    if (
      ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken'].includes(name) ||
      status === 403
    )
      advice =
        '; check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile, and that the key may read and write the bucket';
    else if (name === 'NoSuchBucket')
      advice = `; the bucket ${this.bucket} does not exist there: create it (aws s3 mb s3://${this.bucket}) or fix the url`;
    else if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN/.test(`${e.code ?? ''} ${e.message ?? ''}`))
      advice = `; is the endpoint ${this.spec.endpoint ?? 'of the region'} right and the service up?`;
    const transient =
      (status !== undefined && (status >= 500 || status === 429)) ||
      /ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|socket hang up|TimeoutError|RequestTimeout/i.test(
        `${name} ${e.code ?? ''} ${e.message ?? ''}`,
      );
    const detail = printable(
      redactText(`${name}${status ? ` (HTTP ${status})` : ''}: ${(e.message ?? '').split('\n')[0]}`, this.secrets),
    );
    return new this.errors.RemoteError(`${where}: ${step}: ${detail}${advice}`, transient);
  }

  private async send<T>(step: string, call: () => Promise<T>): Promise<T> {
    await this.identity();
    try {
      return await call();
    } catch (error) {
      throw this.fail(step, error);
    }
  }

  private resolved: Promise<void> | undefined;

  /**
   * The keys the SDK will sign with, resolved once before the first request, so that whatever
   * provider gave them (environment, profile, SSO, a container role) their secret and session
   * token are redacted from every message; and "no credentials" is said before anything is sent.
   */
  private identity(): Promise<void> {
    this.resolved ??= (async () => {
      try {
        const keys = await this.client.config.credentials();
        this.secrets.push(...[keys.secretAccessKey, keys.sessionToken ?? ''].filter(Boolean));
      } catch (error) {
        this.resolved = undefined;
        throw this.fail('finding the AWS credentials', error);
      }
    })();
    return this.resolved;
  }

  /**
   * Reads an answer's body into `onChunk`, within bounds the SDK does not put on a body: at most
   * `maxBytes`, never a pause longer than the stall bound, never longer in all than the deadline for
   * that many bytes; a cancel stops it at once. The body is destroyed on any failure.
   */
  private readBody(
    body: Body,
    step: string,
    maxBytes: number,
    onChunk: (chunk: Buffer) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const where = `remote '${this.spec.name}' (${this.shown}): ${step}`;
    return new Promise<void>((resolve, reject) => {
      let received = 0;
      let settled = false;
      let stall: NodeJS.Timeout | undefined;
      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(stall);
        clearTimeout(overall);
        signal?.removeEventListener('abort', onAbort);
        if (error) {
          body.destroy();
          reject(error);
        } else resolve();
      };
      const arm = () => {
        clearTimeout(stall);
        stall = setTimeout(
          () =>
            finish(
              new this.errors.RemoteError(
                `${where}: nothing arrived for ${seconds(this.limits.stallMs)} after ${received} bytes`,
                true,
              ),
            ),
          this.limits.stallMs,
        );
      };
      const deadlineMs = deadlineFor(maxBytes, this.limits);
      const overall = setTimeout(
        () =>
          finish(
            new this.errors.RemoteError(
              `${where}: it took longer than ${seconds(deadlineMs)} (the bound for ${maxBytes} bytes) after ${received} bytes`,
              true,
            ),
          ),
        deadlineMs,
      );
      const onAbort = () => finish(Object.assign(new Error('cancelled'), { name: 'AbortError' }));
      signal?.addEventListener('abort', onAbort);
      if (signal?.aborted) return onAbort();
      arm();
      body.on('data', (chunk: Buffer) => {
        if (settled) return;
        received += chunk.length;
        if (received > maxBytes) {
          finish(new this.errors.RemoteError(`${where}: more than the ${maxBytes} bytes its entry allows`));
          return;
        }
        try {
          onChunk(chunk);
        } catch (error) {
          finish(error as Error);
          return;
        }
        arm();
      });
      body.on('end', () => finish());
      body.on('error', (error) => finish(this.fail(step, error)));
    });
  }

  async present(digests: string[], signal?: AbortSignal): Promise<Set<string>> {
    const found = new Set<string>();
    await this.identity();
    if (digests.length <= HEAD_LIMIT) {
      await inParallel(digests, 16, async (digest) => {
        try {
          await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(objectKey(digest)) }), {
            abortSignal: signal,
          });
          found.add(digest);
        } catch (error) {
          const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
          if (status !== 404) throw this.fail(`checking ${digest}`, error);
        }
      });
      return found;
    }
    const wanted = new Set(digests);
    // A remote of up to 1,000 objects answers in one page; a larger one, one listing per shard the
    // objects fall in (`objects/ab/`, 256 at most), in parallel.
    const first = await this.send('listing objects/', () =>
      this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.key('objects/') }), {
        abortSignal: signal,
      }),
    );
    if (!first.IsTruncated) {
      for (const item of first.Contents ?? []) {
        const digest = digestOfKey((item.Key ?? '').slice(this.prefix.length));
        if (digest && wanted.has(digest)) found.add(digest);
      }
      return found;
    }
    const shards = [...new Set(digests.map((digest) => digest.slice(7, 9)))];
    await inParallel(shards, 16, async (shard) => {
      for (const { name } of await this.list(`objects/${shard}/`, signal)) if (wanted.has(name)) found.add(name);
    });
    return found;
  }

  /** Every key under a prefix of the remote, as object digests or document names with their dates. */
  private async list(under: string, signal?: AbortSignal): Promise<(Listed & { size?: number })[]> {
    const listed: (Listed & { size?: number })[] = [];
    const tokens = new Set<string>();
    let token: string | undefined;
    do {
      const page = await this.send(`listing ${under}`, () =>
        this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.key(under), ContinuationToken: token }),
          { abortSignal: signal },
        ),
      );
      for (const item of page.Contents ?? []) {
        const key = (item.Key ?? '').slice(this.prefix.length);
        const digest = under.startsWith('objects/') ? digestOfKey(key) : undefined;
        const name =
          digest ??
          (under.startsWith('staging/')
            ? key.slice(under.length) || undefined
            : (/^(?:stages|runs)\/([^/]+)\.json$/.exec(key)?.[1] as string | undefined));
        if (name)
          listed.push({
            name,
            ...(item.LastModified ? { modified: item.LastModified } : {}),
            ...(item.Size !== undefined ? { size: item.Size } : {}),
          });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      // A service that hands the same page token back, or lists without end, is stopped.
      if (token !== undefined && (tokens.has(token) || token === ''))
        throw new this.errors.RemoteError(
          `remote '${this.spec.name}' (${this.shown}): listing ${under}: the service returned a continuation token it gave before; stopped`,
        );
      if (token) tokens.add(token);
      if (listed.length > MAX_LISTED)
        throw new this.errors.RemoteError(
          `remote '${this.spec.name}' (${this.shown}): listing ${under}: more than ${MAX_LISTED} keys; stopped (mlpipe cache gc --remote keeps a remote small)`,
        );
    } while (token);
    return listed;
  }

  async upload(
    object: ObjectInfo,
    file: string,
    onBytes: (bytes: number) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const key = this.key(objectKey(object.digest));
    if (object.size < MULTIPART_FROM) {
      await this.send(`uploading ${object.digest}`, () =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: createReadStream(file, { highWaterMark: 1024 * 1024 }),
            ContentLength: object.size,
            ContentType: 'application/octet-stream',
          }),
          { abortSignal: signal },
        ),
      );
      onBytes(object.size);
      return;
    }
    await this.uploadInParts(object, key, file, onBytes, signal);
  }

  /** A multipart upload, resumed where one for the same key was left (its parts of the right size kept). */
  private async uploadInParts(
    object: ObjectInfo,
    key: string,
    file: string,
    onBytes: (bytes: number) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const step = `uploading ${object.digest} (${object.size} bytes in parts)`;
    const count = Math.ceil(object.size / PART_SIZE);
    const sizeOf = (part: number) => Math.min(PART_SIZE, object.size - (part - 1) * PART_SIZE);
    let uploadId: string | undefined;
    const done = new Map<number, string>();
    const pending = await this.send(step, () =>
      this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: key }), { abortSignal: signal }),
    );
    const earlier = (pending.Uploads ?? []).filter((upload) => upload.Key === key && upload.UploadId).at(-1);
    if (earlier?.UploadId) {
      try {
        let marker: string | undefined;
        do {
          const parts = await this.client.send(
            new ListPartsCommand({
              Bucket: this.bucket,
              Key: key,
              UploadId: earlier.UploadId,
              PartNumberMarker: marker,
            }),
            { abortSignal: signal },
          );
          for (const part of parts.Parts ?? [])
            if (part.PartNumber && part.ETag && part.Size === sizeOf(part.PartNumber))
              done.set(part.PartNumber, part.ETag);
          marker = parts.IsTruncated ? parts.NextPartNumberMarker : undefined;
        } while (marker);
        uploadId = earlier.UploadId;
      } catch {
        done.clear(); // the earlier upload is gone: start anew
      }
    }
    if (!uploadId) {
      const created = await this.send(step, () =>
        this.client.send(
          new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: 'application/octet-stream' }),
          { abortSignal: signal },
        ),
      );
      uploadId = created.UploadId;
      if (!uploadId)
        throw new this.errors.RemoteError(`remote '${this.spec.name}': ${step}: the service gave no upload id`);
    }
    for (const part of done.keys()) onBytes(sizeOf(part));
    const parts = Array.from({ length: count }, (_, index) => index + 1).filter((part) => !done.has(part));
    await inParallel(
      parts,
      PART_JOBS,
      async (part) => {
        const start = (part - 1) * PART_SIZE;
        const answer = await this.send(`${step}, part ${part} of ${count}`, () =>
          this.client.send(
            new UploadPartCommand({
              Bucket: this.bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: part,
              Body: createReadStream(file, { start, end: start + sizeOf(part) - 1, highWaterMark: 1024 * 1024 }),
              ContentLength: sizeOf(part),
            }),
            { abortSignal: signal },
          ),
        );
        if (!answer.ETag)
          throw new this.errors.RemoteError(`remote '${this.spec.name}': ${step}: part ${part} has no ETag`);
        done.set(part, answer.ETag);
        onBytes(sizeOf(part));
      },
      signal,
    );
    await this.send(`${step}: completing`, () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: {
            Parts: [...done.entries()].sort(([a], [b]) => a - b).map(([PartNumber, ETag]) => ({ PartNumber, ETag })),
          },
        }),
        { abortSignal: signal },
      ),
    );
  }

  /**
   * One key's content into `onChunk`, at most `maxBytes` (a larger announced size is refused before
   * a byte is read); false, with nothing read, when the key does not exist.
   */
  private async get(
    relative: string,
    step: string,
    maxBytes: number,
    onChunk: (chunk: Buffer) => void,
    signal?: AbortSignal,
  ): Promise<boolean> {
    await this.identity();
    let answer;
    try {
      answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(relative) }), {
        abortSignal: signal,
      });
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return false;
      throw this.fail(step, error);
    }
    const body = answer.Body as Body | undefined;
    if (!body) return true;
    if (answer.ContentLength !== undefined && answer.ContentLength > maxBytes) {
      body.destroy();
      throw new this.errors.RemoteError(
        `remote '${this.spec.name}': ${step}: ${answer.ContentLength} bytes, more than the ${maxBytes} allowed`,
      );
    }
    await this.readBody(body, step, maxBytes, onChunk, signal);
    return true;
  }

  async download(digest: string, maxBytes: number, sink: AnswerSink, signal?: AbortSignal): Promise<void> {
    const found = await this.get(
      objectKey(digest),
      `downloading ${digest}`,
      maxBytes,
      (chunk) => sink.write(chunk),
      signal,
    );
    if (!found)
      throw new this.errors.RemoteNotFound(`remote '${this.spec.name}' (${this.shown}) does not hold ${digest}`);
  }

  async readDocument(
    kind: DocumentKind,
    name: string,
    maxBytes: number,
    signal?: AbortSignal,
  ): Promise<Buffer | undefined> {
    const chunks: Buffer[] = [];
    const key = documentKey(kind, name);
    const found = await this.get(key, `reading ${key}`, maxBytes, (chunk) => chunks.push(chunk), signal);
    return found ? Buffer.concat(chunks) : undefined;
  }

  async writeDocument(
    kind: DocumentKind,
    name: string,
    body: Buffer,
    _objects: ObjectInfo[],
    signal?: AbortSignal,
  ): Promise<void> {
    await this.send(`writing ${documentKey(kind, name)}`, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key(documentKey(kind, name)),
          Body: body,
          ContentType: 'application/json',
        }),
        { abortSignal: signal },
      ),
    );
  }

  listDocuments(kind: DocumentKind, signal?: AbortSignal): Promise<Listed[]> {
    return this.list(`${kind}/`, signal);
  }

  listObjects(signal?: AbortSignal): Promise<(Listed & { size?: number })[]> {
    return this.list('objects/', signal);
  }

  private async deleteKeys(keys: string[], signal?: AbortSignal): Promise<void> {
    for (let start = 0; start < keys.length; start += 1000) {
      const batch = keys.slice(start, start + 1000);
      const answer = await this.send('deleting', () =>
        this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
          { abortSignal: signal },
        ),
      );
      if (answer.Errors && answer.Errors.length > 0)
        throw new this.errors.RemoteError(
          `remote '${this.spec.name}': deleting ${answer.Errors.length} keys failed (first: ${printable(redactText(`${answer.Errors[0]?.Key}: ${answer.Errors[0]?.Code}`, this.secrets), 200)})`,
        );
    }
  }

  async deleteDocuments(kind: DocumentKind, names: string[], signal?: AbortSignal): Promise<void> {
    await this.deleteKeys(
      names.map((name) => this.key(documentKey(kind, name))),
      signal,
    );
  }

  async deleteObjects(digests: string[], signal?: AbortSignal): Promise<boolean> {
    await this.deleteKeys(
      digests.map((digest) => this.key(objectKey(digest))),
      signal,
    );
    return true;
  }

  /** Multipart uploads left unfinished before `before` (gc aborts them: their parts cost storage). */
  async abortStaleUploads(before: Date, signal?: AbortSignal): Promise<number> {
    const pending = await this.send('listing unfinished uploads', () =>
      this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.key('objects/') }), {
        abortSignal: signal,
      }),
    );
    let aborted = 0;
    for (const upload of pending.Uploads ?? []) {
      if (!upload.Key || !upload.UploadId || !upload.Initiated || upload.Initiated >= before) continue;
      await this.send('aborting an unfinished upload', () =>
        this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId }),
          {
            abortSignal: signal,
          },
        ),
      );
      aborted++;
    }
    return aborted;
  }

  // Pod staging (backend.ts PodStaging): what a cluster's pods read and write through signed URLs.

  private signers = new Map<string, S3Client>();

  async presign(
    method: 'GET' | 'PUT',
    target: { object: string } | { staging: string },
    seconds: number,
    endpoint?: string,
  ): Promise<string> {
    await this.identity();
    const key = this.key('object' in target ? objectKey(target.object) : stagingKey(target.staging));
    // Signing contacts nothing: a client for the endpoint the pods see signs the Host they will send.
    let signer = this.client;
    if (endpoint && endpoint !== this.spec.endpoint) {
      signer = this.signers.get(endpoint) ?? new S3Client({ ...this.clientConfig, endpoint });
      this.signers.set(endpoint, signer);
    }
    const command =
      method === 'GET'
        ? new GetObjectCommand({ Bucket: this.bucket, Key: key })
        : new PutObjectCommand({ Bucket: this.bucket, Key: key });
    try {
      return await getSignedUrl(signer, command, { expiresIn: Math.max(60, Math.min(seconds, 7 * 24 * 3600)) });
    } catch (error) {
      throw this.fail(`signing a URL for ${'object' in target ? target.object : 'a staging file'}`, error);
    }
  }

  async writeStaging(name: string, body: Buffer, signal?: AbortSignal): Promise<void> {
    await this.send(`writing ${stagingKey(name)}`, () =>
      this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(stagingKey(name)), Body: body }), {
        abortSignal: signal,
      }),
    );
  }

  readStaging(name: string, maxBytes: number, sink: AnswerSink, signal?: AbortSignal): Promise<boolean> {
    const key = stagingKey(name);
    return this.get(key, `reading ${key}`, maxBytes, (chunk) => sink.write(chunk), signal);
  }

  async deleteStaging(prefix: string, signal?: AbortSignal): Promise<void> {
    const listed = await this.list(stagingKey(`${prefix.replace(/\/+$/, '')}/`), signal);
    await this.deleteKeys(
      listed.map((item) => this.key(stagingKey(`${prefix.replace(/\/+$/, '')}/${item.name}`))),
      signal,
    );
  }

  async listStagingRuns(signal?: AbortSignal): Promise<string[]> {
    const listed = await this.list(stagingKey(''), signal);
    return [...new Set(listed.map((item) => item.name.split('/')[0]!).filter(Boolean))];
  }

  /** A file put at a key below the prefix, in one PUT (MLflow's artifacts in a bucket: remote/mlflow-s3.ts). */
  async putFile(relative: string, file: string, size: number, signal?: AbortSignal): Promise<void> {
    await this.send(`uploading ${relative}`, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key(relative),
          Body: createReadStream(file, { highWaterMark: 1024 * 1024 }),
          ContentLength: size,
          ContentType: 'application/octet-stream',
        }),
        { abortSignal: signal },
      ),
    );
  }

  /** The content of a key below the prefix, at most `maxBytes`; undefined when it does not exist. */
  async getFile(relative: string, maxBytes: number, signal?: AbortSignal): Promise<Buffer | undefined> {
    const chunks: Buffer[] = [];
    const found = await this.get(relative, `reading ${relative}`, maxBytes, (chunk) => chunks.push(chunk), signal);
    return found ? Buffer.concat(chunks) : undefined;
  }

  close(): void {
    this.client.destroy();
    for (const signer of this.signers.values()) signer.destroy();
  }
}
