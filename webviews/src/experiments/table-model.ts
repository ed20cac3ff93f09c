// The table's pure logic: filtering (the CLI's MLflow-like query language, or plain text), sorting
// (missing values last, numbers numerically) and range selection. No DOM, so node:test covers it.
import { compileFilter, QueryError, type Queryable } from '../../../core/src/store/query';
import { cellText, cellValue, type Column, type PreparedRow } from './columns';

export function queryableOf(prepared: PreparedRow): Queryable {
  const { row } = prepared;
  return {
    attributes: {
      id: row.id,
      name: row.name,
      status: row.status,
      pipeline: row.pipeline,
      commit: row.commit,
      dirty: row.dirty,
      started: row.started,
      ended: row.ended,
      duration: row.durationMs,
      note: row.note,
    },
    params: prepared.params,
    metrics: row.metrics,
    tags: row.tags,
  };
}

export type RowFilter =
  | { kind: 'all' }
  | { kind: 'query'; test: (prepared: PreparedRow) => boolean }
  | { kind: 'text'; needle: string }
  | { kind: 'error'; message: string; offset: number };

/** Words and operators that say the text is meant as a query, so its mistakes are reported. */
const QUERY_HINT = /[=<>!]|\b(?:like|ilike|in|is|and|or|not)\b|^\s*(?:metrics?|params?|tags?|attributes?|attr)\./i;

/**
 * `metrics.auc > 0.8 and params.lr < 0.01` filters as the CLI does; text that is not a query
 * (`resnet`) matches runs whose visible cells contain it, ignoring case. A query with a mistake is
 * an error with the 0-based offset of the mistake.
 */
export function parseFilter(text: string): RowFilter {
  const trimmed = text.trim();
  if (!trimmed) return { kind: 'all' };
  try {
    const predicate = compileFilter(text);
    const cache = new WeakMap<PreparedRow, Queryable>();
    return {
      kind: 'query',
      test: (prepared) => {
        let queryable = cache.get(prepared);
        if (!queryable) cache.set(prepared, (queryable = queryableOf(prepared)));
        return predicate(queryable);
      },
    };
  } catch (error) {
    if (!(error instanceof QueryError)) throw error;
    if (QUERY_HINT.test(text)) return { kind: 'error', message: error.reason, offset: error.offset };
    return { kind: 'text', needle: trimmed.toLowerCase() };
  }
}

/** The rows the filter keeps, in their given order. */
export function filterRows(rows: readonly PreparedRow[], filter: RowFilter, visible: readonly Column[]): PreparedRow[] {
  switch (filter.kind) {
    case 'all':
    case 'error':
      return rows.slice();
    case 'query':
      return rows.filter(filter.test);
    case 'text':
      return rows.filter(
        (prepared) =>
          prepared.id.toLowerCase().includes(filter.needle) ||
          visible.some((column) => cellText(prepared, column).toLowerCase().includes(filter.needle)),
      );
  }
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

function isMissing(value: unknown): boolean {
  return value === undefined || value === null || value === '' || (typeof value === 'number' && Number.isNaN(value));
}

/** Orders two present values: numbers numerically, booleans false first, text naturally (run-9 before run-10). */
export function compareValues(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return collator.compare(typeof a === 'string' ? a : JSON.stringify(a), typeof b === 'string' ? b : JSON.stringify(b));
}

/** A sorted copy: by the column, missing values last in both directions, stable for ties. */
export function sortRows(rows: readonly PreparedRow[], column: Column | undefined, descending: boolean): PreparedRow[] {
  if (!column) return rows.slice();
  const values = rows.map((prepared) => cellValue(prepared, column));
  const missing = values.map(isMissing);
  const order = rows.map((_, index) => index);
  order.sort((i, j) => {
    if (missing[i] || missing[j]) return missing[i] === missing[j] ? i - j : missing[i] ? 1 : -1;
    const result = compareValues(values[i], values[j]);
    return result === 0 ? i - j : descending ? -result : result;
  });
  return order.map((index) => rows[index]);
}

/** The ids from `anchor` to `target` inclusive in display order (shift-click); just `target` when the anchor is gone. */
export function rangeIds(order: readonly string[], anchor: string | undefined, target: string): string[] {
  const to = order.indexOf(target);
  const from = anchor === undefined ? -1 : order.indexOf(anchor);
  if (to < 0) return [];
  if (from < 0) return [target];
  const [start, end] = from <= to ? [from, to] : [to, from];
  return order.slice(start, end + 1);
}

/**
 * A click on a row's checkbox or with modifiers: shift extends from the anchor to the clicked row
 * (setting them all to the clicked row's new state), otherwise the row toggles.
 */
export function applyClick(
  selected: ReadonlySet<string>,
  order: readonly string[],
  anchor: string | undefined,
  target: string,
  shift: boolean,
): Set<string> {
  const next = new Set(selected);
  const checked = !selected.has(target);
  const ids = shift ? rangeIds(order, anchor, target) : [target];
  for (const id of ids) {
    if (checked) next.add(id);
    else next.delete(id);
  }
  return next;
}
