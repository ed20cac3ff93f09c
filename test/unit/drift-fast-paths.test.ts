/**
 * The drift engine's fast paths agree with the general ones bit for bit: the CSV reader's one-pass
 * row parser against the general scanner, flat numeric Parquet columns against hyparquet (seeded files with every kind of field, line ending and
 * ragged row, across read-buffer boundaries), the sorts (counting, bucket, radix) against
 * Array.prototype.sort, and columns compared on two threads (a reader thread that stays to help)
 * against one.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { computeDrift, driftWorkerStats } from '../../core/src/drift/engine';
import { DatasetAccumulator } from '../../core/src/drift/infer';
import { readDataset } from '../../core/src/drift/read';
import { QuantileSketch } from '../../core/src/drift/sketch';
import { sortFloat64 } from '../../core/src/drift/sort';
import { writeDriftCsv } from '../support/drift-data';
import { pick, seeded } from '../support/random';

const dir = mkdtempSync(join(tmpdir(), 'mlpipe-drift-fast-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const FIELDS = [
  '1',
  '0',
  '-0',
  '+7',
  '-1.5',
  '1.',
  '.5',
  '.',
  '-',
  '+',
  '',
  ' 42 ',
  '42 ',
  '1e5',
  '-2.5E-3',
  '12345678901234567',
  '1234567890123456',
  '123456789012345',
  '1234567890.12345',
  '-1234567890.123456',
  '0.000000000000001',
  '00012.50',
  'NA',
  'nan',
  'N/A',
  'inf',
  '-Infinity',
  'abc',
  'a"b',
  '"quoted,x"',
  '"q""x"',
  '"line\nbreak"',
  '1.2.3',
  '12\r',
  '\r',
  'x\ry',
  'alpha',
  'bravo',
  '3.1415',
  '99.9999',
];
const ENDINGS = ['\n', '\n', '\n', '\r\n', '\r\r\n'];

/** What a read leaves in the accumulators, as comparable data. */
function snapshot(sink: DatasetAccumulator): unknown {
  const { data } = sink.toTransfer();
  return {
    ...data,
    columns: data.columns.map((column) => ({
      ...column,
      values: Array.from(column.values.subarray(0, column.count), (v) => (Object.is(v, -0) ? '-0' : v)),
    })),
  };
}

async function read(path: string, general: boolean): Promise<unknown> {
  const sink = new DatasetAccumulator(path, undefined, 64);
  await readDataset(path, sink, { _generalScanner: general });
  return snapshot(sink);
}

