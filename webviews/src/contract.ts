/**
 * The messages between the extension host (client/src/webviews) and the experiment webviews, one
 * discriminated union per direction and panel. Both sides import this module, so it holds types and
 * a few pure helpers only: no DOM, no vscode.
 *
 * Handshake: the webview posts `ready` once its script runs (after a reload too); only then does
 * the host post `init`. Everything the webview sends is validated by the host (`parse*Message`).
 */
import type { Series as StoredSeries } from '../../core/src/store/series';
import type { DisplayStatus, RunSummary } from '../../core/src/store/store';
import { flattenParams } from '../../core/src/util/flatten';
import { isRecord } from './shared/protocol';

export { assertNever } from './shared/protocol';

/** A run's status as the store shows it (a run whose process died is `interrupted`). */
export type RunStatusText = DisplayStatus;

/** A run as the panels show it: the store's summary fields, its tags and note, and live progress. */
export interface RunRow extends Pick<
  RunSummary,
  'id' | 'pipeline' | 'started' | 'ended' | 'durationMs' | 'commit' | 'dirty' | 'metrics'
> {
  name: string;
  status: RunStatusText;
  params: Record<string, unknown>;
  tags: Record<string, string>;
  note?: string;
  stages: { done: number; total: number; running: string[] };
}

/**
 * A metric series as the compare panel gets it: the store's, with its steps and values as
 * Float64Arrays when the host packed them (`packSeries`), which the structured clone copies in one
 * piece each instead of number by number (100 runs x 4 curves x 5,000 steps are 4 million numbers).
 */
export type Series = Omit<StoredSeries, 'steps' | 'values'> & { steps: ArrayLike<number>; values: ArrayLike<number> };

export function packSeries(series: readonly Series[]): Series[] {
  return series.map((one) => ({ ...one, steps: Float64Array.from(one.steps), values: Float64Array.from(one.values) }));
}

/** The panels' viewType ids; package.json's `onWebviewPanel:` activation events name them. */
export const EXPERIMENTS_VIEW_TYPE = 'mlpipe.experiments';
export const COMPARE_VIEW_TYPE = 'mlpipe.compare';

// ---- experiments table -------------------------------------------------------------------------

export interface SortState {
  column: string;
  descending: boolean;
}

/** What the table keeps with `setState` (and gets back after a reload). */
export interface ExperimentsState {
  sort?: SortState;
  filter: string;
  /** Column ids in display order; columns discovered later are appended. */
  order: string[];
  hidden: string[];
  selected: string[];
  scrollTop: number;
}

export type HostToExperiments =
  /** `runs` packed by column (`packRuns`) when there are many: they are copied to the webview far quicker. */
  | { type: 'init'; runs: RunRow[] | PackedRuns; state?: ExperimentsState }
  /** Replaces every run. */
  | { type: 'runs'; runs: RunRow[] | PackedRuns }
  /** One run changed (live progress) or appeared. */
  | { type: 'run'; run: RunRow }
  | { type: 'removed'; ids: string[] };

export type ExperimentsToHost =
  { type: 'ready' } | { type: 'compare'; ids: string[] } | { type: 'openRun'; id: string };

// ---- compare ------------------------------------------------------------------------------------

/** A plot the pipeline declares (`plots: [{path, x, y}]`); series are matched to it by stage and file. */
export interface PlotSpec {
  stage: string;
  file: string;
  x?: string;
  y?: string[];
  title?: string;
}

export interface CompareState {
  ids: string[];
  showAllParams: boolean;
  scrollTop: number;
}

export type HostToCompare =
  | { type: 'init'; runs: RunRow[]; series: Record<string, Series[]>; plots?: PlotSpec[] }
  /** A run's rows changed (a running run's metrics, say). */
  | { type: 'runs'; runs: RunRow[] }
  /** Live: the series one stage of a run has written so far; replaces that run's series of that stage. */
  | { type: 'series'; run: string; stage: string; series: Series[] };

export type ExportFormat = 'png' | 'svg';

