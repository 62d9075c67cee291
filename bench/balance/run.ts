/**
 * Balancing under uneven load: the original experiment, reproduced and compared.
 * A farm of four emulated backends (processor sharing over 8 cores each; in the
 * "stressed" scenario two carry 16 `stress --cpu`-like background jobs) is offered
 * one fixed, seeded open-loop arrival sequence at 70 % of its capacity; every
 * contender balances the same sequence and we compare latency and shares.
 *
 *   npm run bench:balance                     full run, rewrites the balance section of docs/benchmarks.md
 *   npm run bench:balance -- --only oracle,metric-based --scenario stressed --no-docs
 *   options: --seconds S (stressed run length), --rounds R, --poll-ms P, --seed N
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { stopAll, stopChildrenOnExit } from '../lib/process.js';
import { ensureTool, machineFacts, toolVersion } from '../lib/tools.js';
import { arrivalSequence, type Arrival } from './arrivals.js';
import { allContenders, startSetup, type Contender } from './contenders.js';
import type { BackendSpec } from './farm.js';
import { replay } from './generator.js';
import { writeReport, type ScenarioResult } from './report.js';
import { summarize, type RunStats } from './stats.js';

const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    scenario: { type: 'string', default: 'all' },
    seconds: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '1' },
    'poll-ms': { type: 'string', default: '1000' },
    seed: { type: 'string', default: '2024' },
    'no-docs': { type: 'boolean', default: false },
  },
});

const CORES = 8;
const STRESS_JOBS = 16;
const MEAN_WORK_MS = 40;
const LOAD = 0.7;
/** Requests sent in the first second are not measured: queues fill up from empty. */
const SKIP_MS = 1000;
/** Idle CPU share required before a run, and the generator lag past which a run is repeated. */
const QUIET_IDLE = 0.7;
const MAX_LAG_MS = 25;
const MAX_ATTEMPTS = 3;

export interface Scenario {
  name: 'stressed' | 'equal';
  title: string;
  specs: BackendSpec[];
  seconds: number;
}

const backend = (i: number, background: number): BackendSpec => ({ name: `b${i + 1}`, cores: CORES, background });
const stressedSeconds = Number(args.seconds);
const scenarios: Scenario[] = [
  { name: 'stressed', title: `two of four stressed (${STRESS_JOBS} background jobs on ${CORES} cores)`, specs: [0, 1, 2, 3].map((i) => backend(i, i < 2 ? STRESS_JOBS : 0)), seconds: stressedSeconds },
  { name: 'equal', title: 'four equal backends', specs: [0, 1, 2, 3].map((i) => backend(i, 0)), seconds: Math.max(5, Math.round(stressedSeconds * 0.6)) },
].filter((s) => args.scenario === 'all' || args.scenario === s.name) as Scenario[];

/**
 * Requests per second the farm serves at full use: a backend with b background jobs
 * gives requests the share C/(C+b) of its C cores when it holds C of them (processor sharing).
 */