describe('drift fast paths', () => {
  it('reads CSV rows in one pass exactly as the general scanner does', async () => {
    for (let seed = 1; seed <= 12; seed++) {
      const random = seeded(seed);
      // some files wide enough for the fast path to stage rows in blocks
      const width = seed % 4 === 2 ? 64 + Math.floor(random() * 80) : 1 + Math.floor(random() * 6);
      const header = Array.from({ length: width }, (_, i) => `c${i}`).join(',');
      // a few files cross the 1 MiB read buffer many times
      const rows = seed % 4 === 0 ? 120_000 : 2_000;
      // every fifth file: integers only (integer columns are told apart from decimal ones)
      const integers = seed % 5 === 0;
      const numericShare = integers ? 1 : random();
      const parts: string[] = [header, '\n'];
      for (let r = 0; r < rows; r++) {
        const u = random();
        if (u < 0.01) {
          parts.push(pick(random, ['', '\r']), pick(random, ENDINGS));
          continue;
        }
        const count = u < 0.03 ? Math.floor(random() * (width + 3)) : width;
        const fields: string[] = [];
        for (let f = 0; f < count; f++) {
          fields.push(
            random() < numericShare
              ? ((random() - 0.3) * 10 ** Math.floor(random() * 6)).toFixed(integers ? 0 : Math.floor(random() * 5))
              : pick(random, FIELDS),
          );
        }
        parts.push(fields.join(','), pick(random, ENDINGS));
      }
      if (seed % 3 === 0) parts.pop(); // no line break after the last row
      const path = join(dir, `fast-${seed}.csv`);
      writeFileSync(path, parts.join(''));
      assert.deepStrictEqual(await read(path, false), await read(path, true), `seed ${seed}`);
    }
  });

  it('reads flat numeric Parquet columns as hyparquet does (dictionary and plain, pages v1 and v2, Snappy, nulls)', async () => {
    // written by pyarrow: DOUBLE, FLOAT, INT32, INT64 and a text column, 5% nulls or REQUIRED,
    // small pages and row groups, a dictionary that overflows into plain pages
    const fixtures = join(__dirname, '..', 'fixtures', 'drift');
    for (const name of ['flat_v1_snappy', 'flat_v2_plain', 'flat_required_v2_snappy']) {
      const path = join(fixtures, `${name}.parquet`);
      const direct = await read(path, false);
      assert.deepStrictEqual(direct, await read(path, true), name);
      assert.equal((direct as { rows: number }).rows, 8000);
    }
  });

  it('reads wide Parquet files a group of columns at a time with the same report', async () => {
    const fixtures = join(__dirname, '..', 'fixtures', 'drift');
    const reference = join(fixtures, 'flat_v1_snappy.parquet');
    const current = join(fixtures, 'flat_required_v2_snappy.parquet');
    for (const options of [
      {},
      { _exactLimit: 3_000, _sketchK: 256 },
      { columns: ['wide', 'dbl', 'txt', 'few', 'i64'] },
      { _inProcess: true, methods: { i32: 'ks' as const } },
    ]) {
      const whole = await computeDrift(reference, current, options);
      assert.deepStrictEqual(await computeDrift(reference, current, { ...options, _groupColumns: 2 }), whole);
    }
    // the option checks see every column, whichever group they are read in
    const unknown = { columns: ['dbl', 'flt', 'nope'], _groupColumns: 1 };
    await assert.rejects(computeDrift(reference, current, unknown), /column nope not found/);
  });

  it('compares columns on two threads exactly as on one (exact numbers and sketches)', async () => {
    const reference = join(dir, 'two-ref.csv');
    const current = join(dir, 'two-cur.csv');
    await writeDriftCsv(reference, { rows: 30_000, numeric: 7, categorical: 2, seed: 11 });
    await writeDriftCsv(current, { rows: 25_000, numeric: 7, categorical: 2, seed: 12, shift: 0.4 });
    for (const options of [
      {},
      { _exactLimit: 4_000, _sketchK: 512 },
      { details: false, methods: { num_3: 'ks' as const } },
    ]) {
      const before = driftWorkerStats.started;
      const threaded = await computeDrift(reference, current, options);
      assert.equal(driftWorkerStats.started, before + 2);
      assert.deepStrictEqual(threaded, await computeDrift(reference, current, { ...options, _inProcess: true }));
    }
  });

  it('keeps the same sketch as its first version: the same levels, items, weights and error bound', () => {
    // the sketch as it was first written: levels sorted with the typed sort, items pushed one by one
    class FirstSketch {
      levels: Float64Array[] = [];
      sizes: number[] = [];
      n = 0;
      errorWeight = 0;
      constructor(
        readonly k: number,
        private seed: number,
      ) {}
      private level(h: number): Float64Array {
        while (this.levels.length <= h) {
          this.levels.push(new Float64Array(this.k));
          this.sizes.push(0);
        }
        return this.levels[h];
      }
      private random(): number {
        let x = this.seed;
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        this.seed = x >>> 0;
        return this.seed & 1;
      }
      add(value: number): void {
        this.n++;
        this.push(0, value);
      }
      private push(h: number, value: number): void {
        const lv = this.level(h);
        lv[this.sizes[h]++] = value;
        if (this.sizes[h] === this.k) this.compact(h);
      }
      private compact(h: number): void {
        const size = this.sizes[h];
        const sorted = this.levels[h].subarray(0, size).sort();
        const offset = this.random();
        const up: number[] = [];
        for (let i = offset; i < size; i += 2) up.push(sorted[i]);
        this.sizes[h] = 0;
        this.errorWeight += 2 ** h;
        for (const v of up) this.push(h + 1, v);
      }
    }
    const random = seeded(17);
    for (const [k, n, make] of [
      [64, 20_000, () => Number((random() * 10).toFixed(1))],
      [512, 300_000, () => Number((random() * 100).toFixed(4))],
      [4096, 500_000, () => (random() - 0.5) * 1e6],
      [4096, 200_000, () => (random() < 0.1 ? 0 : random() < 0.5 ? -0 : random())],
    ] as const) {
      const seed = 0x9e3779b9;
      const sketch = new QuantileSketch(k, seed);
      const first = new FirstSketch(k, seed);
      for (let i = 0; i < n; i++) {
        const v = make();
        sketch.add(v);
        first.add(v);
      }
      const inner = sketch as unknown as { levels: Float64Array[]; sizes: number[] };
      assert.deepStrictEqual(inner.sizes, first.sizes, `k ${k}`);
      inner.levels.forEach((level, h) =>
        assert.deepStrictEqual(
          Array.from(level.subarray(0, inner.sizes[h]), (v) => (Object.is(v, -0) ? '-0' : v)),
          Array.from(first.levels[h].subarray(0, first.sizes[h]), (v) => (Object.is(v, -0) ? '-0' : v)),
          `k ${k} level ${h}`,
        ),
      );
      assert.equal(sketch.rankError(), first.errorWeight / first.n);
    }
  });

  it("gives a sketch's weighted items as the stable sort of all its levels does", () => {
    const random = seeded(13);
    for (const [k, n, decimals] of [
      [64, 5_000, 1],
      [512, 200_000, 2],
      [2048, 300_000, 6],
    ] as const) {
      const sketch = new QuantileSketch(k, 3);
      for (let i = 0; i < n; i++) sketch.add(Number((random() * 50).toFixed(decimals)));
      const { values, weights } = sketch.weighted();
      const levels = (sketch as unknown as { levels: Float64Array[]; sizes: number[] }).levels;
      const sizes = (sketch as unknown as { sizes: number[] }).sizes;
      const pairs: [number, number][] = [];
      levels.forEach((level, h) => {
        for (let i = 0; i < sizes[h]; i++) pairs.push([level[i], 2 ** h]);
      });
      pairs.sort((a, b) => a[0] - b[0]);
      assert.deepStrictEqual(
        Array.from(values),
        pairs.map((pair) => pair[0]),
      );
      assert.deepStrictEqual(
        Array.from(weights),
        pairs.map((pair) => pair[1]),
      );
    }
  });

  it('sorts as Array.prototype.sort does, bit for bit (fixed-point decimals, buckets, radix)', () => {
    const random = seeded(7);
    const cases: Float64Array[] = [];
    for (let decimals = 0; decimals <= 9; decimals++) {
      const scale = 10 ** Math.floor(random() * 4);
      cases.push(new Float64Array(20_000).map(() => Number(((random() - 0.4) * scale).toFixed(decimals))));
    }
    // mostly 2 decimals, a few with more (the probe guesses 2, the check must give way)
    cases.push(new Float64Array(20_000).map((_, i) => Number((random() * 100).toFixed(i === 15_000 ? 7 : 2))));
    // -0 among the decimals, a range too wide to count, and doubles that are no short decimals
    cases.push(new Float64Array(20_000).map((_, i) => (i === 9_000 ? -0 : Number((random() - 0.5).toFixed(3)))));
    cases.push(new Float64Array(20_000).map(() => Math.round(random() * 1e9)));
    cases.push(new Float64Array(20_000).map(() => random() * 1000));
    // the sizes of a sketch's levels and of a wide table's columns (the bucket sort), with ties and -0
    for (const size of [300, 1000, 5000, 32768, 70000]) {
      cases.push(new Float64Array(size).map(() => (random() - 0.5) * 10 ** Math.floor(random() * 8 - 4)));
      cases.push(new Float64Array(size).map(() => Math.floor(random() * 50) - 25));
      cases.push(new Float64Array(size).map((_, i) => (i === size >> 1 ? -0 : random() ** 8)));
      cases.push(new Float64Array(size).map((_, i) => (i % 100 === 0 ? 1e300 * random() : random())));
    }
    for (const values of cases) {
      const expected = Array.from(values).sort((a, b) => a - b || (Object.is(a, -0) ? -1 : Object.is(b, -0) ? 1 : 0));
      const sorted = Array.from(sortFloat64(values.slice()));
      assert.equal(sorted.length, expected.length);
      for (let i = 0; i < sorted.length; i++)
        assert.ok(Object.is(sorted[i], expected[i]), `at ${i}: ${sorted[i]} != ${expected[i]}`);
    }
  });
});
