import { createReadStream, statSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { type Readable } from 'node:stream';
import { type RunRecord, type RunStatus } from '../runs/records';
import { type Series } from '../store/series';
import { flattenParams } from '../util/flatten';
import { type RunSummary } from '../store/store';
import { type Answer, backoff, deadlineFor, exchange, isTransient, isTransientStatus, redactText, redactUri, redirectTarget, seconds, TransferError, transferLimits, type TransferLimits } from './transfer';

/*
 * mlpipe runs on an MLflow tracking server, over MLflow's REST API 2.0.
 *
 * How an mlpipe run appears in MLflow
 * - Experiment: `mlpipe/<name>`, where name is the pipeline's `name:`, else its file path relative
 *   to the workspace folder (`mlpipe/churn`, `mlpipe/pipelines/train.pipeline.yaml`). Created on
 *   first use.
 * - Run: one MLflow run per mlpipe run. Its name (`run_name`, tag `mlflow.runName`) is the mlpipe
 *   run id. The tag `mlpipe.run_id` finds it again, so sending a run twice (a retry after a
 *   half-finished attempt, a run sent again after it ended) updates the same MLflow run.
 * - Status: succeeded -> FINISHED, failed -> FAILED, cancelled -> KILLED, running -> RUNNING.
 *   Start and end times are the run's, in milliseconds.
 * - Params: every param the run's stages read, flattened to dotted keys (`train.lr`), values as
 *   text (lists and objects as JSON). Values longer than MLflow's 6,000 characters are cut and end
 *   with a note saying so; `mlpipe/run.json` among the artifacts holds the full value.
 * - Metrics: each scalar metric of the run (`eval-test.auc`, named as `mlpipe runs` names them) at
 *   step 0, timestamped with the run's end; booleans as 0/1; text values are left out. Each series
 *   (a plot file's column, a list in a metrics file) is logged point by point under its own name
 *   with its steps (its x values when they are whole numbers, else the point's position), so
 *   MLflow's charts show the curve; the series' last value is then MLflow's latest value.
 *   Characters MLflow does not allow in names (it allows letters, digits, `_ - . : /` and space)
 *   become `_`.
 * - Tags: `mlpipe.run_id`, `mlpipe.pipeline` (the pipeline file), `mlpipe.status`;
 *   `mlflow.source.git.commit` and `mlpipe.dirty` when the run knows its git commit; the run's note
 *   as `mlflow.note.content` (MLflow shows it as the run's description); then the run's own tags
 *   from `mlpipe runs tag`.
 * - Artifacts: the metrics and plot files the run wrote, under their paths in the workspace, when
 *   the file still holds what the run recorded; and the run record as `mlpipe/run.json`.
 *   Uploaded through the server's artifact proxy (`mlflow server` serves artifacts by default).
 *   A server without it (`--no-serve-artifacts`) gets the rest; the run is then logged only in
 *   part: the tag `mlpipe.incomplete` says what is missing, and the run stays in the outbox.
 *
 * The server is untrusted (transfer.ts): every request fails after a stall or past a deadline
 * proportional to its size, answers are read up to 16 MiB, redirects are followed only to the same
 * host and never from HTTPS to HTTP, idempotent requests are tried again after a reset, a stall or
 * a 429/502/503/504, and nothing shown ever holds a credential.
 */

/** MLflow's limits on one `runs/log-batch` request and on names and values. */
export const MLFLOW_LIMITS = {
  metricsPerBatch: 1000,
  paramsPerBatch: 100,
  tagsPerBatch: 100,
  entitiesPerBatch: 1000,
  /** The server refuses bodies over 1 MB; stay clear of it. */
  batchBytes: 900_000,
  paramValue: 6000,
  tagValue: 8000,
  key: 250,
  experimentName: 500,
} as const;

/** POST endpoints that do the same thing when sent twice, so a request that broke is sent again. */
const IDEMPOTENT_POSTS = new Set([
  'runs/search',
  'runs/log-batch',
  'runs/update',
  'runs/set-tag',
  'runs/delete-tag',
  'experiments/search',
  'model-versions/search',
  'model-versions/set-tag',
  'registered-models/alias',
  'registered-models/search',
]);
/** What a download keeps in memory at most, unless told otherwise. */
const DEFAULT_DOWNLOAD_LIMIT = 64 * 1024 * 1024;

function configuredUri(setting: string | undefined, env: NodeJS.ProcessEnv): { value: string; source: string } | undefined {
  if (setting?.trim()) return { value: setting.trim(), source: 'the setting mlpipe.tracking.uri' };
  if (env.MLFLOW_TRACKING_URI?.trim()) return { value: env.MLFLOW_TRACKING_URI.trim(), source: 'MLFLOW_TRACKING_URI' };
  return undefined;
}

/** A tracking URI taken apart: the address without credentials, and any user:password it held. */
export interface ParsedTrackingUri {
  /** The address without user:password, without a trailing slash: safe to show. */
  address: string;
  username?: string;
  password?: string;
}

/**
 * Reads an http(s) tracking URI, or says why it cannot be read. A user:password whose password
 * holds `/`, `?` or `#` unencoded (`http://ana:pa/ss@host:5000`) cannot be told apart from a path:
 * it is refused with what to do, never guessed at (a guess could send the password to a wrong
 * host), and never shown.
 */
export function parseTrackingUri(value: string): ParsedTrackingUri | { problem: string } {
  const text = value.trim();
  const shown = redactUri(text);
  if (!/^https?:\/\//i.test(text)) return { problem: `'${shown}' is not an http(s) address` };
  const rest = text.slice(text.indexOf('//') + 2);
  const authorityEnd = rest.search(/[/?#]/);
  const at = rest.lastIndexOf('@');
  if (authorityEnd >= 0 && at > authorityEnd) {
    return {
      problem: `'${shown}' has an '@' after a '/', '?' or '#': a password holding those characters must be percent-encoded (%2F, %3F, %23, %40) to be read unambiguously. Better, leave credentials out of the URI and set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)`,
    };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: `'${shown}' is not a valid URL` };
  }
  let username: string;
  let password: string;
  try {
    username = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    return { problem: `'${shown}': its user:password part has a malformed %-escape` };
  }
  url.username = '';
  url.password = '';
  return { address: url.toString().replace(/\/+$/, ''), ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

function isHttpUri(value: string): boolean {
  return 'address' in parseTrackingUri(value);
}

/**
 * The MLflow tracking server to send runs to: the `mlpipe.tracking.uri` setting, else
 * `MLFLOW_TRACKING_URI`. Only http(s) servers count; for anything else this is undefined and
 * `trackingUriProblem` says why.
 */
export function trackingUri(setting: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const configured = configuredUri(setting, env);
  return configured && isHttpUri(configured.value) ? configured.value.replace(/\/+$/, '') : undefined;
}

/** Why the configured tracking URI cannot be used, in words with what to do; undefined when it can (or none is set). */
export function trackingUriProblem(setting: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const configured = configuredUri(setting, env);
  if (!configured || isHttpUri(configured.value)) return undefined;
  const shown = redactUri(configured.value);
  if (/^https?:\/\//i.test(configured.value)) {
    const parsed = parseTrackingUri(configured.value);
    return `${configured.source}: ${'problem' in parsed ? parsed.problem : shown}.`;
  }
  const kind = /^databricks/i.test(configured.value)
    ? 'a Databricks workspace, which mlpipe does not talk to'
    : /^(file:|sqlite:|[./~]|[A-Za-z]:\\)/i.test(configured.value) || !configured.value.includes(':')
      ? 'a local store'
      : 'not an http(s) address';
  return `${configured.source} is '${shown}', ${kind}: mlpipe sends runs to an MLflow tracking server over HTTP. Start one (mlflow server --backend-store-uri sqlite:///mlflow.db) and set ${configured.source} to its address, such as http://127.0.0.1:5000.`;
}

export type MlflowErrorKind = 'unreachable' | 'timeout' | 'tls' | 'auth' | 'not-found' | 'rejected' | 'server' | 'protocol';

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
    return this.kind === 'unreachable' || this.kind === 'timeout' || this.status === 502 || this.status === 503 || this.status === 504;
  }

  /** A failure no other run would escape either (server down, credentials, TLS): stop sending. */
  get affectsAllRuns(): boolean {
    return this.unreachable || this.kind === 'tls' || this.kind === 'auth';
  }
}

export interface MlflowExperiment {
  experimentId: string;
  name: string;
  artifactLocation?: string;
  lifecycleStage: string;
}

export interface MlflowMetric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

export type MlflowRunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface MlflowRun {
  info: {
    runId: string;
    experimentId: string;
    runName?: string;
    status: MlflowRunStatus;
    startTime?: number;
    endTime?: number;
    artifactUri: string;
    lifecycleStage: string;
  };
  /** Params and tags by key; metrics are the latest value of each. */
  data: { params: Record<string, string>; tags: Record<string, string>; metrics: MlflowMetric[] };
}

export interface MlflowArtifact {
  path: string;
  isDir: boolean;
  fileSize?: number;
}

export interface BatchInput {
  metrics?: MlflowMetric[];
  params?: { key: string; value: string }[];
  tags?: { key: string; value: string }[];
}

export interface SearchRunsOptions {
  experimentIds: string[];
  filter?: string;
  orderBy?: string[];
  maxResults?: number;
  pageToken?: string;
}

export interface MlflowClientOptions {
  /** Where credentials come from: MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and _PASSWORD; and MLPIPE_STALL_TIMEOUT / MLPIPE_MIN_TRANSFER_RATE. */
  env?: NodeJS.ProcessEnv;
  /** The whole of one API call; by default a minute plus its bytes at the minimum rate. */
  timeoutMs?: number;
  /** The whole of one artifact upload or download; by default proportional to its size. */
  uploadTimeoutMs?: number;
  /** Stall, rate, answer size, redirects and retries (transfer.ts). */
  limits?: Partial<TransferLimits>;
}

interface WireRun {
  info?: Record<string, unknown>;
  data?: { params?: { key: string; value: string }[]; tags?: { key: string; value: string }[]; metrics?: WireMetric[] };
}

interface WireMetric {
  key: string;
  value: number | string;
  timestamp?: number | string;
  step?: number | string;
}

function toMetric(metric: WireMetric): MlflowMetric {
  return { key: metric.key, value: Number(metric.value), timestamp: Number(metric.timestamp ?? 0), step: Number(metric.step ?? 0) };
}

function toRun(wire: WireRun): MlflowRun {
  const info = wire.info ?? {};
  const optionalNumber = (value: unknown) => (value === undefined || value === null || value === '' ? undefined : Number(value));
  return {
    info: {
      runId: String(info.run_id ?? info.run_uuid ?? ''),
      experimentId: String(info.experiment_id ?? ''),
      ...(typeof info.run_name === 'string' ? { runName: info.run_name } : {}),
      status: (info.status as MlflowRunStatus | undefined) ?? 'RUNNING',
      startTime: optionalNumber(info.start_time),
      endTime: optionalNumber(info.end_time),
      artifactUri: String(info.artifact_uri ?? ''),
      lifecycleStage: String(info.lifecycle_stage ?? 'active'),
    },
    data: {
      params: Object.fromEntries((wire.data?.params ?? []).map((param) => [param.key, param.value])),
      tags: Object.fromEntries((wire.data?.tags ?? []).map((tag) => [tag.key, tag.value])),
      metrics: (wire.data?.metrics ?? []).map(toMetric),
    },
  };
}

/** JSON numbers cannot say NaN or infinity; MLflow's JSON takes them as strings. */
function wireValue(value: number): number | string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  return value;
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

interface SendOptions {
  headers?: Record<string, string>;
  body?: Buffer | (() => Readable);
  bodyBytes?: number;
  deadlineMs?: number;
  maxAnswerBytes?: number;
  idempotent: boolean;
}

/**
 * A client for MLflow's REST API over node:http(s), each exchange bounded (transfer.ts). TLS is
 * verified as Node verifies it (a private CA goes in NODE_EXTRA_CA_CERTS); credentials come from
 * the environment or the URI and stay in private fields.
 */
export class MlflowClient {
  /** The server's address without any user:password part: safe to show. */
  readonly uri: string;
  readonly #base: string;
  readonly #authorization: string | undefined;
  readonly #secrets: string[];
  readonly #timeoutMs: number | undefined;
  readonly #uploadTimeoutMs: number | undefined;
  readonly #limits: TransferLimits;
  readonly #agent: http.Agent;

  constructor(uri: string, options: MlflowClientOptions = {}) {
    const env = options.env ?? process.env;
    const parsed = parseTrackingUri(uri);
    if ('problem' in parsed) {
      throw new MlflowError('protocol', redactUri(uri.trim()), '', `${parsed.problem}; set mlpipe.tracking.uri or MLFLOW_TRACKING_URI to the server's address, such as http://127.0.0.1:5000`);
    }
    const userInUri = parsed.username ?? '';
    const passwordInUri = parsed.password ?? '';
    this.#base = parsed.address;
    this.uri = this.#base;
    this.#timeoutMs = options.timeoutMs;
    this.#uploadTimeoutMs = options.uploadTimeoutMs;
    this.#limits = transferLimits(options.limits, env);
    // Idle connections are closed before MLflow's server (uvicorn: 5 s) would close them under a request.
    this.#agent = this.#base.startsWith('https:') ? new https.Agent({ keepAlive: true, maxSockets: 4, timeout: 4000 }) : new http.Agent({ keepAlive: true, maxSockets: 4, timeout: 4000 });
    const token = env.MLFLOW_TRACKING_TOKEN?.trim();
    const username = env.MLFLOW_TRACKING_USERNAME ?? (userInUri || undefined);
    const password = env.MLFLOW_TRACKING_PASSWORD ?? (passwordInUri || undefined);
    if (token) {
      this.#authorization = `Bearer ${token}`;
      this.#secrets = [token];
    } else if (username !== undefined && password !== undefined) {
      const encoded = Buffer.from(`${username}:${password}`).toString('base64');
      this.#authorization = `Basic ${encoded}`;
      this.#secrets = [password, encoded, ...(passwordInUri && passwordInUri !== password ? [passwordInUri] : [])];
    } else if (passwordInUri) {
      this.#authorization = undefined;
      this.#secrets = [passwordInUri];
    } else {
      this.#authorization = undefined;
      this.#secrets = [];
    }
  }

  /** Text from the server (or about it) with any credential, URI user:password or Authorization value taken out. */
  #scrub(text: string): string {
    return redactText(text, this.#secrets);
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.#authorization ? { authorization: this.#authorization } : {}), ...extra };
  }

  /** The error for a request that got no (complete) answer. */
  #transportError(method: string, endpoint: string, error: unknown): MlflowError {
    const where = `${method} ${endpoint}`;
    if (error instanceof TransferError) {
      if (error.failure === 'too-large') {
        return new MlflowError('protocol', this.uri, endpoint, `MLflow at ${this.uri} answered ${where} with too much: ${error.message}; refusing it. Is ${this.uri} an MLflow tracking server?`);
      }
      if (error.failure === 'truncated') {
        return new MlflowError('unreachable', this.uri, endpoint, `the connection to MLflow at ${this.uri} broke during ${where}: ${error.message}; is the server (or a proxy in front of it) healthy?`);
      }
      const knob = error.failure === 'stalled' ? `MLPIPE_STALL_TIMEOUT (seconds, now ${seconds(this.#limits.stallMs)}) sets how long a stall may last` : 'MLPIPE_MIN_TRANSFER_RATE (KiB/s) sets the slowest rate allowed';
      return new MlflowError('timeout', this.uri, endpoint, `MLflow at ${this.uri} did not answer ${where} in time: ${error.message}. Is the server running at ${this.uri}, and reachable from here? (${knob})`);
    }
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const code = cause?.code ?? (error as NodeJS.ErrnoException).code;
    if ((error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError') {
      return new MlflowError('timeout', this.uri, endpoint, `MLflow at ${this.uri} did not answer ${where} in time; is the server running at ${this.uri}, and reachable from here?`);
    }
    if ((code && TLS_CODES.has(code)) || /wrong version number/.test((error as Error).message ?? '')) {
      return new MlflowError('tls', this.uri, endpoint, `could not verify the TLS certificate of ${this.uri} (${code ?? 'EPROTO'}) for ${where}; if the server uses a private CA, point NODE_EXTRA_CA_CERTS at its certificate (mlpipe never turns verification off)${/wrong version number/.test((error as Error).message ?? '') ? '; if it speaks plain HTTP, use http://' : ''}`);
    }
    const detail = this.#scrub(code ?? cause?.message ?? (error as Error).message ?? String(error));
    return new MlflowError('unreachable', this.uri, endpoint, `could not connect to MLflow at ${this.uri} (${where}: ${detail}); is the server running at ${this.uri}? Start it (mlflow server) or fix mlpipe.tracking.uri / MLFLOW_TRACKING_URI.`);
  }

  /** The error for an answer that is not a success. */
  #httpError(method: string, endpoint: string, response: Answer): MlflowError {
    const text = response.body.toString('utf8', 0, Math.min(response.body.length, 64 * 1024));
    let errorCode: string | undefined;
    let serverMessage: string | undefined;
    try {
      const body = JSON.parse(text) as { error_code?: unknown; message?: unknown };
      if (typeof body.error_code === 'string') errorCode = body.error_code.slice(0, 100);
      if (typeof body.message === 'string') serverMessage = body.message;
    } catch {
      serverMessage = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim() || undefined;
    }
    if (serverMessage) {
      // Database errors come with SQL and links: the first line says what went wrong.
      serverMessage = this.#scrub(serverMessage.split('\n')[0]).slice(0, 500);
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
      next = `is ${this.uri} an MLflow tracking server (with the artifact proxy for uploads)?`;
    } else if (status === 404 || errorCode === 'RESOURCE_DOES_NOT_EXIST') {
      kind = 'not-found';
      next = 'it may have been deleted in MLflow';
    } else if (status >= 300 && status < 400) {
      kind = 'protocol';
      const location = response.headers.location;
      next = `it redirected${location ? ` to ${redactUri(String(location))}` : ''}, which mlpipe follows only to the same host; set mlpipe.tracking.uri / MLFLOW_TRACKING_URI to the server's own address`;
    } else if (status >= 500) {
      kind = 'server';
      next = status >= 502 && status <= 504 ? `is the server running at ${this.uri}? A proxy answered for it` : "see the MLflow server's log";
    } else {
      kind = 'rejected';
      next = 'MLflow refused the request';
    }
    return new MlflowError(kind, this.uri, endpoint, this.#scrub(`MLflow at ${this.uri}: ${said}; ${next}`), status, errorCode, serverMessage);
  }

  /**
   * One request within the client's bounds: redirects to the same host only (never HTTPS -> HTTP),
   * idempotent requests tried again after a transient failure; a non-2xx answer is an MlflowError.
   */
  async #send(method: string, endpoint: string, url: URL, options: SendOptions): Promise<Answer> {
    const limits = this.#limits;
    for (let attempt = 0; ; attempt++) {
      let answer: Answer;
      try {
        answer = await this.#follow(method, endpoint, url, options);
      } catch (error) {
        if (error instanceof MlflowError) throw error;
        if (options.idempotent && attempt < limits.retries && isTransient(error)) {
          await backoff(attempt + 1);
          continue;
        }
        throw this.#transportError(method, endpoint, error);
      }
      if (answer.status >= 200 && answer.status < 300) return answer;
      if (options.idempotent && attempt < limits.retries && isTransientStatus(answer.status)) {
        await backoff(attempt + 1, undefined, answer.headers['retry-after']);
        continue;
      }
      throw this.#httpError(method, endpoint, answer);
    }
  }

  async #follow(method: string, endpoint: string, url: URL, options: SendOptions): Promise<Answer> {
    let current = url;
    for (let hop = 0; ; hop++) {
      const answer = await exchange({
        method,
        url: current,
        headers: this.#headers(options.headers),
        ...(options.body !== undefined ? { body: options.body } : {}),
        ...(options.bodyBytes !== undefined ? { bodyBytes: options.bodyBytes } : {}),
        ...(options.deadlineMs !== undefined ? { deadlineMs: options.deadlineMs } : {}),
        ...(options.maxAnswerBytes !== undefined ? { maxAnswerBytes: options.maxAnswerBytes } : {}),
        agent: current.origin === new URL(this.#base).origin ? this.#agent : undefined,
        limits: this.#limits,
      });
      let next: ReturnType<typeof redirectTarget>;
      try {
        next = redirectTarget(current, answer);
      } catch (error) {
        throw new MlflowError('protocol', this.uri, endpoint, this.#scrub(`MLflow at ${this.uri} answered ${method} ${endpoint} with a redirect mlpipe does not follow: ${(error as Error).message}`), answer.status);
      }
      if (!next) return answer;
      // Credentials and bodies go only to the same host; a stream body cannot be sent twice; 301-303 turn a write into a GET.
      const resendable = method === 'GET' || ((answer.status === 307 || answer.status === 308) && !(typeof options.body === 'function'));
      if (!next.credentials || !resendable || hop >= this.#limits.maxRedirects) return answer;
      current = next.url;
    }
  }

  /** A call to `/api/2.0/mlflow/<endpoint>`: GET with a query, POST with a JSON body. */
  async #call<T>(method: 'GET' | 'POST', endpoint: string, input: Record<string, unknown> = {}): Promise<T> {
    const url = new URL(`${this.#base}/api/2.0/mlflow/${endpoint}`);
    let body: Buffer | undefined;
    if (method === 'GET') {
      for (const [key, value] of Object.entries(input)) if (value !== undefined) url.searchParams.set(key, String(value));
    } else {
      body = Buffer.from(JSON.stringify(input));
    }
    const answer = await this.#send(method, endpoint, url, {
      headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
      ...(body ? { body } : {}),
      ...(this.#timeoutMs !== undefined ? { deadlineMs: this.#timeoutMs } : {}),
      idempotent: method === 'GET' || IDEMPOTENT_POSTS.has(endpoint),
    });
    const text = answer.body.toString('utf8');
    try {
      return (text ? JSON.parse(text) : {}) as T;
    } catch {
      throw new MlflowError('protocol', this.uri, endpoint, `MLflow at ${this.uri}: ${method} ${endpoint} answered with something that is not JSON; is ${this.uri} an MLflow tracking server?`, answer.status);
    }
  }

  async getExperimentByName(name: string): Promise<MlflowExperiment | undefined> {
    try {
      const body = await this.#call<{ experiment?: Record<string, unknown> }>('GET', 'experiments/get-by-name', { experiment_name: name });
      const experiment = body.experiment ?? {};
      return {
        experimentId: String(experiment.experiment_id),
        name: String(experiment.name ?? name),
        ...(typeof experiment.artifact_location === 'string' ? { artifactLocation: experiment.artifact_location } : {}),
        lifecycleStage: String(experiment.lifecycle_stage ?? 'active'),
      };
    } catch (error) {
      if (error instanceof MlflowError && error.errorCode === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw error;
    }
  }

  /** Creates an experiment and returns its id. */
  async createExperiment(name: string): Promise<string> {
    const body = await this.#call<{ experiment_id: string }>('POST', 'experiments/create', { name });
    return String(body.experiment_id);
  }

  /** The experiment of that name, created when missing (also when another client creates it at the same moment). */
  async ensureExperiment(name: string): Promise<MlflowExperiment> {
    let experiment = await this.getExperimentByName(name);
    if (!experiment) {
      try {
        await this.createExperiment(name);
      } catch (error) {
        if (!(error instanceof MlflowError && error.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw error;
      }
      experiment = await this.getExperimentByName(name);
      if (!experiment) throw new MlflowError('protocol', this.uri, 'experiments/get-by-name', `MLflow at ${this.uri} created experiment '${name}' but does not find it; see the MLflow server's log`);
    }
    if (experiment.lifecycleStage === 'deleted') {
      throw new MlflowError('rejected', this.uri, 'experiments/get-by-name', `experiment '${name}' was deleted in MLflow at ${this.uri}; restore it (mlflow experiments restore --experiment-id ${experiment.experimentId}) or remove it for good (mlflow gc) so mlpipe can create it again`);
    }
    return experiment;
  }

  async createRun(input: { experimentId: string; runName?: string; startTime?: number; tags?: { key: string; value: string }[] }): Promise<MlflowRun> {
    const body = await this.#call<{ run: WireRun }>('POST', 'runs/create', {
      experiment_id: input.experimentId,
      ...(input.runName !== undefined ? { run_name: input.runName } : {}),
      ...(input.startTime !== undefined ? { start_time: input.startTime } : {}),
      tags: input.tags ?? [],
    });
    return toRun(body.run);
  }

  async getRun(runId: string): Promise<MlflowRun> {
    const body = await this.#call<{ run: WireRun }>('GET', 'runs/get', { run_id: runId });
    return toRun(body.run);
  }

  async updateRun(runId: string, status: MlflowRunStatus, endTime?: number): Promise<void> {
    await this.#call('POST', 'runs/update', { run_id: runId, status, ...(endTime !== undefined ? { end_time: endTime } : {}) });
  }

  async setTag(runId: string, key: string, value: string): Promise<void> {
    await this.#call('POST', 'runs/set-tag', { run_id: runId, key, value });
  }

  async deleteTag(runId: string, key: string): Promise<void> {
    await this.#call('POST', 'runs/delete-tag', { run_id: runId, key });
  }

  /**
   * Logs metrics, params and tags, split into as many `runs/log-batch` requests as MLflow's limits
   * need (params and tags first, so a run's identity lands before its curves). Returns the number
   * of requests sent.
   */
  async logBatch(runId: string, input: BatchInput): Promise<number> {
    const batches = splitBatch(input);
    for (const batch of batches) {
      await this.#call('POST', 'runs/log-batch', {
        run_id: runId,
        params: batch.params,
        tags: batch.tags,
        metrics: batch.metrics.map((metric) => ({ ...metric, value: wireValue(metric.value) })),
      });
    }
    return batches.length;
  }

  /** A call to any endpoint of MLflow's REST API 2.0 (`registered-models/create`, `model-versions/get`...), with this client's credentials and errors. */
  request<T>(method: 'GET' | 'POST', endpoint: string, input: Record<string, unknown> = {}): Promise<T> {
    return this.#call<T>(method, endpoint, input);
  }

  async searchRuns(options: SearchRunsOptions): Promise<{ runs: MlflowRun[]; nextPageToken?: string }> {
    const body = await this.#call<{ runs?: WireRun[]; next_page_token?: string }>('POST', 'runs/search', {
      experiment_ids: options.experimentIds,
      ...(options.filter ? { filter: options.filter } : {}),
      ...(options.orderBy ? { order_by: options.orderBy } : {}),
      ...(options.maxResults !== undefined ? { max_results: options.maxResults } : {}),
      ...(options.pageToken ? { page_token: options.pageToken } : {}),
    });
    return { runs: (body.runs ?? []).map(toRun), ...(body.next_page_token ? { nextPageToken: body.next_page_token } : {}) };
  }

  /** Every logged value of a metric, page by page. */
  async metricHistory(runId: string, key: string): Promise<MlflowMetric[]> {
    const metrics: MlflowMetric[] = [];
    const seen = new Set<string>();
    let pageToken: string | undefined;
    for (;;) {
      const body = await this.#call<{ metrics?: WireMetric[]; next_page_token?: string }>('GET', 'metrics/get-history', { run_id: runId, metric_key: key, page_token: pageToken });
      metrics.push(...(body.metrics ?? []).map(toMetric));
      if (!body.next_page_token || seen.has(body.next_page_token)) return metrics;
      seen.add(body.next_page_token);
      pageToken = body.next_page_token;
    }
  }

  /** The proxy URL of a path below a run's `mlflow-artifacts:` artifact URI. */
  #artifactUrl(artifactUri: string, path: string, endpoint: string): URL {
    const match = /^mlflow-artifacts:(?:\/\/[^/]*)?(\/.*)$/.exec(artifactUri);
    if (!match) {
      throw new MlflowError('rejected', this.uri, endpoint, `MLflow at ${this.uri} stores this run's artifacts at '${artifactUri}', which mlpipe cannot reach through the server; start the server with artifact serving (mlflow server --serve-artifacts --artifacts-destination ...) and use a new experiment`);
    }
    const root = match[1].replace(/\/+$/, '');
    const relative = path.split('/').filter((part) => part !== '' && part !== '.').map(encodeURIComponent).join('/');
    return new URL(`${this.#base}/api/2.0/mlflow-artifacts/artifacts${root.split('/').map(encodeURIComponent).join('/')}/${relative}`);
  }

  /** Uploads a file as the artifact at `path` (below the run's artifact root), streamed from disk. */
  async uploadArtifact(artifactUri: string, path: string, file: string): Promise<void> {
    const endpoint = `mlflow-artifacts/artifacts (${path})`;
    const url = this.#artifactUrl(artifactUri, path, endpoint);
    const size = statSync(file).size;
    // A PUT of the same bytes to the same path is idempotent.
    await this.#send('PUT', endpoint, url, {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: () => createReadStream(file),
      bodyBytes: size,
      ...(this.#uploadTimeoutMs !== undefined ? { deadlineMs: this.#uploadTimeoutMs } : {}),
      maxAnswerBytes: 1024 * 1024,
      idempotent: true,
    });
  }

  /** Downloads the artifact at `path` below the run's artifact root; one larger than `maxBytes` is refused. */
  async downloadArtifact(artifactUri: string, path: string, maxBytes = DEFAULT_DOWNLOAD_LIMIT): Promise<Buffer> {
    const endpoint = `mlflow-artifacts/artifacts (${path})`;
    const answer = await this.#send('GET', endpoint, this.#artifactUrl(artifactUri, path, endpoint), {
      deadlineMs: this.#uploadTimeoutMs ?? deadlineFor(maxBytes, this.#limits),
      maxAnswerBytes: maxBytes,
      idempotent: true,
    });
    return answer.body;
  }

  /** The artifacts directly below `path` (the run's artifact root when absent). */
  async listArtifacts(runId: string, path?: string): Promise<MlflowArtifact[]> {
    const body = await this.#call<{ files?: { path: string; is_dir?: boolean; file_size?: number | string }[] }>('GET', 'artifacts/list', { run_id: runId, path });
    return (body.files ?? []).map((file) => ({ path: file.path, isDir: Boolean(file.is_dir), ...(file.file_size !== undefined ? { fileSize: Number(file.file_size) } : {}) }));
  }
}

