/**
 * The data-drift engine: streams a reference and a current dataset (CSV/TSV, JSON Lines, Parquet)
 * (read-threads.ts), infers column types, compares each column as compare-column.ts says (the
 * test Evidently's default picks, or the one forced per column) and builds the DriftReport of
 * ./types.ts. Dataset drift when the share of drifted columns >= drift_share (default 0.5)
 * (Evidently's `get_dataset_drift`).
 */
import { compareColumn, plural, prepareColumn, type Prepared } from './compare-column';
import { DriftError, throwIfCancelled } from './errors';
import { type ColumnAccumulator, DatasetAccumulator } from './infer';
import { clip, clipList } from './limits';
import { parquetColumnNames } from './read';
import { type CompareHelper, readBothSides, reviveError } from './read-threads';
import { releaseSortScratch } from './sort';
import { DRIFT_METHODS, type ColumnDrift, type DriftOptions, type DriftReport, type SkippedColumn } from './types';
import type { DriftCompareJob } from './worker';

export { DriftCancelled, DriftError } from './errors';
export { defaultThreshold } from './compare-column';
export { driftWorkerStats } from './read-threads';
export { DRIFT_METHODS };

/** Options the tests use to force the sketch path; not part of the CLI. */
export interface EngineOptions extends DriftOptions {
  /** Exact numbers kept per column and side before the sketch takes over. */
  _exactLimit?: number;
  /** Items per sketch level (even). */
  _sketchK?: number;
  /** Read both files on this thread, one after the other (no worker threads). */
  _inProcess?: boolean;
  /** Columns per pass over wide Parquet files (tests make it small). */
  _groupColumns?: number;
  /** Cancels the check: reads stop, reader threads are terminated, computeDrift rejects with DriftCancelled. */
  signal?: AbortSignal;
}

const DEFAULT_SKETCH_K = 32768;

export async function computeDrift(
  referencePath: string,
  currentPath: string,
  options: EngineOptions = {},
): Promise<DriftReport> {
  validateOptions(options);
  const { signal, boundary } = options;
  throwIfCancelled(signal);
  const groups = await parquetGroups(referencePath, currentPath, options);
  if (groups !== null) return computeGrouped(referencePath, currentPath, options, groups);
  const { reference, current, helper } = await readBothSides(referencePath, currentPath, {
    exactLimit: options._exactLimit,
    sketchK: options._sketchK ?? DEFAULT_SKETCH_K,
    columns: options.columns,
    boundary,
    signal,
    inProcess: options._inProcess,
    delimiter: options.delimiter,
    decimal: options.decimal,
  });
  try {
    throwIfCancelled(signal);
    const plan = planReport(reference, current, options);
    const compared = helper
      ? await compareWithHelper(plan.entries, options, helper)
      : compareHere(plan.entries, options);
    return finishReport(reference, current, options, plan, compared);
  } finally {
    helper?.stop();
  }
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
  return buildReport(
    load(reference, paths.reference ?? '(reference)'),
    load(current, paths.current ?? '(current)'),
    options,
  );
}

function validateOptions(options: DriftOptions): void {
  for (const [column, method] of Object.entries(options.methods ?? {})) {
    if (!DRIFT_METHODS.includes(method)) {
      throw new DriftError(
        `unknown drift method "${clip(String(method))}" for column ${clip(column)}`,
        `Use one of: ${DRIFT_METHODS.join(', ')}.`,
      );
    }
  }
  if (options.driftShare !== undefined && !(options.driftShare >= 0 && options.driftShare <= 1)) {
    throw new DriftError(`drift share ${options.driftShare} is not between 0 and 1`, 'Give a share such as 0.5.');
  }
  for (const [column, threshold] of Object.entries(options.thresholds ?? {})) {
    if (!Number.isFinite(threshold) || threshold < 0) {
      throw new DriftError(
        `threshold ${threshold} for column ${clip(column)} is not a non-negative number`,
        'Give a threshold such as 0.05 (p-values) or 0.1 (distances).',
      );
    }
  }
}

function buildReport(reference: DatasetAccumulator, current: DatasetAccumulator, options: EngineOptions): DriftReport {
  const plan = planReport(reference, current, options);
  return finishReport(reference, current, options, plan, compareHere(plan.entries, options));
}

