/**
 * The messages between the extension host (client/src/webviews) and the experiment webviews, one
 * discriminated union per direction and panel. Both sides import this module, so it holds types and
 * a few pure helpers only: no DOM, no vscode.
 *
 * Handshake: the webview posts `ready` once its script runs (after a reload too); only then does
 * the host post `init`. Everything the webview sends is validated by the host (`parse*Message`).
 */
import type { Series } from '../../core/src/store/series';
import type { DisplayStatus, RunSummary } from '../../core/src/store/store';
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

export type { Series };

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
  | { type: 'init'; runs: RunRow[]; state?: ExperimentsState }
  /** Replaces every run. */
  | { type: 'runs'; runs: RunRow[] }
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
