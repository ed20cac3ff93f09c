import { provideS3Artifacts } from '../tracking/mlflow-artifacts';
import { openBackend } from './open';
import { type S3Backend } from './s3';

/*
 * MLflow run artifacts in an S3 bucket (`mlflow server --default-artifact-root s3://bucket/path`
 * without the proxy), written with the remote cache's S3 client, as MLflow's own client writes
 * them: AWS credentials from where the AWS CLI reads them, an S3-compatible service named by
 * MLFLOW_S3_ENDPOINT_URL (path-style then), the region from AWS_REGION / AWS_DEFAULT_REGION.
 * Loading this module hands the client to tracking/, which sits below remote/ (ADR 0018).
 */
provideS3Artifacts(async (place, env) => {
  const endpoint = env.MLFLOW_S3_ENDPOINT_URL?.trim() || undefined;
  const region = env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || undefined;
  const backend = (await openBackend(
    {
      name: 'mlflow-artifacts',
      kind: 's3',
      url: `s3://${place.bucket}/${place.prefix}`,
      bucket: place.bucket,
      prefix: place.prefix,
      ...(endpoint ? { endpoint, pathStyle: true } : {}),
      ...(region ? { region } : {}),
      source: "the run's artifact URI",
    },
    process.cwd(),
  )) as S3Backend;
  return {
    put: (relative, file, size) => backend.putFile(relative, file, size),
    get: (relative, maxBytes) => backend.getFile(relative, maxBytes),
    close: () => backend.close(),
  };
});
