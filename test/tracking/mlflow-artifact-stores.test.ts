import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MlpipeDir } from '../../core/src/runs/records';
import { ARTIFACT_DIRS_ENV, artifactLocation, LocalArtifacts } from '../../core/src/tracking/mlflow-artifacts';
import { MlflowError } from '../../core/src/tracking/mlflow';
import { TrackingOutbox } from '../../core/src/tracking/outbox';
import { tempWorkspace } from '../support/files';
import {
  type MlflowArtifactMode,
  mlflowMissing,
  mlflowPython,
  startMlflow,
  type RunningMlflow,
} from '../support/mlflow-server';
import { mlpipe } from '../support/mlpipe-cli';
import { fakeRecord } from '../support/store-fixtures';

const missing = mlflowMissing();
if (missing && process.env.CI) throw new Error(`MLflow tests cannot run: ${missing}`);

/*
 * Artifacts go where the server's artifact URI says, as MLflow's own Python client puts them:
 * through the proxy, or straight to the folder of `mlflow server --default-artifact-root PATH`.
 * The other side is MLflow's Python client: what mlpipe logged, it lists and downloads.
 */

const RUN = '20260102-030405-000-abcd';

/** Lists the runs of an experiment with MLflow's Python client: params, metrics, every artifact and run.json's id. */
const LIST_RUNS = `
import json, sys, tempfile, mlflow
from mlflow import MlflowClient
client = MlflowClient()
def walk(run_id, path=None):
    out = []
    for item in client.list_artifacts(run_id, path):
        out.extend(walk(run_id, item.path) if item.is_dir else [item.path])
    return out
rows = []
for run in mlflow.search_runs(experiment_names=[sys.argv[1]], output_format='list'):
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path='mlpipe/run.json', dst_path=tempfile.mkdtemp())
    rows.append({
        'name': run.info.run_name, 'status': run.info.status, 'params': run.data.params,
        'metrics': run.data.metrics, 'tags': {k: v for k, v in run.data.tags.items() if k.startswith('mlpipe.')},
        'artifactUri': run.info.artifact_uri, 'artifacts': sorted(walk(run.info.run_id)),
        'runJson': json.load(open(local))['id'],
    })
print(json.dumps(rows))
`;

interface ListedRun {
  name: string;
  status: string;
  params: Record<string, string>;
  metrics: Record<string, number>;
  tags: Record<string, string>;
  artifactUri: string;
  artifacts: string[];
  runJson: string;
}

function workspaceWithRun(): { dir: string; cleanup: () => void } {
  const workspace = tempWorkspace({
    'mlpipe.yaml': 'version: 1\nname: churn\nstages: {}\n',
    'metrics.json': '{"auc": 0.8}\n',
  });
  new MlpipeDir(join(workspace.dir, '.mlpipe')).writeRecord(
    fakeRecord(RUN, workspace.dir, { params: { 'train.lr': 0.1 }, metrics: { 'metrics.json': { auc: 0.8 } } }),
  );
  return workspace;
}

