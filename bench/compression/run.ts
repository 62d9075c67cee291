// Compression: engines (node:zlib brotli, brotli-wasm, node:zlib gzip) at every level on three
// documents, then lb with compression off/on and nginx gzip off/1/6 through wrk, side by side,
// interleaved, medians. `npm run bench:compression -- --help` for flags.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { findLoadTool } from '../lib/load.js';
import { canMeasureCpu, processTreeCpuMs } from '../lib/proc-cpu.js';
import { stopAll, stopChildrenOnExit } from '../lib/process.js';
import { machineFacts, toolVersion } from '../lib/tools.js';
import { compressionSchema } from '../../plugins/compression/schema.js';
import { benchDocuments, type BenchDocument } from './documents.js';
import { ENGINE_LABELS, measureEngines, measureStreaming, type EngineId } from './engines.js';
import { probe, repoRoot, runWrk, startProxies, type ContenderId } from './proxies.js';
import { verdicts, writeDocs, type MemoryFigure, type ProxyResult, type Report } from './report.js';

const HELP = `Usage: npm run bench:compression -- [flags]
  --duration S      seconds per wrk measurement (default 4)
  --warmup S        seconds of wrk warm-up before each measurement (default 1)
  --rounds N        interleaved rounds; medians over them (default 5)
  --connections N   wrk connections (default 32)
  --engine-ms MS    wall time per engine cell per round (default 150)
  --skip-engines    skip the per-level engine tables (the proxy part still runs)
  --documents LIST  proxy runs only for these documents (json-1k, html-100k, json-1m); implies --no-docs
  --contenders LIST proxy runs only for these contenders (lb-off, lb-stage, lb-br, lb-gzip, lb-br-malloc,
                    nginx-off, nginx-gzip1, nginx-gzip6); implies --no-docs
  --no-docs         print only; do not rewrite docs/benchmarks.md and docs/charts/compression-*.svg
  --from FILE       measure nothing: re-render the docs from a saved bench/results/compression.raw.json

Every run saves its figures to bench/results/compression.raw.json.`;

const log = (line: string) => console.error(line);

