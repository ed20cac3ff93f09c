import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pushToMlflowRegistry } from '../../core/src/registry/mlflow-registry';
import { PushError } from '../../core/src/registry/types';
import { MlpipeDir } from '../../core/src/runs/records';
import { INCOMPLETE_TAG, logRun, MlflowClient } from '../../core/src/tracking/mlflow';
import { loadRunForTracking, TrackingOutbox } from '../../core/src/tracking/outbox';
import { freePort } from '../../scripts/vscode-web';
import { tempWorkspace } from '../support/files';
import { ensureMlflow, mlflowMissing, startMlflow, type RunningMlflow } from '../support/mlflow-server';
import { mlpipe } from '../support/mlpipe-cli';
import { makePackage } from '../support/registry';
import { fakeRecord } from '../support/store-fixtures';

/*
 * A REAL `mlflow server --no-serve-artifacts` whose artifact root mlpipe cannot reach (gs://): it
 * takes params, metrics and tags, but a run's artifacts cannot go through it. Logging there must say PARTIAL, keep the run queued, tag the
 * MLflow run as incomplete, and a model push must say NOT PUSHED; never "logged" or "pushed".
 * (test/support/mlflow-server.ts always serves artifacts, so the server is started here with the
 * same cached venv.)
 */

const missing = mlflowMissing();
if (missing && process.env.CI) throw new Error(`MLflow tests cannot run: ${missing}`);

