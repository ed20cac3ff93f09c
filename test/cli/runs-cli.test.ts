import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MlpipeDir, type RunRecord } from '../../core/src/runs/records';
import { saveStageSeries } from '../../core/src/store/store';
import { tempWorkspace } from '../support/files';
import { fakeRecord } from '../support/store-fixtures';
import { mlpipe } from '../support/mlpipe-cli';

/** `mlpipe runs ...` over run records as the runner writes them (the engine tier covers real runs). */
describe('mlpipe runs', () => {
  let dir: string;
  let cleanup: () => void;
  const ids = ['20260301-100000-000-aaaa', '20260302-100000-000-bbbb', '20260303-100000-000-cccc'];

  before(() => {
    ({ dir, cleanup } = tempWorkspace({ 'mlpipe.yaml': 'version: 1\nname: churn\nstages: {}\n' }));
    const mlpipe = new MlpipeDir(join(dir, '.mlpipe'));
    ids.forEach((id, index) => {
      mlpipe.writeRecord(
        record(
          id,
          dir,
          { lr: [0.1, 0.01, 0.001][index], auc: [0.71, 0.84, 0.9][index] },
          index === 1 ? 'failed' : 'succeeded',
        ),
      );
      saveStageSeries(mlpipe, id, 'train', [
        {
          name: 'loss',
          stage: 'train',
          file: 'metrics/loss.csv',
          x: 'epoch',
          steps: [1, 2, 3],
          values: [0.9, 0.6 - index / 10, 0.4 - index / 10],
        },
      ]);
    });
  });
  after(() => cleanup?.());

  it('lists runs newest first with the params that differ and the metrics', () => {
    const result = mlpipe(['runs', 'list'], dir);
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.match(
      lines[0],
      /^ID\s+STATUS\s+STARTED\s+DURATION\s+params\.train\.lr\s+metrics\.auc\s+metrics\.loss\s+TAGS$/,
    );
    assert.match(
      lines[1],
      /^20260303-100000-000-cccc\s+succeeded\s+2026-03-03 10:00:00\s+30\.0s\s+0\.001\s+0\.9\s+0\.2$/,
    );
    assert.equal(lines.length, 4);
  });

  it('filters, sorts and groups, in text and JSON', () => {
    const json = (args: string[]) =>
      JSON.parse(mlpipe(['runs', 'list', '--format', 'json', ...args], dir).stdout) as {
        runs: { id: string }[];
        groups?: { key: string; runs: string[] }[];
      };
    assert.deepEqual(
      json(['--filter', 'metrics.auc > 0.8 and params.train.lr < 0.05']).runs.map((run) => run.id),
      [ids[2], ids[1]],
    );
    assert.deepEqual(
      json(['--filter', "status = 'failed'"]).runs.map((run) => run.id),
      [ids[1]],
    );
    assert.deepEqual(
      json(['--sort', 'metrics.auc']).runs.map((run) => run.id),
      ids,
    );
    assert.deepEqual(
      json(['--group', 'commit']).groups?.map((group) => group.runs.length),
      [2, 1],
    );
    const text = mlpipe(['runs', 'list', '--group', 'pipeline', '--columns', 'metrics.auc'], dir);
    assert.match(text.stdout, /^pipeline churn: 3 runs$/m);
  });

  it('points at the mistake in a bad filter and exits 2', () => {
    const result = mlpipe(['runs', 'list', '--filter', 'metrics.auc >> 0.8'], dir);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /bad expression:\n {2}metrics\.auc >> 0\.8\n {2} {13}\^ /);
    assert.ok(!/at \S+\.ts:\d+/.test(result.stderr), 'no stack trace');
  });

  it('shows a run with its stages, params, metrics and series, by unique prefix', () => {
    const result = mlpipe(['runs', 'show', '20260302'], dir);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^run 20260302-100000-000-bbbb {2}failed$/m);
    assert.match(result.stdout, /^ {2}train\.lr = 0\.01$/m);
    assert.match(result.stdout, /^ {2}loss {2}3 points over epoch, last 0\.3/m);
    const missing = mlpipe(['runs', 'show', 'nope'], dir);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no run 'nope'.*mlpipe runs list/);
    assert.match(mlpipe(['runs', 'show', '2026'], dir).stderr, /matches 3 runs/);
  });

  it('compares runs with the differences marked and deltas from the first', () => {
    const result = mlpipe(['runs', 'compare', ids[0], ids[2]], dir);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^\* metrics\.auc\s+0\.71\s+0\.9 \(\+0\.19\)$/m);
    assert.match(result.stdout, /^\* params\.train\.lr\s+0\.1\s+0\.001 \(-0\.099\)$/m);
    assert.match(result.stdout, /identical param hidden; --all shows them/);
    assert.equal(mlpipe(['runs', 'compare', ids[0]], dir).status, 2);
  });

  it('tags, notes and deletes runs; the list follows', () => {
    assert.equal(mlpipe(['runs', 'tag', ids[0], 'team=vision', 'reviewed'], dir).status, 0);
    assert.match(mlpipe(['runs', 'list', '--filter', "tags.team = 'vision'"], dir).stdout, new RegExp(ids[0]));
    assert.match(mlpipe(['runs', 'tag', ids[0], '--remove', 'reviewed'], dir).stderr, /tags: team=vision\n/);
    assert.equal(mlpipe(['runs', 'tag', ids[0], 'bad name=x'], dir).status, 2);
    assert.equal(mlpipe(['runs', 'note', ids[0], 'baseline'], dir).status, 0);
    assert.match(mlpipe(['runs', 'show', ids[0]], dir).stdout, /note {6}baseline/);
    assert.equal(mlpipe(['runs', 'delete', ids[0]], dir).status, 0);
    assert.equal(existsSync(join(dir, '.mlpipe/runs', ids[0])), false);
    assert.equal((JSON.parse(mlpipe(['runs', 'list', '--format', 'json'], dir).stdout) as { count: number }).count, 2);
  });

  it('rebuilds the index from the records and reports unknown subcommands plainly', () => {
    writeFileSync(join(dir, '.mlpipe/store/index.jsonl'), '');
    assert.equal((JSON.parse(mlpipe(['runs', 'list', '--format', 'json'], dir).stdout) as { count: number }).count, 0);
    assert.match(mlpipe(['runs', 'reindex'], dir).stderr, /rebuilt the index of 2 runs/);
    assert.equal((JSON.parse(mlpipe(['runs', 'list', '--format', 'json'], dir).stdout) as { count: number }).count, 2);
    const bad = mlpipe(['runs', 'frobnicate'], dir);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /runs needs one of: list, show, compare/);
  });
});

function record(
  id: string,
  workspace: string,
  values: { lr: number; auc: number },
  status: RunRecord['status'],
): RunRecord {
  return fakeRecord(id, workspace, {
    status,
    started: `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T10:00:00.000Z`,
    git: { commit: id.endsWith('aaaa') ? 'b'.repeat(40) : 'a'.repeat(40), dirty: false },
    params: { 'train.lr': values.lr, 'train.epochs': 3 },
    metrics: { 'metrics.json': { auc: values.auc } },
  });
}
