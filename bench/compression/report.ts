import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { replaceSection } from '../lib/docs-section.js';
import { formatCount, formatRatio, markdownTable, median, pairedRatio } from '../lib/stats.js';
import { barChartSvg } from '../lib/svg-chart.js';
import type { MachineFacts } from '../lib/tools.js';
import type { BenchDocument } from './documents.js';
import { ENGINE_LABELS, LEVELS, type EngineCell, type EngineId, type StreamingFigure } from './engines.js';
import { MALLOC_TUNING, type ContenderId } from './proxies.js';

/** One contender on one document: figures per round (round order) and the bytes it sent. */
export interface ProxyResult {
  id: ContenderId;
  label: string;
  doc: BenchDocument['id'];
  wireBytes: number;
  coding: string;
  rps: number[];
  /** Proxy CPU (process tree) per request, µs, per round. */
  cpuUs: Array<number | undefined>;
  errors: number;
}

export interface MemoryFigure {
  engine: EngineId;
  level: number;
  perStreamMiB: number;
}

export interface Report {
  docs: BenchDocument[];
  engines: EngineCell[];
  streaming: StreamingFigure[];
  memory: MemoryFigure[];
  proxies: ProxyResult[];
  skipped: string[];
  defaults: { quality: number; largeQuality: number; largeFrom: number; gzipLevel: number };
  command: string;
  machine: MachineFacts;
  versions: Record<string, string | undefined>;
  loadAverage: [number, number];
  settings: string;
  date: string;
}

export const RPS_TARGET = 0.6;

/** Labels short enough for the charts' label column. */
const SHORT: Record<ContenderId, string> = {
  'lb-off': 'lb, off', 'lb-stage': 'lb, pass-through stage', 'lb-br': 'lb, br (defaults)', 'lb-gzip': 'lb, gzip 6',
  'lb-br-malloc': 'lb, br, malloc tuned', 'nginx-off': 'nginx, off', 'nginx-gzip1': 'nginx, gzip 1', 'nginx-gzip6': 'nginx, gzip 6',
};

const mb = (bytes: number) => bytes / 1e6;
const f1 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? 'n/a' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const kb = (bytes: number) => formatCount(bytes);

function cell(cells: EngineCell[], doc: string, engine: EngineId, level: number): EngineCell | undefined {
  return cells.find((c) => c.doc === doc && c.engine === engine && c.level === level);
}

function proxy(r: Report, id: ContenderId, doc: string): ProxyResult | undefined {
  return r.proxies.find((p) => p.id === id && p.doc === doc);
}

/** CPU µs per request spent on compression: the contender's minus its uncompressed twin's (median of per-round differences). */
function compressionCpuUs(on: ProxyResult | undefined, off: ProxyResult | undefined): number | undefined {
  if (!on || !off) return undefined;
  const diffs: number[] = [];
  for (let i = 0; i < Math.min(on.cpuUs.length, off.cpuUs.length); i++) {
    const a = on.cpuUs[i];
    const b = off.cpuUs[i];
    if (a !== undefined && b !== undefined) diffs.push(a - b);
  }
  return diffs.length ? median(diffs) : undefined;
}

/** Input MB compressed per CPU second, from the extra CPU compression costs per request. */
function compressionMbPerCpuS(doc: BenchDocument, on: ProxyResult | undefined, off: ProxyResult | undefined): number | undefined {
  const us = compressionCpuUs(on, off);
  return us === undefined || us <= 0 ? undefined : mb(doc.body.length) / (us / 1e6);
}

export interface Verdicts {
  bytes: Array<{ doc: string; ok: boolean | undefined; text: string }>;
  throughput: Array<{ doc: string; ok: boolean | undefined; text: string }>;
  rps: { ok: boolean | undefined; text: string };
}

/** The brotli quality lb's defaults use for a document (as brotliQualityFor in the plugin). */
export function qualityFor(r: Report, doc: BenchDocument): number {
  return doc.body.length >= r.defaults.largeFrom ? r.defaults.largeQuality : r.defaults.quality;
}