/** A selected column: why it is skipped, or both sides and what they hold. */
type PlanEntry =
  { name: string; skip: string } | { name: string; r: ColumnAccumulator; c: ColumnAccumulator; prepared: Prepared };

interface ReportPlan {
  notes: string[];
  entries: PlanEntry[];
}

/** Each compared column's drift, or the error comparing it threw (thrown in column order by finishReport). */
type Compared = (ColumnDrift | { error: Error } | null)[];

/** The report's notes and, per selected column, what to compare; the option errors first. */
function planReport(reference: DatasetAccumulator, current: DatasetAccumulator, options: EngineOptions): ReportPlan {
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
      throw new DriftError(
        `--method names column ${clip(name)}, which is in neither file`,
        `Columns there: ${clipList(names, 20)}.`,
      );
    }
  }

  const entries: PlanEntry[] = [];
  for (const name of selected) {
    const r = reference.columns.get(name);
    const c = current.columns.get(name);
    if (!r || !c) {
      entries.push({
        name,
        skip: `missing in the ${r ? 'current' : 'reference'} data (${r ? current.path : reference.path})`,
      });
      continue;
    }
    const prepared = prepareColumn(name, r, c, options, reference.path, current.path);
    entries.push('skip' in prepared ? { name, skip: prepared.skip } : { name, r, c, prepared });
  }
  return { notes, entries };
}

/** Compares the entries on this thread, one after the other, each column's numbers let go once it is done. */
function compareHere(entries: PlanEntry[], options: EngineOptions, only?: (index: number) => boolean): Compared {
  const compared: Compared = entries.map(() => null);
  entries.forEach((entry, index) => {
    if ('skip' in entry || (only && !only(index))) return;
    try {
      compared[index] = compareColumn(entry.name, entry.r, entry.c, entry.prepared, options);
    } catch (error) {
      compared[index] = { error: error instanceof Error ? error : new Error(String(error)) };
    }
    entry.r.dropNumbers();
    entry.c.dropNumbers();
  });
  releaseSortScratch();
  return compared;
}

/** What comparing a column costs, about: its numbers (sorted already), or little for categories. */
function compareCost(entry: PlanEntry): number {
  if ('skip' in entry) return 0;
  const numbers = (column: ColumnAccumulator): number => (column.sketch ? column.sketch.retained : column.count);
  return entry.prepared.numbers ? numbers(entry.r) + numbers(entry.c) : 0;
}

/**
 * Compares the numeric columns on two threads: the helper (a reader thread that stayed) takes
 * about half of their numbers, moved to it without copies, while this thread compares the rest.
 * Each column is compared by the same code on the same values, so the report is the same.
 */
async function compareWithHelper(
  entries: PlanEntry[],
  options: EngineOptions,
  helper: CompareHelper,
): Promise<Compared> {
  const costs = entries.map(compareCost);
  const order = entries.map((_, index) => index).filter((index) => costs[index] > 0);
  order.sort((a, b) => costs[b] - costs[a] || a - b);
  const theirs = new Set<number>();
  let mine = 0;
  let helped = 0;
  for (const index of order) {
    if (helped < mine) {
      theirs.add(index);
      helped += costs[index];
    } else mine += costs[index];
  }
  if (theirs.size === 0) return compareHere(entries, options);
  const job: DriftCompareJob = {
    kind: 'compare',
    options: { methods: options.methods, thresholds: options.thresholds, details: options.details },
    columns: [],
  };
  const transfer: ArrayBuffer[] = [];
  for (const index of theirs) {
    const entry = entries[index];
    if ('skip' in entry) continue;
    const reference = entry.r.toTransfer();
    const current = entry.c.toTransfer();
    job.columns.push({
      index,
      name: entry.name,
      reference: reference.data,
      current: current.data,
      prepared: entry.prepared,
    });
    transfer.push(...reference.transfer, ...current.transfer);
    entry.r.dropNumbers();
    entry.c.dropNumbers();
  }
  const results = helper.compare(job, transfer);
  // compared here meanwhile; the helper's answer is awaited after
  results.catch(() => undefined);
  const compared = compareHere(entries, options, (index) => !theirs.has(index));
  for (const result of await results) {
    compared[result.index] = 'error' in result ? { error: reviveError(result.error) } : result.drift;
  }
  return compared;
}

