/*
 * mlpipe and an MLflow tracking server, by concern:
 * - mlflow-uri.ts: which server (mlpipe.tracking.uri, MLFLOW_TRACKING_URI) and reading its address;
 * - mlflow-error.ts: MlflowError, and what a failed request says;
 * - mlflow-wire.ts: the REST API's limits and shapes;
 * - mlflow-client.ts: MlflowClient, the bounded REST client;
 * - mlflow-mapping.ts: how an mlpipe run appears in MLflow (logRun), and listing runs back.
 * This file re-exports their public names for the code outside tracking/ that imports them here.
 */
export { type ParsedTrackingUri, parseTrackingUri, trackingUri, trackingUriProblem } from './mlflow-uri';
export { MlflowError, type MlflowErrorKind } from './mlflow-error';
export {
  type BatchInput,
  MLFLOW_LIMITS,
  type MlflowArtifact,
  type MlflowExperiment,
  type MlflowMetric,
  type MlflowRun,
  type MlflowRunStatus,
  type SearchRunsOptions,
  splitBatch,
} from './mlflow-wire';
export { MlflowClient, type MlflowClientOptions } from './mlflow-client';
export {
  experimentName,
  INCOMPLETE_TAG,
  listExperiments,
  listRuns,
  listRunsIn,
  type ListRunsOptions,
  logRun,
  type LogRunInput,
  type LogRunResult,
  MLFLOW_STATUS,
  mlflowKey,
  mlflowPayload,
  paramsAsText,
  serverExperiments,
  type TrackedRunRow,
} from './mlflow-mapping';
