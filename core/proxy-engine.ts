import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough, Readable, type Duplex } from 'node:stream';
import { ProxyServer } from 'http-proxy-3';
import { RequestContext, ResponseContext, type RequestOwner } from './context.js';
import { LbError, isLbError } from './errors.js';
import { prepareRequestHeaders, responseHeaderList, responseHeaderObject } from './headers.js';
import type { Pipeline } from './pipeline.js';
import type { Target } from './target-pool.js';

const kCtx = Symbol('lb.ctx');
const kRes = Symbol('lb.res');
type WithCtx = { [kCtx]?: RequestContext };

export interface EngineOptions {
  /** Log one line per request. */
  accessLog: boolean;
  /** Most further attempts per request after a failed one. */
  retries: number;
  /** Retry bodiless idempotent requests after a reset before response headers. */
  idempotentOnReset: boolean;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/**
 * A request body is held back until the backend's connection is established, so
 * that a connection failure has consumed nothing and the request can go elsewhere.
 */
interface GatedBody {
  source: Readable;
  gate: PassThrough;
}
const kGate = Symbol('lb.gate');
type GatedContext = RequestContext & { [kGate]?: GatedBody };

function openGate(ctx: GatedContext): void {
  const body = ctx[kGate];
  if (!body || ctx.bodySent) return;
  ctx.bodySent = true;
  body.source.pipe(body.gate);
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'ETIMEDOUT']);

/** Maps a socket-level error from a backend attempt to an lb error. */
export function classifyUpstreamError(error: unknown, target: Target | undefined): LbError {
  if (isLbError(error)) return error;
  const e = error as NodeJS.ErrnoException;
  const name = target?.id ?? 'unknown';
  const code = e?.code ?? '';
  const detail = `${code ? `${code} ` : ''}${e?.message ?? String(error)}`.trim();
  if (CONNECT_CODES.has(code)) return new LbError('LB_ERR_UPSTREAM_CONNECT', { target: name, detail }, { cause: error });
  if (code.startsWith('HPE_')) return new LbError('LB_ERR_UPSTREAM_BAD_RESPONSE', { target: name, detail }, { cause: error });
  return new LbError('LB_ERR_UPSTREAM_RESET', { target: name, detail }, { cause: error });
}

// Listeners below are shared functions that find their request through `this`,
// so that no closure is allocated per request on the hot path.

function onResponseClose(this: ServerResponse & WithCtx): void {
  const ctx = this[kCtx];
  if (ctx) ctx.owner.finish(ctx, this.writableFinished);
}

