/** The median of `values` (mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** `a / b`, or undefined when either is missing or b is zero. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return undefined;
  return a / b;
}

/** 12345.6 -> "12,346". */
export function formatCount(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? 'n/a' : Math.round(value).toLocaleString('en-US');
}

/** Milliseconds with sensible precision: 0.123 ms, 1.23 ms, 12.3 ms, 123 ms. */
export function formatMs(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return 'n/a';
  const digits = value < 1 ? 3 : value < 10 ? 2 : value < 100 ? 1 : 0;
  return `${value.toFixed(digits)} ms`;
}

/** 0.9512 -> "0.95×". */
export function formatRatio(value: number | undefined): string {
  return value === undefined ? 'n/a' : `${value.toFixed(2)}×`;
}

/** A Markdown table; `align` per column: 'l' or 'r'. */
export function markdownTable(header: string[], rows: string[][], align: Array<'l' | 'r'> = []): string {
  const rule = header.map((_, i) => (align[i] === 'r' ? '---:' : '---'));
  return [header, rule, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

/** A fixed-width text table for the terminal; numbers right-aligned per `align`. */
export function textTable(header: string[], rows: string[][], align: Array<'l' | 'r'> = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) => cells.map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * The median of per-round ratios a[i] / b[i]: two contenders measured in the same round
 * share that round's conditions, so their ratio is steadier than the ratio of medians
 * when other work comes and goes on the machine. Undefined when no round has both.
 */
export function pairedRatio(a: ReadonlyArray<number | undefined>, b: ReadonlyArray<number | undefined>): number | undefined {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const r = ratio(a[i], b[i]);
    if (r !== undefined) ratios.push(r);
  }
  return ratios.length ? median(ratios) : undefined;
}