/** Splits a batch so that each request stays within MLflow's limits (counts and bytes). */
export function splitBatch(input: BatchInput): { metrics: MlflowMetric[]; params: { key: string; value: string }[]; tags: { key: string; value: string }[] }[] {
  type Batch = { metrics: MlflowMetric[]; params: { key: string; value: string }[]; tags: { key: string; value: string }[]; bytes: number };
  const batches: Batch[] = [];
  let current: Batch | undefined;
  const add = (kind: 'metrics' | 'params' | 'tags', entity: MlflowMetric | { key: string; value: string }, limit: number) => {
    const bytes = Buffer.byteLength(JSON.stringify(entity)) + 1;
    const full = (batch: Batch) => batch[kind].length >= limit || batch.metrics.length + batch.params.length + batch.tags.length >= MLFLOW_LIMITS.entitiesPerBatch || batch.bytes + bytes > MLFLOW_LIMITS.batchBytes;
    if (!current || full(current)) {
      current = { metrics: [], params: [], tags: [], bytes: 200 };
      batches.push(current);
    }
    (current[kind] as unknown[]).push(entity);
    current.bytes += bytes;
  };
  for (const param of input.params ?? []) add('params', param, MLFLOW_LIMITS.paramsPerBatch);
  for (const tag of input.tags ?? []) add('tags', tag, MLFLOW_LIMITS.tagsPerBatch);
  for (const metric of input.metrics ?? []) add('metrics', metric, MLFLOW_LIMITS.metricsPerBatch);
  return batches.map(({ metrics, params, tags }) => ({ metrics, params, tags }));
}

