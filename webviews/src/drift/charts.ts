// The drift view's charts, drawn as SVG from the report's details: sparklines for the table, and the
// overlaid distributions and ECDFs of the detail view. Colours come from CSS classes (drift.css maps
// them to --vscode-charts-*), so a theme change needs no redraw; the reference is always a filled
// area or a solid line and the current side an outline or a dashed line, so colour is never the only cue.
// Text reaches the SVG only as textContent (<title>, tick labels).
import type { CategoryDetail, ColumnDrift, HistogramDetail } from '../../../core/src/drift/types';
import { el } from '../shared/dom';
import {
  ecdfPath,
  formatPercent,
  formatScore,
  formatTick,
  histogramDomain,
  histogramMax,
  largestGap,
  linearScale,
  niceTicks,
  stepArea,
  topCategories,
  type Scale,
} from './model';

const SVG = 'http://www.w3.org/2000/svg';

function svg(
  tag: string,
  attributes: Record<string, string | number> = {},
  ...children: (Node | string)[]
): SVGElement {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children) element.append(child);
  return element;
}

function title(text: string): SVGElement {
  return svg('title', {}, text);
}

/** A small picture of both distributions for a table row; nothing when the report has no details. */
export function sparkline(column: ColumnDrift): SVGElement | undefined {
  const width = 96;
  const height = 22;
  const details = column.details;
  if (!details) return undefined;
  const root = svg('svg', {
    class: 'spark',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    'aria-hidden': 'true',
    focusable: 'false',
  });
  if (details.kind === 'histogram') {
    const [lo, hi] = histogramDomain(details);
    const x = linearScale(lo, hi, 1, width - 1);
    const y = linearScale(0, histogramMax(details), height - 1, 1);
    root.append(
      svg('path', { class: 'ref-area', d: stepArea(details.edges, details.reference, x, y) }),
      svg('path', { class: 'cur-line', d: stepArea(details.edges, details.current, x, y) }),
    );
    return root;
  }
  const rows = topCategories(details, 8);
  const max = Math.max(1e-12, ...rows.flatMap((row) => [row.reference, row.current]));
  const slot = (width - 2) / rows.length;
  const bar = Math.max(1, Math.min(5, slot / 2 - 1));
  const y = linearScale(0, max, height - 1, 1);
  rows.forEach((row, i) => {
    const left = 1 + i * slot + (slot - 2 * bar - 1) / 2;
    root.append(
      svg('rect', {
        class: 'ref-bar',
        x: left.toFixed(1),
        y: y(row.reference).toFixed(1),
        width: bar.toFixed(1),
        height: (height - 1 - y(row.reference)).toFixed(1),
      }),
      svg('rect', {
        class: 'cur-bar',
        x: (left + bar + 1).toFixed(1),
        y: y(row.current).toFixed(1),
        width: bar.toFixed(1),
        height: (height - 1 - y(row.current)).toFixed(1),
      }),
    );
  });
  return root;
}

