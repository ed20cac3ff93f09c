/**
 * One column's drift, once both sides are read: what the column holds (`prepareColumn`), then
 * `compareColumn` in named steps: choose the method (forced, or Evidently's default), run its
 * test, decide, and say what was estimated.
 *
 * Default test (Evidently legacy `stattests/registry.py::_get_default_stattest`; n = non-missing
 * reference values, u = distinct values of both sides together):
 * - n <= 1000: numeric with u > 5 -> ks; numeric with u <= 5 and categorical -> chisquare when
 *   u > 2, else z.
 * - n > 1000: numeric with u > 5 -> wasserstein (normed); numeric with u <= 5 and categorical ->
 *   jensenshannon.
 * Thresholds: 0.05 for ks/chisquare/z (p-values), 0.1 for the distances.
 */
import { categoryDetail, histogramDetail } from './details';
import { DriftError } from './errors';
import {
  DISTINCT_NUMBER_CAP,
  DISTINCT_STRING_CAP,
  MIXED_STRING_SHARE,
  numberColumnKind,
  numberKey,
  type ColumnAccumulator,
} from './infer';
import { clip } from './limits';
import {
  categoryShares,
  chiSquare,
  fillZeroes,
  histogramShares,
  jensenShannon,
  klDivergence,
  ks2samp,
  populationStd,
  psi,
  sortKeys,
  sturgesEdges,
  wassersteinNormed,
  zTest,
  type NumericSample,
} from './methods';
import { type ColumnDrift, type ColumnKind, type DriftMethod, type DriftOptions } from './types';

const TEST_METHODS = new Set<DriftMethod>(['ks', 'chisquare', 'z']);
const NUMERIC_ONLY = new Set<DriftMethod>(['ks', 'wasserstein']);
const METHOD_NAMES: Record<DriftMethod, string> = {
  ks: 'Kolmogorov-Smirnov',
  chisquare: 'chi-square',
  z: 'two-proportion Z-test',
  wasserstein: 'Wasserstein distance (normed)',
  jensenshannon: 'Jensen-Shannon distance',
  psi: 'PSI',
  kl: 'Kullback-Leibler divergence',
};

export function defaultThreshold(method: DriftMethod): number {
  return TEST_METHODS.has(method) ? 0.05 : 0.1;
}

