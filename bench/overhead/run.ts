// Proxy overhead: direct, bare http-proxy-3, bare node:http, lb (basic), nginx, HAProxy,
// measured side by side, interleaved, medians. `npm run bench:overhead -- --help` for flags.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { findLoadTool, runLoad, type LoadResult } from '../lib/load.js';
import { canMeasureCpu, processTreeCpuMs } from '../lib/proc-cpu.js';
import { buildLb, stopAll, stopChildrenOnExit, benchCommand } from '../lib/process.js';
import { machineFacts, toolVersion, which } from '../lib/tools.js';
import { CONTENDER_IDS, checkContender, repoRoot, startContenders, type ContenderId } from './contenders.js';
import { summarise, targetVerdict, terminalTable, writeDocs, type Measurement, type Summary } from './report.js';

const HELP = `Usage: npm run bench:overhead -- [flags]   (env: BENCH_DURATION, BENCH_ROUNDS, BENCH_WARMUP, BENCH_FIRST_WARMUP, BENCH_CONNECTIONS)
  --duration S      seconds per measurement (default 5)
  --warmup S        seconds of warm-up before each measurement (default 1)
  --first-warmup S  seconds of warm-up per contender before the first round, for the JIT (default 3)
  --rounds N        interleaved rounds; medians are taken over them (default 3)
  --connections N   concurrent connections (default 64)
  --threads N       wrk threads (default 1)
  --only LIST       comma-separated subset of: ${CONTENDER_IDS.join(', ')}
  --lb-alt FILE     also measure another build of lb (its compiled cli/lb.js) as "lb-alt", to compare changes in one run
  --skip-build      use the existing dist/ instead of running npm run build
  --no-docs         print only; do not rewrite docs/benchmarks.md and docs/charts/overhead-rps.svg`;

function positiveInt(name: string, flag: string | undefined, env: string | undefined, fallback: number): number {
  const text = flag ?? env;
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 3600) throw new Error(`--${name} must be an integer from 1 to 3600; found "${text}"`);
  return value;
}

function readSettings() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' }, warmup: { type: 'string' }, 'first-warmup': { type: 'string' }, rounds: { type: 'string' }, connections: { type: 'string' },
      threads: { type: 'string' }, only: { type: 'string' }, 'lb-alt': { type: 'string' }, 'skip-build': { type: 'boolean' }, 'no-docs': { type: 'boolean' }, help: { type: 'boolean' },
    },
  });
  const env = process.env;
  const ids: string[] = values.only ? values.only.split(',').map((s) => s.trim()) : [...CONTENDER_IDS];
  const lbAlt = values['lb-alt'] ? path.resolve(values['lb-alt']) : undefined;
  if (lbAlt && !ids.includes('lb-alt')) ids.splice(ids.indexOf('lb') + 1 || ids.length, 0, 'lb-alt');
  const unknown = ids.filter((id) => !(CONTENDER_IDS as readonly string[]).includes(id) && !(id === 'lb-alt' && lbAlt));
  if (unknown.length) throw new Error(`--only: unknown contender ${unknown.join(', ')}; choose from ${CONTENDER_IDS.join(', ')}`);
  return {
    help: values.help ?? false,
    durationS: positiveInt('duration', values.duration, env.BENCH_DURATION, 5),
    warmupS: positiveInt('warmup', values.warmup, env.BENCH_WARMUP, 1),
    firstWarmupS: positiveInt('first-warmup', values['first-warmup'], env.BENCH_FIRST_WARMUP, 3),
    rounds: positiveInt('rounds', values.rounds, env.BENCH_ROUNDS, 3),
    connections: positiveInt('connections', values.connections, env.BENCH_CONNECTIONS, 64),
    threads: positiveInt('threads', values.threads, undefined, 1),
    ids: ids as ContenderId[],
    lbAlt,
    build: !values['skip-build'],
    docs: !values['no-docs'],
  };
}

const log = (line: string) => console.error(line);



