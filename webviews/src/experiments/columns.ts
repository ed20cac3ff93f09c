// The table's columns: four fixed ones, then params, metrics and tags discovered from the runs.
// Column ids are the filter language's field names (`params.lr`, `metrics.auc`, `tags.team`).
import type { RunRow } from '../contract';
import type { UnpackedRuns } from '../shared/packed-runs';
import { flattenParams, formatDuration, formatTime, formatValue } from '../shared/values';

export type ColumnKind = 'status' | 'name' | 'started' | 'duration' | 'param' | 'metric' | 'tag';

export interface Column {
  id: string;
  kind: ColumnKind;
  /** The param, metric or tag key. */
  key: string;
  label: string;
  /** Header tooltip: which namespace the column comes from. */
  title: string;
  width: number;
}

/** A run with what the table reads often computed once. */
export interface PreparedRow {
  readonly id: string;
  readonly row: RunRow;
  /** The params flattened (`model.depth`). */
  readonly params: Record<string, unknown>;
  /** A run posted packed: its cells are read from the columns, its row built only when asked. */
  readonly packed?: UnpackedRuns;
  readonly index?: number;
}

export function prepareRow(row: RunRow): PreparedRow {
  return { id: row.id, row, params: flattenParams(row.params ?? {}) };
}

class PackedRow implements PreparedRow {
  private built: RunRow | undefined;
  private flat: Record<string, unknown> | undefined;
  constructor(
    readonly packed: UnpackedRuns,
    readonly index: number,
  ) {}
  get id(): string {
    return this.packed.ids[this.index];
  }
  get row(): RunRow {
    return (this.built ??= this.packed.row(this.index));
  }
  get params(): Record<string, unknown> {
    return (this.flat ??= flattenParams(this.row.params ?? {}));
  }
}

/** The runs of a packed message, each read from the columns until something needs its whole row. */
export function preparePacked(packed: UnpackedRuns): PreparedRow[] {
  const rows = new Array<PreparedRow>(packed.count);
  for (let index = 0; index < packed.count; index++) rows[index] = new PackedRow(packed, index);
  return rows;
}

const FIXED: Column[] = [
  { id: 'status', kind: 'status', key: 'status', label: 'Status', title: 'status', width: 120 },
  { id: 'name', kind: 'name', key: 'name', label: 'Run', title: 'name (id)', width: 220 },
  { id: 'started', kind: 'started', key: 'started', label: 'Started', title: 'started', width: 130 },
  { id: 'duration', kind: 'duration', key: 'duration', label: 'Duration', title: 'duration', width: 90 },
];

const PREFIX: Record<'param' | 'metric' | 'tag', string> = { param: 'params.', metric: 'metrics.', tag: 'tags.' };

export function columnFor(kind: 'param' | 'metric' | 'tag', key: string): Column {
  const width = Math.min(200, Math.max(80, key.length * 7 + 28));
  return { id: PREFIX[kind] + key, kind, key, label: key, title: PREFIX[kind] + key, width };
}

/** Every column the runs have: fixed, then params, metrics and tags, each sorted by key. */
export function discoverColumns(rows: readonly PreparedRow[]): Column[] {
  const params = new Set<string>();
  const metrics = new Set<string>();
  const tags = new Set<string>();
  const packed = new Set<UnpackedRuns>();
  for (const prepared of rows) {
    if (prepared.packed) {
      packed.add(prepared.packed);
      continue;
    }
    const { row, params: flat } = prepared;
    for (const key in flat) params.add(key);
    for (const key in row.metrics) metrics.add(key);
    for (const key in row.tags) tags.add(key);
  }
  // Packed runs say their keys once for all of them.
  for (const runs of packed) {
    for (const key of runs.paramKeys) params.add(key);
    for (const key of runs.metricKeys) metrics.add(key);
    for (const key of runs.tagKeys()) tags.add(key);
  }
  const sorted = (keys: Set<string>) => [...keys].sort((a, b) => a.localeCompare(b));
  return [
    ...FIXED,
    ...sorted(params).map((key) => columnFor('param', key)),
    ...sorted(metrics).map((key) => columnFor('metric', key)),
    ...sorted(tags).map((key) => columnFor('tag', key)),
  ];
}

/** Tags start hidden: they are often long and few runs have them. */
export function hiddenByDefault(column: Column): boolean {
  return column.kind === 'tag';
}

/** The raw value a column sorts by; undefined when the run lacks it. */
export function cellValue(prepared: PreparedRow, column: Column): unknown {
  const { packed, index } = prepared;
  if (packed && index !== undefined) {
    switch (column.kind) {
      case 'status':
        return packed.status(index);
      case 'name':
        return packed.name(index) || prepared.id;
      case 'started':
        return packed.startedAt(index);
      case 'duration':
        return packed.duration(index);
      case 'param':
        return packed.param(column.key, index);
      case 'metric':
        return packed.metric(column.key, index);
      case 'tag':
        break;
    }
  }
  const { row } = prepared;
  switch (column.kind) {
    case 'status':
      return row.status;
    case 'name':
      return row.name || row.id;
    case 'started':
      return row.started;
    case 'duration':
      return row.durationMs;
    case 'param':
      return prepared.params[column.key];
    case 'metric':
      return row.metrics[column.key];
    case 'tag':
      return row.tags[column.key];
  }
}

/** Status words with a symbol, so status does not rest on colour alone. */
export const STATUS_SYMBOL: Record<string, string> = {
  running: '\u25CC',
  succeeded: '\u2713',
  failed: '\u2717',
  cancelled: '\u2298',
  interrupted: '\u26A0',
};

/** The text a cell shows (set with textContent, never parsed as HTML). */
export function cellText(prepared: PreparedRow, column: Column): string {
  const { row } = prepared;
  switch (column.kind) {
    case 'status':
      if (row.status === 'running' && row.stages)
        return `${STATUS_SYMBOL.running} running ${row.stages.done}/${row.stages.total}`;
      return `${STATUS_SYMBOL[row.status] ?? '?'} ${row.status}`;
    case 'name':
      return row.name && row.name !== row.id ? `${row.name} (${row.id})` : row.id;
    case 'started':
      return formatTime(row.started);
    case 'duration':
      return formatDuration(row.durationMs);
    default:
      return formatValue(cellValue(prepared, column));
  }
}

/** `order` (from saved state) filtered to known columns, then the columns it does not name yet. */
export function orderColumns(columns: readonly Column[], order: readonly string[]): Column[] {
  const byId = new Map(columns.map((column) => [column.id, column]));
  const result: Column[] = [];
  const seen = new Set<string>();
  for (const id of order) {
    const column = byId.get(id);
    if (column && !seen.has(id)) {
      result.push(column);
      seen.add(id);
    }
  }
  for (const column of columns) if (!seen.has(column.id)) result.push(column);
  return result;
}

/** Moves column `id` one place left (-1) or right (+1) in `order`; returns the new order. */
export function moveColumn(order: readonly string[], id: string, step: -1 | 1): string[] {
  const next = [...order];
  const index = next.indexOf(id);
  const target = index + step;
  if (index < 0 || target < 0 || target >= next.length) return next;
  [next[index], next[target]] = [next[target], next[index]];
  return next;
}

/** Moves column `id` to just before `before` (drag and drop); returns the new order. */
export function moveColumnBefore(order: readonly string[], id: string, before: string): string[] {
  if (id === before) return [...order];
  const next = order.filter((other) => other !== id);
  const index = next.indexOf(before);
  next.splice(index < 0 ? next.length : index, 0, id);
  return next;
}
