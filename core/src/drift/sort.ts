/**
 * Sorting Float64Arrays fast. Numbers read from text are mostly decimals with a few digits after
 * the point (`12.3456`): when every value of an array is exactly k / 10^d for integers k in a range
 * no wider than a few times the array's length, a counting sort over k takes two passes (about 4x
 * faster than the radix sort). It checks every value (k / 10^d must give the value back bit for
 * bit, so the values it writes are the values it read) and gives way to the radix sort otherwise.
 * The radix sort: an LSD radix sort (four 16-bit digits over the IEEE-754 bits mapped to unsigned
 * order), about 5x faster than Float64Array.prototype.sort for a million values.
 * Expects no NaN (missing values never reach it); -0 sorts just before +0.
 */
let scratch = new Uint32Array(0);
let tally = new Int32Array(0);
let spread = new Float64Array(0);
let bucketEnds = new Int32Array(0);

/** Lets the scratch buffers go (after a report). */
export function releaseSortScratch(): void {
  scratch = new Uint32Array(0);
  tally = new Int32Array(0);
  spread = new Float64Array(0);
  bucketEnds = new Int32Array(0);
}

/** Buckets holding at most this many values are sorted by insertion; larger ones by the typed sort or the radix sort. */
const INSERTION_MAX = 32;

/**
 * A bucket sort: values spread over n/2 buckets by linear interpolation between the smallest and
 * the largest (floor((v - min) * scale) never decreases as v grows, so bucket order is value
 * order), then each bucket sorted. About twice as fast as the radix sort for the sizes of a
 * sketch's level or a column of a wide table. False (values untouched) for -0 (the radix sort
 * keeps it before +0) or a range too small to scale.
 */
function sortBuckets(values: Float64Array, min: number, max: number): boolean {
  const n = values.length;
  if (!(min < max)) return false;
  const buckets = n >> 1;
  const scale = buckets / (max - min);
  if (!Number.isFinite(scale)) return false;
  if (bucketEnds.length < buckets + 1) bucketEnds = new Int32Array(buckets + 1);
  else bucketEnds.fill(0, 0, buckets + 1);
  const ends = bucketEnds;
  const last = buckets - 1;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === 0 && 1 / v < 0) return false;
    let k = ((v - min) * scale) | 0;
    if (k > last) k = last;
    ends[k + 1]++;
  }
  for (let k = 1; k <= buckets; k++) ends[k] += ends[k - 1];
  if (spread.length < n) spread = new Float64Array(n);
  const out = spread;
  // ends[k] moves from the start of bucket k to its end
  for (let i = 0; i < n; i++) {
    const v = values[i];
    let k = ((v - min) * scale) | 0;
    if (k > last) k = last;
    out[ends[k]++] = v;
  }
  let start = 0;
  for (let k = 0; k < buckets; k++) {
    const end = ends[k];
    const count = end - start;
    if (count > INSERTION_MAX) {
      const bucket = out.subarray(start, end);
      if (count < 4096) bucket.sort();
      else radixSort(bucket);
    } else if (count > 1) {
      for (let i = start + 1; i < end; i++) {
        const v = out[i];
        let j = i - 1;
        while (j >= start && out[j] > v) {
          out[j + 1] = out[j];
          j--;
        }
        out[j + 1] = v;
      }
    }
    start = end;
  }
  values.set(out.subarray(0, n));
  return true;
}

const POWERS = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
/** Values probed to guess the decimals; every value is checked afterwards. */
const PROBE = 256;
/** The widest range of k counted: 4 per value (a tally of 16 MB for a million values), 2^23 at most. */
const MAX_RANGE_PER_VALUE = 4;
const MAX_RANGE = 1 << 23;

/** The fewest decimals d (up to 9) with which the first values are k / 10^d exactly; -1 when none. */
function probeDecimals(values: Float64Array): number {
  const probe = Math.min(values.length, PROBE);
  next: for (let d = 0; d < POWERS.length; d++) {
    const p = POWERS[d];
    for (let i = 0; i < probe; i++) {
      const v = values[i];
      if (Math.round(v * p) / p !== v) continue next;
    }
    return d;
  }
  return -1;
}

