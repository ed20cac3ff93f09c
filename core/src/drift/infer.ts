/**
 * Per-column state while a dataset streams in, and the column-type decision.
 *
 * Each column keeps, per side: its numbers exactly in a growing Float64Array up to the exact-size
 * limit (then a QuantileSketch), the distinct numbers while there are at most DISTINCT_NUMBER_CAP
 * of them, counts per string value (at most DISTINCT_STRING_CAP distinct), and counts of missing
 * values. Memory per column is therefore bounded by the limit, not by the file.
 *
 * Type rules (Evidently 0.7.23's `infer_column_type`, core/datasets.py, the one its Report and
 * DataDriftPreset use: it types each column from the current data alone, as pandas read it):
 * - numbers: see `numberColumnKind`: an integer column (int64 in pandas: every current value written
 *   as an integer, none missing) with at most INTEGER_CARDINALITY_LIMIT distinct current values ->
 *   categorical; other numbers (floats, or integers with a gap, which pandas reads as float64) ->
 *   numeric.
 * - strings -> categorical. Evidently 0.7.23 types a string column with more distinct values than
 *   half its current rows as text (and tests it with a domain classifier); here a string column with
 *   more distinct values than half its reference rows (and at least 20 rows), or more than
 *   DISTINCT_STRING_CAP distinct values, is text-like (ids, free text) and skipped with a reason.
 * - mixed columns (numbers and strings): pandas makes them `object`, which Evidently treats as
 *   categorical. Here, when at most 1% of the values are not numbers, the column stays numeric and
 *   those values count as missing (a note says how many and where); above 1% it is categorical.
 * Missing values: empty and pandas' default NA strings (NA, NaN, null, None, N/A, ...); infinities
 * count as missing as Evidently replaces them with NaN before testing.
 */
import { QuantileSketch, type SketchSnapshot } from './sketch';
import { sortFloat64 } from './sort';

export const DISTINCT_NUMBER_CAP = 1000;
/** Evidently 0.7.23's `INTEGER_CARDINALITY_LIMIT`: integer columns with at most this many distinct values are categorical. */
export const INTEGER_CARDINALITY_LIMIT = 10;
export const DISTINCT_STRING_CAP = 200000;
export const MIXED_STRING_SHARE = 0.01;

const CACHE_SLOTS = 8192;
const CACHE_ENTRIES = 4096;

function sameBytes(a: Buffer, buf: Buffer, start: number, end: number): boolean {
  if (a.length !== end - start) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== buf[start + i]) return false;
  return true;
}

/** pandas' default `na_values`. */
export const MISSING_TOKENS = new Set([
  '',
  '#N/A',
  '#N/A N/A',
  '#NA',
  '-1.#IND',
  '-1.#QNAN',
  '-NaN',
  '-nan',
  '1.#IND',
  '1.#QNAN',
  '<NA>',
  'N/A',
  'NA',
  'NULL',
  'NaN',
  'None',
  'n/a',
  'nan',
  'null',
]);

/** Exact powers of ten (up to 1e22, the largest a double holds exactly). */
export const POW10 = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
  1e21, 1e22,
];
const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INF_RE = /^[+-]?(inf|infinity)$/i;

/** Result slots of the number parsers (avoids allocating per field). */
export const parsed = { value: 0, isInt: false };

/**
 * Parses a decimal number from bytes without allocating: sign, digits, optional fraction. Returns
 * false when the bytes are not a plain decimal (exponent, too many digits, text); the caller then
 * goes the string way. The result is correctly rounded (mantissa < 2^53 and a power of ten <= 22).
 * `mark` is the decimal mark's byte: `.` (46), or `,` (44) for a decimal-comma CSV.
 */
