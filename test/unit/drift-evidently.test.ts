/**
 * The drift engine against Evidently 0.7.23 itself on real integer data (scikit-learn's digits,
 * diabetes, wine and Linnerud data; test/fixtures/drift/integers/README.md), column by column:
 * test/fixtures/drift/integers/evidently.json holds what `Report([DataDriftPreset()])` reported for
 * each column (type, method, score, verdict) and the same computed with scipy (with the test
 * statistic), written by scripts/drift-evidently.py. The engine must give Evidently's type, method,
 * threshold and verdict for every column, and its score and scipy's statistic to 1e-9 (p-values
 * to 1e-6, relative when tiny).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { computeDrift, computeDriftFromColumns } from '../../core/src/drift/engine';
import { INTEGER_CARDINALITY_LIMIT } from '../../core/src/drift/infer';
import type { ColumnDrift, DriftMethod } from '../../core/src/drift/types';

const DIR = join(__dirname, '..', 'fixtures', 'drift', 'integers');

type Num = number | 'Infinity' | '-Infinity' | 'NaN';
interface Verdict {
  type: 'num' | 'cat';
  method: DriftMethod;
  drifted: boolean;
}
interface Column {
  evidently: Verdict & { score: Num; threshold: number; pandas_dtype: string };
  /** scipy's numbers (its type, method, threshold and verdict are Evidently's: the script checks that). */
  scipy: {
    statistic: Num;
    p_value: Num | null;
    score: Num;
    reference_rows: number;
    current_rows: number;
  };
  legacy: Verdict;
}
interface Expected {
  evidently: string;
  integer_cardinality_limit: number;
  columns_compared: number;
  columns_the_legacy_rule_got_wrong: number;
  digits_shift_gaps: string[];
  comparisons: Record<string, { reference: string; current: string; columns: Record<string, Column> }>;
}

const expected = JSON.parse(readFileSync(join(DIR, 'evidently.json'), 'utf8')) as Expected;

function num(v: Num): number {
  return v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v === 'NaN' ? NaN : v;
}

/** Absolute or relative error within `tolerance`; tiny p-values relative only. */
function close(actual: number, wanted: number, tolerance: number, what: string): void {
  const error = Math.abs(actual - wanted);
  const ok =
    wanted !== 0 && Math.abs(wanted) < 1e-6
      ? error <= tolerance * Math.abs(wanted) || error < 1e-300
      : error <= tolerance || error <= tolerance * Math.abs(wanted);
  assert.ok(ok, `${what}: ${actual} vs ${wanted} (error ${error.toExponential(2)})`);
}

function checkColumn(what: string, got: ColumnDrift, want: Column): void {
  const { evidently, scipy } = want;
  assert.equal(
    got.type,
    evidently.type,
    `${what}: type (Evidently: ${evidently.type}, pandas ${evidently.pandas_dtype})`,
  );
  assert.equal(got.method, evidently.method, `${what}: method (${got.method_reason})`);
  assert.equal(got.threshold, evidently.threshold, `${what}: threshold`);
  assert.equal(got.drifted, evidently.drifted, `${what}: verdict (score ${got.score} vs Evidently ${evidently.score})`);
  assert.equal(got.reference_rows, scipy.reference_rows, `${what}: reference rows`);
  assert.equal(got.current_rows, scipy.current_rows, `${what}: current rows`);
  const isTest = scipy.p_value !== null;
  close(got.score, num(evidently.score), isTest ? 1e-6 : 1e-9, `${what}: score against Evidently`);
  close(got.score, num(scipy.score), isTest ? 1e-6 : 1e-9, `${what}: score against scipy`);
  const statistic = num(scipy.statistic);
  if (statistic === Infinity) assert.equal(got.statistic, Number.MAX_VALUE, `${what}: infinite statistic`);
  else close(got.statistic, statistic, 1e-9, `${what}: statistic against scipy`);
  if (isTest) assert.notEqual(got.p_value, null, `${what}: p-value`);
  else assert.equal(got.p_value, null, `${what}: a distance has no p-value`);
}

