import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { collectGarbage } from '../../core/src/store/gc';
import { HashState } from '../../core/src/runs/hash';
import { MlpipeDir, type RunRecord } from '../../core/src/runs/records';
import { ContentStore } from '../../core/src/runs/content-cache';
import { compileFilter } from '../../core/src/store/query';
import { readPlotSeries, valueName } from '../../core/src/store/series';
import { ExperimentStore, saveStageSeries } from '../../core/src/store/store';
import { ROOT, tempWorkspace } from '../support/files';
import { fakeRecord, fakeSummary, writeIndex } from '../support/store-fixtures';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((cleanup) => cleanup()));

function tempStore(): string {
  const { dir, cleanup } = tempWorkspace({});
  cleanups.push(cleanup);
  return join(dir, '.mlpipe');
}

/** Runs test/support/store-writer.ts in its own process. */
function writer(root: string, prefix: string, count: number, ...flags: string[]) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'test/support/store-writer.ts'), root, prefix, String(count), ...flags],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, done, stderr: () => stderr };
}

describe('experiment store', () => {
  it('records runs, tags and notes, and a second instance sees them after refresh', () => {
    const root = tempStore();
    const a = ExperimentStore.open(root);
    const b = ExperimentStore.open(root);
    a.record(fakeSummary('20260101-000000-000-0001', 1));
    a.record(fakeSummary('20260101-000000-000-0002', 2));
    a.tag('20260101-000000-000-0001', { team: 'vision' });
    a.setNote('20260101-000000-000-0002', 'baseline');
    assert.equal(b.size, 0);
    assert.equal(b.refresh(), true);
    assert.equal(b.size, 2);
    assert.deepEqual(b.get('20260101-000000-000-0001')?.tags, { team: 'vision' });
    assert.equal(b.resolve('20260101-000000-000-0002').note, 'baseline');
    assert.deepEqual(
      b.runs().map((run) => run.summary.id),
      ['20260101-000000-000-0002', '20260101-000000-000-0001'],
    );
    // An update of a run replaces its summary and keeps its tags.
    a.record({ ...fakeSummary('20260101-000000-000-0001', 1), status: 'failed' });
    b.refresh();
    assert.equal(b.get('20260101-000000-000-0001')?.status, 'failed');
    assert.deepEqual(b.get('20260101-000000-000-0001')?.tags, { team: 'vision' });
  });

  it('resolves unique prefixes and names the choices when a prefix is ambiguous', () => {
    const root = tempStore();
    const store = ExperimentStore.open(root);
    store.record(fakeSummary('20260101-000000-000-aaaa', 1));
    store.record(fakeSummary('20260101-000000-000-aabb', 2));
    assert.equal(store.resolve('20260101-000000-000-aaa').summary.id, '20260101-000000-000-aaaa');
    assert.throws(() => store.resolve('20260101-000000-000-aa'), /matches 2 runs/);
    assert.throws(() => store.resolve('nope'), /no run 'nope'.*mlpipe runs list/);
  });

  it('skips a line cut short by a crash and keeps every run before and after it', () => {
    const root = tempStore();
    const store = ExperimentStore.open(root);
    store.record(fakeSummary('run-1', 1));
    appendFileSync(store.indexPath, '{"op":"run","summary":{"v":1,"id":"run-2","pipel'); // a writer died here
    const reader = ExperimentStore.open(root);
    assert.equal(reader.size, 1, 'the half line is not read');
    store.record(fakeSummary('run-3', 3));
    const after = ExperimentStore.open(root);
    assert.deepEqual(
      after
        .runs()
        .map((run) => run.summary.id)
        .sort(),
      ['run-1', 'run-3'],
    );
    assert.equal(after.damaged, 1, 'the damaged line is counted so `runs list` can say so');
  });

  it('rebuilds a lost index from the run records, and deletes runs with their folders', () => {
    const { dir, cleanup } = tempWorkspace({});
    cleanups.push(cleanup);
    const mlpipe = new MlpipeDir(join(dir, '.mlpipe'));
    for (const id of ['20260101-000000-000-0001', '20260101-000000-000-0002']) mlpipe.writeRecord(record(id, dir));
    saveStageSeries(mlpipe, '20260101-000000-000-0002', 'train', [
      { name: 'loss', stage: 'train', file: 'metrics/loss.csv', x: 'epoch', steps: [1, 2], values: [0.7, 0.5] },
    ]);
    const store = ExperimentStore.open(mlpipe.root);
    assert.equal(store.size, 2);
    assert.equal(store.get('20260101-000000-000-0002')?.metrics.loss, 0.5, 'the last value of a series is a metric');
    assert.equal(store.get('20260101-000000-000-0001')?.metrics['eval-test.auc'], 0.9);
    store.delete(['20260101-000000-000-0001']);
    assert.equal(existsSync(mlpipe.runDir('20260101-000000-000-0001')), false);
    rmSync(store.indexPath);
    assert.deepEqual(
      ExperimentStore.open(mlpipe.root)
        .runs()
        .map((run) => run.summary.id),
      ['20260101-000000-000-0002'],
    );
  });

  it('compacts superseded lines and keeps tags and notes through it', () => {
    const root = tempStore();
    const store = ExperimentStore.open(root);
    store.record(fakeSummary('run-1', 1));
    store.tag('run-1', { keep: '' });
    for (let i = 0; i < 1100; i++) store.setNote('run-1', `note ${i}`);
    const lines = readFileSync(store.indexPath, 'utf8').trim().split('\n').length;
    assert.ok(lines < 1000, `index compacted (${lines} lines)`);
    const reopened = ExperimentStore.open(root);
    assert.equal(reopened.get('run-1')?.note, 'note 1099');
    assert.deepEqual(reopened.get('run-1')?.tags, { keep: '' });
  });

  it('loses nothing when two processes write at once', async () => {
    const root = tempStore();
    const one = writer(root, 'p1', 150, '--tag');
    const two = writer(root, 'p2', 150, '--tag');
    assert.deepEqual(await Promise.all([one.done, two.done]), [0, 0], one.stderr() + two.stderr());
    const store = ExperimentStore.open(root);
    assert.equal(store.size, 300);
    assert.equal(store.damaged, 0);
    for (const run of store.runs())
      assert.equal(run.tags.writer, run.summary.id.split('-')[0], `tags of ${run.summary.id}`);
  });

  it('survives a writer killed mid-write: earlier runs intact, the next writer goes on', async () => {
    const root = tempStore();
    const first = ExperimentStore.open(root);
    for (let i = 0; i < 20; i++) first.record(fakeSummary(`early-${i}`, i));
    const victim = writer(root, 'victim', 100000, '--tag');
    // Kill it once it has written a good number of lines, wherever it is (often inside the lock).
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (readFileSync(first.indexPath, 'utf8').length > 200_000) {
          clearInterval(check);
          victim.child.kill('SIGKILL');
          resolve();
        }
      }, 5);
    });
    await victim.done;
    const survivor = writer(root, 'after', 20);
    assert.equal(await survivor.done, 0, `a writer after the crash must get the lock: ${survivor.stderr()}`);
    const store = ExperimentStore.open(root);
    for (let i = 0; i < 20; i++) assert.ok(store.get(`early-${i}`), `early-${i} survived`);
    for (let i = 0; i < 20; i++) assert.ok(store.get(`after-${String(i).padStart(5, '0')}`), `after-${i} written`);
    assert.ok(store.damaged <= 1, `at most the one line being written is lost (${store.damaged})`);
    const victims = store.runs().filter((run) => run.summary.id.startsWith('victim'));
    assert.ok(victims.length > 100, `the victim's finished lines are kept (${victims.length})`);
  });

  it('loads, filters and sorts 10,000 runs with 50 metrics each, matching a brute-force scan', () => {
    const root = tempStore();
    writeIndex(root, 10_000, 50);
    const store = ExperimentStore.open(root);
    assert.equal(store.size, 10_000);
    const filter = "metrics.m3 > 0.5 and params.`train.lr` < 0.05 and params.optimizer = 'adam'";
    const got = store.query({ filter, sort: '-metrics.m7' }).map((run) => run.summary.id);
    const expected = store
      .runs()
      .filter(
        (run) =>
          (run.metrics.m3 as number) > 0.5 &&
          (run.params['train.lr'] as number) < 0.05 &&
          run.params.optimizer === 'adam',
      )
      .sort((a, b) => (b.metrics.m7 as number) - (a.metrics.m7 as number))
      .map((run) => run.summary.id);
    assert.ok(expected.length > 500, `a meaningful subset (${expected.length})`);
    assert.deepEqual(got, expected);
    assert.equal(compileFilter('status = "failed"')(store.runs()[0]), store.runs()[0].summary.status === 'failed');
  });
});

