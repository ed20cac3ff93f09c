import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { hashFile } from '../runs/hash';
import { logRun, MlflowError, type MlflowClient } from '../tracking/mlflow';
import { loadRunForTracking } from '../tracking/outbox';
import { redactText } from '../tracking/transfer';
import { mlflowModelFiles, pipelineFlavor } from './mlflow-model';
import { type ModelPackage, type PackageFile, PushError, type PushProgress, type PushResult } from './types';

/*
 * An approved model version in the MLflow Model Registry, over MLflow's REST API 2.0.
 *
 * - The mlpipe run that produced the model is sent first with `logRun` (the same MLflow run as
 *   `mlpipe sync`, found again by its `mlpipe.run_id` tag).
 * - The package's files (model, card, metrics) become artifacts of that run under `model/`,
 *   written where the run's artifact URI says (the server's proxy, or a local folder: see
 *   tracking/mlflow-artifacts.ts), with an `MLmodel` (and any loader code) that makes the folder an
 *   MLflow Model: `mlflow.pyfunc.load_model("models:/<name>@<alias>")` loads it (mlflow-model.ts). A file already there with the same size is not
 *   sent again; the bytes of files without a known digest (card, metrics) are compared too when
 *   they are small, since a card edited after a push can keep its size. The model file's sha256
 *   is checked against the approved digest before anything is sent.
 * - The registered model (the card's name unless told otherwise) is created when missing, with
 *   the card's `model.description` as its description.
 * - A model version is `<run artifact URI>/model` with the run's id. The version carrying the tag
 *   `mlpipe.artifact_digest` = the approved digest is reused, so pushing again changes nothing;
 *   otherwise a version is created and awaited until MLflow says READY.
 * - Version tags: `mlpipe.run_id`, `mlpipe.artifact_digest`, `mlpipe.version` (the card's
 *   version), `mlpipe.approval.by`, `.at`, `.note`, and `mlpipe.card` (the card's file name).
 * - The alias (`champion` unless told otherwise) is moved to the version: `models:/<name>@<alias>`.
 */

/** Files up to this size are compared byte for byte with the artifact of the same size. */
const COMPARE_BYTES_LIMIT = 1024 * 1024;
const DEFAULT_READY_TIMEOUT_MS = 5 * 60_000;
const TAG_VALUE_LIMIT = 5000;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const RUN_ID = /^[A-Za-z0-9_@-][A-Za-z0-9_.@-]*$/;

export interface MlflowPushOptions {
  client: MlflowClient;
  /** The workspace's `.mlpipe` folder, which holds the run that produced the model. */
  mlpipeRoot: string;
  /** Registered model name; the package's name when absent. */
  modelName?: string;
  /** Alias moved to the pushed version; `champion` when absent. */
  alias?: string;
  onProgress?: PushProgress;
  /** The target as the user wrote it, for the result; from the tracking URI when absent (mlflowTargetOf). */
  target?: string;
  /** How long a new version may stay PENDING_REGISTRATION. */
  readyTimeoutMs?: number;
  /** The pipeline whose `model.flavor` / `model.loader` say how MLflow loads the model (mlflow-model.ts); no flavor when absent. */
  pipelinePath?: string;
}

export interface MlflowPushResult extends PushResult {
  /** Registered model name and version number. */
  model: string;
  version: string;
  /** `models:/<name>/<version>`: the version itself, whatever the alias points at later. */
  versionReference: string;
  /** The MLflow run the version's source belongs to. */
  runId: string;
  /** The version existed already (same approved digest) and was reused. */
  reusedVersion: boolean;
}

type RestMethod = 'GET' | 'POST';
type RestRequest = <T>(method: RestMethod, endpoint: string, input?: Record<string, unknown>) => Promise<T>;

interface WireTag {
  key: string;
  value: string;
}

interface WireModelVersion {
  name: string;
  version: string;
  source?: string;
  run_id?: string;
  status?: 'PENDING_REGISTRATION' | 'FAILED_REGISTRATION' | 'READY';
  status_message?: string;
  tags?: WireTag[];
}

/**
 * The push target that names a tracking server: `mlflow://host[:port][/prefix]` for HTTPS (as
 * `mlpipe push --to` reads it), `mlflow+http://...` for plain HTTP, never the one for the other.
 */
