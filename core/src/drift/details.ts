/**
 * What the report shows of a column besides its test, for charts: both sides' histograms and
 * ECDFs (numeric columns), or the shares of each category.
 */
import { histogramCounts, linspace, sturgesEdges, type NumericSample } from './methods';
import { type CategoryDetail, type HistogramDetail } from './types';

const MAX_CATEGORIES_SHOWN = 30;
const MAX_ECDF_POINTS = 200;
const MAX_LABEL_CHARS = 200;

/** Histograms over 20 to 30 equal bins and the ECDFs of both sides. */
export function histogramDetail(a: NumericSample, b: NumericSample, min: number, max: number): HistogramDetail {
  const sturges = sturgesEdges(min, max, a.n + b.n).length - 1;
  const bins = Math.min(30, Math.max(20, sturges));
  const edges = min === max ? linspace(min - 0.5, max + 0.5, bins + 1) : linspace(min, max, bins + 1);
  return {
    kind: 'histogram',
    edges,
    reference: histogramCounts(a, edges).map((x) => x / a.n),
    current: histogramCounts(b, edges).map((x) => x / b.n),
    reference_ecdf: ecdf(a),
    current_ecdf: ecdf(b),
  };
}

/** The ECDF at up to MAX_ECDF_POINTS values (every distinct value when there are few). */
function ecdf(sample: NumericSample): { x: number[]; y: number[] } {
  const v = sample.values;
  const w = sample.weights;
  const x: number[] = [];
  const y: number[] = [];
  if (v.length === 0) return { x, y };
  // cumulative weight at the end of each run of equal values
  const cumulative: Array<[number, number]> = [];
  let acc = 0;
  for (let i = 0; i < v.length; i++) {
    acc += w ? w[i] : 1;
    if (i + 1 === v.length || v[i + 1] !== v[i]) cumulative.push([v[i], acc / sample.n]);
    if (cumulative.length > 4 * MAX_ECDF_POINTS && !w && v.length > 100000) break;
  }
  if (cumulative.length <= MAX_ECDF_POINTS && acc / sample.n >= 1 - 1e-12) {
    for (const [vx, vy] of cumulative) {
      x.push(vx);
      y.push(vy);
    }
    return { x, y };
  }
  // many distinct values: one point per quantile step
  let cumw: Float64Array | null = null;
  if (w) {
    cumw = new Float64Array(v.length);
    let s = 0;
    for (let i = 0; i < v.length; i++) cumw[i] = s += w[i];
  }
  let last = -1;
  for (let k = 1; k <= MAX_ECDF_POINTS; k++) {
    const target = (k / MAX_ECDF_POINTS) * sample.n;
    let idx: number;
    if (!cumw) idx = Math.min(v.length - 1, Math.ceil(target) - 1);
    else {
      let lo = 0;
      let hi = v.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cumw[mid] >= target) hi = mid;
        else lo = mid + 1;
      }
      idx = lo;
    }
    // extend to the end of the run of equal values so y is the CDF at x
    while (idx + 1 < v.length && v[idx + 1] === v[idx]) idx++;
    if (idx <= last) continue;
    last = idx;
    x.push(v[idx]);
    y.push((cumw ? cumw[idx] : idx + 1) / sample.n);
  }
  return { x, y };
}

/** The shares of each category on both sides: the reference's categories by count, then new ones, at most 30 and "(other)". */
export function categoryDetail(ref: Map<string, number>, cur: Map<string, number>): CategoryDetail {
  let nRef = 0;
  let nCur = 0;
  for (const n of ref.values()) nRef += n;
  for (const n of cur.values()) nCur += n;
  const byRef = [...ref.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([k]) => k);
  const fresh = [...cur.entries()]
    .filter(([k]) => !ref.has(k))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([k]) => k);
  const all = [...byRef, ...fresh];
  const shown = all.length > MAX_CATEGORIES_SHOWN ? all.slice(0, MAX_CATEGORIES_SHOWN) : all;
  // labels are for charts: a 10 MB value is shown by its start (the shares are the value's own)
  const categories = shown.map((k) =>
    k.length > MAX_LABEL_CHARS ? `${k.slice(0, MAX_LABEL_CHARS)}… (${k.length.toLocaleString('en-US')} characters)` : k,
  );
  const reference = shown.map((k) => (nRef ? (ref.get(k) ?? 0) / nRef : 0));
  const current = shown.map((k) => (nCur ? (cur.get(k) ?? 0) / nCur : 0));
  if (all.length > shown.length) {
    const rest = all.slice(MAX_CATEGORIES_SHOWN);
    categories.push('(other)');
    reference.push(rest.reduce((s, k) => s + (ref.get(k) ?? 0), 0) / (nRef || 1));
    current.push(rest.reduce((s, k) => s + (cur.get(k) ?? 0), 0) / (nCur || 1));
  }
  return { kind: 'categories', categories, reference, current };
}