for (const [mode, how] of [
  ['proxy', 'mlflow server --artifacts-destination DIR (the proxy)'],
  ['default-root', 'mlflow server --default-artifact-root DIR (the common way)'],
  ['no-serve', 'mlflow server --default-artifact-root DIR --no-serve-artifacts'],
] as [MlflowArtifactMode, string][]) {
  describe(`a run logged to ${how}: MLflow's Python client lists it with its artifacts`, { skip: missing }, () => {
    let server: RunningMlflow;
    before(async () => {
      server = await startMlflow({ artifacts: mode });
    });
    after(async () => {
      await server?.stop();
    });

    it('mlpipe runs sync logs it whole (exit 0, not PARTIAL); the Python client reads it back', async () => {
      const workspace = workspaceWithRun();
      try {
        const result = mlpipe(['runs', 'sync', '--all'], workspace.dir, { MLFLOW_TRACKING_URI: server.uri });
        assert.equal(result.status, 0, `${result.stderr}\n${server.log()}`);
        assert.match(result.stderr, new RegExp(`logged run ${RUN}`));
        assert.doesNotMatch(result.stderr, /PARTIAL/);
        assert.deepEqual(new TrackingOutbox(join(workspace.dir, '.mlpipe')).pending(), []);

        const [run, ...others] = mlflowPython<ListedRun[]>(server.uri, LIST_RUNS, ['mlpipe/churn']);
        assert.deepEqual(others, []);
        assert.equal(run!.name, RUN);
        assert.equal(run!.status, 'FINISHED');
        assert.equal(run!.params['train.lr'], '0.1');
        assert.equal(run!.metrics.auc, 0.8);
        assert.equal(run!.tags['mlpipe.run_id'], RUN);
        assert.equal(run!.tags['mlpipe.incomplete'], undefined);
        assert.deepEqual(run!.artifacts, ['mlpipe/run.json']);
        assert.equal(run!.runJson, RUN);
        if (mode === 'proxy') assert.match(run!.artifactUri, /^mlflow-artifacts:/);
        else {
          // Written straight to the server's folder, as MLflow's client writes it.
          assert.ok(run!.artifactUri.startsWith(join(server.dir, 'artifacts')), run!.artifactUri);
          assert.equal(
            JSON.parse(readFileSync(join(run!.artifactUri, 'mlpipe', 'run.json'), 'utf8')).id,
            RUN,
            'run.json is in the folder the server named',
          );
        }
      } finally {
        workspace.cleanup();
      }
    });
  });
}

describe('an artifact store mlpipe cannot reach is said, not dropped', { skip: missing }, () => {
  let server: RunningMlflow;
  before(async () => {
    server = await startMlflow({ artifacts: 'gs://mlpipe-unreachable/artifacts' });
  });
  after(async () => {
    await server?.stop();
  });

  it('PARTIAL with the reason and the fix, exit 1, queued; the run status file says it too', () => {
    const workspace = workspaceWithRun();
    try {
      const result = mlpipe(['runs', 'sync', '--all'], workspace.dir, { MLFLOW_TRACKING_URI: server.uri });
      assert.equal(result.status, 1, result.stderr);
      assert.match(result.stderr, /PARTIAL: run .* 1 artifact not uploaded \(mlpipe\/run\.json\)/);
      assert.match(result.stderr, /gs:\/\/mlpipe-unreachable\/artifacts\/.*\(gs\), which mlpipe cannot reach/);
      assert.match(result.stderr, /--serve-artifacts/);
      assert.doesNotMatch(result.stderr, /logged run /);
      assert.ok(!/at \S+\.(ts|js):\d+/.test(result.stderr), 'no stack trace');
      const outbox = new TrackingOutbox(join(workspace.dir, '.mlpipe'));
      assert.equal(outbox.pending()[0]?.partial, true);
      assert.match(outbox.status().lastError?.message ?? '', /cannot reach/);
    } finally {
      workspace.cleanup();
    }
  });
});

