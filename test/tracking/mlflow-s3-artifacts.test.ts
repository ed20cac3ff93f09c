import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import '../../core/src/remote/mlflow-s3';
import { pushToMlflowRegistry } from '../../core/src/registry/mlflow-registry';
import { MlpipeDir } from '../../core/src/runs/records';
import { MlflowClient } from '../../core/src/tracking/mlflow';
import { TrackingOutbox } from '../../core/src/tracking/outbox';
import { tempWorkspace } from '../support/files';
import {
  BOTO3,
  ensureMlflowExtras,
  mlflowMissing,
  mlflowPython,
  startMlflow,
  type RunningMlflow,
} from '../support/mlflow-server';
import { mlpipe } from '../support/mlpipe-cli';
import { makePackage } from '../support/registry';
import { type RunningS3, s3ServerMissing, startS3Server } from '../support/s3-server';
import { fakeRecord } from '../support/store-fixtures';

const missing = mlflowMissing() ?? s3ServerMissing();
if (missing && process.env.CI) throw new Error(`MLflow S3 tests cannot run: ${missing}`);

/*
 * `mlflow server --default-artifact-root s3://bucket/path --no-serve-artifacts`: the run's
 * artifact URI is in the bucket, and clients write there themselves. mlpipe writes with the
 * remote cache's S3 client (a real S3 server: SeaweedFS), and MLflow's Python client (boto3)
 * reads what it wrote: the run's artifacts, and the registered champion model.
 */

const RUN = '20260102-030405-000-abcd';

const READ_RUN = `
import json, sys, tempfile, mlflow
run = mlflow.search_runs(experiment_names=['mlpipe/churn'], output_format='list')[0]
local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path='mlpipe/run.json', dst_path=tempfile.mkdtemp())
print(json.dumps({'uri': run.info.artifact_uri, 'id': json.load(open(local))['id'], 'incomplete': run.data.tags.get('mlpipe.incomplete')}))
`;

const TRAIN_AND_LOAD = `
import json, os, pickle, sys, numpy as np, mlflow
from sklearn.linear_model import LogisticRegression
if sys.argv[1] == 'train':
    rng = np.random.default_rng(3)
    x = rng.random((100, 2))
    model = LogisticRegression().fit(x, (x[:, 0] > x[:, 1]).astype(int))
    pickle.dump(model, open(sys.argv[2], 'wb'))
    print(json.dumps(model.predict(np.array([[0.9, 0.1], [0.1, 0.9]])).tolist()))
else:
    os.environ['MLFLOW_ALLOW_PICKLE_DESERIALIZATION'] = 'true'
    model = mlflow.pyfunc.load_model(sys.argv[2])
    print(json.dumps(np.asarray(model.predict(np.array([[0.9, 0.1], [0.1, 0.9]]))).tolist()))
`;

