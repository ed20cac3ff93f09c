import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { type Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import {
  type Answer,
  type AnswerSink,
  backoff,
  exchange,
  isTransientStatus,
  redactText,
  redactUri,
  redirectTarget,
  seconds,
  TransferError,
  transferLimits,
  type TransferLimits,
} from '../tracking/transfer';
import { RegistryPushError } from './oci-errors';
import { LOOPBACK, type OciTarget } from './oci-target';
import { PushError, type PushProgress } from './types';

/*
 * One push's exchanges with an OCI registry (the Session): the connection pool, TLS with an
 * optional private CA, authentication as the registry's `WWW-Authenticate` challenge asks (Basic,
 * or Bearer with a token from the realm, cached per scope), redirects for reads only, retries of
 * idempotent requests, and errors that say what to do and never hold a credential.
 */

export type RegistryCredentials = { username: string; password: string } | { token: string };

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

export type Response = Answer;

/** Beyond the request itself: a streamed body's size; a sink that takes a 2xx answer's body as it arrives (a blob download) and its cap. */
interface Extra {
  bodyBytes?: number;
  sink?: AnswerSink;
  maxAnswerBytes?: number;
  deadlineMs?: number;
}

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
  for (let m = pattern.exec(match[2]!); m; m = pattern.exec(match[2]!))
    params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
  return { scheme: match[1]!.toLowerCase(), params };
}

