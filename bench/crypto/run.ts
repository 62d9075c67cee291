// Encryption: the record layer (node:crypto, native WebCrypto, @peculiar/webcrypto), handshakes
// (lb's pool, rotating and x25519 against the original way and TLS 1.3), and requests/s through lb
// with encryption on and off, interleaved rounds, medians. `npm run bench:crypto -- --help`.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatProfileSummary, summariseCpuProfile } from '../lib/cpuprofile.js';
import { canMeasureCpu } from '../lib/proc-cpu.js';
import { buildLb, stopAll, stopChildrenOnExit, benchCommand } from '../lib/process.js';
import { median } from '../lib/stats.js';
import { machineFacts } from '../lib/tools.js';
import { closedLoop, originalHandshake, preparedKeys, protocolHandshake, sdkHandshake, sequential, tlsHandshake, type Handshake } from './handshakes.js';
import { measureRecords } from './records.js';
import { markdownReport, percentile, type EchoRun, type HandshakeFigures, type Report, type ThroughputCell } from './report.js';
import { HANDSHAKE_LABELS, cpuMs, mainThreadCpuMs, repoRoot, resumeAll, runOnly, settle, startBackend, startLb, startOriginal, startTls, type Server } from './servers.js';
import { bodyOf, echoLoad, type LoadKind } from './throughput.js';

const HELP = `Usage: npm run bench:crypto -- [flags]
  --quick             fewer and shorter rounds (about half the time)
  --parts LIST        any of records,handshakes,throughput (default all)
  --rounds N          handshake latency rounds (default 8; quick 4)
  --sustain S         seconds per sustained handshake run (default 3; quick 2)
  --sustain-rounds N  sustained handshake rounds (default 2; quick 1)
  --concurrency N     clients of the sustained handshake runs (default 4)
  --duration S        seconds per throughput run (default 4; quick 2)
  --tp-rounds N       throughput rounds (default 3; quick 2)
  --connections N     concurrent requests for 1 KB bodies (default 16; 1 MB bodies use a quarter)
  --sizes LIST        throughput body sizes: 1k,1m (default both)
  --kinds LIST        throughput requests: echo (POST, body echoed), get (GET, response of that size) (default both)
  --cpu-prof DIR      run the lb processes under node --cpu-prof, keep the profiles in DIR and print a summary
  --out FILE          also write the raw figures as JSON
  --skip-build        use the existing dist/ instead of running npm run build`;

const log = (line: string) => console.error(line);

function readSettings() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' }, parts: { type: 'string' }, rounds: { type: 'string' }, sustain: { type: 'string' }, 'sustain-rounds': { type: 'string' },
      concurrency: { type: 'string' }, duration: { type: 'string' }, 'tp-rounds': { type: 'string' }, connections: { type: 'string' }, sizes: { type: 'string' }, kinds: { type: 'string' },
      'cpu-prof': { type: 'string' }, out: { type: 'string' }, 'skip-build': { type: 'boolean' }, help: { type: 'boolean' },
    },
  });
  const quick = values.quick ?? false;
  const int = (name: string, text: string | undefined, fallback: number, lo: number, hi: number) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new Error(`--${name} must be an integer from ${lo} to ${hi}; found "${text}"`);
    return n;
  };
  const list = (name: string, text: string | undefined, allowed: string[]) => {
    const items = text ? text.split(',').map((s) => s.trim()) : allowed;
    const unknown = items.filter((i) => !allowed.includes(i));
    if (unknown.length) throw new Error(`--${name}: unknown ${unknown.join(', ')}; choose from ${allowed.join(', ')}`);
    return items;
  };
  const sizes = list('sizes', values.sizes, ['1k', '1m']).map((s) => (s === '1k' ? 1024 : 1 << 20));
  return {
    help: values.help ?? false,
    quick,
    parts: list('parts', values.parts, ['records', 'handshakes', 'throughput']),
    rounds: int('rounds', values.rounds, quick ? 4 : 8, 1, 100),
    sustainS: int('sustain', values.sustain, quick ? 2 : 3, 1, 60),
    sustainRounds: int('sustain-rounds', values['sustain-rounds'], quick ? 1 : 2, 1, 20),
    concurrency: int('concurrency', values.concurrency, 4, 1, 64),
    durationS: int('duration', values.duration, quick ? 2 : 4, 1, 60),
    tpRounds: int('tp-rounds', values['tp-rounds'], quick ? 2 : 3, 1, 20),
    connections: int('connections', values.connections, 16, 1, 256),
    sizes,
    kinds: list('kinds', values.kinds, ['echo', 'get']) as LoadKind[],
    cpuProf: values['cpu-prof'] ? path.resolve(values['cpu-prof']) : undefined,
    out: values.out,
    build: !values['skip-build'],
  };
}
type Settings = ReturnType<typeof readSettings>;

