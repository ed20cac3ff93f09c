// A chart as standalone SVG text, built from the data (not from the canvas): polylines, axes with
// ticks, a legend. Every piece of text is escaped, so run and metric names cannot inject markup.

export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!,
  );
}

/** Colours only pass through when they look like colours (they go into attributes). */
function safeColor(color: string, fallback: string): string {
  return /^(#[0-9a-f]{3,8}|(rgb|rgba|hsl|hsla)\([0-9.,%\s/-]+\)|[a-z]+)$/i.test(color.trim()) ? color.trim() : fallback;
}

/** About `count` round tick values covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [min];
  const raw = (max - min) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let tick = Math.ceil(min / step) * step; tick <= max + step * 1e-9; tick += step)
    ticks.push(Number(tick.toPrecision(12)));
  return ticks;
}

function tickLabel(value: number): string {
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(1);
  return String(Number(value.toPrecision(6)));
}

export interface SvgChart {
  title: string;
  xLabel: string;
  x: readonly number[];
  lines: { label: string; color: string; values: readonly (number | null)[] }[];
  width?: number;
  height?: number;
  colors?: { foreground?: string; background?: string; grid?: string };
}

export function buildSvg(chart: SvgChart): string {
  const width = chart.width ?? 800;
  const legendRows = Math.ceil(chart.lines.length / 3);
  const plotHeight = chart.height ?? 400;
  const height = plotHeight + legendRows * 18 + 10;
  const fg = safeColor(chart.colors?.foreground ?? '#333', '#333');
  const bg = safeColor(chart.colors?.background ?? '#fff', '#fff');
  const grid = safeColor(chart.colors?.grid ?? '#ccc', '#ccc');
  const margin = { left: 64, right: 16, top: 32, bottom: 40 };
  const plotW = width - margin.left - margin.right;
  const plotH = plotHeight - margin.top - margin.bottom;
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (const x of chart.x) {
    if (x < xMin) xMin = x;
    if (x > xMax) xMax = x;
  }
  for (const line of chart.lines)
    for (const y of line.values)
      if (y !== null && Number.isFinite(y)) {
        if (y < yMin) yMin = y;
        if (y > yMax) yMax = y;
      }
  if (!Number.isFinite(xMin)) [xMin, xMax] = [0, 1];
  if (!Number.isFinite(yMin)) [yMin, yMax] = [0, 1];
  if (xMin === xMax) [xMin, xMax] = [xMin - 1, xMax + 1];
  if (yMin === yMax) [yMin, yMax] = [yMin - 1, yMax + 1];
  const px = (x: number) => margin.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const py = (y: number) => margin.top + plotH - ((y - yMin) / (yMax - yMin)) * plotH;
  const round = (n: number) => Math.round(n * 100) / 100;

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="100%" height="100%" fill="${bg}"/>`);
  parts.push(
    `<text x="${width / 2}" y="20" text-anchor="middle" fill="${fg}" font-size="14">${escapeXml(chart.title)}</text>`,
  );
  for (const tick of niceTicks(yMin, yMax)) {
    const y = round(py(tick));
    parts.push(
      `<line x1="${margin.left}" y1="${y}" x2="${margin.left + plotW}" y2="${y}" stroke="${grid}" stroke-width="1"/>`,
    );
    parts.push(
      `<text x="${margin.left - 6}" y="${y + 4}" text-anchor="end" fill="${fg}">${escapeXml(tickLabel(tick))}</text>`,
    );
  }
  for (const tick of niceTicks(xMin, xMax, 6)) {
    const x = round(px(tick));
    parts.push(`<line x1="${x}" y1="${margin.top + plotH}" x2="${x}" y2="${margin.top + plotH + 4}" stroke="${fg}"/>`);
    parts.push(
      `<text x="${x}" y="${margin.top + plotH + 18}" text-anchor="middle" fill="${fg}">${escapeXml(tickLabel(tick))}</text>`,
    );
  }
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="${fg}" stroke-width="1"/>`,
  );
  parts.push(
    `<text x="${margin.left + plotW / 2}" y="${plotHeight - 6}" text-anchor="middle" fill="${fg}">${escapeXml(chart.xLabel)}</text>`,
  );
  for (const line of chart.lines) {
    const color = safeColor(line.color, fg);
    // A gap (null) ends one polyline and starts the next.
    let points: string[] = [];
    const flush = () => {
      if (points.length > 1)
        parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${points.join(' ')}"/>`);
      else if (points.length === 1) {
        const [cx, cy] = points[0].split(',');
        parts.push(`<circle cx="${cx}" cy="${cy}" r="2" fill="${color}"/>`);
      }
      points = [];
    };
    line.values.forEach((y, i) => {
      if (y === null || !Number.isFinite(y) || i >= chart.x.length) flush();
      else points.push(`${round(px(chart.x[i]))},${round(py(y))}`);
    });
    flush();
  }
  chart.lines.forEach((line, i) => {
    const x = margin.left + (i % 3) * (plotW / 3);
    const y = plotHeight + 4 + Math.floor(i / 3) * 18;
    parts.push(`<rect x="${x}" y="${y}" width="12" height="4" fill="${safeColor(line.color, fg)}"/>`);
    parts.push(`<text x="${x + 16}" y="${y + 6}" fill="${fg}">${escapeXml(line.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
