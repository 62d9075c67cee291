// In-process engine measurements: compressed bytes and throughput of node:zlib brotli, brotli-wasm
// and node:zlib gzip at every level, plus streaming behaviour (event-loop blocking) of the two brotli engines.
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressOnce, createCompressor, type EngineSettings } from '../../plugins/compression/engines.js';
import { median } from '../lib/stats.js';
import type { BenchDocument } from './documents.js';

export type EngineId = 'zlib-br' | 'wasm-br' | 'zlib-gzip';
export const ENGINE_LABELS: Record<EngineId, string> = { 'zlib-br': 'node:zlib brotli', 'wasm-br': 'brotli-wasm', 'zlib-gzip': 'node:zlib gzip' };
export const LEVELS: Record<EngineId, number[]> = {
  'zlib-br': [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  'wasm-br': [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  'zlib-gzip': [1, 2, 3, 4, 5, 6, 7, 8, 9],
};

/** One-shot compression exactly as lb does it for a body of known length (the plugin's own function). */
export function compressWith(engine: EngineId, level: number, body: Buffer): Buffer {
  const settings: EngineSettings = {
    brotliEngine: engine === 'wasm-br' ? 'wasm' : 'zlib', brotliQuality: level, brotliLargeQuality: level, brotliLargeFrom: 0,
    brotliWindowBits: 19, gzipLevel: engine === 'zlib-gzip' ? level : 6,
  };
  return compressOnce(engine === 'zlib-gzip' ? 'gzip' : 'br', settings, body);
}

export interface EngineCell {
  doc: BenchDocument['id'];
  engine: EngineId;
  level: number;
  bytes: number;
  /** Input MB per CPU second (median of rounds); CPU time, so other processes on the machine matter less. */
  mbPerS: number;
}

/** CPU seconds used by this process (user + system) while `work` runs, repeated until `budgetMs` of wall time. */
function throughput(work: () => void, inputBytes: number, budgetMs: number): number {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let runs = 0;
  do {
    work();
    runs++;
  } while (performance.now() - t0 < budgetMs);
  const cpu = process.cpuUsage(cpu0);
  return (runs * inputBytes) / 1e6 / ((cpu.user + cpu.system) / 1e6);
}

/**
 * Every engine × level × document, `rounds` times interleaved (round r measures every cell
 * once before round r+1 starts), median MB/s per cell.
 */
export function measureEngines(docs: BenchDocument[], rounds: number, budgetMs: number, log: (line: string) => void): EngineCell[] {
  const cells: Array<EngineCell & { samples: number[] }> = [];
  for (const doc of docs) {
    for (const engine of Object.keys(LEVELS) as EngineId[]) {
      for (const level of LEVELS[engine]) {
        const out = compressWith(engine, level, doc.body);
        cells.push({ doc: doc.id, engine, level, bytes: out.length, mbPerS: NaN, samples: [] });
      }
    }
  }
  for (let round = 0; round < rounds; round++) {
    log(`engines: round ${round + 1}/${rounds} (${cells.length} cells)`);
    for (const cell of cells) {
      const body = docs.find((d) => d.id === cell.doc)!.body;
      cell.samples.push(throughput(() => compressWith(cell.engine, cell.level, body), body.length, budgetMs));
    }
  }
  return cells.map(({ samples, ...cell }) => ({ ...cell, mbPerS: median(samples) }));
}

export interface StreamingFigure {
  engine: 'zlib-br' | 'wasm-br';
  /** Wall-clock MB/s streaming the document in 64 KiB chunks. */
  mbPerS: number;
  /** Longest event-loop stall seen while streaming, ms. */
  maxLoopDelayMs: number;
}

/** Streams `doc` through each brotli engine at `quality`, measuring wall MB/s and the event loop's worst stall. */
export async function measureStreaming(doc: BenchDocument, quality: number, rounds: number): Promise<StreamingFigure[]> {
  const out: StreamingFigure[] = [];
  for (const engine of ['zlib-br', 'wasm-br'] as const) {
    const speeds: number[] = [];
    const delays: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < doc.body.length; i += 65536) chunks.push(doc.body.subarray(i, i + 65536));
      // The plugin's own stage for a body of this known length (larger than its one-shot limit).
      const settings = { brotliEngine: engine === 'zlib-br' ? 'zlib' : 'wasm', brotliQuality: quality, brotliLargeQuality: quality, brotliLargeFrom: 0, brotliWindowBits: 19, gzipLevel: 6 } as const;
      const [compressor] = createCompressor('br', settings, doc.body.length, false, false).stages;
      // A 1 ms ticker: the longest gap between its ticks is the longest time the event loop was blocked.
      let last = performance.now();
      let longest = 0;
      const ticker = setInterval(() => {
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
      }, 1);
      const t0 = performance.now();
      await pipeline(Readable.from(chunks), compressor, new Writable({ write(_c, _e, cb) { cb(); } }));
      const seconds = (performance.now() - t0) / 1000;
      await new Promise((r) => setTimeout(r, 5));
      clearInterval(ticker);
      speeds.push(doc.body.length / 1e6 / seconds);
      delays.push(longest);
    }
    out.push({ engine, mbPerS: median(speeds), maxLoopDelayMs: median(delays) });
  }
  return out;
}
