// The run comparison webview: metric curves overlaid per metric (grouped by the file and stage that
// wrote them), scalar metrics side by side with differences, and the params that differ.
import { registerComponents, type CheckboxElement } from '../components';
import {
  assertNever,
  type CompareState,
  type CompareToHost,
  type HostToCompare,
  type PlotSpec,
  type RunRow,
  type Series,
} from '../contract';
import { runColor } from '../shared/colors';
import { el } from '../shared/dom';
import { onThemeChange, readTheme, type ThemeColors } from '../shared/theme';
import { channel, debounce, perFrame } from '../shared/vscode';
import { formatDelta, formatValue } from '../shared/values';
import { Chart, runLabel } from './chart';
import { chartGroups, paramRows, scalarRows } from './model';

registerComponents();

const vscode = channel<CompareToHost, CompareState>();
const saved = vscode.state();
const state: CompareState = {
  ids: Array.isArray(saved?.ids) ? saved.ids : [],
  showAllParams: saved?.showAllParams === true,
  scrollTop: typeof saved?.scrollTop === 'number' ? saved.scrollTop : 0,
};
// Saved at once (setState is cheap): a panel reloaded right after a click comes back as it was.
const save = () => vscode.saveState(state);

let runs: RunRow[] = [];
let seriesByRun: Record<string, Series[]> = {};
let plots: PlotSpec[] = [];
let theme: ThemeColors = readTheme();
const hiddenRuns = new Set<string>();
const charts = new Map<string, Chart>();
let chartNames = '';

const context = {
  runs: () => runs,
  colorOf: (index: number) => runColor(index, theme.kind, theme.palette),
  hiddenRuns: () => hiddenRuns,
  theme: () => theme,
  export: (format: 'png' | 'svg', name: string, data: string) => vscode.post({ type: 'export', format, name, data }),
};

const legend = el('div', { class: 'legend', role: 'list', 'aria-label': 'Runs' });
const chartsSection = el('div', { class: 'chart-groups' });
const scalarsSection = el('div', { class: 'table-scroll' });
const paramsSection = el('div', { class: 'table-scroll' });
const showAll = el('vscode-checkbox', {}, 'Show all params') as CheckboxElement;
const app = document.getElementById('app') ?? document.body;
app.append(
  el('h2', {}, 'Runs'),
  legend,
  el('vscode-divider'),
  el('h2', {}, 'Metrics'),
  scalarsSection,
  el('div', { class: 'section-header' }, el('h2', {}, 'Params'), showAll),
  paramsSection,
  el('vscode-divider'),
  el('h2', {}, 'Plots'),
  chartsSection,
);
showAll.checked = state.showAllParams;
showAll.addEventListener('change', () => {
  state.showAllParams = showAll.checked;
  renderParams();
  save();
});

// Charts are made when they come near the view, one per frame: the first is painted before the
// next is built (100 runs x 4 charts built in one go kept the first off screen for that long).
const toCreate: string[] = [];
let creating = false;
function createNext(): void {
  const name = toCreate.shift();
  charts.get(name ?? '')?.create();
  creating = toCreate.length > 0;
  // After the frame that paints this chart: a task queued from the next animation frame.
  if (creating) requestAnimationFrame(() => setTimeout(createNext, 0));
}
const lazy = new IntersectionObserver(
  (entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      const name = (entry.target as HTMLElement).dataset.chart;
      if (name !== undefined && !toCreate.includes(name)) toCreate.push(name);
      lazy.unobserve(entry.target);
    }
    if (!creating && toCreate.length > 0) createNext();
  },
  { rootMargin: '300px' },
);
new ResizeObserver(
  debounce(() => {
    for (const chart of charts.values()) chart.resize();
  }, 100),
).observe(chartsSection);

function swatch(index: number): HTMLElement {
  const element = el('span', { class: 'swatch', 'aria-hidden': 'true' });
  element.style.backgroundColor = context.colorOf(index);
  return element;
}

function renderLegend(): void {
  legend.replaceChildren(
    ...runs.map((run, index) => {
      const visible = el('input', {
        type: 'checkbox',
        title: 'Show in the plots',
        'aria-label': `Show ${runLabel(run)} in the plots`,
      });
      visible.checked = !hiddenRuns.has(run.id);
      visible.addEventListener('change', () => {
        if (visible.checked) hiddenRuns.delete(run.id);
        else hiddenRuns.add(run.id);
        for (const chart of charts.values()) chart.setRunVisible(index, visible.checked);
      });
      const name = el('button', { class: 'link', title: 'Show this run' }, runLabel(run));
      name.addEventListener('click', () => vscode.post({ type: 'openRun', id: run.id }));
      return el(
        'div',
        { class: 'legend-item', role: 'listitem', 'data-status': run.status },
        visible,
        swatch(index),
        name,
        el(
          'span',
          { class: 'muted' },
          run.status === 'running' ? `running ${run.stages.done}/${run.stages.total}` : run.status,
        ),
      );
    }),
  );
}

/** A header row: the label column, then one column per run with its colour. */
function runHeader(label: string): HTMLElement {
  return el(
    'thead',
    {},
    el(
      'tr',
      {},
      el('th', { scope: 'col' }, label),
      ...runs.map((run, index) => el('th', { scope: 'col', title: run.id }, swatch(index), runLabel(run))),
    ),
  );
}

