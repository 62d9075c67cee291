import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { replaceSection } from '../lib/docs-section.js';
import { formatMs, formatRatio, markdownTable, median, ratio, textTable } from '../lib/stats.js';
import { barChartSvg } from '../lib/svg-chart.js';
import type { Contender } from './contenders.js';
import type { RunStats } from './stats.js';
import type { Scenario } from './run.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ScenarioResult {
  scenario: Scenario;
  rate: number;
  requests: number;
  runs: Map<Contender, RunStats[]>;
}

export interface ReportMeta {
  write: boolean;
  command: string;
  minutes: number;
  pollMs: number;
  rounds: number;
  meanWorkMs: number;
  load: number;
  skipMs: number;
  machine: string;
  peers: string[];
}

/** Medians over rounds, and shares over all rounds. */
interface Row {
  contender: Contender;
  mean: number;
  p50: number;
  p99: number;
  shares: number[];
  failures: number;
}

function rows(result: ScenarioResult): Row[] {
  return [...result.runs].filter(([, runs]) => runs.length > 0).map(([contender, runs]) => {
    const names = Object.keys(runs[0].served);
    const totals = names.map((n) => runs.reduce((s, r) => s + r.served[n], 0));
    const all = totals.reduce((s, x) => s + x, 0) || 1;
    return {
      contender,
      mean: median(runs.map((r) => r.meanMs)),
      p50: median(runs.map((r) => r.p50Ms)),
      p99: median(runs.map((r) => r.p99Ms)),
      shares: totals.map((t) => t / all),
      failures: runs.reduce((s, r) => s + r.failures, 0),
    };
  });
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const byName = (list: Row[], name: string) => list.find((r) => r.contender.name === name);

function table(list: Row[], markdown: boolean): string {
  const oracle = byName(list, 'oracle');
  const random = byName(list, 'random');
  const header = ['strategy', 'mean', 'p50', 'p99', 'mean / oracle', 'p99 / oracle', 'mean / random', 'b1', 'b2', 'b3', 'b4', 'failed'];
  const body = list.map((r) => [
    markdown && r.contender.ours ? `**${r.contender.label}**` : r.contender.label,
    formatMs(r.mean), formatMs(r.p50), formatMs(r.p99),
    formatRatio(ratio(r.mean, oracle?.mean)), formatRatio(ratio(r.p99, oracle?.p99)), formatRatio(ratio(r.mean, random?.mean)),
    ...r.shares.map(pct), String(r.failures),
  ]);
  const align: Array<'l' | 'r'> = ['l', ...header.slice(1).map(() => 'r' as const)];
  return markdown ? markdownTable(header, body, align) : textTable(header, body, align);
}

interface Check {
  text: string;
  ok: boolean | undefined;
}

function checks(stressed: Row[] | undefined, equal: Row[] | undefined): Check[] {
  const out: Check[] = [];
  const versus = (a: number | undefined, b: number | undefined, limit: number) => (a === undefined || b === undefined ? undefined : a <= limit * b);
  for (const name of ['metric-based', 'metric-based-inband']) {
    const r = stressed && byName(stressed, name);
    if (!r) continue;
    const label = r.contender.label;
    const oracle = byName(stressed, 'oracle');
    const random = byName(stressed, 'random');
    const mean = ratio(r.mean, oracle?.mean);
    const p99 = ratio(r.p99, oracle?.p99);
    out.push({ text: `${label}: mean ≤ 1.1 × oracle's (${formatRatio(mean)})`, ok: versus(r.mean, oracle?.mean, 1.1) });
    out.push({ text: `${label}: p99 ≤ 1.3 × oracle's (${formatRatio(p99)})`, ok: versus(r.p99, oracle?.p99, 1.3) });
    out.push({ text: `${label}: mean ≤ 0.64 × random's, the original result (${formatRatio(ratio(r.mean, random?.mean))})`, ok: versus(r.mean, random?.mean, 0.64) });
    for (const peer of ['nginx-least-conn', 'haproxy-leastconn']) {
      const p = byName(stressed, peer);
      if (!p) continue;
      out.push({
        text: `${label}: no worse than ${p.contender.label} on mean (${formatMs(r.mean)} vs ${formatMs(p.mean)}) and p99 (${formatMs(r.p99)} vs ${formatMs(p.p99)})`,
        ok: r.mean <= p.mean && r.p99 <= p.p99,
      });
    }
  }
  for (const r of equal ?? []) {
    if (!r.contender.ours) continue;
    const least = Math.min(...r.shares);
    out.push({ text: `equal backends, ${r.contender.label}: every backend ≥ a quarter of its fair share (least ${pct(least)}, floor ${pct(1 / 16)})`, ok: least >= 1 / 16 });
  }
  return out;
}

function chart(result: ScenarioResult, list: Row[], what: 'mean' | 'p99'): string {
  const oracle = byName(list, 'oracle');
  const shown = list.filter((r) => r.contender.name !== 'original');
  const original = byName(list, 'original');
  return barChartSvg({
    title: `${what === 'mean' ? 'Mean' : 'p99'} latency, ${result.scenario.title}`,
    subtitle: `${result.requests} requests open-loop at ${result.rate.toFixed(0)}/s (70% of capacity); lower is better${original ? `; the original design (${formatMs(original[what])}) is off this scale` : ''}`,
    unit: 'ms',
    bars: shown.map((r) => ({
      label: r.contender.short ?? r.contender.label,
      value: r[what],
      note: oracle ? `${formatRatio(ratio(r[what], oracle[what]))} oracle` : undefined,
      highlight: r.contender.name.startsWith('metric-based'),
    })),
    markers: oracle ? [{ value: oracle[what] * (what === 'mean' ? 1.1 : 1.3), label: `target ${what === 'mean' ? '1.1' : '1.3'}× oracle` }] : [],
    formatValue: (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1)),
  });
}