describe(
  'MLflow artifacts in S3 (no proxy): mlpipe writes with its S3 client, MLflow reads them',
  { skip: missing },
  () => {
    let s3: RunningS3;
    let server: RunningMlflow;
    let s3Env: NodeJS.ProcessEnv;
    const cleanups: (() => void)[] = [];

    before(async () => {
      ensureMlflowExtras([BOTO3]);
      s3 = await startS3Server();
      await s3.createBucket('mlflow');
      s3Env = {
        AWS_ACCESS_KEY_ID: s3.accessKey,
        AWS_SECRET_ACCESS_KEY: s3.secretKey,
        AWS_DEFAULT_REGION: s3.region,
        MLFLOW_S3_ENDPOINT_URL: s3.endpoint,
      };
      server = await startMlflow({ artifacts: 's3://mlflow/artifacts', env: s3Env });
    });
    after(async () => {
      await server?.stop();
      await s3?.stop();
      for (const cleanup of cleanups) cleanup();
    });

    it('without credentials: PARTIAL, saying so and what to set', () => {
      const workspace = tempWorkspace({ 'mlpipe.yaml': 'version: 1\nname: churn\nstages: {}\n' });
      cleanups.push(workspace.cleanup);
      new MlpipeDir(join(workspace.dir, '.mlpipe')).writeRecord(fakeRecord(RUN, workspace.dir));
      const result = mlpipe(['runs', 'sync', '--all'], workspace.dir, {
        MLFLOW_TRACKING_URI: server.uri,
        MLFLOW_S3_ENDPOINT_URL: s3.endpoint,
        HOME: workspace.dir,
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        AWS_PROFILE: '',
      });
      assert.equal(result.status, 1, result.stderr);
      assert.match(
        result.stderr,
        /PARTIAL: .*in S3 \(s3:\/\/mlflow\/artifacts\/.*no AWS credentials found; set AWS_ACCESS_KEY_ID/,
      );
      assert.ok(!/at \S+\.(ts|js):\d+/.test(result.stderr), 'no stack trace');
    });

    it('mlpipe runs sync logs the run whole; the Python client downloads its run.json from the bucket', () => {
      const workspace = tempWorkspace({ 'mlpipe.yaml': 'version: 1\nname: churn\nstages: {}\n' });
      cleanups.push(workspace.cleanup);
      new MlpipeDir(join(workspace.dir, '.mlpipe')).writeRecord(fakeRecord(RUN, workspace.dir));
      const result = mlpipe(['runs', 'sync', '--all'], workspace.dir, { MLFLOW_TRACKING_URI: server.uri, ...s3Env });
      assert.equal(result.status, 0, `${result.stderr}\n${server.log()}`);
      assert.match(result.stderr, new RegExp(`logged run ${RUN}`));
      assert.deepEqual(new TrackingOutbox(join(workspace.dir, '.mlpipe')).pending(), []);
      const read = mlflowPython<{ uri: string; id: string; incomplete: string | null }>(
        server.uri,
        READ_RUN,
        [],
        undefined,
        s3Env,
      );
      assert.match(read.uri, /^s3:\/\/mlflow\/artifacts\//);
      assert.equal(read.id, RUN);
      assert.equal(read.incomplete, null, 'the partial send before is taken back');
    });

    it('a pushed sklearn model is loaded from the bucket by mlflow.pyfunc.load_model', async () => {
      const models = tempWorkspace({});
      cleanups.push(models.cleanup);
      const expected = mlflowPython<number[]>(
        server.uri,
        TRAIN_AND_LOAD,
        ['train', join(models.dir, 'model.pkl')],
        undefined,
        s3Env,
      );
      const workspace = tempWorkspace({
        'mlpipe.yaml':
          'version: 1\nname: churn-s3\nstages: {}\nmodel:\n  card: package/modelcard.yaml\n  artifact: models/model.pkl\n  flavor: sklearn\n',
      });
      cleanups.push(workspace.cleanup);
      const run = '20260103-030405-000-beef';
      new MlpipeDir(join(workspace.dir, '.mlpipe')).writeRecord(fakeRecord(run, workspace.dir));
      const pkg = { ...makePackage(join(workspace.dir, 'package'), { modelFile: join(models.dir, 'model.pkl') }), run };
      pkg.files[0] = { ...pkg.files[0]!, name: 'model.pkl' };
      // The S3 client takes the AWS keys from where the AWS CLI does: this process's environment.
      Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey });
      const result = await pushToMlflowRegistry(pkg, {
        client: new MlflowClient(server.uri, { env: { ...process.env, ...s3Env } }),
        mlpipeRoot: join(workspace.dir, '.mlpipe'),
        modelName: 'churn-s3',
        pipelinePath: join(workspace.dir, 'mlpipe.yaml'),
      });
      assert.equal(result.reference, 'models:/churn-s3@champion');
      const loaded = mlflowPython<number[]>(
        server.uri,
        TRAIN_AND_LOAD,
        ['load', 'models:/churn-s3@champion'],
        undefined,
        s3Env,
      );
      assert.deepEqual(loaded, expected);
    });
  },
);
