import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { radixOrder, sortRuns, type Queryable } from '../../core/src/store/query';
import { decodeSnapshot, encodeSnapshot } from '../../core/src/store/snapshot';
import { ExperimentStore, parseSummary, type RunSummary, type StoreOptions } from '../../core/src/store/store';
import { ROOT, tempWorkspace } from '../support/files';
import { seeded } from '../support/random';
import { fakeSummary } from '../support/store-fixtures';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((cleanup) => cleanup()));

const SMALL: StoreOptions = { snapshotMinRuns: 10, snapshotStaleLines: 20 };

function tempStore(): string {
  const { dir, cleanup } = tempWorkspace({});
  cleanups.push(cleanup);
  return join(dir, '.mlpipe');
}

/** A store of the same index file, opened without any snapshot: what the lines alone say. */
function plainCopy(root: string): ExperimentStore {
  const copy = tempStore();
  mkdirSync(join(copy, 'store'), { recursive: true });
  copyFileSync(join(root, 'store', 'index.jsonl'), join(copy, 'store', 'index.jsonl'));
  return ExperimentStore.open(copy);
}

/** Everything a caller can see of a store's runs, as text (key order included). */
function view(store: ExperimentStore): string {
  return JSON.stringify({
    size: store.size,
    damaged: store.damaged,
    runs: store.runs().map((run) => ({
      summary: run.summary,
      status: run.status,
      tags: run.tags,
      note: run.note ?? null,
      attributes: run.attributes,
      params: run.params,
      metrics: run.metrics,
    })),
  });
}

const QUERIES = [
  { filter: 'metrics.m3 > 0.5 and params.`train.lr` < 0.05', sort: '-metrics.m7' },
  { filter: "status != 'failed' or tags.team = 'vision'", sort: 'params.optimizer, -metrics.m1' },
  { filter: "metrics.text like 'a%' or metrics.flag = true", sort: 'metrics.text' },
  { filter: "name = 'churn' and duration < 40 and note is null", sort: '-started' },
  { filter: 'params.model.depth >= 2 or metrics.`__proto__` > 0', sort: 'metrics.m2' },
  { filter: "attributes.status = 'interrupted' or commit like 'aaa%'", sort: 'duration' },
];

function ids(store: ExperimentStore, query: { filter: string; sort: string }): string {
  return store
    .query(query)
    .map((run) => run.summary.id)
    .join(',');
}

/** Runs of every shape an index holds: optional fields missing, odd keys, text and boolean metrics, running. */
function varied(i: number): RunSummary {
  const summary = fakeSummary(`20260101-000000-${String(i).padStart(5, '0')}`, i, 1 + (i % 9));
  const metrics: Record<string, number | string | boolean> = { ...summary.metrics };
  if (i % 5 === 0) metrics.text = i % 10 === 0 ? 'abc' : 'xyz';
  if (i % 7 === 0) metrics.flag = i % 14 === 0;
  if (i % 11 === 0) Object.defineProperty(metrics, '__proto__', { value: i, enumerable: true });
  const params: Record<string, unknown> = { ...summary.params };
  if (i % 3 === 0) params.model = { depth: i % 4, layers: [1, 2, { k: 'v' }] };
  const result: RunSummary = { ...summary, metrics, params };
  if (i % 4 === 0) delete result.ended;
  if (i % 4 === 0) delete result.durationMs;
  if (i % 6 === 0) delete result.name;
  if (i % 13 === 0) Object.assign(result, { status: 'running', pid: 999_999_999 });
  if (i % 17 === 0) Object.assign(result, { status: 'running', pid: process.pid });
  if (i % 19 === 0) (result as unknown as Record<string, unknown>).extra = { future: [i] };
  return result;
}

