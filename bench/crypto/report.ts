// The crypto bench's tables (Markdown) and target verdicts.
import type { MachineFacts } from '../lib/tools.js';
import { formatCount, formatMs, formatRatio, markdownTable, median, pairedRatio } from '../lib/stats.js';
import { RECORD_IMPLS, RECORD_IMPL_LABELS, RECORD_SIZES, type RecordFigure } from './records.js';

/** One sustained (closed-loop) run of one contender. */
export interface SustainedRun {
  /** Handshakes per second over the run. */
  rate: number;
  /** The server process's CPU time per completed handshake, ms. */
  cpuMsPerHandshake: number | undefined;
  /** Of which the main thread's (event loop), ms. */
  mainMsPerHandshake: number | undefined;
  completed: number;
  poolEmpty: number;
  errors: number;
  firstError?: string;
}

export interface HandshakeFigures {
  id: string;
  label: string;
  /** Latencies of the one-at-a-time handshakes, per round, ms. */
  latencies: number[][];
  sustained: SustainedRun[];
}

/** One echo run through lb. */
export interface EchoRun {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  firstError?: string;
  /** lb's CPU per request, µs. */
  lbCpuUs: number | undefined;
  /** lb's CPU time over wall time (1 = one core busy the whole run). */
  lbBusy: number | undefined;
  /** The load client's (this process's) CPU per request, µs. */
  clientCpuUs: number;
}

export interface ThroughputCell {
  /** echo: POST of `bytes`, answered with the same bytes; get: GET answered with `bytes`. */
  kind: 'echo' | 'get';
  bytes: number;
  encrypted: boolean;
  connections: number;
  runs: EchoRun[];
}

export interface Report {
  command: string;
  date: string;
  machine: MachineFacts;
  loadAverage: [number, number];
  settings: Record<string, string | number>;
  records?: RecordFigure[];
  handshakes?: HandshakeFigures[];
  throughput?: ThroughputCell[];
  skipped: string[];
  notes: string[];
}

