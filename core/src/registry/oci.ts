import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { Readable, Transform } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { type Answer, backoff, exchange, isTransientStatus, redactText, redactUri, redirectTarget, seconds, TransferError, transferLimits, type TransferLimits } from '../tracking/transfer';
import { buildArtifact, changedMessage, MEDIA_TYPE_MANIFEST, MEDIA_TYPE_INDEX, TAG, tagForVersion, type ArtifactBlob } from './modelpack';
import { PushError, type ModelPackage, type PushProgress, type PushResult } from './types';

/**
 * A client of the OCI distribution spec (github.com/opencontainers/distribution-spec, spec.md:
 * "Pushing blobs", "Pushing a blob monolithically", "Pushing a blob in chunks", "Mounting a blob
 * from another repository", "Pushing Manifests") that pushes a model package as a ModelPack
 * artifact (modelpack.ts).
 *
 * Over node:http/node:https rather than fetch, so that request bodies stream from disk with
 * backpressure (a 1 GB model never sits in memory) and a private CA can be added to the system's
 * (TLS verification is always on). Authentication follows the registry's `WWW-Authenticate`
 * challenge: Basic, or Bearer with a token from the realm (Docker's token protocol), cached per
 * scope.
 *
 * Crash safety: every blob is uploaded and checked with HEAD before the manifest is put, so a tag
 * only ever names a complete artifact; an interrupted push leaves at most unreferenced blobs or
 * upload sessions (which the registry purges), is reported as not pushed, and is simply run again.
 *
 * A registry is untrusted (tracking/transfer.ts): every exchange fails after a stall or past a
 * deadline proportional to its size, answers are read up to a cap, reads follow at most a few
 * redirects (never HTTPS -> HTTP, credentials only to the same host) and writes none; idempotent
 * requests (HEAD, GET, the manifest PUT) and whole blob uploads are tried again after a reset, a
 * stall or a 429/502/503/504.
 */

export type RegistryCredentials = { username: string; password: string } | { token: string };

export interface OciTarget {
  /** The target as written. */
  text: string;
  scheme: 'https' | 'http';
  /** `host[:port]`, as in the target (`[::1]:5000` for IPv6). */
  host: string;
  hostname: string;
  port: number;
  /** `team/churn`. */
  repository: string;
  /** Undefined when the target names none (the package version is used). */
  tag?: string;
}

export interface OciPushOptions {
  credentials?: RegistryCredentials;
  /** A PEM file of CAs trusted besides the system's (a private registry's). */
  caFile?: string;
  onProgress?: PushProgress;
  signal?: AbortSignal;
  /** Bytes per PATCH of a chunked upload (default 64 MiB: 32 MiB measured ~8% slower against Distribution, 64 and 128 MiB alike). */
  chunkSize?: number;
  /** Blobs smaller than this go in one PUT (default 16 MiB); larger ones in chunks. */
  monolithicLimit?: number;
  /** Another repository of the same registry that may hold the blobs already (cross-repository mount). */
  mountFrom?: string;
  /** Bounds on every exchange (stall, deadline, answer size, retries); the environment's MLPIPE_STALL_TIMEOUT and MLPIPE_MIN_TRANSFER_RATE otherwise. */
  limits?: Partial<TransferLimits>;
}

export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;
export const DEFAULT_MONOLITHIC_LIMIT = 16 * 1024 * 1024;
const READ_BUFFER = 4 * 1024 * 1024;
const ACCEPT_MANIFEST = [MEDIA_TYPE_MANIFEST, MEDIA_TYPE_INDEX, 'application/vnd.docker.distribution.manifest.v2+json'].join(', ');

/** What a failed push left in the registry. */
export interface PartialPush {
  /** Blobs the registry holds (uploaded, mounted or already there) of all the artifact's blobs. */
  blobsStored: number;
  blobsTotal: number;
  /** Whether the manifest was put (the tag may then name it; the check after failed). */
  manifestPut: boolean;
}