/** A metric, param or tag name MLflow accepts: allowed characters only, no `..` path tricks, at most 250 characters. */
export function mlflowKey(name: string): string {
  let key = name.replace(/[^A-Za-z0-9_\-. :/]/g, '_').replace(/\/{2,}/g, '/').replace(/^\/+|\/+$/g, '');
  key = key
    .split('/')
    .map((part) => (part === '.' || part === '..' ? part.replace(/\./g, '_') : part))
    .join('/');
  if (key === '') key = '_';
  return key.length > MLFLOW_LIMITS.key ? key.slice(0, MLFLOW_LIMITS.key) : key;
}

/** A value cut to `limit` characters, ending with a note that says so. */
function truncated(value: string, limit: number): { value: string; cut: boolean } {
  if (value.length <= limit) return { value, cut: false };
  const note = ` ... [cut by mlpipe: ${value.length} characters; the full value is in mlpipe/run.json]`;
  return { value: value.slice(0, limit - note.length) + note, cut: true };
}

function paramText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** A run's params as MLflow params: nested objects flattened to dotted keys, values as text. */
export function paramsAsText(params: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(flattenParams(params)).map(([key, value]) => [key, paramText(value)]));
}

export const MLFLOW_STATUS: Record<RunStatus, MlflowRunStatus> = {
  succeeded: 'FINISHED',
  failed: 'FAILED',
  cancelled: 'KILLED',
  running: 'RUNNING',
};