export function plural(n: number, word: string): string {
  return `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;
}

/** What a column holds once both sides are in. */
export interface Prepared {
  kind: ColumnKind;
  /** Values are numbers (numeric tests possible) or strings. */
  numbers: boolean;
  refRows: number;
  curRows: number;
  notes: string[];
  reason: string;
}

/** Whether a column is compared, as numbers or categories, and why; or why it is skipped. */
export function prepareColumn(
  name: string,
  r: ColumnAccumulator,
  c: ColumnAccumulator,
  options: DriftOptions,
  refPath: string,
  curPath: string,
): Prepared | { skip: string } {
  const notes: string[] = [];
  const forcedCat = options.categorical?.includes(name) ?? false;
  const forcedNum = options.numerical?.includes(name) ?? false;
  const nums = r.numericCount + c.numericCount;
  const strs = r.stringCount + c.stringCount;
  const infinite = r.infinite + c.infinite;
  if (infinite > 0) notes.push(`${plural(infinite, 'infinite value')} ignored (Evidently treats them as missing).`);

  let numbers: boolean;
  if (strs === 0) numbers = nums > 0;
  else if (nums > 0 && (forcedNum || strs <= MIXED_STRING_SHARE * (nums + strs))) {
    numbers = true;
    const first = r.stringCount > 0 ? r : c;
    notes.push(
      `${plural(strs, 'value')} that ${strs === 1 ? 'is' : 'are'} not a number ignored as missing (first: "${clip(first.firstString)}" at ${first === r ? refPath : curPath}:${first.firstStringLine}).`,
    );
    // Evidently 0.7.23 reads the column with pandas, which makes such a column text (object)
    if (!forcedNum) {
      notes.push(
        c.stringCount > 0
          ? 'Evidently 0.7.23 differs here: pandas reads the current column as text, so Evidently compares it as categories (or as text when more than half of its values are distinct).'
          : 'Evidently 0.7.23 differs here: pandas reads the reference column as text, and Evidently stops on a numeric current column with a text reference.',
      );
    }
  } else {
    if (forcedNum)
      return {
        skip: `forced numeric, but its values are text (e.g. "${clip((r.stringCount > 0 ? r : c).firstString)}")`,
      };
    numbers = false;
    if (nums > 0) notes.push(`mixed numbers and text (${plural(strs, 'text value')}): compared as categories.`);
  }
  const refRows = numbers ? r.numbers : r.numbers + r.stringCount;
  const curRows = numbers ? c.numbers : c.numbers + c.stringCount;
  if (refRows === 0 && curRows === 0) return { skip: 'every value is missing on both sides' };
  if (refRows === 0) return { skip: `every value is missing in the reference (${refPath})` };
  if (curRows === 0) return { skip: `every value is missing in the current data (${curPath})` };

  let kind: ColumnKind;
  let reason: string;
  if (forcedCat) {
    kind = 'cat';
    reason = 'categorical (forced)';
  } else if (forcedNum) {
    kind = 'num';
    reason = 'numeric (forced)';
  } else if (numbers) {
    ({ kind, reason } = numberColumnKind(c));
  } else {
    kind = 'cat';
    reason = 'categorical: text values';
    if (r.strings === null || c.strings === null) {
      return {
        skip: `text-like: more than ${DISTINCT_STRING_CAP.toLocaleString('en-US')} distinct values (ids or free text are not compared)`,
      };
    }
    const distinctRef = r.strings.size + (r.distinctNumbers?.size ?? 0);
    if (refRows >= 20 && distinctRef > 0.5 * refRows) {
      return {
        skip: `text-like: ${plural(distinctRef, 'distinct value')} in ${plural(refRows, 'reference row')} (more than half are unique: ids or free text are not compared)`,
      };
    }
  }
  return { kind, numbers, refRows, curRows, notes, reason };
}

function distinctNumberUnion(r: ColumnAccumulator, c: ColumnAccumulator): number {
  if (r.distinctNumbers === null || c.distinctNumbers === null) return DISTINCT_NUMBER_CAP + 1;
  const all = new Set<number>(r.distinctNumbers.keys());
  for (const k of c.distinctNumbers.keys()) all.add(k);
  return all.size;
}

/** The numbers of one side as a sorted sample (exact) or the sketch's weighted items. */
function numericSample(column: ColumnAccumulator): NumericSample {
  if (column.sketch) {
    const { values, weights } = column.sketch.weighted();
    return { values, weights, n: column.sketch.n };
  }
  return { values: column.sortValues(), n: column.count };
}

/** Counts per category key; numbers keyed by their canonical text. */
function categoryCounts(
  column: ColumnAccumulator,
  numbers: boolean,
  sample: () => NumericSample,
): { counts: Map<string, number>; approximate: boolean } {
  const counts = new Map<string, number>();
  let approximate = false;
  if (column.numericCount > 0) {
    if (column.distinctNumbers !== null) {
      for (const [v, n] of column.distinctNumbers) counts.set(numberKey(v), n);
    } else {
      const s = sample();
      approximate = s.weights !== undefined;
      for (let i = 0; i < s.values.length; i++) {
        const key = numberKey(s.values[i]);
        counts.set(key, (counts.get(key) ?? 0) + (s.weights ? s.weights[i] : 1));
      }
    }
  }
  if (!numbers && column.strings) {
    for (const [k, n] of column.strings) counts.set(k, (counts.get(k) ?? 0) + n);
  }
  return { counts, approximate };
}

/**
 * Both sides of a column as the steps read them, each form made once on first use (a sorted
 * sample, category counts) and never when no step asks for it. Notes are said in the order the
 * steps run into them.
 */
class ColumnSides {
  readonly notes: string[];
  #refSample: NumericSample | null = null;
  #curSample: NumericSample | null = null;
  #refCounts: Map<string, number> | null = null;
  #curCounts: Map<string, number> | null = null;

  constructor(
    readonly r: ColumnAccumulator,
    readonly c: ColumnAccumulator,
    readonly prep: Prepared,
  ) {
    this.notes = [...prep.notes];
  }

  refNumeric(): NumericSample {
    return (this.#refSample ??= numericSample(this.r));
  }

  curNumeric(): NumericSample {
    return (this.#curSample ??= numericSample(this.c));
  }

  /** Whether a numeric sample of either side was made (a sketch's estimate was then used). */
  get sampled(): boolean {
    return this.#refSample !== null || this.#curSample !== null;
  }

  counts(): [Map<string, number>, Map<string, number>] {
    if (!this.#refCounts || !this.#curCounts) {
      const a = categoryCounts(this.r, this.prep.numbers, () => this.refNumeric());
      const b = categoryCounts(this.c, this.prep.numbers, () => this.curNumeric());
      this.#refCounts = a.counts;
      this.#curCounts = b.counts;
      if (a.approximate || b.approximate)
        this.notes.push('category counts of the numbers estimated from the quantile sketch.');
    }
    return [this.#refCounts, this.#curCounts];
  }

  unionKeys(): string[] {
    const [a, b] = this.counts();
    const keys = new Set<string>(a.keys());
    for (const k of b.keys()) keys.add(k);
    return sortKeys([...keys], this.prep.numbers);
  }

  /** Distinct values of both sides together. */
  distinctUnion(): number {
    if (this.prep.numbers) return distinctNumberUnion(this.r, this.c);
    return this.unionKeys().length;
  }

  /**
   * Numeric binning as Evidently's get_binned_data: Sturges bins over both sides when the
   * reference has more than 20 distinct numbers, else shares per value.
   */
  binned(fillZeroesToo: boolean): [number[], number[]] {
    const { r, c, prep } = this;
    let shares: [number[], number[]];
    const refDistinct = r.distinctNumbers === null ? DISTINCT_NUMBER_CAP + 1 : r.distinctNumbers.size;
    if (prep.numbers && prep.kind === 'num' && refDistinct > 20) {
      const a = this.refNumeric();
      const b = this.curNumeric();
      const edges = sturgesEdges(Math.min(r.min, c.min), Math.max(r.max, c.max), a.n + b.n);
      shares = histogramShares(a, b, edges);
    } else {
      const [ra, ca] = this.counts();
      shares = categoryShares(this.unionKeys(), ra, ca);
    }
    return fillZeroesToo ? [fillZeroes(shares[0]), fillZeroes(shares[1])] : shares;
  }
}

/** The column's drift: method, test, decision, notes and (unless `details: false`) what charts show. */
export function compareColumn(
  name: string,
  r: ColumnAccumulator,
  c: ColumnAccumulator,
  prep: Prepared,
  options: DriftOptions,
): ColumnDrift {
  const sides = new ColumnSides(r, c, prep);
  const { method, methodReason } = chooseMethod(name, sides, options);
  const threshold = options.thresholds?.[name] ?? defaultThreshold(method);
  const { statistic, pValue } = runTest(method, sides);
  const drifted = isDrifted(method, statistic, pValue, threshold);
  noteSketches(sides);
  const result: ColumnDrift = {
    column: name,
    type: prep.kind,
    method,
    statistic,
    p_value: pValue,
    score: pValue ?? statistic,
    threshold,
    drifted,
    reference_rows: prep.refRows,
    current_rows: prep.curRows,
    method_reason: methodReason,
    notes: sides.notes,
  };
  if (options.details !== false) {
    result.details =
      prep.kind === 'num' && prep.numbers
        ? histogramDetail(sides.refNumeric(), sides.curNumeric(), Math.min(r.min, c.min), Math.max(r.max, c.max))
        : categoryDetail(...sides.counts());
  }
  return result;
}

/** The forced method (refused when it needs numbers the column does not hold), else Evidently's default; and why, in words. */
function chooseMethod(
  name: string,
  sides: ColumnSides,
  options: DriftOptions,
): { method: DriftMethod; methodReason: string } {
  const { prep } = sides;
  const forced = options.methods?.[name];
  if (forced) {
    if (NUMERIC_ONLY.has(forced) && !prep.numbers) {
      throw new DriftError(
        `method ${forced} needs numbers, but column ${clip(name)} holds text`,
        `Use chisquare, z, jensenshannon, psi or kl for ${clip(name)}.`,
      );
    }
    return { method: forced, methodReason: `${METHOD_NAMES[forced]} (forced); column ${prep.reason}` };
  }
  const u = sides.distinctUnion();
  const uText = u > DISTINCT_NUMBER_CAP && prep.numbers ? `more than ${DISTINCT_NUMBER_CAP}` : String(u);
  const small = prep.refRows <= 1000;
  const rowsText = `${plural(prep.refRows, 'reference value')} (${small ? '<= 1000' : '> 1000'})`;
  let method: DriftMethod;
  if (small) {
    if (prep.kind === 'num' && u > 5) method = 'ks';
    else method = u > 2 ? 'chisquare' : 'z';
  } else if (prep.kind === 'num' && u > 5) method = 'wasserstein';
  else method = 'jensenshannon';
  return {
    method,
    methodReason: `default: ${prep.kind === 'num' ? 'numeric' : 'categorical'}, ${rowsText}, ${uText} distinct values -> ${METHOD_NAMES[method]}; column ${prep.reason}`,
  };
}

/** The method's statistic and, for the tests, its p-value; notes what the result needs said. */
function runTest(method: DriftMethod, sides: ColumnSides): { statistic: number; pValue: number | null } {
  const { notes } = sides;
  switch (method) {
    case 'ks': {
      const result = ks2samp(sides.refNumeric(), sides.curNumeric());
      return { statistic: result.statistic, pValue: result.pValue };
    }
    case 'wasserstein': {
      const a = sides.refNumeric();
      const std = sides.r.sketch ? sides.r.streamingStd() : populationStd(a.values);
      const statistic = wassersteinNormed(a, sides.curNumeric(), std);
      if (!(std >= 0.001)) {
        notes.push(
          `reference standard deviation is ${std === 0 ? '0 (constant column)' : std.toPrecision(3)}: the distance is divided by 0.001 instead, as Evidently does.`,
        );
      }
      return { statistic, pValue: null };
    }
    case 'chisquare': {
      const [ra, ca] = sides.counts();
      const keys = sides.unionKeys();
      const unseen = keys.filter((k) => !ra.has(k));
      const result = chiSquare(keys, ra, ca);
      if (keys.length < 2) {
        notes.push('only one category on both sides: nothing to compare (p-value 1).');
        return { statistic: 0, pValue: 1 };
      }
      if (!Number.isFinite(result.statistic)) {
        notes.push(
          `categories missing from the reference: ${unseen
            .slice(0, 5)
            .map((k) => `"${clip(k)}"`)
            .join(
              ', ',
            )}${unseen.length > 5 ? ` and ${unseen.length - 5} more` : ''}; their expected count is 0, so the chi-square statistic is infinite (shown as ${Number.MAX_VALUE}) and p = 0, as in Evidently.`,
        );
        return { statistic: Number.MAX_VALUE, pValue: 0 };
      }
      return { statistic: result.statistic, pValue: result.pValue };
    }
    case 'z': {
      const [ra, ca] = sides.counts();
      const result = zTest(sides.unionKeys(), ra, ca);
      if (sides.unionKeys().length > 2)
        notes.push(`more than 2 categories: the z-test compares "${clip(sides.unionKeys()[0])}" against all others.`);
      return { statistic: result.statistic, pValue: result.pValue };
    }
    case 'jensenshannon': {
      const [a, b] = sides.binned(false);
      return { statistic: jensenShannon(a, b), pValue: null };
    }
    case 'psi': {
      const [a, b] = sides.binned(true);
      return { statistic: psi(a, b), pValue: null };
    }
    case 'kl': {
      const [a, b] = sides.binned(true);
      return { statistic: klDivergence(a, b), pValue: null };
    }
  }
}

/** Drift: a p-value below the threshold (ks: at or below it), or a distance at or above it. */
function isDrifted(method: DriftMethod, statistic: number, pValue: number | null, threshold: number): boolean {
  if (method === 'ks') return (pValue as number) <= threshold;
  if (pValue !== null) return pValue < threshold;
  return statistic >= threshold;
}

/** For each side read through its sketch (when the test used numbers), how close the estimate is. */
function noteSketches(sides: ColumnSides): void {
  for (const [side, column] of [
    ['reference', sides.r],
    ['current', sides.c],
  ] as const) {
    if (column.sketch && sides.sampled) {
      const eps = column.sketch.rankError();
      sides.notes.push(
        `${side}: estimated from a sketch of ${plural(column.sketch.retained, 'value')} (of ${column.sketch.n.toLocaleString('en-US')}): ranks approximate to ±${eps.toPrecision(2)} (KS statistic within ±${eps.toPrecision(2)} from this side; histograms and distances approximate).`,
      );
    }
  }
}
