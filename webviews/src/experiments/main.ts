// The experiments table webview: one row per run, columns discovered from the runs, sorting,
// filtering with the CLI's query language, selection, and "Compare" for the selected runs.
import { registerComponents, type ButtonElement, type CheckboxElement, type TextFieldElement } from '../components';
import {
  assertNever,
  type ExperimentsState,
  type ExperimentsToHost,
  type HostToExperiments,
  type RunRow,
} from '../contract';
import { el } from '../shared/dom';
import { channel, debounce, perFrame } from '../shared/vscode';
import {
  discoverColumns,
  hiddenByDefault,
  moveColumn,
  moveColumnBefore,
  orderColumns,
  preparePacked,
  prepareRow,
  type Column,
  type PreparedRow,
} from './columns';
import { TableView } from './table-view';
import { isPacked, UnpackedRuns, type PackedRuns } from '../shared/packed-runs';
import { applyClick, filterRows, parseFilter, rangeIds, sortRows, type RowFilter } from './table-model';

registerComponents();

const vscode = channel<ExperimentsToHost, ExperimentsState>();
const saved = vscode.state();
const state: ExperimentsState = {
  filter: typeof saved?.filter === 'string' ? saved.filter : '',
  order: Array.isArray(saved?.order) ? saved.order : [],
  hidden: Array.isArray(saved?.hidden) ? saved.hidden : [],
  selected: Array.isArray(saved?.selected) ? saved.selected : [],
  scrollTop: typeof saved?.scrollTop === 'number' ? saved.scrollTop : 0,
  sort: saved?.sort,
};

let rows: PreparedRow[] = [];
let byId = new Map<string, PreparedRow>();
let columns: Column[] = [];
let known = new Set<string>();
let view: PreparedRow[] = [];
let viewIds: string[] | undefined;
let filter: RowFilter = parseFilter(state.filter);
let selected = new Set(state.selected);
let anchor: string | undefined;
let initialised = false;
/** Hidden columns: by the user, or by default (tags) when first seen. */
let hidden = new Set(state.hidden);

// Saved at once on every change (setState is cheap), so a panel hidden or reloaded right after a
// click comes back as it was; only scrolling, which fires continuously, is debounced.
const save = () => vscode.saveState({ ...state, selected: [...selected] });
const saveScroll = debounce(save, 200);

// ---- layout -------------------------------------------------------------------------------------

const filterField = el('vscode-text-field', {
  class: 'filter',
  placeholder: 'Filter: metrics.auc > 0.8 and params.lr < 0.01, or any text',
  'aria-label': 'Filter runs',
}) as TextFieldElement;
const filterError = el('div', { class: 'filter-error', role: 'alert', hidden: true });
const count = el('span', { class: 'count', title: 'Runs shown / all runs', 'aria-live': 'polite' });
const compareButton = el(
  'vscode-button',
  { title: 'Compare the selected runs (select with the checkboxes; shift-click for a range)' },
  'Compare',
) as ButtonElement;
const clearButton = el('vscode-button', { appearance: 'secondary' }, 'Clear selection') as ButtonElement;
const columnsButton = el(
  'vscode-button',
  { appearance: 'secondary', 'aria-expanded': 'false' },
  'Columns',
) as ButtonElement;
const chooser = el('div', { class: 'column-chooser', hidden: true, role: 'dialog', 'aria-label': 'Columns' });
const empty = el('div', { class: 'empty', hidden: true });
const app = document.getElementById('app') ?? document.body;
app.append(
  el('div', { class: 'toolbar' }, filterField, count, compareButton, clearButton, columnsButton),
  filterError,
  chooser,
  empty,
);
filterField.value = state.filter;