/** Prints the tables and checks; with `write`, rewrites the balance section of docs/benchmarks.md and the charts. */
export function writeReport(results: ScenarioResult[], meta: ReportMeta): void {
  const byScenario = new Map(results.map((r) => [r.scenario.name, rows(r)]));
  const list = checks(byScenario.get('stressed'), byScenario.get('equal'));
  for (const result of results) console.log(`\n${result.scenario.title}\n${table(byScenario.get(result.scenario.name)!, false)}`);
  console.log(`\n${list.map((c) => `${c.ok === undefined ? '?' : c.ok ? 'PASS' : 'MISS'}  ${c.text}`).join('\n')}`);
  if (!meta.write) return;

  const sections: string[] = [];
  for (const result of results) {
    const r = byScenario.get(result.scenario.name)!;
    const charts = result.scenario.name === 'stressed' ? (['mean', 'p99'] as const) : (['mean'] as const);
    const links = charts.map((what) => {
      const file = `balance-${result.scenario.name}-${what}.svg`;
      writeFileSync(path.join(root, 'docs', 'charts', file), chart(result, r, what));
      return `![${what} latency, ${result.scenario.title}](charts/${file})`;
    });
    sections.push(`### ${result.scenario.title[0].toUpperCase()}${result.scenario.title.slice(1)}`, '',
      `${result.requests} requests, open loop at ${result.rate.toFixed(0)}/s (${meta.load * 100}% of the farm's capacity); latency from each request's scheduled send time to the end of its response.`, '',
      table(r, true), '', ...links.flatMap((l) => [l, '']));
  }
  const doc = [
    '## Balancing under uneven load (`bench/balance`)',
    '',
    `Command: \`${meta.command}\` (${meta.minutes.toFixed(1)} min on ${meta.machine}; peers: ${meta.peers.join('; ') || 'none installed'}).`,
    '',
    'The original experiment, reproduced: four backends, two of them under CPU stress, and a balancer that should send work',
    'where it finishes soonest. Each backend emulates a CPU of 8 cores as processor sharing (every job progresses at',
    'min(1, 8 / jobs) of a core); a request needs an exponentially distributed amount of CPU work (mean',
    `${meta.meanWorkMs} ms of one core); a stressed backend also runs 16 endless jobs, as \`stress --cpu 16\` would, so`,
    'requests get a third of its cores. Every backend serves the lb agent report at `GET /.lb/health` (CPU utilisation and',
    'load it observed since the previous report, cores, memory, requests in flight) and attaches an in-band ORCA report',
    '(`endpoint-load-metrics: TEXT cpu_utilization=…,mem_utilization=…,named_metrics.load=…`, averaged over ~100 ms) to',
    `every response. One seeded open-loop arrival sequence is replayed against every contender; requests sent in the first ${meta.skipMs / 1000} s`,
    `are not measured. lb's strategies, the oracle and the original design run in lb, in one process with the farm (on`,
    'another thread, so that the oracle can read the farm\'s memory); nginx and HAProxy run in their own processes with one',
    `worker/thread and upstream keep-alive. Health polling (\`health-check\`, every ${meta.pollMs} ms) runs where a strategy needs`,
    'it. The `health-check` plugin does not pass the reported `cores` on yet, so `metric-based` learns how much one request',
    'weighs from the reports (see [strategies.md](strategies.md)). The oracle joins the shortest true queue (background',
    'plus request jobs, read from the farm\'s memory): the best any balancer can do here. Shares are of all requests;',
    `${meta.rounds > 1 ? `latencies are medians of ${meta.rounds} interleaved rounds` : 'one round (`--rounds N` for medians of N interleaved rounds)'}. A run is repeated when`,
    'the load generator could not send on time (another process was using the CPU).',
    '',
    ...sections,
    '### Targets (issue 3)',
    '',
    ...list.map((c) => `- ${c.ok === undefined ? '?' : c.ok ? '✅' : '❌'} ${c.text}`),
  ].join('\n');
  replaceSection(path.join(root, 'docs', 'benchmarks.md'), 'balance', doc);
  console.log('\nwrote docs/benchmarks.md (balance section) and docs/charts/balance-*.svg');
}
