// The drift view's pure logic: headline text, method wording, sorting, number formatting and the
// chart geometry (scales, ticks, step paths). No DOM, so it is unit-tested under node.
import type {
  CategoryDetail,
  ColumnDrift,
  DriftMethod,
  DriftReport,
  HistogramDetail,
} from '../../../core/src/drift/types';
import type { DriftSort, DriftSortKey } from './contract';

// ---- wording ------------------------------------------------------------------------------------

const METHOD_LABELS: Record<DriftMethod, string> = {
  ks: 'K-S test',
  chisquare: 'Chi-square test',
  z: 'Z-test',
  wasserstein: 'Wasserstein',
  jensenshannon: 'Jensen-Shannon',
  psi: 'PSI',
  kl: 'K-L divergence',
};

/** One sentence per method: what the score means and when it counts as drift. */
const METHOD_EXPLANATIONS: Record<DriftMethod, string> = {
  ks: 'Kolmogorov-Smirnov test: the statistic D is the largest gap between the two cumulative distributions, and the score is its p-value, the chance of a gap this large if nothing changed; drift when the p-value is below the threshold.',
  chisquare:
    'Chi-square test: compares the current category counts with the counts the reference shares predict, and the score is its p-value; drift when the p-value is below the threshold.',
  z: 'Two-proportion Z-test (for two categories): the statistic measures how far the current share of a category is from the reference share in standard errors, and the score is its p-value; drift when the p-value is below the threshold.',
  wasserstein:
    'Wasserstein distance, normed by the reference standard deviation: how far, in standard deviations, values must move on average to turn the reference distribution into the current one; drift when the score reaches the threshold.',
  jensenshannon:
    'Jensen-Shannon distance: how much the two distributions differ, from 0 (identical) to 1 (no overlap); drift when the score reaches the threshold.',
  psi: 'Population Stability Index: the sum over bins of (current share - reference share) x ln(current share / reference share), 0 when nothing changed (0.1 reads as a moderate shift, 0.2 as a major one); drift when the score reaches the threshold.',
  kl: 'Kullback-Leibler divergence of the current distribution from the reference: 0 when they are identical, growing without bound as they part; drift when the score reaches the threshold.',
};

export function methodLabel(method: DriftMethod | string): string {
  return (METHOD_LABELS as Record<string, string>)[method] ?? method;
}

export function methodExplanation(method: DriftMethod | string): string {
  return (
    (METHOD_EXPLANATIONS as Record<string, string>)[method] ?? `${method}: drift when the score crosses the threshold.`
  );
}

/** Statistical tests report a p-value (drift when below the threshold); the rest are distances. */
export function isTest(method: DriftMethod | string): boolean {
  return method === 'ks' || method === 'chisquare' || method === 'z';
}

export function kindLabel(kind: string): string {
  return kind === 'num' ? 'numeric' : kind === 'cat' ? 'categorical' : kind;
}

/** Whether the report found drift anywhere: the dataset verdict, or any single column. */
export function driftFound(report: DriftReport): boolean {
  return report.dataset_drift || report.columns.some((column) => column.drifted);
}

const plural = (count: number, one: string, many = `${one}s`) => `${formatCount(count)} ${count === 1 ? one : many}`;

export interface Headline {
  /** "Drift detected in 4 of 12 columns", "No drift: 0 of 12 columns drifted". */
  title: string;
  /** The dataset-level verdict, with the share against drift_share. */
  verdict: string;
  drift: boolean;
}

export function headline(report: DriftReport): Headline {
  const total = report.number_of_columns;
  const drifted = report.number_of_drifted_columns;
  const drift = driftFound(report);
  let title: string;
  if (total === 0) title = 'No columns compared';
  else if (drifted > 0) title = `Drift detected in ${formatCount(drifted)} of ${plural(total, 'column')}`;
  else title = `No drift: 0 of ${plural(total, 'column')} drifted`;
  const share = formatPercent(report.share_of_drifted_columns);
  const threshold = formatPercent(report.drift_share);
  const verdict = report.dataset_drift
    ? `Dataset drift: yes. ${share} of the columns drifted, at or above the ${threshold} threshold.`
    : `Dataset drift: no. ${share} of the columns drifted, below the ${threshold} threshold.`;
  return { title, verdict, drift };
}

/** The threshold as a rule: `p < 0.05` for tests, `>= 0.1` for distances. */
export function thresholdText(column: Pick<ColumnDrift, 'method' | 'threshold'>): string {
  return isTest(column.method) ? `p < ${formatScore(column.threshold)}` : `\u2265 ${formatScore(column.threshold)}`;
}