describe('experiment store snapshot', () => {
  it('opens from the snapshot exactly as from the lines: summaries, tags, notes, statuses, queries', () => {
    const root = tempStore();
    const store = ExperimentStore.open(root, SMALL);
    for (let i = 0; i < 120; i++) store.record(varied(i));
    store.tag('20260101-000000-00003', { team: 'vision' });
    store.setNote('20260101-000000-00004', 'baseline');
    store.compact();
    assert.ok(existsSync(store.snapshotPath), 'compaction wrote the snapshot');
    const reopened = ExperimentStore.open(root, SMALL);
    assert.equal(reopened.snapshotRuns, 120);
    const plain = plainCopy(root);
    assert.equal(plain.snapshotRuns, 0);
    assert.equal(view(reopened), view(plain));
    const fresh = ExperimentStore.open(root, SMALL);
    for (const query of QUERIES) assert.equal(ids(fresh, query), ids(plain, query), query.filter);
    // Read through the columns before any summary is built, then again after.
    for (const run of fresh.runs()) void run.summary;
    for (const query of QUERIES) assert.equal(ids(fresh, query), ids(plain, query), query.filter);
    for (const run of plain.runs()) assert.ok(parseSummary(JSON.parse(JSON.stringify(run.summary))), run.summary.id);
  });

  it('reads the lines appended after the snapshot, and writes a new one when they pile up', () => {
    const root = tempStore();
    const store = ExperimentStore.open(root, SMALL);
    for (let i = 0; i < 40; i++) store.record(varied(i));
    store.compact();
    const other = ExperimentStore.open(root, { snapshotMinRuns: 10, snapshotStaleLines: 1_000_000 });
    other.record(varied(100));
    other.record({ ...varied(5), status: 'failed' });
    other.tag('20260101-000000-00007', { a: '1' });
    other.tag('20260101-000000-00007', { b: '2' }, ['a']);
    other.setNote('20260101-000000-00008', 'n');
    other.delete(['20260101-000000-00009']);
    const appended = ExperimentStore.open(root, SMALL);
    assert.equal(appended.snapshotRuns, 40);
    assert.equal(view(appended), view(plainCopy(root)));
    const before = readFileSync(store.snapshotPath);
    for (let i = 200; i < 230; i++) store.record(varied(i));
    assert.notDeepEqual(readFileSync(store.snapshotPath), before, 'a new snapshot after 20 lines');
    assert.equal(view(ExperimentStore.open(root, SMALL)), view(plainCopy(root)));
    // Below the minimum the snapshot is removed rather than left stale.
    const few = tempStore();
    const small = ExperimentStore.open(few, SMALL);
    for (let i = 0; i < 12; i++) small.record(varied(i));
    small.compact();
    assert.ok(existsSync(small.snapshotPath));
    small.delete(['20260101-000000-00001', '20260101-000000-00002', '20260101-000000-00003']);
    small.compact();
    assert.ok(!existsSync(small.snapshotPath));
  });

  it('is passed over when the index was replaced or edited, damaged, or not a snapshot', () => {
    const root = tempStore();
    const store = ExperimentStore.open(root, SMALL);
    for (let i = 0; i < 50; i++) store.record(varied(i));
    store.compact();
    const index = join(root, 'store', 'index.jsonl');
    const snapshot = readFileSync(store.snapshotPath);
    // The same bytes in a new file (another inode): the snapshot no longer counts; the view is the same.
    writeFileSync(`${index}.new`, readFileSync(index));
    renameSync(`${index}.new`, index);
    assert.equal(ExperimentStore.open(root, SMALL).snapshotRuns, 0);
    assert.equal(view(ExperimentStore.open(root, SMALL)), view(plainCopy(root)));
    // Edited in place, same size: the edges no longer match.
    store.compact();
    const text = readFileSync(index, 'utf8');
    writeFileSync(index, text.replace('"vision"', '"visio_"'), { flag: 'r+' });
    const edited = ExperimentStore.open(root, SMALL);
    assert.equal(edited.snapshotRuns, 0);
    assert.equal(view(edited), view(plainCopy(root)));
    assert.ok(edited.runs().some((run) => run.summary.name === 'visio_'));
    // A damaged snapshot, garbage, an empty file, a link: never thrown, never a run that is not one.
    store.compact();
    assert.equal(ExperimentStore.open(root, SMALL).snapshotRuns, 50);
    const good = readFileSync(store.snapshotPath);
    const random = seeded(13);
    const variants: Buffer[] = [Buffer.alloc(0), Buffer.from('MLPSNAP1'), Buffer.from('not a snapshot at all')];
    for (let n = 0; n < 60; n++) {
      const bytes = Buffer.from(good);
      const flips = 1 + Math.floor(random() * 8);
      for (let k = 0; k < flips; k++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      variants.push(n % 10 === 0 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes);
    }
    for (const bytes of variants) {
      writeFileSync(store.snapshotPath, bytes);
      const opened = ExperimentStore.open(root, SMALL);
      assert.equal(opened.size, 50);
      for (const run of opened.runs()) {
        assert.ok(parseSummary(JSON.parse(JSON.stringify(run.summary))), `a valid summary for ${run.summary.id}`);
        assert.equal(typeof run.status, 'string');
      }
      for (const query of QUERIES) opened.query(query);
    }
    rmSync(store.snapshotPath);
    assert.ok(snapshot.length > 0);
  });

  it('stays right with two writers appending and writing snapshots, one killed mid-write', async () => {
    const root = tempStore();
    const seed = ExperimentStore.open(root, SMALL);
    for (let i = 0; i < 30; i++) seed.record(fakeSummary(`early-${i}`, i));
    seed.compact();
    const run = (prefix: string, count: number) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          join(ROOT, 'test/support/store-writer.ts'),
          root,
          prefix,
          String(count),
          '--tag',
          '--snapshot',
        ],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      return { child, done: new Promise<number | null>((done) => child.on('exit', (code) => done(code))), stderr };
    };
    const one = run('p1', 80);
    const victim = run('victim', 100_000);
    assert.equal(await one.done, 0, one.stderr);
    victim.child.kill('SIGKILL');
    await victim.done;
    const two = run('p2', 40);
    assert.equal(await two.done, 0, two.stderr);
    const store = ExperimentStore.open(root, SMALL);
    assert.ok(store.snapshotRuns > 30, `the writers wrote snapshots (${store.snapshotRuns} runs in the last)`);
    assert.equal(view(store), view(plainCopy(root)));
    for (let i = 0; i < 30; i++) assert.ok(store.get(`early-${i}`));
    for (const prefix of ['p1', 'p2'])
      for (const one of store.runs().filter((stored) => stored.summary.id.startsWith(prefix)))
        assert.equal(one.tags.writer, prefix);
    assert.equal(store.runs().filter((stored) => stored.summary.id.startsWith('p1')).length, 80);
    assert.equal(store.runs().filter((stored) => stored.summary.id.startsWith('p2')).length, 40);
  });
});