interface Frame {
  root: SVGElement;
  x: Scale;
  y: Scale;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** An empty chart with its axes: horizontal grid lines and labels for y, ticks and labels for x. */
function frame(
  width: number,
  height: number,
  xDomain: [number, number],
  yTicks: number[],
  yLabel: (value: number) => string,
  label: string,
): Frame {
  const left = 46;
  const right = width - 12;
  const top = 8;
  const bottom = height - 22;
  const x = linearScale(xDomain[0], xDomain[1], left, right);
  const y = linearScale(yTicks[0] ?? 0, yTicks[yTicks.length - 1] ?? 1, bottom, top);
  const root = svg('svg', {
    class: 'chart',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': label,
  });
  const axes = svg('g', { class: 'axes' });
  for (const tick of yTicks) {
    const py = y(tick).toFixed(1);
    axes.append(
      svg('line', { class: 'grid', x1: left, x2: right, y1: py, y2: py }),
      svg(
        'text',
        { class: 'tick', x: left - 6, y: py, 'text-anchor': 'end', 'dominant-baseline': 'middle' },
        yLabel(tick),
      ),
    );
  }
  const xTicks = niceTicks(xDomain[0], xDomain[1], Math.max(2, Math.floor((right - left) / 90))).filter(
    (tick) => tick >= xDomain[0] && tick <= xDomain[1],
  );
  for (const tick of xTicks) {
    const px = x(tick).toFixed(1);
    axes.append(
      svg('line', { class: 'axis', x1: px, x2: px, y1: bottom, y2: bottom + 4 }),
      svg('text', { class: 'tick', x: px, y: bottom + 15, 'text-anchor': 'middle' }, formatTick(tick)),
    );
  }
  axes.append(svg('line', { class: 'axis', x1: left, x2: right, y1: bottom, y2: bottom }));
  root.append(axes);
  return { root, x, y, left, right, top, bottom };
}

function yTicksFor(max: number): number[] {
  const ticks = niceTicks(0, max, 4);
  if ((ticks[ticks.length - 1] ?? 0) < max)
    ticks.push(Number(((ticks[ticks.length - 1] ?? 0) + (ticks[1] ?? max) - (ticks[0] ?? 0)).toPrecision(12)));
  return ticks;
}

/** Reference (filled) and current (outlined) histograms over the shared bins; each bin has a tooltip. */
export function histogramChart(detail: HistogramDetail, width: number, column: string): SVGElement {
  const domain = histogramDomain(detail);
  const f = frame(
    width,
    200,
    domain,
    yTicksFor(histogramMax(detail)),
    formatPercent,
    `Histogram of ${column}: reference and current shares per bin`,
  );
  f.root.append(
    svg('path', { class: 'ref-area', d: stepArea(detail.edges, detail.reference, f.x, f.y) }),
    svg('path', { class: 'cur-line', d: stepArea(detail.edges, detail.current, f.x, f.y) }),
  );
  const bins = Math.min(detail.reference.length, detail.current.length, detail.edges.length - 1);
  const hits = svg('g', { class: 'hits' });
  for (let i = 0; i < bins; i++) {
    const x0 = f.x(detail.edges[i]!);
    const x1 = f.x(detail.edges[i + 1]!);
    const last = i === bins - 1;
    hits.append(
      svg(
        'rect',
        { class: 'hit', x: x0.toFixed(1), y: f.top, width: Math.max(1, x1 - x0).toFixed(1), height: f.bottom - f.top },
        title(
          `[${formatTick(detail.edges[i]!)}, ${formatTick(detail.edges[i + 1]!)}${last ? ']' : ')'}\nreference ${formatPercent(detail.reference[i]!)}\ncurrent ${formatPercent(detail.current[i]!)}`,
        ),
      ),
    );
  }
  f.root.append(hits);
  return f.root;
}

/** Both ECDFs as step lines (reference solid, current dashed); for K-S, the largest gap marked. */
export function ecdfChart(detail: HistogramDetail, width: number, column: string, statistic?: number): SVGElement {
  const xs = [...detail.reference_ecdf.x, ...detail.current_ecdf.x, ...histogramDomain(detail)].filter(Number.isFinite);
  let lo = Math.min(...xs);
  let hi = Math.max(...xs);
  if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  const f = frame(
    width,
    180,
    [lo, hi],
    [0, 0.25, 0.5, 0.75, 1],
    (value) => String(value),
    `Cumulative distributions of ${column}, reference and current`,
  );
  f.root.append(
    svg('path', { class: 'ref-ecdf', d: ecdfPath(detail.reference_ecdf, f.x, f.y, lo, hi) }),
    svg('path', { class: 'cur-ecdf', d: ecdfPath(detail.current_ecdf, f.x, f.y, lo, hi) }),
  );
  const gap = statistic !== undefined ? largestGap(detail.reference_ecdf, detail.current_ecdf) : undefined;
  if (gap && gap.gap > 0) {
    const px = f.x(gap.x);
    const y0 = f.y(gap.reference);
    const y1 = f.y(gap.current);
    const text = `The largest gap between the two ECDFs: about ${Number(gap.gap.toPrecision(3))} at ${formatTick(gap.x)}`;
    const anchor = px > (f.left + f.right) / 2 ? 'end' : 'start';
    f.root.append(
      svg(
        'line',
        { class: 'gap', x1: px.toFixed(1), x2: px.toFixed(1), y1: y0.toFixed(1), y2: y1.toFixed(1) },
        title(text),
      ),
      svg(
        'text',
        {
          class: 'gap-label',
          x: (px + (anchor === 'end' ? -6 : 6)).toFixed(1),
          y: ((y0 + y1) / 2).toFixed(1),
          'text-anchor': anchor,
          'dominant-baseline': 'middle',
        },
        `D = ${formatScore(statistic ?? gap.gap)}`,
      ),
    );
  }
  return f.root;
}

/** Category shares side by side: a row per category with both bars, both shares and the change. */
export function categoryChart(detail: CategoryDetail, limit = 20): HTMLElement {
  const rows = topCategories(detail, limit);
  const max = Math.max(1e-12, ...rows.map((row) => Math.max(row.reference, row.current)));
  const barWidth = 180;
  const scale = linearScale(0, max, 0, barWidth);
  const body = el('tbody');
  for (const row of rows) {
    const bars = svg('svg', {
      class: 'cat-bars',
      width: barWidth,
      height: 16,
      viewBox: `0 0 ${barWidth} 16`,
      'aria-hidden': 'true',
      focusable: 'false',
    });
    bars.append(
      svg('rect', {
        class: 'ref-bar',
        x: 0,
        y: 1,
        width: Math.max(row.reference > 0 ? 1 : 0, scale(row.reference)).toFixed(1),
        height: 6,
      }),
      svg('rect', {
        class: 'cur-bar-outline',
        x: 0.5,
        y: 8.5,
        width: Math.max(row.current > 0 ? 1 : 0, scale(row.current) - 1).toFixed(1),
        height: 6,
      }),
    );
    const change = (row.current - row.reference) * 100;
    const changeText =
      Math.abs(change) < 0.05 ? '0' : `${change > 0 ? '+' : '\u2212'}${Math.abs(change).toFixed(1)} pp`;
    const label = row.label === '' ? el('span', { class: 'muted' }, '(empty)') : row.label;
    const mark = row.change
      ? el(
          'span',
          {
            class: `cat-mark ${row.change}`,
            title: row.change === 'new' ? 'only in the current data' : 'only in the reference data',
          },
          row.change,
        )
      : undefined;
    body.append(
      el(
        'tr',
        { class: row.other !== undefined ? 'other' : undefined },
        el(
          'th',
          { scope: 'row', class: 'cat-label', title: row.other !== undefined ? undefined : row.label },
          label,
          mark ? ' ' : undefined,
          mark,
        ),
        el('td', {}, bars),
        el('td', { class: 'num' }, formatPercent(row.reference)),
        el('td', { class: 'num' }, formatPercent(row.current)),
        el('td', { class: 'num change' }, changeText),
      ),
    );
  }
  const head = el(
    'thead',
    {},
    el(
      'tr',
      {},
      el('th', { scope: 'col' }, 'Category'),
      el('th', { scope: 'col' }, 'Shares'),
      el('th', { scope: 'col', class: 'num' }, 'Reference'),
      el('th', { scope: 'col', class: 'num' }, 'Current'),
      el(
        'th',
        { scope: 'col', class: 'num', title: 'Current share minus reference share, in percentage points' },
        'Change',
      ),
    ),
  );
  return el('table', { class: 'cat-table' }, head, body);
}

/** The key that names the two sides, with the same marks the charts use. */
export function legend(reference: string, current: string, lines: boolean): HTMLElement {
  const mark = (side: 'ref' | 'cur') => {
    const root = svg('svg', {
      class: 'legend-mark',
      width: 18,
      height: 10,
      viewBox: '0 0 18 10',
      'aria-hidden': 'true',
      focusable: 'false',
    });
    if (lines)
      root.append(svg('line', { class: side === 'ref' ? 'ref-ecdf' : 'cur-ecdf', x1: 0, x2: 18, y1: 5, y2: 5 }));
    else
      root.append(svg('rect', { class: side === 'ref' ? 'ref-area' : 'cur-line', x: 1, y: 1, width: 16, height: 8 }));
    return root;
  };
  return el(
    'div',
    { class: 'legend' },
    el('span', { class: 'legend-item', title: reference }, mark('ref'), 'Reference'),
    el('span', { class: 'legend-item', title: current }, mark('cur'), 'Current'),
  );
}