export interface LogRunInput {
  record: RunRecord;
  summary: RunSummary;
  tags: Record<string, string>;
  note?: string;
  series: Series[];
  /** Files to upload: `path` below the run's artifact root, `file` on disk. */
  artifacts: { path: string; file: string }[];
}

export interface LogRunResult {
  experimentId: string;
  runId: string;
  /** An MLflow run for this mlpipe run existed already and was updated. */
  reused: boolean;
  /** What was sent differently from the run and stays so (values cut to MLflow's limits; the full ones are in mlpipe/run.json). */
  warnings: string[];
  /**
   * What did not reach the server (artifacts a server without the artifact proxy cannot take): the
   * run is logged only in part, tagged `mlpipe.incomplete`, and must be sent again. Empty when
   * the server has all of it.
   */
  incomplete: string[];
}

/** The MLflow run tag that says what of an mlpipe run is missing on the server. */
export const INCOMPLETE_TAG = 'mlpipe.incomplete';

export function experimentName(record: Pick<RunRecord, 'name' | 'pipeline'>): string {
  return `mlpipe/${record.name ?? record.pipeline}`.slice(0, MLFLOW_LIMITS.experimentName);
}

function filterQuote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** What `logRun` sends for a run, without sending it (the mapping at the top of this file). */
export function mlflowPayload(input: LogRunInput): { params: { key: string; value: string }[]; tags: { key: string; value: string }[]; metrics: MlflowMetric[]; warnings: string[] } {
  const { record, summary } = input;
  const warnings: string[] = [];
  const params = Object.entries(paramsAsText(record.params ?? {})).map(([key, raw]) => {
    const { value, cut } = truncated(raw, MLFLOW_LIMITS.paramValue);
    if (cut) warnings.push(`param ${key} is ${raw.length} characters; MLflow keeps ${MLFLOW_LIMITS.paramValue}, so it was cut (the full value is in the artifact mlpipe/run.json)`);
    return { key: mlflowKey(key), value };
  });

  const tagMap = new Map<string, string>();
  for (const [key, value] of Object.entries(input.tags)) tagMap.set(mlflowKey(key), value);
  if (input.note) tagMap.set('mlflow.note.content', input.note);
  tagMap.set('mlpipe.run_id', record.id);
  tagMap.set('mlpipe.pipeline', record.pipeline);
  tagMap.set('mlpipe.status', record.status);
  if (record.git) {
    tagMap.set('mlflow.source.git.commit', record.git.commit);
    tagMap.set('mlpipe.dirty', String(record.git.dirty));
  }
  const tags = [...tagMap].map(([key, raw]) => {
    const { value, cut } = truncated(raw, MLFLOW_LIMITS.tagValue);
    if (cut) warnings.push(`tag ${key} is ${raw.length} characters; MLflow keeps ${MLFLOW_LIMITS.tagValue}, so it was cut`);
    return { key, value };
  });

  const timestamp = Date.parse(record.ended ?? record.started) || 0;
  const seriesNames = new Set(input.series.map((one) => mlflowKey(one.name)));
  const metrics: MlflowMetric[] = [];
  for (const [name, value] of Object.entries(summary.metrics)) {
    const key = mlflowKey(name);
    // A series' last value is in the summary too; the series itself says it, at its own step.
    if (seriesNames.has(key)) continue;
    if (typeof value === 'number') metrics.push({ key, value, timestamp, step: 0 });
    else if (typeof value === 'boolean') metrics.push({ key, value: value ? 1 : 0, timestamp, step: 0 });
  }
  for (const one of input.series) {
    const key = mlflowKey(one.name);
    const wholeSteps = one.steps.every((step) => Number.isSafeInteger(step));
    one.values.forEach((value, index) => metrics.push({ key, value, timestamp, step: wholeSteps ? one.steps[index] : index }));
  }
  return { params, tags, metrics, warnings };
}