/** Nearest-rank percentile of `values` (p in 0..100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const size = (bytes: number) => (bytes >= 1 << 20 ? `${bytes / (1 << 20)} MB` : `${bytes / 1024} KB`);
const us = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? 'n/a' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));
const pct = (v: number | undefined) => (v === undefined ? 'n/a' : `${Math.round(v * 100)}%`);

function recordsTable(figures: RecordFigure[]): string {
  const find = (impl: string, op: string, s: number) => figures.find((f) => f.impl === impl && f.op === op && f.size === s);
  const rows: string[][] = [];
  for (const s of RECORD_SIZES) {
    for (const op of ['seal', 'open'] as const) {
      const cells = RECORD_IMPLS.map((impl) => find(impl, op, s));
      const byWall = [...cells].filter((c) => c).sort((a, b) => a!.usPerRecord - b!.usPerRecord)[0];
      const byCpu = [...cells].filter((c) => c).sort((a, b) => a!.cpuUsPerRecord - b!.cpuUsPerRecord)[0];
      rows.push([
        `${size(s)} record`, op,
        ...cells.map((c) => (c ? `${us(c.usPerRecord)} µs (${us(c.cpuUsPerRecord)} CPU), ${formatCount(c.mbPerS)} MB/s` : 'n/a')),
        byWall ? RECORD_IMPL_LABELS[byWall.impl] + (byCpu && byCpu.impl !== byWall.impl ? ` (by CPU: ${RECORD_IMPL_LABELS[byCpu.impl]})` : '') : 'n/a',
      ]);
    }
  }
  return markdownTable(['record', 'op', ...RECORD_IMPLS.map((i) => RECORD_IMPL_LABELS[i]), 'fastest'], rows, ['l', 'l', 'r', 'r', 'r', 'l']);
}

function handshakeTable(hs: HandshakeFigures[]): string {
  const original = hs.find((h) => h.id === 'original');
  const tlsRsa = hs.find((h) => h.id === 'tls-rsa');
  const tlsEc = hs.find((h) => h.id === 'tls-ecdsa');
  const roundP50 = (h: HandshakeFigures) => h.latencies.map((l) => (l.length ? median(l) : undefined));
  const cpuOf = (h: HandshakeFigures | undefined) => h?.sustained.map((r) => r.cpuMsPerHandshake) ?? [];
  const rows = hs.map((h) => {
    const all = h.latencies.flat();
    const speedup = original && h !== original ? pairedRatio(roundP50(original), roundP50(h)) : undefined;
    const cpu = median(h.sustained.map((r) => r.cpuMsPerHandshake).filter((v): v is number => v !== undefined));
    const main = median(h.sustained.map((r) => r.mainMsPerHandshake).filter((v): v is number => v !== undefined));
    const refused = h.sustained.reduce((n, r) => n + r.poolEmpty, 0);
    const errors = h.sustained.reduce((n, r) => n + r.errors, 0);
    return [
      h.label, formatMs(median(all)), formatMs(percentile(all, 99)), String(all.length),
      h === original ? '1.00×' : speedup === undefined ? 'n/a' : `${speedup.toFixed(0)}×`,
      formatMs(cpu), formatMs(main),
      tlsRsa ? formatRatio(pairedRatio(cpuOf(h), cpuOf(tlsRsa))) : 'n/a',
      tlsEc ? formatRatio(pairedRatio(cpuOf(h), cpuOf(tlsEc))) : 'n/a',
      formatCount(median(h.sustained.map((r) => r.rate))),
      `${refused} / ${errors}`,
    ];
  });
  return markdownTable(
    ['contender', 'p50', 'p99', 'samples', 'p50: × faster than (d)', 'server CPU / handshake', 'of which main thread', 'CPU × TLS RSA', 'CPU × TLS ECDSA', 'sustained handshakes/s', '503 pool empty / errors'],
    rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
}

function throughputTable(cells: ThroughputCell[]): string {
  const rows: string[][] = [];
  for (const c of cells) {
    const off = cells.find((o) => o.kind === c.kind && o.bytes === c.bytes && !o.encrypted);
    const m = (f: (r: EchoRun) => number | undefined) => median(c.runs.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v)));
    const reqRatio = c.encrypted && off ? pairedRatio(c.runs.map((r) => r.rps), off.runs.map((r) => r.rps)) : undefined;
    const cpuRatio = c.encrypted && off ? pairedRatio(off.runs.map((r) => r.lbCpuUs), c.runs.map((r) => r.lbCpuUs)) : undefined;
    rows.push([
      c.kind === 'echo' ? `POST ${size(c.bytes)}, echoed` : `GET, ${size(c.bytes)} response`, c.encrypted ? 'on (handshake)' : 'off', String(c.connections),
      formatCount(m((r) => r.rps)), formatMs(m((r) => r.p50Ms)), formatMs(m((r) => r.p99Ms)),
      us(m((r) => r.lbCpuUs)), pct(m((r) => r.lbBusy)), us(m((r) => r.clientCpuUs)),
      c.encrypted ? formatRatio(reqRatio) : '1.00×', c.encrypted ? formatRatio(cpuRatio) : '1.00×',
      String(c.runs.reduce((n, r) => n + r.errors, 0)),
    ]);
  }
  return markdownTable(
    ['body', 'encryption', 'conns', 'req/s', 'p50', 'p99', 'lb CPU µs/req', 'lb busy (of 1 core)', 'client CPU µs/req', 'req/s: on ÷ off', 'lb capacity: on ÷ off', 'errors'],
    rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
}

const verdict = (ok: boolean | undefined, text: string) => `- ${ok === undefined ? 'n/a' : ok ? '**met**' : '**missed**'}: ${text}`;

/** Target lines: handshake speed-up, CPU against TLS 1.3, encrypted throughput. */
export function targets(r: Report): string[] {
  const out: string[] = [];
  const hs = r.handshakes ?? [];
  const original = hs.find((h) => h.id === 'original');
  const roundP50 = (h: HandshakeFigures) => h.latencies.map((l) => (l.length ? median(l) : undefined));
  for (const id of ['pool', 'rotating', 'x25519']) {
    const h = hs.find((x) => x.id === id);
    if (!h || !original) continue;
    const s = pairedRatio(roundP50(original), roundP50(h));
    out.push(verdict(s === undefined ? undefined : s >= 10, `handshake p50 ≥ 10× faster than the original way — ${h.label}: ${s === undefined ? 'n/a' : `${s.toFixed(0)}×`}`));
  }
  const cpuOf = (h: HandshakeFigures | undefined) => h?.sustained.map((x) => x.cpuMsPerHandshake) ?? [];
  for (const tlsId of ['tls-rsa', 'tls-ecdsa']) {
    const tls = hs.find((x) => x.id === tlsId);
    if (!tls) continue;
    for (const id of ['rotating', 'x25519']) {
      const h = hs.find((x) => x.id === id);
      if (!h) continue;
      const q = pairedRatio(cpuOf(h), cpuOf(tls));
      out.push(verdict(q === undefined ? undefined : q <= 2, `proxy CPU per handshake ≤ 2× ${tls.label} — ${h.label}: ${formatRatio(q)}${q !== undefined && q > 2 ? ` (${((q / 2 - 1) * 100).toFixed(0)}% over)` : ''}`));
    }
  }
  for (const [kind, bytes, goal] of [['echo', 1024, 0.75], ['echo', 1 << 20, 0.85], ['get', 1024, 0.75], ['get', 1 << 20, 0.85]] as const) {
    const on = r.throughput?.find((c) => c.kind === kind && c.bytes === bytes && c.encrypted);
    const off = r.throughput?.find((c) => c.kind === kind && c.bytes === bytes && !c.encrypted);
    if (!on || !off) continue;
    const what = kind === 'echo' ? `POST ${size(bytes)} echoed` : `GET ${size(bytes)} response`;
    const q = pairedRatio(on.runs.map((x) => x.rps), off.runs.map((x) => x.rps));
    const cap = pairedRatio(off.runs.map((x) => x.lbCpuUs), on.runs.map((x) => x.lbCpuUs));
    const miss = (v: number | undefined) => (v !== undefined && v < goal ? ` (${((1 - v / goal) * 100).toFixed(0)}% short)` : '');
    out.push(verdict(q === undefined ? undefined : q >= goal, `encrypted ≥ ${goal}× plaintext req/s, ${what} — ${formatRatio(q)}${miss(q)}`));
    out.push(verdict(cap === undefined ? undefined : cap >= goal, `the same by lb CPU per request (requests per lb CPU second), ${what} — ${formatRatio(cap)}${miss(cap)}`));
  }
  return out;
}

export function markdownReport(r: Report): string {
  const m = r.machine;
  const parts = [
    `Measured ${r.date} with \`${r.command}\`.`,
    '',
    `Machine: ${m.nproc} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}. One-minute load average ${r.loadAverage[0].toFixed(2)} when measuring started, ${r.loadAverage[1].toFixed(2)} when it ended. Settings: ${Object.entries(r.settings).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
  ];
  if (r.records) {
    parts.push('', '### Record layer: one AES-256-GCM record, sealed or opened one at a time', '', recordsTable(r.records));
  }
  if (r.handshakes) {
    parts.push('', '### Handshakes', '', handshakeTable(r.handshakes));
  }
  if (r.throughput) {
    parts.push('', '### Requests through lb, encryption on and off', '', throughputTable(r.throughput));
  }
  const t = targets(r);
  if (t.length) parts.push('', '### Targets', '', ...t);
  if (r.notes.length) parts.push('', ...r.notes.map((n) => `- ${n}`));
  if (r.skipped.length) parts.push('', ...r.skipped.map((s) => `- skipped: ${s}`));
  return parts.join('\n');
}