/** An OCI push failure, with where it failed, for programs; the message says it all for people. */
export class RegistryPushError extends PushError {
  /** Set on the error pushToOci throws: the artifact was not pushed, and how far it got. */
  partial?: PartialPush;

  constructor(
    message: string,
    status: number | undefined,
    readonly registry: string,
    readonly step: string,
    /** The registry's error code (`UNAUTHORIZED`, `DIGEST_INVALID`...) or the network error's (`ECONNRESET`, `STALLED`, `DEADLINE`, `TOO_LARGE`). */
    readonly code?: string,
  ) {
    super(message, status);
    this.name = 'RegistryPushError';
  }

  /** Worth another try of the same step: the connection broke or stalled, or the registry said 429/502/503/504. */
  get transient(): boolean {
    return TRANSIENT_CODES.has(this.code ?? '') || (this.status !== undefined && isTransientStatus(this.status));
  }
}

const TRANSIENT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'STALLED', 'TRUNCATED', 'EAI_AGAIN']);

const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1']);

/**
 * Parses `oci://host[:port]/repo[/more][:tag]` (HTTPS, certificates verified) or
 * `oci+http://...` (plain HTTP, only to this machine: localhost, 127.0.0.1, [::1]).
 */
export function parseOciTarget(text: string): OciTarget {
  const shown = redactUri(text.trim());
  const match = /^(oci|oci\+http|oci\+https):\/\/(.*)$/s.exec(text.trim());
  if (!match) throw new PushError(`'${shown}' is not an OCI target: write oci://host[:port]/repository[:tag] (or oci+http://localhost:PORT/... for a registry on this machine without TLS)`);
  const scheme = match[1] === 'oci+http' ? 'http' : 'https';
  const rest = match[2]!;
  // user:password@ in front of the host, whatever characters the password holds (`/`, `@`, `:`).
  if (rest.replace(/@[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/, '').includes('@')) {
    throw new PushError(`'${shown}': put no credentials in the target; use ~/.docker/config.json or MLPipe: Set Registry Credentials`);
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) throw new PushError(`'${shown}' names no repository: write oci://host[:port]/repository[:tag]`);
  const host = rest.slice(0, slash);
  let path = rest.slice(slash + 1);
  if (path.includes('@')) throw new PushError(`'${shown}': push to a tag, not a digest (the digest is computed from the package)`);
  let url: URL;
  try {
    url = new URL(`${scheme}://${host}/`);
  } catch {
    throw new PushError(`'${shown}': '${host}' is not a host name or host:port`);
  }
  if (url.username || url.password) throw new PushError(`'${shown}': put no credentials in the target; use ~/.docker/config.json or MLPipe: Set Registry Credentials`);
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon > path.lastIndexOf('/')) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag)) throw new PushError(`'${shown}': '${tag}' is not a valid tag (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')`);
  }
  path = path.replace(/\/+$/, '');
  if (!REPOSITORY.test(path)) throw new PushError(`'${shown}': '${path}' is not a valid repository name (lowercase letters, digits and separators '.', '_', '-', '/')`);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (scheme === 'http' && !LOOPBACK.has(hostname)) {
    throw new PushError(`'${shown}': plain HTTP is only allowed to a registry on this machine (localhost, 127.0.0.1, [::1]); use oci://${host}/... (HTTPS), with caFile for a private CA`);
  }
  const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80;
  return { text, scheme, host, hostname, port, repository: path, ...(tag !== undefined ? { tag } : {}) };
}

