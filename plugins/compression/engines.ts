import { createRequire } from 'node:module';
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Coding } from './negotiate.js';

const Z = zlib.constants;

/** The brotli-wasm Node build: `import` would load the browser build, which fails on Node. */
interface BrotliWasm {
  compress(buf: Uint8Array, options?: { quality?: number }): Uint8Array;
  CompressStream: new (quality?: number) => WasmCompressStream;
  BrotliStreamResultCode: { ResultSuccess: number; NeedsMoreInput: number; NeedsMoreOutput: number };
}
interface WasmResult { readonly buf: Uint8Array; readonly code: number; readonly input_offset: number; free(): void }
interface WasmCompressStream { compress(input: Uint8Array | undefined, outputSize: number): WasmResult; free(): void }

let wasmModule: BrotliWasm | undefined;
/** Loads brotli-wasm once, on first use (apply() calls it when the wasm engine is configured). */
export function brotliWasm(): BrotliWasm {
  return (wasmModule ??= createRequire(import.meta.url)('brotli-wasm') as BrotliWasm);
}

/** Settings of the engines, from the plugin's options. */
export interface EngineSettings {
  readonly brotliEngine: 'zlib' | 'wasm';
  readonly brotliQuality: number;
  /** Quality for bodies of `brotliLargeFrom` bytes or more, and for streams of unknown length. */
  readonly brotliLargeQuality: number;
  readonly brotliLargeFrom: number;
  readonly brotliWindowBits: number;
  readonly gzipLevel: number;
}

/**
 * Bodies up to this size with a known length are compressed in one synchronous call
 * when they end: for small bodies a stream's set-up and thread-pool round trips cost
 * more than the compression itself (at quality 5, 16 KiB takes well under a millisecond).
 */
export const ONE_SHOT_MAX = 16 * 1024;

const SIZE_HINT_MAX = (1 << 20) - 1;

function log2Ceil(n: number): number {
  return Math.ceil(Math.log2(Math.max(1, n)));
}

/** The brotli quality for a body of `length` bytes (undefined: a stream of unknown length). */
export function brotliQualityFor(s: EngineSettings, length: number | undefined): number {
  return length === undefined || length >= s.brotliLargeFrom ? s.brotliLargeQuality : s.brotliQuality;
}

/**
 * The smallest window lb picks for a body of known length. At quality 5-9 a window of
 * 64 KiB or less makes brotli switch to its "forgetful chain" hasher, which clears
 * about 256 KiB of tables per response: measured 30-40% slower on 1.3 KB and 100 KB
 * documents than a 128 KiB window, for the same bytes. A larger window costs nothing
 * for a small body (brotli sizes its ring buffer to a short first write).
 */
const MIN_KNOWN_LENGTH_LGWIN = 17;

function brotliParams(s: EngineSettings, length: number | undefined, flushEveryChunk: boolean): zlib.BrotliOptions {
  const lgwin = length === undefined ? s.brotliWindowBits : Math.min(s.brotliWindowBits, Math.max(MIN_KNOWN_LENGTH_LGWIN, log2Ceil(length)));
  const params: Record<number, number> = { [Z.BROTLI_PARAM_QUALITY]: brotliQualityFor(s, length), [Z.BROTLI_PARAM_LGWIN]: lgwin };
  // From a 1 MiB hint up, brotli picks 2-4 MiB hash tables per stream: more memory and page faults
  // per response, and slower under concurrency (measured), for about 3% fewer bytes.
  if (length !== undefined) params[Z.BROTLI_PARAM_SIZE_HINT] = Math.min(length, SIZE_HINT_MAX);
  return flushEveryChunk ? { params, flush: Z.BROTLI_OPERATION_FLUSH } : { params };
}

/** zlib window and memory level shrunk for small known lengths, as nginx does. */
function gzipOptions(s: EngineSettings, length: number | undefined, flushEveryChunk: boolean): zlib.ZlibOptions {
  let windowBits = 15;
  let memLevel = 8;
  if (length !== undefined && length > 0) {
    while (length < 1 << (windowBits - 1) && windowBits > 9) {
      windowBits--;
      memLevel--;
    }
  }
  const options: zlib.ZlibOptions = { level: s.gzipLevel, windowBits, memLevel: Math.max(1, memLevel) };
  if (flushEveryChunk) options.flush = Z.Z_SYNC_FLUSH;
  return options;
}

