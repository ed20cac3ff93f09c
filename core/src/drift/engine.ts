/**
 * The data-drift engine: streams a reference and a current dataset (CSV/TSV, JSON Lines, Parquet),
 * infers column types, picks a statistical test per column as Evidently's default does (or the one
 * forced per column) and builds the DriftReport of ./types.ts.
 *
 * Default test (Evidently legacy `stattests/registry.py::_get_default_stattest`; n = non-missing
 * reference values, u = distinct values of both sides together):
 * - n <= 1000: numeric with u > 5 -> ks; numeric with u <= 5 and categorical -> chisquare when
 *   u > 2, else z.
 * - n > 1000: numeric with u > 5 -> wasserstein (normed); numeric with u <= 5 and categorical ->
 *   jensenshannon.
 * Thresholds: 0.05 for ks/chisquare/z (p-values), 0.1 for the distances. Dataset drift when the
 * share of drifted columns >= drift_share (default 0.5) (Evidently's `get_dataset_drift`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DriftCancelled, DriftError, throwIfCancelled } from './errors';
import {
  DatasetAccumulator,
  DISTINCT_NUMBER_CAP,
  DISTINCT_STRING_CAP,
  MIXED_STRING_SHARE,
  numberKey,
  type ColumnAccumulator,
} from './infer';
import {
  categoryShares,
  chiSquare,
  fillZeroes,
  histogramCounts,
  histogramShares,
  jensenShannon,
  klDivergence,
  ks2samp,
  linspace,
  populationStd,
  psi,
  sortKeys,
  sturgesEdges,
  wassersteinNormed,
  zTest,
  type NumericSample,
} from './methods';
import { clip, clipList } from './limits';
import { readDataset } from './read';
import { releaseSortScratch } from './sort';
import type { DriftWorkerFailure, DriftWorkerInput, DriftWorkerMessage } from './worker';
import { DRIFT_METHODS, type CategoryDetail, type ColumnDrift, type ColumnKind, type DriftMethod, type DriftOptions, type DriftReport, type HistogramDetail, type SkippedColumn } from './types';

export { DriftCancelled, DriftError } from './errors';
export { DRIFT_METHODS };

/** Options the tests use to force the sketch path; not part of the CLI. */
export interface EngineOptions extends DriftOptions {
  /** Exact numbers kept per column and side before the sketch takes over. */
  _exactLimit?: number;
  /** Items per sketch level (even). */
  _sketchK?: number;
  /** Read both files on this thread, one after the other (no worker threads). */
  _inProcess?: boolean;
  /** Cancels the check: reads stop, reader threads are terminated, computeDrift rejects with DriftCancelled. */
  signal?: AbortSignal;
}


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

const DEFAULT_SKETCH_K = 32768;
const MAX_CATEGORIES_SHOWN = 30;
const MAX_ECDF_POINTS = 200;
const MAX_LABEL_CHARS = 200;

export async function computeDrift(referencePath: string, currentPath: string, options: EngineOptions = {}): Promise<DriftReport> {
  validateOptions(options);
  const { signal, boundary } = options;
  throwIfCancelled(signal);
  const sketchK = options._sketchK ?? DEFAULT_SKETCH_K;
  const entry = options._inProcess ? null : driftWorkerEntry();
  if (entry === null) {
    const reference = new DatasetAccumulator(referencePath, options._exactLimit, sketchK);
    const current = new DatasetAccumulator(currentPath, options._exactLimit, sketchK);
    await readDataset(referencePath, reference, { boundary, signal });
    await readDataset(currentPath, current, { boundary, signal });
    throwIfCancelled(signal);
    return buildReport(reference, current, options);
  }
  const input = (path: string): DriftWorkerInput => ({
    path,
    exactLimit: options._exactLimit,
    sketchK,
    columns: options.columns && options.columns.length > 0 ? [...options.columns] : null,
    boundary: boundary ? { ...boundary } : undefined,
  });
  const reference = readInWorker(entry, input(referencePath), signal);
  const current = readInWorker(entry, input(currentPath), signal);
  // the reference's error first, as when the files are read one after the other
  current.result.catch(() => undefined);
  let referenceData: DatasetAccumulator;
  try {
    referenceData = await reference.result;
  } catch (error) {
    current.stop();
    throw error;
  }
  const currentData = await current.result;
  throwIfCancelled(signal);
  return buildReport(referenceData, currentData, options);
}

