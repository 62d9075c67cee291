import type { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import type zlib from 'node:zlib';
import type { LbError, Logger, RequestContext, Target } from '../../core/index.js';
import { createCompressor, createDecoder, decodableCoding, type DecodableCoding, type EngineSettings } from './engines.js';
import { mediaTypeOf, parseAcceptEncoding, type Coding } from './negotiate.js';
import type { Policies } from './policy.js';
import { compressionErrors } from './errors.js';

/** Limits on one decompressed request body. */
export interface DecodeLimits {
  readonly maxSize: number;
  readonly maxRatio: number;
  readonly ratioAfter: number;
}

type Decoder = zlib.Gunzip | zlib.Inflate | zlib.InflateRaw | zlib.BrotliDecompress;

/** Codings lb decodes, for the Accept-Encoding of a 415 (RFC 7694 §3). */
const DECODABLE = 'br, gzip, deflate';

/** Codings stacked deeper than this are refused: each layer multiplies the work a small body can cause. */
const MAX_LAYERS = 2;

/**
 * Decodes a request body through one or more zlib decoders while counting bytes in and
 * out. Past a limit, or on a decoder error, it never calls back again: the client's
 * upload stalls (so lb stops reading it) while `refuse` answers 413 or 400.
 */
export class BoundedDecoder extends Duplex {
  private decoders: Decoder[] = [];
  private outBytes = 0;
  private failed = false;
  private pendingWrite: (() => void) | undefined;
  private pendingFinal: (() => void) | undefined;

  constructor(
    private readonly codings: readonly DecodableCoding[],
    private readonly limits: DecodeLimits,
    private readonly refuse: (error: LbError) => void,
  ) {
    super();
  }

  private build(first: Buffer): void {
    this.decoders = this.codings.map((c, i) => createDecoder(c, i === 0 ? first : Buffer.alloc(0)));
    for (const d of this.decoders) d.on('error', (e: NodeJS.ErrnoException) => this.fail(corrupt(this.codings, e)));
    for (let i = 0; i + 1 < this.decoders.length; i++) this.decoders[i].pipe(this.decoders[i + 1]);
    const head = this.decoders[0];
    const tail = this.decoders[this.decoders.length - 1];
    head.on('drain', () => {
      const resume = this.pendingWrite;
      this.pendingWrite = undefined;
      resume?.();
    });
    tail.on('data', (chunk: Buffer) => this.output(chunk, tail));
    tail.once('end', () => {
      if (this.failed) return;
      this.push(null);
      this.pendingFinal?.();
    });
  }

  private output(chunk: Buffer, tail: Decoder): void {
    if (this.failed) return;
    const out = (this.outBytes += chunk.length);
    const { maxSize, maxRatio, ratioAfter } = this.limits;
    if (out > maxSize) {
      this.fail(compressionErrors.create('LB_ERR_COMPRESSION_BOMB', { limit: `${maxSize} bytes`, detail: `${this.consumed()} compressed bytes gave more than ${maxSize}` }));
    } else if (out > ratioAfter && out > this.consumed() * maxRatio) {
      this.fail(compressionErrors.create('LB_ERR_COMPRESSION_BOMB', { limit: `a ratio of ${maxRatio}`, detail: `${this.consumed()} compressed bytes gave ${out}` }));
    } else if (!this.push(chunk)) {
      tail.pause();
    }
  }

  /** Compressed bytes the outer decoder has actually consumed (a written chunk may still wait in its buffer). */
  private consumed(): number {
    return this.decoders[0]?.bytesWritten ?? 0;
  }

  private fail(error: LbError): void {
    if (this.failed) return;
    this.failed = true;
    for (const d of this.decoders) d.destroy();
    this.refuse(error);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.failed) return;
    if (this.decoders.length === 0) this.build(chunk);
    if (this.decoders[0].write(chunk)) callback();
    else this.pendingWrite = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.failed) return;
    if (this.decoders.length === 0) {
      // An empty body stays empty, whatever its label.
      this.push(null);
      callback();
      return;
    }
    this.pendingFinal = callback;
    this.decoders[0].end();
  }

  override _read(): void {
    const tail = this.decoders[this.decoders.length - 1];
    if (tail?.isPaused()) tail.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    for (const d of this.decoders) d.destroy();
    callback(error);
  }
}

