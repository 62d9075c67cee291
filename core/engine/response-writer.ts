import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable, type Duplex } from 'node:stream';
import { ResponseContext } from '../context.js';
import { LbError } from '../errors.js';
import { responseHeaderList, responseHeaderObject } from '../headers.js';
import type { Logger } from '../log.js';
import type { PipelineHooks } from '../pipeline.js';
import { handleEarlyResponse } from './early-response.js';
import type { EngineContext } from './engine-context.js';

/** What writing a response needs from the engine. */
export interface ResponseWriter {
  readonly hooks: PipelineHooks;
  readonly logger: Logger;
  /** Read once after sealing: an unused hook costs the hot path nothing. */
  readonly usesUpstreamResponse: boolean;
  readonly usesResponseTransforms: boolean;
  /** How long the rest of a request body is read and dropped after an early response (ms). */
  readonly lingerMs: number;
  fail(ctx: EngineContext, error: unknown): void;
}

const kRes = Symbol('lb.res');
type UpstreamWithRes = IncomingMessage & { [kRes]?: ServerResponse };

function onUpstreamClose(this: UpstreamWithRes): void {
  // The backend's body stopped before its end (reset, timeout): cut the client's response too,
  // so that it sees a truncated message rather than a complete-looking one. Before lb has sent
  // the headers (a transform still runs), the transform path answers 502 instead.
  const res = this[kRes];
  if (!this.complete && res && res.headersSent && !res.writableFinished) res.destroy();
}

function uncork(res: ServerResponse): void {
  if (!res.destroyed) res.uncork();
}

/**
 * Pipes a response body through its stages to the client. Lighter than stream.pipeline,
 * which costs an AbortController and a DOMException per call (measured: a third of the
 * staged path's CPU on small responses). A failing stage cuts the client's response; a
 * client that goes away, or any failure, destroys every stage (freeing compressors) and
 * the source.
 */
function pipeResponseStages(source: Readable, stages: Duplex[], res: ServerResponse, onStageError: (error: Error) => void): void {
  let done = false;
  const teardown = () => {
    if (done) return;
    done = true;
    source.destroy();
    for (const stage of stages) stage.destroy();
  };
  const onError = (error: Error) => {
    if (!res.writableFinished && !done) {
      onStageError(error);
      res.destroy();
    }
    teardown();
  };
  let tail: Readable = source;
  for (const stage of stages) {
    stage.on('error', onError);
    tail = tail.pipe(stage);
  }
  // A body already buffered (most small responses) passes every stage within a few ticks: corked
  // until the next loop turn, the headers, the body and the chunked terminator leave in one write.
  res.cork();
  setImmediate(uncork, res);
  tail.pipe(res);
  res.once('close', () => {
    if (!res.writableFinished) teardown();
  });
}

/** A backend's response headers arrived: run the response hooks, then stream it to the client. */
export function respond(w: ResponseWriter, ctx: EngineContext, upstream: IncomingMessage, res: ServerResponse): void {
  ctx.responded = true;
  // A 2xx answer before the whole body is up is a backend streaming while it reads (an echo): keep sending it.
  if (!ctx.req.complete) handleEarlyResponse(ctx, w.lingerMs, (upstream.statusCode ?? 0) < 300);
  (upstream as UpstreamWithRes)[kRes] = res;
  upstream.on('close', onUpstreamClose);
  if (w.usesUpstreamResponse) {
    try {
      w.hooks.upstreamResponse.call(ctx, upstream);
    } catch (e) {
      w.logger.error('upstreamResponse hook failed', { code: (e as LbError).code, detail: (e as Error).message });
    }
  }
  if (res.destroyed) {
    upstream.destroy();
    return;
  }
  if (!w.usesResponseTransforms && ctx.cipher === undefined) {
    res.writeHead(upstream.statusCode ?? 502, responseHeaderList(upstream, ctx.hiddenResponseHeaders));
    upstream.pipe(res);
    return;
  }
  const response = new ResponseContext(ctx, upstream, responseHeaderObject(upstream, ctx.hiddenResponseHeaders));
  const transformed = w.usesResponseTransforms ? w.hooks.transformResponse.promise(response) : Promise.resolve(response);
  transformed.then(
    (r) => sendTransformed(w, ctx, r ?? response),
    (e: unknown) => {
      upstream.destroy();
      w.fail(ctx, e);
    },
  );
}

/** Whether a response's body is small and of known length: the cipher seals it in one call. */
function sealsWhole(response: ResponseContext, body: Buffer | undefined, limit: number): boolean {
  if (body !== undefined) return body.length <= limit;
  const declared = response.headers['content-length'];
  if (declared === undefined) return false;
  const n = Number(declared);
  return Number.isSafeInteger(n) && n >= 0 && n <= limit;
}

function sendTransformed(w: ResponseWriter, ctx: EngineContext, response: ResponseContext): void {
  const res = ctx.res;
  const upstream = response.upstream;
  if (res.destroyed) {
    upstream.destroy();
    return;
  }
  if (response.body === undefined && upstream.destroyed && !upstream.complete) {
    w.fail(ctx, new LbError('LB_ERR_UPSTREAM_RESET', { target: ctx.target?.id ?? 'unknown', detail: 'the response body ended early' }));
    return;
  }
  const body = response.body;
  if (body !== undefined && !upstream.readableEnded) {
    // A transform replaced a body it did not read: the rest of the backend's body is not wanted.
    (upstream as UpstreamWithRes)[kRes] = undefined;
    upstream.destroy();
  }
  if (response.stages !== undefined) delete response.headers['content-length'];
  else if (body !== undefined) response.headers['content-length'] = body.length;
  const cipher = ctx.cipher;
  if (cipher?.sealBody && response.stages === undefined && sealsWhole(response, body, cipher.sealBodyLimit ?? 0)) {
    const whole = body !== undefined ? Promise.resolve(body) : response.readBody(cipher.sealBodyLimit ?? 0);
    whole.then(
      (plain) => {
        if (res.destroyed) return;
        const sealed = cipher.sealBody!(response, plain);
        if (sealed !== undefined) response.headers['content-length'] = sealed.length;
        res.writeHead(response.statusCode, response.headers);
        res.end(sealed);
      },
      (e: unknown) => w.fail(ctx, e),
    );
    return;
  }
  // Last on the way out; the cipher sees the plaintext's length when it is known and sets the ciphertext's.
  if (ctx.cipher) {
    const stage = ctx.cipher.encryptResponse(response);
    if (stage) response.addStage(stage);
  }
  const stages = response.stages;
  res.writeHead(response.statusCode, response.headers);
  if (stages === undefined) {
    if (body !== undefined) res.end(body);
    else upstream.pipe(res);
    return;
  }
  const source = body === undefined ? upstream : Readable.from([body]);
  pipeResponseStages(source, stages, res, (error) => {
    w.logger.warn('response body stage failed', { detail: error.message, target: ctx.target?.id });
  });
}