/** How to start the reader thread: the bundled dist/drift-worker.js, or worker.ts under tsx. */
interface WorkerEntry {
  filename: string;
  eval: boolean;
}

let cachedEntry: WorkerEntry | null | undefined;

/** Reader threads that started (the tests check that the worker path, not the fallback, ran). */
export const driftWorkerStats = { started: 0 };

function driftWorkerEntry(): WorkerEntry | null {
  if (cachedEntry !== undefined) return cachedEntry;
  cachedEntry = null;
  // bundled: dist/cli.js (or another bundle in dist/) next to dist/drift-worker.js
  const bundled = join(__dirname, 'drift-worker.js');
  if (existsSync(bundled)) cachedEntry = { filename: bundled, eval: false };
  else if (__filename.endsWith('.ts')) {
    // from sources (tests under tsx): Node 20 loads a worker's main file before its --import
    // hooks, so a .ts file cannot be the worker's file; register tsx's require hook first.
    const source = join(__dirname, 'worker.ts');
    try {
      const tsx = require.resolve('tsx/cjs');
      if (existsSync(source)) cachedEntry = { filename: `require(${JSON.stringify(tsx)});\nrequire(${JSON.stringify(source)});`, eval: true };
    } catch {
      // no tsx: read in process
    }
  }
  return cachedEntry;
}

/** One file read in a worker thread; falls back to this thread when the worker cannot start. */
function readInWorker(entry: WorkerEntry, input: DriftWorkerInput, signal: AbortSignal | undefined): { result: Promise<DatasetAccumulator>; stop: () => void } {
  const inProcess = async (): Promise<DatasetAccumulator> => {
    const sink = new DatasetAccumulator(input.path, input.exactLimit, input.sketchK);
    await readDataset(input.path, sink, { boundary: input.boundary, signal });
    return sink;
  };
  let worker: Worker;
  try {
    worker = new Worker(entry.filename, { eval: entry.eval, workerData: input });
  } catch {
    return { result: inProcess(), stop: () => undefined };
  }
  let stopped = false;
  const result = new Promise<DatasetAccumulator>((resolve, reject) => {
    let started = false;
    let settled = false;
    worker.on('message', (message: DriftWorkerMessage) => {
      if (message.kind === 'started') {
        started = true;
        driftWorkerStats.started++;
        return;
      }
      settled = true;
      if (message.kind === 'done') resolve(DatasetAccumulator.fromTransfer(message.data));
      else reject(reviveError(message.error));
    });
    const crashed = (why: string): void => {
      if (settled) return;
      settled = true;
      if (stopped) {
        reject(new Error(`${input.path}: reading stopped`));
        return;
      }
      // a worker that never ran (its file did not load): read here instead
      if (!started) {
        inProcess().then(resolve, reject);
        return;
      }
      reject(
        new DriftError(
          `${input.path}: reading stopped unexpectedly (the reader thread ${why})`,
          'Check that the machine has enough free memory and run again; if it happens again, report it as a bug.',
          input.path,
        ),
      );
    };
    // Cancelled: the thread is terminated wherever it is (in a read, a sort) and the check ends now.
    const cancel = (): void => {
      stopped = true;
      void worker.terminate();
      if (settled) return;
      settled = true;
      reject(new DriftCancelled());
    };
    signal?.addEventListener('abort', cancel, { once: true });
    worker.on('error', (error: Error) => crashed(`failed: ${error.message}`));
    worker.on('exit', (code) => {
      signal?.removeEventListener('abort', cancel);
      crashed(`exited with code ${code}`);
    });
  });
  return {
    result,
    stop: () => {
      stopped = true;
      void worker.terminate();
    },
  };
}