describe('integer columns as Evidently 0.7.23 types and tests them (real data)', () => {
  it('the reference values come from Evidently 0.7.23 with its integer limit, and the old rule missed some', () => {
    assert.equal(expected.evidently, '0.7.23');
    assert.equal(expected.integer_cardinality_limit, INTEGER_CARDINALITY_LIMIT);
    // the fixtures tell the rules apart: the rule mlpipe had (<= 5 distinct reference integers)
    // gives another type, method or verdict than Evidently on these columns
    assert.ok(expected.columns_the_legacy_rule_got_wrong >= 20, 'fixtures that tell the old rule from the new');
    assert.ok(expected.columns_compared >= 288);
  });

  for (const [name, comparison] of Object.entries(expected.comparisons)) {
    it(`${name}: ${comparison.reference} -> ${comparison.current}, every column as Evidently`, async () => {
      const report = await computeDrift(join(DIR, comparison.reference), join(DIR, comparison.current), {
        details: false,
      });
      assert.deepEqual(report.skipped, [], `${name}: nothing skipped`);
      const names = Object.keys(comparison.columns);
      assert.deepEqual(
        report.columns.map((c) => c.column),
        names,
        `${name}: the columns compared`,
      );
      for (const column of report.columns)
        checkColumn(`${name}.${column.column}`, column, comparison.columns[column.column]);
      const drifted = names.filter((n) => comparison.columns[n].evidently.drifted).length;
      assert.equal(report.number_of_drifted_columns, drifted, `${name}: drifted columns`);
    });
  }

  it('an integer column with a gap in the current data is numeric (pandas reads it as float64)', async () => {
    const comparison = expected.comparisons.digits_shift;
    assert.equal(expected.digits_shift_gaps.length, 3);
    const report = await computeDrift(join(DIR, comparison.reference), join(DIR, comparison.current), {
      details: false,
      columns: expected.digits_shift_gaps,
    });
    for (const column of report.columns) {
      assert.equal(comparison.columns[column.column].evidently.pandas_dtype, 'float64');
      assert.equal(column.type, 'num', column.column);
      assert.match(column.method_reason, /1 current value is missing, so pandas reads the current column as floats/);
    }
  });
});