export function parseNumberBytes(buf: Uint8Array, start: number, end: number, mark = 46): boolean {
  let i = start;
  let c = buf[i];
  if (c === 32 || buf[end - 1] === 32) {
    while (start < end && buf[start] === 32) start++;
    while (end > start && buf[end - 1] === 32) end--;
    if (start >= end) return false;
    i = start;
    c = buf[i];
  }
  let negative = false;
  if (c === 45 /* - */) {
    negative = true;
    i++;
  } else if (c === 43 /* + */) i++;
  if (i >= end || end - i > 16) return false;
  let mantissa = 0;
  let dot = -1;
  for (; i < end; i++) {
    const d = buf[i] - 48;
    if (d >= 0 && d <= 9) mantissa = mantissa * 10 + d;
    else if (buf[i] === mark && dot < 0) dot = i;
    else return false;
  }
  // 16 characters hold at most 16 digits: beyond 15 the mantissa may not be exact
  const digits = end - start - (negative || buf[start] === 43 ? 1 : 0) - (dot >= 0 ? 1 : 0);
  if (digits === 0 || digits > 15) return false;
  const fraction = dot >= 0 ? end - dot - 1 : 0;
  let value = fraction ? mantissa / POW10[fraction] : mantissa;
  if (negative) value = -value;
  parsed.value = value;
  parsed.isInt = dot < 0;
  return true;
}

/** The slow path for a field that is not a plain decimal: exponents, long mantissas, inf. */
export function parseNumberString(text: string): boolean {
  const t = text.trim();
  if (NUMBER_RE.test(t)) {
    parsed.value = Number(t);
    parsed.isInt = !/[.eE]/.test(t);
    return true;
  }
  if (INF_RE.test(t)) {
    parsed.value = t.startsWith('-') ? -Infinity : Infinity;
    parsed.isInt = false;
    return true;
  }
  return false;
}

/** The canonical category key of a number (so 1, 1.0 and 1.00 are one category, as in pandas). */
export function numberKey(value: number): string {
  return Object.is(value, -0) ? '0' : String(value);
}

/** A ColumnAccumulator as plain data (after finish()): what the report needs, nothing of the byte cache. */
export interface ColumnSnapshot {
  name: string;
  exactLimit: number;
  sketchK: number;
  values: Float64Array;
  count: number;
  sorted: boolean;
  sketch: SketchSnapshot | null;
  numericCount: number;
  allIntegers: boolean;
  distinctNumbers: Map<number, number> | null;
  strings: Map<string, number> | null;
  stringCount: number;
  firstStringLine: number;
  firstString: string;
  missing: number;
  infinite: number;
  min: number;
  max: number;
  mean: number;
  m2: number;
}

/** A DatasetAccumulator as plain data, for postMessage (structured clone; `transfer` moves the numbers). */
export interface DatasetSnapshot {
  path: string;
  rows: number;
  shortRows: number;
  longRows: number;
  firstShortLine: number;
  firstLongLine: number;
  exactLimit: number;
  exactLimitOverride: number | undefined;
  sketchK: number;
  columns: ColumnSnapshot[];
}

/** One column on one side. */
export class ColumnAccumulator {
  values: Float64Array;
  count = 0;
  /** values[0, count) are sorted ascending (sortValues() ran once the side was read). */
  sorted = false;
  sketch: QuantileSketch | null = null;
  /** Exact numbers beyond this many go to the sketch. */
  readonly exactLimit: number;
  readonly sketchK: number;
  numericCount = 0;
  allIntegers = true;
  distinctNumbers: Map<number, number> | null = new Map();
  strings: Map<string, number> | null = new Map();
  stringCount = 0;
  firstStringLine = 0;
  firstString = '';
  missing = 0;
  infinite = 0;
  // exact streaming moments and range (for the sketch path)
  min = Infinity;
  max = -Infinity;
  private mean = 0;
  private m2 = 0;

  constructor(
    readonly name: string,
    exactLimit: number,
    sketchK: number,
  ) {
    this.exactLimit = exactLimit;
    this.sketchK = sketchK;
    // nothing until the first number: a wide file's columns cost nothing they do not use (each its
    // own empty buffer, as the worker transfers each column's buffer)
    this.values = new Float64Array(0);
  }

