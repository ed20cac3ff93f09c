import * as http from 'node:http';
import * as https from 'node:https';
import { type Readable } from 'node:stream';
import { redactText, redactUri, redactUris } from '../util/redact';

/*
 * Bounded HTTP exchanges with servers mlpipe does not control: OCI registries and MLflow tracking
 * servers. Either may be broken or hostile, so every exchange here
 * - fails when nothing moves for `stallMs` (connecting, sending, waiting for the answer, receiving
 *   it): a registry that takes the connection and never answers is an error in seconds, not a hang;
 * - has an overall deadline proportional to its size (`baseMs` plus its bytes at
 *   `minBytesPerSecond`), so a server that trickles one byte at a time cannot hold it open either;
 * - keeps at most `maxAnswerBytes` of an answer (JSON, errors, manifests, tokens) and refuses more;
 * - follows no redirect itself: callers ask `redirectTarget`, which refuses HTTPS -> HTTP and says
 *   whether credentials may go along (only to the same host).
 * Messages for people go through `redactUri` / `redactText`, so no user:password, token or
 * Authorization value is ever shown, logged or written to an outbox file.
 *
 * Shared by tracking/ and registry/ (registry already builds on tracking).
 */

export interface TransferLimits {
  /** Nothing sent or received for this long fails the exchange. */
  stallMs: number;
  /** Every exchange may take this long, plus its bytes at `minBytesPerSecond`. */
  baseMs: number;
  minBytesPerSecond: number;
  /** The most of an answer body that is read (JSON, errors, manifests, tokens). */
  maxAnswerBytes: number;
  maxRedirects: number;
  /** Further attempts of an idempotent request after a transient failure (a reset, a stall, 429, 502-504). */
  retries: number;
}

export const DEFAULT_TRANSFER_LIMITS: TransferLimits = {
  stallMs: 30_000,
  baseMs: 60_000,
  minBytesPerSecond: 64 * 1024,
  maxAnswerBytes: 16 * 1024 * 1024,
  maxRedirects: 5,
  retries: 2,
};

/** The limits, with `MLPIPE_STALL_TIMEOUT` (seconds) and `MLPIPE_MIN_TRANSFER_RATE` (KiB/s) from the environment, then `overrides`. */
export function transferLimits(
  overrides: Partial<TransferLimits> = {},
  env: NodeJS.ProcessEnv = process.env,
): TransferLimits {
  const positive = (value: string | undefined) => {
    const number = Number(value);
    return value?.trim() && Number.isFinite(number) && number > 0 ? number : undefined;
  };
  const stall = positive(env.MLPIPE_STALL_TIMEOUT);
  const rate = positive(env.MLPIPE_MIN_TRANSFER_RATE);
  const defined = Object.fromEntries(
    Object.entries(overrides).filter(([, value]) => value !== undefined),
  ) as Partial<TransferLimits>;
  return {
    ...DEFAULT_TRANSFER_LIMITS,
    ...(stall ? { stallMs: stall * 1000 } : {}),
    ...(rate ? { minBytesPerSecond: rate * 1024 } : {}),
    ...defined,
  };
}

/** How long an exchange of `bytes` may take in all. */
export function deadlineFor(bytes: number, limits: TransferLimits): number {
  return Math.round(limits.baseMs + (Math.max(0, bytes) * 1000) / limits.minBytesPerSecond);
}

export function seconds(ms: number): string {
  return ms >= 10_000 || ms % 1000 === 0 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}

export type TransferPhase = 'connecting' | 'sending the request' | 'waiting for the answer' | 'receiving the answer';
export type TransferFailure = 'stalled' | 'deadline' | 'too-large' | 'truncated';

/** An exchange that broke a bound; `message` says which, in words, without naming the server (callers do). */
export class TransferError extends Error {
  override readonly name = 'TransferError';
  constructor(
    readonly failure: TransferFailure,
    message: string,
    readonly phase: TransferPhase,
  ) {
    super(message);
  }