/** Why the column drifted or not, in words: `p = 0.0012 < 0.05`. */
export function verdictText(column: Pick<ColumnDrift, 'method' | 'score' | 'threshold' | 'drifted'>): string {
  const score = formatScore(column.score);
  const threshold = formatScore(column.threshold);
  if (isTest(column.method))
    return column.drifted ? `p = ${score} < ${threshold}: drift` : `p = ${score} \u2265 ${threshold}: no drift`;
  return column.drifted ? `score ${score} \u2265 ${threshold}: drift` : `score ${score} < ${threshold}: no drift`;
}

// ---- numbers ------------------------------------------------------------------------------------

/** Scores and thresholds: up to 3 significant digits, tiny p-values as `1.2e-7`, 0 as `0`. */
export function formatScore(value: number | null | undefined): string {
  if (value === null || value === undefined) return '\u2014';
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '\u221e' : '-\u221e';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs < 1e-3 || abs >= 1e6) return value.toExponential(1).replace('e+', 'e');
  return String(Number(value.toPrecision(3)));
}

/** Row counts with thousands separators: `12,345`. */
export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const sign = value < 0 ? '-' : '';
  return sign + String(Math.round(Math.abs(value))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A share as a percentage: `33.3%`, `50%`, `0.05%`, `< 0.01%`. */
export function formatPercent(share: number): string {
  if (!Number.isFinite(share)) return String(share);
  const percent = share * 100;
  if (percent === 0) return '0%';
  if (Math.abs(percent) < 0.01) return '< 0.01%';
  const digits = Math.abs(percent) >= 1 ? 1 : 2;
  return `${Number(percent.toFixed(digits))}%`;
}

/** Axis labels: short, `1.5k`, `0.25`, `-3`, `2e-5`. */
export function formatTick(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e6 || abs < 1e-3) return value.toExponential(1).replace('e+', 'e').replace('.0e', 'e');
  if (abs >= 1e4) return `${Number((value / 1000).toPrecision(3))}k`;
  return String(Number(value.toPrecision(4)));
}

/** The last part of a path, either separator. */
export function fileName(path: string): string {
  const parts = path.split(/[\\/]/).filter((part) => part !== '');
  return parts[parts.length - 1] ?? path;
}

// ---- sorting ------------------------------------------------------------------------------------

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

function sortValue(column: ColumnDrift, key: DriftSortKey): string | number {
  switch (key) {
    case 'column':
      return column.column;
    case 'type':
      return kindLabel(column.type);
    case 'method':
      return methodLabel(column.method);
    case 'score':
      return column.score;
    case 'threshold':
      return column.threshold;
    case 'drifted':
      return column.drifted ? 1 : 0;
  }
}

/** The columns in table order; stable (ties keep the report's order), NaN scores last either way. */
export function sortColumns(columns: readonly ColumnDrift[], sort: DriftSort): ColumnDrift[] {
  const sign = sort.descending ? -1 : 1;
  return columns
    .map((column, index) => ({ column, index, value: sortValue(column, sort.key) }))
    .sort((a, b) => {
      let order: number;
      if (typeof a.value === 'number' && typeof b.value === 'number') {
        const aNaN = Number.isNaN(a.value);
        const bNaN = Number.isNaN(b.value);
        if (aNaN || bNaN) return aNaN === bNaN ? a.index - b.index : aNaN ? 1 : -1;
        order = a.value - b.value;
      } else order = collator.compare(String(a.value), String(b.value));
      return order !== 0 ? sign * order : a.index - b.index;
    })
    .map((entry) => entry.column);
}

/** The sort after clicking `key`'s header: the same key flips; a new key starts drifted-first for `drifted`, ascending otherwise. */
export function nextSort(current: DriftSort, key: DriftSortKey): DriftSort {
  if (current.key === key) return { key, descending: !current.descending };
  return { key, descending: key === 'drifted' };
}

// ---- chart geometry ---------------------------------------------------------------------------

export type Scale = (value: number) => number;

/** Maps [d0, d1] onto [r0, r1]; a zero-width domain maps everything to the middle of the range. */
export function linearScale(d0: number, d1: number, r0: number, r1: number): Scale {
  if (!(d1 - d0) || !Number.isFinite(d1 - d0)) return () => (r0 + r1) / 2;
  const k = (r1 - r0) / (d1 - d0);
  return (value) => r0 + (value - d0) * k;
}

/** Round tick values covering [min, max] (about `count` of them), as 1, 2, 5 times a power of ten. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [min];
  if (min > max) [min, max] = [max, min];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step - 1e-9) * step; t <= max + step * 1e-9; t += step)
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : Number(t.toPrecision(12)));
  return ticks;
}

const finite = (values: readonly number[]) => values.map((value) => (Number.isFinite(value) ? value : 0));

/** The x domain of a histogram (its outer edges, widened when they coincide). */
export function histogramDomain(detail: HistogramDetail): [number, number] {
  const first = detail.edges[0] ?? 0;
  const last = detail.edges[detail.edges.length - 1] ?? first;
  return first === last ? [first - 0.5, last + 0.5] : [first, last];
}

