/**
 * The drift engine's behaviour: default method selection, type inference, edge cases (each
 * asserting the answer), readers (quoted CSV, TSV, JSON Lines, Parquet errors), the sketch path
 * and bounded memory on a streamed file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  computeDrift,
  computeDriftFromColumns,
  DriftError,
  driftWorkerStats,
  type EngineOptions,
} from '../../core/src/drift/engine';
import type { DriftReport } from '../../core/src/drift/types';
import { parseNumberBytes, parsed } from '../../core/src/drift/infer';
import { ks2samp } from '../../core/src/drift/methods';
import { QuantileSketch } from '../../core/src/drift/sketch';
import { sortFloat64 } from '../../core/src/drift/sort';
import { writeDriftCsv } from '../support/drift-data';
import { seeded } from '../support/random';

const dir = mkdtempSync(join(tmpdir(), 'mlpipe-drift-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function normals(n: number, seed: number, mean = 0): number[] {
  const random = seeded(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = 1 - random();
    out.push(mean + Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random()));
  }
  return out;
}

async function rejectsDrift(promise: Promise<unknown>, pattern: RegExp): Promise<DriftError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DriftError, `a DriftError, got ${String(error)}`);
    assert.match(error.message, pattern);
    assert.ok(error.hint.length > 0, 'says what to do');
    return error;
  }
  assert.fail('expected a DriftError');
}

describe('default method selection (Evidently _get_default_stattest)', () => {
  const ids = (n: number, k: number): number[] => Array.from({ length: n }, (_, i) => i % k);
  it('small reference: ks for numeric, chisquare for > 2 categories, z for binary', () => {
    const report = computeDriftFromColumns(
      {
        x: normals(500, 1),
        c: ids(500, 3).map((i) => `c${i}`),
        b: ids(500, 2).map((i) => (i ? 'y' : 'n')),
        few: ids(500, 4).map((i) => i + 0.5),
      },
      {
        x: normals(400, 2),
        c: ids(400, 3).map((i) => `c${i}`),
        b: ids(400, 2).map((i) => (i ? 'y' : 'n')),
        few: ids(400, 4).map((i) => i + 0.5),
      },
    );
    const method = (name: string): string => report.columns.find((c) => c.column === name)?.method ?? '';
    assert.equal(method('x'), 'ks');
    assert.equal(method('c'), 'chisquare');
    assert.equal(method('b'), 'z');
    // numeric (floats) with <= 5 distinct values: chisquare when > 2 (Evidently)
    assert.equal(report.columns.find((c) => c.column === 'few')?.type, 'num');
    assert.equal(method('few'), 'chisquare');
  });
  it('large reference: wasserstein for numeric, jensenshannon for categorical and few-valued numeric', () => {
    const report = computeDriftFromColumns(
      { x: normals(1001, 3), c: ids(1001, 3).map((i) => `c${i}`), few: ids(1001, 3).map((i) => i / 2) },
      { x: normals(50, 4), c: ids(50, 3).map((i) => `c${i}`), few: ids(50, 3).map((i) => i / 2) },
    );
    assert.deepEqual(
      report.columns.map((c) => [c.column, c.method, c.threshold]),
      [
        ['x', 'wasserstein', 0.1],
        ['c', 'jensenshannon', 0.1],
        ['few', 'jensenshannon', 0.1],
      ],
    );
  });
  it('exactly 1000 reference rows is still "small"', () => {
    const report = computeDriftFromColumns({ x: normals(1000, 5) }, { x: normals(1000, 6) });
    assert.equal(report.columns[0].method, 'ks');
    assert.equal(report.columns[0].threshold, 0.05);
  });
  it('integers with <= 10 distinct current values are categorical; with more, numeric (Evidently 0.7.23)', () => {
    const report = computeDriftFromColumns(
      { code: ids(300, 10), count: ids(300, 11) },
      { code: ids(200, 10), count: ids(200, 11) },
    );
    assert.equal(report.columns[0].type, 'cat');
    assert.equal(report.columns[1].type, 'num');
  });
  it('forced methods, thresholds and types', () => {
    const report = computeDriftFromColumns(
      { x: normals(300, 7), code: ids(300, 4) },
      { x: normals(300, 8, 0.5), code: ids(300, 4) },
      { methods: { x: 'psi' }, thresholds: { x: 0.5 }, numerical: ['code'] },
    );
    const x = report.columns[0];
    assert.equal(x.method, 'psi');
    assert.equal(x.threshold, 0.5);
    assert.match(x.method_reason, /forced/);
    assert.equal(report.columns[1].type, 'num');
  });
  it('dataset drift when the drifted share reaches drift_share (>=)', () => {
    const report = computeDriftFromColumns(
      { a: normals(400, 9), b: normals(400, 10) },
      { a: normals(400, 11, 1), b: normals(400, 12) },
    );
    assert.equal(report.number_of_drifted_columns, 1);
    assert.equal(report.share_of_drifted_columns, 0.5);
    assert.equal(report.dataset_drift, true);
    const stricter = computeDriftFromColumns(
      { a: normals(400, 9), b: normals(400, 10) },
      { a: normals(400, 11, 1), b: normals(400, 12) },
      { driftShare: 0.6 },
    );
    assert.equal(stricter.dataset_drift, false);
  });
});

describe('edge cases', () => {
  it('an empty file and a header-only file: errors naming the file', async () => {
    const empty = file('empty.csv', '');
    const headerOnly = file('header.csv', 'a,b\n');
    const ok = file('ok.csv', 'a,b\n1,2\n');
    const e1 = await rejectsDrift(computeDrift(empty, ok), /empty\.csv is empty/);
    assert.equal(e1.file, empty);
    await rejectsDrift(computeDrift(ok, headerOnly), /header\.csv has no data rows/);
    await rejectsDrift(computeDrift(join(dir, 'nope.csv'), ok), /cannot read .*nope\.csv/);
    await rejectsDrift(computeDrift(file('data.xlsx', 'x'), ok), /unknown data format/);
  });
  it('a malformed file: an unterminated quote, binary data, bad JSON: file and line', async () => {
    const ok = file('ok2.csv', 'a\n1\n');
    const e = await rejectsDrift(
      computeDrift(file('open.csv', 'a,b\n1,2\n3,"x\n4,5\n'), ok),
      /open\.csv:3: a quoted field/,
    );
    assert.equal(e.line, 3);
    await rejectsDrift(
      computeDrift(file('bin.csv', 'a,b\n1,2\n\u0000\u0001'), ok),
      /bin\.csv:3: this is not a text CSV/,
    );
    const j = await rejectsDrift(
      computeDrift(file('bad.jsonl', '{"a": 1}\n{"a": 2\n'), ok),
      /bad\.jsonl:2: not valid JSON/,
    );
    assert.equal(j.line, 2);
    await rejectsDrift(
      computeDrift(file('bad.parquet', 'not parquet at all'), ok),
      /bad\.parquet: not a readable Parquet file/,
    );
  });
  it('a column missing on one side is skipped with the reason', () => {
    const report = computeDriftFromColumns(
      { a: [1.5, 2.5, 3.5], gone: [1, 2, 3] },
      { a: [1.5, 2.5, 4.5], added: ['x', 'y', 'z'] },
    );
    assert.deepEqual(report.skipped, [
      { column: 'gone', reason: 'missing in the current data ((current))' },
      { column: 'added', reason: 'missing in the reference data ((reference))' },
    ]);
    assert.equal(report.number_of_columns, 1);
  });
  it('all-missing columns are skipped; missing values do not count as rows', () => {
    const report = computeDriftFromColumns(
      { a: [null, null], b: [1.5, null, 2.5] },
      { a: [null, undefined], b: [null, 3.5, 4.5, 5.5] },
    );
    assert.deepEqual(report.skipped, [{ column: 'a', reason: 'every value is missing on both sides' }]);
    assert.equal(report.columns[0].reference_rows, 2);
    assert.equal(report.columns[0].current_rows, 3);
  });
  it('a constant column: KS p = 1 when both sides equal; normed Wasserstein divides by 0.001', () => {
    const same = computeDriftFromColumns(
      { c: Array(50).fill(5.5) },
      { c: Array(40).fill(5.5) },
      { methods: { c: 'ks' } },
    );
    assert.equal(same.columns[0].statistic, 0);
    assert.equal(same.columns[0].p_value, 1);
    assert.equal(same.columns[0].drifted, false);
    const moved = computeDriftFromColumns({ c: Array(1500).fill(5.5) }, { c: Array(1500).fill(5.6) });
    assert.equal(moved.columns[0].method, 'jensenshannon'); // one value on each side: few-valued numeric
    const w = computeDriftFromColumns(
      { c: Array(1500).fill(5.5) },
      { c: Array(1500).fill(5.6) },
      { methods: { c: 'wasserstein' } },
    );
    assert.ok(Math.abs(w.columns[0].statistic - 0.1 / 0.001) < 1e-6, `${w.columns[0].statistic}`);
    assert.ok(w.columns[0].notes.some((n) => n.includes('divided by 0.001')));
  });
  it('unseen categories: chi-square infinite (p = 0) with a note; shown after the reference ones', () => {
    const ref = Array.from({ length: 90 }, (_, i) => ['a', 'b', 'c'][i % 3]);
    const cur = [...ref.slice(0, 60), 'new', 'new'];
    const report = computeDriftFromColumns({ k: ref }, { k: cur });
    const col = report.columns[0];
    assert.equal(col.method, 'chisquare');
    assert.equal(col.p_value, 0);
    assert.equal(col.drifted, true);
    assert.equal(col.statistic, Number.MAX_VALUE);
    assert.ok(col.notes.some((n) => n.includes('"new"')));
    assert.ok(col.details?.kind === 'categories');
    if (col.details?.kind === 'categories') {
      assert.deepEqual(col.details.categories, ['a', 'b', 'c', 'new']);
      assert.equal(col.details.reference[3], 0);
    }
  });
  it('mixed types: a few strings in a numeric column are ignored with a note; many make it categorical', () => {
    const many = normals(300, 13);
    const few = computeDriftFromColumns({ m: [...many, 'oops'] }, { m: normals(300, 14) });
    assert.equal(few.columns[0].type, 'num');
    assert.equal(few.columns[0].reference_rows, 300);
    assert.ok(few.columns[0].notes.some((n) => n.includes('"oops"')));
    const lots = computeDriftFromColumns({ m: [1, 2, 3, 'x', 'y', 'z', 1, 2] }, { m: [1, 'x', 'y', 2, 2, 3] });
    assert.equal(lots.columns[0].type, 'cat');
    assert.ok(lots.columns[0].notes.some((n) => n.includes('mixed numbers and text')));
  });
  it('text-like columns (mostly unique strings) are skipped', () => {
    const ids = Array.from({ length: 100 }, (_, i) => `id-${i}`);
    const report = computeDriftFromColumns(
      { id: ids, v: normals(100, 15) },
      { id: ids.map((s) => s + 'x'), v: normals(100, 16) },
    );
    assert.equal(report.skipped[0].column, 'id');
    assert.match(report.skipped[0].reason, /text-like/);
  });
  it('ragged rows: short rows padded, long rows skipped, both noted with the first line', async () => {
    const ref = file('ragged.csv', 'a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n13,14,15,16\n');
    const cur = file('ragged_cur.csv', 'a,b,c\n1,2,3\n4,5,6\n');
    const report = await computeDrift(ref, cur, { methods: { a: 'ks', b: 'ks', c: 'ks' } });
    assert.equal(report.reference.rows, 3);
    assert.ok(report.notes.some((n) => n.includes('1 row had fewer fields') && n.includes('line 3')));
    assert.ok(report.notes.some((n) => n.includes('2 rows had more fields') && n.includes('line 4')));
    assert.equal(report.columns.find((c) => c.column === 'c')?.reference_rows, 2);
  });
  it('unknown methods, columns and bad shares are user errors', async () => {
    assert.throws(() => computeDriftFromColumns({ a: [1] }, { a: [2] }, { methods: { a: 'tt' as never } }), DriftError);
    assert.throws(() => computeDriftFromColumns({ a: [1] }, { a: [2] }, { columns: ['b'] }), /column b not found/);
    assert.throws(() => computeDriftFromColumns({ a: [1] }, { a: [2] }, { driftShare: 2 }), DriftError);
    assert.throws(
      () => computeDriftFromColumns({ s: ['x', 'y'] }, { s: ['y', 'x'] }, { methods: { s: 'ks' } }),
      /needs numbers/,
    );
  });
});

describe('readers', () => {
  it('quoted CSV fields: commas, line breaks, escaped quotes, CRLF, BOM, NA tokens', async () => {
    const ref = file(
      'q_ref.csv',
      '\ufeffcity,amount\r\n"New York, NY",1.5\r\n"multi\nline",NA\r\n"Say ""hi""",2.5\r\nParis,\r\n',
    );
    const cur = file('q_cur.csv', 'city,amount\n"New York, NY",1.5\nParis,None\n"Say ""hi""",null\n');
    const report = await computeDrift(ref, cur);
    const city = report.columns.find((c) => c.column === 'city');
    assert.ok(city?.details?.kind === 'categories');
    if (city?.details?.kind === 'categories') {
      assert.deepEqual([...city.details.categories].sort(), ['New York, NY', 'Paris', 'Say "hi"', 'multi\nline']);
    }
    assert.equal(report.reference.rows, 4);
    assert.equal(report.columns.find((c) => c.column === 'amount')?.reference_rows, 2);
    assert.equal(report.columns.find((c) => c.column === 'amount')?.current_rows, 1);
  });
  it('TSV by extension and JSON Lines with late keys, nulls and booleans', async () => {
    const tsv = file('t.tsv', 'x\ty\n1.5\ta\n2.5\tb\n');
    const jsonl = file(
      't.jsonl',
      '{"x": 1.5, "y": "a"}\n\n{"x": null, "y": "b", "z": true}\n{"x": 3.5, "y": "a", "z": false}\n',
    );
    const report = await computeDrift(tsv, jsonl);
    assert.deepEqual(
      report.columns.map((c) => [c.column, c.reference_rows, c.current_rows]),
      [
        ['x', 2, 2],
        ['y', 2, 3],
      ],
    );
    assert.equal(report.skipped[0].column, 'z');
    assert.equal(report.current.rows, 3);
  });
  it('parses numbers exactly as strtod (fast path)', () => {
    const enc = new TextEncoder();
    for (const text of ['0', '-0.5', '123.456', '+7', '0.000123', '99999999999999.9', '1.', ' 42 ']) {
      const bytes = enc.encode(text);
      assert.ok(parseNumberBytes(bytes, 0, bytes.length), text);
      assert.equal(parsed.value, Number(text.trim()), text);
    }
    for (const text of ['1e5', 'abc', '1.2.3', '-', '.', '12345678901234567']) {
      const bytes = enc.encode(text);
      assert.equal(parseNumberBytes(bytes, 0, bytes.length), false, text);
    }
  });
  it('sorts like Array.prototype.sort', () => {
    const random = seeded(99);
    const values = new Float64Array(20000).map(() => (random() - 0.5) * 10 ** Math.floor(random() * 12 - 6));
    values[5] = -0;
    values[6] = 0;
    const expected = Array.from(values).sort((a, b) => a - b);
    assert.deepEqual(Array.from(sortFloat64(values)), expected);
  });
});

describe('beyond the exact-size limit: the quantile sketch', () => {
  it('keeps its documented rank error bound, and merges', () => {
    const a = new QuantileSketch(64, 1);
    const b = new QuantileSketch(64, 2);
    const values = normals(20000, 21);
    values.forEach((v, i) => (i % 2 ? a : b).add(v));
    a.merge(b);
    assert.equal(a.n, 20000);
    const { values: items, weights } = a.weighted();
    const sorted = [...values].sort((x, y) => x - y);
    let worst = 0;
    let cum = 0;
    for (let i = 0; i < items.length; i++) {
      cum += weights[i];
      // true rank of items[i]
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sorted[mid] <= items[i]) lo = mid + 1;
        else hi = mid;
      }
      worst = Math.max(worst, Math.abs(cum - lo) / 20000);
    }
    assert.ok(worst <= a.rankError(), `rank error ${worst} within the bound ${a.rankError()}`);
    assert.ok(a.rankError() < 0.2);
  });
  it('a forced small limit switches to the sketch with a note; KS within the bound of the exact answer', async () => {
    const ref = join(dir, 'sk_ref.csv');
    const cur = join(dir, 'sk_cur.csv');
    await writeDriftCsv(ref, { rows: 20000, numeric: 2, categorical: 1, seed: 5 });
    await writeDriftCsv(cur, { rows: 15000, numeric: 2, categorical: 1, seed: 6, shift: 0.5 });
    const methods = { num_0: 'ks', num_1: 'wasserstein' } as const;
    const exact = await computeDrift(ref, cur, { methods });
    const sketched = await computeDrift(ref, cur, { methods, _exactLimit: 1000, _sketchK: 512 });
    const e = exact.columns[0];
    const s = sketched.columns[0];
    assert.equal(e.notes.length, 0);
    const eps = s.notes
      .filter((n) => n.includes('estimated from a sketch'))
      .map((n) => Number(/±([0-9.e-]+)/.exec(n)?.[1]));
    assert.equal(eps.length, 2);
    assert.ok(
      Math.abs(s.statistic - e.statistic) <= eps[0] + eps[1],
      `KS ${s.statistic} vs exact ${e.statistic}, bound ${eps[0] + eps[1]}`,
    );
    assert.equal(s.reference_rows, 20000);
    const ew = exact.columns[1].statistic;
    const sw = sketched.columns[1].statistic;
    assert.ok(Math.abs(sw - ew) / ew < 0.1, `Wasserstein ${sw} vs ${ew}`);
    // the categorical column is exact whatever the limit
    assert.equal(sketched.columns[2].statistic, exact.columns[2].statistic);
  });
  it('the weighted KS on sketch items equals the exact one when nothing was compacted', () => {
    const x = new Float64Array(normals(300, 31)).sort();
    const y = new Float64Array(normals(200, 32, 0.2)).sort();
    const exact = ks2samp({ values: x, n: 300 }, { values: y, n: 200 });
    const weighted = ks2samp(
      { values: x, weights: new Float64Array(300).fill(1), n: 300 },
      { values: y, weights: new Float64Array(200).fill(1), n: 200 },
    );
    assert.equal(weighted.statistic, exact.statistic);
    assert.equal(weighted.pValue, exact.pValue);
  });
});

// How much memory this takes against the file's size is measured by `npm run bench:drift`, not
// asserted here.
describe('a large file', () => {
  it('streams a large CSV through the sketches: every row counted, the numbers estimated from sketches', async () => {
    const big = join(dir, 'big.csv');
    const small = join(dir, 'big_cur.csv');
    // ~100 MB: 8 numeric + 2 categorical columns
    await writeDriftCsv(big, { rows: 1_350_000, numeric: 8, categorical: 2, seed: 41 });
    await writeDriftCsv(small, { rows: 2000, numeric: 8, categorical: 2, seed: 42 });
    // a small exact limit: the numbers go to sketches, so memory does not grow with the file
    const report = await computeDrift(big, small, { _exactLimit: 20_000, _sketchK: 2048, details: false });
    assert.equal(report.reference.rows, 1_350_000);
    assert.equal(report.number_of_columns, 10);
    const numeric = report.columns.filter((column) => column.column.startsWith('num_'));
    assert.equal(numeric.length, 8);
    for (const column of numeric)
      assert.ok(
        column.notes.some((note) => note.includes('estimated from a sketch')),
        `${column.column}: ${column.notes.join('; ')}`,
      );
  });
});

describe('reader threads (one worker per file) and the in-process path', () => {
  const fixtures = join(__dirname, '..', 'fixtures', 'drift');
  const both = async (ref: string, cur: string, options: EngineOptions = {}): Promise<[DriftReport, DriftReport]> => {
    const startedBefore = driftWorkerStats.started;
    const threaded = await computeDrift(ref, cur, options);
    assert.equal(driftWorkerStats.started, startedBefore + 2, 'both files were read in worker threads');
    const inProcess = await computeDrift(ref, cur, { ...options, _inProcess: true });
    assert.equal(driftWorkerStats.started, startedBefore + 2, '_inProcess starts no worker');
    return [threaded, inProcess];
  };
  for (const name of ['cat', 'equal', 'large', 'lopsided', 'quoted', 'small']) {
    it(`identical reports on the ${name} fixture`, async () => {
      const [threaded, inProcess] = await both(join(fixtures, `${name}_ref.csv`), join(fixtures, `${name}_cur.csv`));
      assert.deepEqual(threaded, inProcess);
    });
  }
  it('identical reports on a generated file: exact numbers, the sketch path, selected columns, JSON Lines', async () => {
    const ref = join(dir, 'w_ref.csv');
    const cur = join(dir, 'w_cur.csv');
    await writeDriftCsv(ref, { rows: 30_000, numeric: 6, categorical: 3, seed: 51 });
    await writeDriftCsv(cur, { rows: 20_000, numeric: 6, categorical: 3, seed: 52, shift: 0.3 });
    const [threaded, inProcess] = await both(ref, cur);
    assert.equal(threaded.number_of_columns, 9);
    assert.deepEqual(threaded, inProcess);
    // numbers beyond the exact limit: the sketches travel back from the threads
    const [sketchedThreaded, sketchedInProcess] = await both(ref, cur, { _exactLimit: 5000, _sketchK: 1024 });
    assert.ok(sketchedThreaded.columns[0].notes.some((n) => n.includes('sketch')));
    assert.deepEqual(sketchedThreaded, sketchedInProcess);
    const [someThreaded, someInProcess] = await both(ref, cur, {
      columns: ['num_1', 'cat_0'],
      methods: { num_1: 'ks' },
    });
    assert.deepEqual(someThreaded, someInProcess);
    const jsonl = file(
      'w_cur.jsonl',
      '{"num_0": 50.5, "cat_0": "alpha"}\n{"num_0": 49.25, "cat_0": "bravo", "extra": 1}\n{"num_0": "x", "cat_0": null}\n',
    );
    const [jsonThreaded, jsonInProcess] = await both(ref, jsonl);
    assert.deepEqual(jsonThreaded, jsonInProcess);
  });
  it('a bad file read in a thread gives the same DriftError (message, hint, file, line) as in process', async () => {
    const ok = file('ok3.csv', 'a\n1\n');
    const cases: Array<[string, string]> = [
      [file('open3.csv', 'a,b\n1,2\n3,"x\n4,5\n'), ok],
      [ok, file('bin3.csv', 'a,b\n1,2\n\u0000\u0001')],
      [file('bad3.jsonl', '{"a": 1}\n{"a": 2\n'), ok],
      [ok, file('empty3.csv', '')],
      [join(dir, 'nope3.csv'), ok],
      [file('bad3.parquet', 'not parquet at all'), ok],
      // both bad: the reference's error, as when the files are read one after the other
      [file('both_ref.csv', 'a\n"open\n'), file('both_cur.csv', '')],
    ];
    for (const [ref, cur] of cases) {
      const errors: DriftError[] = [];
      for (const options of [{}, { _inProcess: true }]) {
        try {
          await computeDrift(ref, cur, options);
          assert.fail(`expected a DriftError for ${ref} / ${cur}`);
        } catch (error) {
          assert.ok(error instanceof DriftError, `a DriftError, got ${String(error)}`);
          errors.push(error);
        }
      }
      const [threaded, inProcess] = errors;
      assert.deepEqual(
        {
          message: threaded.message,
          hint: threaded.hint,
          file: threaded.file,
          line: threaded.line,
          name: threaded.name,
        },
        {
          message: inProcess.message,
          hint: inProcess.hint,
          file: inProcess.file,
          line: inProcess.line,
          name: inProcess.name,
        },
      );
      assert.ok(!threaded.message.includes('    at '), 'no stack trace in the message');
    }
  });
});

describe('Parquet input', () => {
  // The fixtures' CSV pairs written as Parquet by pandas/pyarrow (float64, int64 and string columns).
  const fixture = (name: string) => join(__dirname, '..', 'fixtures', 'drift', name);
  const comparable = (report: DriftReport) => ({
    rows: [report.reference.rows, report.current.rows],
    drift: [report.dataset_drift, report.number_of_drifted_columns, report.number_of_columns],
    skipped: report.skipped,
    columns: report.columns.map((column) => [
      column.column,
      column.type,
      column.method,
      column.statistic,
      column.p_value,
      column.score,
      column.drifted,
      column.reference_rows,
      column.current_rows,
    ]),
  });
  for (const [reference, current] of [
    ['small_ref', 'small_cur'],
    ['cat_ref', 'cat_cur'],
  ]) {
    it(`gives the same report from ${reference}.parquet as from the CSV`, async () => {
      const csv = await computeDrift(fixture(`${reference}.csv`), fixture(`${current}.csv`), { details: false });
      const parquet = await computeDrift(fixture(`${reference}.parquet`), fixture(`${current}.parquet`), {
        details: false,
      });
      assert.ok(csv.columns.length >= 3);
      assert.deepEqual(comparable(parquet), comparable(csv));
    });
  }
});