/** The report: the compared columns in order (the first column whose comparison failed throws its error), the skipped ones and the totals. */
function finishReport(
  reference: DatasetAccumulator,
  current: DatasetAccumulator,
  options: EngineOptions,
  plan: ReportPlan,
  compared: Compared,
): DriftReport {
  const driftShare = options.driftShare ?? 0.5;
  const columns: ColumnDrift[] = [];
  const skipped: SkippedColumn[] = [];
  plan.entries.forEach((entry, index) => {
    if ('skip' in entry) {
      skipped.push({ column: entry.name, reason: entry.skip });
      return;
    }
    const result = compared[index];
    if (result === null) throw new Error(`column ${clip(entry.name)} was not compared`);
    if ('error' in result) throw result.error;
    columns.push(result);
  });
  return assembleReport(reference, current, driftShare, plan.notes, columns, skipped);
}

function assembleReport(
  reference: { path: string; rows: number },
  current: { path: string; rows: number },
  driftShare: number,
  notes: string[],
  columns: ColumnDrift[],
  skipped: SkippedColumn[],
): DriftReport {
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

/** Columns read in one pass over two wide Parquet files: what a check holds in memory is their numbers and sketches. */
const GROUP_COLUMNS = 100;

/**
 * The compared columns of two Parquet files in groups of GROUP_COLUMNS when there are more (in
 * the report's order); null otherwise (or for other formats, which are read in one pass).
 */
async function parquetGroups(
  referencePath: string,
  currentPath: string,
  options: EngineOptions,
): Promise<string[][] | null> {
  const referenceNames = await parquetColumnNames(referencePath, options.boundary);
  if (referenceNames === null) return null;
  const currentNames = await parquetColumnNames(currentPath, options.boundary);
  if (currentNames === null) return null;
  const names = [...referenceNames];
  const known = new Set(referenceNames);
  for (const name of currentNames) if (!known.has(name)) names.push(name);
  const selected = options.columns && options.columns.length > 0 ? options.columns : names;
  const size = options._groupColumns ?? GROUP_COLUMNS;
  if (selected.length <= size) return null;
  const groups: string[][] = [];
  for (let i = 0; i < selected.length; i += size) groups.push(selected.slice(i, i + size));
  return groups;
}

/**
 * Wide Parquet files a group of columns at a time: each pass reads both files (every column
 * registered and checked, only the group's decoded), compares the group and lets its numbers go.
 * Each column is read and compared as in one pass, and the option checks see every column, so
 * the report is the same; memory holds one group's columns instead of all of them.
 */
async function computeGrouped(
  referencePath: string,
  currentPath: string,
  options: EngineOptions,
  groups: string[][],
): Promise<DriftReport> {
  const { signal, boundary } = options;
  const columns: ColumnDrift[] = [];
  const skipped: SkippedColumn[] = [];
  let notes: string[] | null = null;
  let sides: [{ path: string; rows: number }, { path: string; rows: number }] | null = null;
  let first = 0;
  for (const group of groups) {
    throwIfCancelled(signal);
    const { reference, current, helper } = await readBothSides(referencePath, currentPath, {
      exactLimit: options._exactLimit,
      sketchK: options._sketchK ?? DEFAULT_SKETCH_K,
      columns: options.columns,
      boundary,
      signal,
      inProcess: options._inProcess,
      decode: group,
    });
    try {
      throwIfCancelled(signal);
      const plan = planReport(reference, current, options);
      // the group's entries: the report's columns at these positions
      const entries = plan.entries.slice(first, first + group.length);
      first += group.length;
      const compared = helper ? await compareWithHelper(entries, options, helper) : compareHere(entries, options);
      const part = finishReport(reference, current, options, { notes: plan.notes, entries }, compared);
      columns.push(...part.columns);
      skipped.push(...part.skipped);
      notes ??= part.notes;
      sides ??= [
        { path: reference.path, rows: reference.rows },
        { path: current.path, rows: current.rows },
      ];
    } finally {
      helper?.stop();
    }
  }
  const [reference, current] = sides as [{ path: string; rows: number }, { path: string; rows: number }];
  return assembleReport(reference, current, options.driftShare ?? 0.5, notes ?? [], columns, skipped);
}
