import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { hashFile } from '../../core/src/runs/hash';
import { flattenMetrics, MlpipeDir, type RunRecord } from '../../core/src/runs/records';
import { metricsFileSeries, readPlotSeries, type Series } from '../../core/src/store/series';
import { ExperimentStore, saveStageSeries, summarize } from '../../core/src/store/store';
import {
  experimentName,
  listRuns,
  logRun,
  MLFLOW_LIMITS,
  MlflowClient,
  MlflowError,
  splitBatch,
  trackingUri,
  trackingUriProblem,
} from '../../core/src/tracking/mlflow';
import { loadRunForTracking, TrackingOutbox } from '../../core/src/tracking/outbox';
import { mlflowMissing, startMlflow, type RunningMlflow } from '../support/mlflow-server';

const missing = mlflowMissing();
if (missing && process.env.CI) throw new Error(`MLflow tests cannot run: ${missing}`);

const LONG_PARAM = 'x'.repeat(7000);

/** A workspace with real metrics and plot files and a `.mlpipe/` holding one finished run of them. */
async function makeRun(
  workspace: string,
  id: string,
  options: { name?: string; status?: RunRecord['status'] } = {},
): Promise<{ record: RunRecord; root: string; series: Series[] }> {
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(workspace, path)), { recursive: true });
    writeFileSync(join(workspace, path), text);
  };
  const loss = [
    'step,loss,val_loss',
    ...Array.from(
      { length: 50 },
      (_, step) => `${step},${(1 / (step + 1)).toFixed(6)},${(1.2 / (step + 1)).toFixed(6)}`,
    ),
  ].join('\n');
  write('metrics/loss.csv', `${loss}\n`);
  write(
    'metrics/train.json',
    JSON.stringify({ accuracy: 0.93, epochs: 50, converged: true, optimizer: 'adam', lr_schedule: [0.1, 0.05, 0.01] }),
  );
  write('metrics/eval-test.json', JSON.stringify({ auc: 0.91, f1: 0.88, threshold: { best: 0.42 } }));
  write('metrics/stale.json', JSON.stringify({ score: 1 }));
  const started = '2026-01-02T03:04:05.000Z';
  const ended = '2026-01-02T03:14:05.500Z';
  const trainData: unknown = JSON.parse(readFileSync(join(workspace, 'metrics/train.json'), 'utf8'));
  const evalData: unknown = JSON.parse(readFileSync(join(workspace, 'metrics/eval-test.json'), 'utf8'));
  const trainSeries = [
    ...readPlotSeries(join(workspace, 'metrics/loss.csv'), 'metrics/loss.csv', 'train', { x: 'step' }),
    ...metricsFileSeries(trainData, 'metrics/train.json', 'train'),
  ];
  const stage = (name: string, outputs: Record<string, string>, metrics: Record<string, Record<string, unknown>>) => ({
    name,
    stage: name,
    matrix: {},
    status: 'succeeded' as const,
    host: 'local',
    image: 'localhost/mlpipe-python:3.11',
    command: `python src/${name}.py`,
    attempts: 1,
    exitCode: 0,
    started,
    ended,
    durationMs: 600_500,
    params: {},
    deps: {},
    outputs,
    metrics,
    log: `logs/${name}.log`,
  });
  const record: RunRecord = {
    version: 1,
    id,
    pipeline: 'mlpipe.yaml',
    ...(options.name ? { name: options.name } : {}),
    workspace,
    status: options.status ?? 'succeeded',
    target: { stages: [], upstream: false, force: false },
    started,
    ended,
    pid: 999_999,
    host: 'test-host',
    git: { commit: '0123456789abcdef0123456789abcdef01234567', dirty: true },
    params: {
      seed: 42,
      train: { lr: 0.01, layers: [64, 32], optimizer: { name: 'adam', momentum: 0.9 } },
      data: { path: 'data/raw.csv' },
      notes: LONG_PARAM,
    },
    stages: [
      stage(
        'train',
        {
          'metrics/loss.csv': await hashFile(join(workspace, 'metrics/loss.csv')),
          'metrics/train.json': await hashFile(join(workspace, 'metrics/train.json')),
          'models/model.pt': `sha256:${'0'.repeat(64)}`,
        },
        { 'metrics/train.json': flattenMetrics(trainData) },
      ),
      stage(
        'evaluate',
        {
          'metrics/eval-test.json': await hashFile(join(workspace, 'metrics/eval-test.json')),
          'metrics/stale.json': await hashFile(join(workspace, 'metrics/stale.json')),
        },
        { 'metrics/eval-test.json': flattenMetrics(evalData), 'metrics/stale.json': { score: 1 } },
      ),
    ],
  };
  const root = join(workspace, '.mlpipe');
  const dir = new MlpipeDir(root);
  dir.ensure();
  dir.writeRecord(record);
  saveStageSeries(dir, id, 'train', trainSeries);
  const store = ExperimentStore.open(root);
  store.record(summarize(record, trainSeries));
  store.tag(id, { team: 'churn', 'needs review': 'yes' });
  store.setNote(id, 'Baseline with the new features.');
  // Changed after the run: its content is no longer what the run wrote, so it is not uploaded.
  write('metrics/stale.json', JSON.stringify({ score: 2 }));
  return { record, root, series: trainSeries };
}

