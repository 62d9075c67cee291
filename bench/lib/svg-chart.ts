/** One bar of a chart. */
export interface Bar {
  label: string;
  value: number;
  /** Text after the value, e.g. "0.97× bare http-proxy-3". */
  note?: string;
  /** Drawn in the accent colour (the subject of the benchmark). */
  highlight?: boolean;
}

/** A vertical reference line, e.g. a target. */
export interface Marker {
  value: number;
  label: string;
}

export interface BarChartOptions {
  title: string;
  subtitle?: string;
  /** Unit written after each value, e.g. "req/s". */
  unit: string;
  bars: Bar[];
  markers?: Marker[];
  width?: number;
  formatValue?: (value: number) => string;
}

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&${({ '<': 'lt', '>': 'gt', '&': 'amp', '"': 'quot', "'": 'apos' } as Record<string, string>)[c]};`);

/** A round tick step (1, 2, 2.5 or 5 times a power of ten) giving about `ticks` intervals up to `max`. */
function tickStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 2.5, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
}

/** A self-contained horizontal bar chart as SVG text (no scripts, no external fonts). */
export function barChartSvg(options: BarChartOptions): string {
  const { title, subtitle, unit, bars, markers = [] } = options;
  const format = options.formatValue ?? ((v: number) => Math.round(v).toLocaleString('en-US'));
  const width = options.width ?? 800;
  const labelWidth = Math.min(260, 16 + 7.2 * Math.max(...bars.map((b) => b.label.length), 8));
  const valueRoom = 250;
  const plotLeft = labelWidth;
  const plotWidth = width - plotLeft - valueRoom;
  const top = (subtitle ? 62 : 44) + (markers.length ? 16 : 0);
  const rowHeight = 30;
  const barHeight = 18;
  const plotHeight = bars.length * rowHeight;
  const height = top + plotHeight + 40;
  const dataMax = Math.max(...bars.map((b) => b.value), ...markers.map((m) => m.value));
  const step = dataMax > 0 ? tickStep(dataMax, 5) : 1;
  const ticks = Math.max(1, Math.ceil(dataMax / step));
  const axisMax = step * ticks;
  const x = (v: number) => plotLeft + (Math.max(0, v) / axisMax) * plotWidth;

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="13">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(`<text x="16" y="26" font-size="16" font-weight="600" fill="#111">${escapeXml(title)}</text>`);
  if (subtitle) parts.push(`<text x="16" y="46" font-size="12" fill="#555">${escapeXml(subtitle)}</text>`);

  for (let i = 0; i <= ticks; i++) {
    const v = step * i;
    const tx = x(v).toFixed(1);
    parts.push(`<line x1="${tx}" y1="${top - 6}" x2="${tx}" y2="${top + plotHeight}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${tx}" y="${top + plotHeight + 16}" text-anchor="middle" font-size="11" fill="#666">${escapeXml(format(v))}</text>`);
  }
  parts.push(`<text x="${(plotLeft + plotWidth / 2).toFixed(1)}" y="${top + plotHeight + 33}" text-anchor="middle" font-size="11" fill="#666">${escapeXml(unit)}</text>`);

  bars.forEach((bar, i) => {
    const y = top + i * rowHeight + (rowHeight - barHeight) / 2;
    const w = Math.max(1, x(bar.value) - plotLeft);
    const fill = bar.highlight ? '#d9480f' : '#4c6ef5';
    parts.push(`<text x="${plotLeft - 8}" y="${(y + barHeight / 2 + 4.5).toFixed(1)}" text-anchor="end" fill="#222"${bar.highlight ? ' font-weight="600"' : ''}>${escapeXml(bar.label)}</text>`);
    parts.push(`<rect x="${plotLeft}" y="${y.toFixed(1)}" width="${w.toFixed(1)}" height="${barHeight}" rx="2" fill="${fill}"/>`);
    const value = `${format(bar.value)} ${unit}${bar.note ? ` · ${bar.note}` : ''}`;
    parts.push(`<text x="${(plotLeft + w + 6).toFixed(1)}" y="${(y + barHeight / 2 + 4.5).toFixed(1)}" font-size="12" fill="#333">${escapeXml(value)}</text>`);
  });

  for (const m of markers) {
    const mx = x(m.value).toFixed(1);
    parts.push(`<line x1="${mx}" y1="${top - 8}" x2="${mx}" y2="${top + plotHeight}" stroke="#2b8a3e" stroke-width="1.5" stroke-dasharray="5 3"/>`);
    parts.push(`<text x="${mx}" y="${top - 11}" text-anchor="middle" font-size="11" fill="#2b8a3e">${escapeXml(m.label)}</text>`);
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
