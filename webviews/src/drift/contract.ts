/**
 * The messages between the extension host (client/src/webviews/drift-panel.ts) and the drift report
 * webview (webviews/src/drift/main.ts). Both sides import this module: types and pure helpers only,
 * no DOM, no vscode.
 *
 * Handshake: the webview posts `ready` once its script runs (again after it was hidden and shown);
 * only then does the host post `init`. Everything the webview sends goes through `parseDriftMessage`.
 * The same bundle also runs outside VS Code, in the self-contained HTML export (core/src/drift/html.ts):
 * there it reads the report embedded in the page and posts nothing.
 */
import type { DriftReport } from '../../../core/src/drift/types';
import { isList, isNumber, isRecord, isString } from '../shared/protocol';

export { assertNever } from '../shared/protocol';

export type { DriftReport };

/** The panel's viewType; package.json's `onWebviewPanel:mlpipe.drift` activation event names it. */
export const DRIFT_VIEW_TYPE = 'mlpipe.drift';

/** The table's sortable columns. */
export type DriftSortKey = 'column' | 'type' | 'method' | 'score' | 'threshold' | 'drifted';
export const DRIFT_SORT_KEYS: readonly DriftSortKey[] = ['column', 'type', 'method', 'score', 'threshold', 'drifted'];

export interface DriftSort {
  key: DriftSortKey;
  descending: boolean;
}

/**
 * What the webview keeps with `setState`. It holds the report itself, so a panel restored after a
 * reload re-renders without recomputing (reports are small: a few hundred numbers per column).
 */
export interface DriftState {
  sort: DriftSort;
  /** The column whose details are shown. */
  selected?: string;
  report?: DriftReport;
  /** The panel title the host gave it, kept for the restored panel. */
  title?: string;
}

export type HostToDrift =
  /** `canRerun`: the host knows which pipeline produced the data and can run it again; `rerunLabel` names it. */
  | { type: 'init'; report: DriftReport; canRerun: boolean; rerunLabel?: string; title?: string; state?: DriftState }
  /** The rerun the webview asked for started (`running: true`) or ended. */
  | { type: 'rerunning'; running: boolean };

export type DriftToHost = { type: 'ready' } | { type: 'rerun' } | { type: 'exportHtml' };

/** A message from the drift webview, checked; undefined when malformed. */
export function parseDriftMessage(raw: unknown): DriftToHost | undefined {
  if (!isRecord(raw)) return undefined;
  switch (raw.type) {
    case 'ready':
      return { type: 'ready' };
    case 'rerun':
      return { type: 'rerun' };
    case 'exportHtml':
      return { type: 'exportHtml' };
    default:
      return undefined;
  }
}

/**
 * Whether `value` has a drift report's shape (version 1): the fields the view reads, with their
 * types. Details are optional and checked only for their kind; the view tolerates ragged arrays.
 */
export function isDriftReport(value: unknown): value is DriftReport {
  if (!isRecord(value) || value.version !== 1) return false;
  if (
    typeof value.dataset_drift !== 'boolean' ||
    !isNumber(value.drift_share) ||
    !isNumber(value.share_of_drifted_columns)
  )
    return false;
  if (!isNumber(value.number_of_columns) || !isNumber(value.number_of_drifted_columns)) return false;
  const side = (entry: unknown) => isRecord(entry) && isString(entry.path) && isNumber(entry.rows);
  if (!side(value.reference) || !side(value.current) || !isList(value.notes, isString)) return false;
  if (
    !Array.isArray(value.skipped) ||
    !value.skipped.every((entry) => isRecord(entry) && isString(entry.column) && isString(entry.reason))
  )
    return false;
  if (!Array.isArray(value.columns)) return false;
  return value.columns.every(
    (column) =>
      isRecord(column) &&
      isString(column.column) &&
      (column.type === 'num' || column.type === 'cat') &&
      isString(column.method) &&
      isNumber(column.score) &&
      isNumber(column.threshold) &&
      typeof column.drifted === 'boolean' &&
      (column.p_value === null || isNumber(column.p_value)) &&
      isList(column.notes, isString) &&
      (column.details === undefined ||
        (isRecord(column.details) && (column.details.kind === 'histogram' || column.details.kind === 'categories'))),
  );
}

/** The sort a saved state names, or the default: drifted columns first. */
export function sortOf(value: unknown): DriftSort {
  if (isRecord(value) && DRIFT_SORT_KEYS.includes(value.key as DriftSortKey))
    return { key: value.key as DriftSortKey, descending: value.descending === true };
  return { key: 'drifted', descending: true };
}

/** A restored panel's state, checked: undefined unless it holds a well-formed report. */
export function driftStateOf(state: unknown): (DriftState & { report: DriftReport }) | undefined {
  if (!isRecord(state) || !isDriftReport(state.report)) return undefined;
  return {
    sort: sortOf(state.sort),
    selected: isString(state.selected) ? state.selected : undefined,
    report: state.report,
    title: isString(state.title) ? state.title : undefined,
  };
}