describe('the integer rule at its edges', () => {
  const repeat = (distinct: number, n: number, offset = 0): number[] =>
    Array.from({ length: n }, (_, i) => offset + (i % distinct));

  it(`at most ${INTEGER_CARDINALITY_LIMIT} distinct current integers: categorical; one more: numeric`, () => {
    const report = computeDriftFromColumns(
      { ten: repeat(10, 300), eleven: repeat(11, 300) },
      { ten: repeat(10, 200), eleven: repeat(11, 200) },
    );
    assert.deepEqual(
      report.columns.map((c) => [c.column, c.type, c.method]),
      [
        ['ten', 'cat', 'chisquare'],
        ['eleven', 'num', 'ks'],
      ],
    );
    assert.match(report.columns[0].method_reason, /integers with 10 distinct current values \(<= 10\)/);
  });

  it('the type comes from the current data only, as Evidently reads it', () => {
    const report = computeDriftFromColumns(
      // the reference has 40 distinct values and decimals; the current 4 integers
      { x: repeat(40, 400).map((v) => v + 0.5), y: repeat(3, 400) },
      // the current has 12 distinct integers; the reference 3
      { x: repeat(4, 300), y: repeat(12, 300) },
    );
    assert.equal(report.columns[0].type, 'cat');
    assert.equal(report.columns[0].method, 'chisquare');
    assert.equal(report.columns[1].type, 'num');
    assert.equal(report.columns[1].method, 'ks');
  });

  it('a missing current value makes integers numeric; a missing reference value does not', () => {
    const report = computeDriftFromColumns(
      { gapCurrent: repeat(7, 300), gapReference: [...repeat(7, 299), null] },
      { gapCurrent: [...repeat(7, 199), null], gapReference: repeat(7, 200) },
    );
    assert.deepEqual(
      report.columns.map((c) => [c.column, c.type, c.method]),
      [
        ['gapCurrent', 'num', 'ks'],
        ['gapReference', 'cat', 'chisquare'],
      ],
    );
  });

  it('integers as pandas reads CSV and JSON Lines: "2.0" in a CSV is a float, 2.0 in JSON an integer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-drift-int-'));
    try {
      const lines = (n: number, text: (i: number) => string): string =>
        ['code,count', ...Array.from({ length: n }, (_, i) => text(i))].join('\n') + '\n';
      writeFileSync(
        join(dir, 'ref.csv'),
        lines(300, (i) => `${i % 3},${i % 7}`),
      );
      writeFileSync(
        join(dir, 'cur.csv'),
        lines(200, (i) => `${i % 3}.0,${i % 7}`),
      );
      const csv = await computeDrift(join(dir, 'ref.csv'), join(dir, 'cur.csv'), { details: false });
      assert.deepEqual(
        csv.columns.map((c) => [c.column, c.type, c.method]),
        [
          ['code', 'num', 'chisquare'],
          ['count', 'cat', 'chisquare'],
        ],
      );
      // pandas.read_json: 3.0 is int64, 3.5 float64; a key left out is a gap (float64)
      const reference = Array.from({ length: 300 }, (_, i) => JSON.stringify({ a: i % 4, b: i % 4, c: i % 4 }));
      const current = Array.from({ length: 200 }, (_, i) => `{"a": ${i % 4}.0, "b": ${i % 4}.5, "c": ${i % 4}}`);
      writeFileSync(join(dir, 'ref.jsonl'), reference.join('\n') + '\n');
      writeFileSync(join(dir, 'cur.jsonl'), [...current, '{"a": 1.0, "b": 1.5}'].join('\n') + '\n');
      const jsonl = await computeDrift(join(dir, 'ref.jsonl'), join(dir, 'cur.jsonl'), { details: false });
      assert.deepEqual(
        jsonl.columns.map((c) => [c.column, c.type]),
        [
          ['a', 'cat'],
          ['b', 'num'],
          ['c', 'num'],
        ],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('where mlpipe differs on purpose (a few non-numbers among numbers), the column says so', () => {
    const numbers = repeat(50, 300);
    const current = computeDriftFromColumns({ m: numbers }, { m: [...numbers, 'oops'] });
    assert.equal(current.columns[0].type, 'num');
    assert.ok(
      current.columns[0].notes.some((n) => /Evidently 0\.7\.23 differs here: pandas reads the current/.test(n)),
    );
    const reference = computeDriftFromColumns({ m: [...numbers, 'oops'] }, { m: numbers });
    assert.ok(reference.columns[0].notes.some((n) => /Evidently 0\.7\.23 differs here: .* stops/.test(n)));
    const clean = computeDriftFromColumns({ m: numbers }, { m: numbers });
    assert.ok(!clean.columns[0].notes.some((n) => n.includes('differs')));
  });

  it('in memory: integer numbers are integers; a fraction makes a float column', () => {
    const report = computeDriftFromColumns({ f: repeat(3, 300).map((v) => v + 0.5) }, { f: repeat(3, 200) });
    assert.equal(report.columns[0].type, 'cat', 'the current holds integers only');
    const half = (v: number): number => v + 0.5;
    const floats = computeDriftFromColumns({ f: repeat(3, 300).map(half) }, { f: repeat(3, 200).map(half) });
    assert.equal(floats.columns[0].type, 'num');
    assert.equal(floats.columns[0].method, 'chisquare', 'numeric with <= 5 distinct values: chi-square');
  });
});