function onUpstreamClose(this: IncomingMessage & { [kRes]?: ServerResponse }): void {
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

/**
 * Serves client requests: runs them through the pipeline's hooks and proxies them
 * with http-proxy-3 on per-target keep-alive agents, streaming both bodies.
 */
export class ProxyEngine implements RequestOwner {
  private readonly proxy: ProxyServer;
  private readonly pipeline: Pipeline;
  private readonly options: EngineOptions;
  // Read once after sealing: an unused hook costs the hot path nothing.
  private readonly usesReserved: boolean;
  private readonly usesEncrypt: boolean;
  private readonly usesRequestTransforms: boolean;
  private readonly usesResponseTransforms: boolean;
  private readonly usesUpstreamResponse: boolean;
  private readonly usesUpstreamError: boolean;
  private readonly usesRequestDone: boolean;
  /** Requests accepted and not yet finished, for graceful shutdown. */
  active = 0;
  /** Open WebSocket tunnels, closed at the end of a shutdown. */
  readonly tunnels = new Set<Duplex>();
  draining = false;
  private idleWaiters: Array<() => void> = [];

  constructor(pipeline: Pipeline, options: EngineOptions) {
    if (!pipeline.isSealed) throw new Error('seal the pipeline before creating the engine');
    this.pipeline = pipeline;
    this.options = options;
    const h = pipeline.hooks;
    // Not `isUsed()`: it counts interceptors, and the pipeline puts one on every hook.
    const tapped = (hook: { taps: readonly unknown[] }) => hook.taps.length > 0;
    this.usesReserved = tapped(h.serveReserved);
    this.usesEncrypt = tapped(h.encrypt);
    this.usesRequestTransforms = tapped(h.transformRequest);
    this.usesResponseTransforms = tapped(h.transformResponse);
    this.usesUpstreamResponse = tapped(h.upstreamResponse);
    this.usesUpstreamError = tapped(h.upstreamError);
    this.usesRequestDone = tapped(h.requestDone);
    this.proxy = new ProxyServer({ selfHandleResponse: true, xfwd: false, ws: true });
    this.proxy.on('proxyReq', (proxyReq: ClientRequest, req: IncomingMessage & WithCtx, _res: unknown, _options: unknown, socket: Socket) => {
      const ctx = req[kCtx] as GatedContext | undefined;
      if (!ctx) return;
      // The request may have failed (a body stage refused it) before its socket was assigned.
      if (ctx.error) {
        proxyReq.destroy();
        return;
      }
      ctx.upstreamRequest = proxyReq;
      if (ctx[kGate]) {
        if (socket.connecting) socket.once('connect', () => openGate(ctx));
        else openGate(ctx);
      }
    });
    this.proxy.on('proxyRes', (upstream: IncomingMessage, req: IncomingMessage & WithCtx, res: ServerResponse) => {
      const ctx = req[kCtx];
      if (ctx) this.respond(ctx, upstream, res);
    });
    this.proxy.on('error', (error: Error, req: IncomingMessage & WithCtx, _res: unknown, target: unknown) => {
      const ctx = req[kCtx];
      // An error for an earlier attempt's target (a late one) must not fail the current attempt.
      if (ctx && target === ctx.target?.url) this.upstreamFailed(ctx, error);
    });
    this.proxy.on('econnreset', () => {
      // The client went away; http-proxy-3 destroyed the upstream request. Logged by finish().
    });
  }

  /** The `request` listener of the client-facing server. */
  readonly handleRequest = (req: IncomingMessage & WithCtx, res: ServerResponse & WithCtx): void => {
    const ctx = new RequestContext(req, res, performance.now(), this);
    req[kCtx] = ctx;
    res[kCtx] = ctx;
    this.active++;
    // 'close' fires once; `on` avoids the wrapper closure `once` allocates per request.
    res.on('close', onResponseClose);
    if (this.draining) res.shouldKeepAlive = false;

    if (this.usesReserved && req.url !== undefined && req.url.startsWith('/.lb/')) {
      try {
        if (this.pipeline.hooks.serveReserved.call(ctx)) return;
      } catch (e) {
        this.fail(ctx, e);
        return;
      }
    }
    prepareRequestHeaders(req, false);
    if (this.usesEncrypt || this.usesRequestTransforms) {
      this.prepare(ctx).then(() => this.dispatch(ctx), (e: unknown) => this.fail(ctx, e));
    } else {
      this.dispatch(ctx);
    }
  };

  private async prepare(ctx: RequestContext): Promise<void> {
    const h = this.pipeline.hooks;
    if (this.usesEncrypt) {
      const cipher = await h.encrypt.promise(ctx);
      if (cipher) {
        ctx.cipher = cipher;
        const stage = cipher.decryptRequest(ctx);
        if (stage) ctx.addRequestStage(stage);
      }
    }
    if (this.usesRequestTransforms) await h.transformRequest.promise(ctx);
  }

  /** Chooses a target and sends the request to it. */
  private dispatch(ctx: RequestContext): void {
    if (ctx.res.writableEnded || ctx.res.destroyed) return;
    const pool = this.pipeline.pool;
    const tried = ctx.tried;
    const candidates = tried ? pool.available.filter((t) => !tried.includes(t)) : pool.available;
    if (candidates.length === 0) {
      this.fail(ctx, new LbError('LB_ERR_TARGET_NONE_AVAILABLE'));
      return;
    }
    let target: Target | undefined;
    try {
      target = this.pipeline.hooks.selectTarget.call(ctx, candidates);
    } catch (e) {
      this.fail(ctx, e);
      return;
    }
    if (!target) {
      this.fail(ctx, new LbError('LB_ERR_TARGET_NONE_AVAILABLE'));
      return;
    }
    ctx.target = target;
    ctx.held = target;
    ctx.attempts++;
    target.inFlight++;
    this.proxy.web(ctx.req, ctx.res, { target: target.url, agent: target.agent, buffer: this.bodyFor(ctx) });
  }

  /**
   * The stream http-proxy-3 sends as the request body: undefined (the request itself)
   * on the common bodiless first attempt; else a gated stream that a connection
   * failure leaves unconsumed.
   */
  private bodyFor(ctx: GatedContext): Readable | undefined {
    const req = ctx.req;
    const stages = ctx.requestStages;
    if (stages === undefined && !hasBody(req)) return ctx.attempts > 1 ? Readable.from([]) : undefined;
    let body = ctx[kGate];
    if (body === undefined) {
      let source: Readable = req;
      if (stages !== undefined) {
        delete req.headers['content-length'];
        req.headers['transfer-encoding'] = 'chunked';
        source = this.chainRequestStages(ctx, stages);
      }
      // http-proxy-3 emits no proxyReq event (where the gate opens) for Expect: 100-continue.
      if (req.headers.expect !== undefined) {
        ctx.bodySent = true;
        return source;
      }
      body = { source, gate: new PassThrough() };
      ctx[kGate] = body;
    } else {
      body.gate = new PassThrough();
    }
    return body.gate;
  }

  /**
   * Pipes the client's body through the request stages. Unlike stream.pipeline, a
   * failing stage does not destroy the client's request: lb stops reading it and still
   * answers with the stage's status (413, 400), then closes the connection.
   */
  private chainRequestStages(ctx: RequestContext, stages: Duplex[]): Readable {
    const req = ctx.req;
    const onStageError = (error: Error) => {
      req.unpipe();
      req.pause();
      for (const stage of stages) stage.destroy();
      this.fail(ctx, error);
    };
    let tail: Readable = req;
    for (const stage of stages) {
      stage.on('error', onStageError);
      tail = tail.pipe(stage);
    }
    return tail;
  }

  private respond(ctx: RequestContext, upstream: IncomingMessage, res: ServerResponse): void {
    ctx.responded = true;
    (upstream as IncomingMessage & { [kRes]?: ServerResponse })[kRes] = res;
    upstream.on('close', onUpstreamClose);
    if (this.usesUpstreamResponse) {
      try {
        this.pipeline.hooks.upstreamResponse.call(ctx, upstream);
      } catch (e) {
        this.pipeline.logger.error('upstreamResponse hook failed', { code: (e as LbError).code, detail: (e as Error).message });
      }
    }
    if (res.destroyed) {
      upstream.destroy();
      return;
    }
    if (!this.usesResponseTransforms && ctx.cipher === undefined) {
      res.writeHead(upstream.statusCode ?? 502, responseHeaderList(upstream, ctx.hiddenResponseHeaders));
      upstream.pipe(res);
      return;
    }
    const response = new ResponseContext(ctx, upstream, responseHeaderObject(upstream, ctx.hiddenResponseHeaders));
    const transformed = this.usesResponseTransforms ? this.pipeline.hooks.transformResponse.promise(response) : Promise.resolve(response);
    transformed.then(
      (r) => this.sendTransformed(ctx, r ?? response),
      (e: unknown) => {
        upstream.destroy();
        this.fail(ctx, e);
      },
    );
  }

  private sendTransformed(ctx: RequestContext, response: ResponseContext): void {
    const res = ctx.res;
    if (res.destroyed) {
      response.upstream.destroy();
      return;
    }
    const upstream = response.upstream;
    if (response.body === undefined && upstream.destroyed && !upstream.complete) {
      this.fail(ctx, new LbError('LB_ERR_UPSTREAM_RESET', { target: ctx.target?.id ?? 'unknown', detail: 'the response body ended early' }));
      return;
    }
    if (ctx.cipher) {
      const stage = ctx.cipher.encryptResponse(response);
      if (stage) response.addStage(stage);
    }
    const stages = response.stages;
    const body = response.body;
    if (body !== undefined && !upstream.readableEnded) {
      // A transform replaced a body it did not read: the rest of the backend's body is not wanted.
      (upstream as IncomingMessage & { [kRes]?: ServerResponse })[kRes] = undefined;
      upstream.destroy();
    }
    if (stages !== undefined) delete response.headers['content-length'];
    else if (body !== undefined) response.headers['content-length'] = body.length;
    res.writeHead(response.statusCode, response.headers);
    if (stages === undefined) {
      if (body !== undefined) res.end(body);
      else upstream.pipe(res);
      return;
    }
    const source = body === undefined ? upstream : Readable.from([body]);
    pipeResponseStages(source, stages, res, (error) => {
      this.pipeline.logger.warn('response body stage failed', { detail: error.message, target: ctx.target?.id });
    });
  }

  private upstreamFailed(ctx: RequestContext, error: unknown): void {
    const lbError = classifyUpstreamError(error, ctx.target);
    if (this.usesUpstreamError && lbError.source === 'upstream') this.pipeline.hooks.upstreamError.call(ctx, lbError);
    if (this.mayRetry(ctx, lbError)) {
      const failed = ctx.target!;
      this.release(ctx);
      (ctx.tried ??= []).push(failed);
      ctx.upstreamRequest = undefined;
      const candidates = this.pipeline.pool.available.filter((t) => !ctx.tried!.includes(t));
      if (candidates.length > 0) {
        this.pipeline.logger.warn(`${lbError.message} Retrying on another target.`, { code: lbError.code, method: ctx.req.method, path: ctx.req.url, attempt: ctx.attempts });
        this.dispatch(ctx);
        return;
      }
    }
    this.fail(ctx, lbError);
  }

  /** Retry only what cannot be applied twice: nothing was sent, or a bodiless idempotent request got no answer. */
  private mayRetry(ctx: RequestContext, error: LbError): boolean {
    if (ctx.attempts > this.options.retries || ctx.error || ctx.responded || ctx.res.headersSent || ctx.res.destroyed) return false;
    if (error.code === 'LB_ERR_UPSTREAM_CONNECT' || error.code === 'LB_ERR_UPSTREAM_CONNECT_TIMEOUT') return !ctx.bodySent;
    return error.code === 'LB_ERR_UPSTREAM_RESET' && this.options.idempotentOnReset && IDEMPOTENT.has(ctx.req.method ?? '')
      && ctx.requestStages === undefined && !hasBody(ctx.req);
  }

  /**
   * Ends a request with an error: a short response with the error's status when
   * nothing was sent yet, else a cut connection. One log line either way.
   */
  fail(ctx: RequestContext, error: unknown): void {
    const lbError = isLbError(error) ? error : classifyUpstreamError(error, ctx.target);
    if (ctx.error) return;
    ctx.error = lbError;
    this.release(ctx);
    ctx.upstreamRequest?.destroy();
    const res = ctx.res;
    const fields = { code: lbError.code, method: ctx.req.method, path: ctx.req.url, target: ctx.target?.id, status: lbError.statusCode };
    if (lbError.code === 'LB_ERR_PLUGIN_HOOK_FAILED') this.pipeline.logger.error(lbError.message, fields);
    else this.pipeline.logger.warn(lbError.message, fields);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const status = lbError.statusCode || 500;
    const body = `${status} ${http.STATUS_CODES[status] ?? 'Error'} (${lbError.code})\n`;
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' };
    if (status === 503) headers['retry-after'] = '1';
    // The request body may be only partly read; close rather than reuse the connection.
    if (!ctx.req.complete) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  }

  private release(ctx: RequestContext): void {
    const held = ctx.held;
    if (held) {
      held.inFlight--;
      ctx.held = undefined;
    }
  }

  /** Called once per request when its response closes. */
  finish(ctx: RequestContext, completed: boolean): void {
    this.release(ctx);
    this.active--;
    if (!completed) {
      ctx.upstreamRequest?.destroy();
      if (!ctx.error) {
        ctx.error = new LbError('LB_ERR_CLIENT_ABORTED');
        this.pipeline.logger.debug(ctx.error.message, { method: ctx.req.method, path: ctx.req.url, target: ctx.target?.id });
      }
    }
    if (this.usesRequestDone || this.options.accessLog) {
      const outcome = { statusCode: completed ? ctx.res.statusCode : 499, durationMs: performance.now() - ctx.startedAt, error: ctx.error };
      if (this.usesRequestDone) this.pipeline.hooks.requestDone.call(ctx, outcome);
      if (this.options.accessLog) {
        this.pipeline.logger.info('request', {
          method: ctx.req.method, path: ctx.req.url, status: outcome.statusCode, target: ctx.target?.id, ms: Math.round(outcome.durationMs * 10) / 10,
        });
      }
    }
    if (this.active === 0 && this.idleWaiters.length) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** The `upgrade` listener: WebSocket handshakes go through target selection and are tunnelled. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const pool = this.pipeline.pool;
    const res = new http.ServerResponse(req);
    const ctx = new RequestContext(req, res, performance.now(), this);
    let target: Target | undefined;
    try {
      target = pool.available.length ? this.pipeline.hooks.selectTarget.call(ctx, pool.available) : undefined;
    } catch (e) {
      this.rejectUpgrade(socket, isLbError(e) ? e : classifyUpstreamError(e, undefined), req);
      return;
    }
    if (!target) {
      this.rejectUpgrade(socket, new LbError('LB_ERR_TARGET_NONE_AVAILABLE'), req);
      return;
    }
    const chosen = target;
    prepareRequestHeaders(req, true);
    chosen.inFlight++;
    this.tunnels.add(socket);
    socket.once('close', () => {
      chosen.inFlight--;
      this.tunnels.delete(socket);
    });
    this.proxy.ws(req, socket, head, { target: chosen.url, agent: chosen.agent }, (error: Error) => {
      const lbError = classifyUpstreamError(error, chosen);
      if (this.usesUpstreamError && lbError.source === 'upstream') this.pipeline.hooks.upstreamError.call(ctx, lbError);
      this.rejectUpgrade(socket, lbError, req);
    });
  };

  private rejectUpgrade(socket: Duplex, error: LbError, req: IncomingMessage): void {
    this.pipeline.logger.warn(error.message, { code: error.code, path: req.url, upgrade: 'websocket' });
    if (socket.writable) {
      const status = error.statusCode || 500;
      const body = `${status} ${http.STATUS_CODES[status] ?? 'Error'} (${error.code})\n`;
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
  }

  /** Resolves when no request is in flight. */
  whenIdle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.proxy.removeAllListeners();
    for (const socket of this.tunnels) socket.destroy();
  }
}