export function capacityPerSecond(specs: readonly BackendSpec[], meanWorkMs: number): number {
  return specs.reduce((sum, s) => sum + (s.cores * s.cores) / (s.cores + s.background), 0) * (1000 / meanWorkMs);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Share of the machine's CPU time that was idle over `ms`. */
async function idleShare(ms: number): Promise<number> {
  const total = () => os.cpus().reduce((acc, c) => ({ idle: acc.idle + c.times.idle, all: acc.all + Object.values(c.times).reduce((a, b) => a + b, 0) }), { idle: 0, all: 0 });
  const a = total();
  await sleep(ms);
  const b = total();
  return (b.idle - a.idle) / Math.max(1, b.all - a.all);
}

/**
 * Other work on this 2-core machine distorts every latency here. Waits (up to
 * `maxWaitMs`) until at least 70% of the CPU is idle; says so when it gives up.
 */
async function waitForQuiet(maxWaitMs: number): Promise<void> {
  const deadline = Date.now() + maxWaitMs;
  let idle = await idleShare(1000);
  while (idle < QUIET_IDLE && Date.now() < deadline) {
    console.error(`  machine busy (${(100 * idle).toFixed(0)}% idle); waiting...`);
    idle = await idleShare(5000);
  }
  if (idle < QUIET_IDLE) console.error(`  machine still busy (${(100 * idle).toFixed(0)}% idle); running anyway`);
}

async function runOnce(contender: Contender, scenario: Scenario, arrivals: readonly Arrival[], binaries: { nginx?: string; haproxy?: string }): Promise<RunStats> {
  const setup = await startSetup(contender, scenario.specs, binaries);
  try {
    // Warm up connections and JIT with light requests, then let a health poll or two happen.
    await replay(setup.port, Array.from({ length: 200 }, (_, i) => ({ atMs: i * 5, workMs: 1 })), { timeoutMs: 10_000, drainMs: 10_000 });
    await sleep(1500);
    const result = await replay(setup.port, arrivals, { timeoutMs: 60_000, drainMs: 60_000 });
    return summarize(result, arrivals, scenario.specs.map((s) => s.name), SKIP_MS);
  } finally {
    await setup.stop();
  }
}

/**
 * One measured run on a quiet machine: repeated when the generator could not send on
 * time (the machine was busy, so the run is void); undefined when the contender cannot start.
 */
async function measure(contender: Contender, scenario: Scenario, arrivals: readonly Arrival[], binaries: { nginx?: string; haproxy?: string }): Promise<RunStats | undefined> {
  for (let attempt = 1; ; attempt++) {
    await waitForQuiet(60_000);
    let stats: RunStats;
    try {
      stats = await runOnce(contender, scenario, arrivals, binaries);
    } catch (e) {
      console.error(`  ${contender.label} could not run; skipped: ${(e as Error).message}`);
      return undefined;
    }
    if (stats.maxSendLagMs <= MAX_LAG_MS || attempt === MAX_ATTEMPTS) return stats;
    console.error(`  ${contender.label}: the generator lagged ${stats.maxSendLagMs.toFixed(0)} ms; running it again`);
  }
}

async function main(): Promise<void> {
  stopChildrenOnExit();
  const pollMs = Number(args['poll-ms']);
  const rounds = Number(args.rounds);
  const only = args.only ? new Set(args.only.split(',')) : undefined;
  const binaries = { nginx: ensureTool('nginx'), haproxy: ensureTool('haproxy') };
  const contenders = allContenders(pollMs).filter((c) => (!only || only.has(c.name)) && (c.kind === 'lb' || binaries[c.kind]));
  const skipped = allContenders(pollMs).filter((c) => c.kind !== 'lb' && !binaries[c.kind]).map((c) => c.label);
  if (skipped.length) console.error(`not installed, skipped: ${skipped.join(', ')}`);

  const results: ScenarioResult[] = [];
  const failed = new Set<Contender>();
  const started = Date.now();
  for (const scenario of scenarios) {
    const rate = LOAD * capacityPerSecond(scenario.specs, MEAN_WORK_MS);
    const arrivals = arrivalSequence(Number(args.seed), rate, scenario.seconds * 1000, MEAN_WORK_MS);
    console.error(`\n${scenario.name}: ${scenario.title}; ${arrivals.length} requests over ${scenario.seconds} s (${rate.toFixed(0)}/s, ${LOAD * 100}% of capacity)`);
    const runs = new Map<Contender, RunStats[]>(contenders.map((c) => [c, []]));
    for (let round = 0; round < rounds; round++) {
      // Interleaved: every contender once per round, in a rotated order.
      const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
      for (const contender of order) {
        if (failed.has(contender)) continue;
        const stats = await measure(contender, scenario, arrivals, binaries);
        if (!stats) {
          failed.add(contender);
          continue;
        }
        runs.get(contender)!.push(stats);
        const shares = Object.values(stats.served).map((n) => ((100 * n) / arrivals.length).toFixed(0).padStart(3)).join('% ');
        console.error(`  ${contender.label.padEnd(48)} mean ${stats.meanMs.toFixed(1).padStart(7)} ms  p50 ${stats.p50Ms.toFixed(1).padStart(7)}  p99 ${stats.p99Ms.toFixed(1).padStart(8)}  shares ${shares}%  failed ${stats.failures}  lag ${stats.maxSendLagMs.toFixed(1)} ms`);
      }
    }
    results.push({ scenario, rate, requests: arrivals.length, runs });
  }
  const minutes = (Date.now() - started) / 60000;
  const facts = machineFacts();
  writeReport(results, {
    write: !args['no-docs'],
    command: `npm run bench:balance${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    minutes,
    pollMs,
    rounds,
    meanWorkMs: MEAN_WORK_MS,
    load: LOAD,
    skipMs: SKIP_MS,
    machine: `${facts.nproc} cores (${facts.cpuModel}), Node ${facts.node}`,
    peers: [binaries.nginx && toolVersion(binaries.nginx, ['-v']), binaries.haproxy && toolVersion(binaries.haproxy, ['-v'])]
      .filter((v): v is string => !!v)
      .map((v) => v.replace(/^nginx version: /, '').replace(/^HAProxy version (\S+).*/, 'HAProxy $1')),
  });
}

main().then(
  () => stopAll(),
  async (e: unknown) => {
    console.error(e);
    await stopAll();
    process.exitCode = 1;
  },
);