/** A port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((done) => {
    const server = createNetServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });
}

/** The MlflowError a promise rejects with. */
async function rejection(promise: Promise<unknown>): Promise<MlflowError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof MlflowError, `not an MlflowError: ${String(error)}`);
    return error;
  }
  return assert.fail('the request succeeded');
}

/** An HTTP server that refuses every request with 401 and echoes the Authorization header back. */
function echoingUnauthorized(): Promise<Server> {
  return new Promise((done) => {
    const server = createServer((request, response) => {
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          error_code: 'UNAUTHENTICATED',
          message: `bad credentials: ${request.headers.authorization ?? ''}`,
        }),
      );
    });
    server.listen(0, '127.0.0.1', () => done(server));
  });
}

describe('tracking URI', () => {
  it('takes the setting, else MLFLOW_TRACKING_URI, and only http(s) servers', () => {
    assert.equal(
      trackingUri('http://mlflow.example:5000/', { MLFLOW_TRACKING_URI: 'http://other' }),
      'http://mlflow.example:5000',
    );
    assert.equal(
      trackingUri(undefined, { MLFLOW_TRACKING_URI: 'https://mlflow.example/prefix' }),
      'https://mlflow.example/prefix',
    );
    assert.equal(trackingUri('  ', { MLFLOW_TRACKING_URI: 'http://env:5000' }), 'http://env:5000');
    assert.equal(trackingUri(undefined, {}), undefined);
    assert.equal(trackingUri('file:./mlruns', {}), undefined);
    assert.equal(trackingUri(undefined, { MLFLOW_TRACKING_URI: './mlruns' }), undefined);
    assert.equal(trackingUriProblem('http://ok:5000', {}), undefined);
    assert.equal(trackingUriProblem(undefined, {}), undefined);
    assert.match(
      trackingUriProblem('file:///tmp/mlruns', {}) ?? '',
      /mlpipe\.tracking\.uri is 'file:\/\/\/tmp\/mlruns', a local store: .*mlflow server/,
    );
    assert.match(
      trackingUriProblem(undefined, { MLFLOW_TRACKING_URI: 'databricks' }) ?? '',
      /^MLFLOW_TRACKING_URI is 'databricks', a Databricks workspace/,
    );
    assert.match(
      trackingUriProblem(undefined, { MLFLOW_TRACKING_URI: 'ftp://host/x' }) ?? '',
      /not an http\(s\) address/,
    );
    assert.match(trackingUriProblem(undefined, { MLFLOW_TRACKING_URI: 'mlruns' }) ?? '', /a local store/);
  });

  it('splits batches within MLflow limits', () => {
    const metrics = Array.from({ length: 2500 }, (_, step) => ({ key: 'loss', value: step, timestamp: 1, step }));
    const params = Array.from({ length: 250 }, (_, i) => ({ key: `p${i}`, value: 'v' }));
    const batches = splitBatch({ metrics, params, tags: [{ key: 't', value: 'v' }] });
    for (const batch of batches) {
      assert.ok(
        batch.metrics.length <= MLFLOW_LIMITS.metricsPerBatch && batch.params.length <= 100 && batch.tags.length <= 100,
      );
      assert.ok(batch.metrics.length + batch.params.length + batch.tags.length <= MLFLOW_LIMITS.entitiesPerBatch);
    }
    assert.equal(batches.flatMap((batch) => batch.metrics).length, 2500);
    assert.equal(batches.flatMap((batch) => batch.params).length, 250);
    const big = splitBatch({
      params: Array.from({ length: 100 }, (_, i) => ({ key: `p${i}`, value: 'y'.repeat(6000) })),
      tags: Array.from({ length: 100 }, (_, i) => ({ key: `t${i}`, value: 'z'.repeat(8000) })),
    });
    for (const batch of big) assert.ok(Buffer.byteLength(JSON.stringify(batch)) < 1_000_000);
  });
});

