// The drift report: a headline with the dataset verdict, a sortable table of the compared columns
// with sparklines, a detail view of the selected column (overlaid distributions, ECDFs, what the
// method's score means), skipped columns and notes. The same script runs in a VS Code webview (data
// from the host's `init`) and in the exported HTML file (data from the page's embedded JSON, no host).
import type { ColumnDrift, DriftReport } from '../../../core/src/drift/types';
import { el } from '../shared/dom';
import { channel, debounce, type Channel } from '../shared/vscode';
import { categoryChart, ecdfChart, histogramChart, legend, sparkline } from './charts';
import {
  assertNever,
  isDriftReport,
  sortOf,
  type DriftSortKey,
  type DriftState,
  type DriftToHost,
  type HostToDrift,
} from './contract';
import {
  driftFound,
  fileName,
  formatCount,
  formatScore,
  headline,
  isTest,
  kindLabel,
  methodExplanation,
  methodLabel,
  nextSort,
  sortColumns,
  thresholdText,
  verdictText,
} from './model';

// ---- where we run ------------------------------------------------------------------------------

const inVsCode = typeof (globalThis as { acquireVsCodeApi?: unknown }).acquireVsCodeApi === 'function';
const host: Channel<DriftToHost, DriftState> | undefined = inVsCode ? channel<DriftToHost, DriftState>() : undefined;

if (!inVsCode) {
  // The exported file: no VS Code theme variables, so drift.css's defaults apply, light or dark as the viewer's system is.
  document.documentElement.classList.add('standalone');
  const dark = window.matchMedia('(prefers-color-scheme: dark)');
  const applyScheme = () => {
    document.body.classList.toggle('vscode-dark', dark.matches);
    document.body.classList.toggle('vscode-light', !dark.matches);
  };
  applyScheme();
  dark.addEventListener('change', applyScheme);
}

const saved = host?.state();
const state: DriftState = {
  sort: sortOf(saved?.sort),
  selected: typeof saved?.selected === 'string' ? saved.selected : undefined,
  report: isDriftReport(saved?.report) ? saved.report : undefined,
  title: typeof saved?.title === 'string' ? saved.title : undefined,
};
// Saved at once (setState is cheap): a panel reloaded right after a click comes back as it was.
const save = () => host?.saveState(state);

let report: DriftReport | undefined;
let canRerun = false;
let rerunLabel: string | undefined;
let rerunning = false;

// ---- the page ----------------------------------------------------------------------------------

const statusIcon = el('span', { class: 'status-icon', 'aria-hidden': 'true' });
const title = el('h1', { id: 'headline' });
const rerunButton = el('button', { class: 'button primary', type: 'button', hidden: true });
const exportButton = el(
  'button',
  {
    class: 'button secondary',
    type: 'button',
    hidden: true,
    title: 'Save this report as one HTML file that opens in any browser, offline',
  },
  'Export HTML',
);
const verdict = el('p', { class: 'verdict' });
const files = el('dl', { class: 'files' });
const tableHead = el('thead');
const tableBody = el('tbody');
const table = el('table', { class: 'drift-table', 'aria-label': 'Compared columns' }, tableHead, tableBody);
const detail = el('section', { class: 'detail', 'aria-label': 'Column details' });
const extras = el('div', { class: 'extras' });
const app = document.getElementById('app') ?? document.body;
app.append(
  el(
    'header',
    { class: 'summary' },
    el('div', { class: 'headline-row' }, statusIcon, title, el('div', { class: 'actions' }, rerunButton, exportButton)),
    verdict,
    files,
  ),
  el(
    'div',
    { class: 'content' },
    el(
      'section',
      { class: 'columns', 'aria-labelledby': 'columns-title' },
      el('h2', { id: 'columns-title' }, 'Columns'),
      el('div', { class: 'table-wrap' }, table),
    ),
    detail,
  ),
  extras,
);