function readSettings() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' }, warmup: { type: 'string' }, rounds: { type: 'string' }, connections: { type: 'string' },
      'engine-ms': { type: 'string' }, 'skip-engines': { type: 'boolean' }, 'no-docs': { type: 'boolean' }, from: { type: 'string' },
      documents: { type: 'string' }, contenders: { type: 'string' }, help: { type: 'boolean' },
    },
  });
  const int = (name: string, text: string | undefined, fallback: number, max = 3600) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name} must be an integer from 1 to ${max}; found "${text}"`);
    return n;
  };
  return {
    help: values.help ?? false,
    durationS: int('duration', values.duration, 4),
    warmupS: int('warmup', values.warmup, 1),
    rounds: int('rounds', values.rounds, 5),
    connections: int('connections', values.connections, 32, 1024),
    engineMs: int('engine-ms', values['engine-ms'], 150, 10_000),
    engines: !values['skip-engines'],
    // A partial run must not overwrite the full tables in the docs.
    docs: !values['no-docs'] && !values.documents && !values.contenders,
    from: values.from,
    documents: values.documents?.split(','),
    contenders: values.contenders?.split(','),
  };
}

/** Per-stream memory of each engine, each in a fresh process. */
function measureMemory(quality: number, gzipLevel: number): MemoryFigure[] {
  const out: MemoryFigure[] = [];
  for (const [engine, level] of [['zlib-br', quality], ['wasm-br', quality], ['zlib-gzip', gzipLevel]] as Array<[EngineId, number]>) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', path.join(repoRoot, 'bench/compression/memory-child.ts'), engine, String(level), '32'], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) {
      log(`memory (${engine}) failed: ${r.stderr}`);
      continue;
    }
    const parsed = JSON.parse(r.stdout.trim().split('\n').pop()!) as { perStreamMiB: number };
    out.push({ engine, level, perStreamMiB: parsed.perStreamMiB });
    log(`memory: ${ENGINE_LABELS[engine]} level ${level}: ${parsed.perStreamMiB.toFixed(2)} MiB per open stream`);
  }
  return out;
}

const RAW = path.join(repoRoot, 'bench', 'results', 'compression.raw.json');

/** Prints the verdicts and, unless --no-docs, rewrites the docs section and charts. */
function publish(report: Report, docs: boolean): void {
  const v = verdicts(report);
  console.log('\nTargets:');
  for (const b of v.bytes) console.log(`  bytes      ${b.text}: ${b.ok}`);
  for (const t of v.throughput) console.log(`  throughput ${t.text}: ${t.ok}`);
  console.log(`  rps on/off 1.3 KB: ${v.rps.text}: ${v.rps.ok}`);
  if (docs) {
    const written = writeDocs(repoRoot, report);
    log(`wrote ${path.relative(repoRoot, written.docs)} (compression section) and ${written.charts.map((c) => path.relative(repoRoot, c)).join(', ')}`);
  }
}

async function main(): Promise<void> {
  const s = readSettings();
  if (s.help) return void console.log(HELP);
  if (s.from) {
    // Bodies are not saved: they are regenerated, deterministically.
    const saved = JSON.parse(readFileSync(s.from, 'utf8')) as Omit<Report, 'docs'> & { docs: Array<{ id: BenchDocument['id'] }> };
    const bodies = new Map(benchDocuments().map((d) => [d.id, d]));
    return void publish({ ...saved, docs: saved.docs.map((d) => bodies.get(d.id)!) }, s.docs);
  }
  stopChildrenOnExit();
  const docs = benchDocuments();
  const brotli = compressionSchema.properties.brotli.properties;
  const quality = brotli.quality.default;
  const largeQuality = brotli.largeQuality.default;
  const largeFrom = brotli.largeFrom.default;
  const gzipLevel = compressionSchema.properties.gzip.properties.level.default;
  const loadBefore = os.loadavg()[0];

  const engines = s.engines ? measureEngines(docs, s.rounds, s.engineMs, log) : [];
  // Streams and large bodies use largeQuality: measure what they get.
  const streaming = await measureStreaming(docs[2], largeQuality, s.rounds);
  for (const f of streaming) log(`streaming ${ENGINE_LABELS[f.engine]} q${largeQuality}: ${f.mbPerS.toFixed(1)} MB/s, longest event-loop stall ${f.maxLoopDelayMs.toFixed(1)} ms`);
  const memory = measureMemory(largeQuality, gzipLevel);

  const tool = findLoadTool(log);
  if (tool.name !== 'wrk') throw new Error('this bench needs wrk (it sends an Accept-Encoding header): apt-get install wrk');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lb-bench-compression-'));
  const guard = setTimeout(() => {
    log('bench exceeded its time budget; stopping.');
    void stopAll().finally(() => process.exit(1));
  }, (docs.length * 8 * s.rounds * (s.durationS + s.warmupS + 10) + 300) * 1000);
  guard.unref();
  try {
    const setup = await startProxies(dir, log);
    if (s.contenders) setup.contenders = setup.contenders.filter((c) => s.contenders!.includes(c.id));
    const measured = s.documents ? docs.filter((d) => s.documents!.includes(d.id)) : docs;
    for (const k of setup.skipped) log(`skipping: ${k}`);
    const results: ProxyResult[] = [];
    for (const doc of measured) {
      for (const c of setup.contenders) {
        const p = await probe(c, doc);
        if (p.status !== 200) throw new Error(`${c.label} answered ${p.status} for /${doc.id}`);
        results.push({ id: c.id, label: c.label, doc: doc.id, wireBytes: p.wireBytes, coding: p.coding, rps: [], cpuUs: [], errors: 0 });
      }
    }
    const pidOf = (id: ContenderId) => {
      const name = id.startsWith('nginx') ? 'nginx' : id === 'lb-off' || id === 'lb-stage' ? id : id === 'lb-br-malloc' ? 'lb-malloc' : 'lb-on';
      return setup.children.find((c) => c.name === name)?.process.pid;
    };
    const cpu = canMeasureCpu();
    log(`wrk: ${s.rounds} rounds × ${docs.length} documents × ${setup.contenders.length} contenders × (${s.warmupS} s + ${s.durationS} s), -c${s.connections}`);
    for (let round = 0; round < s.rounds; round++) {
      for (const doc of measured) {
        const n = setup.contenders.length;
        for (let k = 0; k < n; k++) {
          const c = setup.contenders[(round + k) % n];
          await runWrk(tool.path, c, doc, s.warmupS, s.connections);
          const pid = pidOf(c.id);
          const before = cpu && pid ? processTreeCpuMs(pid) : undefined;
          const r = await runWrk(tool.path, c, doc, s.durationS, s.connections);
          const cpuUs = before !== undefined && r.requests > 0 ? ((processTreeCpuMs(pid!) - before) * 1000) / r.requests : undefined;
          const entry = results.find((e) => e.id === c.id && e.doc === doc.id)!;
          entry.rps.push(r.rps);
          entry.cpuUs.push(cpuUs);
          entry.errors += r.non2xx + r.socketErrors;
          log(`round ${round + 1}/${s.rounds} ${doc.id.padEnd(9)} ${c.label.padEnd(40)} ${Math.round(r.rps).toString().padStart(7)} req/s${cpuUs !== undefined ? `  ${cpuUs.toFixed(0)} µs CPU/req` : ''}`);
        }
      }
    }
    const loadAfter = os.loadavg()[0];
    const report: Report = {
      docs, engines, streaming, memory, proxies: results, skipped: setup.skipped,
      defaults: { quality, largeQuality, largeFrom, gzipLevel },
      command: 'npm run bench:compression' + (process.argv.slice(2).filter((a) => a !== '--no-docs').length ? ` -- ${process.argv.slice(2).filter((a) => a !== '--no-docs').join(' ')}` : ''),
      machine: machineFacts(),
      versions: { nginx: setup.nginxVersion?.replace(/^nginx\//, ''), wrk: toolVersion(tool.path, ['-v'])?.replace(/^wrk (\S+).*/, '$1') },
      loadAverage: [loadBefore, loadAfter] as [number, number],
      settings: `wrk -t1 -c${s.connections}, ${s.rounds} interleaved rounds of ${s.warmupS} s warm-up + ${s.durationS} s; engine cells ${s.engineMs} ms × ${s.rounds} rounds; nginx 1 worker; lb 1 process.`,
      date: new Date().toISOString().slice(0, 10),
    };
    // A partial run (--documents, --contenders) is saved beside the full one, never over it.
    const raw = s.documents || s.contenders ? RAW.replace('.raw.json', '-partial.raw.json') : RAW;
    mkdirSync(path.dirname(raw), { recursive: true });
    writeFileSync(raw, JSON.stringify({ ...report, docs: docs.map(({ body, ...d }) => ({ ...d, bytes: body.length })) }, null, 1));
    log(`saved ${path.relative(repoRoot, raw)}`);
    publish(report, s.docs);
  } finally {
    clearTimeout(guard);
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch(async (e: unknown) => {
  console.error(`bench/compression: ${(e as Error).message}`);
  await stopAll();
  process.exitCode = 1;
});