function corrupt(codings: readonly DecodableCoding[], e: NodeJS.ErrnoException): LbError {
  const truncated = /unexpected end/i.test(e.message);
  const detail = truncated ? `truncated (${e.message})` : e.message;
  return compressionErrors.create('LB_ERR_COMPRESSION_CORRUPT', { encoding: [...codings].reverse().join(', '), detail });
}

/** Ends the request with `error` (413, 400): a failing request stage is answered by the core with its status. */
function refuseRequest(_ctx: RequestContext, stage: Duplex, error: LbError): void {
  stage.destroy(error);
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

export interface RequestSettings {
  readonly policies: Policies;
  readonly limits: Omit<DecodeLimits, 'maxSize'>;
  readonly unknownEncoding: 'reject' | 'pass';
  readonly logger: Logger;
}

/** The transformRequest tap that decodes request bodies (Stage.DECODE). */
export function createRequestDecode(s: RequestSettings): (ctx: RequestContext) => Promise<RequestContext> {
  return async (ctx) => {
    const req = ctx.req;
    const header = req.headers['content-encoding'];
    if (header === undefined || !hasBody(req)) return ctx;
    const policy = s.policies.match(req.url);
    if (!policy.decompress) return ctx;
    const tokens = header.split(',').map((t) => t.trim()).filter((t) => t !== '' && t.toLowerCase() !== 'identity');
    const codings = tokens.map(decodableCoding);
    if (codings.some((c) => c === undefined) || codings.length > MAX_LAYERS) {
      if (s.unknownEncoding === 'pass') {
        s.logger.debug('request body coding unknown; passed to the backend unchanged', { encoding: header, path: req.url });
        return ctx;
      }
      ctx.res.setHeader('Accept-Encoding', DECODABLE);
      throw compressionErrors.create('LB_ERR_COMPRESSION_UNSUPPORTED', { encoding: header });
    }
    delete req.headers['content-encoding'];
    if (codings.length === 0) return ctx;
    const limits = { ...s.limits, maxSize: policy.maxRequestSize };
    const stage: BoundedDecoder = new BoundedDecoder((codings as DecodableCoding[]).reverse(), limits, (error) => refuseRequest(ctx, stage, error));
    ctx.addRequestStage(stage);
    return ctx;
  };
}

export interface UpstreamSettings {
  readonly policies: Policies;
  readonly engines: EngineSettings;
  readonly coding: Coding;
  readonly minSize: number;
}

/**
 * Which codings each backend declared it accepts in requests, learned from the
 * Accept-Encoding of its responses (RFC 7694). A 415 without one forgets the declaration.
 */
export class DeclaredCodings {
  private readonly byTarget = new WeakMap<Target, ReadonlySet<string>>();

  learn(target: Target | undefined, status: number, acceptEncoding: string | undefined): void {
    if (!target) return;
    if (acceptEncoding !== undefined) {
      const parsed = parseAcceptEncoding(acceptEncoding);
      const accepted = new Set<string>();
      for (const [coding, q] of parsed?.q ?? []) if (q > 0) accepted.add(coding);
      this.byTarget.set(target, accepted);
    } else if (status === 415) {
      this.byTarget.delete(target);
    }
  }

  /** True when every target that may be chosen declared `coding`. */
  allAccept(targets: readonly Target[], coding: string): boolean {
    if (targets.length === 0) return false;
    for (const t of targets) if (!this.byTarget.get(t)?.has(coding)) return false;
    return true;
  }
}

/** The transformRequest tap that compresses request bodies toward backends that accept it (Stage.ENCODE). */
export function createUpstreamCompress(s: UpstreamSettings, declared: DeclaredCodings, available: () => readonly Target[]): (ctx: RequestContext) => Promise<RequestContext> {
  return async (ctx) => {
    const headers = ctx.req.headers;
    if (headers['content-encoding'] !== undefined || !hasBody(ctx.req)) return ctx;
    const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
    if (length !== undefined && !(length >= s.minSize)) return ctx;
    const mediaType = mediaTypeOf(headers['content-type']);
    if (mediaType === undefined || !s.policies.match(ctx.req.url).types.matches(mediaType)) return ctx;
    if (!declared.allAccept(available(), s.coding)) return ctx;
    // A decoding stage before this one changes the length: only a body still as received keeps it.
    const knownLength = ctx.requestStages === undefined ? length : undefined;
    for (const stage of createCompressor(s.coding, s.engines, knownLength, false, false).stages) ctx.addRequestStage(stage);
    headers['content-encoding'] = s.coding;
    return ctx;
  };
}
