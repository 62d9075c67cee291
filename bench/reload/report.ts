import path from 'node:path';
import { replaceSection } from '../lib/docs-section.js';
import type { LoadResult } from '../lib/load.js';
import { formatCount, formatMs, formatRatio, markdownTable, median, pairedRatio, textTable } from '../lib/stats.js';
import type { MachineFacts } from '../lib/tools.js';
import type { SwitchSample } from './lb.js';

/** The target: requests/s with a reload every second at least this share of requests/s without. */
export const TARGET_RATIO = 0.9;

/** One measured load run, with the reloads done during it. */
export interface LoadRun extends LoadResult {
  reloadsSent: number;
  reloadsLogged: number;
  /** lb's own `ms=` of each reload during the run. */
  reloadMs: number[];
}

export interface Report {
  samples: SwitchSample[];
  /** Per round, in round order. */
  none: LoadRun[];
  reloading: LoadRun[];
  /** warn/error lines lb logged over the whole bench. */
  problems: string[];
  command: string;
  machine: MachineFacts;
  toolVersion: string;
  settings: { reloads: number; durationS: number; warmupS: number; rounds: number; connections: number; tool: string };
  loadAverage: [number, number];
  date: string;
}

const max = (values: readonly number[]) => (values.length ? Math.max(...values) : NaN);
const failedOf = (r: LoadRun) => r.non2xx + r.socketErrors;

function switchRows(r: Report): string[][] {
  const ext = r.samples.map((s) => s.externalMs);
  const logged = r.samples.map((s) => s.loggedMs).filter((v): v is number => v !== undefined);
  const underLoad = r.reloading.flatMap((x) => x.reloadMs);
  return [
    ['SIGHUP → first answer from the new backend (measured outside lb)', formatMs(median(ext)), formatMs(max(ext)), String(ext.length)],
    ['… of which the round trip of that answering request', formatMs(median(r.samples.map((x) => x.answerMs))), formatMs(max(r.samples.map((x) => x.answerMs))), String(ext.length)],
    ["lb's logged `ms` for the same reloads (idle lb)", formatMs(median(logged)), formatMs(max(logged)), String(logged.length)],
    [`lb's logged \`ms\` for the reloads under load (part 2, -c${r.settings.connections})`, formatMs(median(underLoad)), formatMs(max(underLoad)), String(underLoad.length)],
  ];
}

function loadRows(r: Report): string[][] {
  const row = (label: string, runs: LoadRun[]) => {
    const rps = runs.map((x) => x.rps);
    return [
      label, formatCount(median(rps)), `${formatCount(Math.min(...rps))}–${formatCount(Math.max(...rps))}`, formatMs(median(runs.map((x) => x.p50Ms))),
      formatMs(median(runs.map((x) => x.p99Ms))), runs.map((x) => `${x.reloadsLogged}/${x.reloadsSent}`).join(', '), runs.map((x) => String(failedOf(x))).join(', '),
    ];
  };
  return [row('no reloads', r.none), row('a reload every second', r.reloading)];
}

const SWITCH_HEADER = ['measure', 'p50', 'max', 'reloads'];
const LOAD_HEADER = ['run', 'req/s (median)', 'req/s min–max', 'p50', 'p99', 'reloads logged/sent, per run', 'failed requests, per run'];
const SWITCH_ALIGN: Array<'l' | 'r'> = ['l', 'r', 'r', 'r'];
const LOAD_ALIGN: Array<'l' | 'r'> = ['l', 'r', 'r', 'r', 'r', 'r', 'r'];

export function ratioOf(r: Report): number | undefined {
  return pairedRatio(r.reloading.map((x) => x.rps), r.none.map((x) => x.rps));
}