export type CompareToHost =
  | { type: 'ready' }
  | { type: 'openRun'; id: string }
  /** `data`: SVG text, or a PNG as base64 (no `data:` prefix). */
  | { type: 'export'; format: ExportFormat; name: string; data: string };

// ---- runs packed by column -----------------------------------------------------------------------
// A webview message is copied with the structured clone algorithm, whose cost is per value: 100,000
// runs x 50 metrics as objects took seconds, while a Float64Array per metric and one JSON text per
// text column are a few large values. The table reads cells from the columns and builds a run's
// object only when something asks for it (webviews/src/shared/packed-runs.ts).

export interface PackedRuns {
  packed: 1;
  count: number;
  /** JSON arrays of `count` texts (or null where a run has none). */
  ids: string;
  names: string;
  pipelines: string;
  statuses: string;
  started: string;
  ended: string;
  commits: string;
  notes: string;
  /** NaN where a run has none. */
  durations: Float64Array;
  /** 0: unknown, 1: clean, 2: dirty. */
  dirty: Uint8Array;
  stagesDone: Float64Array;
  stagesTotal: Float64Array;
  /** Each run's running stages, params (as in RunRow) and tags, as JSON read only for the runs built. */
  running: PerRunJson;
  params: PerRunJson;
  tags: PerRunJson;
  /** Every tag key of the runs. */
  tagKeys: string[];
  /** Flattened param keys, and per key a JSON array of `count` entries: [value], or 0 where none. */
  paramKeys: string[];
  paramValues: string[];
  /** Metric keys; per key a Float64Array (NaN where none, or where the value is not a number). */
  metricKeys: string[];
  metricNumbers: Float64Array[];
  /** JSON: metric values that are not numbers, { key: { runIndex: value } }. */
  metricOther: string;
}

/** One JSON text per run, end to end: run i's is text.slice(ends[i - 1], ends[i]) (empty: none). */
export interface PerRunJson {
  text: string;
  ends: Uint32Array;
}

function perRunJson(values: readonly unknown[]): PerRunJson {
  const ends = new Uint32Array(values.length);
  const parts: string[] = [];
  let length = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value !== undefined) {
      const text = JSON.stringify(value);
      parts.push(text);
      length += text.length;
    }
    ends[i] = length;
  }
  return { text: parts.join(''), ends };
}

export function isPacked(value: unknown): value is PackedRuns {
  return typeof value === 'object' && value !== null && (value as { packed?: unknown }).packed === 1;
}

/** Packs runs for posting (the host side). */
export function packRuns(rows: readonly RunRow[]): PackedRuns {
  const count = rows.length;
  const durations = new Float64Array(count).fill(NaN);
  const dirty = new Uint8Array(count);
  const stagesDone = new Float64Array(count);
  const stagesTotal = new Float64Array(count);
  const running = new Array<unknown>(count);
  const params = new Array<unknown>(count);
  const tags = new Array<unknown>(count);
  const tagKeys = new Set<string>();
  const paramColumns = new Map<string, unknown[]>();
  const metricColumns = new Map<string, Float64Array>();
  const metricOther: Record<string, Record<number, unknown>> = {};
  const text = (pick: (row: RunRow) => string | undefined) => JSON.stringify(rows.map((row) => pick(row) ?? null));
  for (let i = 0; i < count; i++) {
    const row = rows[i];
    if (row.durationMs !== undefined) durations[i] = row.durationMs;
    dirty[i] = row.dirty === undefined ? 0 : row.dirty ? 2 : 1;
    stagesDone[i] = row.stages?.done ?? 0;
    stagesTotal[i] = row.stages?.total ?? 0;
    if (row.stages?.running?.length) running[i] = row.stages.running;
    if (row.params && Object.keys(row.params).length > 0) {
      params[i] = row.params;
      const flat = flattenParams(row.params);
      for (const key in flat) {
        let column = paramColumns.get(key);
        if (!column) paramColumns.set(key, (column = new Array<unknown>(count).fill(0)));
        column[i] = [flat[key]];
      }
    }
    for (const key in row.metrics) {
      const value = row.metrics[key];
      let column = metricColumns.get(key);
      if (!column) metricColumns.set(key, (column = new Float64Array(count).fill(NaN)));
      if (typeof value === 'number' && !Number.isNaN(value)) column[i] = value;
      else (metricOther[key] ??= {})[i] = value;
    }
    if (row.tags && Object.keys(row.tags).length > 0) {
      tags[i] = row.tags;
      for (const key in row.tags) tagKeys.add(key);
    }
  }
  return {
    packed: 1,
    count,
    ids: text((row) => row.id),
    names: text((row) => row.name),
    pipelines: text((row) => row.pipeline),
    statuses: text((row) => row.status),
    started: text((row) => row.started),
    ended: text((row) => row.ended),
    commits: text((row) => row.commit),
    notes: text((row) => row.note),
    durations,
    dirty,
    stagesDone,
    stagesTotal,
    running: perRunJson(running),
    params: perRunJson(params),
    tags: perRunJson(tags),
    tagKeys: [...tagKeys],
    paramKeys: [...paramColumns.keys()],
    paramValues: [...paramColumns.values()].map((values) => JSON.stringify(values)),
    metricKeys: [...metricColumns.keys()],
    metricNumbers: [...metricColumns.values()],
    metricOther: JSON.stringify(metricOther),
  };
}