/**
 * Sends an mlpipe run to MLflow (see the mapping at the top of this file). Idempotent: the MLflow
 * run is found again by its `mlpipe.run_id` tag, params it already has are not sent again,
 * metrics are sent with the same steps and timestamps (MLflow keeps one copy of an identical
 * point), artifacts are overwritten. The status is set last, so a run that shows FINISHED in
 * MLflow without the `mlpipe.incomplete` tag has everything; `incomplete` in the result says what
 * the server did not take.
 */
export async function logRun(client: MlflowClient, input: LogRunInput): Promise<LogRunResult> {
  const { record } = input;
  const experiment = await client.ensureExperiment(experimentName(record));
  const found = await client.searchRuns({
    experimentIds: [experiment.experimentId],
    filter: `tags.\`mlpipe.run_id\` = ${filterQuote(record.id)}`,
    orderBy: ['attributes.start_time ASC'],
    maxResults: 1,
  });
  const startTime = Date.parse(record.started) || Date.now();
  let run = found.runs[0];
  const reused = run !== undefined;
  if (!run) {
    run = await client.createRun({
      experimentId: experiment.experimentId,
      runName: record.id,
      startTime,
      tags: [
        { key: 'mlpipe.run_id', value: record.id },
        { key: 'mlflow.runName', value: record.id },
      ],
    });
  }
  const payload = mlflowPayload(input);
  const warnings = [...payload.warnings];
  const existing = run.data;
  await client.logBatch(run.info.runId, {
    params: payload.params.filter((param) => existing.params[param.key] !== param.value),
    tags: payload.tags.filter((tag) => existing.tags[tag.key] !== tag.value),
    metrics: payload.metrics,
  });
  const incomplete: string[] = [];
  for (const [index, artifact] of input.artifacts.entries()) {
    try {
      await client.uploadArtifact(run.info.artifactUri, artifact.path, artifact.file);
    } catch (error) {
      // A server without the artifact proxy still gets the params and metrics; what it did not get is said, never dropped quietly.
      if (error instanceof MlflowError && error.kind === 'rejected' && !error.status) {
        const missing = input.artifacts.slice(index).map((one) => one.path);
        incomplete.push(`${missing.length} artifact${missing.length === 1 ? '' : 's'} not uploaded (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}): ${error.message}`);
        break;
      }
      throw error;
    }
  }
  // Said in MLflow too, where people look at the run; taken away once a later send is complete.
  if (incomplete.length > 0) await client.setTag(run.info.runId, INCOMPLETE_TAG, truncated(`logged in part by mlpipe: ${incomplete.join('; ')}`, MLFLOW_LIMITS.tagValue).value);
  else if (existing.tags[INCOMPLETE_TAG] !== undefined) await client.deleteTag(run.info.runId, INCOMPLETE_TAG);
  await client.updateRun(run.info.runId, MLFLOW_STATUS[record.status], record.ended ? Date.parse(record.ended) : undefined);
  return { experimentId: experiment.experimentId, runId: run.info.runId, reused, warnings, incomplete };
}