rerunButton.addEventListener('click', () => {
  if (!canRerun || rerunning) return;
  host?.post({ type: 'rerun' });
});
exportButton.addEventListener('click', () => host?.post({ type: 'exportHtml' }));

// ---- rendering ---------------------------------------------------------------------------------

function renderSummary(current: DriftReport): void {
  const line = headline(current);
  document.body.classList.toggle('drift-found', line.drift);
  statusIcon.textContent = line.drift ? '\u26a0\ufe0e' : '\u2713';
  title.textContent = line.title;
  verdict.replaceChildren(
    el(
      'span',
      { class: current.dataset_drift ? 'badge drifted' : 'badge ok' },
      current.dataset_drift ? '\u26a0\ufe0e Dataset drift' : '\u2713 No dataset drift',
    ),
    ' ',
    line.verdict.replace(/^Dataset drift: (yes|no)\. /, ''),
  );
  const side = (label: string, info: { path: string; rows: number }) => [
    el('dt', {}, label),
    el(
      'dd',
      {},
      el('span', { class: 'file', title: info.path }, fileName(info.path)),
      el('span', { class: 'muted' }, ` \u00b7 ${formatCount(info.rows)} ${info.rows === 1 ? 'row' : 'rows'}`),
    ),
  ];
  files.replaceChildren(...side('Reference', current.reference), ...side('Current', current.current));
  const found = driftFound(current);
  rerunButton.hidden = !inVsCode || !found;
  rerunButton.disabled = !canRerun || rerunning;
  rerunButton.textContent = rerunning ? 'Running\u2026' : 'Run pipeline again';
  rerunButton.title = canRerun
    ? `Run ${rerunLabel ?? 'the pipeline'} again, so the model is retrained on the current data`
    : 'mlpipe does not know which pipeline produced these files, so it cannot run it again from here';
  exportButton.hidden = !inVsCode;
}

const HEADERS: { key: DriftSortKey; label: string; title?: string; numeric?: boolean }[] = [
  { key: 'column', label: 'Column' },
  { key: 'type', label: 'Type' },
  { key: 'method', label: 'Method', title: 'The statistical test or distance used for the column' },
  {
    key: 'score',
    label: 'Score',
    numeric: true,
    title: 'Tests (K-S, chi-square, Z): the p-value, lower means more drift. Distances: higher means more drift.',
  },
  {
    key: 'threshold',
    label: 'Threshold',
    numeric: true,
    title: 'The rule for drift: p below it for tests, score at or above it for distances',
  },
  { key: 'drifted', label: 'Drift' },
];

function renderHead(): void {
  const cells = HEADERS.map((header) => {
    const active = state.sort.key === header.key;
    const arrow = el(
      'span',
      { class: 'sort-arrow', 'aria-hidden': 'true' },
      active ? (state.sort.descending ? '\u25bc' : '\u25b2') : '',
    );
    const button = el('button', { class: 'sort', type: 'button', title: header.title }, header.label, arrow);
    button.addEventListener('click', () => {
      state.sort = nextSort(state.sort, header.key);
      save();
      renderTable();
    });
    return el(
      'th',
      {
        scope: 'col',
        class: header.numeric ? 'num' : undefined,
        'aria-sort': active ? (state.sort.descending ? 'descending' : 'ascending') : 'none',
      },
      button,
    );
  });
  tableHead.replaceChildren(el('tr', {}, ...cells, el('th', { scope: 'col', class: 'spark-col' }, 'Distribution')));
}

function badge(drifted: boolean): HTMLElement {
  return drifted
    ? el('span', { class: 'badge drifted' }, '\u26a0\ufe0e Drifted')
    : el('span', { class: 'badge ok' }, '\u2713 No drift');
}

let rows: HTMLTableRowElement[] = [];

