import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../runner/fsutil';
import { MlpipeDir, type RunRecord, type RunStatus, type StageStatus } from '../runner/records';
import { acquireFileLock, alive } from './lock';
import { compileFilter, parseSort, sortRuns, type Queryable } from './query';
import { type Series, valueName } from './series';

/**
 * The experiment store: every run of a workspace, searchable. Documented in docs/experiments.md.
 *
 * The run records (`.mlpipe/runs/<id>/run.json`) stay the source of truth; the store keeps an
 * index beside them, `.mlpipe/store/index.jsonl`: one JSON line per change (a run's summary, its
 * tags, its note, a deletion), appended under a lock so two processes can write at once, and
 * compacted (rewritten and renamed) when superseded lines pile up. A line cut short by a crash is
 * skipped; nothing before it is affected. Opening reads one file: 10,000 runs load in well under
 * 300 ms. A missing index is rebuilt from the run records.
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

type Line =
  | { op: 'run'; summary: RunSummary; tags?: Record<string, string>; note?: string }
  | { op: 'tags'; id: string; set?: Record<string, string>; remove?: string[] }
  | { op: 'note'; id: string; note: string }
  | { op: 'delete'; id: string };

export class StoreError extends Error {}


/** The summary of a run record, with the metrics flattened and named (see `valueName`). */
export function summarize(record: RunRecord, series: Series[] = []): RunSummary {
  const metrics: Record<string, number | string | boolean> = {};
  for (const stage of record.stages) {
    for (const [file, values] of Object.entries(stage.metrics ?? {})) {
      for (const [key, value] of Object.entries(values)) {
        if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') metrics[valueName(file, key)] = value;
      }
    }
  }
  for (const one of series) if (!(one.name in metrics) && one.values.length > 0) metrics[one.name] = one.values[one.values.length - 1];
  const stages: Partial<Record<StageStatus, number>> = {};
  for (const stage of record.stages) stages[stage.status] = (stages[stage.status] ?? 0) + 1;
  const started = Date.parse(record.started);
  const ended = record.ended ? Date.parse(record.ended) : NaN;
  return {
    v: 1,
    id: record.id,
    pipeline: record.pipeline,
    ...(record.name ? { name: record.name } : {}),
    status: record.status,
    started: record.started,
    ...(record.ended ? { ended: record.ended, durationMs: Number.isFinite(ended - started) ? ended - started : undefined } : {}),
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

function toStored(summary: RunSummary, tags: Record<string, string>, note: string | undefined): StoredRun {
  const interrupted = summary.status === 'running' && summary.pid !== undefined && (summary.host ?? hostname()) === hostname() && !alive(summary.pid);
  const status: DisplayStatus = interrupted ? 'interrupted' : summary.status;
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

export interface QueryOptions {
  filter?: string;
  sort?: string;
  limit?: number;
}

export class ExperimentStore {
  private readonly summaries = new Map<string, RunSummary>();
  private readonly tags = new Map<string, Record<string, string>>();
  private readonly notes = new Map<string, string>();
  private readonly stored = new Map<string, StoredRun>();
  private lines = 0;
  private offset = 0;
  private inode = 0;
  /** Lines that could not be read (a crash mid-write); reported by `mlpipe runs list`. */
  damaged = 0;
  private sortedCache: StoredRun[] | undefined;

  readonly dir: MlpipeDir;

  private constructor(readonly root: string) {
    this.dir = new MlpipeDir(root);
  }

  get indexPath(): string {
    return join(this.root, 'store', 'index.jsonl');
  }

  private get lockPath(): string {
    return join(this.root, 'store', 'index.lock');
  }

  /** Opens the store of a `.mlpipe/` folder (which need not exist yet). */
  static open(root: string): ExperimentStore {
    const store = new ExperimentStore(root);
    if (!existsSync(store.indexPath) && existsSync(store.dir.runs)) store.rebuild();
    store.refresh();
    return store;
  }

  /** Reads what other processes appended since the last read; all of it again after a compaction. */
  refresh(): boolean {
    let fd: number;
    try {
      fd = openSync(this.indexPath, 'r');
    } catch {
      return false;
    }
    try {
      const stat = fstatSync(fd);
      if (stat.ino !== this.inode || stat.size < this.offset) {
        this.summaries.clear();
        this.tags.clear();
        this.notes.clear();
        this.stored.clear();
        this.lines = 0;
        this.damaged = 0;
        this.offset = 0;
        this.inode = stat.ino;
      }
      if (stat.size === this.offset) return false;
      const length = stat.size - this.offset;
      const buffer = Buffer.allocUnsafe(length);
      let read = 0;
      while (read < length) {
        const count = readSync(fd, buffer, read, length - read, this.offset + read);
        if (count === 0) break;
        read += count;
      }
      // Only whole lines: a line still being written (or cut short) is read once it ends.
      const lastNewline = buffer.lastIndexOf(10, read - 1);
      if (lastNewline < 0) return false;
      const text = buffer.toString('utf8', 0, lastNewline);
      this.offset += lastNewline + 1;
      let start = 0;
      while (start <= text.length) {
        let end = text.indexOf('\n', start);
        if (end < 0) end = text.length;
        if (end > start) this.apply(text.slice(start, end));
        start = end + 1;
      }
      this.sortedCache = undefined;
      return true;
    } finally {
      closeSync(fd);
    }
  }

  private apply(raw: string): void {
    let line: Line;
    try {
      line = JSON.parse(raw) as Line;
    } catch {
      this.damaged++;
      return;
    }
    this.lines++;
    switch (line.op) {
      case 'run':
        if (!line.summary?.id) {
          this.damaged++;
          return;
        }
        this.summaries.set(line.summary.id, line.summary);
        if (line.tags) this.tags.set(line.summary.id, line.tags);
        if (line.note !== undefined) this.notes.set(line.summary.id, line.note);
        this.stored.delete(line.summary.id);
        break;
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
      default:
        this.damaged++;
    }
  }

  /** Appends lines under the lock, then folds them in (and whatever others appended first). */
  private append(lines: Line[]): void {
    mkdirSync(join(this.root, 'store'), { recursive: true });
    this.dir.ensure();
    const release = acquireFileLock(this.lockPath);
    try {
      const fd = openSync(this.indexPath, 'a+');
      try {
        const size = fstatSync(fd).size;
        let prefix = '';
        if (size > 0) {
          // A previous writer died mid-line: start on a fresh line so only that line is lost.
          const last = Buffer.alloc(1);
          readSync(fd, last, 0, 1, size - 1);
          if (last[0] !== 10) prefix = '\n';
        }
        writeSync(fd, prefix + lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
      } finally {
        closeSync(fd);
      }
      this.refresh();
      if (this.lines > 2 * this.summaries.size + 1000) this.compact();
    } finally {
      release();
    }
  }

  /** Rewrites the index with one line per run (called with the lock held). */
  private compact(): void {
    const text = [...this.summaries.values()].map((summary) => `${JSON.stringify({ op: 'run', summary, tags: this.tags.get(summary.id), note: this.notes.get(summary.id) } satisfies Line)}\n`).join('');
    writeFileAtomic(this.indexPath, text);
    this.inode = -1;
    this.refresh();
  }

  /** Rebuilds the index from the run records (a lost or deleted index, runs from before the store). */
  rebuild(): number {
    const records: RunSummary[] = [];
    for (const id of this.dir.runIds().reverse()) {
      const record = this.dir.readRecord(id);
      if (record) records.push(summarize(record, this.series(id)));
    }
    mkdirSync(join(this.root, 'store'), { recursive: true });
    const release = acquireFileLock(this.lockPath);
    try {
      const keep = existsSync(this.indexPath) ? this.snapshotExtras() : new Map<string, { tags?: Record<string, string>; note?: string }>();
      writeFileAtomic(this.indexPath, records.map((summary) => `${JSON.stringify({ op: 'run', summary, ...keep.get(summary.id) } satisfies Line)}\n`).join(''));
      this.inode = -1;
      this.refresh();
    } finally {
      release();
    }
    return records.length;
  }

  private snapshotExtras(): Map<string, { tags?: Record<string, string>; note?: string }> {
    this.refresh();
    const extras = new Map<string, { tags?: Record<string, string>; note?: string }>();
    for (const id of this.summaries.keys()) extras.set(id, { tags: this.tags.get(id), note: this.notes.get(id) });
    return extras;
  }

  /** Records (or updates) a run's summary. */
  record(summary: RunSummary): void {
    this.append([{ op: 'run', summary }]);
  }

  get(id: string): StoredRun | undefined {
    const summary = this.summaries.get(id);
    if (!summary) return undefined;
    let run = this.stored.get(id);
    if (!run) {
      run = toStored(summary, this.tags.get(id) ?? {}, this.notes.get(id));
      this.stored.set(id, run);
    }
    return run;
  }

  /** A run by id or unique prefix; throws StoreError naming the choices otherwise. */
  resolve(idOrPrefix: string): StoredRun {
    const exact = this.get(idOrPrefix);
    if (exact) return exact;
    const matches = [...this.summaries.keys()].filter((id) => id.startsWith(idOrPrefix));
    if (matches.length === 1) return this.get(matches[0])!;
    if (matches.length > 1) throw new StoreError(`'${idOrPrefix}' matches ${matches.length} runs (${matches.slice(0, 3).join(', ')}${matches.length > 3 ? ', ...' : ''}); give more of the id`);
    throw new StoreError(`no run '${idOrPrefix}' in ${this.root}; mlpipe runs list shows them`);
  }

  /** Every run, newest first. */
  runs(): StoredRun[] {
    if (!this.sortedCache) {
      this.sortedCache = [...this.summaries.keys()].sort().reverse().map((id) => this.get(id)!);
    }
    return this.sortedCache;
  }

  get size(): number {
    return this.summaries.size;
  }

  /** Filtered and sorted runs; throws QueryError for a bad expression. */
  query(options: QueryOptions = {}): StoredRun[] {
    const predicate = options.filter?.trim() ? compileFilter(options.filter) : undefined;
    const keys = options.sort?.trim() ? parseSort(options.sort) : [];
    let runs = predicate ? this.runs().filter(predicate) : [...this.runs()];
    if (keys.length > 0) runs = sortRuns(runs, keys);
    return options.limit !== undefined ? runs.slice(0, options.limit) : runs;
  }

  tag(id: string, set: Record<string, string>, remove: string[] = []): void {
    const run = this.resolve(id);
    this.append([{ op: 'tags', id: run.summary.id, set, remove }]);
  }

  setNote(id: string, note: string): void {
    const run = this.resolve(id);
    this.append([{ op: 'note', id: run.summary.id, note }]);
  }

  /** Removes runs: their index entries, records and logs. Cached outputs stay until `gc`. */
  delete(ids: string[]): string[] {
    const runs = ids.map((id) => this.resolve(id));
    const running = runs.filter((run) => run.status === 'running');
    if (running.length > 0) throw new StoreError(`run ${running[0].summary.id} is still running; cancel it first (mlpipe cancel)`);
    this.append(runs.map((run) => ({ op: 'delete', id: run.summary.id })));
    for (const run of runs) rmSync(this.dir.runDir(run.summary.id), { recursive: true, force: true });
    return runs.map((run) => run.summary.id);
  }

  /** The run's full record. */
  fullRecord(id: string): RunRecord | undefined {
    return this.dir.readRecord(id);
  }

  /** The run's metric series (from `runs/<id>/series.json`). */
  series(id: string): Series[] {
    try {
      const data = JSON.parse(readFileSync(seriesPath(this.dir, id), 'utf8')) as { version: number; series: Series[] };
      return Array.isArray(data.series) ? data.series : [];
    } catch {
      return [];
    }
  }

  /** Size of the index file, for the benchmark and status lines. */
  indexBytes(): number {
    try {
      return statSync(this.indexPath).size;
    } catch {
      return 0;
    }
  }

  /** Run ids that have a record folder (including runs the index does not know). */
  recordIds(): string[] {
    if (!existsSync(this.dir.runs)) return [];
    return readdirSync(this.dir.runs);
  }
}

export function seriesPath(dir: MlpipeDir, id: string): string {
  return join(dir.runDir(id), 'series.json');
}

/** Replaces the series a stage wrote in a run's series.json (stages of one run write in turn). */
export function saveStageSeries(dir: MlpipeDir, id: string, stage: string, series: Series[]): Series[] {
  let all: Series[] = [];
  try {
    all = (JSON.parse(readFileSync(seriesPath(dir, id), 'utf8')) as { series: Series[] }).series ?? [];
  } catch {
    // first series of the run
  }
  all = [...all.filter((one) => one.stage !== stage), ...series];
  writeFileAtomic(seriesPath(dir, id), JSON.stringify({ version: 1, series: all }));
  return all;
}
