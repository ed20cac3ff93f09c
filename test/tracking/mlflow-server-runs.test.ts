import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MlpipeDir } from '../../core/src/runs/records';
import { listRunsIn, MlflowClient, serverExperiments } from '../../core/src/tracking/mlflow';
import { tempWorkspace } from '../support/files';
import { mlflowMissing, mlflowPython, startMlflow, type RunningMlflow } from '../support/mlflow-server';
import { mlpipe, mlpipeAsync } from '../support/mlpipe-cli';
import { fakeRecord } from '../support/store-fixtures';

const missing = mlflowMissing();
if (missing && process.env.CI) throw new Error(`MLflow tests cannot run: ${missing}`);

/*
 * `mlpipe runs list --server`: the runs of the tracking server whoever logged them. The other side
 * is MLflow's Python client: what it logs to its own experiments, mlpipe lists and filters.
 */

/** Logs three runs the way a notebook does, in two experiments of the user's naming; prints their ids. */
const LOG = `
import json, mlflow
ids = {}
mlflow.set_experiment('kaggle-churn')
for name, lr, auc in [('baseline', 0.1, 0.81), ('tuned', 0.01, 0.9)]:
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_param('lr', lr)
        for step, loss in enumerate([0.9, 0.5, 0.3]):
            mlflow.log_metric('loss', loss, step=step)
        mlflow.log_metric('auc', auc)
        mlflow.set_tag('team', 'vision')
        ids[name] = run.info.run_id
mlflow.set_experiment('notebook scratch')
with mlflow.start_run(run_name='scratch') as run:
    mlflow.log_metric('auc', 0.5)
    ids['scratch'] = run.info.run_id
print(json.dumps(ids))
`;

interface ListedRun {
  experiment: string | null;
  run_id: string;
  mlpipe_run_id: string | null;
  name: string;
  status: string;
  params: Record<string, string>;
  metrics: Record<string, number>;
  tags: Record<string, string>;
}

describe("mlpipe runs list --server lists what MLflow's Python client logged", { skip: missing }, () => {
  let server: RunningMlflow;
  let ids: Record<string, string>;
  let empty: { dir: string; cleanup: () => void };
  const RUN = '20260102-030405-000-abcd';

  before(async () => {
    server = await startMlflow();
    ids = mlflowPython<Record<string, string>>(server.uri, LOG);
    // And one run mlpipe sent, to mlpipe/churn.
    const workspace = tempWorkspace({ 'mlpipe.yaml': 'version: 1\nname: churn\nstages: {}\n' });
    new MlpipeDir(join(workspace.dir, '.mlpipe')).writeRecord(fakeRecord(RUN, workspace.dir));
    const sync = mlpipe(['runs', 'sync', '--all'], workspace.dir, { MLFLOW_TRACKING_URI: server.uri });
    workspace.cleanup();
    assert.equal(sync.status, 0, sync.stderr);
    // Listing a server needs no workspace.
    empty = tempWorkspace({});
  });
  after(async () => {
    await server?.stop();
    empty?.cleanup();
  });

  const list = (...args: string[]) =>
    mlpipe(['runs', 'list', '--server', ...args], empty.dir, { MLFLOW_TRACKING_URI: server.uri });

  it('every experiment, newest first, with params, latest metrics and tags (json)', () => {
    const result = list('--format', 'json');
    assert.equal(result.status, 0, result.stderr);
    const body = JSON.parse(result.stdout) as { version: number; server: string; count: number; runs: ListedRun[] };
    assert.equal(body.version, 1);
    assert.equal(body.server, server.uri);
    assert.deepEqual(body.runs.map((run) => run.name).sort(), [RUN, 'baseline', 'scratch', 'tuned']);
    const tuned = body.runs.find((run) => run.name === 'tuned')!;
    assert.equal(tuned.run_id, ids.tuned);
    assert.equal(tuned.experiment, 'kaggle-churn');
    assert.equal(tuned.status, 'FINISHED');
    assert.equal(tuned.params.lr, '0.01');
    assert.deepEqual({ auc: tuned.metrics.auc, loss: tuned.metrics.loss }, { auc: 0.9, loss: 0.3 });
    assert.equal(tuned.tags.team, 'vision');
    assert.equal(tuned.mlpipe_run_id, null);
    assert.equal(body.runs.find((run) => run.name === RUN)?.mlpipe_run_id, RUN);
    assert.equal(body.runs.find((run) => run.name === RUN)?.experiment, 'mlpipe/churn');
    assert.equal(body.runs.find((run) => run.name === 'scratch')?.experiment, 'notebook scratch');
  });

  it('one experiment by name, as a table', () => {
    const result = list('--experiment', 'kaggle-churn');
    assert.equal(result.status, 0, result.stderr);
    const [header, ...rows] = result.stdout.trimEnd().split('\n');
    assert.match(header!, /^RUN\s+EXPERIMENT\s+NAME\s+STATUS\s+STARTED\s+params\.lr\s+metrics\.auc\s+metrics\.loss$/);
    assert.equal(rows.length, 2);
    assert.match(
      rows.find((row) => row.includes('tuned'))!,
      new RegExp(`^${ids.tuned}\\s+kaggle-churn\\s+tuned\\s+FINISHED\\s+\\S+ \\S+\\s+0\\.01\\s+0\\.9\\s+0\\.3$`),
    );
  });

  it("filters with MLflow's own search syntax, and says what is wrong with a filter it cannot read", () => {
    const result = list('--filter', "metrics.auc > 0.85 and tags.team = 'vision'", '--format', 'json');
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(
      (JSON.parse(result.stdout) as { runs: ListedRun[] }).runs.map((run) => run.run_id),
      [ids.tuned],
    );
    const bad = list('--filter', 'metrics.auc >>> 1');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /runs\/search/);
    assert.match(bad.stderr, /--filter with --server is MLflow's search syntax/);
    assert.ok(!/at \S+\.(ts|js):\d+/.test(bad.stderr), 'no stack trace');
  });

  it('an experiment that does not exist is named with the ones that do; no server is a usage error', () => {
    const result = list('--experiment', 'kaggle-chrun');
    assert.equal(result.status, 1);
    assert.match(result.stderr, /has no experiment 'kaggle-chrun'; it has: .*kaggle-churn/);
    const none = mlpipe(['runs', 'list', '--server'], empty.dir, { MLFLOW_TRACKING_URI: '' });
    assert.equal(none.status, 2);
    assert.match(none.stderr, /set MLFLOW_TRACKING_URI/);
  });

  it("the Experiments view's list: the workspace's experiments first, then the others of the server, with their runs", async () => {
    const client = new MlflowClient(server.uri, { env: {} });
    const experiments = await serverExperiments(client, ['mlpipe/churn', 'mlpipe/absent']);
    assert.deepEqual(
      experiments.map((one) => [one.name, one.own]),
      [
        ['mlpipe/churn', true],
        ['Default', false],
        ['kaggle-churn', false],
        ['notebook scratch', false],
      ],
    );
    const kaggle = experiments.find((one) => one.name === 'kaggle-churn')!;
    const rows = await listRunsIn(client, [kaggle.experimentId]);
    assert.deepEqual(rows.map((row) => row.name).sort(), ['baseline', 'tuned']);
    assert.equal(rows.find((row) => row.name === 'baseline')?.metrics.auc, 0.81);
    assert.deepEqual((await serverExperiments(client, [], 2)).length, 2);
  });

  it('--limit bounds the rows', () => {
    const result = list('--limit', '2', '--format', 'json');
    assert.equal(result.status, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as { count: number }).count, 2);
  });
});