describe('a crafted snapshot (a cloned repository may ship one)', () => {
  const identity = { ino: 1, size: 0, lines: 0, damaged: 0, edges: '' };
  const checks = { isIndexId: (value: unknown) => typeof value === 'string', paramsDepth: 8 };
  /** A snapshot's bytes with its header changed: the same layout encodeSnapshot writes. */
  function withHeader(bytes: Buffer, change: (header: Record<string, unknown>) => void): Buffer {
    const length = bytes.readUInt32LE(8);
    const header = JSON.parse(bytes.toString('utf8', 12, 12 + length)) as Record<string, unknown>;
    const body = bytes.subarray(Math.ceil((12 + length) / 8) * 8);
    change(header);
    const text = Buffer.from(JSON.stringify(header));
    const head = Buffer.alloc(Math.ceil((12 + text.length) / 8) * 8);
    bytes.copy(head, 0, 0, 8);
    head.writeUInt32LE(text.length, 8);
    text.copy(head, 12);
    return Buffer.concat([head, body]);
  }

  it('is not decoded past its header when it covers another index file', () => {
    const bytes = encodeSnapshot(identity, [{ summary: fakeSummary('20260101-000000-00001', 1, 3) }]);
    const reasons: string[] = [];
    assert.ok(
      decodeSnapshot(bytes, checks, (why) => reasons.push(why)),
      reasons.join(),
    );
    assert.equal(
      decodeSnapshot(bytes, { ...checks, matches: () => false }, (why) => reasons.push(why)),
      undefined,
    );
    assert.deepEqual(reasons, ['the snapshot of another index']);
  });

  it('refuses more shapes than runs (shapes x columns is memory)', () => {
    const bytes = encodeSnapshot(identity, [{ summary: fakeSummary('20260101-000000-00001', 1, 3) }]);
    const amplified = withHeader(bytes, (header) => {
      const shapes = header.shapes as Record<string, unknown[]>;
      shapes.p = Array.from({ length: 1000 }, () => shapes.p[0]);
    });
    const reasons: string[] = [];
    assert.equal(
      decodeSnapshot(amplified, checks, (why) => reasons.push(why)),
      undefined,
    );
    assert.deepEqual(reasons, ['bad shapes']);
  });

  it('never gives a summary field a number where the field holds text or a whole number', () => {
    const summary = { ...fakeSummary('20260101-000000-00001', 1, 3), name: 5, commit: 42, dirty: 3, pid: -2.5 };
    const snapshot = decodeSnapshot(encodeSnapshot(identity, [{ summary: summary as unknown as RunSummary }]), checks);
    assert.ok(snapshot);
    const read = snapshot.summary(0) as unknown as Record<string, unknown>;
    for (const key of ['name', 'commit', 'dirty', 'pid']) assert.equal(read[key], undefined, key);
    assert.equal(read.durationMs, summary.durationMs, 'a numeric field its key allows still reads');
  });
});

describe('sorting by one numeric key', () => {
  it('orders as the general comparison does: missing last, ties in run order, 0 and -0 equal', () => {
    const random = seeded(7);
    const pool = [0, -0, 1, -1, 0.5, 2.5, -1e300, 1e300, 5e-324, -5e-324, 3, 3, 7];
    for (let t = 0; t < 200; t++) {
      const runs: (Queryable & { n: number })[] = Array.from({ length: Math.floor(random() * 300) }, (_, n) => ({
        n,
        attributes: {},
        params: {},
        tags: {},
        metrics:
          random() < 0.1
            ? {}
            : { x: random() < 0.5 ? pool[Math.floor(random() * pool.length)] : (random() - 0.5) * 1e6 },
      }));
      for (const descending of [false, true]) {
        const fast = sortRuns([...runs], [{ field: { namespace: 'metrics', key: 'x' }, descending }]);
        // A second key no run has sends it down the general path.
        const general = sortRuns(
          [...runs],
          [
            { field: { namespace: 'metrics', key: 'x' }, descending },
            { field: { namespace: 'metrics', key: 'none' }, descending },
          ],
        );
        assert.deepEqual(
          fast.map((run) => run.n),
          general.map((run) => run.n),
        );
      }
    }
    assert.deepEqual([...radixOrder(new Float64Array([3, -0, 0, -2]), [0, 1, 2, 3], false)], [3, 1, 2, 0]);
  });
});