describe('a local artifact folder the server names: written only where the rule allows', () => {
  let base: string;
  let file: string;
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'mlpipe-local-artifacts-'));
    file = join(base, 'source.txt');
    writeFileSync(file, 'artifact bytes\n');
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  const open = (path: string, server: string, options: { workspace?: string; env?: NodeJS.ProcessEnv } = {}) =>
    LocalArtifacts.open(path, { server, endpoint: 'artifacts', env: options.env ?? {}, ...options });

  it('reads the URI forms MLflow hands out', () => {
    assert.deepEqual(artifactLocation('mlflow-artifacts:/1/abc/artifacts'), {
      kind: 'proxy',
      root: '/1/abc/artifacts',
    });
    assert.deepEqual(artifactLocation('mlflow-artifacts://host:5000/1/a'), { kind: 'proxy', root: '/1/a' });
    assert.deepEqual(artifactLocation('/srv/mlruns/1/a/artifacts'), {
      kind: 'file',
      path: '/srv/mlruns/1/a/artifacts',
    });
    assert.deepEqual(artifactLocation('file:///srv/ml%20runs/1'), { kind: 'file', path: '/srv/ml runs/1' });
    assert.equal(artifactLocation('file://other-host/srv/x').kind, 'unsupported');
    assert.deepEqual(artifactLocation('s3://bucket/a/b/'), { kind: 's3', bucket: 'bucket', key: 'a/b' });
    assert.deepEqual(artifactLocation('wasbs://c@acct.blob.core.windows.net/x'), {
      kind: 'unsupported',
      scheme: 'wasbs',
    });
  });

  it('a server on this machine: its folder is written (made when missing), atomically, and read back', () => {
    const dir = join(base, 'server-a', '1', 'run', 'artifacts');
    const local = open(dir, 'http://127.0.0.1:5000');
    local.upload('mlpipe/run.json', file, 'artifacts');
    assert.equal(readFileSync(join(dir, 'mlpipe', 'run.json'), 'utf8'), 'artifact bytes\n');
    assert.equal(local.download('mlpipe/run.json', 1024, 'artifacts').toString(), 'artifact bytes\n');
    assert.throws(() => local.download('mlpipe/run.json', 4, 'artifacts'), /larger than 4 bytes/);
  });

  it('a server elsewhere: refused with the fix, unless the folder is a share named in MLPIPE_MLFLOW_ARTIFACT_DIRS', () => {
    const dir = join(base, 'shared', '1', 'run', 'artifacts');
    assert.throws(
      () => open(dir, 'https://mlflow.example.com'),
      (error: unknown) =>
        error instanceof MlflowError &&
        error.kind === 'rejected' &&
        error.status === undefined &&
        /a path on the server's machine .*--serve-artifacts.*MLPIPE_MLFLOW_ARTIFACT_DIRS/.test(error.message),
    );
    assert.throws(
      () => open(dir, 'https://mlflow.example.com', { env: { [ARTIFACT_DIRS_ENV]: join(base, 'shared') } }),
      /not a folder on this machine; mount it here/,
    );
    mkdirSync(join(base, 'shared'));
    open(dir, 'https://mlflow.example.com', { env: { [ARTIFACT_DIRS_ENV]: join(base, 'shared') } }).upload(
      'a.txt',
      file,
      'artifacts',
    );
    assert.ok(existsSync(join(dir, 'a.txt')));
  });

  it('never inside the workspace, never with .. and never through a link', () => {
    const workspace = join(base, 'workspace');
    mkdirSync(join(workspace, 'src'), { recursive: true });
    writeFileSync(join(workspace, 'src', 'train.py'), 'print(1)\n');
    assert.throws(
      () => open(join(workspace, 'src'), 'http://localhost:5000', { workspace }),
      /inside this workspace .* never writes a server's artifacts among the workspace's own files/,
    );
    assert.throws(() => open(`${base}/x/../../etc`, 'http://localhost:5000'), /has \. or \.\. in it/);
    // A link on the way, to the workspace: resolved, then refused as the workspace.
    mkdirSync(join(base, 'linked'));
    symlinkSync(workspace, join(base, 'linked', '1'));
    assert.throws(
      () => open(join(base, 'linked', '1', 'src'), 'http://localhost:5000', { workspace }),
      /inside this workspace/,
    );
    // A link out of a named share is not followed.
    mkdirSync(join(base, 'share'));
    symlinkSync(join(base, 'elsewhere'), join(base, 'share', 'out'));
    mkdirSync(join(base, 'elsewhere'));
    assert.throws(
      () =>
        open(join(base, 'share', 'out', 'x'), 'https://mlflow.example.com', {
          env: { [ARTIFACT_DIRS_ENV]: join(base, 'share') },
        }),
      /leads out of .*share.* through a symbolic link/,
    );
    // A link planted below the resolved folder after it was opened: the write does not pass it.
    const local = open(join(base, 'later', 'run'), 'http://localhost:5000');
    mkdirSync(join(base, 'later'));
    symlinkSync(join(workspace, 'src'), join(base, 'later', 'run'));
    assert.throws(
      () => local.upload('train.py', file, 'artifacts'),
      (error: unknown) => error instanceof MlflowError && /symbolic link/.test(error.message),
    );
    assert.equal(readFileSync(join(workspace, 'src', 'train.py'), 'utf8'), 'print(1)\n');
  });
});
