import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isRunId } from '../../core/src/runs/metadata';
import { MlpipeDir } from '../../core/src/runs/records';
import { collectGarbage } from '../../core/src/store/gc';
import { MAX_SERIES_POINTS, readPlotSeries } from '../../core/src/store/series';
import { BoundaryError } from '../../core/src/util/boundary';
import {
  ExperimentStore,
  isIndexId,
  MAX_INDEX_BYTES,
  MAX_INDEX_LINE_BYTES,
  StoreError,
} from '../../core/src/store/store';
import { makeDecoy, type Decoy } from '../support/decoy';
import { tempWorkspace } from '../support/files';
import { mlpipe } from '../support/mlpipe-cli';
import { pick, seeded } from '../support/random';
import { fakeRecord, fakeSummary } from '../support/store-fixtures';

/**
 * `.mlpipe/store/index.jsonl` and `runs/<id>/series.json` written by someone else: lines of the
 * wrong shape, ids that spell paths, lines and files of absurd size, links out of the workspace.
 * The store skips and counts what it cannot use and throws nothing but StoreError; nothing outside
 * the workspace is read into output, written or removed (the decoy's fingerprint holds).
 */

const SEED = Number(process.env.MLPIPE_FUZZ_SEED ?? 20261204);
const ROUNDS = Number(process.env.MLPIPE_INDEX_FUZZ_ROUNDS ?? 300);
const IDS = ['20260101-000000-000-0001', '20260101-000000-000-0002', '20260101-000000-000-0003'];

const cleanups: (() => void)[] = [];
let decoy: Decoy;
let fingerprint: string;
before(() => {
  decoy = makeDecoy();
  fingerprint = decoy.fingerprint();
});
after(() => {
  for (const cleanup of cleanups) cleanup();
  decoy.cleanup();
});

/** A workspace with a pipeline and the valid run records `ids`. */
function workspace(ids: string[] = IDS): { dir: string; root: string; mlpipe: MlpipeDir } {
  const { dir, cleanup } = tempWorkspace({ 'mlpipe.yaml': 'version: 1\nname: churn\nstages: {}\n' });
  cleanups.push(cleanup);
  const mlpipe = new MlpipeDir(join(dir, '.mlpipe'));
  for (const id of ids) mlpipe.writeRecord(fakeRecord(id, dir, { metrics: { 'metrics.json': { auc: 0.8 } } }));
  return { dir, root: mlpipe.root, mlpipe };
}

function writeIndexLines(root: string, lines: (string | Buffer)[]): void {
  mkdirSync(join(root, 'store'), { recursive: true });
  writeFileSync(
    join(root, 'store', 'index.jsonl'),
    Buffer.concat(
      lines.map((line) => Buffer.concat([typeof line === 'string' ? Buffer.from(line) : line, Buffer.from('\n')])),
    ),
  );
}

const runLine = (summary: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ op: 'run', summary, ...extra });

/** Ids that must never name a folder: paths out, absolute paths, the decoy itself, controls. */
function hostileIds(root: string): string[] {
  return [
    '../../..',
    '..',
    '.',
    '',
    '/',
    decoy.folder,
    relative(join(root, 'runs'), decoy.folder),
    'a/b',
    `${IDS[0]}/../../..`,
    '\u0000',
    ' ',
    'a'.repeat(1000),
    '__proto__',
    '.hidden',
    `${IDS[0]}\n`,
    '-rf',
    'x\u001b[2J',
  ];
}

