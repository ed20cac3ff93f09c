import { isAscii } from 'node:buffer';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  readdirSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { readStateFile, writeFileAtomic } from '../runs/files';
import { isRecord, isRunId, jsonRecord, MetadataError } from '../runs/metadata';
import { MlpipeDir, type RunRecord, type RunStatus, type StageStatus } from '../runs/records';
import { Boundary, BoundaryError } from '../util/boundary';
import { acquireFileLock, alive } from '../runs/file-lock';
import { compileFilter, fieldValue, parseSort, sortRuns, type FieldReader, type Queryable } from './query';
import { decodeSnapshot, edgesOf, encodeSnapshot, type Snapshot, type SnapshotEntry } from './snapshot';
import { MAX_SERIES_JSON_BYTES, parseSeriesFile, type Series, valueName } from './series';
import { UserError } from '../errors';

/**
 * The experiment store: every run of a workspace, searchable. Documented in docs/experiments.md.
 *
 * The run records (`.mlpipe/runs/<id>/run.json`) stay the source of truth; the store keeps an
 * index beside them, `.mlpipe/store/index.jsonl`: one JSON line per change (a run's summary, its
 * tags, its note, a deletion), appended under a lock so two processes can write at once, and
 * compacted (rewritten and renamed) when superseded lines pile up. A line cut short by a crash is
 * skipped; nothing before it is affected. Opening reads one file: 10,000 runs load in well under
 * 300 ms. A missing index is rebuilt from the run records.
 *
 * The index is input, not trusted state (a cloned repository or a container may have written it):
 * every line is checked for its shape before it counts, and one that is not an index line is
 * skipped and counted in `damaged`, never thrown; a line over MAX_INDEX_LINE_BYTES is skipped
 * unread, an index over MAX_INDEX_BYTES is not read at all (`problem` says so), and the file is read
 * in chunks. Ids in the index only ever name a folder when they are run ids, and nothing in
 * `.mlpipe/` is read, written or removed through a symbolic link.
 */

export const SUMMARY_VERSION = 1;

/** What the index holds per run: enough to list, filter, sort and compare without the records. */
export interface RunSummary {
  v: 1;
  id: string;
  /** Pipeline file relative to the workspace folder, and its `name:` when it has one. */
  pipeline: string;
  name?: string;
  status: RunStatus;
  started: string;
  ended?: string;
  durationMs?: number;
  commit?: string;
  dirty?: boolean;
  params: Record<string, unknown>;
  /** Scalar metrics by name (`eval-test.auc`), and the last value of each series. */
  metrics: Record<string, number | string | boolean>;
  /** Stage instances by status. */
  stages: Partial<Record<StageStatus, number>>;
  /** Names of the metric series the run has (read with `series(id)`). */
  series: string[];
  pid?: number;
  host?: string;
  error?: string;
}

/** Status as the store shows it: a run whose process died before it ended is `interrupted`. */
export type DisplayStatus = RunStatus | 'interrupted';

export interface StoredRun extends Queryable {
  summary: RunSummary;
  status: DisplayStatus;
  tags: Record<string, string>;
  note?: string;
}

export type Line =
  | { op: 'run'; summary: RunSummary; tags?: Record<string, string>; note?: string }
  | { op: 'tags'; id: string; set?: Record<string, string>; remove?: string[] }
  | { op: 'note'; id: string; note: string }
  | { op: 'delete'; id: string };

export class StoreError extends UserError {}

/** An index line longer than this is skipped as damaged, unread (a summary of 50 metrics is about 1 KB). */
export const MAX_INDEX_LINE_BYTES = 1024 * 1024;
/** An index larger than this is not read (about 250,000 runs of 50 metrics); `mlpipe runs reindex` rebuilds it. */
export const MAX_INDEX_BYTES = 256 * 1024 * 1024;
/** The index is read this much at a time. */
const READ_CHUNK_BYTES = 8 * 1024 * 1024;
/** Params nest at most this deep in a summary read back (`train.optimizer.betas` is 3). */
const MAX_PARAMS_DEPTH = 32;

/**
 * Whether an id may stand in the index: letters, digits, `.`, `_` and `-`, not starting with a dot,
 * so it can never spell a path. Only run ids (`isRunId`) ever name a folder.
 */
export function isIndexId(value: unknown): value is string {
  // The length apart: a bounded repetition in the pattern compiles to much larger code.
  return typeof value === 'string' && value.length <= 128 && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value);
}

function optional(value: unknown, check: (value: unknown) => boolean): boolean {
  return value === undefined || check(value);
}

const isString = (value: unknown): value is string => typeof value === 'string';

function isStringMap(value: unknown): value is Record<string, string> {
  if (!isRecord(value)) return false;
  for (const key in value) if (typeof value[key] !== 'string') return false;
  return true;
}

/** The objects and lists of a JSON object, itself included; -1 when they nest deeper than `depth`. */
function containers(object: Record<string, unknown>, depth: number): number {
  if (depth === 0) return -1;
  let count = 1;
  for (const key in object) {
    const child = object[key];
    if (child !== null && typeof child === 'object') {
      const inner = containers(child as Record<string, unknown>, depth - 1);
      if (inner < 0) return -1;
      count += inner;
    }
  }
  return count;
}