const table = new TableView(app, {
  sort(columnId) {
    const sort = state.sort;
    state.sort =
      sort?.column !== columnId
        ? { column: columnId, descending: false }
        : !sort.descending
          ? { column: columnId, descending: true }
          : undefined;
    applyColumns();
    refresh();
  },
  reorder(columnId, beforeId) {
    state.order = moveColumnBefore(
      orderColumns(columns, state.order).map((column) => column.id),
      columnId,
      beforeId,
    );
    applyColumns();
  },
  toggle(id, shift) {
    selected = applyClick(selected, ids(), anchor, id, shift);
    anchor = id;
    selectionChanged();
  },
  rowClick(id, modifiers) {
    if (modifiers.shift) selected = new Set([...(modifiers.toggle ? selected : []), ...rangeIds(ids(), anchor, id)]);
    else {
      selected = modifiers.toggle ? applyClick(selected, ids(), anchor, id, false) : new Set([id]);
      anchor = id;
    }
    selectionChanged();
  },
  toggleAll() {
    const shown = ids();
    const all = shown.length > 0 && shown.every((id) => selected.has(id));
    const inView = new Set(shown);
    selected = all ? new Set([...selected].filter((id) => !inView.has(id))) : new Set([...selected, ...shown]);
    selectionChanged();
  },
  open(id) {
    vscode.post({ type: 'openRun', id });
  },
  scrolled(top) {
    state.scrollTop = top;
    saveScroll();
  },
});

function ids(): string[] {
  return (viewIds ??= view.map((prepared) => prepared.id));
}

// ---- columns ------------------------------------------------------------------------------------

function visibleColumns(): Column[] {
  return orderColumns(columns, state.order).filter((column) => !hidden.has(column.id));
}

function applyColumns(): void {
  table.setColumns(visibleColumns(), state.sort);
  if (!chooser.hidden) renderChooser();
  save();
}

function discover(): void {
  const before = new Set(columns.map((column) => column.id));
  columns = discoverColumns(rows);
  known = new Set(
    columns.flatMap((column) =>
      column.kind === 'param'
        ? [`p:${column.key}`]
        : column.kind === 'metric'
          ? [`m:${column.key}`]
          : column.kind === 'tag'
            ? [`t:${column.key}`]
            : [],
    ),
  );
  // New columns take their default visibility unless the user already chose one.
  const chosen = new Set(state.order);
  for (const column of columns)
    if (!before.has(column.id) && !chosen.has(column.id) && hiddenByDefault(column)) hidden.add(column.id);
  state.hidden = [...hidden];
  state.order = orderColumns(columns, state.order).map((column) => column.id);
  applyColumns();
}

/** Whether a run brings a param, metric or tag no column shows yet. */
function bringsColumns(prepared: PreparedRow): boolean {
  for (const key in prepared.params) if (!known.has(`p:${key}`)) return true;
  for (const key in prepared.row.metrics) if (!known.has(`m:${key}`)) return true;
  for (const key in prepared.row.tags) if (!known.has(`t:${key}`)) return true;
  return false;
}

function setHidden(id: string, hide: boolean): void {
  if (hide) hidden.add(id);
  else hidden.delete(id);
  state.hidden = [...hidden];
  applyColumns();
  if (filter.kind === 'text') refresh();
}

function renderChooser(): void {
  const ordered = orderColumns(columns, state.order);
  const list = el('ul', { class: 'column-list' });
  ordered.forEach((column, index) => {
    const checkbox = el('vscode-checkbox', { title: column.title }, column.title) as CheckboxElement;
    checkbox.checked = !hidden.has(column.id);
    checkbox.addEventListener('change', () => setHidden(column.id, !checkbox.checked));
    const left = el(
      'button',
      {
        class: 'icon-button',
        title: `Move ${column.title} left`,
        'aria-label': `Move ${column.title} left`,
        disabled: index === 0,
      },
      '\u25C0',
    );
    const right = el(
      'button',
      {
        class: 'icon-button',
        title: `Move ${column.title} right`,
        'aria-label': `Move ${column.title} right`,
        disabled: index === ordered.length - 1,
      },
      '\u25B6',
    );
    left.addEventListener('click', () => move(column.id, -1));
    right.addEventListener('click', () => move(column.id, 1));
    list.append(el('li', {}, left, right, checkbox));
  });
  const showAll = el('vscode-button', { appearance: 'secondary' }, 'Show all');
  showAll.addEventListener('click', () => {
    hidden = new Set();
    state.hidden = [];
    applyColumns();
  });
  const reset = el('vscode-button', { appearance: 'secondary' }, 'Reset order');
  reset.addEventListener('click', () => {
    state.order = [];
    hidden = new Set(columns.filter(hiddenByDefault).map((column) => column.id));
    state.hidden = [...hidden];
    applyColumns();
  });
  chooser.replaceChildren(el('div', { class: 'chooser-actions' }, showAll, reset), list);
}

function move(id: string, step: -1 | 1): void {
  state.order = moveColumn(
    orderColumns(columns, state.order).map((column) => column.id),
    id,
    step,
  );
  applyColumns();
}

