/**
 * Reading the two datasets of a drift check: each in its own reader thread (worker.ts, bundled as
 * dist/drift-worker.js), so both files are parsed and sorted in parallel; on this thread, one after
 * the other, when no reader thread can start (or a test asks for it).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DriftCancelled, DriftError } from './errors';
import { DatasetAccumulator } from './infer';
import { readDataset } from './read';
import type {
  DriftCompareJob,
  DriftCompareResult,
  DriftWorkerFailure,
  DriftWorkerInput,
  DriftWorkerMessage,
} from './worker';
import { type DriftBoundary, type DriftOptions } from './types';

/** How both sides are read. */
export interface ReadSidesOptions {
  /** Exact numbers kept per column and side before the sketch takes over. */
  exactLimit: number | undefined;
  /** Items per sketch level (even). */
  sketchK: number;
  /** Columns the report compares (absent or empty: all): a reader thread sorts only their numbers. */
  columns?: readonly string[];
  boundary?: DriftBoundary;
  signal?: AbortSignal;
  /** Read both files on this thread, one after the other (no reader threads). */
  inProcess?: boolean;
  /** Parquet: decode only these columns (a group of a wide table). */
  decode?: readonly string[];
  /** CSV: the delimiter and the decimal mark (absent: detected). */
  delimiter?: DriftOptions['delimiter'];
  decimal?: DriftOptions['decimal'];
}

/**
 * A reader thread kept after its read: it compares the columns it is given (with their buffers
 * transferred) while the main thread compares the others. Used once, or stopped.
 */
export interface CompareHelper {
  compare(job: DriftCompareJob, transfer: ArrayBuffer[]): Promise<DriftCompareResult[]>;
  stop(): void;
}

/** Both sides as read, and the reader thread that stayed to help compare (none when read here). */
export interface BothSides {
  reference: DatasetAccumulator;
  current: DatasetAccumulator;
  helper: CompareHelper | null;
}

/** Both datasets read: in reader threads when they start, else here. The reference's error comes first, as when the files are read one after the other. */
export async function readBothSides(
  referencePath: string,
  currentPath: string,
  options: ReadSidesOptions,
): Promise<BothSides> {
  const { signal, boundary, sketchK } = options;
  const entry = options.inProcess ? null : driftWorkerEntry();
  if (entry === null) {
    const reference = new DatasetAccumulator(referencePath, options.exactLimit, sketchK);
    const current = new DatasetAccumulator(currentPath, options.exactLimit, sketchK);
    const decode = options.decode ? new Set(options.decode) : undefined;
    const { delimiter, decimal, columns } = options;
    await readDataset(referencePath, reference, { boundary, signal, decode, delimiter, decimal, columns });
    await readDataset(currentPath, current, { boundary, signal, decode, delimiter, decimal, columns });
    return { reference, current, helper: null };
  }
  const input = (path: string, stay: boolean): DriftWorkerInput => ({
    path,
    exactLimit: options.exactLimit,
    sketchK,
    columns: options.columns && options.columns.length > 0 ? [...options.columns] : null,
    boundary: boundary ? { ...boundary } : undefined,
    stay,
    decode: options.decode ? [...options.decode] : null,
    delimiter: options.delimiter,
    decimal: options.decimal,
  });
  const reference = readInWorker(entry, input(referencePath, false), signal);
  const current = readInWorker(entry, input(currentPath, true), signal);
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
  return { reference: referenceData, current: currentData, helper: current.helper };
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
      if (existsSync(source))
        cachedEntry = { filename: `require(${JSON.stringify(tsx)});\nrequire(${JSON.stringify(source)});`, eval: true };
    } catch {
      // no tsx: read in process
    }
  }
  return cachedEntry;
}

/** One file read in a worker thread; falls back to this thread when the worker cannot start. */
function readInWorker(
  entry: WorkerEntry,
  input: DriftWorkerInput,
  signal: AbortSignal | undefined,
): { result: Promise<DatasetAccumulator>; stop: () => void; helper: CompareHelper | null } {
  const inProcess = async (): Promise<DatasetAccumulator> => {
    const sink = new DatasetAccumulator(input.path, input.exactLimit, input.sketchK);
    const decode = input.decode ? new Set(input.decode) : undefined;
    await readDataset(input.path, sink, {
      boundary: input.boundary,
      signal,
      decode,
      delimiter: input.delimiter,
      decimal: input.decimal,
      columns: input.columns ?? undefined,
    });
    return sink;
  };
  let worker: Worker;
  try {
    worker = new Worker(entry.filename, { eval: entry.eval, workerData: input });
  } catch {
    return { result: inProcess(), stop: () => undefined, helper: null };
  }
  let stopped = false;
  // set once the read is done, while a compare job is out
  let pending: { resolve: (results: DriftCompareResult[]) => void; reject: (error: Error) => void } | null = null;
  let helps = false;
  const result = new Promise<DatasetAccumulator>((resolve, reject) => {
    let started = false;
    let settled = false;
    worker.on('message', (message: DriftWorkerMessage) => {
      if (message.kind === 'started') {
        started = true;
        driftWorkerStats.started++;
        return;
      }
      if (message.kind === 'compared') {
        const job = pending;
        pending = null;
        job?.resolve(message.results);
        return;
      }
      settled = true;
      if (message.kind === 'done') {
        helps = input.stay;
        resolve(DatasetAccumulator.fromTransfer(message.data));
      } else reject(reviveError(message.error));
    });
    const crashed = (why: string): void => {
      if (pending) {
        const job = pending;
        pending = null;
        job.reject(
          new DriftError(
            `${input.path}: comparing stopped unexpectedly (the helper thread ${why})`,
            'Check that the machine has enough free memory and run again; if it happens again, report it as a bug.',
          ),
        );
      }
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
      if (pending) {
        const job = pending;
        pending = null;
        job.reject(new DriftCancelled());
      }
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
  const stop = (): void => {
    stopped = true;
    void worker.terminate();
  };
  const helper: CompareHelper | null = input.stay
    ? {
        compare: (job, transfer) => {
          if (!helps || stopped || pending)
            return Promise.reject(new Error('the helper thread is not there to compare'));
          return new Promise<DriftCompareResult[]>((resolve, reject) => {
            pending = { resolve, reject };
            worker.postMessage(job, transfer);
          });
        },
        stop,
      }
    : null;
  return { result, stop, helper };
}

/** The error a worker reported, as thrown in process: the same DriftError, or an Error with its message and stack. */
export function reviveError(failure: DriftWorkerFailure): Error {
  if (failure.drift) return new DriftError(failure.message, failure.hint, failure.file, failure.line);
  const error = new Error(failure.message);
  if (failure.stack) error.stack = failure.stack;
  return error;
}