/** At least as many as the objects and lists in a JSON text: its `{` and `[` (a string may hold some too). */
function bracketsIn(text: string): number {
  let count = 0;
  for (let at = text.indexOf('{'); at >= 0; at = text.indexOf('{', at + 1)) count++;
  for (let at = text.indexOf('['); at >= 0; at = text.indexOf('[', at + 1)) count++;
  return count;
}

/**
 * A run summary read back from the index, or undefined when the value is not one. `spareBrackets`,
 * from `parseIndexLine`: the `{` and `[` of the line not accounted for outside the summary, when the
 * line holds no `null` at all.
 */
export function parseSummary(value: unknown, spareBrackets?: number): RunSummary | undefined {
  // Checked inline, field by field: this runs once per line of every index opened.
  if (!isRecord(value) || value.v !== SUMMARY_VERSION || !isIndexId(value.id)) return undefined;
  const {
    status,
    pipeline,
    started,
    name,
    ended,
    durationMs,
    commit,
    dirty,
    pid,
    host,
    error,
    params,
    metrics,
    stages,
    series,
  } = value;
  if (status !== 'succeeded' && status !== 'failed' && status !== 'running' && status !== 'cancelled') return undefined;
  if (typeof pipeline !== 'string' || typeof started !== 'string') return undefined;
  if (
    (name !== undefined && typeof name !== 'string') ||
    (ended !== undefined && typeof ended !== 'string') ||
    (commit !== undefined && typeof commit !== 'string')
  )
    return undefined;
  if (
    (host !== undefined && typeof host !== 'string') ||
    (error !== undefined && typeof error !== 'string') ||
    (dirty !== undefined && typeof dirty !== 'boolean')
  )
    return undefined;
  if (
    (durationMs !== undefined && !Number.isFinite(durationMs)) ||
    (pid !== undefined && !(Number.isSafeInteger(pid) && (pid as number) > 0))
  )
    return undefined;
  if (!isRecord(params) || !isRecord(metrics) || !isRecord(stages) || !Array.isArray(series) || !allNumbers(stages))
    return undefined;
  for (let i = 0; i < series.length; i++) if (typeof series[i] !== 'string') return undefined;
  const inParams = containers(params, MAX_PARAMS_DEPTH);
  if (inParams < 0) return undefined;
  // Metrics must be numbers, text or booleans. When every bracket of the line is one of the known
  // objects and lists (the summary, params', metrics, stages, series) and no value is null, none of
  // them can be anything else, and their values need not be read one by one: reading each number
  // of a cold index costs an allocation, and they are most of what an index holds.
  if (spareBrackets === 1 + inParams + 3) return value as unknown as RunSummary;
  return allScalars(metrics) ? (value as unknown as RunSummary) : undefined;
}

// The loops over a summary's values are small functions of their own: called for every line,
// they are optimised within the first few hundred lines of a cold open.
// for-in is the fastest walk over a parsed object (it also sees inherited enumerable keys, which only makes the check stricter).

function allScalars(object: Record<string, unknown>): boolean {
  for (const key in object) {
    const value = object[key];
    if (typeof value !== 'number' && typeof value !== 'string' && typeof value !== 'boolean') return false;
  }
  return true;
}

function allNumbers(object: Record<string, unknown>): boolean {
  for (const key in object) if (typeof object[key] !== 'number') return false;
  return true;
}

/** An index line, checked: undefined when the text is not one (a cut line, garbage, a wrong shape). */
export function parseIndexLine(text: string): Line | undefined {
  const data = jsonRecord(text);
  if (!data) return undefined;
  switch (data.op) {
    case 'run':
      if (!optional(data.tags, isStringMap) || !optional(data.note, isString)) return undefined;
      return parseSummary(
        data.summary,
        text.includes('null') ? undefined : bracketsIn(text) - 1 - (data.tags === undefined ? 0 : 1),
      )
        ? (data as Line)
        : undefined;
    case 'tags':
      return isIndexId(data.id) &&
        optional(data.set, isStringMap) &&
        optional(data.remove, (remove) => Array.isArray(remove) && remove.every(isString))
        ? (data as Line)
        : undefined;
    case 'note':
      return isIndexId(data.id) && isString(data.note) ? (data as Line) : undefined;
    case 'delete':
      return isIndexId(data.id) ? (data as Line) : undefined;
    default:
      return undefined;
  }
}

/** What the store's own code throws about the file system and `.mlpipe/`'s layout, as a StoreError. */
function storeError(error: unknown): unknown {
  if (error instanceof StoreError) return error;
  if (error instanceof BoundaryError || error instanceof MetadataError) return new StoreError(error.message);
  if (
    error instanceof Error &&
    typeof (error as NodeJS.ErrnoException).code === 'string' &&
    (error as NodeJS.ErrnoException).syscall
  )
    return new StoreError(error.message);
  return error;
}

function guarded<T>(action: () => T): T {
  try {
    return action();
  } catch (error) {
    throw storeError(error);
  }
}