/** The error a worker reported, as thrown in process: the same DriftError, or an Error with its message and stack. */
function reviveError(failure: DriftWorkerFailure): Error {
  if (failure.drift) return new DriftError(failure.message, failure.hint, failure.file, failure.line);
  const error = new Error(failure.message);
  if (failure.stack) error.stack = failure.stack;
  return error;
}

export type ColumnValues = ArrayLike<number | string | boolean | null | undefined>;

/**
 * The same report from in-memory columns (tests, callers that already hold data). Numbers that
 * are integers count as integer-typed (as a pandas int64 column); strings are categories as given.
 */
export function computeDriftFromColumns(
  reference: Record<string, ColumnValues>,
  current: Record<string, ColumnValues>,
  options: EngineOptions = {},
  paths: { reference?: string; current?: string } = {},
): DriftReport {
  validateOptions(options);
  const sketchK = options._sketchK ?? DEFAULT_SKETCH_K;
  const load = (data: Record<string, ColumnValues>, path: string): DatasetAccumulator => {
    const sink = new DatasetAccumulator(path, options._exactLimit, sketchK);
    const names = Object.keys(data);
    sink.setColumnCount(names.length);
    let rows = 0;
    for (const name of names) rows = Math.max(rows, data[name].length);
    for (const name of names) {
      const column = sink.column(name);
      const values = data[name];
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v === null || v === undefined) column.missing++;
        else if (typeof v === 'number') column.addNumber(v, Number.isInteger(v));
        else if (typeof v === 'boolean') column.addString(String(v), i + 2);
        else column.addString(v, i + 2);
      }
      column.missing += rows - values.length;
    }
    sink.rows = rows;
    return sink;
  };
  return buildReport(load(reference, paths.reference ?? '(reference)'), load(current, paths.current ?? '(current)'), options);
}

function validateOptions(options: DriftOptions): void {
  for (const [column, method] of Object.entries(options.methods ?? {})) {
    if (!DRIFT_METHODS.includes(method)) {
      throw new DriftError(`unknown drift method "${clip(String(method))}" for column ${clip(column)}`, `Use one of: ${DRIFT_METHODS.join(', ')}.`);
    }
  }
  if (options.driftShare !== undefined && !(options.driftShare >= 0 && options.driftShare <= 1)) {
    throw new DriftError(`drift share ${options.driftShare} is not between 0 and 1`, 'Give a share such as 0.5.');
  }
  for (const [column, threshold] of Object.entries(options.thresholds ?? {})) {
    if (!Number.isFinite(threshold) || threshold < 0) {
      throw new DriftError(`threshold ${threshold} for column ${clip(column)} is not a non-negative number`, 'Give a threshold such as 0.05 (p-values) or 0.1 (distances).');
    }
  }
}

/** What a column holds once both sides are in. */
interface Prepared {
  kind: ColumnKind;
  /** Values are numbers (numeric tests possible) or strings. */
  numbers: boolean;
  refRows: number;
  curRows: number;
  notes: string[];
  reason: string;
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;
}

function distinctNumberUnion(r: ColumnAccumulator, c: ColumnAccumulator): number {
  if (r.distinctNumbers === null || c.distinctNumbers === null) return DISTINCT_NUMBER_CAP + 1;
  const all = new Set<number>(r.distinctNumbers.keys());
  for (const k of c.distinctNumbers.keys()) all.add(k);
  return all.size;
}