describe('runs list --server against a server that lies', () => {
  let server: Server;
  let uri: string;
  before(async () => {
    server = createServer((request, response) => {
      response.setHeader('content-type', 'application/json');
      if (request.url?.includes('experiments/search'))
        return response.end(
          JSON.stringify({
            experiments: [
              { experiment_id: '1', name: 'evil\u001b]0;pwned\u0007\u001b[31m', lifecycle_stage: 'active' },
            ],
            next_page_token: 'same',
          }),
        );
      if (request.url?.includes('runs/search'))
        return response.end(
          JSON.stringify({
            runs: [
              {
                info: {
                  run_id: 'r1\u001b[2J',
                  experiment_id: '1',
                  run_name: 'x\r\ny',
                  status: 'FINISHED',
                  start_time: 1e300,
                },
                data: { params: [{ key: 'lr', value: '\u001b[31mred' }], metrics: [{ key: 'auc', value: 'NaN' }] },
              },
            ],
            next_page_token: 'again',
          }),
        );
      response.statusCode = 404;
      response.end('{}');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((done) => server.close(() => done())));

  it('shows its text without terminal escapes, a time it cannot be, and stops at a repeated page token', async () => {
    const workspace = tempWorkspace({});
    try {
      // Not spawnSync: this process answers as the server meanwhile.
      const result = await mlpipeAsync(['runs', 'list', '--server', '--limit', '5'], workspace.dir, {
        MLFLOW_TRACKING_URI: uri,
      }).done;
      assert.equal(result.status, 0, result.stderr);
      assert.ok(!/[\u001b\u0007]/.test(result.stdout), JSON.stringify(result.stdout));
      assert.ok(!/\r/.test(result.stdout));
      assert.match(result.stdout, /evil/);
      // The same run again on every page: the loop ends by the limit, a repeated token ends it too.
      assert.ok(result.stdout.trimEnd().split('\n').length <= 6);
    } finally {
      workspace.cleanup();
    }
  });
});
