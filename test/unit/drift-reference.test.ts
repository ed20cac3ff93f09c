/**
 * The drift engine against scipy: test/fixtures/drift/reference.json is written by
 * scripts/drift-reference.py (Evidently's formulas on numpy/scipy). Statistics must agree to 1e-9,
 * p-values to 1e-6 (absolute, or relative when tiny).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { computeDrift } from '../../core/src/drift/engine';
import {
  chi2Sf,
  erfc,
  kolmogn,
  ksOuterProbInsideMethod,
  ksProbOutsideSquare,
  lgamma,
  normalCdf,
  smirnov,
} from '../../core/src/drift/distributions';
import type { DriftMethod } from '../../core/src/drift/types';

const DIR = join(__dirname, '..', 'fixtures', 'drift');

type Num = number | 'Infinity' | '-Infinity' | 'NaN';
interface Entry {
  type: 'num' | 'cat';
  reference_rows: number;
  current_rows: number;
  default: DriftMethod;
  [method: string]: unknown;
}
interface Reference {
  fixtures: Record<string, Record<string, Entry>>;
  special: Record<string, number[][]>;
}

const reference = JSON.parse(readFileSync(join(DIR, 'reference.json'), 'utf8')) as Reference;

function num(v: Num): number {
  return v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v === 'NaN' ? NaN : v;
}

function close(actual: number, expected: number, tolerance: number, what: string): void {
  if (Number.isNaN(expected)) {
    assert.ok(Number.isNaN(actual), `${what}: expected NaN, got ${actual}`);
    return;
  }
  if (!Number.isFinite(expected)) {
    assert.equal(actual, expected, what);
    return;
  }
  const error = Math.abs(actual - expected);
  const ok = error <= tolerance || error <= tolerance * Math.abs(expected);
  assert.ok(ok, `${what}: ${actual} vs scipy ${expected} (error ${error.toExponential(2)})`);
}

/** Tiny p-values: relative error. */
function closeP(actual: number, expected: number, what: string): void {
  if (expected !== 0 && Math.abs(expected) < 1e-6) {
    close(actual, expected, 1e-6, what);
    assert.ok(
      Math.abs(actual - expected) <= 1e-6 * Math.abs(expected) || Math.abs(actual - expected) < 1e-300,
      `${what}: relative error`,
    );
    return;
  }
  close(actual, expected, 1e-6, what);
}

describe('special functions against scipy', () => {
  it('lgamma', () => {
    for (const [x, v] of reference.special.gammaln) close(lgamma(x), v, 1e-13, `gammaln(${x})`);
  });
  it('chi2.sf', () => {
    for (const [x, df, v] of reference.special.chi2_sf) {
      if (v < 1e-280) continue;
      const got = chi2Sf(x, df);
      assert.ok(Math.abs(got - v) <= 1e-12 || Math.abs(got - v) <= 1e-11 * v, `chi2.sf(${x}, ${df}) = ${got} vs ${v}`);
    }
  });
  it('ndtr and erfc (relative accuracy in the tails)', () => {
    for (const [x, v] of reference.special.ndtr) {
      const got = normalCdf(x);
      assert.ok(Math.abs(got - v) <= 1e-15 || Math.abs(got - v) <= 1e-13 * v, `ndtr(${x}) = ${got} vs ${v}`);
    }
    for (const [x, v] of reference.special.erfc) {
      const got = erfc(x);
      assert.ok(Math.abs(got - v) <= 1e-13 * v || got === v, `erfc(${x}) = ${got} vs ${v}`);
    }
  });
  it('smirnov', () => {
    for (const [n, x, v] of reference.special.smirnov) {
      const got = smirnov(n, x);
      assert.ok(Math.abs(got - v) <= 1e-12 || Math.abs(got - v) <= 1e-10 * v, `smirnov(${n}, ${x}) = ${got} vs ${v}`);
    }
  });
  it('kstwo.sf (every branch of _kolmogn)', () => {
    for (const [n, x, v] of reference.special.kstwo_sf) {
      const got = kolmogn(n, x, false);
      assert.ok(Math.abs(got - v) <= 1e-10 || Math.abs(got - v) <= 1e-9 * v, `kstwo.sf(${x}, ${n}) = ${got} vs ${v}`);
    }
  });
  it('exact two-sample KS probabilities', () => {
    for (const [n1, n2, d, v] of reference.special.ks_2samp_p) {
      const g = gcd(n1, n2);
      const lcm = (n1 / g) * n2;
      const h = Math.round(d * lcm);
      const got = n1 === n2 ? ksProbOutsideSquare(n1, h) : ksOuterProbInsideMethod(n1, n2, g, h);
      assert.ok(
        Math.abs(got - v) <= 1e-12 || Math.abs(got - v) <= 1e-10 * v,
        `ks p(${n1}, ${n2}, ${d}) = ${got} vs ${v}`,
      );
    }
  });
});

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

const METHODS: DriftMethod[] = ['ks', 'chisquare', 'z', 'wasserstein', 'jensenshannon', 'psi', 'kl'];

describe('every method on the fixtures against Evidently-on-scipy', () => {
  for (const [fixture, columns] of Object.entries(reference.fixtures)) {
    it(fixture, async () => {
      const ref = join(DIR, `${fixture}_ref.csv`);
      const cur = join(DIR, `${fixture}_cur.csv`);
      const names = Object.keys(columns);
      // default selection, column types and row counts
      const report = await computeDrift(ref, cur, { details: false });
      for (const name of names) {
        const col = report.columns.find((c) => c.column === name);
        assert.ok(col, `${fixture}.${name} compared (skipped: ${JSON.stringify(report.skipped)})`);
        assert.equal(col.type, columns[name].type, `${fixture}.${name} type`);
        assert.equal(col.method, columns[name].default, `${fixture}.${name} default method`);
        assert.equal(col.reference_rows, columns[name].reference_rows, `${fixture}.${name} reference rows`);
        assert.equal(col.current_rows, columns[name].current_rows, `${fixture}.${name} current rows`);
      }
      for (const method of METHODS) {
        const forced = names.filter((n) => columns[n][method] !== undefined);
        if (forced.length === 0) continue;
        const methods = Object.fromEntries(forced.map((n) => [n, method]));
        const forcedReport = await computeDrift(ref, cur, { details: false, methods, columns: forced });
        for (const name of forced) {
          const expected = columns[name][method] as { statistic: Num; p_value?: Num };
          const col = forcedReport.columns.find((c) => c.column === name);
          assert.ok(col, `${fixture}.${name} with ${method}`);
          const what = `${fixture}.${name} ${method}`;
          const stat = num(expected.statistic);
          if (stat === Infinity) assert.equal(col.statistic, Number.MAX_VALUE, `${what} statistic (infinite)`);
          else close(col.statistic, stat, 1e-9, `${what} statistic`);
          if (expected.p_value === 'NaN') {
            // scipy's chisquare with one category has 0 degrees of freedom (NaN); the engine says p = 1 and why
            assert.equal(col.p_value, 1, `${what}: one category`);
            assert.ok(
              col.notes.some((n) => n.includes('only one category')),
              `${what}: note`,
            );
          } else if (expected.p_value !== undefined) {
            assert.notEqual(col.p_value, null, `${what} p-value`);
            closeP(col.p_value as number, num(expected.p_value), `${what} p-value`);
          } else assert.equal(col.p_value, null, `${what} has no p-value`);
        }
      }
    });
  }
});
