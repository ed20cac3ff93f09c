// One metric's chart: a uPlot canvas with one line per run, created when it scrolls into view.
import uPlot from 'uplot';
import type { RunRow } from '../contract';
import { el, setText } from '../shared/dom';
import type { ThemeColors } from '../shared/theme';
import { formatValue } from '../shared/values';
import { alignSeries, type AlignedData, type ChartSpec } from './model';
import { buildSvg } from './svg';

export const CHART_HEIGHT = 240;

export interface ChartContext {
  runs: () => RunRow[];
  colorOf: (index: number) => string;
  hiddenRuns: () => ReadonlySet<string>;
  theme: () => ThemeColors;
  export: (format: 'png' | 'svg', name: string, data: string) => void;
}

export function runLabel(run: RunRow): string {
  return run.name && run.name !== run.id ? `${run.name} (${run.id})` : run.id;
}

export class Chart {
  readonly element: HTMLElement;
  private readonly plotHost: HTMLElement;
  private readonly readout: HTMLElement;
  private readonly note: HTMLElement;
  private plot: uPlot | undefined;
  private data: AlignedData | undefined;
  private budget = 0;

  constructor(
    private spec: ChartSpec,
    private readonly context: ChartContext,
  ) {
    const png = el(
      'vscode-button',
      { appearance: 'icon', title: `Export ${spec.name} as PNG`, 'aria-label': `Export ${spec.name} as PNG` },
      'PNG',
    );
    const svg = el(
      'vscode-button',
      { appearance: 'icon', title: `Export ${spec.name} as SVG`, 'aria-label': `Export ${spec.name} as SVG` },
      'SVG',
    );
    png.addEventListener('click', () => this.exportPng());
    svg.addEventListener('click', () => this.exportSvg());
    this.note = el('span', { class: 'chart-note' });
    this.plotHost = el('div', { class: 'chart-plot' });
    this.readout = el('div', { class: 'chart-readout', 'aria-live': 'off' });
    this.element = el(
      'section',
      { class: 'chart', 'aria-label': spec.name },
      el(
        'header',
        { class: 'chart-header' },
        el('h3', {}, spec.name),
        this.note,
        el('span', { class: 'spacer' }),
        png,
        svg,
      ),
      this.plotHost,
      this.readout,
    );
    this.plotHost.style.height = `${CHART_HEIGHT}px`;
  }

  get created(): boolean {
    return this.plot !== undefined;
  }

  /** New data for the same metric (live updates): redrawn in place when the chart exists. */
  update(spec: ChartSpec): void {
    this.spec = spec;
    this.data = undefined;
    if (!this.plot) return;
    const runs = this.context.runs();
    if (this.plot.series.length !== runs.length + 1) {
      this.destroy();
      this.create();
      return;
    }
    const data = this.aligned();
    this.plot.setData([data.x, ...data.ys] as uPlot.AlignedData);
  }

  create(): void {
    if (this.plot) return;
    const theme = this.context.theme();
    const runs = this.context.runs();
    const hidden = this.context.hiddenRuns();
    const data = this.aligned();
    const axis = {
      stroke: theme.foreground,
      grid: { stroke: theme.grid, width: 1 },
      ticks: { stroke: theme.grid, width: 1 },
    };
    const options: uPlot.Options = {
      width: Math.max(200, this.plotHost.clientWidth || 600),
      height: CHART_HEIGHT,
      legend: { show: false },
      cursor: { drag: { x: true, y: false }, points: { show: false } },
      scales: { x: { time: false } },
      axes: [
        { ...axis, label: this.spec.x, labelSize: 18 },
        { ...axis, size: 60 },
      ],
      series: [
        { label: this.spec.x },
        ...runs.map((run, i) => ({
          label: runLabel(run),
          stroke: this.context.colorOf(i),
          width: 1.5,
          spanGaps: true,
          show: !hidden.has(run.id),
          points: { show: false },
        })),
      ],
      hooks: { setCursor: [(plot: uPlot) => this.showReadout(plot)] },
    };
    this.plot = new uPlot(options, [data.x, ...data.ys] as uPlot.AlignedData, this.plotHost);
  }

