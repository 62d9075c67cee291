import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Duplex, Readable, pipeline } from 'node:stream';
import { LbError, isLbError } from './errors.js';
import type { Target } from './target-pool.js';

/** A streaming body change: a Node Duplex/Transform or a web TransformStream. */
export type BodyStage = Duplex | TransformStream<Uint8Array, Uint8Array>;

function toDuplex(stage: BodyStage): Duplex {
  return stage instanceof Duplex ? stage : Duplex.fromWeb(stage as unknown as Parameters<typeof Duplex.fromWeb>[0]);
}

/**
 * One request's state as it moves through the pipeline. Created once per request
 * with a fixed shape; plugins keep their own per-request data in `locals`.
 */
export class RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** `performance.now()` when the request arrived. */
  readonly startedAt: number;
  /** The target chosen for the current attempt. */
  target: Target | undefined = undefined;
  /** Targets tried and failed before the current attempt (retries exclude them). */
  tried: Target[] | undefined = undefined;
  /** The cipher the encrypt hook resolved for this request's session, if any. */
  cipher: BodyCipher | undefined = undefined;
  /** Set when the request ended in an error. */
  error: LbError | undefined = undefined;
  /** Body stages for the request, applied in order (the core puts decryption first). */
  requestStages: Duplex[] | undefined = undefined;
  /** Attempts made so far: 1 for the first, more after retries. */
  attempts = 0;
  /**
   * How lb's own error responses to this request are written: `text` (the short
   * line), or `json` (`{"error":{"code","status","message"}}`), which the encrypt
   * plugin sets for encrypted sessions. Either way the `lb-error` header names the code.
   */
  errorFormat: 'text' | 'json' = 'text';
  /**
   * The request body to read instead of `req`, when a plugin read part of it ahead
   * (the handshake verifies an encrypted body's first record before anything is
   * proxied) and the request ended meanwhile. Request stages still apply.
   */
  bodySource: Readable | undefined = undefined;
  private localsMap: Map<string | symbol, unknown> | undefined = undefined;

  constructor(req: IncomingMessage, res: ServerResponse, startedAt: number) {
    this.req = req;
    this.res = res;
    this.startedAt = startedAt;
  }

  /** Lower-cased names of backend response headers not to pass to the client. */
  hiddenResponseHeaders: string[] | undefined = undefined;

  /** Keeps a backend response header (say, an in-band load report) from reaching the client. */
  hideResponseHeader(name: string): void {
    (this.hiddenResponseHeaders ??= []).push(name.toLowerCase());
  }

  /** Adds a streaming stage to the request body on its way to the backend. */
  addRequestStage(stage: BodyStage): void {
    (this.requestStages ??= []).push(toDuplex(stage));
  }

  /** Per-request storage for plugins; key by your plugin's name or a symbol. */
  get locals(): Map<string | symbol, unknown> {
    return (this.localsMap ??= new Map());
  }
}

/**
 * The backend's response before it is sent to the client: status and headers are
 * mutable (hop-by-hop headers already removed); body changes are streaming stages.
 */
export class ResponseContext {
  readonly request: RequestContext;
  /** The backend's response stream. */
  readonly upstream: IncomingMessage;
  statusCode: number;
  headers: OutgoingHttpHeaders;
  /** Body stages for the response, applied in order (the core puts encryption last). */
  stages: Duplex[] | undefined = undefined;

  constructor(request: RequestContext, upstream: IncomingMessage, headers: OutgoingHttpHeaders) {
    this.request = request;
    this.upstream = upstream;
    this.statusCode = upstream.statusCode ?? 502;
    this.headers = headers;
  }

  /**
   * The whole body, when a transform replaced the backend's stream with bytes in
   * memory (see `readBody`). The core sends it with `Content-Length` in one write,
   * or feeds it to the stages added after it was set.
   */
  body: Buffer | undefined = undefined;

  /** Adds a streaming stage to the response body on its way to the client. */
  addStage(stage: BodyStage): void {
    (this.stages ??= []).push(toDuplex(stage));
  }

  /**
   * Reads the rest of the body into memory, through any stages added so far, and
   * leaves it in `body`. For small bodies only: it refuses with
   * LB_ERR_RESPONSE_BODY_TOO_LARGE once more than `maxBytes` arrive, so check the
   * declared length first. A backend that stops early rejects it.
   */
  async readBody(maxBytes: number): Promise<Buffer> {
    if (this.body !== undefined && this.stages === undefined) return this.body;
    const source = this.stages === undefined ? this.upstream : pipeThrough(this.body ?? this.upstream, this.stages);
    this.stages = undefined;
    this.body = await collect(source, maxBytes, this);
    return this.body;
  }
}

function pipeThrough(source: Buffer | Readable, stages: Duplex[]): Readable {
  const head = source instanceof Buffer ? Readable.from([source]) : source;
  return pipeline([head, ...stages] as unknown as [Readable, Duplex], () => {}) as unknown as Readable;
}

function collect(source: Readable, maxBytes: number, response: ResponseContext): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        source.destroy();
        reject(new LbError('LB_ERR_RESPONSE_BODY_TOO_LARGE', { limit: maxBytes, target: response.request.target?.id ?? 'unknown' }));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const upstreamFailed = (detail: string) => new LbError('LB_ERR_UPSTREAM_RESET', { target: response.request.target?.id ?? 'unknown', detail });
    const onError = (error: Error) => {
      cleanup();
      // The backend's fault (an aborted body), not the plugin's; a stage's own failure stays as it is.
      reject(isLbError(error) || response.upstream.complete ? error : upstreamFailed(`${error.message} (the response body ended early)`));
    };
    // 'close' without 'end': the backend (or a stage) stopped before the body was complete.
    const onClose = () => onError(upstreamFailed('the response body ended early'));
    const cleanup = () => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      source.off('close', onClose);
    };
    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', onError);
    source.on('close', onClose);
  });
}

/**
 * What the encrypt hook resolves for a request whose session is encrypted.
 * The core, not the plugin, decides where the stages go: decryption before every
 * request transform, encryption after every response transform.
 */
export interface BodyCipher {
  /** Stage that turns the client's ciphertext into the plaintext the backend reads. */
  decryptRequest(ctx: RequestContext): BodyStage | undefined;
  /**
   * The plaintext's length, when the ciphertext's is known: sent as Content-Length
   * when decryption is the only request stage (else the body goes chunked).
   */
  readonly plaintextLength?: number;
  /** Stage that turns the backend's plaintext into ciphertext; may also edit `response.headers`. */
  encryptResponse(response: ResponseContext): BodyStage | undefined;
  /**
   * Optional: seals a whole body held in memory in one call (what encryptResponse's
   * stage would send, headers edited the same way; undefined for a response without a
   * body). The core uses it for bodies of known length up to `sealBodyLimit` bytes.
   */
  sealBody?(response: ResponseContext, body: Buffer): Buffer | undefined;
  readonly sealBodyLimit?: number;
}
