// Reload: time from SIGHUP to the new generation serving (measured outside lb), and requests/s
// with a reload every second against none, interleaved, medians. `npm run bench:reload -- --help`.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { findLoadTool, runLoad, type LoadTool } from '../lib/load.js';
import { buildLb, freePorts, httpGet, startChild, stopAll, stopChildrenOnExit, waitForPort, benchCommand } from '../lib/process.js';
import { machineFacts, toolVersion } from '../lib/tools.js';
import { LbUnderTest, repoRoot, timeToServe, type RcVariant, type SwitchSample } from './lb.js';
import { terminalReport, writeDocs, type LoadRun, type Report } from './report.js';

const HELP = `Usage: npm run bench:reload -- [flags]
  --reloads N       SIGHUP-to-serving samples (default 20)
  --duration S      seconds per load run (default 8)
  --warmup S        seconds of warm-up before each load run (default 1)
  --rounds N        interleaved rounds of (no reloads, a reload every second) (default 5)
  --connections N   concurrent connections (default 32)
  --skip-build      use the existing dist/ instead of running npm run build
  --no-docs         print only; do not rewrite the reload section of docs/benchmarks.md`;

const log = (line: string) => console.error(line);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function readSettings() {
  const { values } = parseArgs({
    options: {
      reloads: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' }, rounds: { type: 'string' }, connections: { type: 'string' },
      'skip-build': { type: 'boolean' }, 'no-docs': { type: 'boolean' }, help: { type: 'boolean' },
    },
  });
  const int = (name: string, text: string | undefined, fallback: number, lo: number, hi: number) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new Error(`--${name} must be an integer from ${lo} to ${hi}; found "${text}"`);
    return n;
  };
  return {
    help: values.help ?? false,
    reloads: int('reloads', values.reloads, 20, 1, 500),
    durationS: int('duration', values.duration, 8, 3, 120),
    warmupS: int('warmup', values.warmup, 1, 1, 60),
    rounds: int('rounds', values.rounds, 5, 1, 50),
    connections: int('connections', values.connections, 32, 1, 1024),
    build: !values['skip-build'],
    docs: !values['no-docs'],
  };
}

/** Starts the three backends, one process each (the overhead bench's), answering with x-backend A, B, C. */
async function startBackends(): Promise<Record<'A' | 'B' | 'C', string>> {
  const ports = await freePorts(3);
  const names = ['A', 'B', 'C'] as const;
  const script = path.join(repoRoot, 'bench', 'overhead', 'backend.ts');
  const children = names.map((n, i) => startChild(`backend-${n}`, process.execPath, ['--import', 'tsx', script, String(ports[i]), n], { cwd: repoRoot }));
  await Promise.all(children.map((c, i) => waitForPort(ports[i], 15_000, c)));
  for (const [i, n] of names.entries()) {
    const r = await httpGet(`http://127.0.0.1:${ports[i]}/`);
    if (r.status !== 200 || r.headers['x-backend'] !== n) throw new Error(`backend ${n} answered ${r.status} x-backend=${r.headers['x-backend']}`);
  }
  return { A: `http://127.0.0.1:${ports[0]}`, B: `http://127.0.0.1:${ports[1]}`, C: `http://127.0.0.1:${ports[2]}` };
}

/** Part 2: one load run, with a reload every second (cycling `cycle[1..]`) or none. */
async function loadRun(lb: LbUnderTest, tool: LoadTool, s: ReturnType<typeof readSettings>, cycle: RcVariant[] | undefined): Promise<LoadRun> {
  const before = lb.reloads.length;
  const generation = lb.generation;
  let sent = 0;
  let interval: NodeJS.Timeout | undefined;
  const reloadOnce = () => {
    if (!cycle || sent >= s.durationS) return;
    sent++;
    lb.writeRc(cycle[sent % cycle.length]);
    lb.hup();
  };
  // The first reload 500 ms in, then every 1000 ms: durationS reloads, the last 500 ms before the run ends.
  const start = cycle ? setTimeout(() => { reloadOnce(); interval = setInterval(reloadOnce, 1000); }, 500) : undefined;
  try {
    const r = await runLoad({ url: lb.url, connections: s.connections, threads: 1, tool, durationS: s.durationS });
    clearTimeout(start);
    clearInterval(interval);
    // Reloads that collapsed into one log fewer lines; then this waits its 5 s out and the table shows it.
    if (sent) await lb.waitForGeneration(generation + sent, 5000);
    const logged = lb.reloads.slice(before);
    return { ...r, reloadsSent: sent, reloadsLogged: logged.length, reloadMs: logged.map((l) => l.ms) };
  } finally {
    clearTimeout(start);
    clearInterval(interval);
  }
}



