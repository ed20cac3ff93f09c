/**
 * The drift statistics, each written to give what Evidently (legacy `calculations/stattests`,
 * 0.7.x) computes with numpy/scipy:
 * - ks: scipy.stats.ks_2samp(ref, cur) (method='auto'); drift when p <= threshold (Evidently's `<=`).
 * - chisquare: scipy.stats.chisquare(f_obs = current counts, f_exp = reference counts * n_cur/n_ref)
 *   over the union of categories; a category the reference lacks has f_exp = 0, so the statistic is
 *   infinite and p = 0. Drift when p < threshold.
 * - z: Evidently's proportions_diff_z_stat_ind on the indicator "value != first sorted category",
 *   p = 2 * (1 - norm.cdf(|z|)); p = 1 when both sides hold the same single value.
 * - wasserstein: scipy.stats.wasserstein_distance(ref, cur) / max(np.std(ref) (ddof 0), 0.001).
 * - jensenshannon: scipy.spatial.distance.jensenshannon (natural log) of get_binned_data(...,
 *   feel_zeroes=False); psi and kl (scipy.stats.entropy) of get_binned_data(..., feel_zeroes=True).
 * - get_binned_data: numeric columns whose reference has more than 20 distinct values are binned on
 *   np.histogram_bin_edges(ref + cur, bins='sturges'); otherwise shares per value. Zero shares are
 *   replaced by 0.0001, or by min(nonzero share)/1e6 when that minimum is <= 0.0001.
 */
import { chi2Sf, ks2sampPValue, normalCdf, type KsResult } from './distributions';

/** Sorted values, optionally weighted (a sketch's retained items); n is the total weight. */
export interface NumericSample {
  values: Float64Array;
  weights?: Float64Array;
  n: number;
}

/** The two-sided KS statistic on sorted samples: max |F_ref(x) - F_cur(x)| over all data points. */
export function ksStatistic(a: NumericSample, b: NumericSample): number {
  if (!a.weights && !b.weights) return ksStatisticExact(a.values, b.values);
  const av = a.values;
  const bv = b.values;
  const aw = a.weights;
  const bw = b.weights;
  let i = 0;
  let j = 0;
  let ca = 0;
  let cb = 0;
  let maxS = -Infinity;
  let minS = Infinity;
  while (i < av.length || j < bv.length) {
    const x = j >= bv.length || (i < av.length && av[i] <= bv[j]) ? av[i] : bv[j];
    while (i < av.length && av[i] <= x) ca += aw ? aw[i++] : (i++, 1);
    while (j < bv.length && bv[j] <= x) cb += bw ? bw[j++] : (j++, 1);
    const diff = ca / a.n - cb / b.n;
    if (diff > maxS) maxS = diff;
    if (diff < minS) minS = diff;
  }
  const minClipped = Math.min(1, Math.max(0, -minS));
  return minClipped > maxS ? minClipped : maxS;
}

function ksStatisticExact(av: Float64Array, bv: Float64Array): number {
  const n1 = av.length;
  const n2 = bv.length;
  let i = 0;
  let j = 0;
  let maxS = -Infinity;
  let minS = Infinity;
  while (i < n1 || j < n2) {
    const x = j >= n2 || (i < n1 && av[i] <= bv[j]) ? av[i] : bv[j];
    while (i < n1 && av[i] <= x) i++;
    while (j < n2 && bv[j] <= x) j++;
    const diff = i / n1 - j / n2;
    if (diff > maxS) maxS = diff;
    if (diff < minS) minS = diff;
  }
  const minClipped = Math.min(1, Math.max(0, -minS));
  return minClipped > maxS ? minClipped : maxS;
}

/**
 * The same walk as the weighted one over every distinct value of both sides, with the same
 * arithmetic: each side's head value is kept (Infinity once it runs out; the values are finite)
 * and its share i / n is divided only when its index moves.
 */
function wassersteinExact(av: Float64Array, bv: Float64Array): number {
  const n1 = av.length;
  const n2 = bv.length;
  let i = 0;
  let j = 0;
  let a = n1 > 0 ? av[0] : Infinity;
  let b = n2 > 0 ? bv[0] : Infinity;
  // 0 / 0 is NaN, as i / n1 is for an empty side
  let shareA = 0 / n1;
  let shareB = 0 / n2;
  let total = 0;
  let prev = 0;
  let prevDiff = 0;
  let first = true;
  for (;;) {
    const x = a <= b ? a : b;
    if (x === Infinity) break;
    if (!first) total += prevDiff * (x - prev);
    first = false;
    if (a <= x) {
      do i++;
      while (i < n1 && av[i] <= x);
      a = i < n1 ? av[i] : Infinity;
      shareA = i / n1;
    }
    if (b <= x) {
      do j++;
      while (j < n2 && bv[j] <= x);
      b = j < n2 ? bv[j] : Infinity;
      shareB = j / n2;
    }
    prevDiff = Math.abs(shareA - shareB);
    prev = x;
  }
  return total;
}