export function verdicts(r: Report): Verdicts {
  const bytes = r.docs.map((d) => {
    const ours = proxy(r, 'lb-br', d.id)?.wireBytes;
    const g1 = proxy(r, 'nginx-gzip1', d.id)?.wireBytes;
    const g6 = proxy(r, 'nginx-gzip6', d.id)?.wireBytes;
    if (ours === undefined || g1 === undefined || g6 === undefined) return { doc: d.label, ok: undefined, text: `${d.label}: nginx not measured` };
    const ok = ours < g1 && ours < g6;
    return { doc: d.label, ok, text: `${d.label}: lb ${kb(ours)} B vs nginx gzip 1 ${kb(g1)} B, gzip 6 ${kb(g6)} B` };
  });
  const throughput = r.docs.map((d) => {
    const q = qualityFor(r, d);
    const oursEngine = cell(r.engines, d.id, 'zlib-br', q)?.mbPerS;
    const gzip6Engine = cell(r.engines, d.id, 'zlib-gzip', 6)?.mbPerS;
    const oursProxy = compressionMbPerCpuS(d, proxy(r, 'lb-br', d.id), proxy(r, 'lb-off', d.id));
    const nginxProxy = compressionMbPerCpuS(d, proxy(r, 'nginx-gzip6', d.id), proxy(r, 'nginx-off', d.id));
    const engineOk = oursEngine !== undefined && gzip6Engine !== undefined ? oursEngine >= gzip6Engine : undefined;
    const proxyOk = oursProxy !== undefined && nginxProxy !== undefined ? oursProxy >= nginxProxy : undefined;
    const ok = engineOk === undefined ? proxyOk : proxyOk === undefined ? engineOk : engineOk && proxyOk;
    return {
      doc: d.label,
      ok,
      text: `${d.label}: engine br q${q} ${f1(oursEngine)} vs gzip 6 ${f1(gzip6Engine)} MB/s per core; in the proxy ${f1(oursProxy)} vs nginx gzip 6 ${f1(nginxProxy)} MB per CPU-second`,
    };
  });
  const small = r.docs[0].id;
  const on = proxy(r, 'lb-br', small);
  const off = proxy(r, 'lb-off', small);
  const ratio = on && off ? pairedRatio(on.rps, off.rps) : undefined;
  const stage = proxy(r, 'lb-stage', small);
  const stageRatio = stage && off ? pairedRatio(stage.rps, off.rps) : undefined;
  const breakdown = on && off && stage
    ? `; a pass-through stage alone (no compression) gives ${formatRatio(stageRatio)}: of the ${f1(compressionCpuUs(on, off))} µs of CPU compression adds per request, ${f1(compressionCpuUs(stage, off))} µs is the core's staged response path (medians of per-round differences)`
    : '';
  return {
    bytes,
    throughput,
    rps: { ok: ratio === undefined ? undefined : ratio >= RPS_TARGET, text: `${formatRatio(ratio)} (${formatCount(on ? median(on.rps) : undefined)} vs ${formatCount(off ? median(off.rps) : undefined)} req/s)${breakdown}` },
  };
}

const mark = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? 'met' : 'NOT met');