/** The counting sort of fixed-point decimals; false (values untouched) when they are not. */
function sortDecimals(values: Float64Array, min: number, max: number): boolean {
  const n = values.length;
  const d = probeDecimals(values);
  if (d < 0) return false;
  const p = POWERS[d];
  const low = Math.round(min * p);
  const range = Math.round(max * p) - low + 1;
  if (!(range <= MAX_RANGE_PER_VALUE * n && range <= MAX_RANGE)) return false;
  // the tally is all zeroes between sorts: the pass that reads it clears it
  if (tally.length < range) tally = new Int32Array(Math.max(range, Math.min(MAX_RANGE, 2 * tally.length)));
  const counts = tally;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const k = Math.round(v * p);
    // the value must come back bit for bit (and -0 is left to the radix sort, which keeps its sign)
    if (k / p !== v || (v === 0 && 1 / v < 0)) {
      counts.fill(0, 0, range);
      return false;
    }
    counts[k - low]++;
  }
  let out = 0;
  for (let r = 0; r < range; r++) {
    let c = counts[r];
    if (c === 0) continue;
    counts[r] = 0;
    const v = (r + low) / p;
    while (c-- > 0) values[out++] = v;
  }
  return true;
}

/** Sorts in place, ascending (the same result as Float64Array.prototype.sort: -0 before +0), and returns the array. */
export function sortFloat64(values: Float64Array): Float64Array {
  const n = values.length;
  if (n < 256) return values.sort();
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (n >= 4096 && max - min <= MAX_RANGE && sortDecimals(values, min, max)) return values;
  if (sortBuckets(values, min, max)) return values;
  return radixSort(values);
}

/**
 * Sorts values that are two sorted runs one after the other (a sketch's upper level: the halves
 * of two compactions below) by merging them; anything else (or a zero, whose sign the typed sort
 * orders) by sortFloat64. The same result either way.
 */
export function sortTwoRuns(values: Float64Array): Float64Array {
  const n = values.length;
  let middle = -1;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === 0) return sortFloat64(values);
    if (i > 0 && v < values[i - 1]) {
      if (middle !== -1) return sortFloat64(values);
      middle = i;
    }
  }
  if (middle === -1) return values;
  if (spread.length < n) spread = new Float64Array(n);
  const out = spread;
  let i = 0;
  let j = middle;
  let k = 0;
  while (i < middle && j < n) out[k++] = values[i] <= values[j] ? values[i++] : values[j++];
  while (i < middle) out[k++] = values[i++];
  while (j < n) out[k++] = values[j++];
  values.set(out.subarray(0, n));
  return values;
}

function radixSort(values: Float64Array): Float64Array {
  const n = values.length;
  if (n < 4096) return values.sort();
  const keys = new Uint32Array(values.buffer, values.byteOffset, n * 2);
  // map to sortable unsigned keys (little-endian: [lo, hi] per value)
  for (let i = 0; i < n; i++) {
    const hi = keys[2 * i + 1];
    if (hi & 0x80000000) {
      keys[2 * i + 1] = ~hi >>> 0;
      keys[2 * i] = ~keys[2 * i] >>> 0;
    } else keys[2 * i + 1] = (hi | 0x80000000) >>> 0;
  }
  const counts = new Int32Array(4 * 65536);
  for (let i = 0; i < n; i++) {
    const lo = keys[2 * i];
    const hi = keys[2 * i + 1];
    counts[lo & 0xffff]++;
    counts[65536 + (lo >>> 16)]++;
    counts[131072 + (hi & 0xffff)]++;
    counts[196608 + (hi >>> 16)]++;
  }
  if (scratch.length < n * 2) scratch = new Uint32Array(n * 2);
  let src: Uint32Array = keys;
  let dst: Uint32Array = scratch.subarray(0, n * 2);
  for (let pass = 0; pass < 4; pass++) {
    const base = pass * 65536;
    // skip a pass where every value has the same digit
    let single = false;
    for (let d = 0; d < 65536; d++) {
      const c = counts[base + d];
      if (c === n) {
        single = true;
        break;
      }
      if (c !== 0) break;
    }
    if (single) continue;
    let sum = 0;
    for (let d = 0; d < 65536; d++) {
      const c = counts[base + d];
      counts[base + d] = sum;
      sum += c;
    }
    const word = pass < 2 ? 0 : 1;
    const shift = pass % 2 === 0 ? 0 : 16;
    for (let i = 0; i < n; i++) {
      const lo = src[2 * i];
      const hi = src[2 * i + 1];
      const digit = ((word === 0 ? lo : hi) >>> shift) & 0xffff;
      const pos = counts[base + digit]++;
      dst[2 * pos] = lo;
      dst[2 * pos + 1] = hi;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src !== keys) keys.set(src);
  for (let i = 0; i < n; i++) {
    const hi = keys[2 * i + 1];
    if (hi & 0x80000000) keys[2 * i + 1] = (hi & 0x7fffffff) >>> 0;
    else {
      keys[2 * i + 1] = ~hi >>> 0;
      keys[2 * i] = ~keys[2 * i] >>> 0;
    }
  }
  return values;
}
