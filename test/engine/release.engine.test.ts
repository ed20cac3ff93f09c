import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX_IMAGE, PYTHON_IMAGE, ensureImages } from '../../scripts/sample-image';
import { enginesMissing, startDockerd, type RunningEngine } from '../support/engines';
import { ROOT } from '../support/files';
import { mlflowMissing, startMlflow, type RunningMlflow } from '../support/mlflow-server';
import { lastRecord, mlpipe } from '../support/mlpipe-cli';
import { registryMissing, startRegistry, type RunningRegistry } from '../support/registry';

const missing = enginesMissing() ?? registryMissing() ?? mlflowMissing();
if (missing && process.env.CI) throw new Error(`Release tests cannot run: ${missing}`);

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * The release loop as a new user meets it, on a real run of the sample pipeline: `mlpipe gate`,
 * `approve`, `push` to the local layout, a real OCI registry (CNCF Distribution) and a real MLflow
 * Model Registry, and the refusals.
 */
describe('gate, approve and push the sample model (dockerd, docker-registry, mlflow)', { skip: missing }, () => {
  let engine: RunningEngine;
  let registry: RunningRegistry;
  let server: RunningMlflow;
  let workspace: string;
  const env = () => ({ DOCKER_HOST: engine.address });
  const git = (...args: string[]) =>
    spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
      cwd: workspace,
      encoding: 'utf8',
    });

  before(async () => {
    [engine, registry, server] = await Promise.all([startDockerd(), startRegistry(), startMlflow()]);
    await ensureImages(engine.docker, [PYTHON_IMAGE, BUSYBOX_IMAGE]);
    workspace = mkdtempSync(join(tmpdir(), 'mlpipe-release-'));
    cpSync(join(ROOT, 'sample-workspace'), workspace, { recursive: true });
    git('init', '-q');
    git('add', '-A');
    git('commit', '-qm', 'sample');
    const run = mlpipe(['run'], workspace, env());
    assert.equal(run.status, 0, run.stderr);
  });

  after(async () => {
    await Promise.all([engine?.stop(), registry?.stop(), server?.stop()]);
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it('passes the gate with each condition explained, and refuses to push before an approval', () => {
    const gate = mlpipe(['gate'], workspace, env());
    assert.equal(gate.status, 0, gate.stdout + gate.stderr);
    const run = lastRecord(workspace);
    assert.match(gate.stdout, new RegExp(`^gate for run ${run.id}`));
    for (const name of ['run', 'card', 'metrics', 'artifact', 'clean'])
      assert.match(gate.stdout, new RegExp(`^ {2}pass {2}${name}`, 'm'));
    assert.match(gate.stdout, /^ {2}pass {2}metrics +auc 0\.\d+ meets >= 0\.75; accuracy 0\.\d+ meets >= 0\.7$/m);
    const json = JSON.parse(mlpipe(['gate', '--format', 'json'], workspace, env()).stdout) as {
      passed: boolean;
      artifact: { digest: string };
    };
    assert.equal(json.passed, true);
    assert.equal(json.artifact.digest, sha256(readFileSync(join(workspace, 'models/model.npz'))));
    const early = mlpipe(['push'], workspace, env());
    assert.equal(early.status, 1);
    assert.match(
      early.stderr,
      /modelcard\.yaml is not approved \(approval\.status: pending\); nothing is pushed before an approval/,
    );
  });

  it('refuses to approve a run whose metrics miss the card', () => {
    const card = join(workspace, 'modelcard.yaml');
    const original = readFileSync(card, 'utf8');
    writeFileSync(card, original.replace('threshold: ">= 0.75"', 'threshold: ">= 0.99"'));
    const refused = mlpipe(['approve', '--by', 'Reviewer'], workspace, env());
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /FAIL {2}metrics +auc 0\.\d+ misses >= 0\.99/);
    assert.match(refused.stderr, /not approved: the gate failed for run \S+ \(metrics\)/);
    writeFileSync(card, original);
  });

  it('approves: the card gets the approval block, reviewed like code', () => {
    const approve = mlpipe(['approve', '--by', 'Ada Reviewer', '--note', 'meets the bar'], workspace, env());
    assert.equal(approve.status, 0, approve.stderr);
    const card = readFileSync(join(workspace, 'modelcard.yaml'), 'utf8');
    const run = lastRecord(workspace);
    assert.match(
      card,
      /^approval:\n {2}status: approved\n {2}by: Ada Reviewer\n {2}at: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n {2}run: \S+\n {2}artifact_digest: sha256:[0-9a-f]{64}\n {2}note: meets the bar\n {2}metrics:\n/m,
    );
    assert.ok(card.includes(`run: ${run.id}`));
    assert.ok(card.startsWith('pipeline: mlpipe.yaml'), 'the rest of the card is kept');
    assert.equal(mlpipe(['check', 'modelcard.yaml'], workspace).status, 0, 'the approved card still checks clean');
  });

  it('pushes to the local OCI layout, idempotently', () => {
    const push = mlpipe(['push', '--format', 'json'], workspace, env());
    assert.equal(push.status, 0, push.stderr);
    const result = JSON.parse(push.stdout) as {
      tag: string;
      digest: string;
      uploadedBlobs: number;
      skippedBlobs: number;
    };
    assert.equal(result.tag, '1.0.0');
    const layout = join(workspace, '.mlpipe/registry');
    assert.deepEqual(JSON.parse(readFileSync(join(layout, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    const manifestBytes = readFileSync(join(layout, 'blobs/sha256', result.digest.slice(7)));
    assert.equal(sha256(manifestBytes), result.digest);
    const manifest = JSON.parse(manifestBytes.toString()) as {
      layers: { digest: string; annotations?: Record<string, string> }[];
    };
    const model = manifest.layers.find(
      (layer) => layer.annotations?.['org.opencontainers.image.title'] === 'model.npz',
    );
    assert.ok(model, 'the model is a layer titled model.npz');
    assert.ok(
      readFileSync(join(layout, 'blobs/sha256', model.digest.slice(7))).equals(
        readFileSync(join(workspace, 'models/model.npz')),
      ),
    );
    const again = JSON.parse(mlpipe(['push', '--format', 'json'], workspace, env()).stdout) as {
      digest: string;
      uploadedBlobs: number;
    };
    assert.equal(again.digest, result.digest);
    assert.equal(again.uploadedBlobs, 0);
  });

  it('pushes to a real OCI registry; every blob pulled back matches; a second push uploads nothing', async () => {
    const target = `oci+http://${registry.host}/models/churn`;
    const push = mlpipe(['push', '--to', target, '--format', 'json'], workspace, env());
    assert.equal(push.status, 0, push.stderr);
    const result = JSON.parse(push.stdout) as { reference: string; digest: string; uploadedBlobs: number };
    assert.ok(result.uploadedBlobs > 0);
    assert.equal(result.reference, `${registry.host}/models/churn@${result.digest}`);
    const manifestResponse = await fetch(`${registry.url}/v2/models/churn/manifests/1.0.0`, {
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    const manifestBytes = Buffer.from(await manifestResponse.arrayBuffer());
    assert.equal(sha256(manifestBytes), result.digest);
    const manifest = JSON.parse(manifestBytes.toString()) as {
      config: { digest: string };
      layers: { digest: string; annotations?: Record<string, string> }[];
    };
    for (const descriptor of [manifest.config, ...manifest.layers]) {
      const blob = Buffer.from(
        await (await fetch(`${registry.url}/v2/models/churn/blobs/${descriptor.digest}`)).arrayBuffer(),
      );
      assert.equal(sha256(blob), descriptor.digest, `blob ${descriptor.digest}`);
    }
    const model = manifest.layers.find(
      (layer) => layer.annotations?.['org.opencontainers.image.title'] === 'model.npz',
    )!;
    const pulled = Buffer.from(
      await (await fetch(`${registry.url}/v2/models/churn/blobs/${model.digest}`)).arrayBuffer(),
    );
    assert.ok(pulled.equals(readFileSync(join(workspace, 'models/model.npz'))), 'the model, byte for byte');
    const again = JSON.parse(mlpipe(['push', '--to', target, '--format', 'json'], workspace, env()).stdout) as {
      uploadedBlobs: number;
      digest: string;
    };
    assert.equal(again.uploadedBlobs, 0);
    assert.equal(again.digest, result.digest);
  });

  it('pushes to the MLflow Model Registry with the champion alias', async () => {
    const push = mlpipe(['push', '--to', 'mlflow', '--format', 'json'], workspace, {
      ...env(),
      MLFLOW_TRACKING_URI: server.uri,
    });
    assert.equal(push.status, 0, push.stderr);
    const response = await fetch(
      `${server.uri}/api/2.0/mlflow/registered-models/alias?name=churn-classifier&alias=champion`,
    );
    assert.equal(response.status, 200);
    const version = (
      (await response.json()) as { model_version: { version: string; tags?: { key: string; value: string }[] } }
    ).model_version;
    assert.ok(version.tags?.some((tag) => tag.key === 'mlpipe.approval.by' && tag.value === 'Ada Reviewer'));
  });

  it('refuses an artifact changed after the approval, and a card approving another digest', () => {
    const card = join(workspace, 'modelcard.yaml');
    const approved = readFileSync(card, 'utf8');
    writeFileSync(
      card,
      approved.replace(/artifact_digest: sha256:[0-9a-f]{64}/, `artifact_digest: sha256:${'0'.repeat(64)}`),
    );
    const other = mlpipe(['push'], workspace, env());
    assert.equal(other.status, 1);
    assert.match(
      other.stderr,
      /approves sha256:0{64} of run \S+, but that run's models\/model\.npz is sha256:[0-9a-f]{64}: refusing to push an artifact nobody approved/,
    );
    writeFileSync(card, approved);

    // Tamper with the cached bytes the push would send.
    const digest = /artifact_digest: sha256:([0-9a-f]{64})/.exec(approved)![1];
    const object = join(workspace, '.mlpipe/cache/objects', digest.slice(0, 2), digest.slice(2));
    assert.ok(existsSync(object));
    const bytes = readFileSync(object);
    writeFileSync(object, Buffer.concat([bytes, Buffer.from('tampered')]));
    const tampered = mlpipe(['push', '--to', `oci+http://${registry.host}/models/tampered`], workspace, env());
    assert.equal(tampered.status, 1);
    assert.match(tampered.stderr, /was changed after the approval; refusing to push/);
    writeFileSync(object, bytes);
  });
});