describe('MLflow tracking against a real MLflow server', { skip: missing }, () => {
  let server: RunningMlflow;
  let client: MlflowClient;
  const temporary: string[] = [];
  const workspace = () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-tracking-'));
    temporary.push(dir);
    return dir;
  };
  let first: { record: RunRecord; root: string; series: Series[] };
  let firstRunId: string;

  before(async () => {
    server = await startMlflow();
    client = new MlflowClient(server.uri, { env: {} });
  });

  after(async () => {
    await server?.stop();
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
  });

  it('logs a run: params, metrics, series, tags, status and artifacts read back as sent', async () => {
    first = await makeRun(workspace(), '20260102-030405-000-a1b2', { name: 'churn' });
    const input = loadRunForTracking(first.root, first.record.id);
    assert.ok(input);
    assert.deepEqual(input.artifacts.map((artifact) => artifact.path).sort(), [
      'metrics/eval-test.json',
      'metrics/loss.csv',
      'metrics/train.json',
      'mlpipe/run.json',
    ]);
    const result = await logRun(client, input);
    firstRunId = result.runId;
    assert.equal(result.reused, false);
    assert.ok(result.warnings.some((warning) => /param notes is 7000 characters/.test(warning)));

    const run = await client.getRun(result.runId);
    assert.equal(run.info.experimentId, result.experimentId);
    assert.equal((await client.getExperimentByName('mlpipe/churn'))?.experimentId, result.experimentId);
    assert.equal(run.info.runName, first.record.id);
    assert.equal(run.info.status, 'FINISHED');
    assert.equal(run.info.startTime, Date.parse('2026-01-02T03:04:05.000Z'));
    assert.equal(run.info.endTime, Date.parse('2026-01-02T03:14:05.500Z'));

    const { notes, ...params } = run.data.params;
    assert.deepEqual(params, {
      seed: '42',
      'train.lr': '0.01',
      'train.layers': '[64,32]',
      'train.optimizer.name': 'adam',
      'train.optimizer.momentum': '0.9',
      'data.path': 'data/raw.csv',
    });
    assert.equal(notes.length, MLFLOW_LIMITS.paramValue);
    assert.match(notes, /^x+ \.\.\. \[cut by mlpipe: 7000 characters; the full value is in mlpipe\/run\.json\]$/);

    const latest = Object.fromEntries(run.data.metrics.map((metric) => [metric.key, metric]));
    assert.equal(latest['eval-test.auc'].value, 0.91);
    assert.equal(latest['eval-test.threshold.best'].value, 0.42);
    assert.equal(latest['train.accuracy'].value, 0.93);
    assert.equal(latest['train.converged'].value, 1);
    assert.equal(latest['train.optimizer'], undefined, 'text metrics are not sent');
    assert.equal(latest['stale.score'].value, 1);
    assert.equal(latest['eval-test.auc'].step, 0);
    assert.equal(latest['eval-test.auc'].timestamp, Date.parse('2026-01-02T03:14:05.500Z'));
    assert.equal(latest.loss.value, 0.02, 'the latest value of a series is its last point');
    assert.equal(latest.loss.step, 49);

    const history = await client.metricHistory(result.runId, 'loss');
    const expected = first.series.find((one) => one.name === 'loss')!;
    assert.deepEqual(
      history.map((point) => point.step).sort((a, b) => a - b),
      expected.steps,
    );
    assert.deepEqual(
      [...history].sort((a, b) => a.step - b.step).map((point) => point.value),
      expected.values,
    );
    const schedule = await client.metricHistory(result.runId, 'train.lr_schedule');
    assert.deepEqual(
      [...schedule].sort((a, b) => a.step - b.step).map((point) => [point.step, point.value]),
      [
        [0, 0.1],
        [1, 0.05],
        [2, 0.01],
      ],
    );
    assert.equal((await client.metricHistory(result.runId, 'loss.val_loss')).length, 50);

    assert.equal(run.data.tags['mlpipe.run_id'], first.record.id);
    assert.equal(run.data.tags['mlflow.runName'], first.record.id);
    assert.equal(run.data.tags['mlpipe.pipeline'], 'mlpipe.yaml');
    assert.equal(run.data.tags['mlpipe.status'], 'succeeded');
    assert.equal(run.data.tags['mlflow.source.git.commit'], '0123456789abcdef0123456789abcdef01234567');
    assert.equal(run.data.tags['mlpipe.dirty'], 'true');
    assert.equal(run.data.tags['mlflow.note.content'], 'Baseline with the new features.');
    assert.equal(run.data.tags.team, 'churn');
    assert.equal(run.data.tags['needs review'], 'yes');

    const top = await client.listArtifacts(result.runId);
    assert.deepEqual(top.map((entry) => [entry.path, entry.isDir]).sort(), [
      ['metrics', true],
      ['mlpipe', true],
    ]);
    const metricsFiles = await client.listArtifacts(result.runId, 'metrics');
    assert.deepEqual(metricsFiles.map((entry) => entry.path).sort(), [
      'metrics/eval-test.json',
      'metrics/loss.csv',
      'metrics/train.json',
    ]);
    for (const artifact of input.artifacts) {
      assert.deepEqual(
        await client.downloadArtifact(run.info.artifactUri, artifact.path),
        readFileSync(artifact.file),
        artifact.path,
      );
    }
  });

  it('logging the same run again updates the MLflow run instead of making a second one', async () => {
    const input = loadRunForTracking(first.root, first.record.id)!;
    input.tags = { ...input.tags, reviewed: 'by ana' };
    const again = await logRun(client, input);
    assert.equal(again.reused, true);
    assert.equal(again.runId, firstRunId);
    const found = await client.searchRuns({
      experimentIds: [again.experimentId],
      filter: `tags.\`mlpipe.run_id\` = '${first.record.id}'`,
    });
    assert.equal(found.runs.length, 1);
    assert.equal(found.runs[0].data.tags.reviewed, 'by ana');
    assert.equal((await client.metricHistory(again.runId, 'loss')).length, 50, 'points sent twice are kept once');
    assert.equal((await client.metricHistory(again.runId, 'eval-test.auc')).length, 1);
  });

  it('keeps runs in the outbox while the server is down and sends them once it is back', async () => {
    const dir = workspace();
    const { root } = await makeRun(dir, '20260103-000000-000-0001');
    await makeRun(dir, '20260103-000000-000-0002');
    const outbox = new TrackingOutbox(root);
    outbox.enqueue('20260103-000000-000-0001');
    outbox.enqueue('20260103-000000-000-0002');
    const load = (id: string) => loadRunForTracking(root, id);

    // Nothing listens on the port of a stopped server.
    await server.halt();
    try {
      const down = await outbox.flush(client, load);
      assert.deepEqual(down.sent, []);
      assert.equal(down.failed.length, 1, 'the flush stops at the first connection failure');
      assert.match(
        down.failed[0].error,
        new RegExp(`could not connect to MLflow at ${server.uri}.*is the server running at ${server.uri}\\?`),
      );
      assert.equal(down.pending, 2);
      const [entry] = outbox.pending();
      assert.equal(entry.attempts, 1);
      assert.match(entry.lastError ?? '', /ECONNREFUSED/);
      assert.ok(Date.parse(entry.nextAttempt!) > Date.now());
      const status = outbox.status();
      assert.equal(status.pending, 2);
      assert.equal(status.lastError?.uri, server.uri);
      assert.match(status.lastError?.message ?? '', /is the server running/);
      // Backoff: a second flush right away leaves the failed run alone and tries the other one.
      const soon = await outbox.flush(client, load);
      assert.deepEqual(
        soon.failed.map((failure) => failure.runId),
        ['20260103-000000-000-0002'],
      );
    } finally {
      await server.resume();
    }

    // Two flushes at once: one sends, the other finds the outbox busy.
    const [one, two] = await Promise.all([
      outbox.flush(client, load, { force: true }),
      outbox.flush(client, load, { force: true }),
    ]);
    const busy = [one, two].filter((result) => result.busy);
    const done = [one, two].find((result) => !result.busy)!;
    assert.equal(busy.length, 1);
    assert.deepEqual(done.sent, ['20260103-000000-000-0001', '20260103-000000-000-0002']);
    assert.equal(done.pending, 0);
    assert.deepEqual(outbox.pending(), []);
    const status = outbox.status();
    assert.equal(status.pending, 0);
    assert.equal(status.lastSuccess?.runId, '20260103-000000-000-0002');
    const rows = await listRuns(client, experimentName({ pipeline: 'mlpipe.yaml' }));
    assert.deepEqual(rows.map((row) => row.mlpipeRunId).sort(), [
      '20260103-000000-000-0001',
      '20260103-000000-000-0002',
    ]);

    // A run deleted locally before it went is dropped, not retried forever.
    outbox.enqueue('20260103-000000-000-9999');
    const dropped = await outbox.flush(client, load);
    assert.deepEqual(dropped.dropped, ['20260103-000000-000-9999']);
    assert.equal(dropped.pending, 0);
  });

  it('never puts credentials in errors', async () => {
    const token = 'tok-very-secret-4711';
    const withToken = new MlflowClient(server.uri, { env: { MLFLOW_TRACKING_TOKEN: token } });
    const missingRun = await rejection(withToken.getRun('0000000000000000000000000000dead'));
    assert.equal(missingRun.status, 404);
    assert.equal(missingRun.errorCode, 'RESOURCE_DOES_NOT_EXIST');
    assert.match(missingRun.message, /runs\/get answered HTTP 404 RESOURCE_DOES_NOT_EXIST/);
    assert.ok(!inspect(missingRun).includes(token) && !inspect(withToken).includes(token));

    const closed = await closedPort();
    const refused = await rejection(
      new MlflowClient(`http://127.0.0.1:${closed}`, { env: { MLFLOW_TRACKING_TOKEN: token } }).getRun('x'),
    );
    assert.equal(refused.unreachable, true);
    assert.match(refused.message, /ECONNREFUSED.*is the server running at http:\/\/127\.0\.0\.1:\d+\?/);
    assert.ok(!refused.message.includes(token));

    // A server that takes the connection and never answers.
    const sockets: Socket[] = [];
    const silent = createNetServer((socket) => void sockets.push(socket));
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    try {
      const timedOut = await rejection(
        new MlflowClient(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, {
          env: { MLFLOW_TRACKING_TOKEN: token },
          timeoutMs: 300,
        }).getRun('x'),
      );
      assert.equal(timedOut.kind, 'timeout');
      assert.equal(timedOut.unreachable, true);
      assert.match(timedOut.message, /did not answer GET runs\/get in time/);
    } finally {
      silent.close();
      for (const socket of sockets) socket.destroy();
    }

    // A server that echoes the credentials back in its 401: they are taken out of the message.
    const echo = await echoingUnauthorized();
    try {
      const uri = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
      for (const env of [
        { MLFLOW_TRACKING_TOKEN: token },
        { MLFLOW_TRACKING_USERNAME: 'ana', MLFLOW_TRACKING_PASSWORD: 'pa55-w0rd-secret' },
      ]) {
        const error = await rejection(new MlflowClient(uri, { env }).getExperimentByName('x'));
        assert.equal(error.kind, 'auth');
        assert.equal(error.affectsAllRuns, true);
        assert.match(
          error.message,
          /HTTP 401 UNAUTHENTICATED: bad credentials: (Bearer|Basic) \*\*\*; check MLFLOW_TRACKING_TOKEN/,
        );
        const text = `${error.message}\n${error.stack ?? ''}\n${inspect(error)}\n${JSON.stringify(error)}`;
        for (const secret of [token, 'pa55-w0rd-secret', Buffer.from('ana:pa55-w0rd-secret').toString('base64')])
          assert.ok(!text.includes(secret), `the error shows ${secret}`);
      }
      // Credentials in the URI itself are used, never shown.
      const inUri = new MlflowClient(`http://ana:pa55-w0rd-secret@127.0.0.1:${(echo.address() as AddressInfo).port}`, {
        env: {},
      });
      assert.ok(!inUri.uri.includes('pa55'));
      const error = await rejection(inUri.getExperimentByName('x'));
      assert.ok(!error.message.includes('pa55-w0rd-secret') && /Basic \*\*\*/.test(error.message));
    } finally {
      await new Promise((done) => echo.close(done));
    }
  });

  it('lists the runs of an experiment with their latest metrics', async () => {
    const rows = await listRuns(client, 'mlpipe/churn');
    assert.equal(rows.length, 1);
    const [row] = rows;
    assert.equal(row.runId, firstRunId);
    assert.equal(row.mlpipeRunId, first.record.id);
    assert.equal(row.name, first.record.id);
    assert.equal(row.status, 'FINISHED');
    assert.equal(row.startTime, '2026-01-02T03:04:05.000Z');
    assert.equal(row.endTime, '2026-01-02T03:14:05.500Z');
    assert.equal(row.metrics['eval-test.auc'], 0.91);
    assert.equal(row.metrics.loss, 0.02);
    assert.equal(row.params['train.lr'], '0.01');
    assert.equal(row.tags.team, 'churn');
    assert.deepEqual(await listRuns(client, 'mlpipe/churn', { filter: 'metrics.`eval-test.auc` > 0.95' }), []);
    assert.deepEqual(await listRuns(client, 'mlpipe/no-such-pipeline'), []);
  });

  it('sends 2,500 points of a series in batches MLflow accepts', async () => {
    const experiment = await client.ensureExperiment('mlpipe/batching');
    const run = await client.createRun({
      experimentId: experiment.experimentId,
      runName: 'many-points',
      startTime: Date.now(),
    });
    const metrics = Array.from({ length: 2500 }, (_, step) => ({
      key: 'loss',
      value: 1 / (step + 1),
      timestamp: 1_700_000_000_000,
      step,
    }));
    const requests = await client.logBatch(run.info.runId, { metrics, params: [{ key: 'points', value: '2500' }] });
    assert.equal(requests, 3);
    const history = await client.metricHistory(run.info.runId, 'loss');
    assert.equal(history.length, 2500);
    assert.deepEqual(
      history.map((point) => point.step).sort((a, b) => a - b),
      metrics.map((point) => point.step),
    );
  });
});