function sideBySide(r: Report): string {
  const ids: ContenderId[] = ['lb-off', 'lb-stage', 'lb-br', 'lb-gzip', 'lb-br-malloc', 'nginx-off', 'nginx-gzip1', 'nginx-gzip6'];
  const out: string[] = [];
  for (const d of r.docs) {
    const rows = ids.flatMap((id) => {
      const p = proxy(r, id, d.id);
      if (!p) return [];
      const rps = median(p.rps);
      const cpu = p.cpuUs.filter((v): v is number => v !== undefined);
      const twin = id.startsWith('lb') ? proxy(r, 'lb-off', d.id) : proxy(r, 'nginx-off', d.id);
      const extra = id.endsWith('off') || id === 'lb-stage' ? undefined : compressionMbPerCpuS(d, p, twin);
      return [[p.label, p.coding, kb(p.wireBytes), `${((p.wireBytes / d.body.length) * 100).toFixed(1)}%`, formatCount(rps), f1(rps * mb(d.body.length)),
        cpu.length ? f1(median(cpu)) : 'n/a', extra === undefined ? '—' : f1(extra), p.errors ? String(p.errors) : '0']];
    });
    out.push(`**${d.label}** (${kb(d.body.length)} bytes, ${d.contentType})\n`);
    out.push(markdownTable(['contender', 'coding', 'bytes sent', 'of original', 'req/s', 'MB/s served', 'proxy CPU µs/req', 'compression MB per CPU-s', 'errors'], rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
    out.push('');
  }
  return out.join('\n');
}

function engineTables(r: Report): string {
  const out: string[] = [];
  for (const d of r.docs) {
    const levels = Array.from({ length: 12 }, (_, i) => i);
    const rows = levels.map((level) => {
      const cols = (['zlib-br', 'wasm-br', 'zlib-gzip'] as EngineId[]).flatMap((e) => {
        if (!LEVELS[e].includes(level)) return ['', ''];
        const c = cell(r.engines, d.id, e, level);
        return c ? [kb(c.bytes), f1(c.mbPerS)] : ['', ''];
      });
      return [String(level), ...cols];
    });
    out.push(`**${d.label}** (${kb(d.body.length)} bytes)\n`);
    out.push(markdownTable(['level', 'node:zlib br bytes', 'MB/s', 'brotli-wasm bytes', 'MB/s', 'node:zlib gzip bytes', 'MB/s'], rows, ['r', 'r', 'r', 'r', 'r', 'r', 'r']));
    out.push('');
  }
  return out.join('\n');
}

function streamingTable(r: Report): string {
  const rows = r.streaming.map((s) => {
    const memory = r.memory.find((m) => m.engine === s.engine);
    return [ENGINE_LABELS[s.engine], f1(s.mbPerS), s.maxLoopDelayMs.toFixed(1), memory ? memory.perStreamMiB.toFixed(1) : 'n/a'];
  });
  const gzip = r.memory.find((m) => m.engine === 'zlib-gzip');
  if (gzip) rows.push([`${ENGINE_LABELS['zlib-gzip']} (level ${gzip.level})`, '—', '—', gzip.perStreamMiB.toFixed(1)]);
  return markdownTable(['engine', 'streaming MB/s (1 MB JSON, wall)', 'longest event-loop stall (ms)', 'memory per open stream (MiB)'], rows, ['l', 'r', 'r', 'r']);
}

/** The docs section and three charts. */
export function writeDocs(root: string, r: Report): { docs: string; charts: string[] } {
  const v = verdicts(r);
  const { quality, largeQuality, largeFrom } = r.defaults;
  const versions = Object.entries(r.versions).filter(([, value]) => value).map(([k, value]) => `${k} ${value}`).join(', ');
  const section = [
    '## Compression (`bench/compression`)',
    '',
    `Measured ${r.date} with \`${r.command}\` on ${r.machine.nproc} cores (${r.machine.cpuModel}), ${r.machine.os}, Node ${r.machine.node}${versions ? `, ${versions}` : ''}. ` +
      `Load average ${r.loadAverage[0].toFixed(2)} before, ${r.loadAverage[1].toFixed(2)} after. ${r.settings}`,
    '',
    'Documents (generated deterministically by `bench/compression/documents.ts`): ' + r.docs.map((d) => `${d.label} = ${kb(d.body.length)} bytes`).join(', ') + '.',
    '',
    '### Targets',
    '',
 `- Fewer bytes than nginx gzip (levels 1 and 6) on every document, with lb's defaults (br quality ${quality}, ${largeQuality} from ${kb(largeFrom)} bytes): ` + v.bytes.map((b) => `${b.text} — **${mark(b.ok)}**`).join('; ') + '.',
    `- At no lower throughput than nginx gzip level 6: ` + v.throughput.map((t) => `${t.text} — **${mark(t.ok)}**`).join('; ') + '.',
    `- Proxy throughput with compression on ≥ ${RPS_TARGET} × off for the 1.3 KB response: ${v.rps.text} — **${mark(v.rps.ok)}**.`,
    '',
    '"MB per CPU-second" is the document size divided by the extra CPU time (the proxy\'s whole process tree, from /proc) a compressed',
    'request costs over the same request uncompressed through the same proxy: the cost of compression inside each proxy,',
    'steady under other load on the machine. "MB/s per core" below is the engine alone, in one process, per CPU second.',
    '',
    '### Through the proxies (same backend, wrk with Accept-Encoding)',
    '',
    sideBySide(r),
    '"lb, pass-through stage" adds a body stage that changes nothing (bench/compression/passthrough-stage.ts): the cost of the core\'s staged response path alone. ' +
      `"glibc malloc tuned" is the same compressed lb started with ${Object.entries(MALLOC_TUNING).map(([k, v]) => `\`${k}=${v}\``).join(' ')} (see docs/compression.md).`,
    ...(r.skipped.length ? ['', `Skipped: ${r.skipped.join('; ')}.`] : []),
    '',
    '### Engines, every level (one-shot, as lb does for bodies of known length; MB/s of input per CPU second)',
    '',
    engineTables(r),
    `### Streaming and memory (quality ${largeQuality}, which streams of unknown length use)`,
    '',
    streamingTable(r),
    '',
    'Charts: `docs/charts/compression-bytes.svg`, `docs/charts/compression-rps.svg`, `docs/charts/compression-engines.svg`.',
  ].join('\n');
  const docsFile = path.join(root, 'docs', 'benchmarks.md');
  replaceSection(docsFile, 'compression', section);

  const chartsDir = path.join(root, 'docs', 'charts');
  mkdirSync(chartsDir, { recursive: true });
  const charts: string[] = [];
  const html = r.docs[1];
  const byteBars = (['lb-br', 'lb-gzip', 'nginx-gzip1', 'nginx-gzip6'] as ContenderId[]).flatMap((id) => {
    const p = proxy(r, id, html.id);
    return p ? [{ label: SHORT[id], value: p.wireBytes, highlight: id === 'lb-br' }] : [];
  });
  if (byteBars.length) {
    const file = path.join(chartsDir, 'compression-bytes.svg');
    writeFileSync(file, barChartSvg({ title: `Bytes sent for the ${html.label} page`, subtitle: `original ${kb(html.body.length)} bytes; fewer is better`, unit: 'bytes', bars: byteBars }));
    charts.push(file);
  }
  const small = r.docs[0];
  const off = proxy(r, 'lb-off', small.id);
  const rpsBars = (['lb-off', 'lb-stage', 'lb-br', 'lb-gzip', 'lb-br-malloc', 'nginx-off', 'nginx-gzip1', 'nginx-gzip6'] as ContenderId[]).flatMap((id) => {
    const p = proxy(r, id, small.id);
    return p ? [{ label: SHORT[id], value: median(p.rps), highlight: id === 'lb-br', note: id.startsWith('lb') && off ? `${formatRatio(pairedRatio(p.rps, off.rps))} lb off` : undefined }] : [];
  });
  if (rpsBars.length) {
    const file = path.join(chartsDir, 'compression-rps.svg');
    const markers = off ? [{ value: RPS_TARGET * median(off.rps), label: `${RPS_TARGET} × lb off` }] : [];
    writeFileSync(file, barChartSvg({ title: `Requests/s for the ${small.label} response`, subtitle: 'wrk -t1, medians of interleaved rounds; higher is better', unit: 'req/s', bars: rpsBars, markers }));
    charts.push(file);
  }
  const big = r.docs[2];
  const engineBars = LEVELS['zlib-br'].filter((l) => l <= 9).flatMap((level) => (['zlib-br', 'wasm-br'] as EngineId[]).flatMap((e) => {
    const c = cell(r.engines, big.id, e, level);
    return c ? [{ label: `${ENGINE_LABELS[e]} q${level}`, value: c.mbPerS, highlight: e === 'zlib-br' && level === qualityFor(r, big) }] : [];
  }));
  if (engineBars.length) {
    const file = path.join(chartsDir, 'compression-engines.svg');
    writeFileSync(file, barChartSvg({ title: `Brotli engines on the ${big.label}`, subtitle: 'MB of input per CPU second, one-shot; higher is better', unit: 'MB/s', bars: engineBars, formatValue: (x) => f1(x) }));
    charts.push(file);
  }
  return { docs: docsFile, charts };
}