function renderScalars(): void {
  const rows = scalarRows(runs);
  if (rows.length === 0) {
    scalarsSection.replaceChildren(el('p', { class: 'muted' }, 'No scalar metrics recorded for these runs.'));
    return;
  }
  const body = el('tbody');
  for (const row of rows) {
    const tr = el(
      'tr',
      {},
      el(
        'th',
        {
          scope: 'row',
          title:
            row.direction === 'lower'
              ? 'lower is taken as better (guessed from the name)'
              : 'higher is taken as better (guessed from the name)',
        },
        row.metric,
      ),
    );
    row.values.forEach((value, i) => {
      const delta = row.deltas[i];
      const best = row.best === i;
      const cell = el(
        'td',
        {
          class: [row.differs[i] ? 'differs' : '', best ? 'best' : ''].join(' ').trim() || undefined,
          title: best ? `best (${row.direction} is better, guessed from the name)` : undefined,
        },
        formatValue(value),
      );
      if (best) cell.prepend(el('span', { class: 'best-mark', 'aria-label': 'best' }, '\u2605 '));
      if (delta !== undefined && delta !== 0) cell.append(el('span', { class: 'delta' }, ` (${formatDelta(delta)})`));
      tr.append(cell);
    });
    body.append(tr);
  }
  scalarsSection.replaceChildren(el('table', { class: 'compare-table' }, runHeader('Metric'), body));
}

function renderParams(): void {
  const rows = paramRows(runs, state.showAllParams);
  if (rows.length === 0) {
    paramsSection.replaceChildren(
      el(
        'p',
        { class: 'muted' },
        state.showAllParams ? 'These runs have no params.' : 'All params are equal across these runs.',
      ),
    );
    return;
  }
  const body = el('tbody');
  for (const row of rows) {
    const first = formatValue(row.values[0]);
    body.append(
      el(
        'tr',
        { class: row.differs ? 'differs-row' : undefined },
        el('th', { scope: 'row' }, row.key),
        ...row.values.map((value, i) =>
          el(
            'td',
            { class: i > 0 && formatValue(value) !== first ? 'differs' : undefined },
            value === undefined ? '\u2014' : formatValue(value),
          ),
        ),
      ),
    );
  }
  paramsSection.replaceChildren(el('table', { class: 'compare-table' }, runHeader('Param'), body));
}

function renderCharts(): void {
  const ids = runs.map((run) => run.id);
  const groups = chartGroups(ids, seriesByRun, plots);
  const names = groups.flatMap((group) => group.charts.map((chart) => chart.name)).join('\u0000');
  if (names === chartNames) {
    // Same charts: new data in place (live updates), no flicker.
    for (const group of groups) for (const spec of group.charts) charts.get(spec.name)?.update(spec);
    return;
  }
  chartNames = names;
  for (const chart of charts.values()) chart.destroy();
  charts.clear();
  lazy.disconnect();
  toCreate.length = 0;
  if (groups.length === 0) {
    chartsSection.replaceChildren(
      el(
        'p',
        { class: 'muted' },
        'No metric series for these runs: stages write them as plots files (CSV, JSON) or as lists in metrics files.',
      ),
    );
    return;
  }
  chartsSection.replaceChildren(
    ...groups.map((group) => {
      const grid = el('div', { class: 'chart-grid' });
      for (const spec of group.charts) {
        const chart = new Chart(spec, context);
        chart.element.dataset.chart = spec.name;
        charts.set(spec.name, chart);
        grid.append(chart.element);
        lazy.observe(chart.element);
      }
      return el(
        'section',
        { class: 'chart-group' },
        el(
          'h3',
          { title: group.declared ? 'declared in the pipeline' : 'series found in the stage\u2019s files' },
          group.title,
        ),
        grid,
      );
    }),
  );
}
const renderChartsSoon = perFrame(renderCharts);

function renderAll(): void {
  renderLegend();
  renderScalars();
  renderParams();
  renderCharts();
}

function redrawForTheme(): void {
  theme = readTheme();
  chartNames = '';
  renderAll();
}
onThemeChange(redrawForTheme);

window.addEventListener(
  'scroll',
  debounce(() => {
    state.scrollTop = window.scrollY;
    save();
  }, 150),
);

vscode.onMessage((data) => {
  const message = data as HostToCompare;
  switch (message.type) {
    case 'init': {
      const first = runs.length === 0;
      runs = message.runs;
      seriesByRun = { ...message.series };
      plots = message.plots ?? [];
      state.ids = runs.map((run) => run.id);
      save();
      document.title = `Compare ${runs.length} runs`;
      redrawForTheme();
      if (first && state.scrollTop > 0) window.scrollTo(0, state.scrollTop);
      document.body.dataset.rendered = String(runs.length);
      break;
    }
    case 'runs': {
      const updated = new Map(message.runs.map((run) => [run.id, run]));
      runs = runs.map((run) => updated.get(run.id) ?? run);
      renderLegend();
      renderScalars();
      renderParams();
      break;
    }
    case 'series':
      seriesByRun[message.run] = [
        ...(seriesByRun[message.run] ?? []).filter((series) => series.stage !== message.stage),
        ...message.series,
      ];
      renderChartsSoon();
      break;
    default:
      assertNever(message);
  }
});

vscode.post({ type: 'ready' });