async function main(): Promise<void> {
  const s = readSettings();
  if (s.help) {
    console.log(HELP);
    return;
  }
  stopChildrenOnExit();
  const tool = findLoadTool(log);
  if (s.build && s.ids.includes('lb')) buildLb(repoRoot, log);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lb-bench-overhead-'));
  // Every step below is bounded; this only catches a hang in between.
  const budgetMs = ((s.rounds * (s.durationS + s.warmupS) + s.firstWarmupS) * s.ids.length + 20 * (s.rounds + 1) * s.ids.length + 120) * 1000;
  const guard = setTimeout(() => {
    log(`bench exceeded its ${Math.round(budgetMs / 1000)} s budget; stopping.`);
    void stopAll().finally(() => process.exit(1));
  }, budgetMs);
  guard.unref();
  try {
    const setup = await startContenders({ ids: s.ids, dir, log, lbAltScript: s.lbAlt });
    for (const c of setup.contenders) await checkContender(c);
    for (const k of setup.skipped) log(`skipping ${k.id}: ${k.reason}`);
    log(`two backends (one process each): ${setup.backendUrls.join(', ')}; contenders: ${setup.contenders.map((c) => c.id).join(', ')}`);
    const loadBefore = os.loadavg()[0];
    log(`${tool.name}: ${s.firstWarmupS} s first warm-up each, then ${s.rounds} rounds × ${setup.contenders.length} contenders × (${s.warmupS} s warm-up + ${s.durationS} s), -c${s.connections}; load average ${loadBefore.toFixed(2)}`);
    for (const c of setup.contenders) await runLoad({ url: c.url, connections: s.connections, threads: s.threads, tool, durationS: s.firstWarmupS });

    const results = new Map<ContenderId, Measurement[]>(setup.contenders.map((c) => [c.id, []]));
    const cpu = canMeasureCpu();
    const n = setup.contenders.length;
    for (let round = 0; round < s.rounds; round++) {
      for (let k = 0; k < n; k++) {
        const c = setup.contenders[(round + k) % n];
        const load = { url: c.url, connections: s.connections, threads: s.threads, tool };
        await runLoad({ ...load, durationS: s.warmupS });
        const cpuBefore = cpu && c.cpuPid ? processTreeCpuMs(c.cpuPid) : undefined;
        const r: LoadResult = await runLoad({ ...load, durationS: s.durationS });
        const cpuUsPerRequest = cpuBefore !== undefined && r.requests > 0 ? ((processTreeCpuMs(c.cpuPid!) - cpuBefore) * 1000) / r.requests : undefined;
        results.get(c.id)!.push({ ...r, cpuUsPerRequest });
        const errors = r.non2xx + r.socketErrors;
        log(`round ${round + 1}/${s.rounds}  ${c.label.padEnd(22)} ${Math.round(r.rps).toString().padStart(7)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms` +
          `${cpuUsPerRequest !== undefined ? `  ${cpuUsPerRequest.toFixed(1)} µs CPU/req` : ''}${errors ? `  errors ${errors}` : ''}`);
      }
    }
    const loadAfter = os.loadavg()[0];
    const notes = setup.contenders.filter((c) => c.id === 'lb' || c.id === 'lb-alt').map((c) => {
      const out = c.child?.output() ?? '';
      const field = (name: string) => new RegExp(`^\\s*${name}:\\s+(.+)$`, 'm').exec(out)?.[1].trim() ?? 'unknown';
      return `${c.label}: strategy ${field('strategy')}, plugins ${field('plugins')} (from its start-up output)`;
    });
    const summaries: Summary[] = setup.contenders.map((c) => summarise(c.id, c.label, results.get(c.id)!));
    console.log(`\n${terminalTable(summaries)}`);
    const verdict = targetVerdict(summaries);
    if (verdict) console.log(`\nTarget lb basic >= 0.95 × bare http-proxy-3: ${verdict}`);

    if (s.docs) {
      const versions = {
        nginx: which('nginx') ? toolVersion('nginx', ['-v'])?.replace(/^nginx version: nginx\//, '') : undefined,
        HAProxy: which('haproxy') ? toolVersion('haproxy', ['-v'])?.replace(/^HAProxy version (\S+).*/, '$1') : undefined,
        [tool.name]: toolVersion(tool.path, tool.name === 'wrk' ? ['-v'] : ['--version'])?.replace(/^wrk (?:debian\/)?(\S+).*/, '$1'),
      };
      const written = writeDocs(repoRoot, {
        summaries, skipped: setup.skipped, command: benchCommand('bench:overhead', process.argv.slice(2), ['--no-docs']), machine: machineFacts(), versions,
        loadAverage: [loadBefore, loadAfter],
        notes,
        settings: { durationS: s.durationS, warmupS: s.warmupS, firstWarmupS: s.firstWarmupS, rounds: s.rounds, connections: s.connections, threads: s.threads, tool: tool.name },
        date: new Date().toISOString().slice(0, 10),
      });
      log(`wrote ${path.relative(repoRoot, written.docs)} (overhead section) and ${path.relative(repoRoot, written.chart)}`);
    }
  } finally {
    clearTimeout(guard);
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch(async (e: unknown) => {
  console.error(`bench/overhead: ${(e as Error).message}`);
  await stopAll();
  process.exitCode = 1;
});