  addNumber(value: number, isInt: boolean): void {
    if (!Number.isFinite(value)) {
      if (Number.isNaN(value)) this.missing++;
      else this.infinite++;
      return;
    }
    this.numericCount++;
    if (!isInt) this.allIntegers = false;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    const d = this.distinctNumbers;
    if (d !== null) {
      const seen = d.get(value);
      if (seen !== undefined) d.set(value, seen + 1);
      else if (d.size >= DISTINCT_NUMBER_CAP) this.distinctNumbers = null;
      else d.set(value, 1);
    }
    if (this.sketch !== null) {
      this.sketch.add(value);
      const delta = value - this.mean;
      this.mean += delta / this.sketch.n;
      this.m2 += delta * (value - this.mean);
      return;
    }
    if (this.count === this.values.length) {
      if (this.count >= this.exactLimit) {
        this.toSketch();
        this.addNumberToSketch(value);
        return;
      }
      const grown = new Float64Array(Math.min(this.exactLimit, Math.max(256, this.values.length * 2)));
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = value;
  }

  private addNumberToSketch(value: number): void {
    const sketch = this.sketch as QuantileSketch;
    sketch.add(value);
    const delta = value - this.mean;
    this.mean += delta / sketch.n;
    this.m2 += delta * (value - this.mean);
  }

  private toSketch(): void {
    const sketch = new QuantileSketch(this.sketchK);
    let mean = 0;
    let m2 = 0;
    for (let i = 0; i < this.count; i++) {
      const v = this.values[i];
      sketch.add(v);
      const delta = v - mean;
      mean += delta / (i + 1);
      m2 += delta * (v - mean);
    }
    this.mean = mean;
    this.m2 = m2;
    this.sketch = sketch;
    this.values = new Float64Array(0);
    this.count = 0;
    this.sorted = false;
  }

  addString(value: string, line: number): void {
    this.stringCount++;
    if (this.firstStringLine === 0) {
      this.firstStringLine = line;
      this.firstString = value;
    }
    const s = this.strings;
    if (s === null) return;
    const seen = s.get(value);
    if (seen !== undefined) s.set(value, seen + 1);
    else if (s.size >= DISTINCT_STRING_CAP) this.strings = null;
    else s.set(value, 1);
  }

  /** A raw text value: missing, a number or a string. */
  addText(text: string, line: number): void {
    if (MISSING_TOKENS.has(text)) this.missing++;
    else if (parseNumberString(text)) this.addNumber(parsed.value, parsed.isInt);
    else this.addString(text, line);
  }

  // A byte-level cache of text values: categories are counted without decoding every field.
  private cacheTable: Int32Array | null = null;
  private cacheHash: number[] = [];
  private cacheBytes: Buffer[] = [];
  /** 0: a string (counted in cacheCount until finish()), 1: missing, 2: a number (cacheValue). */
  private cacheKind: number[] = [];
  private cacheKey: string[] = [];
  private cacheCount: number[] = [];
  private cacheValue: number[] = [];
  private cacheInt: boolean[] = [];

  /** A CSV field given as bytes (no quotes to undo). */
  addBytes(buf: Buffer, start: number, end: number, line: number): void {
    if (start === end) {
      this.missing++;
      return;
    }
    const c0 = buf[start];
    if (
      ((c0 >= 48 && c0 <= 57) || c0 === 45 || c0 === 46 || c0 === 43 || c0 === 32) &&
      parseNumberBytes(buf, start, end)
    ) {
      this.addNumber(parsed.value, parsed.isInt);
      return;
    }
    let h = 0x811c9dc5;
    for (let k = start; k < end; k++) h = Math.imul(h ^ buf[k], 0x01000193);
    let table = this.cacheTable;
    if (table === null) table = this.cacheTable = new Int32Array(CACHE_SLOTS);
    let slot = h & (CACHE_SLOTS - 1);
    for (;;) {
      const e = table[slot] - 1;
      if (e < 0) break;
      if (this.cacheHash[e] === h && sameBytes(this.cacheBytes[e], buf, start, end)) {
        const kind = this.cacheKind[e];
        if (kind === 0) {
          this.stringCount++;
          this.cacheCount[e]++;
        } else if (kind === 1) this.missing++;
        else this.addNumber(this.cacheValue[e], this.cacheInt[e]);
        return;
      }
      slot = (slot + 1) & (CACHE_SLOTS - 1);
    }
    const text = buf.toString('utf8', start, end);
    let kind: number;
    if (MISSING_TOKENS.has(text)) {
      kind = 1;
      this.missing++;
    } else if (parseNumberString(text)) {
      kind = 2;
      this.addNumber(parsed.value, parsed.isInt);
    } else {
      kind = 0;
      this.addString(text, line);
    }
    const entries = this.cacheHash.length;
    if (entries < CACHE_ENTRIES && end - start <= 256) {
      table[slot] = entries + 1;
      this.cacheHash.push(h);
      this.cacheBytes.push(Buffer.from(buf.subarray(start, end)));
      this.cacheKind.push(kind);
      this.cacheKey.push(text);
      this.cacheCount.push(0);
      this.cacheValue.push(kind === 2 ? parsed.value : 0);
      this.cacheInt.push(kind === 2 ? parsed.isInt : false);
    }
  }

  /** Moves the cached string counts into `strings`; call once the side is read. */
  finish(): void {
    for (let e = 0; e < this.cacheKey.length; e++) {
      const count = this.cacheCount[e];
      if (this.cacheKind[e] !== 0 || count === 0) continue;
      this.cacheCount[e] = 0;
      const s = this.strings;
      if (s === null) continue;
      const key = this.cacheKey[e];
      s.set(key, (s.get(key) ?? 0) + count);
    }
  }

  /** Sorts the exact numbers in place (once); the report reads them sorted. */
  sortValues(): Float64Array {
    const values = this.values.subarray(0, this.count);
    if (!this.sorted) {
      sortFloat64(values);
      this.sorted = true;
    }
    return values;
  }

  /** The column as plain data plus the buffers to transfer; this accumulator is not used after. */
  toTransfer(): { data: ColumnSnapshot; transfer: ArrayBuffer[] } {
    const transfer: ArrayBuffer[] = [];
    const sketch = this.sketch ? this.sketch.toSnapshot() : null;
    if (sketch) for (const level of sketch.levels) transfer.push(level.buffer as ArrayBuffer);
    transfer.push(this.values.buffer as ArrayBuffer);
    const data: ColumnSnapshot = {
      name: this.name,
      exactLimit: this.exactLimit,
      sketchK: this.sketchK,
      values: this.values,
      count: this.count,
      sorted: this.sorted,
      sketch,
      numericCount: this.numericCount,
      allIntegers: this.allIntegers,
      distinctNumbers: this.distinctNumbers,
      strings: this.strings,
      stringCount: this.stringCount,
      firstStringLine: this.firstStringLine,
      firstString: this.firstString,
      missing: this.missing,
      infinite: this.infinite,
      min: this.min,
      max: this.max,
      mean: this.mean,
      m2: this.m2,
    };
    return { data, transfer };
  }

  static fromTransfer(data: ColumnSnapshot): ColumnAccumulator {
    const column = new ColumnAccumulator(data.name, data.exactLimit, data.sketchK);
    column.values = data.values;
    column.count = data.count;
    column.sorted = data.sorted;
    column.sketch = data.sketch ? QuantileSketch.fromSnapshot(data.sketch) : null;
    column.numericCount = data.numericCount;
    column.allIntegers = data.allIntegers;
    column.distinctNumbers = data.distinctNumbers;
    column.strings = data.strings;
    column.stringCount = data.stringCount;
    column.firstStringLine = data.firstStringLine;
    column.firstString = data.firstString;
    column.missing = data.missing;
    column.infinite = data.infinite;
    column.min = data.min;
    column.max = data.max;
    column.mean = data.mean;
    column.m2 = data.m2;
    return column;
  }

  /** Population std of the numbers on the sketch path (Welford). */
  streamingStd(): number {
    const n = this.sketch ? this.sketch.n : 0;
    return n > 0 ? Math.sqrt(this.m2 / n) : NaN;
  }

  /** Numbers held (exact or in the sketch). */
  get numbers(): number {
    return this.sketch ? this.sketch.n : this.count;
  }

  /** Frees the numbers (the column turned out categorical from strings). */
  dropNumbers(): void {
    this.values = new Float64Array(0);
    this.count = 0;
    this.sorted = false;
    this.sketch = null;
  }
}

/**
 * The type Evidently 0.7.23 gives a column of numbers, from what is already counted (no per-value
 * work): `infer_column_type` looks at the current data's pandas dtype only. pandas reads a column as
 * int64 when every value is written as an integer (no `.`, no exponent) and none is missing; a gap
 * (or an infinity) makes it float64, which is numeric whatever its values. An int64 column is
 * categorical with at most INTEGER_CARDINALITY_LIMIT distinct values (`nunique()`), else numeric.
 */
export function numberColumnKind(current: ColumnAccumulator): { kind: 'num' | 'cat'; reason: string } {
  const c = current;
  if (!c.allIntegers || c.numericCount === 0) return { kind: 'num', reason: 'numeric' };
  if (c.stringCount > 0) return { kind: 'num', reason: 'numeric: integers with a few values that are not numbers' };
  if (c.missing > 0 || c.infinite > 0) {
    const gaps = c.missing + c.infinite;
    const what = c.infinite > 0 ? 'missing or infinite' : 'missing';
    return {
      kind: 'num',
      reason: `numeric: integers, but ${gaps.toLocaleString('en-US')} current value${gaps === 1 ? ' is' : 's are'} ${what}, so pandas reads the current column as floats (as Evidently types it)`,
    };
  }
  const distinct = c.distinctNumbers === null ? DISTINCT_NUMBER_CAP + 1 : c.distinctNumbers.size;
  const limit = INTEGER_CARDINALITY_LIMIT;
  if (distinct <= limit) {
    return { kind: 'cat', reason: `categorical: integers with ${distinct} distinct current values (<= ${limit})` };
  }
  return { kind: 'num', reason: `numeric: integers with more than ${limit} distinct current values` };
}

/** A dataset side while it streams in. */
export class DatasetAccumulator {
  readonly columns = new Map<string, ColumnAccumulator>();
  rows = 0;
  /** Rows with too few fields (padded with missing values) and too many (skipped). */
  shortRows = 0;
  longRows = 0;
  firstShortLine = 0;
  firstLongLine = 0;