  /** ECONNRESET-like code, for callers that sort network errors by code. */
  get code(): string {
    return this.failure === 'stalled'
      ? 'STALLED'
      : this.failure === 'deadline'
        ? 'DEADLINE'
        : this.failure === 'too-large'
          ? 'TOO_LARGE'
          : 'TRUNCATED';
  }
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Takes a successful answer's body as it arrives instead of keeping it (a download); `restart` before another attempt. */
export interface AnswerSink {
  write(chunk: Buffer): void;
  restart(): void;
}

export interface ExchangeRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  /** A buffer, or a factory of a stream (called once per attempt, so a body can be sent again). */
  body?: Buffer | (() => Readable);
  /** The body's size when it streams, for the deadline. */
  bodyBytes?: number;
  /** The answer's expected size beyond `maxAnswerBytes` is refused; a download names its own cap. */
  maxAnswerBytes?: number;
  agent?: http.Agent;
  signal?: AbortSignal;
  limits: TransferLimits;
  /** The overall bound; from the size when absent. */
  deadlineMs?: number;
  /** Where a 2xx answer's body goes (the answer's `body` is then empty); errors are still kept. */
  sink?: AnswerSink;
}

/**
 * One HTTP exchange within `limits`. Resolves with any status; rejects with a TransferError when a
 * bound is broken, or with the network error (ECONNREFUSED, ECONNRESET, TLS, AbortError).
 */
export function exchange(request: ExchangeRequest): Promise<Answer> {
  const { limits, url, method } = request;
  const headers: Record<string, string> = { ...request.headers };
  const body = request.body;
  if (Buffer.isBuffer(body)) headers['Content-Length'] = String(body.length);
  else if (body === undefined && (method === 'PUT' || method === 'POST' || method === 'PATCH'))
    headers['Content-Length'] ??= '0';
  const bodyBytes = Buffer.isBuffer(body) ? body.length : (request.bodyBytes ?? 0);
  const maxAnswer = request.maxAnswerBytes ?? limits.maxAnswerBytes;
  const deadlineMs = request.deadlineMs ?? deadlineFor(bodyBytes, limits);
  const module = url.protocol === 'https:' ? https : http;
  const signal = request.signal;
  if (signal?.aborted)
    return Promise.reject(Object.assign(new Error('aborted'), { name: 'AbortError', code: 'ABORT_ERR' }));

  return new Promise<Answer>((resolve, reject) => {
    let settled = false;
    let phase: TransferPhase = 'connecting';
    let source: Readable | undefined;
    let sent = 0;
    let received = 0;
    let client: http.ClientRequest;
    const finish = (error: Error | undefined, answer?: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (error) {
        source?.destroy();
        client.destroy();
        reject(error);
      } else {
        // An early answer (401, 413) while the body still streams: stop reading the file, and
        // never hand the half-written connection back to the pool.
        if (source && !source.readableEnded) {
          source.destroy();
          client.destroy();
        }
        resolve(answer!);
      }
    };
    const deadline = setTimeout(() => {
      const moved = sent + received > 0 ? ` (${sent} bytes sent, ${received} received)` : '';
      finish(
        new TransferError(
          'deadline',
          `it took longer than ${seconds(deadlineMs)}, the bound for ${bodyBytes} bytes at ${Math.round(limits.minBytesPerSecond / 1024)} KiB/s at least, while ${phase}${moved}`,
          phase,
        ),
      );
    }, deadlineMs);

    client = module.request(
      url,
      { method, headers, ...(request.agent ? { agent: request.agent } : {}), ...(signal ? { signal } : {}) },
      (res) => {
        phase = 'receiving the answer';
        const declared = Number(res.headers['content-length']);
        const tooLarge = () =>
          new TransferError(
            'too-large',
            `the answer is larger than ${maxAnswer} bytes, more than mlpipe reads of one answer`,
            phase,
          );
        if (method !== 'HEAD' && Number.isFinite(declared) && declared > maxAnswer) {
          res.resume();
          finish(tooLarge());
          return;
        }
        const chunks: Buffer[] = [];
        const sink =
          request.sink && (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300 ? request.sink : undefined;
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > maxAnswer) {
            finish(tooLarge());
            return;
          }
          if (!sink) chunks.push(chunk);
          else
            try {
              sink.write(chunk);
            } catch (error) {
              finish(error as Error);
            }
        });
        res.on('end', () => {
          if (!res.complete)
            finish(
              new TransferError(
                'truncated',
                `the connection closed after ${received} bytes of the answer, before its end`,
                phase,
              ),
            );
          else finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on('error', (error) =>
          finish(
            new TransferError(
              'truncated',
              `the connection broke after ${received} bytes of the answer (${(error as NodeJS.ErrnoException).code ?? error.message})`,
              phase,
            ),
          ),
        );
        res.on('close', () => {
          if (!res.complete)
            finish(
              new TransferError(
                'truncated',
                `the connection closed after ${received} bytes of the answer, before its end`,
                phase,
              ),
            );
        });
      },
    );
    client.setTimeout(limits.stallMs, () => {
      const moved =
        phase === 'sending the request' && bodyBytes > 0
          ? ` after ${sent} of ${bodyBytes} bytes`
          : phase === 'receiving the answer'
            ? ` after ${received} bytes`
            : '';
      finish(
        new TransferError('stalled', `nothing moved for ${seconds(limits.stallMs)} while ${phase}${moved}`, phase),
      );
    });
    client.on('socket', (socket) => {
      if (socket.connecting)
        socket.once(
          url.protocol === 'https:' ? 'secureConnect' : 'connect',
          () => phase === 'connecting' && (phase = 'sending the request'),
        );
      else if (phase === 'connecting') phase = 'sending the request';
    });
    client.on('finish', () => {
      if (phase === 'connecting' || phase === 'sending the request') phase = 'waiting for the answer';
    });
    client.on('error', (error) => finish(error));
    if (body === undefined) client.end();
    else if (Buffer.isBuffer(body)) {
      sent = body.length;
      client.end(body);
    } else {
      const stream = body();
      source = stream;
      stream.on('data', (chunk: Buffer) => (sent += chunk.length));
      stream.on('error', (error) => finish(error));
      stream.pipe(client);
    }
  });
}

