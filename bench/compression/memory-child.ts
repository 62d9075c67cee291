// Measures the memory one open compression stream holds: opens N streams of the plugin's own
// compressor, feeds each the first MiB of the 1 MB document (so windows and tables fill), keeps
// them open, and prints the RSS growth per stream as JSON. Run once per engine, in a fresh process.
// Usage: memory-child.ts <zlib-br|wasm-br|zlib-gzip> <level> <streams>
import { Writable } from 'node:stream';
import { createCompressor, type EngineSettings } from '../../plugins/compression/engines.js';
import { largeJson } from './documents.js';

const [engine = 'zlib-br', levelText = '5', countText = '32'] = process.argv.slice(2);
const level = Number(levelText);
const count = Number(countText);
const doc = largeJson();
const settings: EngineSettings = {
  brotliEngine: engine === 'wasm-br' ? 'wasm' : 'zlib',
  brotliQuality: level,
  brotliLargeQuality: level,
  brotliLargeFrom: 0,
  brotliWindowBits: 19,
  gzipLevel: engine === 'zlib-gzip' ? level : 6,
};
const coding = engine === 'zlib-gzip' ? 'gzip' : 'br';
const gc = (globalThis as { gc?: () => void }).gc;

async function main(): Promise<void> {
  // Warm up once (module load, first allocation of the wasm heap) before the baseline.
  const warm = createCompressor(coding, settings, doc.length, false, false).stages[0];
  warm.resume();
  await new Promise<void>((resolve) => warm.end(doc, () => resolve()));
  gc?.();
  await new Promise((r) => setTimeout(r, 100));
  const baseline = process.memoryUsage.rss();
  const streams = Array.from({ length: count }, () => createCompressor(coding, settings, doc.length + 1, false, false).stages[0]);
  let out = 0;
  for (const s of streams) s.pipe(new Writable({ write(c: Buffer, _e, cb) { out += c.length; cb(); } }));
  for (const s of streams) {
    await new Promise<void>((resolve) => (s.write(doc) ? resolve() : s.once('drain', () => resolve())));
  }
  // Let node:zlib's thread pool work through what was written.
  await new Promise((r) => setTimeout(r, 500));
  gc?.();
  const open = process.memoryUsage.rss();
  for (const s of streams) s.destroy();
  process.stdout.write(`${JSON.stringify({ engine, level, streams: count, perStreamMiB: (open - baseline) / count / 2 ** 20, out })}\n`);
}

void main();