/** Compresses a whole small body in one call. */
export function compressOnce(coding: Coding, s: EngineSettings, body: Buffer): Buffer {
  if (coding === 'gzip') return zlib.gzipSync(body, gzipOptions(s, body.length, false));
  if (s.brotliEngine === 'wasm') {
    const out = brotliWasm().compress(body, { quality: brotliQualityFor(s, body.length) });
    return Buffer.from(out.buffer, out.byteOffset, out.length);
  }
  return zlib.brotliCompressSync(body, brotliParams(s, body.length, false));
}

const brotliAsync = promisify(zlib.brotliCompress);
const gzipAsync = promisify(zlib.gzip);

/**
 * Compresses a whole body held in memory: up to ONE_SHOT_MAX in one synchronous call,
 * larger ones on libuv's thread pool so that the event loop keeps serving.
 */
export function compressWhole(coding: Coding, s: EngineSettings, body: Buffer): Buffer | Promise<Buffer> {
  if (body.length <= ONE_SHOT_MAX || (coding === 'br' && s.brotliEngine === 'wasm')) return compressOnce(coding, s, body);
  if (coding === 'gzip') return gzipAsync(body, gzipOptions(s, body.length, false));
  return brotliAsync(body, brotliParams(s, body.length, false));
}

/**
 * Collects a body of known small length and compresses it when it ends. Holds at most
 * the declared length (plus one chunk if a backend sends more than it declared).
 */
class OneShotCompressor extends Transform {
  private readonly chunks: Buffer[] = [];
  constructor(private readonly coding: Coding, private readonly settings: EngineSettings) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.chunks.push(chunk);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    try {
      callback(null, compressOnce(this.coding, this.settings, Buffer.concat(this.chunks)));
    } catch (e) {
      callback(e as Error);
    }
  }
}

/**
 * brotli-wasm as a stream. Its CompressStream is synchronous (each chunk blocks the event
 * loop while it compresses) and has no flush; results live in wasm memory and must be freed.
 */
class WasmBrotliCompressor extends Transform {
  private stream: WasmCompressStream | undefined;
  private readonly codes = brotliWasm().BrotliStreamResultCode;

  constructor(quality: number) {
    super();
    this.stream = new (brotliWasm().CompressStream)(quality);
  }

