import { createReadStream, statSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { type Readable } from 'node:stream';
import { httpError, MlflowError, type MlflowServer, transportError } from './mlflow-error';
import {
  artifactLocation,
  LocalArtifacts,
  type ObjectStoreClient,
  type ObjectStoreOpener,
  s3Artifacts,
  SERVE_ARTIFACTS_ADVICE,
} from './mlflow-artifacts';
import { parseTrackingUri } from './mlflow-uri';
import {
  type BatchInput,
  type MlflowArtifact,
  type MlflowExperiment,
  type MlflowMetric,
  type MlflowRun,
  type MlflowRunStatus,
  type SearchRunsOptions,
  splitBatch,
  toMetric,
  toRun,
  type WireMetric,
  type WireRun,
  wireValue,
} from './mlflow-wire';
import {
  type Answer,
  backoff,
  deadlineFor,
  exchange,
  isTransient,
  isTransientStatus,
  redactText,
  redactUri,
  redirectTarget,
  transferLimits,
  type TransferLimits,
} from './transfer';

/*
 * A client of an MLflow tracking server's REST API 2.0. The server is untrusted (transfer.ts):
 * every request fails after a stall or past a deadline proportional to its size, answers are
 * read up to 16 MiB, redirects are followed only to the same host and never from HTTPS to HTTP,
 * idempotent requests are tried again after a reset, a stall or a 429/502/503/504, and nothing
 * shown ever holds a credential.
 */

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

export interface ArtifactOptions {
  /** The workspace: a local artifact folder a server names is never inside it. */
  workspace?: string;
}

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
  readonly #env: NodeJS.ProcessEnv;
  /** What error messages say about this server. */
  readonly #server: MlflowServer;

  constructor(uri: string, options: MlflowClientOptions = {}) {
    const env = options.env ?? process.env;
    this.#env = env;
    const parsed = parseTrackingUri(uri);
    if ('problem' in parsed) {
      throw new MlflowError(
        'protocol',
        redactUri(uri.trim()),
        '',
        `${parsed.problem}; set mlpipe.tracking.uri or MLFLOW_TRACKING_URI to the server's address, such as http://127.0.0.1:5000`,
      );
    }
    const userInUri = parsed.username ?? '';
    const passwordInUri = parsed.password ?? '';
    this.#base = parsed.address;
    this.uri = this.#base;
    this.#timeoutMs = options.timeoutMs;
    this.#uploadTimeoutMs = options.uploadTimeoutMs;
    this.#limits = transferLimits(options.limits, env);
    // Idle connections are closed before MLflow's server (uvicorn: 5 s) would close them under a request.
    this.#agent = this.#base.startsWith('https:')
      ? new https.Agent({ keepAlive: true, maxSockets: 4, timeout: 4000 })
      : new http.Agent({ keepAlive: true, maxSockets: 4, timeout: 4000 });
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
    this.#server = { uri: this.uri, limits: this.#limits, scrub: (text) => this.#scrub(text) };
  }

  /** Text from the server (or about it) with any credential, URI user:password or Authorization value taken out. */
  #scrub(text: string): string {
    return redactText(text, this.#secrets);
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.#authorization ? { authorization: this.#authorization } : {}), ...extra };
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
        throw transportError(this.#server, method, endpoint, error);
      }
      if (answer.status >= 200 && answer.status < 300) return answer;
      if (options.idempotent && attempt < limits.retries && isTransientStatus(answer.status)) {
        await backoff(attempt + 1, undefined, answer.headers['retry-after']);
        continue;
      }
      throw httpError(this.#server, method, endpoint, answer);
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
        throw new MlflowError(
          'protocol',
          this.uri,
          endpoint,
          this.#scrub(
            `MLflow at ${this.uri} answered ${method} ${endpoint} with a redirect mlpipe does not follow: ${(error as Error).message}`,
          ),
          answer.status,
        );
      }
      if (!next) return answer;
      // Credentials and bodies go only to the same host; a stream body cannot be sent twice; 301-303 turn a write into a GET.
      const resendable =
        method === 'GET' || ((answer.status === 307 || answer.status === 308) && !(typeof options.body === 'function'));
      if (!next.credentials || !resendable || hop >= this.#limits.maxRedirects) return answer;
      current = next.url;
    }
  }

  /** A call to `/api/2.0/mlflow/<endpoint>`: GET with a query, POST with a JSON body. */
  async #call<T>(method: 'GET' | 'POST', endpoint: string, input: Record<string, unknown> = {}): Promise<T> {
    const url = new URL(`${this.#base}/api/2.0/mlflow/${endpoint}`);
    let body: Buffer | undefined;
    if (method === 'GET') {
      for (const [key, value] of Object.entries(input))
        if (value !== undefined) url.searchParams.set(key, String(value));
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
      throw new MlflowError(
        'protocol',
        this.uri,
        endpoint,
        `MLflow at ${this.uri}: ${method} ${endpoint} answered with something that is not JSON; is ${this.uri} an MLflow tracking server?`,
        answer.status,
      );
    }
  }

  async getExperimentByName(name: string): Promise<MlflowExperiment | undefined> {
    try {
      const body = await this.#call<{ experiment?: Record<string, unknown> }>('GET', 'experiments/get-by-name', {
        experiment_name: name,
      });
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
      if (!experiment)
        throw new MlflowError(
          'protocol',
          this.uri,
          'experiments/get-by-name',
          `MLflow at ${this.uri} created experiment '${name}' but does not find it; see the MLflow server's log`,
        );
    }
    if (experiment.lifecycleStage === 'deleted') {
      throw new MlflowError(
        'rejected',
        this.uri,
        'experiments/get-by-name',
        `experiment '${name}' was deleted in MLflow at ${this.uri}; restore it (mlflow experiments restore --experiment-id ${experiment.experimentId}) or remove it for good (mlflow gc) so mlpipe can create it again`,
      );
    }
    return experiment;
  }

  async createRun(input: {
    experimentId: string;
    runName?: string;
    startTime?: number;
    tags?: { key: string; value: string }[];
  }): Promise<MlflowRun> {
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
    await this.#call('POST', 'runs/update', {
      run_id: runId,
      status,
      ...(endTime !== undefined ? { end_time: endTime } : {}),
    });
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
    return {
      runs: (body.runs ?? []).map(toRun),
      ...(body.next_page_token ? { nextPageToken: body.next_page_token } : {}),
    };
  }

  /** Every logged value of a metric, page by page. */
  async metricHistory(runId: string, key: string): Promise<MlflowMetric[]> {
    const metrics: MlflowMetric[] = [];
    const seen = new Set<string>();
    let pageToken: string | undefined;
    for (;;) {
      const body = await this.#call<{ metrics?: WireMetric[]; next_page_token?: string }>(
        'GET',
        'metrics/get-history',
        { run_id: runId, metric_key: key, page_token: pageToken },
      );
      metrics.push(...(body.metrics ?? []).map(toMetric));
      if (!body.next_page_token || seen.has(body.next_page_token)) return metrics;
      seen.add(body.next_page_token);
      pageToken = body.next_page_token;
    }
  }

  /** The proxy URL of a path below a run's `mlflow-artifacts:` artifact root. */
  #artifactUrl(root: string, path: string): URL {
    const relative = path
      .split('/')
      .filter((part) => part !== '' && part !== '.')
      .map(encodeURIComponent)
      .join('/');
    return new URL(
      `${this.#base}/api/2.0/mlflow-artifacts/artifacts${root.replace(/\/+$/, '').split('/').map(encodeURIComponent).join('/')}/${relative}`,
    );
  }

  /**
   * Where the artifacts of a run go (mlflow-artifacts.ts): the proxy's root, a local folder this
   * machine may write, or an S3 bucket; an MlflowError (`rejected`, no status) when none is reachable.
   */
  #artifactStore(
    artifactUri: string,
    endpoint: string,
    options: ArtifactOptions,
  ):
    | { proxy: string }
    | { local: LocalArtifacts }
    | { s3: { opener: ObjectStoreOpener; bucket: string; prefix: string } } {
    const location = artifactLocation(artifactUri);
    switch (location.kind) {
      case 'proxy':
        return { proxy: location.root };
      case 'file':
        return {
          local: LocalArtifacts.open(location.path, {
            server: this.uri,
            endpoint,
            env: this.#env,
            ...(options.workspace ? { workspace: options.workspace } : {}),
          }),
        };
      case 's3': {
        const opener = s3Artifacts();
        if (!opener)
          throw new MlflowError(
            'rejected',
            this.uri,
            endpoint,
            `MLflow at ${this.uri} stores this run's artifacts in S3 (s3://${location.bucket}/...), which this mlpipe process was built without; ${SERVE_ARTIFACTS_ADVICE}`,
          );
        return { s3: { opener, bucket: location.bucket, prefix: location.key } };
      }
      case 'unsupported':
        throw new MlflowError(
          'rejected',
          this.uri,
          endpoint,
          `MLflow at ${this.uri} stores this run's artifacts at '${redactUri(artifactUri)}' (${location.scheme}), which mlpipe cannot reach (it writes through the server's artifact proxy, to a local folder or to S3); ${SERVE_ARTIFACTS_ADVICE}`,
        );
    }
  }

  /**
   * Uploads a file as the artifact at `path` below the run's artifact root, the way MLflow's own
   * client does for that root: through the proxy (streamed from disk), to a local folder, or to S3.
   * `workspace` is never written, whatever the server says.
   */
  async uploadArtifact(artifactUri: string, path: string, file: string, options: ArtifactOptions = {}): Promise<void> {
    const endpoint = `mlflow-artifacts/artifacts (${path})`;
    const store = this.#artifactStore(artifactUri, endpoint, options);
    if ('local' in store) return store.local.upload(path, file, endpoint);
    if ('s3' in store)
      return this.#inS3(store.s3, path, endpoint, 'uploading', (bucket, key) =>
        bucket.put(key, file, statSync(file).size),
      );
    const url = this.#artifactUrl(store.proxy, path);
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
  async downloadArtifact(
    artifactUri: string,
    path: string,
    maxBytes = DEFAULT_DOWNLOAD_LIMIT,
    options: ArtifactOptions = {},
  ): Promise<Buffer> {
    const endpoint = `mlflow-artifacts/artifacts (${path})`;
    const store = this.#artifactStore(artifactUri, endpoint, options);
    if ('local' in store) return store.local.download(path, maxBytes, endpoint);
    if ('s3' in store)
      return this.#inS3(store.s3, path, endpoint, 'reading', async (bucket, key) => {
        const body = await bucket.get(key, maxBytes);
        if (!body) throw new Error(`s3://${store.s3.bucket}/${store.s3.prefix}/${key} does not exist`);
        return body;
      });
    const answer = await this.#send('GET', endpoint, this.#artifactUrl(store.proxy, path), {
      deadlineMs: this.#uploadTimeoutMs ?? deadlineFor(maxBytes, this.#limits),
      maxAnswerBytes: maxBytes,
      idempotent: true,
    });
    return answer.body;
  }

  /**
   * One act on a run's artifacts in S3, as MLflow's client does it: AWS credentials from where the
   * AWS CLI reads them, an S3-compatible service from MLFLOW_S3_ENDPOINT_URL. A failure is
   * `rejected` without a status, so a run is then logged in part, saying why.
   */
  async #inS3<T>(
    place: { opener: ObjectStoreOpener; bucket: string; prefix: string },
    path: string,
    endpoint: string,
    doing: string,
    act: (bucket: ObjectStoreClient, key: string) => Promise<T>,
  ): Promise<T> {
    const key = path
      .split('/')
      .filter((part) => part !== '' && part !== '.')
      .join('/');
    let bucket: ObjectStoreClient | undefined;
    try {
      if (!key || key.split('/').includes('..')) throw new Error(`'${path}' is not an artifact path`);
      bucket = await place.opener({ bucket: place.bucket, prefix: place.prefix }, this.#env);
      return await act(bucket, key);
    } catch (error) {
      throw new MlflowError(
        'rejected',
        this.uri,
        endpoint,
        this.#scrub(
          `MLflow at ${this.uri} stores this run's artifacts in S3 (s3://${place.bucket}/${place.prefix}); ${doing} ${path} there failed: ${(error as Error).message}${this.#env.MLFLOW_S3_ENDPOINT_URL ? '' : ' (an S3-compatible service is named by MLFLOW_S3_ENDPOINT_URL, as for MLflow)'}`,
        ),
      );
    } finally {
      bucket?.close();
    }
  }

  /** The artifacts directly below `path` (the run's artifact root when absent). */
  async listArtifacts(runId: string, path?: string): Promise<MlflowArtifact[]> {
    const body = await this.#call<{ files?: { path: string; is_dir?: boolean; file_size?: number | string }[] }>(
      'GET',
      'artifacts/list',
      { run_id: runId, path },
    );
    return (body.files ?? []).map((file) => ({
      path: file.path,
      isDir: Boolean(file.is_dir),
      ...(file.file_size !== undefined ? { fileSize: Number(file.file_size) } : {}),
    }));
  }
}
