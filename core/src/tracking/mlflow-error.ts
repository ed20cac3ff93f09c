import { type Answer, redactUri, seconds, TransferError, type TransferLimits } from './transfer';

/*
 * What a failed MLflow request is, in words: what was asked, what MLflow answered and what to do
 * next, never with a credential.
 */

export type MlflowErrorKind =
  'unreachable' | 'timeout' | 'tls' | 'auth' | 'not-found' | 'rejected' | 'server' | 'protocol';

/**
 * A failed MLflow request: what was asked, what MLflow answered (its `error_code` and message)
 * and what to do next. Never holds credentials.
 */
export class MlflowError extends Error {
  override readonly name = 'MlflowError';

  constructor(
    readonly kind: MlflowErrorKind,
    readonly uri: string,
    readonly endpoint: string,
    message: string,
    readonly status?: number,
    readonly errorCode?: string,
    readonly serverMessage?: string,
  ) {
    super(message);
  }

  /** The server is down or cannot be reached: every other request would fail the same way now. */
  get unreachable(): boolean {
    return (
      this.kind === 'unreachable' ||
      this.kind === 'timeout' ||
      this.status === 502 ||
      this.status === 503 ||
      this.status === 504
    );
  }

  /** A failure no other run would escape either (server down, credentials, TLS): stop sending. */
  get affectsAllRuns(): boolean {
    return this.unreachable || this.kind === 'tls' || this.kind === 'auth';
  }
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

/** What the error messages say about the server: its address (safe to show), the bounds of an exchange, and how to take credentials out of text. */
export interface MlflowServer {
  uri: string;
  limits: TransferLimits;
  scrub(text: string): string;
}

/** The error for a request that got no (complete) answer. */
export function transportError(server: MlflowServer, method: string, endpoint: string, error: unknown): MlflowError {
  const where = `${method} ${endpoint}`;
  if (error instanceof TransferError) {
    if (error.failure === 'too-large') {
      return new MlflowError(
        'protocol',
        server.uri,
        endpoint,
        `MLflow at ${server.uri} answered ${where} with too much: ${error.message}; refusing it. Is ${server.uri} an MLflow tracking server?`,
      );
    }
    if (error.failure === 'truncated') {
      return new MlflowError(
        'unreachable',
        server.uri,
        endpoint,
        `the connection to MLflow at ${server.uri} broke during ${where}: ${error.message}; is the server (or a proxy in front of it) healthy?`,
      );
    }
    const knob =
      error.failure === 'stalled'
        ? `MLPIPE_STALL_TIMEOUT (seconds, now ${seconds(server.limits.stallMs)}) sets how long a stall may last`
        : 'MLPIPE_MIN_TRANSFER_RATE (KiB/s) sets the slowest rate allowed';
    return new MlflowError(
      'timeout',
      server.uri,
      endpoint,
      `MLflow at ${server.uri} did not answer ${where} in time: ${error.message}. Is the server running at ${server.uri}, and reachable from here? (${knob})`,
    );
  }
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (error as NodeJS.ErrnoException).code;
  if ((error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError') {
    return new MlflowError(
      'timeout',
      server.uri,
      endpoint,
      `MLflow at ${server.uri} did not answer ${where} in time; is the server running at ${server.uri}, and reachable from here?`,
    );
  }
  if ((code && TLS_CODES.has(code)) || /wrong version number/.test((error as Error).message ?? '')) {
    return new MlflowError(
      'tls',
      server.uri,
      endpoint,
      `could not verify the TLS certificate of ${server.uri} (${code ?? 'EPROTO'}) for ${where}; if the server uses a private CA, point NODE_EXTRA_CA_CERTS at its certificate (mlpipe never turns verification off)${/wrong version number/.test((error as Error).message ?? '') ? '; if it speaks plain HTTP, use http://' : ''}`,
    );
  }
  const detail = server.scrub(code ?? cause?.message ?? (error as Error).message ?? String(error));
  return new MlflowError(
    'unreachable',
    server.uri,
    endpoint,
    `could not connect to MLflow at ${server.uri} (${where}: ${detail}); is the server running at ${server.uri}? Start it (mlflow server) or fix mlpipe.tracking.uri / MLFLOW_TRACKING_URI.`,
  );
}

/** The error for an answer that is not a success. */
export function httpError(server: MlflowServer, method: string, endpoint: string, response: Answer): MlflowError {
  const text = response.body.toString('utf8', 0, Math.min(response.body.length, 64 * 1024));
  let errorCode: string | undefined;
  let serverMessage: string | undefined;
  try {
    const body = JSON.parse(text) as { error_code?: unknown; message?: unknown };
    if (typeof body.error_code === 'string') errorCode = body.error_code.slice(0, 100);
    if (typeof body.message === 'string') serverMessage = body.message;
  } catch {
    serverMessage =
      text
        .replace(/<[^>]*>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim() || undefined;
  }
  if (serverMessage) {
    // Database errors come with SQL and links: the first line says what went wrong.
    serverMessage = server.scrub(serverMessage.split('\n')[0]).slice(0, 500);
  }
  const status = response.status;
  const said = `${method} ${endpoint} answered HTTP ${status}${errorCode ? ` ${errorCode}` : ''}${serverMessage ? `: ${serverMessage}` : ''}`;
  let kind: MlflowErrorKind;
  let next: string;
  if (status === 401 || status === 403) {
    kind = 'auth';
    next = `check MLFLOW_TRACKING_TOKEN (or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD): the server ${status === 401 ? 'did not accept the credentials' : 'does not allow this with these credentials'}`;
  } else if (status === 404 && (errorCode === 'ENDPOINT_NOT_FOUND' || !errorCode)) {
    kind = 'not-found';
    next = `is ${server.uri} an MLflow tracking server (with the artifact proxy for uploads)?`;
  } else if (status === 404 || errorCode === 'RESOURCE_DOES_NOT_EXIST') {
    kind = 'not-found';
    next = 'it may have been deleted in MLflow';
  } else if (status >= 300 && status < 400) {
    kind = 'protocol';
    const location = response.headers.location;
    next = `it redirected${location ? ` to ${redactUri(String(location))}` : ''}, which mlpipe follows only to the same host; set mlpipe.tracking.uri / MLFLOW_TRACKING_URI to the server's own address`;
  } else if (status >= 500) {
    kind = 'server';
    next =
      status >= 502 && status <= 504
        ? `is the server running at ${server.uri}? A proxy answered for it`
        : "see the MLflow server's log";
  } else {
    kind = 'rejected';
    next = 'MLflow refused the request';
  }
  return new MlflowError(
    kind,
    server.uri,
    endpoint,
    server.scrub(`MLflow at ${server.uri}: ${said}; ${next}`),
    status,
    errorCode,
    serverMessage,
  );
}