async function main(): Promise<void> {
  const s = readSettings();
  if (s.help) {
    console.log(HELP);
    return;
  }
  stopChildrenOnExit();
  const tool = findLoadTool(log);
  if (s.build) buildLb(repoRoot, log);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lb-bench-reload-'));
  // Every step is bounded on its own; this only catches a hang in between.
  const budgetMs = (s.reloads * 6 + 2 * s.rounds * (s.durationS + s.warmupS + 25) + 3 + 120) * 1000;
  const guard = setTimeout(() => {
    log(`bench exceeded its ${Math.round(budgetMs / 1000)} s budget; stopping.`);
    void stopAll().finally(() => process.exit(1));
  }, budgetMs);
  guard.unref();
  try {
    const b = await startBackends();
    const [port] = await freePorts(1);
    const only = (name: 'A' | 'B'): RcVariant => ({ strategy: 'round-robin', backends: [b[name]] });
    const lb = await LbUnderTest.start(dir, port, only('A'));
    const first = await httpGet(lb.url);
    if (first.status !== 200 || first.headers['x-backend'] !== 'A') throw new Error(`lb answered ${first.status} x-backend=${first.headers['x-backend']}; expected 200 from A`);
    const loadBefore = os.loadavg()[0];

    // Part 1: SIGHUP to serving, alternating A and B; two reloads first, unmeasured, to warm the code up.
    log(`part 1: ${s.reloads} reloads, alternating backend A and B, lb on ${lb.url}`);
    const samples: SwitchSample[] = [];
    for (let i = -2; i < s.reloads; i++) {
      const name = (i & 1) === 0 ? 'B' : 'A';
      const sample = await timeToServe(lb, only(name), name);
      if (i >= 0) samples.push(sample);
      log(`  reload ${i < 0 ? 'warm-up' : i + 1} → ${name}: ${sample.externalMs.toFixed(2)} ms (last poll ${sample.answerMs.toFixed(2)} ms; lb logged ${sample.loggedMs ?? '?'} ms), ${sample.stale} stale, ${sample.failed.length} failed`);
      await sleep(200);
    }

    // Part 2: requests/s with a reload every second against none, interleaved.
    const ab: RcVariant = { strategy: 'round-robin', backends: [b.A, b.B] };
    const cycle: RcVariant[] = [ab, { strategy: 'least-connections', backends: [b.A, b.B, b.C] }, { strategy: 'round-robin', backends: [b.A, b.B, b.C] }, { strategy: 'least-connections', backends: [b.A, b.B] }];
    await lb.reloadTo(ab);
    log(`part 2: ${tool.name}, 3 s first warm-up, then ${s.rounds} rounds × 2 runs × (${s.warmupS} s warm-up + ${s.durationS} s), -c${s.connections}`);
    await runLoad({ url: lb.url, connections: s.connections, threads: 1, tool, durationS: 3 });
    const none: LoadRun[] = [];
    const reloading: LoadRun[] = [];
    for (let round = 0; round < s.rounds; round++) {
      for (const withReloads of round % 2 === 0 ? [false, true] : [true, false]) {
        if (lb.written !== ab) await lb.reloadTo(ab);
        await sleep(300);
        await runLoad({ url: lb.url, connections: s.connections, threads: 1, tool, durationS: s.warmupS });
        const r = await loadRun(lb, tool, s, withReloads ? cycle : undefined);
        (withReloads ? reloading : none).push(r);
        log(`  round ${round + 1}/${s.rounds} ${withReloads ? 'reload every 1 s' : 'no reloads      '} ${Math.round(r.rps).toString().padStart(7)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms` +
          `  reloads ${r.reloadsLogged}/${r.reloadsSent}  failed ${r.non2xx + r.socketErrors}`);
      }
    }
    const report: Report = {
      samples, none, reloading, problems: lb.problems,
      command: benchCommand('bench:reload', process.argv.slice(2), ['--no-docs', '--skip-build']),
      machine: machineFacts(),
      toolVersion: toolVersion(tool.path, tool.name === 'wrk' ? ['-v'] : ['--version'])?.replace(/^wrk (?:debian\/)?(\S+).*/, '$1') ?? 'unknown',
      settings: { reloads: s.reloads, durationS: s.durationS, warmupS: s.warmupS, rounds: s.rounds, connections: s.connections, tool: tool.name },
      loadAverage: [loadBefore, os.loadavg()[0]],
      date: new Date().toISOString().slice(0, 10),
    };
    console.log(`\n${terminalReport(report)}`);
    for (const p of lb.problems) log(`lb: ${p}`);
    if (s.docs) log(`wrote ${path.relative(repoRoot, writeDocs(repoRoot, report))} (reload section)`);
  } finally {
    clearTimeout(guard);
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch(async (e: unknown) => {
  console.error(`bench/reload: ${(e as Error).message}`);
  await stopAll();
  process.exitCode = 1;
});