// ---- helpers ------------------------------------------------------------------------------------

/** The ids in `value` when it is a list of known run ids (deduplicated), else undefined. */
export function knownIds(value: unknown, known: (id: string) => boolean, max = 10_000): string[] | undefined {
  if (!Array.isArray(value) || value.length > max) return undefined;
  const ids = new Set<string>();
  for (const id of value) {
    if (typeof id !== 'string' || !known(id)) return undefined;
    ids.add(id);
  }
  return [...ids];
}

/** A message from the experiments webview, checked; undefined when malformed or naming unknown runs. */
export function parseExperimentsMessage(raw: unknown, known: (id: string) => boolean): ExperimentsToHost | undefined {
  if (!isRecord(raw)) return undefined;
  switch (raw.type) {
    case 'ready':
      return { type: 'ready' };
    case 'compare': {
      const ids = knownIds(raw.ids, known);
      return ids && ids.length > 0 ? { type: 'compare', ids } : undefined;
    }
    case 'openRun':
      return typeof raw.id === 'string' && known(raw.id) ? { type: 'openRun', id: raw.id } : undefined;
    default:
      return undefined;
  }
}

/** Export names become file names: letters, digits and `._-` only, at most 80 characters. */
export function safeFileName(name: string): string {
  const cleaned = name
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[-.]+|-+$/g, '')
    .slice(0, 80);
  return cleaned || 'chart';
}

/** Export data may be large but not unbounded (a 4k PNG is a few MB). */
export const MAX_EXPORT_CHARS = 32 * 1024 * 1024;

/** A message from the compare webview, checked; undefined when malformed or naming unknown runs. */
export function parseCompareMessage(raw: unknown, known: (id: string) => boolean): CompareToHost | undefined {
  if (!isRecord(raw)) return undefined;
  switch (raw.type) {
    case 'ready':
      return { type: 'ready' };
    case 'openRun':
      return typeof raw.id === 'string' && known(raw.id) ? { type: 'openRun', id: raw.id } : undefined;
    case 'export': {
      const { format, name, data } = raw;
      if (
        (format !== 'png' && format !== 'svg') ||
        typeof name !== 'string' ||
        typeof data !== 'string' ||
        data.length > MAX_EXPORT_CHARS
      )
        return undefined;
      if (format === 'png' && !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) return undefined;
      return { type: 'export', format, name: safeFileName(name), data };
    }
    default:
      return undefined;
  }
}

/** Compare state from a restored panel: the run ids it showed, if the state is well formed. */
export function compareIdsOf(state: unknown): string[] | undefined {
  if (!isRecord(state) || !Array.isArray(state.ids)) return undefined;
  const ids = state.ids.filter((id): id is string => typeof id === 'string');
  return ids.length > 0 ? ids : undefined;
}