/** The registry's `{"errors": [{code, message, detail}]}` as one line. */
function registryErrors(body: Buffer): { code?: string; text: string } {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as {
      errors?: { code?: string; message?: string; detail?: unknown }[];
    };
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
export class Session {
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
          throw new PushError(
            `cannot read the CA file ${options.caFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
          );
        }
      }
      this.agent = new https.Agent({ keepAlive: true, maxSockets: 4, ...(ca ? { ca } : {}), rejectUnauthorized: true });
    } else {
      this.agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    }
    const credentials = options.credentials;
    if (credentials && 'password' in credentials)
      this.secrets.push(
        credentials.password,
        Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64'),
      );
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
    return new RegistryPushError(
      this.redact(
        `${this.target.scheme === 'https' ? 'oci' : 'oci+http'}://${this.registry}/${this.target.repository}: ${step} failed: ${message}`,
      ),
      status,
      this.registry,
      step,
      code,
    );
  }

  private networkError(step: string, error: NodeJS.ErrnoException): RegistryPushError {
    if (error instanceof TransferError) {
      switch (error.failure) {
        case 'stalled':
          return this.fail(
            step,
            `${this.registry} stalled: ${error.message}; nothing was tagged. Push again once it answers (MLPIPE_STALL_TIMEOUT, in seconds, sets how long a stall may last; now ${seconds(this.limits.stallMs)})`,
            undefined,
            error.code,
          );
        case 'deadline':
          return this.fail(
            step,
            `${this.registry} was too slow: ${error.message}; nothing was tagged. Push again, or lower MLPIPE_MIN_TRANSFER_RATE (KiB/s) for a slow link`,
            undefined,
            error.code,
          );
        case 'too-large':
          return this.fail(
            step,
            `${this.registry} answered with too much: ${error.message}; refusing it, nothing was tagged`,
            undefined,
            error.code,
          );
        case 'truncated':
          return this.fail(
            step,
            `the connection to ${this.registry} was lost: ${error.message}; nothing was tagged. Push again once the registry is reachable: blobs already stored are skipped.`,
            undefined,
            error.code,
          );
      }
    }
    const code = error.code ?? '';
    if (error.name === 'AbortError' || code === 'ABORT_ERR')
      return this.fail(
        step,
        'the push was cancelled; nothing was tagged. Push again to finish (uploads restart).',
        undefined,
        'ABORTED',
      );
    if (TLS_CODES.has(code)) {
      return this.fail(
        step,
        `TLS certificate verification of ${this.target.hostname} failed (${code}: ${error.message}). The registry's certificate is not trusted by this machine: give its CA certificate (PEM) as the push's CA file (caFile) or add it to the system's trust store. Verification is never turned off.`,
        undefined,
        code,
      );
    }
    if (code === 'ECONNREFUSED')
      return this.fail(
        step,
        `cannot connect to ${this.registry} (connection refused): is the registry running and is the port right?`,
        undefined,
        code,
      );
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      return this.fail(step, `cannot resolve the host name ${this.target.hostname} (${code})`, undefined, code);
    if (
      code === 'ECONNRESET' ||
      code === 'EPIPE' ||
      code === 'ERR_STREAM_PREMATURE_CLOSE' ||
      code === 'ETIMEDOUT' ||
      code === 'UND_ERR_SOCKET'
    ) {
      return this.fail(
        step,
        `the connection to ${this.registry} was lost (${code}); nothing was tagged. Push again once the registry is reachable: uploads restart and blobs already stored are skipped.`,
        undefined,
        code,
      );
    }
    if (code.startsWith('HPE_') && this.target.scheme === 'http') {
      return this.fail(
        step,
        `${this.registry} did not answer plain HTTP (${error.message}); if it is an HTTPS registry, use oci://${this.registry}/${this.target.repository}`,
        undefined,
        code,
      );
    }
    if (error.message.includes('wrong version number') || code === 'EPROTO') {
      return this.fail(
        step,
        `${this.registry} did not answer with TLS (${error.message}); if it is a plain-HTTP registry on this machine, use oci+http://`,
        undefined,
        code || 'EPROTO',
      );
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
      advice =
        ': the registry (or a proxy in front of it) refuses bodies this large; lower chunkSize / monolithicLimit';
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
  async request(
    step: string,
    method: string,
    url: URL,
    headers: Record<string, string>,
    body?: Buffer | (() => Readable),
    options: { idempotent?: boolean } & Extra = {},
  ): Promise<Response> {
    const idempotent = options.idempotent ?? (method === 'HEAD' || method === 'GET');
    for (let attempt = 0; ; attempt++) {
      try {
        options.sink?.restart();
        const response = await this.authorizedSend(step, method, url, headers, body, options);
        if (idempotent && attempt < this.limits.retries && isTransientStatus(response.status)) {
          this.note(
            `${this.registry}: ${step}: HTTP ${response.status}, trying again (${attempt + 2} of ${this.limits.retries + 1})`,
          );
          await backoff(attempt + 1, this.options.signal, response.headers['retry-after']);
          continue;
        }
        return response;
      } catch (error) {
        if (!(idempotent && attempt < this.limits.retries && error instanceof RegistryPushError && error.transient))
          throw error;
        this.note(
          `${this.registry}: ${step}: ${error.code}, trying again (${attempt + 2} of ${this.limits.retries + 1})`,
        );
        await backoff(attempt + 1, this.options.signal);
      }
    }
  }

  private async authorizedSend(
    step: string,
    method: string,
    url: URL,
    headers: Record<string, string>,
    body?: Buffer | (() => Readable),
    extra: Extra = {},
  ): Promise<Response> {
    let response = await this.follow(step, method, url, headers, body, extra);
    if (response.status === 401 && this.sameOrigin(url)) {
      const challenge = parseChallenge(String(response.headers['www-authenticate'] ?? ''));
      if (challenge && (await this.authenticate(step, challenge)))
        response = await this.follow(step, method, url, headers, body, extra);
    }
    return response;
  }

  /** One request and, for reads, the redirects it answers with (credentials only to the same host, never HTTPS -> HTTP). */
  private async follow(
    step: string,
    method: string,
    url: URL,
    headers: Record<string, string>,
    body?: Buffer | (() => Readable),
    extra: Extra = {},
  ): Promise<Response> {
    let current = url;
    let authorize = true;
    for (let hop = 0; ; hop++) {
      const response = await this.send(step, method, current, headers, body, authorize, extra);
      if (method !== 'HEAD' && method !== 'GET') return response;
      let next: ReturnType<typeof redirectTarget>;
      try {
        next = redirectTarget(current, response);
      } catch (error) {
        throw this.fail(step, `${this.registry}: ${(error as Error).message}`, response.status, 'REDIRECT');
      }
      if (!next) return response;
      if (hop >= this.limits.maxRedirects)
        throw this.fail(
          step,
          `${this.registry} redirected more than ${this.limits.maxRedirects} times`,
          response.status,
          'REDIRECT',
        );
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
    if (
      realm.protocol !== 'https:' &&
      !(realm.protocol === 'http:' && LOOPBACK.has(realm.hostname.replace(/^\[(.*)\]$/, '$1')))
    ) {
      throw this.fail(
        step,
        `the registry sends for tokens to ${realm.origin}, which is neither HTTPS nor this machine; refusing to send credentials there`,
      );
    }
    const credentials = this.options.credentials;
    const headers: Record<string, string> = { 'User-Agent': 'mlpipe' };
    let body: Buffer | undefined;
    let method = 'GET';
    if (credentials && 'token' in credentials) {
      method = 'POST';
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credentials.token,
        client_id: 'mlpipe',
        ...(params.service ? { service: params.service } : {}),
        ...(params.scope ? { scope: params.scope } : {}),
      });
      body = Buffer.from(form.toString());
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    } else {
      if (params.service) realm.searchParams.set('service', params.service);
      if (params.scope) for (const scope of params.scope.split(' ')) realm.searchParams.append('scope', scope);
      if (credentials)
        headers.Authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
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
  private async send(
    step: string,
    method: string,
    url: URL,
    headers: Record<string, string>,
    body?: Buffer | (() => Readable),
    authorize = true,
    extra: Extra = {},
  ): Promise<Response> {
    const all: Record<string, string> = { 'User-Agent': 'mlpipe', ...headers };
    if (authorize && this.authorization && this.sameOrigin(url)) all.Authorization = this.authorization;
    const agent = this.sameOrigin(url) ? this.agent : undefined;
    try {
      return await exchange({
        method,
        url,
        headers: all,
        ...(body !== undefined ? { body } : {}),
        ...(extra.bodyBytes !== undefined ? { bodyBytes: extra.bodyBytes } : {}),
        // A download streams into its sink under its own cap; everything else is kept, up to 4 MiB.
        ...(extra.sink ? { sink: extra.sink } : {}),
        ...(extra.deadlineMs !== undefined ? { deadlineMs: extra.deadlineMs } : {}),
        maxAnswerBytes: extra.maxAnswerBytes ?? Math.min(this.limits.maxAnswerBytes, 4 * 1024 * 1024),
        ...(agent ? { agent } : {}),
        ...(this.options.signal ? { signal: this.options.signal } : {}),
        limits: this.limits,
      });
    } catch (error) {
      throw error instanceof PushError ? error : this.networkError(step, error as NodeJS.ErrnoException);
    }
  }
}

/** A header of an answer, the first when it came more than once. */
export function header(response: Response, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