/** The verdict lines: the throughput target, failed requests, and anything lb or the polls reported. */
export function verdicts(r: Report): string[] {
  const ratio = ratioOf(r);
  const failed = [...r.none, ...r.reloading].reduce((n, x) => n + failedOf(x), 0);
  const pollFailures = r.samples.flatMap((s) => s.failed);
  const stale = r.samples.reduce((n, s) => n + s.stale, 0);
  const lines = [
    `Requests/s with a reload every second ÷ without, median of per-round ratios: **${ratio === undefined ? 'n/a' : `${ratio.toFixed(3)}×`}** ` +
      `(target ≥ ${TARGET_RATIO}×: ${ratio === undefined ? 'not measured' : ratio >= TARGET_RATIO ? 'met' : 'not met'}); ratio of the medians ${formatRatio(median(r.reloading.map((x) => x.rps)) / median(r.none.map((x) => x.rps)))}.`,
    `Failed requests (non-2xx + socket errors) over all ${r.none.length + r.reloading.length} load runs: **${failed}** (target 0: ${failed === 0 ? 'met' : 'not met'}).`,
    `Polls after SIGHUP: ${stale} answered by the old backend before the new one did, ${pollFailures.length} failed${pollFailures.length ? ` (${pollFailures.slice(0, 3).join('; ')})` : ''}.`,
  ];
  if (r.problems.length) lines.push(`lb logged ${r.problems.length} warn/error line(s), e.g. \`${r.problems[0].slice(0, 240)}\`.`);
  else lines.push('lb logged no warn or error line during the bench.');
  return lines;
}

export function terminalReport(r: Report): string {
  return [textTable(SWITCH_HEADER, switchRows(r), SWITCH_ALIGN), '', textTable(LOAD_HEADER, loadRows(r), LOAD_ALIGN), '', ...verdicts(r).map((l) => l.replace(/\*\*/g, ''))].join('\n');
}

export function docsSection(r: Report): string {
  const { machine: m, settings: s } = r;
  const load = s.tool === 'wrk' ? `wrk -t1 -c${s.connections} -d${s.durationS}s --latency` : `autocannon -c ${s.connections} -d ${s.durationS}`;
  return [
    '## Reload (`bench/reload`)',
    '',
    `Measured ${r.date} with:`,
    '',
    '```sh',
    r.command,
    '```',
    '',
    `Machine: ${m.nproc} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}; ${s.tool} ${r.toolVersion}. ` +
      `One-minute load average ${r.loadAverage[0].toFixed(2)} at the start, ${r.loadAverage[1].toFixed(2)} at the end. ` +
      "**This VM's speed drifts by ±30% from one minute to the next, so only the ratios within one run mean anything**; the absolute figures will not repeat.",
    '',
    'Setup: the compiled CLI (`node dist/cli/lb.js run --config lbrc.json`, preset `basic`, log level info) in its own process; three backends ' +
      '(`bench/overhead/backend.ts`, one node:http process each, answering with their name in `x-backend`); the bench and the load generator in others; all on 127.0.0.1.',
    '',
    `### SIGHUP to the new generation serving (${s.reloads} reloads, idle lb)`,
    '',
    'The rc alternates between two configurations whose only backend differs (A, then B, then A...). The bench rewrites the rc, calls `kill(pid, "SIGHUP")` ' +
      'and polls lb one request after another, each on a fresh connection, until one answers from the new backend: the time from `kill()` to that answer is one sample. ' +
      "lb's logged `ms` starts when its reload begins (reading the rc) and ends when the new generation is swapped in, so it leaves out signal delivery and the first request.",
    '',
    markdownTable(SWITCH_HEADER, switchRows(r), SWITCH_ALIGN),
    '',
    `### Requests/s during reloads (${s.rounds} interleaved rounds)`,
    '',
    `Load: \`${load}\` on lb, ${s.warmupS} s warm-up before each run; each round measures both runs, in alternating order. During "a reload every second" the bench ` +
      'rewrites the rc and sends SIGHUP every 1000 ms, cycling round-robin over A+B → least-connections over A+B+C → round-robin over A+B+C → least-connections over A+B, ' +
      'so every reload changes the strategy and every other one adds or removes backend C; "no reloads" runs round-robin over A+B. lb is put back to round-robin over A+B before each run.',
    '',
    markdownTable(LOAD_HEADER, loadRows(r), LOAD_ALIGN),
    '',
    ...verdicts(r).map((l) => `- ${l}`),
    '',
  ].join('\n');
}

export function writeDocs(repoRoot: string, r: Report): string {
  const docs = path.join(repoRoot, 'docs', 'benchmarks.md');
  replaceSection(docs, 'reload', docsSection(r));
  return docs;
}