/** The tallest bar on either side (at least a tiny positive number, so scales stay defined). */
export function histogramMax(detail: HistogramDetail): number {
  return Math.max(1e-12, ...finite(detail.reference), ...finite(detail.current));
}

/**
 * A histogram as one closed SVG step path: up each bin's left edge to its share, across, and back
 * to the baseline at the end. Bins beyond the edges (ragged arrays) are dropped.
 */
export function stepArea(edges: readonly number[], shares: readonly number[], x: Scale, y: Scale): string {
  const bins = Math.min(shares.length, edges.length - 1);
  if (bins <= 0) return '';
  const r = (value: number) => Math.round(value * 10) / 10;
  const base = r(y(0));
  let path = `M${r(x(edges[0]!))},${base}`;
  for (let i = 0; i < bins; i++) {
    const share = Number.isFinite(shares[i]!) ? shares[i]! : 0;
    path += `V${r(y(share))}H${r(x(edges[i + 1]!))}`;
  }
  return `${path}V${base}Z`;
}

/** An ECDF as an SVG step line from `from` to `to` (the chart's x domain): 0 before the first point. */
export function ecdfPath(
  ecdf: { x: readonly number[]; y: readonly number[] },
  x: Scale,
  y: Scale,
  from: number,
  to: number,
): string {
  const r = (value: number) => Math.round(value * 10) / 10;
  const points = Math.min(ecdf.x.length, ecdf.y.length);
  let path = `M${r(x(Math.min(from, ecdf.x[0] ?? from)))},${r(y(0))}`;
  for (let i = 0; i < points; i++) path += `H${r(x(ecdf.x[i]!))}V${r(y(ecdf.y[i]!))}`;
  const end = Math.max(to, ecdf.x[points - 1] ?? to);
  return `${path}H${r(x(end))}`;
}

/** The ECDF's value at `value`: the y of the last point at or left of it (0 before the first). */
export function ecdfAt(ecdf: { x: readonly number[]; y: readonly number[] }, value: number): number {
  let lo = 0;
  let hi = Math.min(ecdf.x.length, ecdf.y.length);
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ecdf.x[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? 0 : ecdf.y[lo - 1]!;
}

/** Where the two ECDFs are furthest apart (the K-S statistic's location), over both sides' points. */
export function largestGap(
  reference: HistogramDetail['reference_ecdf'],
  current: HistogramDetail['current_ecdf'],
): { x: number; reference: number; current: number; gap: number } | undefined {
  let best: { x: number; reference: number; current: number; gap: number } | undefined;
  for (const value of [...reference.x, ...current.x]) {
    const a = ecdfAt(reference, value);
    const b = ecdfAt(current, value);
    const gap = Math.abs(a - b);
    if (!best || gap > best.gap) best = { x: value, reference: a, current: b, gap };
  }
  return best;
}

export interface CategoryRow {
  label: string;
  reference: number;
  current: number;
  /** The row that sums the categories left out. */
  other?: number;
  /** Only in the current data (`new`) or only in the reference (`gone`). */
  change?: 'new' | 'gone';
}

/**
 * The categories a chart shows: the `limit` with the largest share on either side (a new category
 * that took over must not be cut), in the report's order, then one row summing the rest.
 */
export function topCategories(detail: CategoryDetail, limit: number): CategoryRow[] {
  const count = Math.min(detail.categories.length, detail.reference.length, detail.current.length);
  const rows = Array.from({ length: count }, (_, i) => ({
    label: detail.categories[i]!,
    reference: finite([detail.reference[i]!])[0]!,
    current: finite([detail.current[i]!])[0]!,
    index: i,
  }));
  const row = ({ label, reference, current }: { label: string; reference: number; current: number }): CategoryRow =>
    reference === 0 && current > 0
      ? { label, reference, current, change: 'new' }
      : current === 0 && reference > 0
        ? { label, reference, current, change: 'gone' }
        : { label, reference, current };
  if (rows.length <= limit) return rows.map(row);
  const kept = new Set(
    [...rows]
      .sort((a, b) => Math.max(b.reference, b.current) - Math.max(a.reference, a.current) || a.index - b.index)
      .slice(0, Math.max(0, limit - 1))
      .map((row) => row.index),
  );
  const shown = rows.filter((entry) => kept.has(entry.index)).map(row);
  const rest = rows.filter((entry) => !kept.has(entry.index));
  shown.push({
    label: `${rest.length} other categories`,
    reference: rest.reduce((sum, entry) => sum + entry.reference, 0),
    current: rest.reduce((sum, entry) => sum + entry.current, 0),
    other: rest.length,
  });
  return shown;
}
