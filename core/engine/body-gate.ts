import type { IncomingMessage } from 'node:http';
import { PassThrough, Readable, Transform, type Duplex, type TransformCallback } from 'node:stream';
import { LbError } from '../errors.js';
import type { EngineContext } from './engine-context.js';

export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** Lets the held-back body flow to the backend, once its connection is up. */
export function openGate(ctx: EngineContext): void {
  const body = ctx.gated;
  if (!body || ctx.bodySent) return;
  ctx.bodySent = true;
  body.source.pipe(body.gate);
}

/**
 * The stream http-proxy-3 sends as the request body: undefined (the request itself)
 * on the common bodiless first attempt; else a gated stream that a connection
 * failure leaves unconsumed. `onStageError` ends the request when a body stage fails.
 */
export function bodyFor(ctx: EngineContext, maxBodyBytes: number, onError: (ctx: EngineContext, error: Error) => void): Readable | undefined {
  const req = ctx.req;
  const stages = ctx.requestStages;
  if (stages === undefined && !hasBody(req) && ctx.bodySource === undefined) return ctx.attempts > 1 ? Readable.from([]) : undefined;
  let body = ctx.gated;
  if (body === undefined) {
    let source: Readable = ctx.bodySource ?? req;
    // A declared length was checked against the limit with the head; a chunked body is counted as it
    // passes, by a stage (a 'data' listener would start the body flowing before the gate opens).
    const all = maxBodyBytes > 0 && req.headers['content-length'] === undefined ? [new BodyLimit(ctx, maxBodyBytes), ...(stages ?? [])] : stages;
    if (all !== undefined) {
      const known = all.length === 1 && ctx.cipher?.plaintextLength !== undefined ? ctx.cipher.plaintextLength : undefined;
      if (known !== undefined) {
        req.headers['content-length'] = String(known);
        delete req.headers['transfer-encoding'];
      } else {
        delete req.headers['content-length'];
        req.headers['transfer-encoding'] = 'chunked';
      }
      source = chainRequestStages(ctx, source, all, onError);
    }
    // http-proxy-3 emits no proxyReq event (where the gate opens) for Expect: 100-continue.
    if (req.headers.expect !== undefined) {
      ctx.bodySent = true;
      return source;
    }
    body = { source, gate: new PassThrough() };
    ctx.gated = body;
  } else {
    body.gate = new PassThrough();
  }
  return body.gate;
}

/** Passes a chunked body through, failing with 413 once it passes the limit (unless the backend already answered). */
class BodyLimit extends Transform {
  private seen = 0;
  constructor(private readonly ctx: EngineContext, private readonly limit: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit && !this.ctx.responded) callback(new LbError('LB_ERR_CLIENT_BODY_TOO_LARGE', { limit: this.limit }));
    else callback(null, chunk);
  }
}

/**
 * Pipes the client's body through the request stages. Unlike stream.pipeline, a
 * failing stage does not destroy the client's request: lb stops reading it and still
 * answers with the stage's status (413, 400), then closes the connection.
 */
function chainRequestStages(ctx: EngineContext, source: Readable, stages: Duplex[], onStageError: (ctx: EngineContext, error: Error) => void): Readable {
  const onError = (error: Error) => {
    source.unpipe();
    source.pause();
    for (const stage of stages) stage.destroy();
    onStageError(ctx, error);
  };
  let tail: Readable = source;
  for (const stage of stages) {
    stage.on('error', onError);
    tail = tail.pipe(stage);
  }
  return tail;
}
