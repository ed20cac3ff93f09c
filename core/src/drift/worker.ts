/**
 * The drift engine's reader thread (bundled to dist/drift-worker.js): reads one dataset into a
 * DatasetAccumulator, sorts the numbers the report will read sorted, and posts the accumulator back
 * as plain data with its buffers transferred (no copies). read-threads.ts starts one per file, so the
 * two files are parsed and sorted in parallel.
 *
 * Protocol (read-threads.ts's readInWorker): the thread posts { kind: 'started' } as soon as its code is
 * loaded, then { kind: 'done', data } or { kind: 'failed', error } (a DriftError's message, hint,
 * file and line, or another error's message and stack).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { compareColumn, type Prepared } from './compare-column';
import { DriftError } from './errors';
import { ColumnAccumulator, type ColumnSnapshot, DatasetAccumulator } from './infer';
import { readDataset } from './read';
import { releaseSortScratch } from './sort';
import { type ColumnDrift, type DriftBoundary, type DriftOptions } from './types';

export interface DriftWorkerInput {
  path: string;
  exactLimit: number | undefined;
  sketchK: number;
  /** Columns the report compares (null: all): only their numbers are sorted here. */
  columns: string[] | null;
  /** Where the file may be read from (read.ts openDataset). */
  boundary: DriftBoundary | undefined;
  /** After 'done', wait for one 'compare' job (or to be terminated) instead of ending. */
  stay: boolean;
  /** Parquet: decode only these columns (a group of a wide table); null: all. */
  decode: string[] | null;
  /** CSV: the delimiter and the decimal mark (absent: detected). */
  delimiter?: DriftOptions['delimiter'];
  decimal?: DriftOptions['decimal'];
}

/** What compareColumn reads of the options. */
export type CompareOptions = Pick<DriftOptions, 'methods' | 'thresholds' | 'details'>;

/** Columns whose both sides were read, for this thread to compare while the main thread compares others. */
export interface DriftCompareJob {
  kind: 'compare';
  options: CompareOptions;
  columns: { index: number; name: string; reference: ColumnSnapshot; current: ColumnSnapshot; prepared: Prepared }[];
}

export type DriftCompareResult = { index: number; drift: ColumnDrift } | { index: number; error: DriftWorkerFailure };

export interface DriftWorkerFailure {
  drift: boolean;
  message: string;
  hint: string;
  file?: string;
  line?: number;
  stack?: string;
}

export type DriftWorkerMessage =
  | { kind: 'started' }
  | { kind: 'done'; data: ReturnType<DatasetAccumulator['toTransfer']>['data'] }
  | { kind: 'failed'; error: DriftWorkerFailure }
  | { kind: 'compared'; results: DriftCompareResult[] };

/** An error as plain data for postMessage: a DriftError's message, hint, file and line, or another error's message and stack. */
export function failureOf(error: unknown): DriftWorkerFailure {
  if (error instanceof DriftError)
    return { drift: true, message: error.message, hint: error.hint, file: error.file, line: error.line };
  const e = error instanceof Error ? error : new Error(String(error));
  return { drift: false, message: e.message, hint: '', stack: e.stack };
}

/** Runs a compare job: each column as the main thread would compare it, an error per column kept for its turn. */
export function runCompareJob(job: DriftCompareJob): DriftCompareResult[] {
  const results: DriftCompareResult[] = [];
  for (const { index, name, reference, current, prepared } of job.columns) {
    const r = ColumnAccumulator.fromTransfer(reference);
    const c = ColumnAccumulator.fromTransfer(current);
    try {
      results.push({ index, drift: compareColumn(name, r, c, prepared, job.options) });
    } catch (error) {
      results.push({ index, error: failureOf(error) });
    }
    r.dropNumbers();
    c.dropNumbers();
  }
  releaseSortScratch();
  return results;
}

/**
 * Sorts, in place, the exact numbers of the columns the report may read sorted. Integer columns
 * with at most 5 distinct values are categorical (counted from their distinct values), so they
 * are left alone; anything not sorted here is sorted on demand by the report.
 */
export function presortNumbers(sink: DatasetAccumulator, columns: string[] | null): void {
  const wanted = columns ? new Set(columns) : null;
  for (const column of sink.columns.values()) {
    if (column.count === 0 || column.sketch !== null) continue;
    if (wanted && !wanted.has(column.name)) continue;
    if (column.allIntegers && column.distinctNumbers !== null && column.distinctNumbers.size <= 5) continue;
    column.sortValues();
  }
  releaseSortScratch();
}

async function main(port: NonNullable<typeof parentPort>, input: DriftWorkerInput): Promise<void> {
  port.postMessage({ kind: 'started' } satisfies DriftWorkerMessage);
  let message: DriftWorkerMessage;
  let transfer: ArrayBuffer[] = [];
  try {
    const sink = new DatasetAccumulator(input.path, input.exactLimit, input.sketchK);
    await readDataset(input.path, sink, {
      boundary: input.boundary,
      decode: input.decode ? new Set(input.decode) : undefined,
      delimiter: input.delimiter,
      decimal: input.decimal,
      columns: input.columns ?? undefined,
    });
    presortNumbers(sink, input.decode ?? input.columns);
    const snapshot = sink.toTransfer();
    message = { kind: 'done', data: snapshot.data };
    transfer = snapshot.transfer;
  } catch (error) {
    message = { kind: 'failed', error: failureOf(error) };
  }
  if (input.stay && message.kind === 'done') {
    port.once('message', (job: DriftCompareJob) => {
      port.postMessage({ kind: 'compared', results: runCompareJob(job) } satisfies DriftWorkerMessage);
      port.close();
    });
  }
  port.postMessage(message, transfer);
}

if (parentPort) void main(parentPort, workerData as DriftWorkerInput);