/** Handshakes per round, one at a time: the pool lb refills between rounds, the original way is slow. */
function perRound(id: string): number {
  return id === 'original' ? 3 : id === 'pool' ? 10 : 20;
}

/** Part 1. Every server it starts goes into `started` at once, so that a failure still resumes and stops it. */
async function handshakePart(s: Settings, dir: string, backend: string, report: Report, started: Server[]): Promise<Server[]> {
  const prof = (id: string) => (s.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', path.join(s.cpuProf, id)] : []);
  const lbs = await Promise.all([
    startLb({ id: 'pool', label: HANDSHAKE_LABELS.pool, handshake: { suite: 'rsa-oaep-2048', mode: 'pool' } }, dir, backend, prof('pool')),
    startLb({ id: 'rotating', label: HANDSHAKE_LABELS.rotating, handshake: { suite: 'rsa-oaep-2048', mode: 'rotating' } }, dir, backend, prof('rotating')),
    startLb({ id: 'x25519', label: HANDSHAKE_LABELS.x25519, handshake: { suite: 'x25519', mode: 'pool' } }, dir, backend, prof('x25519')),
  ]);
  const servers: Server[] = [...lbs];
  started.push(...lbs);
  servers.push(await startOriginal(dir));
  started.push(servers.at(-1)!);
  for (const kind of ['rsa', 'ecdsa'] as const) {
    const tls = await startTls(dir, kind, (f) => readFileSync(f, 'utf8'));
    if (tls) {
      servers.push(tls);
      started.push(tls);
    } else report.skipped.push(`TLS 1.3 (${kind}): the openssl CLI is missing, so no certificate could be made`);
  }
  const [rsaKeys, x25519Keys] = await Promise.all([preparedKeys('rsa-oaep-2048', 8), preparedKeys('x25519', 8)]);
  const fns = new Map<Server, Handshake>(servers.map((v) => [v, v.id === 'original' ? originalHandshake(v) : v.id.startsWith('tls') ? tlsHandshake(v) : sdkHandshake(v, v.id === 'x25519' ? x25519Keys : rsaKeys)]));
  for (const v of servers) if (v.refills) log(`  ${v.id}: PU1 pool filled in ${(await settle(v, 30_000, 300) / 1000).toFixed(1)} s`);
  // Warm-up: the JIT on both sides, and undici's connections.
  for (const v of servers) {
    runOnly(v, servers);
    await sequential(fns.get(v)!, v.id === 'original' ? 1 : 5);
    if (v.refills) await settle(v, 5000);
  }
  const figures = new Map<Server, HandshakeFigures>(servers.map((v) => [v, { id: v.id, label: v.label, latencies: [], sustained: [] }]));
  log(`part 1a: handshake latency, one at a time, ${s.rounds} rounds; only the contender measured runs (the others SIGSTOPped)`);
  for (let round = 0; round < s.rounds; round++) {
    for (let i = 0; i < servers.length; i++) {
      const v = servers[(i + round) % servers.length];
      runOnly(v, servers);
      const ms = await sequential(fns.get(v)!, perRound(v.id));
      figures.get(v)!.latencies.push(ms);
      // The pool refills the keys just used before anything else is measured.
      if (v.refills) await settle(v, 8000);
    }
    log(`  round ${round + 1}/${s.rounds}: ${servers.map((v) => `${v.id} ${median(figures.get(v)!.latencies[round]).toFixed(2)} ms`).join(', ')}`);
  }
  const cpu = canMeasureCpu();
  log(`part 1b: sustained handshakes, ${s.concurrency} clients closed loop, ${s.sustainRounds} rounds × (1 s warm-up + ${s.sustainS} s)`);
  for (let round = 0; round < s.sustainRounds; round++) {
    for (let i = 0; i < servers.length; i++) {
      const v = servers[(i + round) % servers.length];
      runOnly(v, servers);
      // For the pool, the warm-up also empties it: the measured run sees the refill rate.
      await closedLoop(fns.get(v)!, s.concurrency, 1000);
      const before = cpu ? cpuMs(v) : undefined;
      const mainBefore = cpu ? mainThreadCpuMs(v) : undefined;
      const r = await closedLoop(fns.get(v)!, s.concurrency, s.sustainS * 1000);
      const used = before === undefined ? undefined : cpuMs(v) - before;
      const mainAfter = mainBefore === undefined ? undefined : mainThreadCpuMs(v);
      const per = (ms: number | undefined) => (ms !== undefined && r.completed ? ms / r.completed : undefined);
      const run = {
        rate: (r.completed * 1000) / r.wallMs, cpuMsPerHandshake: per(used), mainMsPerHandshake: per(mainAfter === undefined ? undefined : mainAfter - mainBefore!),
        completed: r.completed, poolEmpty: r.poolEmpty, errors: r.errors, firstError: r.firstError,
      };
      figures.get(v)!.sustained.push(run);
      log(`  round ${round + 1}/${s.sustainRounds} ${v.id.padEnd(9)} ${run.rate.toFixed(1).padStart(7)} handshakes/s  ${run.cpuMsPerHandshake?.toFixed(2) ?? '?'} ms CPU each (${run.mainMsPerHandshake?.toFixed(2) ?? '?'} on the main thread)  p50 ${percentile(r.latencies, 50).toFixed(2)} ms` +
        `${r.poolEmpty ? `  ${r.poolEmpty} × 503 pool empty` : ''}${r.errors ? `  ${r.errors} errors (${r.firstError})` : ''}`);
    }
  }
  resumeAll(servers);
  report.handshakes = servers.map((v) => figures.get(v)!);
  return servers;
}

async function throughputPart(s: Settings, dir: string, backend: string, report: Report, started: Server[]): Promise<void> {
  const prof = (id: string) => (s.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', path.join(s.cpuProf, id)] : []);
  const off = await startLb({ id: 'plain', label: 'lb basic' }, dir, backend, prof('plain'));
  started.push(off);
  const on = await startLb({ id: 'encrypted', label: 'lb basic + handshake', handshake: { suite: 'rsa-oaep-2048', mode: 'pool' } }, dir, backend, prof('encrypted'));
  started.push(on);
  const [keys] = await preparedKeys('rsa-oaep-2048', 1);
  const session = await protocolHandshake(`${on.base}/.lb/handshake`, on.pin!, keys);
  // Its PU1 pool fills (and refills the pair just used) before anything is measured.
  log(`  encrypted lb: PU1 pool filled in ${(await settle(on, 30_000, 300) / 1000).toFixed(1)} s`);
  const cells: ThroughputCell[] = [];
  for (const kind of s.kinds) {
    for (const bytes of s.sizes) {
      const connections = bytes >= 1 << 20 ? Math.max(1, s.connections >> 2) : s.connections;
      for (const encrypted of [false, true]) cells.push({ kind, bytes, encrypted, connections, runs: [] });
    }
  }
  const bodies = new Map(s.sizes.map((b) => [b, bodyOf(b)]));
  const load = (c: ThroughputCell, durationMs: number, verify: number) =>
    echoLoad({ base: (c.encrypted ? on : off).base, kind: c.kind, body: bodies.get(c.bytes)!, concurrency: c.connections, durationMs, session: c.encrypted ? session : undefined, verify });
  log(`part 2: requests through lb, encryption off and on, ${s.tpRounds} rounds × ${cells.length} runs × (1 s warm-up + ${s.durationS} s)`);
  for (const c of cells) {
    // Long enough for the JIT and the heap to settle on 1 MB bodies.
    const r = await load(c, 2500, 8);
    if (r.errors || r.verified === 0) throw new Error(`${c.kind} ${c.bytes} B ${c.encrypted ? 'encrypted' : 'plaintext'}: ${r.errors} errors in the first warm-up (${r.firstError})`);
  }
  const cpu = canMeasureCpu();
  for (let round = 0; round < s.tpRounds; round++) {
    const order = cells.map((_, i) => cells[(i + round) % cells.length]);
    for (const c of round % 2 ? order.reverse() : order) {
      const lb = c.encrypted ? on : off;
      await load(c, 1000, 0);
      const before = cpu ? cpuMs(lb) : undefined;
      const r = await load(c, s.durationS * 1000, 4);
      const used = before === undefined ? undefined : cpuMs(lb) - before;
      const run: EchoRun = {
        rps: (r.requests * 1000) / r.wallMs, p50Ms: percentile(r.latencies, 50), p99Ms: percentile(r.latencies, 99), requests: r.requests, errors: r.errors, firstError: r.firstError,
        lbCpuUs: used !== undefined && r.requests ? (used * 1000) / r.requests : undefined, lbBusy: used !== undefined ? used / r.wallMs : undefined, clientCpuUs: (r.clientCpuMs * 1000) / Math.max(1, r.requests),
      };
      c.runs.push(run);
      log(`  round ${round + 1}/${s.tpRounds} ${c.kind.padEnd(4)} ${String(c.bytes).padStart(7)} B ${c.encrypted ? 'on ' : 'off'} ${Math.round(run.rps).toString().padStart(6)} req/s  p50 ${run.p50Ms.toFixed(2)} ms  lb ${run.lbCpuUs?.toFixed(0) ?? '?'} µs CPU/req (busy ${Math.round((run.lbBusy ?? 0) * 100)}%)  client ${run.clientCpuUs.toFixed(0)} µs/req` +
        `${r.errors ? `  ${r.errors} errors (${r.firstError})` : ''}`);
    }
  }
  report.throughput = cells;
}

/** Stops servers gracefully (a profiled lb writes its profile on exit; a SIGSTOPped one is resumed first). */
async function stopServers(servers: Server[]): Promise<void> {
  resumeAll(servers);
  for (const v of servers) await v.child.stop('SIGTERM', 20_000);
}

/** Prints a summary of every profile the lb processes wrote. */
function profiles(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const id = entry.name;
    const files = readdirSync(path.join(dir, id)).filter((f) => f.endsWith('.cpuprofile'));
    for (const f of files) log(`\n--- cpu profile of lb "${id}" (${path.join(dir, id, f)}) ---\n${formatProfileSummary(summariseCpuProfile(path.join(dir, id, f)), 20, ['lb plugins', 'lb core'])}`);
  }
}


async function main(): Promise<void> {
  const s = readSettings();
  if (s.help) {
    console.log(HELP);
    return;
  }
  stopChildrenOnExit();
  const t0 = performance.now();
  const lbParts = s.parts.includes('handshakes') || s.parts.includes('throughput');
  if (s.build && lbParts) buildLb(repoRoot, log);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lb-bench-crypto-'));
  if (s.cpuProf) mkdirSync(s.cpuProf, { recursive: true });
  const budgetMs = 15 * 60_000;
  const guard = setTimeout(() => {
    log(`bench exceeded its ${budgetMs / 60_000} min budget; stopping.`);
    void stopAll().finally(() => process.exit(1));
  }, budgetMs);
  guard.unref();
  const report: Report = {
    command: benchCommand('bench:crypto', process.argv.slice(2), ['--skip-build']), date: new Date().toISOString().slice(0, 10), machine: machineFacts(), loadAverage: [os.loadavg()[0], 0],
    settings: {}, skipped: [], notes: [],
  };
  const servers: Server[] = [];
  try {
    if (s.parts.includes('records')) {
      log('records: AES-256-GCM, 1 KB and 64 KB records, node:crypto / native WebCrypto / @peculiar/webcrypto');
      report.records = await measureRecords(s.quick ? 80 : 150, s.quick ? 3 : 5, log);
      log(`records: done at ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    if (lbParts) {
      const backend = await startBackend();
      if (s.parts.includes('handshakes')) {
        const part = await handshakePart(s, dir, backend.base, report, servers);
        // Part 2 measures throughput alone (the pool lb would refill in the background).
        await stopServers(part);
        log(`handshakes: done at ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
      if (s.parts.includes('throughput')) await throughputPart(s, dir, backend.base, report, servers);
    }
    report.loadAverage[1] = os.loadavg()[0];
    report.settings = { 'total time': `${((performance.now() - t0) / 1000).toFixed(0)} s` };
    if (report.records) report.notes.push(
      'Record layer: wall time per record (CPU time of all threads in brackets) and plaintext MB/s, medians over interleaved rounds. node:crypto is called synchronously (the proxy\'s node-records.ts); the WebCrypto ones are awaited one record after another (the SDK\'s primitives.ts, as web-records.ts runs them).',
    );
    if (report.handshakes) {
      Object.assign(report.settings, { 'latency rounds': s.rounds, 'sustained runs': `${s.sustainRounds} × ${s.sustainS} s`, 'sustained clients': s.concurrency });
      report.notes.push(
        'Handshake latency: one handshake at a time from the bench process, every server alone while it is measured (the others SIGSTOPped); lb\'s through the SDK (`connect()` with client keys from `prepare()`, 8 sets used in turn) over undici\'s kept-alive connection; the original way with the same protocol steps, both RSA pairs made during the handshake; TLS on a new TCP connection each time (tls.connect to secureConnect, certificate verified, no session reuse). The PU1 pool refills between rounds, so (a) is measured with keys ready.',
        'Server CPU / handshake: utime + stime from /proc/<pid>/stat of the server process over the sustained runs (closed loop), divided by the handshakes completed. For (a) the warm-up empties the pool, so the figure includes making the replacement PU1 pair, and the rate is the refill rate; for (d) the server\'s PU1 pair (the client\'s PU2 pair is made in the bench process); for TLS the https server\'s process. The handshake plugin\'s per-client token bucket is lifted (every client is 127.0.0.1); all else is its defaults (pool of 32, one pair generated at a time).',
      );
    }
    if (report.throughput) {
      Object.assign(report.settings, { 'throughput runs': `${s.tpRounds} × ${s.durationS} s`, connections: `${s.connections} (1 KB), ${Math.max(1, s.connections >> 2)} (1 MB)` });
      report.notes.push(
        'Throughput: "on" is preset basic + memory-keystore + handshake, "off" preset basic, same backend (one node:http process), round robin, each lb in its own process. POST: the backend reads the whole body and sends it back, so lb decrypts the request and encrypts the response; GET: the backend sends a body of that size, which lb encrypts (the request carries only the sealed empty body in lb-seal). The lean client (bench/crypto/throughput.ts, in the bench process) seals each request with the protocol\'s record layer and checks each response\'s length; the first 4 responses of every run are decrypted and compared.',
        'Client cost: "lb CPU µs/req" is lb\'s own CPU time per request from /proc, so "lb capacity" (requests per lb CPU second, on ÷ off) does not depend on how much of the 2 cores the client or other work took; req/s does. "lb busy" is lb\'s CPU time over wall time: near 100% means lb was the bottleneck, lower means the client, the backend or other processes on the machine held the cores.',
      );
    }
  } finally {
    clearTimeout(guard);
    await stopServers(servers);
    if (s.cpuProf) profiles(s.cpuProf);
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  const md = markdownReport(report);
  console.log(`\n${md}`);
  if (s.out) writeFileSync(s.out, JSON.stringify(report, null, 2));
}

main().catch(async (e: unknown) => {
  console.error(`bench/crypto: ${(e as Error).stack ?? e}`);
  await stopAll();
  process.exitCode = 1;
});
