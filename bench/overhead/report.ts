import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { replaceSection } from '../lib/docs-section.js';
import type { LoadResult } from '../lib/load.js';
import { formatCount, formatMs, formatRatio, markdownTable, median, pairedRatio, textTable } from '../lib/stats.js';
import { barChartSvg } from '../lib/svg-chart.js';
import type { MachineFacts } from '../lib/tools.js';
import type { ContenderId } from './contenders.js';

/** One measured run: the load tool's figures and the CPU time the contender's process spent per request. */
export interface Measurement extends LoadResult {
  /** Microseconds of CPU (user + system, with child processes) per request; undefined where /proc is missing. */
  cpuUsPerRequest: number | undefined;
}

/** One contender's medians over the rounds, and its figures per round (in round order) for paired ratios. */
export interface Summary {
  id: ContenderId;
  label: string;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  rpsMin: number;
  rpsMax: number;
  cpuUsPerRequest: number | undefined;
  perRound: { rps: number[]; cpuUsPerRequest: Array<number | undefined> };
  /** Non-2xx responses plus socket errors over all measured runs. */
  errors: number;
}

/** The target of issue 2: lb basic at least this share of bare http-proxy-3's requests/s. */
export const TARGET_RATIO = 0.95;

/** `runs` in round order, one per round. */
export function summarise(id: ContenderId, label: string, runs: readonly Measurement[]): Summary {
  const rps = runs.map((r) => r.rps);
  const cpu = runs.map((r) => r.cpuUsPerRequest);
  const knownCpu = cpu.filter((v): v is number => v !== undefined);
  return {
    id,
    label,
    rps: median(rps),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    rpsMin: Math.min(...rps),
    rpsMax: Math.max(...rps),
    cpuUsPerRequest: knownCpu.length ? median(knownCpu) : undefined,
    perRound: { rps, cpuUsPerRequest: cpu },
    errors: runs.reduce((n, r) => n + r.non2xx + r.socketErrors, 0),
  };
}

/** Requests/s of `s` over `ref`'s, median of per-round ratios. */
function rpsRatio(s: Summary, ref: Summary | undefined): number | undefined {
  return ref ? pairedRatio(s.perRound.rps, ref.perRound.rps) : undefined;
}

/** Requests per CPU second of `s` over `ref`'s (the inverse of CPU per request), median of per-round ratios. */
function cpuRatio(s: Summary, ref: Summary | undefined): number | undefined {
  return ref ? pairedRatio(ref.perRound.cpuUsPerRequest, s.perRound.cpuUsPerRequest) : undefined;
}

const find = (summaries: readonly Summary[], id: ContenderId) => summaries.find((s) => s.id === id);

const HEADER = ['contender', 'req/s', 'p50', 'p99', '× bare http-proxy-3', '× nginx', 'req/s min–max', 'CPU µs/req', 'CPU: × bare http-proxy-3', 'errors'];
const ALIGN: Array<'l' | 'r'> = ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'];

function rows(summaries: readonly Summary[]): string[][] {
  const base = find(summaries, 'bare-http-proxy-3');
  const nginx = find(summaries, 'nginx');
  return summaries.map((s) => [
    s.label,
    formatCount(s.rps),
    formatMs(s.p50Ms),
    formatMs(s.p99Ms),
    formatRatio(rpsRatio(s, base)),
    formatRatio(rpsRatio(s, nginx)),
    `${formatCount(s.rpsMin)}–${formatCount(s.rpsMax)}`,
    s.cpuUsPerRequest === undefined ? 'n/a' : s.cpuUsPerRequest.toFixed(1),
    formatRatio(cpuRatio(s, base)),
    String(s.errors),
  ]);
}

export function terminalTable(summaries: readonly Summary[]): string {
  return textTable(HEADER, rows(summaries), ALIGN);
}

/** "met (0.97×; by CPU per request 0.98×)", or undefined when lb or the reference was not measured. */
export function targetVerdict(summaries: readonly Summary[]): string | undefined {
  const lb = find(summaries, 'lb');
  const base = find(summaries, 'bare-http-proxy-3');
  const r = lb && rpsRatio(lb, base);
  if (!lb || r === undefined) return undefined;
  const byCpu = cpuRatio(lb, base);
  // Three decimals: 0.947 must not read as "0.95×, not met".
  return `${r >= TARGET_RATIO ? 'met' : 'not met'} (${r.toFixed(3)}×${byCpu !== undefined ? `; by CPU per request ${byCpu.toFixed(3)}×` : ''})`;
}