/** scipy.stats.ks_2samp (two-sided, method='auto'). */
export function ks2samp(a: NumericSample, b: NumericSample): KsResult {
  const d = ksStatistic(a, b);
  return ks2sampPValue(d, Math.round(a.n), Math.round(b.n));
}

/** scipy.stats.wasserstein_distance (first Wasserstein distance between the empirical CDFs). */
export function wassersteinDistance(a: NumericSample, b: NumericSample): number {
  if (!a.weights && !b.weights) return wassersteinExact(a.values, b.values);
  const av = a.values;
  const bv = b.values;
  const aw = a.weights;
  const bw = b.weights;
  let i = 0;
  let j = 0;
  let ca = 0;
  let cb = 0;
  let total = 0;
  let prev = NaN;
  let prevDiff = 0;
  while (i < av.length || j < bv.length) {
    const x = j >= bv.length || (i < av.length && av[i] <= bv[j]) ? av[i] : bv[j];
    if (!Number.isNaN(prev)) total += prevDiff * (x - prev);
    while (i < av.length && av[i] <= x) ca += aw ? aw[i++] : (i++, 1);
    while (j < bv.length && bv[j] <= x) cb += bw ? bw[j++] : (j++, 1);
    prevDiff = Math.abs(ca / a.n - cb / b.n);
    prev = x;
  }
  return total;
}

/** np.std (ddof = 0), two passes as numpy. */
export function populationStd(values: Float64Array): number {
  const n = values.length;
  if (n === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i];
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i] - mean;
    ss += d * d;
  }
  return Math.sqrt(ss / n);
}

/** Evidently's normed Wasserstein distance: W1 / max(std_ref, 0.001). */
export function wassersteinNormed(a: NumericSample, b: NumericSample, refStd: number): number {
  return wassersteinDistance(a, b) / Math.max(refStd, 0.001);
}

/** np.histogram_bin_edges(data, bins='sturges') from the data's min, max and size. */
export function sturgesEdges(min: number, max: number, n: number): number[] {
  let first = min;
  let last = max;
  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }
  const width = (max - min) / (Math.log2(n) + 1);
  const bins = width ? Math.ceil((last - first) / width) : 1;
  return linspace(first, last, bins + 1);
}

/** np.linspace(start, stop, num) (endpoint included). */
export function linspace(start: number, stop: number, num: number): number[] {
  const out: number[] = [];
  const div = num - 1;
  const step = (stop - start) / div;
  for (let i = 0; i < num; i++) out.push(i * step + start);
  if (num > 1) out[num - 1] = stop;
  return out;
}

