/*
 * MLflow's REST API 2.0 as mlpipe reads and writes it: the limits of a request, the shapes of what
 * comes back, and their reading from the wire's JSON.
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

export interface WireRun {
  info?: Record<string, unknown>;
  data?: { params?: { key: string; value: string }[]; tags?: { key: string; value: string }[]; metrics?: WireMetric[] };
}

export interface WireMetric {
  key: string;
  value: number | string;
  timestamp?: number | string;
  step?: number | string;
}

export function toMetric(metric: WireMetric): MlflowMetric {
  return {
    key: metric.key,
    value: Number(metric.value),
    timestamp: Number(metric.timestamp ?? 0),
    step: Number(metric.step ?? 0),
  };
}

export function toRun(wire: WireRun): MlflowRun {
  const info = wire.info ?? {};
  const optionalNumber = (value: unknown) =>
    value === undefined || value === null || value === '' ? undefined : Number(value);
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
export function wireValue(value: number): number | string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  return value;
}

/** Splits a batch so that each request stays within MLflow's limits (counts and bytes). */
export function splitBatch(
  input: BatchInput,
): { metrics: MlflowMetric[]; params: { key: string; value: string }[]; tags: { key: string; value: string }[] }[] {
  type Batch = {
    metrics: MlflowMetric[];
    params: { key: string; value: string }[];
    tags: { key: string; value: string }[];
    bytes: number;
  };
  const batches: Batch[] = [];
  let current: Batch | undefined;
  const add = (
    kind: 'metrics' | 'params' | 'tags',
    entity: MlflowMetric | { key: string; value: string },
    limit: number,
  ) => {
    const bytes = Buffer.byteLength(JSON.stringify(entity)) + 1;
    const full = (batch: Batch) =>
      batch[kind].length >= limit ||
      batch.metrics.length + batch.params.length + batch.tags.length >= MLFLOW_LIMITS.entitiesPerBatch ||
      batch.bytes + bytes > MLFLOW_LIMITS.batchBytes;
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