/** Network failures worth another attempt of an idempotent request: the connection broke or stalled. */
export function isTransient(error: unknown): boolean {
  if (error instanceof TransferError) return error.failure === 'stalled' || error.failure === 'truncated';
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  return [
    'ECONNRESET',
    'EPIPE',
    'ETIMEDOUT',
    'ECONNABORTED',
    'ERR_STREAM_PREMATURE_CLOSE',
    'UND_ERR_SOCKET',
    'EAI_AGAIN',
  ].includes(code);
}

/** HTTP statuses worth another attempt of an idempotent request. */
export function isTransientStatus(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504;
}

/** Waits before attempt `n` (1, 2, ...): 0.25 s, 1 s, 4 s, or what Retry-After asks up to 5 s. */
export function backoff(attempt: number, signal?: AbortSignal, retryAfter?: string | string[]): Promise<void> {
  const asked = Number(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  const ms = Number.isFinite(asked) && asked >= 0 ? Math.min(asked * 1000, 5000) : 250 * 4 ** (attempt - 1);
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Where a 3xx answer sends the request, or undefined when it is not a redirect. Throws (with a
 * message naming both addresses, redacted) when the redirect would go from HTTPS to plain HTTP.
 * `credentials` says whether the request's credentials may go along: only to the same host, and
 * never over a weaker scheme.
 */
export function redirectTarget(
  from: URL,
  answer: Pick<Answer, 'status' | 'headers'>,
): { url: URL; credentials: boolean } | undefined {
  if (![301, 302, 303, 307, 308].includes(answer.status)) return undefined;
  const location = answer.headers.location;
  const text = Array.isArray(location) ? location[0] : location;
  if (!text) return undefined;
  let url: URL;
  try {
    url = new URL(text, from);
  } catch {
    throw new Error(`it redirected to '${redactUri(text)}', which is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new Error(`it redirected to ${redactUri(url.href)}, which is not HTTP(S)`);
  if (from.protocol === 'https:' && url.protocol === 'http:') {
    throw new Error(`it redirected from HTTPS to plain HTTP (${redactUri(url.origin)}); refusing to downgrade`);
  }
  const sameHost =
    url.hostname === from.hostname &&
    (url.port === from.port || (from.protocol === 'http:' && url.protocol === 'https:'));
  return { url, credentials: sameHost && !url.username && !url.password };
}

// Redaction lives in util/ (every layer shows URIs and errors); re-exported for the callers here.
export { redactText, redactUri, redactUris };
