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
import { DriftError } from './errors';
import { DatasetAccumulator } from './infer';
import { readDataset } from './read';
import { releaseSortScratch } from './sort';
import { type DriftBoundary } from './types';

export interface DriftWorkerInput {
  path: string;
  exactLimit: number | undefined;
  sketchK: number;
  /** Columns the report compares (null: all): only their numbers are sorted here. */
  columns: string[] | null;
  /** Where the file may be read from (read.ts openDataset). */
  boundary: DriftBoundary | undefined;
}

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
  | { kind: 'failed'; error: DriftWorkerFailure };

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
    await readDataset(input.path, sink, { boundary: input.boundary });
    presortNumbers(sink, input.columns);
    const snapshot = sink.toTransfer();
    message = { kind: 'done', data: snapshot.data };
    transfer = snapshot.transfer;
  } catch (error) {
    if (error instanceof DriftError) {
      message = {
        kind: 'failed',
        error: { drift: true, message: error.message, hint: error.hint, file: error.file, line: error.line },
      };
    } else {
      const e = error instanceof Error ? error : new Error(String(error));
      message = { kind: 'failed', error: { drift: false, message: e.message, hint: '', stack: e.stack } };
    }
  }
  port.postMessage(message, transfer);
}

if (parentPort) void main(parentPort, workerData as DriftWorkerInput);