type Response = Answer;

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="https://auth",service="registry",scope="repository:a:pull,push"`. */
export function parseChallenge(header: string): Challenge | undefined {
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  const pattern = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (let m = pattern.exec(match[2]!); m; m = pattern.exec(match[2]!)) params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
  return { scheme: match[1]!.toLowerCase(), params };
}

/** The registry's `{"errors": [{code, message, detail}]}` as one line. */
function registryErrors(body: Buffer): { code?: string; text: string } {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string; detail?: unknown }[] };
    if (Array.isArray(parsed.errors) && parsed.errors.length > 0) {
      const text = parsed.errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
      return { code: parsed.errors[0]!.code, text };
    }
  } catch {
    // not JSON
  }
  const text = body.toString('utf8', 0, Math.min(body.length, 300)).replace(/\s+/g, ' ').trim();
  return { text };
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/** One push: the connection pool, the authorization, the bounds and what it has sent. */
class Session {
  readonly base: URL;
  readonly registry: string;
  readonly limits: TransferLimits;
  private readonly agent: http.Agent;
  private authorization: string | undefined;
  private readonly tokens = new Map<string, string>();
  private readonly secrets: string[] = [];

  constructor(
    readonly target: OciTarget,
    readonly options: OciPushOptions,
    private readonly note: (message: string) => void = () => undefined,
  ) {
    this.base = new URL(`${target.scheme}://${target.host}/`);
    this.registry = target.host;
    this.limits = transferLimits(options.limits);
    if (target.scheme === 'https') {
      let ca: string[] | undefined;
      if (options.caFile) {
        try {
          ca = [...rootCertificates, readFileSync(options.caFile, 'utf8')];
        } catch (error) {
          throw new PushError(`cannot read the CA file ${options.caFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
        }
      }
      this.agent = new https.Agent({ keepAlive: true, maxSockets: 4, ...(ca ? { ca } : {}), rejectUnauthorized: true });
    } else {
      this.agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    }
    const credentials = options.credentials;
    if (credentials && 'password' in credentials) this.secrets.push(credentials.password, Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64'));
    if (credentials && 'token' in credentials) this.secrets.push(credentials.token);
  }

  close(): void {
    this.agent.destroy();
  }

  /** Removes every credential, token, URI user:password and echoed Authorization value from a text meant for people. */
  redact(text: string): string {
    return redactText(text, [...this.secrets, ...this.tokens.values()]);
  }

  fail(step: string, message: string, status?: number, code?: string): RegistryPushError {
    return new RegistryPushError(this.redact(`${this.target.scheme === 'https' ? 'oci' : 'oci+http'}://${this.registry}/${this.target.repository}: ${step} failed: ${message}`), status, this.registry, step, code);
  }

  private networkError(step: string, error: NodeJS.ErrnoException): RegistryPushError {
    if (error instanceof TransferError) {
      switch (error.failure) {
        case 'stalled':
          return this.fail(step, `${this.registry} stalled: ${error.message}; nothing was tagged. Push again once it answers (MLPIPE_STALL_TIMEOUT, in seconds, sets how long a stall may last; now ${seconds(this.limits.stallMs)})`, undefined, error.code);
        case 'deadline':
          return this.fail(step, `${this.registry} was too slow: ${error.message}; nothing was tagged. Push again, or lower MLPIPE_MIN_TRANSFER_RATE (KiB/s) for a slow link`, undefined, error.code);
        case 'too-large':
          return this.fail(step, `${this.registry} answered with too much: ${error.message}; refusing it, nothing was tagged`, undefined, error.code);
        case 'truncated':
          return this.fail(step, `the connection to ${this.registry} was lost: ${error.message}; nothing was tagged. Push again once the registry is reachable: blobs already stored are skipped.`, undefined, error.code);
      }
    }
    const code = error.code ?? '';
    if (error.name === 'AbortError' || code === 'ABORT_ERR') return this.fail(step, 'the push was cancelled; nothing was tagged. Push again to finish (uploads restart).', undefined, 'ABORTED');
    if (TLS_CODES.has(code)) {
      return this.fail(
        step,
        `TLS certificate verification of ${this.target.hostname} failed (${code}: ${error.message}). The registry's certificate is not trusted by this machine: give its CA certificate (PEM) as the push's CA file (caFile) or add it to the system's trust store. Verification is never turned off.`,
        undefined,
        code,
      );
    }
    if (code === 'ECONNREFUSED') return this.fail(step, `cannot connect to ${this.registry} (connection refused): is the registry running and is the port right?`, undefined, code);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return this.fail(step, `cannot resolve the host name ${this.target.hostname} (${code})`, undefined, code);
    if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ETIMEDOUT' || code === 'UND_ERR_SOCKET') {
      return this.fail(step, `the connection to ${this.registry} was lost (${code}); nothing was tagged. Push again once the registry is reachable: uploads restart and blobs already stored are skipped.`, undefined, code);
    }
    if (code.startsWith('HPE_') && this.target.scheme === 'http') {
      return this.fail(step, `${this.registry} did not answer plain HTTP (${error.message}); if it is an HTTPS registry, use oci://${this.registry}/${this.target.repository}`, undefined, code);
    }
    if (error.message.includes('wrong version number') || code === 'EPROTO') {
      return this.fail(step, `${this.registry} did not answer with TLS (${error.message}); if it is a plain-HTTP registry on this machine, use oci+http://`, undefined, code || 'EPROTO');
    }
    return this.fail(step, `${error.message}${code ? ` (${code})` : ''}`, undefined, code || undefined);
  }

  /** The message for an HTTP status the step did not expect, with the registry's own error and what to do. */
  statusError(step: string, response: Response): RegistryPushError {
    const { code, text } = registryErrors(response.body);
    const said = text ? ` (${text})` : '';
    const credentials = this.options.credentials;
    let advice = '';
    if (response.status === 401) {
      advice = !credentials
        ? `: the registry needs credentials and none were found for ${this.registry}; run \`docker login ${this.registry}\`, add them to ~/.docker/config.json, or run MLPipe: Set Registry Credentials`
        : 'username' in credentials
          ? `: the registry refused the credentials for user ${credentials.username}; check ~/.docker/config.json or run MLPipe: Set Registry Credentials`
          : `: the registry refused the identity token for ${this.registry}; log in again (\`docker login ${this.registry}\`) or run MLPipe: Set Registry Credentials`;
    } else if (response.status === 403) {
      const who = credentials && 'username' in credentials ? `user ${credentials.username}` : 'these credentials';
      advice = `: ${who} may not push to ${this.target.repository}; ask the registry's admin for push access`;
    } else if (response.status === 404 && code === 'NAME_UNKNOWN') {
      advice = `: the repository ${this.target.repository} does not exist and the registry does not create repositories on push; create it first`;
    } else if (response.status === 400 && /HTTP request to an HTTPS server/i.test(text)) {
      advice = `: ${this.registry} speaks HTTPS; use oci://${this.registry}/${this.target.repository}`;
    } else if (response.status === 413) {
      advice = ': the registry (or a proxy in front of it) refuses bodies this large; lower chunkSize / monolithicLimit';
    } else if (response.status === 429) {
      advice = ': the registry is rate-limiting; wait and push again';
    } else if (response.status >= 300 && response.status < 400) {
      const location = header(response, 'location');
      advice = `: the registry redirected this write${location ? ` to ${redactUri(location)}` : ''}; mlpipe follows redirects only for reads. Push to the registry's own address`;
    } else if (response.status >= 500) {
      advice = ': the registry failed; push again later (nothing was tagged unless this was the last step)';
    }
    return this.fail(step, `HTTP ${response.status}${said}${advice}`, response.status, code);
  }

  resolve(location: string): URL {
    return new URL(location, this.base);
  }

  private sameOrigin(url: URL): boolean {
    return url.origin === this.base.origin;
  }

  /**
   * Sends a request; answers 401 by authenticating as the challenge says and sending it again
   * (`body` is a factory so a streamed body can be read again). Reads (HEAD, GET) follow redirects;
   * `idempotent` requests are tried again after a transient failure. Resolves with any other status.
   */
  async request(step: string, method: string, url: URL, headers: Record<string, string>, body?: Buffer | (() => Readable), options: { idempotent?: boolean; bodyBytes?: number } = {}): Promise<Response> {
    const idempotent = options.idempotent ?? (method === 'HEAD' || method === 'GET');
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await this.authorizedSend(step, method, url, headers, body, options.bodyBytes);
        if (idempotent && attempt < this.limits.retries && isTransientStatus(response.status)) {
          this.note(`${this.registry}: ${step}: HTTP ${response.status}, trying again (${attempt + 2} of ${this.limits.retries + 1})`);
          await backoff(attempt + 1, this.options.signal, response.headers['retry-after']);
          continue;
        }
        return response;
      } catch (error) {
        if (!(idempotent && attempt < this.limits.retries && error instanceof RegistryPushError && error.transient)) throw error;
        this.note(`${this.registry}: ${step}: ${error.code}, trying again (${attempt + 2} of ${this.limits.retries + 1})`);
        await backoff(attempt + 1, this.options.signal);
      }
    }
  }

  private async authorizedSend(step: string, method: string, url: URL, headers: Record<string, string>, body?: Buffer | (() => Readable), bodyBytes?: number): Promise<Response> {
    let response = await this.follow(step, method, url, headers, body, bodyBytes);
    if (response.status === 401 && this.sameOrigin(url)) {
      const challenge = parseChallenge(String(response.headers['www-authenticate'] ?? ''));
      if (challenge && (await this.authenticate(step, challenge))) response = await this.follow(step, method, url, headers, body, bodyBytes);
    }
    return response;
  }

  /** One request and, for reads, the redirects it answers with (credentials only to the same host, never HTTPS -> HTTP). */
  private async follow(step: string, method: string, url: URL, headers: Record<string, string>, body?: Buffer | (() => Readable), bodyBytes?: number): Promise<Response> {
    let current = url;
    let authorize = true;
    for (let hop = 0; ; hop++) {
      const response = await this.send(step, method, current, headers, body, authorize, bodyBytes);
      if (method !== 'HEAD' && method !== 'GET') return response;
      let next: ReturnType<typeof redirectTarget>;
      try {
        next = redirectTarget(current, response);
      } catch (error) {
        throw this.fail(step, `${this.registry}: ${(error as Error).message}`, response.status, 'REDIRECT');
      }
      if (!next) return response;
      if (hop >= this.limits.maxRedirects) throw this.fail(step, `${this.registry} redirected more than ${this.limits.maxRedirects} times`, response.status, 'REDIRECT');
      authorize &&= next.credentials;
      current = next.url;
    }
  }

  /** Sets the authorization a challenge asks for; false when there is nothing new to try. */
  private async authenticate(step: string, challenge: Challenge): Promise<boolean> {
    const credentials = this.options.credentials;
    if (challenge.scheme === 'basic') {
      if (!credentials || !('username' in credentials)) return false;
      const value = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
      if (this.authorization === value) return false;
      this.authorization = value;
      return true;
    }
    if (challenge.scheme !== 'bearer' || !challenge.params.realm) return false;
    const key = `${challenge.params.realm} ${challenge.params.service ?? ''} ${challenge.params.scope ?? ''}`;
    const cached = this.tokens.get(key);
    if (cached && this.authorization !== `Bearer ${cached}`) {
      this.authorization = `Bearer ${cached}`;
      return true;
    }
    const token = await this.fetchToken(step, challenge.params);
    this.tokens.set(key, token);
    this.authorization = `Bearer ${token}`;
    return true;
  }

  /** Docker's token protocol: GET the realm (Basic credentials, or anonymous), or an OAuth2 refresh-token POST for an identity token. */
  private async fetchToken(step: string, params: Record<string, string>): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(params.realm!);
    } catch {
      throw this.fail(step, `the registry's token realm '${redactUri(params.realm!)}' is not a URL`);
    }
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && LOOPBACK.has(realm.hostname.replace(/^\[(.*)\]$/, '$1')))) {
      throw this.fail(step, `the registry sends for tokens to ${realm.origin}, which is neither HTTPS nor this machine; refusing to send credentials there`);
    }
    const credentials = this.options.credentials;
    const headers: Record<string, string> = { 'User-Agent': 'mlpipe' };
    let body: Buffer | undefined;
    let method = 'GET';
    if (credentials && 'token' in credentials) {
      method = 'POST';
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credentials.token, client_id: 'mlpipe', ...(params.service ? { service: params.service } : {}), ...(params.scope ? { scope: params.scope } : {}) });
      body = Buffer.from(form.toString());
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    } else {
      if (params.service) realm.searchParams.set('service', params.service);
      if (params.scope) for (const scope of params.scope.split(' ')) realm.searchParams.append('scope', scope);
      if (credentials) headers.Authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    }
    // Not through follow(): a redirect of the token request would carry the credentials elsewhere.
    const response = await this.send(`${step} (token from ${realm.host})`, method, realm, headers, body, false);
    if (response.status === 401 || response.status === 403) {
      throw this.statusError(`${step} (token from ${realm.host})`, { ...response, status: 401 });
    }
    if (response.status !== 200) throw this.statusError(`${step} (token from ${realm.host})`, response);
    try {
      const parsed = JSON.parse(response.body.toString('utf8')) as { token?: string; access_token?: string };
      const token = parsed.token ?? parsed.access_token;
      if (!token || typeof token !== 'string') throw new Error('no token');
      return token;
    } catch {
      throw this.fail(step, `the token service ${realm.host} answered without a token`);
    }
  }

  /** One HTTP exchange within the session's bounds; the answer body is kept up to 4 MiB (errors, manifests, tokens). */
  private async send(step: string, method: string, url: URL, headers: Record<string, string>, body?: Buffer | (() => Readable), authorize = true, bodyBytes?: number): Promise<Response> {
    const all: Record<string, string> = { 'User-Agent': 'mlpipe', ...headers };
    if (authorize && this.authorization && this.sameOrigin(url)) all.Authorization = this.authorization;
    const agent = this.sameOrigin(url) ? this.agent : undefined;
    try {
      return await exchange({
        method,
        url,
        headers: all,
        ...(body !== undefined ? { body } : {}),
        ...(bodyBytes !== undefined ? { bodyBytes } : {}),
        maxAnswerBytes: Math.min(this.limits.maxAnswerBytes, 4 * 1024 * 1024),
        ...(agent ? { agent } : {}),
        ...(this.options.signal ? { signal: this.options.signal } : {}),
        limits: this.limits,
      });
    } catch (error) {
      throw error instanceof PushError ? error : this.networkError(step, error as NodeJS.ErrnoException);
    }
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

function header(response: Response, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Pushes a model package to an OCI registry as a ModelPack artifact: blobs (HEAD, mount, or
 * upload, each checked), then the manifest by tag (checked by digest). The tag defaults to the
 * package version.
 */
export async function pushToOci(pkg: ModelPackage, target: string | OciTarget, options: OciPushOptions = {}): Promise<PushResult> {
  const parsed = typeof target === 'string' ? parseOciTarget(target) : target;
  const tag = parsed.tag ?? tagForVersion(pkg.version);
  const chunkSize = Math.max(1, Math.floor(options.chunkSize ?? DEFAULT_CHUNK_SIZE));
  const monolithicLimit = options.monolithicLimit ?? DEFAULT_MONOLITHIC_LIMIT;
  const artifact = await buildArtifact(pkg, options.signal);
  const progress = options.onProgress ?? (() => undefined);
  const session = new Session(parsed, options, (message) => progress({ message }));
  const repo = parsed.repository;
  let manifestPut = false;
  let uploadedBlobs = 0;
  let skippedBlobs = 0;
  let bytesUploaded = 0;

  const blobUrl = (digest: string) => session.resolve(`/v2/${repo}/blobs/${digest}`);

  const exists = async (blob: ArtifactBlob, step: string): Promise<boolean> => {
    const response = await session.request(step, 'HEAD', blobUrl(blob.descriptor.digest), {});
    if (response.status === 200) {
      const length = header(response, 'content-length');
      return length === undefined || Number(length) === blob.descriptor.size;
    }
    if (response.status === 404) return false;
    throw session.statusError(step, response);
  };

  /** Uploads a blob into an open upload session at `location`, hashing what it sends. */
  const upload = async (blob: ArtifactBlob, location: string): Promise<void> => {
    const { digest, size } = blob.descriptor;
    let hash = createHash('sha256');
    let sent = 0;
    const meter = (chunk: Buffer) => {
      hash.update(chunk);
      sent += chunk.length;
      progress({ file: blob.name, bytes: sent, total: size });
    };
    /** A body factory for bytes [start, end): a body sent again after a 401 hashes from where it began. */
    const body = (start: number, end: number) => {
      const saved = hash.copy();
      const savedSent = sent;
      let first = true;
      return () => {
        if (!first) {
          hash = saved.copy();
          sent = savedSent;
        }
        first = false;
        return fileStream(blob.file!, start, end, meter);
      };
    };
    const closing = (url: URL) => {
      url.searchParams.set('digest', digest);
      return url;
    };
    const refuseChanged = async (step: string, cancel: URL | undefined): Promise<never> => {
      const actual = sent === size ? `sha256:${hash.digest('hex')}` : `${sent} bytes instead of ${size}`;
      if (cancel) await session.request(`cancelling the upload of ${blob.name}`, 'DELETE', cancel, {}).catch(() => undefined);
      throw session.fail(step, changedMessage(blob, actual), undefined, 'CHANGED');
    };
    const octets = { 'Content-Type': 'application/octet-stream' };
    if (blob.content) {
      const step = `upload of ${blob.name}`;
      meter(blob.content);
      const response = await session.request(step, 'PUT', closing(session.resolve(location)), octets, blob.content);
      if (response.status !== 201) throw session.statusError(step, response);
      return;
    }
    if (size < monolithicLimit) {
      const step = `upload of ${blob.name}`;
      const response = await session.request(step, 'PUT', closing(session.resolve(location)), { ...octets, 'Content-Length': String(size) }, body(0, size), { bodyBytes: size });
      // The registry checks the digest too (400 DIGEST_INVALID); ours says which file and why.
      if (sent !== size || `sha256:${hash.copy().digest('hex')}` !== digest) await refuseChanged(step, undefined);
      if (response.status !== 201) throw session.statusError(step, response);
      return;
    }
    let url = session.resolve(location);
    for (let offset = 0; offset < size; ) {
      const end = Math.min(offset + chunkSize, size);
      const step = `upload of ${blob.name} (bytes ${offset}-${end - 1} of ${size})`;
      const headers = { ...octets, 'Content-Length': String(end - offset), 'Content-Range': `${offset}-${end - 1}` };
      const response = await session.request(step, 'PATCH', url, headers, body(offset, end), { bodyBytes: end - offset });
      if (response.status !== 202) throw session.statusError(step, response);
      if (sent !== end) await refuseChanged(step, url);
      const next = header(response, 'location');
      if (!next) throw session.fail(step, 'the registry answered without a Location for the next chunk');
      url = session.resolve(next);
      const range = header(response, 'range');
      if (range && !new RegExp(`^(bytes=)?0-${end - 1}$`).test(range)) {
        throw session.fail(step, `the registry holds bytes ${range} of the upload, expected 0-${end - 1}; push again`);
      }
      offset = end;
    }
    const step = `closing the upload of ${blob.name}`;
    if (`sha256:${hash.copy().digest('hex')}` !== digest) await refuseChanged(step, url);
    const response = await session.request(step, 'PUT', closing(url), octets);
    if (response.status !== 201) throw session.statusError(step, response);
  };

  /** Mounts or uploads one blob and checks that the registry holds it; true when it was mounted. */
  const store = async (blob: ArtifactBlob): Promise<boolean> => {
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
    if (!location) throw session.fail(`starting the upload of ${blob.name}`, 'the registry answered without a Location to upload to');
    await upload(blob, location);
    if (!(await exists(blob, `checking the uploaded ${blob.name}`))) {
      throw session.fail(`checking the uploaded ${blob.name}`, `the registry does not hold ${digest} (${size} bytes) after accepting it; push again`);
    }
    return false;
  };

  try {
    for (const blob of artifact.blobs) {
      const { digest, size } = blob.descriptor;
      if (await exists(blob, `checking ${blob.name} (${digest})`)) {
        skippedBlobs++;
        progress({ file: blob.name, bytes: size, total: size });
        continue;
      }
      // A blob is content-addressed, so uploading it again in a new session is idempotent.
      for (let attempt = 0; ; attempt++) {
        try {
          if (await store(blob)) skippedBlobs++;
          else {
            uploadedBlobs++;
            bytesUploaded += size;
          }
          break;
        } catch (error) {
          if (!(error instanceof RegistryPushError && error.transient && attempt < session.limits.retries)) throw error;
          progress({ message: `${parsed.host}: ${error.step}: ${error.code ?? `HTTP ${error.status}`}; uploading ${blob.name} again (${attempt + 2} of ${session.limits.retries + 1})` });
          await backoff(attempt + 1, options.signal);
        }
      }
    }

    const manifestUrl = session.resolve(`/v2/${repo}/manifests/${tag}`);
    // Putting the same manifest bytes under the same tag again is idempotent.
    const put = await session.request('putting the manifest', 'PUT', manifestUrl, { 'Content-Type': MEDIA_TYPE_MANIFEST }, artifact.manifest, { idempotent: true });
    if (put.status !== 201 && put.status !== 200) throw session.statusError('putting the manifest', put);
    manifestPut = true;
    const answered = header(put, 'docker-content-digest');
    if (answered && answered !== artifact.manifestDigest) {
      throw session.fail('putting the manifest', `the registry stored it as ${answered}, not ${artifact.manifestDigest}: it rewrote the manifest`);
    }
    const check = await session.request('checking the tag', 'HEAD', manifestUrl, { Accept: ACCEPT_MANIFEST });
    if (check.status !== 200) throw session.statusError('checking the tag', check);
    const tagged = header(check, 'docker-content-digest');
    if (tagged !== artifact.manifestDigest) {
      throw session.fail('checking the tag', `${tag} points at ${tagged ?? 'no digest'}, not at the manifest just pushed (${artifact.manifestDigest}); another push to the same tag may have raced this one`);
    }
    progress({ message: `${parsed.host}/${repo}:${tag} -> ${artifact.manifestDigest}` });
    return {
      target: parsed.text,
      reference: `${parsed.host}/${repo}@${artifact.manifestDigest}`,
      tag,
      digest: artifact.manifestDigest,
      uploadedBlobs,
      skippedBlobs,
      bytesUploaded,
    };
  } catch (error) {
    throw notPushed(error, parsed, tag, { blobsStored: uploadedBlobs + skippedBlobs, blobsTotal: artifact.blobs.length, manifestPut });
  } finally {
    session.close();
  }
}

/** A failed push, said as such: which tag was not pushed and how far it got. */
function notPushed(error: unknown, target: OciTarget, tag: string, partial: PartialPush): unknown {
  if (!(error instanceof RegistryPushError)) return error;
  const where = `${target.host}/${target.repository}:${tag}`;
  const state = partial.manifestPut
    ? `the manifest was put but ${tag} could not be confirmed to name it; check it, or push again`
    : `${partial.blobsStored} of ${partial.blobsTotal} blobs are in the registry and no manifest names them, so ${tag} was not pushed (where it existed, it still points where it did); pushing again skips the stored blobs`;
  const wrapped = new RegistryPushError(`${error.message} NOT PUSHED: ${where}: ${state}.`, error.status, error.registry, error.step, error.code);
  wrapped.partial = partial;
  return wrapped;
}