function renderTable(): void {
  if (!report) return;
  renderHead();
  const columns = sortColumns(report.columns, state.sort);
  if (columns.length === 0) {
    rows = [];
    tableBody.replaceChildren(
      el('tr', {}, el('td', { colspan: HEADERS.length + 1, class: 'muted empty' }, 'No columns were compared.')),
    );
    return;
  }
  if (!columns.some((column) => column.column === state.selected)) state.selected = columns[0]!.column;
  rows = columns.map((column) => {
    const selected = column.column === state.selected;
    const row = el(
      'tr',
      {
        tabindex: selected ? 0 : -1,
        'aria-selected': String(selected),
        class: column.drifted ? 'is-drifted' : undefined,
      },
      el('th', { scope: 'row', class: 'name', title: column.column }, column.column),
      el('td', { title: kindLabel(column.type) }, column.type),
      el('td', { title: column.method_reason || undefined }, methodLabel(column.method)),
      el('td', { class: 'num', title: isTest(column.method) ? 'p-value' : 'distance' }, formatScore(column.score)),
      el('td', { class: 'num' }, thresholdText(column)),
      el('td', {}, badge(column.drifted)),
      el(
        'td',
        { class: 'spark-cell', title: 'Reference (filled) and current (outline) distributions' },
        sparkline(column) ?? el('span', { class: 'muted' }, '\u2014'),
      ),
    );
    row.dataset.column = column.column;
    row.addEventListener('click', () => select(column.column, false));
    return row;
  });
  tableBody.replaceChildren(...rows);
}

table.addEventListener('keydown', (event) => {
  const index = rows.findIndex((row) => row.dataset.column === state.selected);
  let next = index;
  if (event.key === 'ArrowDown') next = Math.min(rows.length - 1, index + 1);
  else if (event.key === 'ArrowUp') next = Math.max(0, index - 1);
  else if (event.key === 'Home') next = 0;
  else if (event.key === 'End') next = rows.length - 1;
  else return;
  if (!(event.target instanceof HTMLTableRowElement)) return;
  event.preventDefault();
  const column = rows[next]?.dataset.column;
  if (column !== undefined) select(column, true);
});

function select(column: string, focus: boolean): void {
  state.selected = column;
  save();
  for (const row of rows) {
    const selected = row.dataset.column === column;
    row.setAttribute('aria-selected', String(selected));
    row.tabIndex = selected ? 0 : -1;
    if (selected && focus) {
      row.focus();
      row.scrollIntoView({ block: 'nearest' });
    }
  }
  renderDetail();
}

function fact(label: string, value: string | Node, hint?: string): HTMLElement[] {
  return [el('dt', {}, label), el('dd', { title: hint }, value)];
}

let detailWidth = 0;

function renderDetail(): void {
  const column = report?.columns.find((entry) => entry.column === state.selected);
  if (!report || !column) {
    detail.replaceChildren(el('p', { class: 'muted' }, 'Select a column to see its distributions.'));
    return;
  }
  detailWidth = chartWidth();
  const parts: Node[] = [
    el(
      'div',
      { class: 'detail-head' },
      el('h2', { class: 'detail-title', title: column.column }, column.column),
      badge(column.drifted),
    ),
    el('p', { class: 'detail-verdict' }, verdictText(column)),
    el(
      'dl',
      { class: 'facts' },
      ...fact('Type', kindLabel(column.type)),
      ...fact('Method', methodLabel(column.method), column.method_reason || undefined),
      ...(column.method_reason ? fact('Why this method', column.method_reason) : []),
      ...fact('Statistic', formatScore(column.statistic)),
      ...(column.p_value !== null ? fact('p-value', formatScore(column.p_value)) : []),
      ...fact('Threshold', thresholdText(column)),
      ...fact(
        'Rows compared',
        `${formatCount(column.reference_rows)} reference, ${formatCount(column.current_rows)} current`,
        'Rows with a value; missing values do not count',
      ),
    ),
    el('p', { class: 'explanation' }, methodExplanation(column.method)),
  ];
  parts.push(...charts(column, report));
  if (column.notes.length > 0)
    parts.push(el('h3', {}, 'Notes'), el('ul', { class: 'notes' }, ...column.notes.map((note) => el('li', {}, note))));
  detail.replaceChildren(...parts);
}

