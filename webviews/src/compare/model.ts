// The comparison's pure logic: scalar and param tables with their differences, charts grouped by
// the file and stage that wrote them, and series aligned on one x axis (decimated when huge).
import type { PlotSpec, RunRow, Series } from '../contract';
import { flattenParams } from '../shared/values';

export type Scalar = number | string | boolean | undefined;

export interface ScalarRow {
  metric: string;
  values: Scalar[];
  /** Per run: its value differs from the first run's. */
  differs: boolean[];
  /** Per run: value minus the first run's, when both are numbers. */
  deltas: (number | undefined)[];
  /** Which way is better is not recorded; loss-like names are taken as lower-is-better. */
  direction: 'lower' | 'higher';
  /** Index of the best run, when at least two runs have numbers that are not all equal. */
  best: number | undefined;
}

const LOWER_IS_BETTER =
  /(loss|error|err\b|mse|mae|rmse|mape|perplexity|ppl|latency|time|duration|seconds|_ms\b|fpr|fnr|wer|cer|distance|regret|cost)/i;

export function guessDirection(metric: string): 'lower' | 'higher' {
  return LOWER_IS_BETTER.test(metric) ? 'lower' : 'higher';
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null)
    return JSON.stringify(a) === JSON.stringify(b);
  return false;
}

export function scalarRows(runs: readonly RunRow[]): ScalarRow[] {
  const names = [...new Set(runs.flatMap((run) => Object.keys(run.metrics)))].sort((a, b) => a.localeCompare(b));
  return names.map((metric) => {
    const values = runs.map((run) => run.metrics[metric] as Scalar);
    const first = values[0];
    const direction = guessDirection(metric);
    const numbers = values.map((value) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined));
    let best: number | undefined;
    const present = numbers.filter((value): value is number => value !== undefined);
    if (present.length >= 2 && Math.min(...present) !== Math.max(...present)) {
      for (let i = 0; i < numbers.length; i++) {
        const value = numbers[i];
        if (value === undefined) continue;
        if (best === undefined || (direction === 'lower' ? value < numbers[best]! : value > numbers[best]!)) best = i;
      }
    }
    return {
      metric,
      values,
      differs: values.map((value, i) => i > 0 && !same(value, first)),
      deltas: numbers.map((value, i) =>
        i > 0 && value !== undefined && numbers[0] !== undefined ? value - numbers[0] : undefined,
      ),
      direction,
      best,
    };
  });
}

export interface ParamRow {
  key: string;
  values: unknown[];
  /** Not every run has the same value (a run lacking the param counts as different). */
  differs: boolean;
}

/** Params side by side (nested ones flattened to dotted keys); `all` false keeps only those that differ. */
export function paramRows(runs: readonly RunRow[], all: boolean): ParamRow[] {
  const flat = runs.map((run) => flattenParams(run.params ?? {}));
  const keys = [...new Set(flat.flatMap((params) => Object.keys(params)))].sort((a, b) => a.localeCompare(b));
  const rows = keys.map((key) => {
    const values = flat.map((params) => params[key]);
    return { key, values, differs: values.some((value) => !same(value, values[0])) };
  });
  return all ? rows : rows.filter((row) => row.differs);
}

export interface ChartSpec {
  /** The series name (`loss`, `train.val_loss`): one chart per name, one line per run. */
  name: string;
  x: string;
  /** Per run id, that run's series of this name. */
  series: Map<string, Series>;
}

export interface ChartGroup {
  /** `stage · file` of the plot file (or metrics file) the series come from. */
  title: string;
  stage: string;
  file: string;
  declared: boolean;
  charts: ChartSpec[];
}

/**
 * One chart per series name, grouped under the file and stage that wrote them; declared plots come
 * first in the pipeline's order, then other files by name.
 */