export interface TrackedRunRow {
  runId: string;
  /** The mlpipe run id, for runs mlpipe sent. */
  mlpipeRunId?: string;
  name: string;
  status: MlflowRunStatus;
  startTime?: string;
  endTime?: string;
  params: Record<string, string>;
  /** The latest value of each metric. */
  metrics: Record<string, number>;
  tags: Record<string, string>;
}

/** The runs of an experiment, newest first, as plain rows for the editor's browser (none when the experiment does not exist). */
export async function listRuns(client: MlflowClient, name: string, options: { filter?: string; maxResults?: number; orderBy?: string[] } = {}): Promise<TrackedRunRow[]> {
  const experiment = await client.getExperimentByName(name);
  if (!experiment) return [];
  const limit = options.maxResults ?? 100;
  const rows: TrackedRunRow[] = [];
  let pageToken: string | undefined;
  do {
    const page = await client.searchRuns({
      experimentIds: [experiment.experimentId],
      ...(options.filter ? { filter: options.filter } : {}),
      orderBy: options.orderBy ?? ['attributes.start_time DESC'],
      // Pages of at most 500 runs stay well below the 16 MiB an answer may have.
      maxResults: Math.min(limit - rows.length, 500),
      ...(pageToken ? { pageToken } : {}),
    });
    for (const run of page.runs) {
      rows.push({
        runId: run.info.runId,
        ...(run.data.tags['mlpipe.run_id'] ? { mlpipeRunId: run.data.tags['mlpipe.run_id'] } : {}),
        name: run.info.runName ?? run.data.tags['mlflow.runName'] ?? run.info.runId,
        status: run.info.status,
        ...(run.info.startTime !== undefined ? { startTime: new Date(run.info.startTime).toISOString() } : {}),
        ...(run.info.endTime !== undefined ? { endTime: new Date(run.info.endTime).toISOString() } : {}),
        params: run.data.params,
        metrics: Object.fromEntries(run.data.metrics.map((metric) => [metric.key, metric.value])),
        tags: run.data.tags,
      });
    }
    pageToken = page.nextPageToken;
  } while (pageToken && rows.length < limit);
  return rows.slice(0, limit);
}