function buildReport(reference: DatasetAccumulator, current: DatasetAccumulator, options: EngineOptions): DriftReport {
  const driftShare = options.driftShare ?? 0.5;
  const notes: string[] = [];
  for (const side of [reference, current]) {
    if (side.shortRows > 0) {
      notes.push(
        `${side.path}: ${plural(side.shortRows, 'row')} had fewer fields than the header (first at line ${side.firstShortLine}); the missing fields count as missing values.`,
      );
    }
    if (side.longRows > 0) {
      notes.push(
        `${side.path}: ${plural(side.longRows, 'row')} had more fields than the header and were skipped (first at line ${side.firstLongLine}).`,
      );
    }
  }

  const names: string[] = [...reference.columns.keys()];
  for (const name of current.columns.keys()) if (!reference.columns.has(name)) names.push(name);
  let selected = names;
  if (options.columns && options.columns.length > 0) {
    const unknown = options.columns.filter((c) => !reference.columns.has(c) && !current.columns.has(c));
    if (unknown.length > 0) {
      throw new DriftError(
        `column${unknown.length > 1 ? 's' : ''} ${clipList(unknown)} not found in ${reference.path} or ${current.path}`,
        `Columns there: ${clipList(names, 20)}.`,
      );
    }
    selected = options.columns;
  }
  for (const name of Object.keys(options.methods ?? {})) {
    if (!reference.columns.has(name) && !current.columns.has(name)) {
      throw new DriftError(`--method names column ${clip(name)}, which is in neither file`, `Columns there: ${clipList(names, 20)}.`);
    }
  }

  const columns: ColumnDrift[] = [];
  const skipped: SkippedColumn[] = [];
  for (const name of selected) {
    const r = reference.columns.get(name);
    const c = current.columns.get(name);
    if (!r || !c) {
      skipped.push({ column: name, reason: `missing in the ${r ? 'current' : 'reference'} data (${r ? current.path : reference.path})` });
      continue;
    }
    const prepared = prepare(name, r, c, options, reference.path, current.path);
    if ('skip' in prepared) {
      skipped.push({ column: name, reason: prepared.skip });
      continue;
    }
    columns.push(compareColumn(name, r, c, prepared, options));
    // the numbers are not needed any more: let the memory go before the next column
    r.dropNumbers();
    c.dropNumbers();
  }
  releaseSortScratch();

  const drifted = columns.filter((c) => c.drifted).length;
  const share = columns.length > 0 ? drifted / columns.length : 0;
  return {
    version: 1,
    dataset_drift: columns.length > 0 && share >= driftShare,
    drift_share: driftShare,
    share_of_drifted_columns: share,
    number_of_columns: columns.length,
    number_of_drifted_columns: drifted,
    columns,
    skipped,
    reference: { path: reference.path, rows: reference.rows },
    current: { path: current.path, rows: current.rows },
    notes,
  };
}