columnsButton.addEventListener('click', () => {
  chooser.hidden = !chooser.hidden;
  columnsButton.setAttribute('aria-expanded', String(!chooser.hidden));
  if (!chooser.hidden) renderChooser();
});

// ---- rows ---------------------------------------------------------------------------------------

function selectionChanged(): void {
  for (const id of selected) if (!byId.has(id)) selected.delete(id);
  table.setSelection(selected);
  const shown = ids();
  const inView = shown.reduce((n, id) => n + (selected.has(id) ? 1 : 0), 0);
  table.setAllChecked(inView === 0 ? 'none' : inView === shown.length ? 'all' : 'some');
  compareButton.textContent = selected.size > 0 ? `Compare (${selected.size})` : 'Compare';
  compareButton.disabled = selected.size === 0;
  clearButton.disabled = selected.size === 0;
  save();
}

function refresh(): void {
  const sortColumn = state.sort ? columns.find((column) => column.id === state.sort!.column) : undefined;
  view = sortRows(filterRows(rows, filter, visibleColumns()), sortColumn, state.sort?.descending ?? false);
  viewIds = undefined;
  table.setRows(view, selected);
  count.textContent = view.length === rows.length ? `${rows.length} runs` : `${view.length} of ${rows.length} runs`;
  empty.hidden = view.length > 0 || !initialised;
  empty.textContent =
    rows.length === 0
      ? 'No runs yet: run a pipeline (MLPipe: Run Pipeline) and its runs appear here.'
      : 'No run matches the filter.';
  selectionChanged();
}
const refreshSoon = perFrame(refresh);

function setAll(runs: RunRow[] | PackedRuns): void {
  rows = isPacked(runs) ? preparePacked(new UnpackedRuns(runs)) : runs.map(prepareRow);
  byId = new Map(rows.map((prepared) => [prepared.id, prepared]));
  discover();
  refresh();
}

function upsert(run: RunRow): void {
  const prepared = prepareRow(run);
  const existing = byId.get(run.id);
  if (existing) rows[rows.indexOf(existing)] = prepared;
  else rows.unshift(prepared);
  byId.set(run.id, prepared);
  if (bringsColumns(prepared)) discover();
  refreshSoon();
}

function remove(removed: string[]): void {
  const gone = new Set(removed);
  rows = rows.filter((prepared) => !gone.has(prepared.id));
  for (const id of removed) byId.delete(id);
  refreshSoon();
}

const applyFilter = debounce(() => {
  state.filter = filterField.value;
  filter = parseFilter(state.filter);
  if (filter.kind === 'error') {
    filterError.hidden = false;
    filterError.textContent = `Column ${filter.offset + 1}: ${filter.message}`;
    filterField.setAttribute('aria-invalid', 'true');
  } else {
    filterError.hidden = true;
    filterField.removeAttribute('aria-invalid');
  }
  refresh();
  save();
}, 120);
filterField.addEventListener('input', applyFilter);
compareButton.addEventListener('click', () => {
  if (selected.size > 0) vscode.post({ type: 'compare', ids: [...selected] });
});
clearButton.addEventListener('click', () => {
  selected = new Set();
  selectionChanged();
});

function restore(from: ExperimentsState): void {
  Object.assign(state, from);
  filter = parseFilter(state.filter);
  selected = new Set(state.selected);
  hidden = new Set(state.hidden);
  filterField.value = state.filter;
}

vscode.onMessage((data) => {
  const message = data as HostToExperiments;
  switch (message.type) {
    case 'init': {
      const first = !initialised;
      initialised = true;
      // State the host kept (a restored panel whose webview lost its own) applies when the webview has none.
      if (first && !saved && message.state) restore(message.state);
      setAll(message.runs);
      table.render();
      if (first && state.scrollTop > 0) table.scrollTo(state.scrollTop);
      // The benchmark and tests wait for this: the rows are in the DOM.
      document.body.dataset.rendered = String(view.length);
      performance.mark('mlpipe-table-rendered');
      break;
    }
    case 'runs':
      setAll(message.runs);
      break;
    case 'run':
      upsert(message.run);
      break;
    case 'removed':
      remove(message.ids);
      break;
    default:
      assertNever(message);
  }
});

if (filter.kind === 'error') applyFilter();
vscode.post({ type: 'ready' });
