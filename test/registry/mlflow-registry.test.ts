import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pushToMlflowRegistry, type MlflowPushResult } from '../../core/src/registry/mlflow-registry';
import { type ModelPackage, PushError } from '../../core/src/registry/types';
import { hashFile } from '../../core/src/runs/hash';
import { flattenMetrics, MlpipeDir, type RunRecord } from '../../core/src/runs/records';
import { ExperimentStore, summarize } from '../../core/src/store/store';
import { MlflowClient } from '../../core/src/tracking/mlflow';
import { mlflowMissing, startMlflow, type RunningMlflow } from '../support/mlflow-server';

const missing = mlflowMissing();
if (missing && process.env.CI) throw new Error(`MLflow tests cannot run: ${missing}`);

const DESCRIPTION = 'Logistic regression that scores how likely a customer is to cancel within 30 days.';

interface Workspace {
  root: string;
  pkg: ModelPackage;
  files: { model: string; card: string; metrics: string };
}

/**
 * A workspace whose `.mlpipe/` holds one finished run that wrote a model file, a metrics file and
 * sits beside a model card, and the package of that run as `mlpipe approve` would make it.
 */
async function makeWorkspace(
  dir: string,
  runId: string,
  options: { name?: string; seed?: number } = {},
): Promise<Workspace> {
  const write = (path: string, content: string | Buffer) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  };
  const name = options.name ?? 'churn-classifier';
  // A few KB of bytes that differ per seed: a stand-in for weights.
  const model = Buffer.concat(
    Array.from({ length: 96 }, (_, i) =>
      createHash('sha256')
        .update(`${options.seed ?? 1}:${i}`)
        .digest(),
    ),
  );
  write('models/model.npz', model);
  const evaluation = { auc: 0.81, accuracy: 0.77 };
  write('metrics/eval-test.json', JSON.stringify(evaluation));
  write(
    'modelcard.yaml',
    [
      `model:`,
      `  name: ${name}`,
      `  version: 1.2.0`,
      `  license: Apache-2.0`,
      `  description: >-`,
      `    ${DESCRIPTION}`,
      '',
    ].join('\n'),
  );
  const started = '2026-05-04T11:30:00.000Z';
  const ended = '2026-05-04T11:40:00.000Z';
  const modelDigest = await hashFile(join(dir, 'models/model.npz'));
  const record: RunRecord = {
    version: 1,
    id: runId,
    pipeline: 'mlpipe.yaml',
    name: 'churn',
    workspace: dir,
    status: 'succeeded',
    target: { stages: [], upstream: false, force: false },
    started,
    ended,
    pid: 999_999,
    host: 'test-host',
    params: { seed: options.seed ?? 1 },
    stages: [
      {
        name: 'train',
        stage: 'train',
        matrix: {},
        status: 'succeeded',
        host: 'local',
        image: 'localhost/mlpipe-python:3.11',
        command: 'python src/train.py',
        attempts: 1,
        exitCode: 0,
        started,
        ended,
        durationMs: 600_000,
        params: {},
        deps: {},
        outputs: {
          'models/model.npz': modelDigest,
          'metrics/eval-test.json': await hashFile(join(dir, 'metrics/eval-test.json')),
        },
        metrics: { 'metrics/eval-test.json': flattenMetrics(evaluation) },
        log: 'logs/train.log',
      },
    ],
  };
  const root = join(dir, '.mlpipe');
  const mlpipe = new MlpipeDir(root);
  mlpipe.ensure();
  mlpipe.writeRecord(record);
  ExperimentStore.open(root).record(summarize(record, []));
  const files = {
    model: join(dir, 'models/model.npz'),
    card: join(dir, 'modelcard.yaml'),
    metrics: join(dir, 'metrics/eval-test.json'),
  };
  return {
    root,
    files,
    pkg: {
      name,
      version: '1.2.0',
      files: [
        { name: 'model.npz', file: files.model, role: 'model', digest: modelDigest },
        { name: 'modelcard.yaml', file: files.card, role: 'card' },
        { name: 'metrics/eval-test.json', file: files.metrics, role: 'metrics' },
      ],
      artifactDigest: modelDigest,
      run: runId,
      approval: { by: 'dana@example.com', at: '2026-05-04T12:00:00Z', note: 'Meets the release thresholds.' },
      metrics: { 'eval-test.auc': 0.81, 'eval-test.accuracy': 0.77 },
      annotations: {},
    },
  };
}