  private run(input: Uint8Array | undefined): void {
    const stream = this.stream;
    if (!stream) throw new Error('brotli-wasm stream already freed');
    let offset = 0;
    for (;;) {
      const rest = input?.subarray(offset);
      // Room for the whole chunk's output in one call: every call copies its input into wasm memory.
      const result = stream.compress(rest, Math.max(65536, (rest?.length ?? 0) + 1024));
      const { buf, code, input_offset: used } = result;
      result.free();
      if (buf.length) this.push(Buffer.from(buf.buffer, buf.byteOffset, buf.length));
      offset += used;
      if (code === this.codes.NeedsMoreOutput) continue;
      const expected = input === undefined ? this.codes.ResultSuccess : this.codes.NeedsMoreInput;
      if (code !== expected) throw new Error(`brotli-wasm returned code ${code}`);
      return;
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.run(chunk);
      callback();
    } catch (e) {
      callback(e as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.run(undefined);
      this.release();
      callback();
    } catch (e) {
      callback(e as Error);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.release();
    callback(error);
  }

  private release(): void {
    this.stream?.free();
    this.stream = undefined;
  }
}

/** A compressor that can be told to flush what it holds (node:zlib streams). */
export type FlushableCompressor = zlib.BrotliCompress | zlib.Gzip;

export interface CompressorPlan {
  /** The stages to add, in order. */
  stages: Transform[];
  /** Set when the compressor supports flushing and the caller asked for idle flushes. */
  flushable: FlushableCompressor | undefined;
}

/**
 * Builds the compression stage for one response. `length` is the body's length when
 * known; `stream` marks a body of unknown length that must be flushed as it goes
 * (`flushEveryChunk` when the idle delay is 0).
 */
export function createCompressor(coding: Coding, s: EngineSettings, length: number | undefined, stream: boolean, flushEveryChunk: boolean): CompressorPlan {
  if (length !== undefined && length <= ONE_SHOT_MAX) return { stages: [new OneShotCompressor(coding, s)], flushable: undefined };
  if (coding === 'gzip') {
    const z = zlib.createGzip(gzipOptions(s, length, stream && flushEveryChunk));
    return { stages: [z], flushable: stream ? z : undefined };
  }
  // brotli-wasm cannot flush: a stream that must flush (SSE) uses node:zlib instead.
  if (s.brotliEngine === 'wasm' && !stream) return { stages: [new WasmBrotliCompressor(brotliQualityFor(s, length))], flushable: undefined };
  const z = zlib.createBrotliCompress(brotliParams(s, length, stream && flushEveryChunk));
  return { stages: [z], flushable: stream ? z : undefined };
}

/**
 * Passes chunks through and flushes `target` once no chunk has arrived for `idleMs`,
 * so that a stream's events reach the client instead of waiting in the compressor.
 */
export class IdleFlush extends Transform {
  private dirty = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly target: FlushableCompressor, idleMs: number) {
    super();
    this.timer = setTimeout(() => this.flushTarget(), idleMs);
    this.timer.unref();
  }

  private flushTarget(): void {
    if (!this.dirty || this.target.destroyed || this.target.writableEnded) return;
    this.dirty = false;
    if (this.target instanceof zlib.Gzip) this.target.flush(Z.Z_SYNC_FLUSH);
    else this.target.flush(Z.BROTLI_OPERATION_FLUSH);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.dirty = true;
    this.timer.refresh();
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    clearTimeout(this.timer);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    callback(error);
  }
}

/** Decoders for request bodies and the check of backend bodies. */
export type DecodableCoding = 'br' | 'gzip' | 'deflate';

/** Maps a Content-Encoding token to a coding lb can decode, or undefined. */
export function decodableCoding(token: string): DecodableCoding | undefined {
  const t = token.trim().toLowerCase();
  if (t === 'gzip' || t === 'x-gzip') return 'gzip';
  if (t === 'br') return 'br';
  if (t === 'deflate') return 'deflate';
  return undefined;
}

/**
 * "deflate" in HTTP means the zlib format (RFC 9110 §8.4.1.2), but some clients send raw
 * deflate: a valid zlib header (CM 8, window ≤ 32K, check bits) tells them apart.
 */
export function looksLikeZlib(first: Buffer): boolean {
  if (first.length < 2) return true;
  const cmf = first[0];
  return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && ((cmf << 8) | first[1]) % 31 === 0;
}

/** A streaming decoder; for deflate, `first` (the body's first bytes) picks zlib or raw. */
export function createDecoder(coding: DecodableCoding, first: Buffer): zlib.Gunzip | zlib.Inflate | zlib.InflateRaw | zlib.BrotliDecompress {
  if (coding === 'gzip') return zlib.createGunzip();
  if (coding === 'br') return zlib.createBrotliDecompress();
  return looksLikeZlib(first) ? zlib.createInflate() : zlib.createInflateRaw();
}

/**
 * Decodes the start of a body that claims `coding`, without waiting for the rest:
 * returns undefined when the bytes are a valid beginning, else the decoder's complaint.
 * Output is capped, so a backend's bomb costs at most 64 KiB here.
 */
export function checkEncodedPrefix(coding: DecodableCoding, prefix: Buffer): string | undefined {
  const sample = prefix.subarray(0, 4096);
  const options = { finishFlush: coding === 'br' ? Z.BROTLI_OPERATION_FLUSH : Z.Z_SYNC_FLUSH, maxOutputLength: 65536 };
  try {
    if (coding === 'gzip') zlib.gunzipSync(sample, options);
    else if (coding === 'br') zlib.brotliDecompressSync(sample, options);
    else if (looksLikeZlib(sample)) zlib.inflateSync(sample, options);
    else zlib.inflateRawSync(sample, options);
    return undefined;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // More output than the cap means the bytes decoded fine.
    if (err.code === 'ERR_BUFFER_TOO_LARGE') return undefined;
    return err.message;
  }
}