export function mlflowTargetOf(uri: string): string {
  const url = new URL(uri);
  return `${url.protocol === 'http:' ? 'mlflow+http' : 'mlflow'}://${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/** The registry endpoints, through the client: its credentials and its error messages. */
function restRequest(client: MlflowClient): RestRequest {
  return client.request.bind(client) as RestRequest;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The card's `model.description`, for the registered model; undefined when it has none or does not parse. */
function cardDescription(file: string): string | undefined {
  try {
    const card = parseYaml(readFileSync(file, 'utf8')) as { model?: { description?: unknown } } | null;
    const description = card?.model?.description;
    return typeof description === 'string' && description.trim() ? description.trim() : undefined;
  } catch {
    return undefined;
  }
}

function cut(value: string, limit = TAG_VALUE_LIMIT): string {
  return value.length <= limit ? value : `${value.slice(0, limit - 20)} ... [cut by mlpipe]`;
}

/** The artifact path of a package file below the run's artifact root. */
function artifactPath(file: PackageFile): string {
  const parts = file.name.split(/[\\/]+/).filter((part) => part !== '' && part !== '.');
  if (parts.length === 0 || parts.includes('..') || /^([A-Za-z]:|[\\/])/.test(file.name)) {
    throw new PushError(
      `package file name '${file.name}' is not a relative path inside the package; name files like model.npz or metrics/eval.json`,
    );
  }
  return ['model', ...parts].join('/');
}

/**
 * Pushes an approved model version to the MLflow Model Registry of `client`'s server (see the
 * mapping at the top of this file). Idempotent: pushing the same package again uploads nothing,
 * reuses the version and sets the alias again.
 */
export async function pushToMlflowRegistry(pkg: ModelPackage, options: MlflowPushOptions): Promise<MlflowPushResult> {
  const { client, mlpipeRoot } = options;
  const name = options.modelName ?? pkg.name;
  const alias = options.alias ?? 'champion';
  const progress = options.onProgress ?? (() => undefined);
  const request = restRequest(client);
  const what = `${name} ${pkg.version}`;
  const target = options.target ?? mlflowTargetOf(client.uri);

  /** What a failure leaves behind, said with every error: a push cut short is never taken for done. */
  let leftBehind = `NOT PUSHED: no version of ${name} was registered and the alias ${alias} is unchanged; push again`;
  /** Runs one step, turning an MLflow failure into a PushError that says which step, what to do and what is left. */
  const step = async <T>(
    doing: string,
    action: () => Promise<T>,
    next?: (error: MlflowError) => string | undefined,
  ): Promise<T> => {
    try {
      return await action();
    } catch (error) {
      if (error instanceof PushError) throw error;
      const advice = error instanceof MlflowError ? next?.(error) : undefined;
      const status = error instanceof MlflowError ? error.status : undefined;
      throw new PushError(
        redactText(
          `pushing ${what} to the MLflow Model Registry at ${client.uri} failed while ${doing}: ${messageOf(error)}${advice ? `; ${advice}` : ''}. ${leftBehind}.`,
        ),
        status,
      );
    }
  };

  if (!name.trim())
    throw new PushError('the model has no name: set model.name in the model card, or give a registered model name');
  if (!DIGEST.test(pkg.artifactDigest))
    throw new PushError(
      `the approved digest '${pkg.artifactDigest}' of ${what} is not sha256:<64 hex digits>; approve the model again (mlpipe approve)`,
    );
  if (!RUN_ID.test(pkg.run))
    throw new PushError(
      `'${pkg.run}', the run the approval of ${what} names, is not an mlpipe run id; fix approval.run in the model card`,
    );
  const models = pkg.files.filter((file) => file.role === 'model');
  if (models.length === 0)
    throw new PushError(
      `the package of ${what} has no model file; set model.artifact in the pipeline to the file the approval is for`,
    );
  // One model file is the approved artifact itself; the files of a model folder carry their own digests.
  const expectedDigest = (file: PackageFile) =>
    file.role === 'model' && models.length === 1 ? pkg.artifactDigest : file.digest;
  const paths = new Map(pkg.files.map((file) => [file, artifactPath(file)]));

  // How MLflow will load it: checked before anything is sent.
  const flavor = options.pipelinePath ? pipelineFlavor(options.pipelinePath) : {};

  // Nothing goes to MLflow unless every file is there and the model is exactly what was approved.
  progress({ message: `checking ${models.map((file) => file.name).join(', ')} against the approved digest` });
  for (const file of pkg.files) {
    let isFile = false;
    try {
      isFile = statSync(file.file).isFile();
    } catch {
      // reported below
    }
    if (!isFile)
      throw new PushError(
        `${file.file} (${file.name} of ${what}) is missing; run the pipeline again (mlpipe run) or restore it from the cache`,
      );
    const expected = expectedDigest(file);
    if (!expected) continue;
    const actual = await hashFile(file.file);
    if (actual !== expected) {
      throw new PushError(
        `${file.file} is not the approved ${file.name} of ${what}: its sha256 is ${actual}, the approval is for ${expected}. It changed after it was approved; restore it (mlpipe checkout ${pkg.run}) or approve the run that made the new one (mlpipe approve). Nothing was pushed.`,
      );
    }
  }

  // 1. The run, so the version's source and lineage exist in MLflow.
  const input = loadRunForTracking(mlpipeRoot, pkg.run);
  if (!input) {
    throw new PushError(
      `run ${pkg.run}, which the approval of ${what} names, has no record in ${mlpipeRoot}; push from the workspace that ran it, or run the pipeline again and approve that run`,
    );
  }
  progress({ message: `sending run ${pkg.run} to MLflow at ${client.uri}` });
  const logged = await step(`sending run ${pkg.run}`, () => logRun(client, input));
  for (const warning of logged.warnings) progress({ message: `note: ${warning}` });
  if (logged.incomplete.length > 0) {
    throw new PushError(
      redactText(
        `pushing ${what} to the MLflow Model Registry at ${client.uri} failed: run ${pkg.run} went only in part (${logged.incomplete.join('; ')}), and the model's files need the same artifact upload. ${leftBehind}.`,
      ),
    );
  }
  const run = await step('reading the run back (runs/get)', () => client.getRun(logged.runId));
  const artifactUri = run.info.artifactUri;
  const workspace = dirname(resolve(mlpipeRoot));

  // 2. The files, as artifacts of the run under model/, with the MLmodel that makes them an MLflow Model.
  const model = mlflowModelFiles(pkg, flavor, logged.runId);
  let uploadedBlobs = 0;
  let skippedBlobs = 0;
  let bytesUploaded = 0;
  try {
    // The generated files carry no digest: compared byte for byte like the card (they are small).
    const uploads: PackageFile[] = [
      ...pkg.files,
      ...model.files.map((one) => ({ name: one.name, file: one.file, role: 'record' as const })),
    ];
    for (const file of uploads) if (!paths.has(file)) paths.set(file, artifactPath(file));
    const remote = new Map<string, number | undefined>();
    const folders = new Set([...paths.values()].map((path) => path.slice(0, path.lastIndexOf('/'))));
    for (const folder of folders) {
      const listed = await step(`listing the run's artifacts (artifacts/list ${folder})`, () =>
        client.listArtifacts(logged.runId, folder),
      );
      for (const entry of listed) if (!entry.isDir) remote.set(entry.path, entry.fileSize);
    }
    for (const file of uploads) {
      const path = paths.get(file)!;
      const size = statSync(file.file).size;
      let same = remote.get(path) === size;
      // A file whose digest was just checked is what the approval says; others are compared when small.
      if (same && !expectedDigest(file) && size <= COMPARE_BYTES_LIMIT) {
        const there = await step(`reading the artifact ${path}`, () =>
          client.downloadArtifact(artifactUri, path, COMPARE_BYTES_LIMIT, { workspace }),
        );
        same = there.equals(readFileSync(file.file));
      }
      if (same) {
        skippedBlobs++;
        continue;
      }
      progress({ file: file.name, bytes: 0, total: size });
      await step(`uploading ${file.name} as the artifact ${path}`, () =>
        client.uploadArtifact(artifactUri, path, file.file, { workspace }),
      );
      progress({ file: file.name, bytes: size, total: size });
      uploadedBlobs++;
      bytesUploaded += size;
    }
  } finally {
    model.cleanup();
  }

  // 3. The registered model.
  const card = pkg.files.find((file) => file.role === 'card');
  const description = card ? cardDescription(card.file) : undefined;
  await step(
    `creating the registered model ${name} (registered-models/create)`,
    async () => {
      try {
        await request('POST', 'registered-models/create', { name, ...(description ? { description } : {}) });
        progress({ message: `created the registered model ${name}` });
      } catch (error) {
        if (!(error instanceof MlflowError && error.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw error;
      }
    },
    (error) => (error.errorCode === 'INVALID_PARAMETER_VALUE' ? 'choose another registered model name' : undefined),
  );

  // 4. The version: the one with this digest, else a new one.
  const source = `${artifactUri.replace(/\/+$/, '')}/model`;
  let version = await step('looking for a version with this digest (model-versions/search)', () =>
    findVersion(request, name, pkg.artifactDigest),
  );
  const reusedVersion = version !== undefined;
  if (!version) {
    progress({ message: `registering ${name} from ${source}` });
    const created = await step(`creating a version of ${name} (model-versions/create)`, () =>
      request<{ model_version: WireModelVersion }>('POST', 'model-versions/create', {
        name,
        source,
        run_id: logged.runId,
        // The digest goes in with the version, so a push cut short here still finds it next time.
        tags: [
          { key: 'mlpipe.artifact_digest', value: pkg.artifactDigest },
          { key: 'mlpipe.run_id', value: pkg.run },
        ],
        description: cut(
          `${pkg.name} ${pkg.version} from mlpipe run ${pkg.run}, approved by ${pkg.approval.by} at ${pkg.approval.at}${pkg.approval.note ? `: ${pkg.approval.note}` : ''}`,
        ),
      }),
    );
    version = created.model_version;
  }
  leftBehind = `NOT PUSHED: version ${version.version} of ${name} exists (tagged with the approved digest, so pushing again reuses it), but the alias ${alias} was not moved to it; push again`;
  const ready = await step(`waiting for version ${version.version} of ${name} to be READY (model-versions/get)`, () =>
    waitUntilReady(request, name, version.version, options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, client.uri),
  );

  // 5. Tags, sent only when they differ (a re-push after a card edit updates the note).
  const tags: Record<string, string> = {
    'mlpipe.run_id': pkg.run,
    'mlpipe.artifact_digest': pkg.artifactDigest,
    'mlpipe.version': pkg.version,
    'mlpipe.approval.by': pkg.approval.by,
    'mlpipe.approval.at': pkg.approval.at,
    ...(pkg.approval.note ? { 'mlpipe.approval.note': cut(pkg.approval.note) } : {}),
    ...(card ? { 'mlpipe.card': card.name } : {}),
  };
  const current = new Map((ready.tags ?? []).map((tag) => [tag.key, tag.value]));
  for (const [key, value] of Object.entries(tags)) {
    if (current.get(key) === value) continue;
    await step(`tagging version ${ready.version} (model-versions/set-tag ${key})`, () =>
      request('POST', 'model-versions/set-tag', { name, version: ready.version, key, value }),
    );
  }

  // 6. The alias.
  await step(
    `setting the alias ${alias} (registered-models/alias)`,
    () => request('POST', 'registered-models/alias', { name, alias, version: ready.version }),
    (error) =>
      error.errorCode === 'INVALID_PARAMETER_VALUE'
        ? `'${alias}' cannot be an MLflow alias (latest and v<number> are reserved); choose another alias`
        : undefined,
  );
  const reference = `models:/${name}@${alias}`;
  const versionReference = `models:/${name}/${ready.version}`;
  progress({ message: `${reference} is ${versionReference}${reusedVersion ? ' (already registered)' : ''}` });

  return {
    target,
    reference,
    tag: pkg.version,
    digest: ready.version,
    uploadedBlobs,
    skippedBlobs,
    bytesUploaded,
    model: name,
    version: ready.version,
    versionReference,
    runId: logged.runId,
    reusedVersion,
  };
}

/** The lowest version of `name` tagged with this digest that did not fail to register. */
async function findVersion(request: RestRequest, name: string, digest: string): Promise<WireModelVersion | undefined> {
  // Filtered by the tag only: the digest needs no quoting, a model name might.
  const filter = `tags.\`mlpipe.artifact_digest\` = '${digest}'`;
  const found: WireModelVersion[] = [];
  const seen = new Set<string>();
  let pageToken: string | undefined;
  for (;;) {
    const page = await request<{ model_versions?: WireModelVersion[]; next_page_token?: string }>(
      'GET',
      'model-versions/search',
      { filter, max_results: 1000, page_token: pageToken },
    );
    found.push(
      ...(page.model_versions ?? []).filter((one) => one.name === name && one.status !== 'FAILED_REGISTRATION'),
    );
    if (!page.next_page_token || seen.has(page.next_page_token)) break;
    seen.add(page.next_page_token);
    pageToken = page.next_page_token;
  }
  return found.sort((a, b) => Number(a.version) - Number(b.version))[0];
}

/** Polls the version until READY; FAILED_REGISTRATION and the timeout are errors. */
async function waitUntilReady(
  request: RestRequest,
  name: string,
  version: string,
  timeoutMs: number,
  uri: string,
): Promise<WireModelVersion> {
  const deadline = Date.now() + timeoutMs;
  let interval = 50;
  for (;;) {
    const { model_version: current } = await request<{ model_version: WireModelVersion }>('GET', 'model-versions/get', {
      name,
      version,
    });
    if (current.status === 'READY' || current.status === undefined) return current;
    if (current.status === 'FAILED_REGISTRATION') {
      throw new PushError(
        `MLflow at ${uri} could not register version ${version} of ${name}: ${current.status_message || 'FAILED_REGISTRATION'}; see the MLflow server's log, then push again (a new version is made)`,
      );
    }
    if (Date.now() >= deadline) {
      throw new PushError(
        `version ${version} of ${name} at ${uri} is still ${current.status} after ${Math.round(timeoutMs / 1000)} s; push again later to pick it up once MLflow has registered it`,
      );
    }
    await new Promise((done) => setTimeout(done, interval));
    interval = Math.min(interval * 2, 1000);
  }
}