/** Runs `action`; anything thrown but a StoreError fails the test with the context. */
function onlyStoreErrors(context: string, action: () => unknown): void {
  try {
    action();
  } catch (error) {
    if (!(error instanceof StoreError))
      throw new Error(`${context}: threw ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    assert.ok(!error.message.includes(decoy.secret), `${context}: the secret is in an error`);
  }
}

describe('a hostile experiment index', () => {
  it('skips and counts each line of the wrong shape, and never lets an id that spells a path in', () => {
    const { root } = workspace();
    const valid = fakeSummary(IDS[0], 1);
    const wrong: (string | Buffer)[] = [
      '[]',
      'null',
      '42',
      '"run"',
      '{}',
      '{"op":"frobnicate","id":"x"}',
      '{"op":"run"}',
      '{"op":"run","summary":null}',
      runLine({ ...valid, v: 2 }),
      runLine({ ...valid, status: 'exploded' }),
      runLine({ ...valid, params: [1, 2] }),
      runLine({ ...valid, params: 'lr=0.1' }),
      runLine({ ...valid, metrics: { auc: { nested: 1 } } }),
      runLine({ ...valid, metrics: { auc: null } }),
      runLine({ ...valid, metrics: { auc: [] } }),
      runLine({ ...valid, metrics: { auc: [0.5] } }, { tags: { t: 'x' } }),
      runLine({ ...valid, metrics: { auc: {} } }, { note: 'n' }),
      runLine({ ...valid, series: 'loss' }),
      runLine({ ...valid, stages: { succeeded: 'three' } }),
      runLine({ ...valid, pid: -1 }),
      runLine({ ...valid, started: 20260101 }),
      runLine({ ...valid, durationMs: 'long' }),
      runLine({ ...valid, params: JSON.parse(`${'{"a":'.repeat(40)}1${'}'.repeat(40)}`) as unknown }),
      runLine(valid, { tags: { team: 7 } }),
      runLine(valid, { tags: ['x'] }),
      runLine(valid, { note: { text: 'x' } }),
      '{"op":"tags","id":"20260101-000000-000-0001","set":{"a":1}}',
      '{"op":"tags","id":"20260101-000000-000-0001","remove":"a"}',
      '{"op":"note","id":"20260101-000000-000-0001","note":5}',
      ...hostileIds(root).flatMap((id) => [
        runLine({ ...valid, id }),
        JSON.stringify({ op: 'delete', id }),
        JSON.stringify({ op: 'tags', id, set: { a: 'b' } }),
        JSON.stringify({ op: 'note', id, note: 'x' }),
      ]),
      runLine({ ...valid, id: IDS[2], error: 'x'.repeat(MAX_INDEX_LINE_BYTES) }),
      Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x22, 0x80, 0x81, 0xc3]),
      '{"op":"run","summary":{"v":1,"id":"2026',
    ];
    writeIndexLines(root, [
      ...wrong.slice(0, 10),
      runLine(valid, { tags: { team: 'vision' } }),
      ...wrong.slice(10),
      runLine({ ...fakeSummary(IDS[1], 2), metrics: { text: 'a{b[c null', n: 1, yes: true } }),
      '',
      '   ',
    ]);
    let store: ExperimentStore | undefined;
    onlyStoreErrors('open', () => (store = ExperimentStore.open(root)));
    assert.ok(store);
    assert.deepEqual(
      store.runs().map((run) => run.summary.id),
      [IDS[1], IDS[0]],
    );
    assert.deepEqual(store.get(IDS[0])?.tags, { team: 'vision' }, 'lines of the wrong shape change nothing');
    assert.deepEqual(
      store.get(IDS[1])?.metrics,
      { text: 'a{b[c null', n: 1, yes: true },
      'brackets and null inside text are text',
    );
    assert.equal(
      store.damaged,
      wrong.length + 1,
      'each wrong line is counted (and the blank-looking line of spaces is not JSON)',
    );
    assert.equal(store.problem, undefined);
    for (const id of hostileIds(root))
      assert.throws(() => store!.delete([id]), StoreError, `delete ${JSON.stringify(id)}`);
    // Records that are not records are left out of a rebuild, and counted.
    for (const [id, text] of [
      ['20260101-000000-000-0004', 'garbage'],
      ['20260101-000000-000-0005', '{"id":"20260101-000000-000-0005","stages":7}'],
    ]) {
      mkdirSync(join(root, 'runs', id), { recursive: true });
      writeFileSync(join(root, 'runs', id, 'run.json'), text);
    }
    assert.equal(store.rebuild(), IDS.length, 'reindex rebuilds from the records whatever the index held');
    assert.equal(store.skippedRecords, 2);
    assert.equal(ExperimentStore.open(root).damaged, 0);
    assert.equal(decoy.fingerprint(), fingerprint);
  });

  it('reads an index in bounded memory: a line over 1 MB is skipped unread, an index over the limit not at all, and reindex still works', () => {
    const { root } = workspace();
    const long = runLine(fakeSummary(IDS[0], 1), { note: 'n'.repeat(3 * MAX_INDEX_LINE_BYTES) });
    writeIndexLines(root, [runLine(fakeSummary(IDS[1], 2)), long, runLine(fakeSummary(IDS[2], 3))]);
    const store = ExperimentStore.open(root);
    assert.deepEqual(
      store.runs().map((run) => run.summary.id),
      [IDS[2], IDS[1]],
    );
    assert.equal(store.damaged, 1);
    // Across the 8 MB read chunks: valid lines up to about 6 MB, a 3 MB line over the boundary, valid lines after.
    const before = Array.from({ length: 5600 }, (_, i) => runLine(fakeSummary(`before-${i}`, i, 50)));
    const afterLines = Array.from({ length: 3000 }, (_, i) => runLine(fakeSummary(`after-${i}`, i, 50)));
    writeIndexLines(root, [...before, long, ...afterLines]);
    const chunked = ExperimentStore.open(root);
    assert.ok(
      before.join('\n').length < 8 * 1048576 && before.join('\n').length + long.length > 8 * 1048576,
      'the long line crosses the first chunk',
    );
    assert.equal(chunked.size, before.length + afterLines.length);
    assert.equal(chunked.damaged, 1);
    // A sparse file past the limit: refused by its size, with nothing read.
    truncateSync(store.indexPath, MAX_INDEX_BYTES + 1);
    let big: ExperimentStore | undefined;
    onlyStoreErrors('open a huge index', () => (big = ExperimentStore.open(root)));
    assert.ok(big);
    assert.equal(big.size, 0);
    assert.match(big.problem ?? '', /more than the 256 MB an index may have; it was not read; mlpipe runs reindex/);
    assert.throws(() => big!.tag(IDS[0], { a: 'b' }), StoreError);
    assert.equal(big.rebuild(), 3);
    assert.equal(big.problem, undefined);
    assert.equal(big.size, 3);
  });

  it('neither reads nor writes through a linked index, store folder or runs folder, and deletes a linked run folder as a link', () => {
    // The index is a link to a secret: not read, not appended to; reindex replaces the link.
    const one = workspace();
    mkdirSync(join(one.root, 'store'), { recursive: true });
    symlinkSync(decoy.secretFile, join(one.root, 'store', 'index.jsonl'));
    const linked = ExperimentStore.open(one.root);
    assert.equal(linked.size, 0);
    assert.match(linked.problem ?? '', /symbolic link/);
    assert.throws(() => linked.record(fakeSummary(IDS[0], 1)), StoreError);
    assert.equal(linked.rebuild(), 3);
    assert.ok(!lstatSync(linked.indexPath).isSymbolicLink(), 'the link was replaced by the index');
    // The store folder is a link out: nothing read, nothing written, reindex refuses.
    const two = workspace();
    symlinkSync(decoy.folder, join(two.root, 'store'));
    let store: ExperimentStore | undefined;
    onlyStoreErrors('open through a linked store folder', () => (store = ExperimentStore.open(two.root)));
    assert.ok(store);
    assert.equal(store.size, 0);
    assert.throws(() => store!.rebuild(), StoreError);
    // A run folder that is a link to the decoy: delete removes the link, not what it points at.
    const three = workspace([IDS[0]]);
    symlinkSync(decoy.folder, join(three.root, 'runs', IDS[1]));
    writeIndexLines(three.root, [runLine(fakeSummary(IDS[0], 1)), runLine(fakeSummary(IDS[1], 2))]);
    const withLink = ExperimentStore.open(three.root);
    assert.deepEqual(withLink.delete([IDS[1]]), [IDS[1]]);
    assert.equal(existsSync(join(three.root, 'runs', IDS[1])), false);
    // The runs folder is a link: deletion is refused before anything changes.
    const four = workspace([]);
    mkdirSync(four.root, { recursive: true });
    symlinkSync(decoy.dir, join(four.root, 'runs'));
    mkdirSync(join(decoy.dir, IDS[0]), { recursive: true });
    const planted = fingerprintNow();
    writeIndexLines(four.root, [runLine(fakeSummary(IDS[0], 1))]);
    const viaLink = ExperimentStore.open(four.root);
    assert.throws(() => viaLink.delete([IDS[0]]), StoreError);
    assert.equal(viaLink.size, 1, 'the run stays indexed when its folder cannot be removed');
    assert.equal(fingerprintNow(), planted);
    rmSync(join(decoy.dir, IDS[0]), { recursive: true });
    assert.equal(decoy.fingerprint(), fingerprint);
  });

  it("reads a run's series.json bounded and of the right shape, never through a link", () => {
    const { root, mlpipe } = workspace();
    const store = ExperimentStore.open(root);
    const file = (id: string) => join(mlpipe.runs, id, 'series.json');
    const good = { name: 'loss', stage: 'train', file: 'loss.csv', x: 'step', steps: [0, 1], values: [0.9, 0.5] };
    writeFileSync(
      file(IDS[0]),
      JSON.stringify({
        version: 1,
        series: [
          good,
          { ...good, steps: 'x' },
          { ...good, values: [1] },
          { ...good, name: 7 },
          { ...good, values: [1, '2'] },
          null,
          [],
          { ...good, name: 'ok2' },
        ],
      }),
    );
    assert.deepEqual(
      store.series(IDS[0]).map((one) => one.name),
      ['loss', 'ok2'],
    );
    const many = Array.from({ length: 3 }, (_, i) => ({
      ...good,
      name: `s${i}`,
      steps: new Array<number>(MAX_SERIES_POINTS / 2).fill(1),
      values: new Array<number>(MAX_SERIES_POINTS / 2).fill(2),
    }));
    writeFileSync(file(IDS[1]), JSON.stringify({ version: 1, series: many }));
    assert.deepEqual(
      store.series(IDS[1]).map((one) => one.name),
      ['s0', 's1'],
      'points past the limit are left out',
    );
    rmSync(file(IDS[2]), { force: true });
    symlinkSync(decoy.secretFile, file(IDS[2]));
    assert.deepEqual(store.series(IDS[2]), []);
    for (const text of ['null', '[]', '{"series": {"a": 1}}', 'garbage', '{"series": [1, 2]}']) {
      writeFileSync(file(IDS[0]), text);
      assert.deepEqual(store.series(IDS[0]), [], text);
    }
    for (const id of hostileIds(root)) assert.deepEqual(store.series(id), []);
    assert.equal(decoy.fingerprint(), fingerprint);
  });

  it("never turns a file outside the workspace into a stage's series (a plot output that is a link, or under one)", () => {
    const { dir } = workspace([]);
    writeFileSync(join(decoy.folder, 'loss.csv'), 'step,loss\n0,0.5\n');
    mkdirSync(join(dir, 'plots'));
    symlinkSync(join(decoy.folder, 'loss.csv'), join(dir, 'plots', 'loss.csv'));
    symlinkSync(decoy.folder, join(dir, 'linked'));
    writeFileSync(join(dir, 'plots', 'real.csv'), 'step,loss\n0,0.5\n1,0.25\n');
    assert.throws(() => readPlotSeries(join(dir, 'plots', 'loss.csv'), 'plots/loss.csv', 'train'), BoundaryError);
    assert.throws(() => readPlotSeries(join(dir, 'linked', 'loss.csv'), 'linked/loss.csv', 'train'), BoundaryError);
    assert.deepEqual(readPlotSeries(join(dir, 'plots', 'real.csv'), 'plots/real.csv', 'train')[0].values, [0.5, 0.25]);
    rmSync(join(decoy.folder, 'loss.csv'));
    assert.equal(decoy.fingerprint(), fingerprint);
  });
});

/** A random JSON value of a random shape, with the keys an index line has and keys that reach prototypes. */
function randomJson(random: () => number, depth: number, root: string): string {
  const keys = [
    'op',
    'id',
    'summary',
    'v',
    'params',
    'metrics',
    'tags',
    'note',
    'set',
    'remove',
    'status',
    'started',
    'series',
    'stages',
    'pid',
    '__proto__',
    'constructor',
    'toString',
    'x',
  ];
  const scalar = () =>
    pick(random, [
      'null',
      'true',
      '1',
      '-0',
      '1e999',
      '0.5',
      '"run"',
      '"tags"',
      '"note"',
      '"delete"',
      '"succeeded"',
      '"x\\u001b[31m"',
      JSON.stringify(pick(random, hostileIds(root))),
      JSON.stringify(pick(random, IDS)),
      '""',
    ]);
  if (depth <= 0 || random() < 0.35) return scalar();
  if (random() < 0.3)
    return `[${Array.from({ length: Math.floor(random() * 4) }, () => randomJson(random, depth - 1, root)).join(',')}]`;
  return `{${Array.from({ length: Math.floor(random() * 6) }, () => `${JSON.stringify(pick(random, keys))}:${randomJson(random, depth - 1, root)}`).join(',')}}`;
}

/** A valid line turned wrong: a field of another type, a hostile id, cut short, garbage inside. */
function mutatedLine(random: () => number, root: string): string | Buffer {
  const id = pick(random, IDS);
  const summary: Record<string, unknown> = { ...fakeSummary(id, Math.floor(random() * 100)) };
  const line: Record<string, unknown> = pick(random, [
    { op: 'run', summary },
    { op: 'run', summary, tags: { team: 'a' }, note: 'n' },
    { op: 'tags', id, set: { k: 'v' }, remove: ['k2'] },
    { op: 'note', id, note: 'hello' },
    { op: 'delete', id },
  ]);
  switch (Math.floor(random() * 6)) {
    case 0: {
      const key = pick(random, Object.keys(summary));
      summary[key] = JSON.parse(randomJson(random, 2, root)) as unknown;
      return JSON.stringify(line);
    }
    case 1:
      if (line.op === 'run') summary.id = pick(random, hostileIds(root));
      else line.id = pick(random, hostileIds(root));
      return JSON.stringify(line);
    case 2: {
      const text = JSON.stringify(line);
      return text.slice(0, Math.floor(random() * text.length));
    }
    case 3: {
      const bytes = Buffer.from(JSON.stringify(line));
      for (let i = 0; i < 3; i++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      return bytes.includes(10) ? bytes.subarray(0, bytes.indexOf(10)) : bytes;
    }
    case 4:
      return JSON.stringify(line);
    default:
      return JSON.stringify({ ...line, op: pick(random, ['run', 'tags', 'note', 'delete', 'RUN', 'compact', '']) });
  }
}

function fingerprintNow(): string {
  return decoy.fingerprint();
}

describe('fuzzing the experiment index', () => {
  it(`opens, lists, queries, tags, deletes, collects and reindexes ${ROUNDS} seeded hostile indexes with nothing but StoreError (seed ${SEED})`, () => {
    const random = seeded(SEED);
    const { dir, root, mlpipe } = workspace([]);
    const counts = { runs: 0, damaged: 0, deleted: 0, refused: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const context = `round ${round} (seed ${SEED})`;
      // Fresh records each round (deletes remove them), one run folder a link to the decoy.
      rmSync(mlpipe.runs, { recursive: true, force: true });
      for (const id of IDS.slice(0, 2)) mlpipe.writeRecord(fakeRecord(id, dir));
      if (round % 5 === 0) symlinkSync(decoy.folder, join(mlpipe.runs, IDS[2]));
      const lines: (string | Buffer)[] = [];
      for (let i = Math.floor(random() * 40); i > 0; i--) {
        const kind = random();
        if (kind < 0.3) lines.push(randomJson(random, 4, root));
        else if (kind < 0.75) lines.push(mutatedLine(random, root));
        else if (kind < 0.9)
          lines.push(
            runLine(
              fakeSummary(pick(random, IDS), i),
              random() < 0.5 ? { tags: { team: 'x\u001b]0;owned\u0007' }, note: 'n\u202e' } : {},
            ),
          );
        else if (kind < 0.97)
          lines.push(
            Buffer.from(
              Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256)).filter(
                (byte) => byte !== 10,
              ),
            ),
          );
        else lines.push(runLine(fakeSummary(IDS[0], i), { note: 'x'.repeat(MAX_INDEX_LINE_BYTES + 10) }));
      }
      writeIndexLines(root, lines);
      let store: ExperimentStore | undefined;
      onlyStoreErrors(`${context}: open`, () => (store = ExperimentStore.open(root)));
      assert.ok(store, context);
      const runs = store.runs();
      for (const run of runs)
        assert.ok(isIndexId(run.summary.id), `${context}: id ${JSON.stringify(run.summary.id)} in the store`);
      counts.runs += runs.length;
      counts.damaged += store.damaged;
      for (const query of [
        { filter: 'metrics.m1 > 0.5 or tags.team is not null', sort: '-metrics.m0' },
        { filter: "params.optimizer like '%a%' and status != 'failed'", sort: 'params.__proto__, tags.toString desc' },
        { sort: 'note, id' },
      ]) {
        assert.ok(Array.isArray(store.query(query)), `${context}: query`);
      }
      for (const id of [...IDS, ...hostileIds(root), '2026', '']) {
        onlyStoreErrors(`${context}: resolve ${JSON.stringify(id)}`, () => store!.resolve(id));
        store.series(id);
        store.fullRecord(id);
      }
      const target = random() < 0.5 ? pick(random, IDS) : pick(random, hostileIds(root));
      onlyStoreErrors(`${context}: tag`, () => store!.tag(target, { reviewed: 'yes' }));
      onlyStoreErrors(`${context}: note`, () => store!.setNote(target, 'note'));
      try {
        store.delete([pick(random, [...IDS, ...hostileIds(root)])]);
        counts.deleted++;
      } catch (error) {
        if (!(error instanceof StoreError)) throw new Error(`${context}: delete threw ${String(error)}`);
        counts.refused++;
      }
      onlyStoreErrors(`${context}: gc`, () => collectGarbage(store!, { keep: round % 3, dryRun: round % 2 === 0 }));
      onlyStoreErrors(`${context}: reindex`, () => store!.rebuild());
      assert.equal(store.damaged, 0, `${context}: a rebuilt index has no damaged line`);
      assert.ok(
        readdirSync(mlpipe.runs).every((name) => isRunId(name)),
        `${context}: nothing but run folders in runs/`,
      );
      assert.equal(decoy.fingerprint(), fingerprint, `${context}: the decoy changed`);
    }
    assert.ok(
      counts.runs > ROUNDS / 2 && counts.damaged > ROUNDS && counts.deleted > 10 && counts.refused > 10,
      `the rounds exercise every path: ${JSON.stringify(counts)}`,
    );
  });
});

describe('mlpipe runs over a hostile index (the bundled CLI)', () => {
  it('lists, shows, compares, deletes, collects and reindexes without an internal error, a terminal escape, or a change outside', () => {
    const { dir, root, mlpipe: layout } = workspace(IDS.slice(0, 2));
    symlinkSync(decoy.folder, join(layout.runs, IDS[2]));
    const evil = (id: string, seed: number) => ({
      ...fakeSummary(id, seed),
      name: 'churn\u001b[2J\u001b[H',
      params: {
        'lr\u001b[31m': 'red\u001b[0m',
        '\u202eevil': 'x\ny',
        nested: JSON.parse('{"__proto__": {"polluted": 1}, "toString": 3}') as unknown,
      },
      metrics: { 'auc\r': 0.5, ['a'.repeat(500)]: 'b'.repeat(5000), '\u009b31m': 1 },
    });
    writeIndexLines(root, [
      runLine(evil(IDS[0], 1), {
        tags: { 'team\u001b]0;pwned\u0007': 'vision\u001b[5m' },
        note: 'note\r\u001b[1Aforged line',
      }),
      runLine(evil(IDS[1], 2)),
      runLine(fakeSummary(IDS[2], 3)),
      ...hostileIds(root).map((id) => runLine({ ...fakeSummary(IDS[0], 4), id })),
      JSON.stringify({ op: 'delete', id: relative(join(root, 'runs'), decoy.folder) }),
      '{"op":"run","summary":{"v":1,"id":"../../../etc"',
      Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0xff]),
    ]);
    const outputs: string[] = [];
    const run = (...args: string[]) => {
      const result = mlpipe(['runs', ...args], dir);
      const context = `mlpipe runs ${args.join(' ')}: exit ${result.status}\n${result.stderr}`;
      assert.ok(result.status === 0 || result.status === 1 || result.status === 2, context);
      assert.ok(!/internal error|\n\s+at \S+:\d+:\d+/.test(result.stderr), context);
      outputs.push(result.stdout, result.stderr);
      return result;
    };
    const list = run('list');
    assert.equal(list.status, 0);
    assert.match(list.stderr, /unreadable lines? in .*index\.jsonl/);
    assert.match(list.stdout, /team\\x1b\]0;pwned\\x07=vision\\x1b\[5m/, 'escapes are shown, escaped');
    assert.match(list.stdout, /metrics\.`\\x9b31m`/, 'C1 controls too');
    const json = JSON.parse(run('list', '--format', 'json').stdout) as { runs: { id: string }[] };
    assert.deepEqual(
      json.runs.map((one) => one.id),
      [IDS[2], IDS[1], IDS[0]],
    );
    const shown = run('show', IDS[0]);
    assert.equal(shown.status, 0);
    assert.match(shown.stdout, /note {6}note\\r\\x1b\[1Aforged line/);
    assert.match(shown.stdout, /tags {6}team\\x1b\]0;pwned\\x07=vision\\x1b\[5m/);
    assert.match(shown.stdout, /…/, 'a 5,000-character metric is cut');
    run('show', IDS[2]);
    run('compare', IDS[0], IDS[1], '--all');
    run(
      'list',
      '--filter',
      'metrics.constructor is null and params.__proto__ is null and tags.toString is null',
      '--sort',
      'params.nested',
    );
    run('list', '--filter', `${'('.repeat(500)}status = 1`);
    for (const id of hostileIds(root).filter((one) => one && !one.includes('\u0000')))
      assert.notEqual(run('delete', id).status, 0, `delete ${JSON.stringify(id)}`);
    assert.equal(run('delete', IDS[2]).status, 0, 'the linked run folder is removed as a link');
    assert.equal(run('gc', '--keep', '0').status, 0);
    assert.equal(run('delete', IDS[0], IDS[1]).status, 0);
    assert.equal(existsSync(join(layout.runs, IDS[0])), false);
    assert.match(run('reindex').stderr, /rebuilt the index of 0 runs/);
    const text = outputs.join('\n');
    assert.ok(!/[\u001b\u009b\u202e\r\u0007]/.test(text), 'no raw control or bidi character reaches the terminal');
    assert.ok(!text.includes(decoy.secret), 'the secret is never printed');
    assert.equal(decoy.fingerprint(), fingerprint);
    assert.ok(existsSync(decoy.folder));
  });
});