  resize(): void {
    if (this.plot && this.plotHost.clientWidth > 0) {
      this.plot.setSize({ width: this.plotHost.clientWidth, height: CHART_HEIGHT });
      // Wider than the points were decimated for: align again for the new width.
      if (this.data?.decimated && this.pointBudget() > this.budget) {
        this.data = undefined;
        const data = this.aligned();
        this.plot.setData([data.x, ...data.ys] as uPlot.AlignedData);
      }
    }
  }

  setRunVisible(index: number, show: boolean): void {
    this.plot?.setSeries(index + 1, { show });
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = undefined;
  }

  /**
   * At most a minimum and a maximum per pixel column: more points than that draw nothing more, and
   * uPlot's cost is per point (100 runs x 4,000 points was most of the first chart's time).
   */
  private pointBudget(): number {
    return Math.min(4000, Math.max(400, 2 * Math.ceil(this.plotHost.clientWidth || 600)));
  }

  private aligned(): AlignedData {
    if (!this.data) {
      this.budget = this.pointBudget();
      this.data = alignSeries(
        this.context.runs().map((run) => this.spec.series.get(run.id)),
        this.budget,
      );
      setText(this.note, this.data.decimated ? `min/max of ${this.data.x.length / 2} buckets` : '');
    }
    return this.data;
  }

  private showReadout(plot: uPlot): void {
    const index = plot.cursor.idx;
    if (index === null || index === undefined) {
      setText(this.readout, '');
      return;
    }
    const data = this.aligned();
    const runs = this.context.runs();
    const hidden = this.context.hiddenRuns();
    const values = runs
      .map((run, i) => ({ run, value: data.ys[i][index] }))
      .filter((entry) => entry.value !== null && !hidden.has(entry.run.id))
      .slice(0, 8)
      .map((entry) => `${runLabel(entry.run)}: ${formatValue(entry.value)}`);
    setText(this.readout, `${this.spec.x} ${formatValue(data.x[index])}  ${values.join('  \u00B7  ')}`);
  }

  private visibleLines(): { label: string; color: string; values: (number | null)[] }[] {
    const data = this.aligned();
    const hidden = this.context.hiddenRuns();
    return this.context
      .runs()
      .map((run, i) => ({ run, line: { label: runLabel(run), color: this.context.colorOf(i), values: data.ys[i] } }))
      .filter((entry) => !hidden.has(entry.run.id) && this.spec.series.has(entry.run.id))
      .map((entry) => entry.line);
  }

  private exportSvg(): void {
    const theme = this.context.theme();
    const text = buildSvg({
      title: this.spec.name,
      xLabel: this.spec.x,
      x: this.aligned().x,
      lines: this.visibleLines(),
      colors: { foreground: theme.foreground, background: theme.background, grid: theme.grid },
    });
    this.context.export('svg', this.spec.name, text);
  }

  /** The chart's canvas on the theme's background, with a title and a legend drawn under it. */
  private exportPng(): void {
    this.create();
    const source = this.plot!.ctx.canvas;
    const theme = this.context.theme();
    const scale = source.width / (this.plot!.width || source.width);
    const lines = this.visibleLines();
    const legendRow = 18 * scale;
    const legendRows = Math.ceil(lines.length / 3);
    const titleHeight = 24 * scale;
    const canvas = document.createElement('canvas');
    canvas.width = source.width;
    canvas.height = titleHeight + source.height + legendRows * legendRow + 8 * scale;
    const ctx = canvas.getContext('2d')!;
    ctx.fillStyle = theme.background;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = theme.foreground;
    ctx.font = `${14 * scale}px sans-serif`;
    ctx.fillText(this.spec.name, 8 * scale, 17 * scale);
    ctx.drawImage(source, 0, titleHeight);
    ctx.font = `${12 * scale}px sans-serif`;
    lines.forEach((line, i) => {
      const x = 8 * scale + (i % 3) * (canvas.width / 3);
      const y = titleHeight + source.height + Math.floor(i / 3) * legendRow + 4 * scale;
      ctx.fillStyle = line.color;
      ctx.fillRect(x, y + 5 * scale, 12 * scale, 4 * scale);
      ctx.fillStyle = theme.foreground;
      ctx.fillText(line.label, x + 16 * scale, y + 11 * scale, canvas.width / 3 - 24 * scale);
    });
    this.context.export('png', this.spec.name, canvas.toDataURL('image/png').replace(/^data:image\/png;base64,/, ''));
  }
}
