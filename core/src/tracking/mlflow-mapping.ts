import { type RunRecord, type RunStatus } from '../runs/records';
import { type Series } from '../store/series';
import { type RunSummary } from '../store/store';
import { flattenParams } from '../util/flatten';
import { type MlflowClient } from './mlflow-client';
import { MlflowError } from './mlflow-error';
import { MLFLOW_LIMITS, type MlflowMetric, type MlflowRunStatus } from './mlflow-wire';

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
 *   Uploaded as MLflow's own client does for the run's artifact URI (mlflow-artifacts.ts): through
 *   the server's artifact proxy (`mlflow-artifacts:`), or straight to a local folder (`file:`, a
 *   bare path: `mlflow server --default-artifact-root PATH`) when this machine may write it. When
 *   neither is possible the server gets the rest; the run is then logged only in part: the tag
 *   `mlpipe.incomplete` says what is missing and why, and the run stays in the outbox.
 */

/** A metric, param or tag name MLflow accepts: allowed characters only, no `..` path tricks, at most 250 characters. */
export function mlflowKey(name: string): string {
  let key = name
    .replace(/[^A-Za-z0-9_\-. :/]/g, '_')
    .replace(/\/{2,}/g, '/')
    .replace(/^\/+|\/+$/g, '');
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
  /** The workspace the run belongs to: a local artifact folder a server names is never inside it. */
  workspace?: string;
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
export function mlflowPayload(input: LogRunInput): {
  params: { key: string; value: string }[];
  tags: { key: string; value: string }[];
  metrics: MlflowMetric[];
  warnings: string[];
} {
  const { record, summary } = input;
  const warnings: string[] = [];
  const params = Object.entries(paramsAsText(record.params ?? {})).map(([key, raw]) => {
    const { value, cut } = truncated(raw, MLFLOW_LIMITS.paramValue);
    if (cut)
      warnings.push(
        `param ${key} is ${raw.length} characters; MLflow keeps ${MLFLOW_LIMITS.paramValue}, so it was cut (the full value is in the artifact mlpipe/run.json)`,
      );
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
    if (cut)
      warnings.push(`tag ${key} is ${raw.length} characters; MLflow keeps ${MLFLOW_LIMITS.tagValue}, so it was cut`);
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
    one.values.forEach((value, index) =>
      metrics.push({ key, value, timestamp, step: wholeSteps ? one.steps[index] : index }),
    );
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
      await client.uploadArtifact(
        run.info.artifactUri,
        artifact.path,
        artifact.file,
        input.workspace ? { workspace: input.workspace } : {},
      );
    } catch (error) {
      // A server without the artifact proxy still gets the params and metrics; what it did not get is said, never dropped quietly.
      if (error instanceof MlflowError && error.kind === 'rejected' && !error.status) {
        const missing = input.artifacts.slice(index).map((one) => one.path);
        incomplete.push(
          `${missing.length} artifact${missing.length === 1 ? '' : 's'} not uploaded (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}): ${error.message}`,
        );
        break;
      }
      throw error;
    }
  }
  // Said in MLflow too, where people look at the run; taken away once a later send is complete.
  if (incomplete.length > 0)
    await client.setTag(
      run.info.runId,
      INCOMPLETE_TAG,
      truncated(`logged in part by mlpipe: ${incomplete.join('; ')}`, MLFLOW_LIMITS.tagValue).value,
    );
  else if (existing.tags[INCOMPLETE_TAG] !== undefined) await client.deleteTag(run.info.runId, INCOMPLETE_TAG);
  await client.updateRun(
    run.info.runId,
    MLFLOW_STATUS[record.status],
    record.ended ? Date.parse(record.ended) : undefined,
  );
  return { experimentId: experiment.experimentId, runId: run.info.runId, reused, warnings, incomplete };
}

export interface TrackedRunRow {
  runId: string;
  /** The MLflow experiment the run belongs to. */
  experimentId: string;
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

export interface ListRunsOptions {
  /** MLflow's search filter (`metrics.auc > 0.8 and params.lr = '0.1'`), as MLflow's own clients take it. */
  filter?: string;
  maxResults?: number;
  orderBy?: string[];
}

/** The runs of an experiment, newest first, as plain rows for the editor's browser (none when the experiment does not exist). */
export async function listRuns(
  client: MlflowClient,
  name: string,
  options: ListRunsOptions = {},
): Promise<TrackedRunRow[]> {
  const experiment = await client.getExperimentByName(name);
  if (!experiment) return [];
  return listRunsIn(client, [experiment.experimentId], options);
}

/**
 * The runs of some experiments, whoever logged them (mlpipe, MLflow's Python client, autolog...),
 * newest first, at most `maxResults` (100 unless told), read in pages of 500.
 */
export async function listRunsIn(
  client: MlflowClient,
  experimentIds: string[],
  options: ListRunsOptions = {},
): Promise<TrackedRunRow[]> {
  if (experimentIds.length === 0) return [];
  const limit = options.maxResults ?? 100;
  const rows: TrackedRunRow[] = [];
  const seen = new Set<string>();
  let pageToken: string | undefined;
  do {
    const page = await client.searchRuns({
      experimentIds,
      ...(options.filter ? { filter: options.filter } : {}),
      orderBy: options.orderBy ?? ['attributes.start_time DESC'],
      // Pages of at most 500 runs stay well below the 16 MiB an answer may have.
      maxResults: Math.min(limit - rows.length, 500),
      ...(pageToken ? { pageToken } : {}),
    });
    for (const run of page.runs) {
      rows.push({
        runId: run.info.runId,
        experimentId: run.info.experimentId,
        ...(run.data.tags['mlpipe.run_id'] ? { mlpipeRunId: run.data.tags['mlpipe.run_id'] } : {}),
        name: run.info.runName ?? run.data.tags['mlflow.runName'] ?? run.info.runId,
        status: run.info.status,
        ...(validTime(run.info.startTime) ? { startTime: new Date(run.info.startTime!).toISOString() } : {}),
        ...(validTime(run.info.endTime) ? { endTime: new Date(run.info.endTime!).toISOString() } : {}),
        params: run.data.params,
        metrics: Object.fromEntries(run.data.metrics.map((metric) => [metric.key, metric.value])),
        tags: run.data.tags,
      });
    }
    // A server that hands the same page token back is not followed around in circles.
    pageToken = page.nextPageToken && !seen.has(page.nextPageToken) ? page.nextPageToken : undefined;
    if (pageToken) seen.add(pageToken);
  } while (pageToken && rows.length < limit);
  return rows.slice(0, limit);
}

/** A time a server sent that a Date can hold (a lying server may send anything). */
function validTime(ms: number | undefined): boolean {
  return ms !== undefined && Number.isFinite(ms) && Math.abs(ms) <= 8.64e15;
}

/** The most experiments `listExperiments` reads. */
const MAX_EXPERIMENTS = 10_000;

/** The server's active experiments, by name, read in pages of 1,000; at most 10,000 (`truncated` says so). */
export async function listExperiments(
  client: MlflowClient,
): Promise<{ experiments: { experimentId: string; name: string }[]; truncated: boolean }> {
  const experiments: { experimentId: string; name: string }[] = [];
  const seen = new Set<string>();
  let pageToken: string | undefined;
  for (;;) {
    const page = await client.request<{
      experiments?: { experiment_id?: unknown; name?: unknown; lifecycle_stage?: unknown }[];
      next_page_token?: string;
    }>('POST', 'experiments/search', {
      max_results: 1000,
      view_type: 'ACTIVE_ONLY',
      ...(pageToken ? { page_token: pageToken } : {}),
    });
    for (const one of Array.isArray(page.experiments) ? page.experiments : []) {
      if (one.lifecycle_stage !== undefined && one.lifecycle_stage !== 'active') continue;
      experiments.push({ experimentId: String(one.experiment_id ?? ''), name: String(one.name ?? '') });
    }
    if (experiments.length >= MAX_EXPERIMENTS)
      return { experiments: experiments.slice(0, MAX_EXPERIMENTS), truncated: true };
    const next = page.next_page_token;
    if (!next || seen.has(next)) return { experiments, truncated: false };
    seen.add(next);
    pageToken = next;
  }
}

/**
 * The experiments of the server to show beside a workspace's runs (the Experiments view): the
 * workspace's own (`mlpipe/<pipeline>`) that exist first, then every other active one by name, so
 * runs that MLflow's own clients logged show too; at most `max`.
 */
export async function serverExperiments(
  client: MlflowClient,
  own: string[],
  max = 30,
): Promise<{ experimentId: string; name: string; own: boolean }[]> {
  const { experiments } = await listExperiments(client);
  const wanted = new Set(own);
  const mine = experiments.filter((one) => wanted.has(one.name)).map((one) => ({ ...one, own: true }));
  const others = experiments
    .filter((one) => !wanted.has(one.name))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((one) => ({ ...one, own: false }));
  return [...mine, ...others].slice(0, max);
}
