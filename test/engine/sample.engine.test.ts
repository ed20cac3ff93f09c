import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX_IMAGE, PYTHON_IMAGE, ensureImages } from '../../scripts/sample-image';
import { enginesMissing, mlpipeContainers, startDockerd, type RunningEngine } from '../support/engines';
import { ROOT } from '../support/files';
import { lastRecord, mlpipe, statuses } from '../support/mlpipe-cli';

const missing = enginesMissing();
if (missing && process.env.CI) throw new Error(`Engine tests cannot run: ${missing}`);

describe('the sample pipeline on a real Docker Engine', { skip: missing }, () => {
  let engine: RunningEngine;
  let workspace: string;
  const env = () => ({ DOCKER_HOST: engine.address });

  before(async () => {
    engine = await startDockerd();
    await ensureImages(engine.docker, [PYTHON_IMAGE, BUSYBOX_IMAGE]);
    workspace = mkdtempSync(join(tmpdir(), 'mlpipe-sample-'));
    cpSync(join(ROOT, 'sample-workspace'), workspace, { recursive: true });
  });

  after(async () => {
    await engine?.stop();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it('runs prepare, train and both evaluate variants, producing a model and real metrics', () => {
    const result = mlpipe(['run'], workspace, env());
    assert.equal(result.status, 0, result.stderr);
    const record = lastRecord(workspace);
    assert.equal(record.status, 'succeeded');
    assert.deepEqual(statuses(record), {
      prepare: 'succeeded',
      train: 'succeeded',
      'evaluate@val': 'succeeded',
      'evaluate@test': 'succeeded',
    });
    assert.ok(existsSync(join(workspace, 'models/model.npz')));
    const test = JSON.parse(readFileSync(join(workspace, 'metrics/eval-test.json'), 'utf8')) as {
      auc: number;
      rows: number;
    };
    assert.ok(test.auc > 0.7 && test.rows > 100, `trained for real: ${JSON.stringify(test)}`);
    const evaluate = record.stages.find((stage) => stage.name === 'evaluate@test')!;
    assert.equal(evaluate.metrics['metrics/eval-test.json'].auc, test.auc, 'the record holds the metrics');
    assert.match(evaluate.imageDigest ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.match(result.stdout, /^prepare\s+\| kept \d+ of 3000 rows/m, 'live logs carry the stage name');
    assert.match(readFileSync(join(workspace, '.mlpipe/runs', record.id, evaluate.log), 'utf8'), /"auc"/);
  });

  it('skips every stage on a second run, and status says all is up to date', async () => {
    const result = mlpipe(['run'], workspace, env());
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(Object.values(statuses(lastRecord(workspace))), ['skipped', 'skipped', 'skipped', 'skipped']);
    const status = mlpipe(['status', '--format', 'json'], workspace, env());
    assert.deepEqual(
      (JSON.parse(status.stdout) as { stages: { state: string }[] }).stages.map((stage) => stage.state),
      ['up-to-date', 'up-to-date', 'up-to-date', 'up-to-date'],
    );
    assert.deepEqual(await mlpipeContainers(engine.docker, workspace), [], 'no container is left behind');
  });

  it('reruns exactly the stages a changed param affects, and explains why beforehand', () => {
    const params = join(workspace, 'params.yaml');
    const original = readFileSync(params, 'utf8');
    writeFileSync(params, original.replace('epochs: 200', 'epochs: 150'));
    const status = mlpipe(['status'], workspace, env());
    assert.match(status.stdout, /^train\s+stale: param train\.epochs: 200 -> 150/m);
    assert.match(status.stdout, /^prepare\s+up to date$/m);
    assert.match(status.stdout, /^evaluate@test\s+stale: upstream 'train' runs first$/m);
    const result = mlpipe(['run'], workspace, env());
    assert.equal(result.status, 0, result.stderr);
    const fewerEpochs = lastRecord(workspace);
    assert.deepEqual(statuses(fewerEpochs), {
      prepare: 'skipped',
      train: 'succeeded',
      'evaluate@val': 'succeeded',
      'evaluate@test': 'succeeded',
    });
    const fewerEpochsModel = readFileSync(join(workspace, 'models/model.npz'));

    // Switching back costs no compute: the cache has those outputs.
    writeFileSync(params, original);
    const back = mlpipe(['run'], workspace, env());
    assert.equal(back.status, 0, back.stderr);
    assert.deepEqual(statuses(lastRecord(workspace)), {
      prepare: 'skipped',
      train: 'restored',
      'evaluate@val': 'restored',
      'evaluate@test': 'restored',
    });
    assert.ok(!back.stdout.includes('$ python3'), 'nothing ran');
    assert.ok(!readFileSync(join(workspace, 'models/model.npz')).equals(fewerEpochsModel), 'a different model');

    // `mlpipe checkout RUN` puts the 150-epoch outputs back, and status knows they no longer match params.yaml.
    const checkout = mlpipe(['checkout', fewerEpochs.id], workspace, env());
    assert.equal(checkout.status, 0, checkout.stderr);
    assert.match(checkout.stderr, /restored \d+ outputs of run .*models\/model\.npz/);
    assert.ok(
      readFileSync(join(workspace, 'models/model.npz')).equals(fewerEpochsModel),
      'the model of that run, byte for byte',
    );
    assert.match(
      mlpipe(['status'], workspace, env()).stdout,
      /^train\s+cached: param train\.epochs: 150 -> 200; .*same inputs as run \S+: would restore its outputs from the cache$/m,
    );
  });

  it('lists every run in the experiment store with its params, metrics and loss curve', () => {
    const list = mlpipe(['runs', 'list', '--format', 'json'], workspace, env());
    assert.equal(list.status, 0, list.stderr);
    type Listed = {
      id: string;
      status: string;
      params: Record<string, unknown>;
      metrics: Record<string, number>;
      series: string[];
    };
    const runs = (JSON.parse(list.stdout) as { runs: Listed[] }).runs;
    assert.equal(runs.length, 4, 'the four runs of this file');
    assert.ok(runs.every((run) => run.status === 'succeeded'));
    assert.deepEqual(
      runs.map((run) => run.params['train.epochs']),
      [200, 150, 200, 200],
      'newest first',
    );
    // The workspace holds the 150-epoch run's outputs (checked out above): its metrics and curve.
    const test = JSON.parse(readFileSync(join(workspace, 'metrics/eval-test.json'), 'utf8')) as { auc: number };
    assert.equal(runs[1].metrics['eval-test.auc'], test.auc);
    assert.notEqual(runs[0].metrics['eval-test.auc'], test.auc);
    assert.ok(runs[0].series.includes('loss'), `series: ${runs[0].series.join(', ')}`);

    // The loss curve is the file's, point for point.
    const show = JSON.parse(mlpipe(['runs', 'show', runs[1].id, '--format', 'json'], workspace, env()).stdout) as {
      series: { name: string; points: number }[];
    };
    assert.deepEqual(show.series.find((one) => one.name === 'loss')?.points, 150);
    const series = JSON.parse(readFileSync(join(workspace, '.mlpipe/runs', runs[1].id, 'series.json'), 'utf8')) as {
      series: { name: string; steps: number[]; values: number[] }[];
    };
    const csv = readFileSync(join(workspace, 'metrics/loss.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(',').map(Number));
    const loss = series.series.find((one) => one.name === 'loss')!;
    assert.deepEqual(
      loss.steps,
      csv.map(([epoch]) => epoch),
    );
    assert.deepEqual(
      loss.values,
      csv.map(([, value]) => value),
    );

    const compare = mlpipe(['runs', 'compare', runs[0].id, runs[1].id], workspace, env());
    assert.equal(compare.status, 0, compare.stderr);
    assert.match(compare.stdout, /^\* params\.train\.epochs\s+200\s+150 \(-50\)$/m);
    const filtered = mlpipe(
      ['runs', 'list', '--filter', 'params.`train.epochs` < 200', '--format', 'json'],
      workspace,
      env(),
    );
    assert.deepEqual(
      (JSON.parse(filtered.stdout) as { runs: Listed[] }).runs.map((run) => run.id),
      [runs[1].id],
    );
  });
});