/** The PushError a promise rejects with. */
async function pushError(promise: Promise<unknown>): Promise<PushError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PushError, `not a PushError: ${String(error)}`);
    return error;
  }
  return assert.fail('the push succeeded');
}

interface WireVersion {
  name: string;
  version: string;
  source: string;
  run_id: string;
  status: string;
  tags?: { key: string; value: string }[];
  aliases?: string[];
}

describe('pushing to the MLflow Model Registry of a real MLflow server', { skip: missing }, () => {
  let server: RunningMlflow;
  let client: MlflowClient;
  let first: Workspace;
  let firstPush: MlflowPushResult;
  const temporary: string[] = [];
  const workspaceDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-registry-'));
    temporary.push(dir);
    return dir;
  };

  /** MLflow's REST API as a test reads it: status and JSON body, no client in between. */
  const rest = async <T>(
    method: 'GET' | 'POST',
    endpoint: string,
    input: Record<string, string>,
  ): Promise<{ status: number; body: T }> => {
    const url = new URL(`${server.uri}/api/2.0/mlflow/${endpoint}`);
    if (method === 'GET') for (const [key, value] of Object.entries(input)) url.searchParams.set(key, value);
    const response = await fetch(
      url,
      method === 'GET' ? {} : { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(input) },
    );
    return { status: response.status, body: (await response.json()) as T };
  };
  const getVersion = async (name: string, version: string) =>
    (await rest<{ model_version: WireVersion }>('GET', 'model-versions/get', { name, version })).body.model_version;
  const versionsOf = async (name: string) =>
    (await rest<{ model_versions?: WireVersion[] }>('GET', 'model-versions/search', { filter: `name = '${name}'` }))
      .body.model_versions ?? [];
  const aliasOf = async (name: string, alias: string) =>
    (await rest<{ model_version: WireVersion }>('GET', 'registered-models/alias', { name, alias })).body.model_version
      .version;

  before(async () => {
    server = await startMlflow();
    client = new MlflowClient(server.uri, { env: {} });
  });

  after(async () => {
    await server?.stop();
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
  });

  it('pushes an approved version: run, artifacts, registered model, a READY version, its tags and the alias', async () => {
    first = await makeWorkspace(workspaceDir(), '20260504-113000-000-a1b2');
    const events: unknown[] = [];
    firstPush = await pushToMlflowRegistry(first.pkg, {
      client,
      mlpipeRoot: first.root,
      onProgress: (event) => events.push(event),
    });

    const sizes = Object.values(first.files).map((file) => readFileSync(file).length);
    // Plain HTTP is mlflow+http://; mlflow:// would mean HTTPS.
    assert.equal(firstPush.target, `mlflow+http://127.0.0.1:${server.port}`);
    assert.equal(firstPush.reference, 'models:/churn-classifier@champion');
    assert.equal(firstPush.versionReference, 'models:/churn-classifier/1');
    assert.equal(firstPush.digest, '1');
    assert.equal(firstPush.tag, '1.2.0');
    assert.equal(firstPush.reusedVersion, false);
    // The three files and the MLmodel that makes model/ an MLflow Model (mlflow-model.test.ts loads one).
    const mlmodel = (
      await client.downloadArtifact((await client.getRun(firstPush.runId)).info.artifactUri, 'model/MLmodel')
    ).length;
    assert.deepEqual(
      [firstPush.uploadedBlobs, firstPush.skippedBlobs, firstPush.bytesUploaded],
      [4, 0, sizes.reduce((sum, size) => sum + size, mlmodel)],
    );
    assert.ok(
      events.some(
        (event) => JSON.stringify(event) === JSON.stringify({ file: 'model.npz', bytes: sizes[0], total: sizes[0] }),
      ),
    );

    // The run is the one `mlpipe sync` makes for this mlpipe run.
    const run = await client.getRun(firstPush.runId);
    assert.equal(run.data.tags['mlpipe.run_id'], first.pkg.run);
    assert.equal(run.info.status, 'FINISHED');

    const registered = await rest<{ registered_model: { name: string; description?: string } }>(
      'GET',
      'registered-models/get',
      { name: 'churn-classifier' },
    );
    assert.equal(registered.status, 200);
    assert.equal(registered.body.registered_model.description, DESCRIPTION);

    const version = await getVersion('churn-classifier', '1');
    assert.equal(version.status, 'READY');
    assert.equal(version.run_id, firstPush.runId);
    assert.equal(version.source, `${run.info.artifactUri}/model`);
    assert.deepEqual(Object.fromEntries((version.tags ?? []).map((tag) => [tag.key, tag.value])), {
      'mlpipe.run_id': first.pkg.run,
      'mlpipe.artifact_digest': first.pkg.artifactDigest,
      'mlpipe.version': '1.2.0',
      'mlpipe.approval.by': 'dana@example.com',
      'mlpipe.approval.at': '2026-05-04T12:00:00Z',
      'mlpipe.approval.note': 'Meets the release thresholds.',
      'mlpipe.card': 'modelcard.yaml',
    });
    assert.deepEqual(version.aliases, ['champion']);
    assert.equal(await aliasOf('churn-classifier', 'champion'), '1');

    // What MLflow serves for the version's source is the package, byte for byte.
    assert.deepEqual(
      (await client.listArtifacts(firstPush.runId, 'model')).map((entry) => [entry.path, entry.isDir]).sort(),
      [
        ['model/MLmodel', false],
        ['model/metrics', true],
        ['model/model.npz', false],
        ['model/modelcard.yaml', false],
      ],
    );
    for (const file of first.pkg.files) {
      const bytes = await client.downloadArtifact(run.info.artifactUri, `model/${file.name}`);
      assert.ok(bytes.equals(readFileSync(file.file)), file.name);
    }
    assert.equal(
      `sha256:${createHash('sha256')
        .update(await client.downloadArtifact(run.info.artifactUri, 'model/model.npz'))
        .digest('hex')}`,
      first.pkg.artifactDigest,
    );
  });

  it('pushing again reuses the version and uploads nothing; another alias points at it too', async () => {
    const again = await pushToMlflowRegistry(first.pkg, { client, mlpipeRoot: first.root, alias: 'staging' });
    assert.equal(again.reusedVersion, true);
    assert.equal(again.digest, '1');
    assert.equal(again.runId, firstPush.runId);
    assert.equal(again.reference, 'models:/churn-classifier@staging');
    assert.deepEqual([again.uploadedBlobs, again.skippedBlobs, again.bytesUploaded], [0, 4, 0]);
    assert.deepEqual(
      (await versionsOf('churn-classifier')).map((version) => version.version),
      ['1'],
    );
    assert.equal(await aliasOf('churn-classifier', 'staging'), '1');
    assert.equal(await aliasOf('churn-classifier', 'champion'), '1');
    const runs = await client.searchRuns({
      experimentIds: [(await client.getRun(firstPush.runId)).info.experimentId],
      filter: `tags.\`mlpipe.run_id\` = '${first.pkg.run}'`,
    });
    assert.equal(runs.runs.length, 1);
  });

  it('a card edited after a push (same size) is uploaded again; the version stays', async () => {
    const card = readFileSync(first.files.card, 'utf8');
    writeFileSync(first.files.card, card.replace('Apache-2.0', 'Apache-2.1'));
    try {
      const edited = await pushToMlflowRegistry(first.pkg, { client, mlpipeRoot: first.root });
      assert.deepEqual([edited.uploadedBlobs, edited.skippedBlobs, edited.digest], [1, 3, '1']);
      const run = await client.getRun(firstPush.runId);
      assert.match(
        (await client.downloadArtifact(run.info.artifactUri, 'model/modelcard.yaml')).toString(),
        /Apache-2\.1/,
      );
    } finally {
      writeFileSync(first.files.card, card);
    }
  });

  it('a newly approved model of another run becomes version 2 and takes the alias', async () => {
    const second = await makeWorkspace(workspaceDir(), '20260505-090000-000-c3d4', { seed: 2 });
    const pushed = await pushToMlflowRegistry(second.pkg, { client, mlpipeRoot: second.root });
    assert.equal(pushed.digest, '2');
    assert.equal(pushed.reusedVersion, false);
    assert.notEqual(pushed.runId, firstPush.runId);
    assert.equal(await aliasOf('churn-classifier', 'champion'), '2');
    assert.equal(await aliasOf('churn-classifier', 'staging'), '1');
    const version = await getVersion('churn-classifier', '2');
    assert.equal(version.status, 'READY');
    assert.equal(version.tags?.find((tag) => tag.key === 'mlpipe.artifact_digest')?.value, second.pkg.artifactDigest);
  });

  it('refuses a model file that is not the approved one and registers nothing', async () => {
    const tampered = await makeWorkspace(workspaceDir(), '20260506-000000-000-dead', {
      name: 'tampered-model',
      seed: 3,
    });
    writeFileSync(tampered.files.model, Buffer.concat([readFileSync(tampered.files.model), Buffer.from([0])]));
    const error = await pushError(pushToMlflowRegistry(tampered.pkg, { client, mlpipeRoot: tampered.root }));
    assert.match(
      error.message,
      /models\/model\.npz is not the approved model\.npz of tampered-model 1\.2\.0: its sha256 is sha256:[0-9a-f]{64}, the approval is for sha256:[0-9a-f]{64}.*Nothing was pushed/,
    );
    const registered = await rest<{ error_code?: string }>('GET', 'registered-models/get', { name: 'tampered-model' });
    assert.equal(registered.status, 404);
    assert.equal(registered.body.error_code, 'RESOURCE_DOES_NOT_EXIST');
    const experiment = await client.getExperimentByName('mlpipe/churn');
    assert.ok(experiment);
    const runs = await client.searchRuns({
      experimentIds: [experiment.experimentId],
      filter: `tags.\`mlpipe.run_id\` = '${tampered.pkg.run}'`,
    });
    assert.equal(runs.runs.length, 0, 'the run was not sent either');
  });

  it('says what is wrong with a run that has no record and an alias MLflow refuses', async () => {
    const missingRun = await pushError(
      pushToMlflowRegistry({ ...first.pkg, run: '20990101-000000-000-ffff' }, { client, mlpipeRoot: first.root }),
    );
    assert.match(
      missingRun.message,
      /run 20990101-000000-000-ffff, which the approval of churn-classifier 1\.2\.0 names, has no record in .*\.mlpipe; push from the workspace that ran it/,
    );

    const reserved = await pushError(pushToMlflowRegistry(first.pkg, { client, mlpipeRoot: first.root, alias: 'v3' }));
    assert.equal(reserved.status, 400);
    assert.match(
      reserved.message,
      /setting the alias v3 \(registered-models\/alias\): MLflow at http:\/\/127\.0\.0\.1:\d+: POST registered-models\/alias answered HTTP 400 INVALID_PARAMETER_VALUE: .*reserved.*; 'v3' cannot be an MLflow alias .*choose another alias/,
    );
  });

  // Last: the server stays down; `after` removes it.
  it('a push while the server is down is a PushError that names the server', async () => {
    await server.halt();
    const error = await pushError(pushToMlflowRegistry(first.pkg, { client, mlpipeRoot: first.root }));
    const uri = server.uri.replace(/\./g, '\\.');
    assert.match(
      error.message,
      new RegExp(
        `^pushing churn-classifier 1\\.2\\.0 to the MLflow Model Registry at ${uri} failed while sending run ${first.pkg.run}: could not connect to MLflow at ${uri} .*ECONNREFUSED.*is the server running at ${uri}\\?`,
      ),
    );
  });
});