export function chartGroups(
  runIds: readonly string[],
  seriesByRun: Readonly<Record<string, Series[] | undefined>>,
  plots: readonly PlotSpec[] = [],
): ChartGroup[] {
  const charts = new Map<string, ChartSpec & { stage: string; file: string }>();
  for (const id of runIds) {
    for (const series of seriesByRun[id] ?? []) {
      let chart = charts.get(series.name);
      if (!chart)
        charts.set(
          series.name,
          (chart = { name: series.name, x: series.x, series: new Map(), stage: series.stage, file: series.file }),
        );
      if (!chart.series.has(id)) chart.series.set(id, series);
    }
  }
  const groups = new Map<string, ChartGroup>();
  const keyOf = (stage: string, file: string) => `${stage}\u0000${file}`;
  for (const plot of plots) {
    const key = keyOf(plot.stage, plot.file);
    if (!groups.has(key))
      groups.set(key, {
        title: plot.title ?? `${plot.stage} \u00B7 ${plot.file}`,
        stage: plot.stage,
        file: plot.file,
        declared: true,
        charts: [],
      });
  }
  const undeclared: ChartGroup[] = [];
  for (const chart of [...charts.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const key = keyOf(chart.stage, chart.file);
    let group = groups.get(key);
    if (!group) {
      group = {
        title: `${chart.stage} \u00B7 ${chart.file}`,
        stage: chart.stage,
        file: chart.file,
        declared: false,
        charts: [],
      };
      groups.set(key, group);
      undeclared.push(group);
    }
    group.charts.push({ name: chart.name, x: chart.x, series: chart.series });
  }
  const declared = [...groups.values()].filter((group) => group.declared && group.charts.length > 0);
  undeclared.sort((a, b) => a.title.localeCompare(b.title));
  return [...declared, ...undeclared];
}

/** Series on one x axis, as uPlot wants them: `ys[i][k]` is run i's value at `x[k]`, null where it has none. */
export interface AlignedData {
  x: number[];
  ys: (number | null)[][];
  decimated: boolean;
}

function sameSteps(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Aligns the runs' series on the union of their steps. When that union is longer than `maxPoints`,
 * the x range is cut into `maxPoints / 2` equal buckets and each run keeps its minimum and maximum
 * in each bucket (so spikes survive), which keeps 100 runs of 100,000 steps drawable.
 */
export function alignSeries(series: readonly (Series | undefined)[], maxPoints = 4000): AlignedData {
  const steps = new Set<number>();
  // Runs usually log the same steps: a run whose steps equal the first run's adds nothing to the
  // union, and comparing is several times cheaper than adding each step to the set.
  let first: ArrayLike<number> | undefined;
  for (const one of series) {
    if (!one) continue;
    if (first && sameSteps(first, one.steps)) continue;
    first ??= one.steps;
    for (let i = 0; i < one.steps.length; i++) {
      const step = one.steps[i];
      if (Number.isFinite(step)) steps.add(step);
    }
  }
  if (steps.size <= maxPoints) {
    const x = [...steps].sort((a, b) => a - b);
    const index = new Map(x.map((step, i) => [step, i]));
    const ys = series.map((one) => {
      const y: (number | null)[] = new Array<number | null>(x.length).fill(null);
      if (one)
        for (let i = 0; i < one.steps.length; i++) {
          const at = index.get(one.steps[i]);
          if (at !== undefined && Number.isFinite(one.values[i])) y[at] = one.values[i];
        }
      return y;
    });
    return { x, ys, decimated: false };
  }
  let min = Infinity;
  let max = -Infinity;
  for (const step of steps) {
    if (step < min) min = step;
    if (step > max) max = step;
  }
  const buckets = Math.max(1, Math.floor(maxPoints / 2));
  const width = (max - min) / buckets || 1;
  // Two x positions per bucket: its first and second half; min goes to the first, max to the second.
  const x: number[] = [];
  for (let b = 0; b < buckets; b++) x.push(min + b * width, min + (b + 0.5) * width);
  const ys = series.map((one) => {
    const y: (number | null)[] = new Array<number | null>(x.length).fill(null);
    if (!one) return y;
    const lows = new Float64Array(buckets).fill(Infinity);
    const highs = new Float64Array(buckets).fill(-Infinity);
    for (let i = 0; i < one.steps.length; i++) {
      const value = one.values[i];
      if (!Number.isFinite(value) || !Number.isFinite(one.steps[i])) continue;
      const b = Math.min(buckets - 1, Math.floor((one.steps[i] - min) / width));
      if (value < lows[b]) lows[b] = value;
      if (value > highs[b]) highs[b] = value;
    }
    for (let b = 0; b < buckets; b++) {
      if (lows[b] === Infinity) continue;
      y[2 * b] = lows[b];
      y[2 * b + 1] = highs[b];
    }
    return y;
  });
  return { x, ys, decimated: true };
}
