/**
 * A mergeable quantile sketch for columns beyond the exact-size limit: a stack of compactors
 * (Manku-Rajagopalan-Lindsay / KLL with equal capacities). Level h holds items of weight 2^h;
 * when a level reaches k items it is sorted and every other item (from a pseudo-random offset)
 * moves up a level with twice the weight.
 *
 * Error bound (deterministic, not just expected): a compaction at level h moves any rank by at
 * most 2^h, so the sketch tracks the sum of 2^h over all its compactions; `rankError()` is that sum
 * divided by n: for any x, |estimated rank(x)/n - true rank(x)/n| <= rankError(). With k items per
 * level and H = ceil(log2(n/k)) levels, rankError() <= H/k (about 4e-4 for k = 32768 and 1e9
 * values); the random offsets make the typical error far smaller. Merging adds the two bounds
 * (weighted by n) plus the compactions the merge itself does.
 */
import { sortFloat64, sortTwoRuns } from './sort';

/** A QuantileSketch as plain data (structured-clone friendly; the levels' buffers can be transferred). */
export interface SketchSnapshot {
  k: number;
  levels: Float64Array[];
  sizes: number[];
  n: number;
  errorWeight: number;
  seed: number;
}

export class QuantileSketch {
  private levels: Float64Array[] = [];
  private sizes: number[] = [];
  /** Values seen. */
  n = 0;
  /** Sum over compactions of the weight they could move a rank by. */
  private errorWeight = 0;
  private seed: number;

  constructor(
    readonly k = 32768,
    seed = 0x9e3779b9,
  ) {
    if (k < 2 || k % 2 !== 0) throw new Error('QuantileSketch: k must be an even number >= 2');
    this.seed = seed >>> 0;
  }

  private level(h: number): Float64Array {
    while (this.levels.length <= h) {
      this.levels.push(new Float64Array(this.k));
      this.sizes.push(0);
    }
    return this.levels[h];
  }

  private random(): number {
    // xorshift32: reproducible runs
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed & 1;
  }

  add(value: number): void {
    const level0 = this.level(0);
    level0[this.sizes[0]++] = value;
    this.n++;
    if (this.sizes[0] === this.k) this.compact(0);
  }

  private push(h: number, value: number): void {
    const lv = this.level(h);
    lv[this.sizes[h]++] = value;
    if (this.sizes[h] === this.k) this.compact(h);
  }

  private compact(h: number): void {
    const lv = this.levels[h];
    const size = this.sizes[h];
    // above level 0 a full level is the sorted halves of two compactions below: merged, not sorted
    const sorted = h === 0 ? sortFloat64(lv.subarray(0, size)) : sortTwoRuns(lv.subarray(0, size));
    const offset = this.random();
    this.sizes[h] = 0;
    this.errorWeight += 2 ** h;
    // every other item up a level, one at a time as push() would (the level above may compact
    // on the way; that never touches level h, so its sorted items are read in place)
    const up = this.level(h + 1);
    let upSize = this.sizes[h + 1];
    for (let i = offset; i < size; i += 2) {
      up[upSize++] = sorted[i];
      if (upSize === this.k) {
        this.sizes[h + 1] = upSize;
        this.compact(h + 1);
        upSize = this.sizes[h + 1];
      }
    }
    this.sizes[h + 1] = upSize;
  }

  /** Adds another sketch's items (same k). */
  merge(other: QuantileSketch): void {
    if (other.k !== this.k) throw new Error('QuantileSketch.merge: different k');
    this.errorWeight += other.errorWeight;
    for (let h = 0; h < other.levels.length; h++) {
      const lv = other.levels[h];
      for (let i = 0; i < other.sizes[h]; i++) this.push(h, lv[i]);
    }
    this.n += other.n;
  }

  /** The sketch as plain data; the levels are shared, not copied (the sketch is not used after). */
  toSnapshot(): SketchSnapshot {
    return {
      k: this.k,
      levels: this.levels,
      sizes: [...this.sizes],
      n: this.n,
      errorWeight: this.errorWeight,
      seed: this.seed,
    };
  }

  static fromSnapshot(snapshot: SketchSnapshot): QuantileSketch {
    const sketch = new QuantileSketch(snapshot.k, snapshot.seed);
    sketch.levels = snapshot.levels;
    sketch.sizes = [...snapshot.sizes];
    sketch.n = snapshot.n;
    sketch.errorWeight = snapshot.errorWeight;
    return sketch;
  }

  /** The normalized rank error bound (0 while nothing was compacted). */
  rankError(): number {
    return this.n === 0 ? 0 : this.errorWeight / this.n;
  }

  /** Items retained. */
  get retained(): number {
    let total = 0;
    for (const s of this.sizes) total += s;
    return total;
  }

  /**
   * The retained items, sorted, with their weights (which sum to n): each level sorted on its own
   * (equal values in a level have the same weight), then merged, equal values from lower levels
   * first: the order a stable sort of all items, level by level, gives.
   */
  weighted(): { values: Float64Array; weights: Float64Array } {
    const total = this.retained;
    const levels: Float64Array[] = [];
    for (let h = 0; h < this.levels.length; h++) {
      const level = this.levels[h].slice(0, this.sizes[h]);
      for (let i = 0; i < level.length; i++) if (level[i] === 0 && 1 / level[i] < 0) return this.weightedBySort();
      levels.push(sortFloat64(level));
    }
    const values = new Float64Array(total);
    const weights = new Float64Array(total);
    const at = new Array<number>(levels.length).fill(0);
    for (let out = 0; out < total; out++) {
      let best = -1;
      let bestValue = Infinity;
      for (let h = 0; h < levels.length; h++) {
        if (at[h] < levels[h].length && (best === -1 || levels[h][at[h]] < bestValue)) {
          best = h;
          bestValue = levels[h][at[h]];
        }
      }
      values[out] = bestValue;
      weights[out] = 2 ** best;
      at[best]++;
    }
    return { values, weights };
  }

  /** weighted() as a stable sort of all items (kept for -0, which the merge would not order as the sort does). */
  private weightedBySort(): { values: Float64Array; weights: Float64Array } {
    const total = this.retained;
    const pairs: Array<[number, number]> = [];
    for (let h = 0; h < this.levels.length; h++) {
      const w = 2 ** h;
      const lv = this.levels[h];
      for (let i = 0; i < this.sizes[h]; i++) pairs.push([lv[i], w]);
    }
    pairs.sort((a, b) => a[0] - b[0]);
    const values = new Float64Array(total);
    const weights = new Float64Array(total);
    for (let i = 0; i < total; i++) {
      values[i] = pairs[i][0];
      weights[i] = pairs[i][1];
    }
    return { values, weights };
  }
}