  /** Set by the reader once it knows the column count (see exactLimitFor). */
  exactLimit = 100_000;

  constructor(
    readonly path: string,
    private readonly exactLimitOverride: number | undefined,
    private readonly sketchK: number,
  ) {}

  /** Sizes the exact-value budget per column from the number of columns. */
  setColumnCount(count: number): void {
    this.exactLimit = exactLimitFor(count, this.exactLimitOverride);
  }

  /** The dataset as plain data plus the buffers to transfer (postMessage); not used after. */
  toTransfer(): { data: DatasetSnapshot; transfer: ArrayBuffer[] } {
    const transfer: ArrayBuffer[] = [];
    const columns: ColumnSnapshot[] = [];
    for (const column of this.columns.values()) {
      const part = column.toTransfer();
      columns.push(part.data);
      transfer.push(...part.transfer);
    }
    const data: DatasetSnapshot = {
      path: this.path,
      rows: this.rows,
      shortRows: this.shortRows,
      longRows: this.longRows,
      firstShortLine: this.firstShortLine,
      firstLongLine: this.firstLongLine,
      exactLimit: this.exactLimit,
      exactLimitOverride: this.exactLimitOverride,
      sketchK: this.sketchK,
      columns,
    };
    return { data, transfer };
  }

  static fromTransfer(data: DatasetSnapshot): DatasetAccumulator {
    const sink = new DatasetAccumulator(data.path, data.exactLimitOverride, data.sketchK);
    sink.rows = data.rows;
    sink.shortRows = data.shortRows;
    sink.longRows = data.longRows;
    sink.firstShortLine = data.firstShortLine;
    sink.firstLongLine = data.firstLongLine;
    sink.exactLimit = data.exactLimit;
    for (const column of data.columns) sink.columns.set(column.name, ColumnAccumulator.fromTransfer(column));
    return sink;
  }

  column(name: string): ColumnAccumulator {
    let column = this.columns.get(name);
    if (!column) {
      column = new ColumnAccumulator(name, this.exactLimit, this.sketchK);
      // A column first seen late (JSON Lines) was missing in every earlier row.
      column.missing = this.rows;
      this.columns.set(name, column);
    }
    return column;
  }
}

/** Per-column exact-size limit: a total budget of numbers shared by the columns of both sides. */
export function exactLimitFor(columnCount: number, override?: number): number {
  if (override !== undefined) return Math.max(1, Math.floor(override));
  const TOTAL = 48_000_000; // 384 MB of Float64 across all columns of both sides
  return Math.max(100_000, Math.min(5_000_000, Math.floor(TOTAL / Math.max(1, 2 * columnCount))));
}
