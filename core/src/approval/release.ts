import { closeSync, constants, existsSync, lstatSync, openSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { acquireFileLock } from '../runs/file-lock';
import { ContentStore } from '../runs/content-cache';
import { dockerCredentials } from '../registry/credentials';
import { pushToLayout } from '../registry/layout';
import { pushToMlflowRegistry } from '../registry/mlflow-registry';
import { parseOciTarget, pushToOci } from '../registry/oci';
import { PushError, type ModelPackage, type PackageFile, type PushProgress, type PushResult } from '../registry/types';
import { MlflowClient, trackingUri } from '../tracking/mlflow';
import { redactUri } from '../tracking/transfer';
import { hashFile } from '../runs/hash';
import { readStateFile } from '../runs/files';
import { MlpipeDir, mlpipeRootOf } from '../runs/records';
import { GateError, loadCandidate, readApproval, type Candidate } from './gate';

/**
 * Releasing an approved model version: the package is built from the run's cached outputs (the
 * bytes the run produced, by digest, not whatever the workspace holds now) and pushed only when the
 * card approves exactly that artifact digest. Every push is logged in `.mlpipe/pushes.jsonl` for the
 * Registry view. Documented in docs/registry.md.
 */

export const LOCAL_TARGET = 'local';

/** Where the embedded registry lives: an OCI image layout beside the pipeline. */
export function localRegistry(pipelinePath: string): string {
  return join(mlpipeRootOf(pipelinePath), 'registry');
}

export interface PushRecord {
  at: string;
  target: string;
  reference: string;
  tag: string;
  digest: string;
  name: string;
  version: string;
  run: string;
  artifactDigest: string;
  approvedBy: string;
  approvedAt: string;
}

/** 100,000 pushes are about 50 MB. */
const MAX_PUSH_LOG_BYTES = 64 * 1024 * 1024;

function pushLog(pipelinePath: string): string {
  return join(mlpipeRootOf(pipelinePath), 'pushes.jsonl');
}

/** The approved package, or a GateError saying why there is none to push. */
export async function approvedPackage(pipelinePath: string): Promise<{ candidate: Candidate; pkg: ModelPackage }> {
  const probe = loadCandidate(pipelinePath);
  const approval = readApproval(probe.cardPath);
  const card = basename(probe.cardPath);
  if (!approval || approval.status !== 'approved') {
    throw new GateError(
      `${card} is not approved (approval.status: ${approval?.status ?? 'missing'}); nothing is pushed before an approval: mlpipe gate, then mlpipe approve --run ID --by NAME`,
    );
  }
  if (!approval.run || !approval.artifact_digest || !approval.by || !approval.at)
    throw new GateError(
      `${card}: the approval block lacks run, artifact_digest, by or at; approve again with mlpipe approve`,
    );
  const candidate = loadCandidate(pipelinePath, approval.run);
  if (candidate.artifactDigest !== approval.artifact_digest) {
    throw new GateError(
      `${card} approves ${approval.artifact_digest} of run ${approval.run}, but that run's ${candidate.artifactPath} is ${candidate.artifactDigest ?? 'not recorded'}: refusing to push an artifact nobody approved`,
    );
  }
  if (!candidate.cachedArtifact)
    throw new GateError(
      `the cache no longer holds the approved ${candidate.artifactPath} of run ${approval.run}; rerun that run's stages (mlpipe checkout shows which) and approve again`,
    );
  // The bytes pushed are the cache's own file, never a link planted in its place.
  const cachedArtifact = new ContentStore(join(mlpipeRootOf(pipelinePath), 'cache')).intactObject(
    approval.artifact_digest,
  );
  if (cachedArtifact !== candidate.cachedArtifact)
    throw new GateError(
      `the cached ${candidate.artifactPath} of run ${approval.run} is not a plain file in .mlpipe/cache (a link?); refusing to push it. Rerun the stage and approve again`,
    );
  const actual = await hashFile(candidate.cachedArtifact);
  if (actual !== approval.artifact_digest)
    throw new GateError(
      `the cached ${candidate.artifactPath} hashes to ${actual}, not the approved ${approval.artifact_digest}: it was changed after the approval; refusing to push`,
    );

  const root = mlpipeRootOf(pipelinePath);
  const cache = new ContentStore(join(root, 'cache'));
  const files: PackageFile[] = [
    {
      name: basename(candidate.artifactPath),
      file: candidate.cachedArtifact,
      role: 'model',
      digest: approval.artifact_digest,
    },
    { name: card, file: candidate.cardPath, role: 'card' },
  ];
  for (const stage of candidate.run.stages) {
    for (const path of Object.keys(stage.metrics ?? {})) {
      const hash = stage.outputs?.[path];
      const object = hash ? cache.intactObject(hash) : undefined;
      if (hash && object && !files.some((file) => file.name === path))
        files.push({ name: path, file: object, role: 'metrics', digest: hash });
    }
  }
  const record = join(root, 'runs', candidate.run.id, 'run.json');
  if (existsSync(record) && !lstatSync(record).isSymbolicLink())
    files.push({ name: 'mlpipe-run.json', file: record, role: 'record' });
  return {
    candidate,
    pkg: {
      name: candidate.card.name,
      version: candidate.card.version,
      files,
      artifactDigest: approval.artifact_digest,
      run: approval.run,
      approval: { by: approval.by, at: approval.at, ...(approval.note ? { note: approval.note } : {}) },
      metrics: approval.metrics ?? candidate.metrics,
      annotations: {
        ...(candidate.run.git ? { 'org.opencontainers.image.revision': candidate.run.git.commit } : {}),
        'org.opencontainers.image.description': `${candidate.card.name} ${candidate.card.version}, run ${approval.run}`,
      },
    },
  };
}

export interface PushOptions {
  /** `local` (default), `oci://host[:port]/repo[:tag]`, `oci+http://localhost:port/repo`, `mlflow` or `mlflow://...`. */
  target?: string;
  /** OCI credentials (VS Code's SecretStorage); the CLI reads ~/.docker/config.json. */
  credentials?: { username: string; password: string } | { token: string };
  caFile?: string;
  env?: NodeJS.ProcessEnv;
  onProgress?: PushProgress;
  signal?: AbortSignal;
}

export async function pushPackage(
  pipelinePath: string,
  pkg: ModelPackage,
  options: PushOptions = {},
): Promise<PushResult> {
  const target = options.target ?? LOCAL_TARGET;
  let result: PushResult;
  if (target === LOCAL_TARGET) {
    // The default layout lives in .mlpipe/: the workspace is its boundary (a committed `.mlpipe/registry` link is refused).
    const mlpipe = new MlpipeDir(mlpipeRootOf(pipelinePath));
    mlpipe.ensure();
    result = await pushToLayout(pkg, localRegistry(pipelinePath), {
      onProgress: options.onProgress,
      boundary: mlpipe.boundary,
    });
  } else if (target.startsWith('oci://') || target.startsWith('oci+http://')) {
    const oci = parseOciTarget(target);
    const credentials = options.credentials ?? dockerCredentials(oci.host);
    result = await pushToOci(pkg, oci, {
      ...(credentials ? { credentials } : {}),
      ...(options.caFile ? { caFile: options.caFile } : {}),
      onProgress: options.onProgress,
      signal: options.signal,
    });
  } else if (target === 'mlflow' || target.startsWith('mlflow://') || target.startsWith('mlflow+http://')) {
    const env = options.env ?? process.env;
    const uri = target === 'mlflow' ? trackingUri(undefined, env) : mlflowTargetUri(target);
    if (!uri)
      throw new PushError(
        'mlflow: no tracking server; set MLFLOW_TRACKING_URI (http://host:5000), or push to mlflow://host[:port] (HTTPS) or mlflow+http://localhost:PORT',
      );
    // The MLflow credentials in the environment belong to MLFLOW_TRACKING_URI's server: another host never gets them.
    const configured = trackingUri(undefined, env);
    const sameServer = configured !== undefined && new URL(configured).origin === new URL(uri).origin;
    const clientEnv = sameServer
      ? env
      : {
          ...env,
          MLFLOW_TRACKING_TOKEN: undefined,
          MLFLOW_TRACKING_USERNAME: undefined,
          MLFLOW_TRACKING_PASSWORD: undefined,
        };
    result = await pushToMlflowRegistry(pkg, {
      client: new MlflowClient(uri, { env: clientEnv }),
      mlpipeRoot: mlpipeRootOf(pipelinePath),
      pipelinePath,
      onProgress: options.onProgress,
    });
  } else {
    throw new PushError(
      `unknown target '${target}': use local, oci://host/repo[:tag], oci+http://localhost:PORT/repo, mlflow, mlflow://host[:port] or mlflow+http://localhost:PORT`,
    );
  }
  recordPush(pipelinePath, {
    at: new Date().toISOString(),
    target,
    reference: result.reference,
    tag: result.tag,
    digest: result.digest,
    name: pkg.name,
    version: pkg.version,
    run: pkg.run,
    artifactDigest: pkg.artifactDigest,
    approvedBy: pkg.approval.by,
    approvedAt: pkg.approval.at,
  });
  return result;
}

/** `mlflow://host[:port]` is HTTPS; `mlflow+http://` is plain HTTP, for this machine only (as for OCI targets). */
function mlflowTargetUri(target: string): string {
  const plain = target.startsWith('mlflow+http://');
  let url: URL;
  try {
    url = new URL(target.replace(/^mlflow(\+http)?:\/\//, plain ? 'http://' : 'https://'));
  } catch {
    throw new PushError(
      `'${redactUri(target)}' is not a valid target: use mlflow://host[:port] or mlflow+http://localhost:PORT`,
    );
  }
  if (plain && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname))
    throw new PushError(
      `mlflow+http:// sends the model unencrypted and is allowed only to this machine; use mlflow://${url.host} (HTTPS)`,
    );
  if (url.username || url.password)
    throw new PushError(
      'put no credentials in the target: MLflow credentials come from MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD',
    );
  return url.toString().replace(/\/+$/, '');
}

function recordPush(pipelinePath: string, record: PushRecord): void {
  const path = pushLog(pipelinePath);
  const mlpipe = new MlpipeDir(dirname(path));
  mlpipe.ensure();
  mlpipe.boundary.assertNoLinks(path, true);
  const release = acquireFileLock(`${path}.lock`);
  try {
    // Appended, never through a link planted in the log's place.
    const fd = openSync(
      path,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
      0o644,
    );
    try {
      writeSync(fd, `${JSON.stringify(record)}\n`);
    } finally {
      closeSync(fd);
    }
  } finally {
    release();
  }
}

/** Every push of this pipeline's models, newest first (lines cut short by a crash skipped). */
export function pushHistory(pipelinePath: string): PushRecord[] {
  let text: string | undefined;
  try {
    const path = pushLog(pipelinePath);
    text = readStateFile(new MlpipeDir(dirname(path)).boundary, path, MAX_PUSH_LOG_BYTES);
  } catch {
    return [];
  }
  if (text === undefined) return [];
  const records: PushRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      records.push(JSON.parse(line) as PushRecord);
    } catch {
      // a line cut short by a crash
    }
  }
  return records.reverse();
}