function prepare(
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
  } else {
    if (forcedNum) return { skip: `forced numeric, but its values are text (e.g. "${clip((r.stringCount > 0 ? r : c).firstString)}")` };
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
    const ints = r.allIntegers && c.allIntegers;
    const distinct = r.numericCount > 0 ? r.distinctNumbers : c.distinctNumbers;
    const nunique = distinct === null ? DISTINCT_NUMBER_CAP + 1 : distinct.size;
    if (ints && nunique <= 5) {
      kind = 'cat';
      reason = `categorical: integers with ${nunique} distinct values (<= 5)`;
    } else {
      kind = 'num';
      reason = ints ? 'numeric: integers with more than 5 distinct values' : 'numeric';
    }
  } else {
    kind = 'cat';
    reason = 'categorical: text values';
    if (r.strings === null || c.strings === null) {
      return { skip: `text-like: more than ${DISTINCT_STRING_CAP.toLocaleString('en-US')} distinct values (ids or free text are not compared)` };
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

/** The numbers of one side as a sorted sample (exact) or the sketch's weighted items. */
function numericSample(column: ColumnAccumulator): NumericSample {
  if (column.sketch) {
    const { values, weights } = column.sketch.weighted();
    return { values, weights, n: column.sketch.n };
  }
  return { values: column.sortValues(), n: column.count };
}

/** Counts per category key; numbers keyed by their canonical text. */
function categoryCounts(column: ColumnAccumulator, numbers: boolean, sample: () => NumericSample): { counts: Map<string, number>; approximate: boolean } {
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

function compareColumn(name: string, r: ColumnAccumulator, c: ColumnAccumulator, prep: Prepared, options: EngineOptions): ColumnDrift {
  const notes = [...prep.notes];
  let refSample: NumericSample | null = null;
  let curSample: NumericSample | null = null;
  const refNumeric = (): NumericSample => (refSample ??= numericSample(r));
  const curNumeric = (): NumericSample => (curSample ??= numericSample(c));
  let refCounts: Map<string, number> | null = null;
  let curCounts: Map<string, number> | null = null;
  const counts = (): [Map<string, number>, Map<string, number>] => {
    if (!refCounts || !curCounts) {
      const a = categoryCounts(r, prep.numbers, refNumeric);
      const b = categoryCounts(c, prep.numbers, curNumeric);
      refCounts = a.counts;
      curCounts = b.counts;
      if (a.approximate || b.approximate) notes.push('category counts of the numbers estimated from the quantile sketch.');
    }
    return [refCounts, curCounts];
  };
  const unionKeys = (): string[] => {
    const [a, b] = counts();
    const keys = new Set<string>(a.keys());
    for (const k of b.keys()) keys.add(k);
    return sortKeys([...keys], prep.numbers);
  };

  // distinct values of both sides together
  const distinctUnion = (): number => {
    if (prep.numbers) return distinctNumberUnion(r, c);
    return unionKeys().length;
  };

  const forced = options.methods?.[name];
  let method: DriftMethod;
  let methodReason: string;
  if (forced) {
    if (NUMERIC_ONLY.has(forced) && !prep.numbers) {
      throw new DriftError(
        `method ${forced} needs numbers, but column ${clip(name)} holds text`,
        `Use chisquare, z, jensenshannon, psi or kl for ${clip(name)}.`,
      );
    }
    method = forced;
    methodReason = `${METHOD_NAMES[forced]} (forced); column ${prep.reason}`;
  } else {
    const u = distinctUnion();
    const uText = u > DISTINCT_NUMBER_CAP && prep.numbers ? `more than ${DISTINCT_NUMBER_CAP}` : String(u);
    const small = prep.refRows <= 1000;
    const rowsText = `${plural(prep.refRows, 'reference value')} (${small ? '<= 1000' : '> 1000'})`;
    if (small) {
      if (prep.kind === 'num' && u > 5) method = 'ks';
      else method = u > 2 ? 'chisquare' : 'z';
    } else if (prep.kind === 'num' && u > 5) method = 'wasserstein';
    else method = 'jensenshannon';
    methodReason = `default: ${prep.kind === 'num' ? 'numeric' : 'categorical'}, ${rowsText}, ${uText} distinct values -> ${METHOD_NAMES[method]}; column ${prep.reason}`;
  }

  const threshold = options.thresholds?.[name] ?? defaultThreshold(method);
  let statistic = 0;
  let pValue: number | null = null;

  // Numeric binning as Evidently's get_binned_data: Sturges bins over both sides when the reference
  // has more than 20 distinct numbers, else shares per value.
  const binned = (feelZeroes: boolean): [number[], number[]] => {
    let shares: [number[], number[]];
    const refDistinct = r.distinctNumbers === null ? DISTINCT_NUMBER_CAP + 1 : r.distinctNumbers.size;
    if (prep.numbers && prep.kind === 'num' && refDistinct > 20) {
      const a = refNumeric();
      const b = curNumeric();
      const edges = sturgesEdges(Math.min(r.min, c.min), Math.max(r.max, c.max), a.n + b.n);
      shares = histogramShares(a, b, edges);
    } else {
      const [ra, ca] = counts();
      shares = categoryShares(unionKeys(), ra, ca);
    }
    return feelZeroes ? [fillZeroes(shares[0]), fillZeroes(shares[1])] : shares;
  };

  switch (method) {
    case 'ks': {
      const result = ks2samp(refNumeric(), curNumeric());
      statistic = result.statistic;
      pValue = result.pValue;
      break;
    }
    case 'wasserstein': {
      const a = refNumeric();
      const std = r.sketch ? r.streamingStd() : populationStd(a.values);
      statistic = wassersteinNormed(a, curNumeric(), std);
      if (!(std >= 0.001)) {
        notes.push(`reference standard deviation is ${std === 0 ? '0 (constant column)' : std.toPrecision(3)}: the distance is divided by 0.001 instead, as Evidently does.`);
      }
      break;
    }
    case 'chisquare': {
      const [ra, ca] = counts();
      const keys = unionKeys();
      const unseen = keys.filter((k) => !ra.has(k));
      const result = chiSquare(keys, ra, ca);
      if (keys.length < 2) {
        statistic = 0;
        pValue = 1;
        notes.push('only one category on both sides: nothing to compare (p-value 1).');
      } else if (!Number.isFinite(result.statistic)) {
        statistic = Number.MAX_VALUE;
        pValue = 0;
        notes.push(
          `categories missing from the reference: ${unseen.slice(0, 5).map((k) => `"${clip(k)}"`).join(', ')}${unseen.length > 5 ? ` and ${unseen.length - 5} more` : ''}; their expected count is 0, so the chi-square statistic is infinite (shown as ${Number.MAX_VALUE}) and p = 0, as in Evidently.`,
        );
      } else {
        statistic = result.statistic;
        pValue = result.pValue;
      }
      break;
    }
    case 'z': {
      const [ra, ca] = counts();
      const result = zTest(unionKeys(), ra, ca);
      statistic = result.statistic;
      pValue = result.pValue;
      if (unionKeys().length > 2) notes.push(`more than 2 categories: the z-test compares "${clip(unionKeys()[0])}" against all others.`);
      break;
    }
    case 'jensenshannon': {
      const [a, b] = binned(false);
      statistic = jensenShannon(a, b);
      break;
    }
    case 'psi': {
      const [a, b] = binned(true);
      statistic = psi(a, b);
      break;
    }
    case 'kl': {
      const [a, b] = binned(true);
      statistic = klDivergence(a, b);
      break;
    }
  }

  const score = pValue ?? statistic;
  let drifted: boolean;
  if (method === 'ks') drifted = (pValue as number) <= threshold;
  else if (pValue !== null) drifted = pValue < threshold;
  else drifted = statistic >= threshold;

  for (const [side, column] of [
    ['reference', r],
    ['current', c],
  ] as const) {
    if (column.sketch && (refSample || curSample)) {
      const eps = column.sketch.rankError();
      notes.push(
        `${side}: estimated from a sketch of ${plural(column.sketch.retained, 'value')} (of ${column.sketch.n.toLocaleString('en-US')}): ranks approximate to ±${eps.toPrecision(2)} (KS statistic within ±${eps.toPrecision(2)} from this side; histograms and distances approximate).`,
      );
    }
  }

  const result: ColumnDrift = {
    column: name,
    type: prep.kind,
    method,
    statistic,
    p_value: pValue,
    score,
    threshold,
    drifted,
    reference_rows: prep.refRows,
    current_rows: prep.curRows,
    method_reason: methodReason,
    notes,
  };
  if (options.details !== false) {
    result.details =
      prep.kind === 'num' && prep.numbers
        ? histogramDetail(refNumeric(), curNumeric(), Math.min(r.min, c.min), Math.max(r.max, c.max))
        : categoryDetail(...counts());
  }
  return result;
}

function histogramDetail(a: NumericSample, b: NumericSample, min: number, max: number): HistogramDetail {
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

function categoryDetail(ref: Map<string, number>, cur: Map<string, number>): CategoryDetail {
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
  const categories = shown.map((k) => (k.length > MAX_LABEL_CHARS ? `${k.slice(0, MAX_LABEL_CHARS)}… (${k.length.toLocaleString('en-US')} characters)` : k));
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