/** Lowest index whose value is >= x (or > x with `right`), in a sorted array. */
function searchSorted(values: Float64Array, x: number, right: boolean): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (right ? values[mid] <= x : values[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** np.histogram(sample, edges)[0] for explicit edges: [e_i, e_i+1) with the last bin closed. */
export function histogramCounts(sample: NumericSample, edges: number[]): number[] {
  const v = sample.values;
  const w = sample.weights;
  const cum: number[] = [];
  for (let i = 0; i < edges.length; i++) {
    cum.push(searchSorted(v, edges[i], i === edges.length - 1));
  }
  const weightBefore = (idx: number): number => {
    if (!w) return idx;
    let s = 0;
    for (let i = 0; i < idx; i++) s += w[i];
    return s;
  };
  const counts: number[] = [];
  if (!w) {
    for (let i = 0; i + 1 < cum.length; i++) counts.push(cum[i + 1] - cum[i]);
  } else {
    const cw = cum.map(weightBefore);
    for (let i = 0; i + 1 < cw.length; i++) counts.push(cw[i + 1] - cw[i]);
  }
  return counts;
}

/** Evidently's zero fill for PSI and KL. */
export function fillZeroes(shares: number[]): number[] {
  let min = Infinity;
  for (const s of shares) if (s !== 0 && s < min) min = s;
  const fill = min <= 0.0001 ? min / 1e6 : 0.0001;
  return shares.map((s) => (s === 0 ? fill : s));
}

function relEntr(x: number, y: number): number {
  if (x > 0 && y > 0) return x * Math.log(x / y);
  if (x === 0 && y >= 0) return 0;
  return Infinity;
}

function sum(values: number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

/** scipy.spatial.distance.jensenshannon(p, q) with the natural logarithm. */
export function jensenShannon(p0: number[], q0: number[]): number {
  const sp = sum(p0);
  const sq = sum(q0);
  const p = p0.map((v) => v / sp);
  const q = q0.map((v) => v / sq);
  let left = 0;
  let right = 0;
  for (let i = 0; i < p.length; i++) {
    const m = (p[i] + q[i]) / 2;
    left += relEntr(p[i], m);
    right += relEntr(q[i], m);
  }
  return Math.sqrt((left + right) / 2);
}

/** scipy.stats.entropy(p, q): Kullback-Leibler divergence of the normalized shares. */
export function klDivergence(p0: number[], q0: number[]): number {
  const sp = sum(p0);
  const sq = sum(q0);
  let s = 0;
  for (let i = 0; i < p0.length; i++) s += relEntr(p0[i] / sp, q0[i] / sq);
  return s;
}

/** Evidently's PSI: sum (ref - cur) * ln(ref / cur) over the (zero-filled) shares. */
export function psi(ref: number[], cur: number[]): number {
  let s = 0;
  for (let i = 0; i < ref.length; i++) s += (ref[i] - cur[i]) * Math.log(ref[i] / cur[i]);
  return s;
}

export interface TestResult {
  statistic: number;
  pValue: number;
}

/** Evidently's chi-square: scipy.stats.chisquare(current counts, reference counts * n_cur/n_ref). */
export function chiSquare(keys: string[], ref: Map<string, number>, cur: Map<string, number>): TestResult {
  let nRef = 0;
  let nCur = 0;
  for (const k of keys) {
    nRef += ref.get(k) ?? 0;
    nCur += cur.get(k) ?? 0;
  }
  const kNorm = nCur / nRef;
  let stat = 0;
  for (const k of keys) {
    const exp = (ref.get(k) ?? 0) * kNorm;
    const obs = cur.get(k) ?? 0;
    stat += ((obs - exp) * (obs - exp)) / exp;
  }
  const df = keys.length - 1;
  if (df <= 0) return { statistic: stat, pValue: NaN };
  return { statistic: stat, pValue: chi2Sf(stat, df) };
}

/** Evidently's two-proportion z-test; `keys` sorted as Python sorts them. */
export function zTest(keys: string[], ref: Map<string, number>, cur: Map<string, number>): TestResult {
  const refKeys = [...ref.entries()].filter(([, c]) => c > 0);
  const curKeys = [...cur.entries()].filter(([, c]) => c > 0);
  if (refKeys.length === 1 && curKeys.length === 1 && refKeys[0][0] === curKeys[0][0]) {
    return { statistic: 0, pValue: 1 };
  }
  const first = keys[0];
  let n1 = 0;
  let n2 = 0;
  for (const [, c] of ref) n1 += c;
  for (const [, c] of cur) n2 += c;
  const p1 = (n1 - (ref.get(first) ?? 0)) / n1;
  const p2 = (n2 - (cur.get(first) ?? 0)) / n2;
  const P = (p1 * n1 + p2 * n2) / (n1 + n2);
  const z = (p1 - p2) / Math.sqrt(P * (1 - P) * (1 / n1 + 1 / n2));
  const p = 2 * (1 - normalCdf(Math.abs(z)));
  return { statistic: z, pValue: p };
}

/** Python's sort of the category keys: numbers numerically when every key is a number. */
export function sortKeys(keys: string[], numeric: boolean): string[] {
  const copy = [...keys];
  if (numeric) copy.sort((a, b) => Number(a) - Number(b));
  else copy.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return copy;
}

/** get_binned_data's shares per category (keys: the union of both sides). */
export function categoryShares(
  keys: string[],
  ref: Map<string, number>,
  cur: Map<string, number>,
): [number[], number[]] {
  let nRef = 0;
  let nCur = 0;
  for (const [, c] of ref) nRef += c;
  for (const [, c] of cur) nCur += c;
  return [keys.map((k) => (ref.get(k) ?? 0) / nRef), keys.map((k) => (cur.get(k) ?? 0) / nCur)];
}

/** get_binned_data's shares per Sturges bin for numeric columns. */
export function histogramShares(ref: NumericSample, cur: NumericSample, edges: number[]): [number[], number[]] {
  return [histogramCounts(ref, edges).map((c) => c / ref.n), histogramCounts(cur, edges).map((c) => c / cur.n)];
}