export function chartSvg(summaries: readonly Summary[], subtitle: string): string {
  const base = find(summaries, 'bare-http-proxy-3');
  return barChartSvg({
    title: 'Proxy overhead: requests/s, median of interleaved rounds (higher is better)',
    subtitle,
    unit: 'req/s',
    bars: summaries.map((s) => {
      const r = rpsRatio(s, base);
      return { label: s.label, value: s.rps, highlight: s.id === 'lb', note: r !== undefined && s !== base ? `${formatRatio(r)} bare http-proxy-3` : undefined };
    }),
    markers: base ? [{ value: base.rps * TARGET_RATIO, label: `target: ${TARGET_RATIO} × bare http-proxy-3` }] : [],
  });
}

export interface ReportInput {
  summaries: Summary[];
  skipped: Array<{ id: ContenderId; reason: string }>;
  command: string;
  machine: MachineFacts;
  versions: Record<string, string | undefined>;
  /** One-minute load average when the measurements started and ended: other work on the machine skews figures. */
  loadAverage: [number, number];
  /** Lines printed under the setup, e.g. which plugins lb ran with. */
  notes: string[];
  settings: { durationS: number; warmupS: number; firstWarmupS: number; rounds: number; connections: number; threads: number; tool: string };
  date: string;
}

/** The docs/benchmarks.md section, in Markdown. */
export function docsSection(input: ReportInput, chartLink: string): string {
  const { summaries, machine: m, settings: s, versions } = input;
  const verdict = targetVerdict(summaries);
  const toolLine = Object.entries(versions).map(([k, v]) => `${k} ${v ?? 'not installed'}`).join(', ');
  const load = s.tool === 'wrk' ? `wrk -t${s.threads} -c${s.connections} -d${s.durationS}s --latency` : `autocannon -c ${s.connections} -d ${s.durationS}`;
  const lines = [
    '## Proxy overhead (`bench/overhead`)',
    '',
    `Measured ${input.date} with:`,
    '',
    '```sh',
    input.command,
    '```',
    '',
    `Machine: ${m.nproc} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}; ${toolLine}. ` +
      `One-minute load average ${input.loadAverage[0].toFixed(2)} when measuring started, ${input.loadAverage[1].toFixed(2)} when it ended ` +
      '(other work on the machine lowers every figure; the ratios hold better than the absolute numbers).',
    '',
    'Setup: two backends, each a node:http server in its own process answering a 27-byte body; every contender runs in its own process on 127.0.0.1. ' +
      `Load: \`${load}\`; ${s.firstWarmupS} s warm-up per contender first, then ${s.rounds} rounds, each measuring every contender once ` +
      `(${s.warmupS} s warm-up, then ${s.durationS} s), round robin, starting one further each round. ` +
      'The bare proxies (`bench/overhead/bare-*.ts`) and lb use a keep-alive agent and round robin over both backends; nginx runs 1 worker with upstream `keepalive 64`, HAProxy 1 thread with `http-reuse always`. ' +
      '"direct" loads one backend without a proxy.',
    '',
    ...input.notes.map((n) => `- ${n}`),
    ...(input.notes.length ? [''] : []),
    'req/s, p50 and p99 are medians over the rounds. The "×" columns are medians of per-round ratios (contenders measured in the same round share its conditions). ' +
      '"CPU µs/req" is the CPU time (user + system, all threads and worker processes) the contender\'s process spent per request while measured, from /proc; ' +
      '"CPU: ×" compares requests per CPU second with bare http-proxy-3.',
    '',
    markdownTable(HEADER, rows(summaries), ALIGN),
    '',
    `![Requests/s per contender](${chartLink})`,
    '',
  ];
  if (verdict) lines.push(`Target (issue 2): lb with \`basic\` at least ${TARGET_RATIO} × bare http-proxy-3 requests/s — **${verdict}**.`, '');
  lines.push('To see where lb spends its time under the same load: `npx tsx bench/overhead/profile.ts` (a CPU profile of lb, summarised by function; `--target bare-http-proxy-3` for the reference).', '');
  for (const k of input.skipped) lines.push(`Skipped ${k.id}: ${k.reason}.`, '');
  return lines.join('\n');
}

/** Writes the chart and rewrites the overhead section of docs/benchmarks.md. */
export function writeDocs(repoRoot: string, input: ReportInput): { docs: string; chart: string } {
  const chart = path.join(repoRoot, 'docs', 'charts', 'overhead-rps.svg');
  mkdirSync(path.dirname(chart), { recursive: true });
  const s = input.settings;
  writeFileSync(chart, chartSvg(input.summaries, `${input.machine.nproc} cores, Node ${input.machine.node}, ${s.tool} -c${s.connections}, ${s.rounds} rounds × ${s.durationS} s, ${input.date}`));
  const docs = path.join(repoRoot, 'docs', 'benchmarks.md');
  replaceSection(docs, 'overhead', docsSection(input, 'charts/overhead-rps.svg'));
  return { docs, chart };
}