function chartWidth(): number {
  return Math.max(280, Math.min(900, Math.floor(detail.clientWidth - 2)));
}

function charts(column: ColumnDrift, current: DriftReport): Node[] {
  const details = column.details;
  if (!details)
    return [el('p', { class: 'muted' }, 'This report has no chart data for the column (it was made without details).')];
  if (details.kind === 'categories') {
    return [
      el(
        'div',
        { class: 'chart-head' },
        el('h3', {}, 'Category shares'),
        legend(current.reference.path, current.current.path, false),
      ),
      el('div', { class: 'cat-wrap' }, categoryChart(details)),
    ];
  }
  return [
    el(
      'div',
      { class: 'chart-head' },
      el('h3', {}, 'Distribution'),
      legend(current.reference.path, current.current.path, false),
    ),
    el('div', { class: 'chart-box' }, histogramChart(details, detailWidth, column.column)),
    el(
      'div',
      { class: 'chart-head' },
      el('h3', {}, 'Cumulative distribution'),
      legend(current.reference.path, current.current.path, true),
    ),
    el(
      'div',
      { class: 'chart-box' },
      ecdfChart(details, detailWidth, column.column, column.method === 'ks' ? column.statistic : undefined),
    ),
  ];
}

new ResizeObserver(
  debounce(() => {
    if (report && Math.abs(chartWidth() - detailWidth) > 8) renderDetail();
  }, 100),
).observe(detail);

function renderExtras(current: DriftReport): void {
  const parts: Node[] = [];
  if (current.skipped.length > 0) {
    parts.push(
      el(
        'section',
        { class: 'skipped' },
        el('h2', {}, `Skipped columns (${current.skipped.length})`),
        el(
          'ul',
          {},
          ...current.skipped.map((entry) =>
            el(
              'li',
              {},
              el('span', { class: 'name' }, entry.column),
              el('span', { class: 'muted' }, `: ${entry.reason}`),
            ),
          ),
        ),
      ),
    );
  }
  if (current.notes.length > 0)
    parts.push(
      el(
        'section',
        { class: 'report-notes' },
        el('h2', {}, 'Notes'),
        el('ul', {}, ...current.notes.map((note) => el('li', {}, note))),
      ),
    );
  extras.replaceChildren(...parts);
}

function show(next: DriftReport): void {
  report = next;
  state.report = next;
  save();
  document.title = state.title ?? `Drift: ${fileName(next.current.path)} vs ${fileName(next.reference.path)}`;
  renderSummary(next);
  renderTable();
  renderExtras(next);
  renderDetail();
  document.body.dataset.rendered = String(next.columns.length);
}

// ---- data --------------------------------------------------------------------------------------

if (host) {
  if (state.report) show(state.report);
  host.onMessage((data) => {
    const message = data as HostToDrift;
    switch (message.type) {
      case 'init':
        canRerun = message.canRerun;
        rerunLabel = message.rerunLabel;
        if (message.title !== undefined) state.title = message.title;
        if (message.state && !saved) {
          state.sort = sortOf(message.state.sort);
          state.selected = message.state.selected ?? state.selected;
        }
        show(message.report);
        break;
      case 'rerunning':
        rerunning = message.running;
        if (report) renderSummary(report);
        break;
      default:
        assertNever(message);
    }
  });
  host.post({ type: 'ready' });
} else {
  const embedded = document.getElementById('report')?.textContent ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(embedded);
  } catch {
    parsed = undefined;
  }
  if (isDriftReport(parsed)) show(parsed);
  else
    app.replaceChildren(
      el(
        'p',
        { class: 'error' },
        'This page holds no readable drift report (the embedded JSON is missing or malformed).',
      ),
    );
}