async function startWithoutArtifacts(): Promise<{ uri: string; stop: () => Promise<void>; log: () => string }> {
  const mlflow = ensureMlflow();
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-mlflow-noart-'));
  const port = await freePort();
  const uri = `http://127.0.0.1:${port}`;
  const logFile = join(dir, 'server.log');
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      mlflow,
      [
        'server',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--backend-store-uri',
        `sqlite:///${join(dir, 'mlflow.db')}`,
        '--default-artifact-root',
        // A store mlpipe cannot reach (a local folder it now writes itself: mlflow-artifact-stores.test.ts).
        'gs://mlpipe-unreachable/artifacts',
        '--no-serve-artifacts',
        '--workers',
        '1',
      ],
      {
        cwd: dir,
        detached: true,
        stdio: ['ignore', fd, fd],
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          LANG: 'C.UTF-8',
          MLFLOW_DISABLE_TELEMETRY: 'true',
          DO_NOT_TRACK: 'true',
        },
      },
    );
  } finally {
    closeSync(fd);
  }
  const log = () => readFileSync(logFile, 'utf8').slice(-3000);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      process.kill(-child.pid!, 'SIGTERM');
      const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Waits on the condition (the health endpoint), not on a fixed sleep.
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mlflow server exited:\n${log()}`);
    const healthy = await fetch(`${uri}/health`, { signal: AbortSignal.timeout(2000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`mlflow server did not start:\n${log()}`);
    }
    await new Promise((done) => setTimeout(done, 200));
  }
  return { uri, stop, log };
}

const RUN = '20260102-030405-000-abcd';

/** A workspace whose `.mlpipe/` holds one finished run with a metrics file it wrote. */
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

describe(
  'an MLflow server without the artifact proxy: a partial send is said, queued and never called success',
  { skip: missing },
  () => {
    let server: Awaited<ReturnType<typeof startWithoutArtifacts>>;
    before(async () => {
      server = await startWithoutArtifacts();
    });
    after(async () => {
      await server?.stop();
    });

    it(
      'mlpipe runs sync: PARTIAL with what is missing, exit 1, the run stays in the outbox marked partial, the MLflow run tagged incomplete',
      { timeout: 300_000 },
      async () => {
        const workspace = workspaceWithRun();
        try {
          const result = mlpipe(['runs', 'sync', '--all'], workspace.dir, { MLFLOW_TRACKING_URI: server.uri });
          assert.equal(result.status, 1, `${result.stderr}\n${server.log()}`);
          assert.match(
            result.stderr,
            new RegExp(
              `PARTIAL: run ${RUN} logged only in part to ${server.uri.replace(/[.:/]/g, '\\$&')} \\(MLflow run [0-9a-f]+\\): 1 artifact not uploaded \\(mlpipe/run\\.json\\): .*--serve-artifacts`,
            ),
          );
          assert.doesNotMatch(result.stderr, /logged run /, 'a partial send is not called logged');
          assert.match(result.stderr, /1 run queued in \.mlpipe\/tracking\/outbox/);

          const outbox = new TrackingOutbox(join(workspace.dir, '.mlpipe'));
          const [entry] = outbox.pending();
          assert.equal(entry?.runId, RUN);
          assert.equal(entry?.partial, true);
          assert.match(entry?.lastError ?? '', /not uploaded/);
          assert.match(outbox.status().lastError?.message ?? '', /logged only in part/);

          // What did go is in MLflow, and the run there says what did not.
          const client = new MlflowClient(server.uri, { env: {} });
          const experiment = await client.getExperimentByName('mlpipe/churn');
          const { runs } = await client.searchRuns({ experimentIds: [experiment!.experimentId] });
          assert.equal(runs.length, 1);
          assert.equal(runs[0]!.data.params['train.lr'], '0.1');
          assert.equal(runs[0]!.data.metrics.find((metric) => metric.key === 'auc')?.value, 0.8);
          assert.match(
            runs[0]!.data.tags[INCOMPLETE_TAG] ?? '',
            /^logged in part by mlpipe: 1 artifact not uploaded \(mlpipe\/run\.json\)/,
          );

          // Sent again: still partial, still queued, still one MLflow run.
          const again = mlpipe(['runs', 'sync'], workspace.dir, { MLFLOW_TRACKING_URI: server.uri });
          assert.equal(again.status, 1);
          assert.match(again.stderr, /PARTIAL/);
          assert.equal(outbox.pending()[0]?.attempts, 2);
          assert.equal((await client.searchRuns({ experimentIds: [experiment!.experimentId] })).runs.length, 1);
        } finally {
          workspace.cleanup();
        }
      },
    );

    it('a push to its Model Registry says NOT PUSHED and registers nothing', { timeout: 300_000 }, async () => {
      const workspace = workspaceWithRun();
      try {
        const pkg = { ...makePackage(join(workspace.dir, 'package')), run: RUN };
        const client = new MlflowClient(server.uri, { env: {} });
        const error = await pushToMlflowRegistry(pkg, {
          client,
          mlpipeRoot: join(workspace.dir, '.mlpipe'),
          modelName: 'partial-model',
        }).then(
          () => assert.fail('the push succeeded'),
          (failure: unknown) => failure,
        );
        assert.ok(error instanceof PushError, String(error));
        assert.match(error.message, /run 20260102-030405-000-abcd went only in part \(1 artifact not uploaded/);
        assert.match(
          error.message,
          /NOT PUSHED: no version of partial-model was registered and the alias champion is unchanged/,
        );
        const models = await client.request<{ registered_models?: unknown[] }>('GET', 'registered-models/search', {
          filter: "name = 'partial-model'",
        });
        assert.deepEqual(models.registered_models ?? [], []);
      } finally {
        workspace.cleanup();
      }
    });
  },
);

describe(
  'a run sent complete after a partial send loses its incomplete tag (a real MLflow server that serves artifacts)',
  { skip: missing },
  () => {
    let server: RunningMlflow;
    before(async () => {
      server = await startMlflow();
    });
    after(async () => {
      await server?.stop();
    });

    it('logRun takes mlpipe.incomplete away once everything went', { timeout: 300_000 }, async () => {
      const workspace = workspaceWithRun();
      try {
        const client = new MlflowClient(server.uri, { env: {} });
        const input = loadRunForTracking(join(workspace.dir, '.mlpipe'), RUN)!;
        const first = await logRun(client, input);
        assert.deepEqual(first.incomplete, []);
        await client.setTag(first.runId, INCOMPLETE_TAG, 'logged in part by mlpipe: as a partial send leaves it');
        const second = await logRun(client, input);
        assert.equal(second.runId, first.runId);
        assert.deepEqual(second.incomplete, []);
        assert.equal((await client.getRun(first.runId)).data.tags[INCOMPLETE_TAG], undefined);
      } finally {
        workspace.cleanup();
      }
    });
  },
);