/** Sets a key as an own property: a metric named `__proto__` is a metric, not a prototype. */
function setOwn<T>(object: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The summary of a run record, with the metrics flattened and named (see `valueName`). */
export function summarize(record: RunRecord, series: Series[] = []): RunSummary {
  const metrics: Record<string, number | string | boolean> = {};
  for (const stage of record.stages) {
    for (const [file, values] of Object.entries(stage.metrics ?? {})) {
      for (const [key, value] of Object.entries(values)) {
        if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean')
          setOwn(metrics, valueName(file, key), value);
      }
    }
  }
  for (const one of series)
    if (!Object.hasOwn(metrics, one.name) && one.values.length > 0)
      setOwn(metrics, one.name, one.values[one.values.length - 1]);
  const stages: Partial<Record<StageStatus, number>> = {};
  for (const stage of record.stages)
    setOwn(stages, stage.status, (Object.hasOwn(stages, stage.status) ? stages[stage.status]! : 0) + 1);
  const started = Date.parse(record.started);
  const ended = record.ended ? Date.parse(record.ended) : NaN;
  return {
    v: 1,
    id: record.id,
    pipeline: record.pipeline,
    ...(record.name ? { name: record.name } : {}),
    status: record.status,
    started: record.started,
    ...(record.ended
      ? { ended: record.ended, durationMs: Number.isFinite(ended - started) ? ended - started : undefined }
      : {}),
    ...(record.git ? { commit: record.git.commit, dirty: record.git.dirty } : {}),
    params: record.params,
    metrics,
    stages,
    series: [...new Set(series.map((one) => one.name))],
    pid: record.pid,
    ...(record.host ? { host: record.host } : {}),
    ...(record.error ? { error: record.error } : {}),
  };
}

function displayStatus(status: RunStatus, pid: number | undefined, host: string | undefined): DisplayStatus {
  const interrupted = status === 'running' && pid !== undefined && (host ?? hostname()) === hostname() && !alive(pid);
  return interrupted ? 'interrupted' : status;
}

function toStored(summary: RunSummary, tags: Record<string, string>, note: string | undefined): StoredRun {
  const status = displayStatus(summary.status, summary.pid, summary.host);
  return {
    summary,
    status,
    tags,
    note,
    params: summary.params,
    metrics: summary.metrics,
    attributes: {
      id: summary.id,
      name: summary.name ?? summary.pipeline,
      status,
      pipeline: summary.name ?? summary.pipeline,
      commit: summary.commit,
      dirty: summary.dirty,
      started: summary.started,
      ended: summary.ended,
      duration: summary.durationMs === undefined ? undefined : summary.durationMs / 1000,
      note,
    },
  };
}

/**
 * A run of the snapshot: what a query reads (a metric, a param, an attribute) comes from the
 * snapshot's columns, and the summary is built only when something asks for it.
 */
class SnapshotRun implements StoredRun {
  private built: RunSummary | undefined;
  private shown: DisplayStatus | undefined;
  private attributesBuilt: Record<string, unknown> | undefined;

  constructor(
    private readonly snapshot: Snapshot,
    readonly row: number,
    readonly tags: Record<string, string>,
    readonly note: string | undefined,
  ) {}

  get summary(): RunSummary {
    return (this.built ??= this.snapshot.summary(this.row) as unknown as RunSummary);
  }

  get params(): Record<string, unknown> {
    return this.summary.params;
  }

  get metrics(): Record<string, unknown> {
    return this.summary.metrics;
  }

  private field(key: string): unknown {
    return this.snapshot.reader('s', key)(this.row);
  }

  get status(): DisplayStatus {
    return (this.shown ??= displayStatus(
      this.field('status') as RunStatus,
      this.field('pid') as number | undefined,
      this.field('host') as string | undefined,
    ));
  }

  get attributes(): Record<string, unknown> {
    if (!this.attributesBuilt) {
      const attributes: Record<string, unknown> = {};
      for (const key of ATTRIBUTE_KEYS) attributes[key] = this.attribute(key);
      this.attributesBuilt = attributes;
    }
    return this.attributesBuilt;
  }

  /** What `attributes[key]` holds, without building the summary. */
  attribute(key: string): unknown {
    switch (key) {
      case 'id':
        return this.snapshot.ids[this.row];
      case 'name':
      case 'pipeline':
        return this.field('name') ?? this.field('pipeline');
      case 'status':
        return this.status;
      case 'commit':
      case 'dirty':
      case 'started':
      case 'ended':
        return this.field(key);
      case 'duration': {
        const ms = this.field('durationMs') as number | undefined;
        return ms === undefined ? undefined : ms / 1000;
      }
      case 'note':
        return this.note;
      default:
        return undefined;
    }
  }

  /** Whether the summary was built (a caller may hold it, and reads go to it from then on). */
  get isBuilt(): boolean {
    return this.built !== undefined;
  }
}

/** The keys of a run's `attributes`, in the order `toStored` writes them. */
const ATTRIBUTE_KEYS = ['id', 'name', 'status', 'pipeline', 'commit', 'dirty', 'started', 'ended', 'duration', 'note'];
const ATTRIBUTE_SET = Object.fromEntries(ATTRIBUTE_KEYS.map((key) => [key, true]));

/**
 * Reads a query's field from a run: a run of the snapshot whose summary was not built is read from
 * the snapshot's columns (the value its summary would hold), any other run from its objects.
 */
function fieldReader(snapshot: Snapshot | undefined): FieldReader {
  return (field) => {
    const plain = (run: Queryable) => fieldValue(run, field);
    if (!snapshot) return plain;
    if (field.namespace === 'params' || field.namespace === 'metrics') {
      const column = snapshot.reader(field.namespace === 'params' ? 'p' : 'm', field.key);
      return (run) => (run instanceof SnapshotRun && !run.isBuilt ? column(run.row) : fieldValue(run, field));
    }
    if (field.namespace === 'attributes') {
      const known = Object.hasOwn(ATTRIBUTE_SET, field.key);
      return (run) => (run instanceof SnapshotRun ? (known ? run.attribute(field.key) : undefined) : plain(run));
    }
    return plain;
  };
}

/** A snapshot is written for stores of at least this many runs (a small index opens quickly as it is). */
export const SNAPSHOT_MIN_RUNS = 2000;
/** Runs of lines past the snapshot after which appending writes a new one. */
const SNAPSHOT_STALE_LINES = 1000;

export interface StoreOptions {
  /** Write a snapshot from this many runs on (tests lower it). */
  snapshotMinRuns?: number;
  /** Write a new snapshot when this many lines were appended past it (tests lower it). */
  snapshotStaleLines?: number;
}

export interface QueryOptions {
  filter?: string;
  sort?: string;
  limit?: number;
}

export class ExperimentStore {
  /** A run's summary, or its row in the snapshot (built when asked for). */
  private readonly summaries = new Map<string, RunSummary | number>();
  private snapshot: Snapshot | undefined;
  /** Lines of the index the snapshot covers. */
  private snapshotLines = 0;
  private readonly snapshotMinRuns: number;
  private readonly snapshotStaleLines: number;
  private readonly tags = new Map<string, Record<string, string>>();
  private readonly notes = new Map<string, string>();
  private readonly stored = new Map<string, StoredRun>();
  private lines = 0;
  private offset = 0;
  private inode = 0;
  /** Lines that could not be read (a crash mid-write, or not an index line); reported by `mlpipe runs list`. */
  damaged = 0;
  /** Why the index could not be read at all (a link, too large, not a file); reported by `mlpipe runs list`. */
  problem: string | undefined;
  /** Run records the last `rebuild` left out because they are not valid records. */
  skippedRecords = 0;
  private sortedCache: StoredRun[] | undefined;

  readonly dir: MlpipeDir;
  /** The pipeline's folder, which `.mlpipe/` belongs to: nothing is read or written through a link out of it. */
  private readonly boundary: Boundary;

  private constructor(
    readonly root: string,
    options: StoreOptions = {},
  ) {
    this.dir = new MlpipeDir(root);
    this.boundary = new Boundary(dirname(root));
    this.snapshotMinRuns = options.snapshotMinRuns ?? SNAPSHOT_MIN_RUNS;
    this.snapshotStaleLines = options.snapshotStaleLines ?? SNAPSHOT_STALE_LINES;
  }

  get indexPath(): string {
    return join(this.root, 'store', 'index.jsonl');
  }

  get snapshotPath(): string {
    return join(this.root, 'store', 'index.snap');
  }

  private get lockPath(): string {
    return join(this.root, 'store', 'index.lock');
  }

  /** Opens the store of a `.mlpipe/` folder (which need not exist yet). Throws nothing but StoreError. */
  static open(root: string, options: StoreOptions = {}): ExperimentStore {
    const store = new ExperimentStore(root, options);
    if (!existsSync(store.indexPath) && existsSync(store.dir.runs)) {
      try {
        store.rebuild();
      } catch (error) {
        if (!(error instanceof StoreError)) throw error;
        store.problem = `the index could not be rebuilt: ${error.message}`;
        return store;
      }
    }
    store.refresh();
    return store;
  }

  private forget(inode: number): void {
    this.summaries.clear();
    this.snapshot = undefined;
    this.snapshotLines = 0;
    this.tags.clear();
    this.notes.clear();
    this.stored.clear();
    this.lines = 0;
    this.damaged = 0;
    this.offset = 0;
    this.inode = inode;
    this.sortedCache = undefined;
  }

  /**
   * Reads what other processes appended since the last read; all of it again after a compaction.
   * Never throws: an index that cannot be read leaves the store empty with `problem` saying why.
   */
  refresh(): boolean {
    let fd: number;
    let size: number;
    try {
      const opened = this.boundary.openRead(this.indexPath, 'refuse');
      fd = opened.fd;
      size = opened.stat.size;
      if (!opened.stat.isFile()) {
        closeSync(fd);
        return this.unreadable(`${this.boundary.show(this.indexPath)} is not a file`);
      }
      if (opened.stat.ino !== this.inode || size < this.offset) this.forget(opened.stat.ino);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      return this.unreadable(error instanceof Error ? error.message : String(error));
    }
    try {
      if (size > MAX_INDEX_BYTES) {
        return this.unreadable(
          `${this.boundary.show(this.indexPath)} is ${(size / 1048576).toFixed(0)} MB, more than the ${MAX_INDEX_BYTES / 1048576} MB an index may have; it was not read`,
        );
      }
      this.problem = undefined;
      const before = this.offset;
      if (this.offset === 0 && this.lines === 0) this.loadSnapshot(fd, size);
      if (size === this.offset) return this.offset !== before;
      this.readLines(fd, size);
      if (this.offset === before) return false;
      this.sortedCache = undefined;
      return true;
    } catch (error) {
      return this.unreadable(error instanceof Error ? error.message : String(error));
    } finally {
      closeSync(fd);
    }
  }

  private unreadable(why: string): boolean {
    const had = this.summaries.size > 0;
    this.forget(-1);
    this.problem = `${why}; mlpipe runs reindex rebuilds the index from the run records`;
    return had;
  }

  /**
   * Starts from the snapshot when there is one for this index file (same inode, no larger than the
   * file, the same bytes at both ends of what it covers); the lines after it are read as usual. A
   * snapshot that is missing, stale or not well formed is passed over without a word: it is a
   * cache, and the index says the same.
   */
  private loadSnapshot(fd: number, size: number): void {
    let bytes: Buffer;
    try {
      const opened = this.boundary.openRead(this.snapshotPath, 'refuse');
      try {
        if (!opened.stat.isFile() || opened.stat.size > MAX_INDEX_BYTES) return;
        // Its own memory, 8-byte aligned: the columns are read in place as typed arrays.
        bytes = Buffer.from(new ArrayBuffer(opened.stat.size));
        let read = 0;
        while (read < bytes.length) {
          const count = readSync(opened.fd, bytes, read, bytes.length - read, read);
          if (count === 0) return;
          read += count;
        }
      } finally {
        closeSync(opened.fd);
      }
    } catch {
      return;
    }
    const snapshot = decodeSnapshot(bytes, {
      isIndexId,
      paramsDepth: MAX_PARAMS_DEPTH,
      matches: (identity) =>
        identity.ino === this.inode &&
        identity.size <= size &&
        (identity.size === 0 || edgesOf(fd, identity.size) === identity.edges),
    });
    if (!snapshot) return;
    const identity = snapshot.identity;
    if (identity.lines < snapshot.rows) return;
    this.snapshot = snapshot;
    for (let row = 0; row < snapshot.rows; row++) {
      const id = snapshot.ids[row];
      this.summaries.set(id, row);
      const tags = snapshot.tags(row);
      if (tags) this.tags.set(id, tags);
      const note = snapshot.note(row);
      if (note !== undefined) this.notes.set(id, note);
    }
    if (this.summaries.size !== snapshot.rows) {
      // An id twice: not a snapshot compaction writes.
      this.forget(this.inode);
      return;
    }
    this.offset = identity.size;
    this.lines = identity.lines;
    this.damaged = identity.damaged;
    this.snapshotLines = identity.lines;
  }

  /**
   * Writes the snapshot of what has been read (called with the lock held, after the index was
   * read to its end). Only for stores large enough to need one; a failure leaves the old one, which
   * no longer matches once the index changed.
   */
  private writeSnapshot(): void {
    if (this.summaries.size < this.snapshotMinRuns || this.problem !== undefined || this.inode <= 0) {
      if (this.summaries.size < this.snapshotMinRuns) this.removeSnapshot();
      return;
    }
    let fd: number | undefined;
    try {
      const opened = this.boundary.openRead(this.indexPath, 'refuse');
      fd = opened.fd;
      if (opened.stat.ino !== this.inode || opened.stat.size < this.offset) return;
      const entries: SnapshotEntry[] = [];
      for (const id of this.summaries.keys())
        entries.push({ summary: this.summaryOf(id)!, tags: this.tags.get(id), note: this.notes.get(id) });
      const bytes = encodeSnapshot(
        {
          ino: this.inode,
          size: this.offset,
          lines: this.lines,
          damaged: this.damaged,
          edges: edgesOf(fd, this.offset),
        },
        entries,
      );
      this.boundary.prepareWrite(this.snapshotPath);
      writeFileAtomic(this.snapshotPath, bytes);
      this.snapshotLines = this.lines;
    } catch {
      // A cache: the index is what counts.
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  private removeSnapshot(): void {
    try {
      if (lstatSync(this.snapshotPath)) this.boundary.prepareWrite(this.snapshotPath);
      rmSync(this.snapshotPath, { force: true });
    } catch {
      // none, or not ours to remove
    }
  }

  /** The summary of a run, built from the snapshot when it comes from there. */
  private summaryOf(id: string): RunSummary | undefined {
    const entry = this.summaries.get(id);
    if (typeof entry !== 'number') return entry;
    return (this.get(id) as SnapshotRun).summary;
  }

  /**
   * Applies the whole lines from `offset` to `size`, reading a chunk at a time: a line still being
   * written (or cut short) is read once it ends, and a line longer than MAX_INDEX_LINE_BYTES is
   * skipped without being kept in memory.
   */
  private readLines(fd: number, size: number): void {
    const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, size - this.offset));
    // The start of a line that runs past the chunk read so far.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let overlong = false;
    const carry = (bytes: Buffer) => {
      if (overlong) return;
      if (pendingBytes + bytes.length > MAX_INDEX_LINE_BYTES) {
        overlong = true;
        pending = [];
        pendingBytes = 0;
        return;
      }
      pending.push(Buffer.from(bytes));
      pendingBytes += bytes.length;
    };
    let position = this.offset;
    while (position < size) {
      const count = readSync(fd, chunk, 0, Math.min(chunk.length, size - position), position);
      if (count === 0) break;
      const data = chunk.subarray(0, count);
      let start = 0;
      if (pendingBytes > 0 || overlong) {
        const newline = data.indexOf(10);
        if (newline < 0) {
          carry(data);
          position += count;
          continue;
        }
        if (overlong || pendingBytes + newline > MAX_INDEX_LINE_BYTES) this.skipLong();
        else this.apply(Buffer.concat([...pending, data.subarray(0, newline)]).toString('utf8'));
        pending = [];
        pendingBytes = 0;
        overlong = false;
        start = newline + 1;
        this.offset = position + start;
      }
      const last = data.lastIndexOf(10);
      if (last >= start) {
        this.applyLines(data.subarray(start, last));
        start = last + 1;
        this.offset = position + start;
      }
      if (start < count) carry(data.subarray(start));
      position += count;
    }
  }

  /**
   * Applies the lines of `bytes` (separated by newlines, the last one complete). An index is
   * usually ASCII (JSON.stringify escapes nothing else, but names are mostly ASCII): then it is
   * decoded once and each line is a slice of that text, which is quicker and makes less garbage
   * than decoding line by line.
   */
  private applyLines(bytes: Buffer): void {
    if (isAscii(bytes)) {
      const text = bytes.toString('latin1');
      for (let start = 0; start <= text.length;) {
        let end = text.indexOf('\n', start);
        if (end < 0) end = text.length;
        if (end - start > MAX_INDEX_LINE_BYTES) this.skipLong();
        else if (end > start) this.apply(text.slice(start, end));
        start = end + 1;
      }
      return;
    }
    for (let start = 0; start <= bytes.length;) {
      let end = bytes.indexOf(10, start);
      if (end < 0) end = bytes.length;
      if (end - start > MAX_INDEX_LINE_BYTES) this.skipLong();
      else if (end > start) this.apply(bytes.toString('utf8', start, end));
      start = end + 1;
    }
  }

  private skipLong(): void {
    this.lines++;
    this.damaged++;
  }

  private apply(raw: string): void {
    this.lines++;
    const line = parseIndexLine(raw);
    if (!line) {
      this.damaged++;
      return;
    }
    switch (line.op) {
      case 'run': {
        const id = line.summary.id;
        this.summaries.set(id, line.summary);
        if (line.tags) this.tags.set(id, line.tags);
        if (line.note !== undefined) this.notes.set(id, line.note);
        this.stored.delete(id);
        break;
      }
      case 'tags': {
        const tags = { ...(this.tags.get(line.id) ?? {}), ...(line.set ?? {}) };
        for (const key of line.remove ?? []) delete tags[key];
        this.tags.set(line.id, tags);
        this.stored.delete(line.id);
        break;
      }
      case 'note':
        this.notes.set(line.id, line.note);
        this.stored.delete(line.id);
        break;
      case 'delete':
        this.summaries.delete(line.id);
        this.tags.delete(line.id);
        this.notes.delete(line.id);
        this.stored.delete(line.id);
        break;
    }
  }

  /** `.mlpipe/store/` made when missing; refused when it, or `.mlpipe/`, is a link or not a folder. */
  private prepareStoreFolder(): void {
    const folder = dirname(this.indexPath);
    for (const path of [this.root, folder]) {
      let stat;
      try {
        stat = lstatSync(path);
      } catch {
        continue;
      }
      if (stat.isSymbolicLink() || !stat.isDirectory())
        throw new StoreError(
          `${this.boundary.show(path)} is not a real folder (a symbolic link or a file); mlpipe keeps its state only in real folders inside the workspace. Remove it and run again.`,
        );
    }
    this.dir.ensure();
    this.boundary.makeDirs(folder);
  }

  private lock(): () => void {
    try {
      return acquireFileLock(this.lockPath);
    } catch (error) {
      throw new StoreError(error instanceof Error ? error.message : String(error));
    }
  }

  /** Appends lines under the lock, then folds them in (and whatever others appended first). */
  private append(lines: Line[]): void {
    this.prepareStoreFolder();
    const release = this.lock();
    try {
      // Never through a link: a planted `index.jsonl -> ../../src/train.py` must not be appended to.
      let fd: number;
      try {
        fd = openSync(
          this.indexPath,
          constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
          0o644,
        );
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ELOOP')
          throw new StoreError(
            `${this.boundary.show(this.indexPath)} is a symbolic link; mlpipe runs reindex replaces it with the index itself`,
          );
        throw error;
      }
      try {
        const stat = fstatSync(fd);
        if (!stat.isFile())
          throw new StoreError(
            `${this.boundary.show(this.indexPath)} is not a file; remove it and run mlpipe runs reindex`,
          );
        if (stat.size > MAX_INDEX_BYTES)
          throw new StoreError(
            `${this.boundary.show(this.indexPath)} is more than ${MAX_INDEX_BYTES / 1048576} MB; mlpipe runs reindex rebuilds it from the run records`,
          );
        let prefix = '';
        if (stat.size > 0) {
          // A previous writer died mid-line: start on a fresh line so only that line is lost.
          const last = Buffer.alloc(1);
          readSync(fd, last, 0, 1, stat.size - 1);
          if (last[0] !== 10) prefix = '\n';
        }
        writeSync(fd, prefix + lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
      } finally {
        closeSync(fd);
      }
      this.refresh();
      if (this.lines > 2 * this.summaries.size + 1000) this.compactLocked();
      else if (this.lines - this.snapshotLines > this.snapshotStaleLines && this.summaries.size >= this.snapshotMinRuns)
        this.writeSnapshot();
    } finally {
      release();
    }
  }

  /** Rewrites the index with one line per run, and its snapshot. */
  compact(): void {
    guarded(() => {
      this.prepareStoreFolder();
      const release = this.lock();
      try {
        this.refresh();
        this.compactLocked();
      } finally {
        release();
      }
    });
  }

  /** Rewrites the index with one line per run (called with the lock held). */
  private compactLocked(): void {
    const lines: string[] = [];
    for (const id of this.summaries.keys()) {
      const summary = this.summaryOf(id)!;
      lines.push(
        `${JSON.stringify({ op: 'run', summary, tags: this.tags.get(id), note: this.notes.get(id) } satisfies Line)}\n`,
      );
    }
    this.writeIndex(lines.join(''));
  }

  /** Replaces the index (a link in its place is replaced, never followed), then reads it again. */
  private writeIndex(text: string): void {
    this.boundary.prepareWrite(this.indexPath);
    writeFileAtomic(this.indexPath, text);
    this.inode = -1;
    this.refresh();
    this.writeSnapshot();
  }

  /**
   * Rebuilds the index from the run records (a lost or deleted index, runs from before the store,
   * an index of the wrong shape). Records that are not valid are left out and counted in
   * `skippedRecords`; tags and notes of runs the old index could still tell are kept.
   */
  rebuild(): number {
    return guarded(() => {
      this.prepareStoreFolder();
      const summaries: RunSummary[] = [];
      this.skippedRecords = 0;
      if (existsSync(this.dir.runs)) {
        this.boundary.assertNoLinks(this.dir.runs, true);
        for (const id of this.dir.runIds().filter(isRunId).reverse()) {
          const summary = this.summaryOfRecord(id);
          if (summary) summaries.push(summary);
          else this.skippedRecords++;
        }
      }
      const release = this.lock();
      try {
        const keep = this.snapshotExtras();
        this.removeSnapshot();
        this.writeIndex(
          summaries
            .map((summary) => `${JSON.stringify({ op: 'run', summary, ...keep.get(summary.id) } satisfies Line)}\n`)
            .join(''),
        );
      } finally {
        release();
      }
      return summaries.length;
    });
  }

  /** A record's summary as an index line would hold it, or undefined when the record is not valid. */
  private summaryOfRecord(id: string): RunSummary | undefined {
    try {
      const record = this.dir.readRecord(id);
      if (!record || record.id !== id) return undefined;
      return parseSummary(JSON.parse(JSON.stringify(summarize(record, this.series(id)))));
    } catch {
      return undefined;
    }
  }

  private snapshotExtras(): Map<string, { tags?: Record<string, string>; note?: string }> {
    this.refresh();
    const extras = new Map<string, { tags?: Record<string, string>; note?: string }>();
    for (const id of this.summaries.keys()) extras.set(id, { tags: this.tags.get(id), note: this.notes.get(id) });
    return extras;
  }

  /** Records (or updates) a run's summary. */
  record(summary: RunSummary): void {
    guarded(() => this.append([{ op: 'run', summary }]));
  }

  get(id: string): StoredRun | undefined {
    const summary = this.summaries.get(id);
    if (summary === undefined) return undefined;
    let run = this.stored.get(id);
    if (!run) {
      run =
        typeof summary === 'number'
          ? new SnapshotRun(this.snapshot!, summary, this.tags.get(id) ?? {}, this.notes.get(id))
          : toStored(summary, this.tags.get(id) ?? {}, this.notes.get(id));
      this.stored.set(id, run);
    }
    return run;
  }

  /** A run by id or unique prefix; throws StoreError naming the choices otherwise. */
  resolve(idOrPrefix: string): StoredRun {
    const exact = this.get(idOrPrefix);
    if (exact) return exact;
    const matches = idOrPrefix ? [...this.summaries.keys()].filter((id) => id.startsWith(idOrPrefix)) : [];
    if (matches.length === 1) return this.get(matches[0])!;
    if (matches.length > 1)
      throw new StoreError(
        `'${idOrPrefix}' matches ${matches.length} runs (${matches.slice(0, 3).join(', ')}${matches.length > 3 ? ', ...' : ''}); give more of the id`,
      );
    throw new StoreError(
      `no run '${idOrPrefix}' in ${this.root}; ${this.problem ? `the index was not read: ${this.problem}` : 'mlpipe runs list shows them'}`,
    );
  }

  /** Every run, newest first. */
  runs(): StoredRun[] {
    if (!this.sortedCache) {
      this.sortedCache = [...this.summaries.keys()]
        .sort()
        .reverse()
        .map((id) => this.get(id)!);
    }
    return this.sortedCache;
  }

  get size(): number {
    return this.summaries.size;
  }

  /** Filtered and sorted runs; throws QueryError for a bad expression. */
  query(options: QueryOptions = {}): StoredRun[] {
    const reader = fieldReader(this.snapshot);
    const predicate = options.filter?.trim() ? compileFilter(options.filter, reader) : undefined;
    const keys = options.sort?.trim() ? parseSort(options.sort) : [];
    let runs = predicate ? this.runs().filter(predicate) : [...this.runs()];
    if (keys.length > 0) runs = sortRuns(runs, keys, reader);
    return options.limit !== undefined ? runs.slice(0, options.limit) : runs;
  }

  tag(id: string, set: Record<string, string>, remove: string[] = []): void {
    const run = this.resolve(id);
    guarded(() => this.append([{ op: 'tags', id: run.summary.id, set, remove }]));
  }

  setNote(id: string, note: string): void {
    const run = this.resolve(id);
    guarded(() => this.append([{ op: 'note', id: run.summary.id, note }]));
  }

  /**
   * Removes runs: their index entries, records and logs. Cached outputs stay until `gc`. Only a
   * run id names a folder, and the folder is removed without following a link (a link in its place
   * is removed as a link); a folder on the way that is a link refuses the whole deletion.
   */
  delete(ids: string[]): string[] {
    const runs = ids.map((id) => this.resolve(id));
    const running = runs.filter((run) => run.status === 'running');
    if (running.length > 0)
      throw new StoreError(`run ${running[0].summary.id} is still running; cancel it first (mlpipe cancel)`);
    return guarded(() => {
      const folders = runs
        .map((run) => run.summary.id)
        .filter(isRunId)
        .map((id) => join(this.dir.runs, id));
      for (const folder of folders) this.boundary.assertNoLinks(folder);
      this.append(runs.map((run) => ({ op: 'delete', id: run.summary.id })));
      for (const folder of folders) this.boundary.remove(folder);
      return runs.map((run) => run.summary.id);
    });
  }

  /** The run's full record (undefined for an id that is not a run id, or a record that is not valid). */
  fullRecord(id: string): RunRecord | undefined {
    if (!isRunId(id)) return undefined;
    try {
      return this.dir.readRecord(id);
    } catch {
      return undefined;
    }
  }

  /** The run's metric series (from `runs/<id>/series.json`); none when it cannot be read or is not valid. */
  series(id: string): Series[] {
    if (!isRunId(id)) return [];
    return readSeriesFile(this.boundary, seriesPath(this.dir, id));
  }

  /** Runs read from the snapshot when the index was last read whole (0: none), for tests and the benchmark. */
  get snapshotRuns(): number {
    return this.snapshot?.rows ?? 0;
  }

  /** Size of the index file, for the benchmark and status lines. */
  indexBytes(): number {
    try {
      return lstatSync(this.indexPath).size;
    } catch {
      return 0;
    }
  }

  /** Run ids that have a record folder (including runs the index does not know). */
  recordIds(): string[] {
    if (!existsSync(this.dir.runs)) return [];
    return readdirSync(this.dir.runs).filter(isRunId);
  }
}

export function seriesPath(dir: MlpipeDir, id: string): string {
  if (!isRunId(id)) throw new StoreError(`'${String(id).slice(0, 80)}' is not a run id (YYYYMMDD-HHMMSS-mmm-xxxx)`);
  return join(dir.runs, id, 'series.json');
}

/** A run's series.json, read without following a link and bounded (see `parseSeriesFile`); none when it cannot be read. */
function readSeriesFile(boundary: Boundary, path: string): Series[] {
  try {
    const text = readStateFile(boundary, path, MAX_SERIES_JSON_BYTES);
    return text === undefined ? [] : parseSeriesFile(text);
  } catch {
    return [];
  }
}

/** Replaces the series a stage wrote in a run's series.json (stages of one run write in turn). */
export function saveStageSeries(dir: MlpipeDir, id: string, stage: string, series: Series[]): Series[] {
  const boundary = new Boundary(dirname(dir.root));
  const path = seriesPath(dir, id);
  const all = [...readSeriesFile(boundary, path).filter((one) => one.stage !== stage), ...series];
  boundary.prepareWrite(path);
  writeFileAtomic(path, JSON.stringify({ version: 1, series: all }));
  return all;
}