describe('metric series', () => {
  it('reads plot columns from CSV with x and y, and names values across files', () => {
    const { dir, cleanup } = tempWorkspace({
      'metrics/loss.csv': 'epoch,loss,acc\n1,0.9,0.5\n2,0.7,0.6\n3,,0.7\n',
      'metrics/train.tsv': 'step\tval_loss\n0\t1.5\n1\t1.2\n',
    });
    cleanups.push(cleanup);
    const loss = readPlotSeries(join(dir, 'metrics/loss.csv'), 'metrics/loss.csv', 'train', {
      x: 'epoch',
      y: ['loss'],
    });
    assert.deepEqual(
      loss.map((one) => [one.name, one.x, one.steps, one.values]),
      [['loss', 'epoch', [1, 2], [0.9, 0.7]]],
    );
    const all = readPlotSeries(join(dir, 'metrics/train.tsv'), 'metrics/train.tsv', 'train');
    assert.deepEqual(
      all.map((one) => [one.name, one.steps, one.values]),
      [['train.val_loss', [0, 1], [1.5, 1.2]]],
    );
    assert.equal(valueName('metrics/eval-test.json', 'auc'), 'eval-test.auc');
    assert.equal(valueName('metrics.json', 'auc'), 'auc');
  });
});

describe('runs gc', () => {
  it('frees what only old runs use, never the approved, candidate or current outputs', async () => {
    const { dir, cleanup } = tempWorkspace({});
    cleanups.push(cleanup);
    const mlpipe = new MlpipeDir(join(dir, '.mlpipe'));
    const cache = new ContentStore(join(mlpipe.root, 'cache'));
    const state = new HashState(join(mlpipe.root, 'state.json'));
    const ids = [
      '20260101-000000-000-0001',
      '20260101-000000-000-0002',
      '20260101-000000-000-0003',
      '20260101-000000-000-0004',
      '20260101-000000-000-0005',
    ];
    const hashes: string[] = [];
    for (const [index, id] of ids.entries()) {
      const file = join(dir, `model-${index}.bin`);
      writeFileSync(file, `weights of run ${index}`.repeat(100));
      const shared = join(dir, 'shared.txt');
      writeFileSync(shared, 'same in every run');
      const content = (await state.hash(file))!;
      const sharedContent = (await state.hash(shared))!;
      cache.put(file, content);
      cache.put(shared, sharedContent);
      hashes.push(content.hash);
      cache.saveEntry({
        version: 1,
        key: `sha256:${'0'.repeat(63)}${index}`,
        stage: 'train',
        run: id,
        created: '',
        outputs: { [`model-${index}.bin`]: content, 'shared.txt': sharedContent },
      });
      mlpipe.writeRecord(record(id, dir, `sha256:${'0'.repeat(63)}${index}`));
    }
    mkdirSync(join(dir, '.mlpipe', 'last'), { recursive: true });
    writeFileSync(join(dir, '.mlpipe', 'last', 'train.json'), JSON.stringify({ key: `sha256:${'0'.repeat(63)}1` }));
    writeFileSync(join(dir, 'modelcard.yaml'), `model: { name: m }\napproval:\n  status: approved\n  run: ${ids[0]}\n`);
    const store = ExperimentStore.open(mlpipe.root);
    store.tag(ids[2], { 'mlpipe.candidate': '' });
    const object = (hash: string) => existsSync(cache.objectFile(hash));
    const dry = collectGarbage(store, { keep: 1, dryRun: true });
    assert.equal(dry.removedObjects, 1);
    assert.ok(hashes.every(object), 'a dry run removes nothing');
    const report = collectGarbage(store, { keep: 1 });
    // Newest (5) kept by count, 1 approved, 3 candidate, 2 is what the workspace holds: only 4 goes.
    assert.deepEqual(hashes.map(object), [true, true, true, false, true]);
    assert.equal(report.removedEntries, 1);
    assert.ok(report.freedBytes > 1000);
    assert.deepEqual(report.protectedRuns.map((run) => run.id).sort(), [ids[0], ids[2]]);
    assert.ok(existsSync(join(mlpipe.runDir(ids[3]), 'run.json')), 'the record stays');
  });
});

function record(id: string, workspace: string, key?: string): RunRecord {
  return fakeRecord(id, workspace, {
    stage: 'evaluate@test',
    key,
    metrics: { 'metrics/eval-test.json': { auc: 0.9 } },
  });
}
