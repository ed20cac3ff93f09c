import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MlpipeDir } from '../../core/src/runs/records';
import { listRuns, MlflowClient } from '../../core/src/tracking/mlflow';
import { tempWorkspace } from '../support/files';
import { mlflowMissing, startMlflow, type RunningMlflow } from '../support/mlflow-server';
import { mlpipe } from '../support/mlpipe-cli';
import { fakeRecord } from '../support/store-fixtures';

const missing = mlflowMissing();
if (missing && process.env.CI) throw new Error(`MLflow tests cannot run: ${missing}`);

/** The CLI with MLFLOW_TRACKING_URI: queue while the server is down, `runs sync` once it is back. */
describe('mlpipe runs sync and tag against a real MLflow server', { skip: missing }, () => {
  let server: RunningMlflow;
  let dir: string;
  let cleanup: () => void;
  const ids = ['20260401-080000-000-aaaa', '20260402-080000-000-bbbb'];

  before(async () => {
    server = await startMlflow();
    ({ dir, cleanup } = tempWorkspace({
      'mlpipe.yaml': 'version: 1\nname: churn\nstages: {}\n',
      'metrics.json': '{"auc": 0.8}\n',
    }));
    const mlpipeDir = new MlpipeDir(join(dir, '.mlpipe'));
    ids.forEach((id, index) =>
      mlpipeDir.writeRecord(
        fakeRecord(id, dir, {
          params: { 'train.lr': index ? 0.01 : 0.1 },
          metrics: { 'metrics.json': { auc: 0.8 + index / 10 } },
        }),
      ),
    );
  });
  after(async () => {
    await server?.stop();
    cleanup?.();
  });

  it('queues every run while the server is down, says so, and loses nothing', async () => {
    await server.halt();
    const result = mlpipe(['runs', 'sync', '--all'], dir, { MLFLOW_TRACKING_URI: server.uri });
    assert.equal(result.status, 1);
    assert.match(result.stderr, new RegExp(`could not log run .*${server.uri.replace(/[.:/]/g, '\\$&')}`));
    assert.match(result.stderr, /2 runs queued in \.mlpipe\/tracking\/outbox; `mlpipe runs sync` sends them/);
    assert.ok(!/at \S+\.(ts|js):\d+/.test(result.stderr), 'no stack trace');
    await server.resume();
  });

  it('sends the queue once the server is back, each run once, and tags follow', async () => {
    const sync = mlpipe(['runs', 'sync'], dir, { MLFLOW_TRACKING_URI: server.uri });
    assert.equal(sync.status, 0, sync.stderr);
    assert.match(sync.stderr, /logged 2 runs to /);
    const tag = mlpipe(['runs', 'tag', ids[0], 'team=vision'], dir, { MLFLOW_TRACKING_URI: server.uri });
    assert.equal(tag.status, 0, tag.stderr);
    assert.match(tag.stderr, new RegExp(`logged run ${ids[0]}`));
    const rows = await listRuns(new MlflowClient(server.uri), 'mlpipe/churn');
    assert.deepEqual(rows.map((row) => row.mlpipeRunId).sort(), ids);
    const first = rows.find((row) => row.mlpipeRunId === ids[0])!;
    assert.equal(first.params['train.lr'], '0.1');
    assert.equal(first.metrics.auc, 0.8);
    assert.equal(first.tags.team, 'vision');
    assert.equal(first.status, 'FINISHED');
  });

  it('explains a tracking URI it cannot use instead of failing obscurely', () => {
    const result = mlpipe(['runs', 'sync'], dir, { MLFLOW_TRACKING_URI: 'file:///tmp/mlruns' });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /file/);
    assert.match(mlpipe(['runs', 'sync'], dir, { MLFLOW_TRACKING_URI: '' }).stderr, /set MLFLOW_TRACKING_URI/);
  });
});
