import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ProxyServer } from 'http-proxy-3';
import { LbError, isLbError } from '../errors.js';
import { prepareRequestHeaders } from '../headers.js';
import type { Logger } from '../log.js';
import type { Pipeline, PipelineHooks } from '../pipeline.js';
import { isReserved, type ReservedRoutes } from '../reserved-routes.js';
import type { Target, TargetPool } from '../target-pool.js';
import { bodyFor, hasBody, openGate } from './body-gate.js';
import { checkRequestHead, type RequestLimits } from './request-checks.js';
import { EngineContext } from './engine-context.js';
import { classifyUpstreamError, sendErrorResponse } from './error-response.js';
import { serveReserved } from './reserved.js';
import { respond, type ResponseWriter } from './response-writer.js';
import { handleUpgrade, type UpgradeEngine } from './upgrade.js';

const kCtx = Symbol('lb.ctx');
type WithCtx = { [kCtx]?: EngineContext };

/** The request a response belongs to, if the engine is serving it (for parse errors that arrive mid-request). */
export function contextOf(res: unknown): EngineContext | undefined {
  return (res as WithCtx | undefined)?.[kCtx];
}

export interface EngineOptions {
  /** Log one line per request. */
  accessLog: boolean;
  /** Most further attempts per request after a failed one. */
  retries: number;
  /** Retry idempotent requests without a body after errors whose `retryable` is "idempotent" (a reset before response headers). */
  idempotentOnReset: boolean;
  /** Limits on a request's head and body. */
  limits: RequestLimits;
  /** How long the rest of a body is read and dropped after an early response (ms). */
  lingerMs: number;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

// Listeners are shared functions that find their request through `this`,
// so that no closure is allocated per request on the hot path.
function onResponseClose(this: ServerResponse & WithCtx): void {
  const ctx = this[kCtx];
  if (ctx) ctx.owner.finish(ctx, this.writableFinished);
}

/**
 * Serves the requests of one generation: runs them through its pipeline's hooks and
 * proxies them with http-proxy-3 on the targets' keep-alive agents, streaming both
 * bodies. A request stays with the engine it arrived on until it ends, whatever
 * reloads happen meanwhile.
 */
export class ProxyEngine implements ResponseWriter, UpgradeEngine {
  readonly proxy: ProxyServer;
  readonly hooks: PipelineHooks;
  readonly pool: TargetPool;
  readonly logger: Logger;
  private readonly routes: ReservedRoutes;
  private readonly options: EngineOptions;
  readonly lingerMs: number;
  // Read once after sealing: an unused hook costs the hot path nothing.
  private readonly usesEncrypt: boolean;
  private readonly usesRequestTransforms: boolean;
  readonly usesResponseTransforms: boolean;
  readonly usesUpstreamResponse: boolean;
  readonly usesUpstreamError: boolean;
  readonly usesBeforeUpgrade: boolean;
  private readonly usesRequestDone: boolean;
  /** Requests (and WebSocket tunnels) accepted and not yet finished. */
  private readonly live = new Set<EngineContext>();
  /** Set on shutdown: responses close their connections instead of keeping them alive. */
  draining = false;
  private idleWaiters: Array<() => void> = [];

  constructor(pipeline: Pipeline, options: EngineOptions) {
    if (!pipeline.isSealed) throw new Error('seal the pipeline before creating the engine');
    this.hooks = pipeline.hooks;
    this.pool = pipeline.pool;
    this.logger = pipeline.logger;
    this.routes = pipeline.routeTable;
    this.options = options;
    this.lingerMs = options.lingerMs;
    const h = pipeline.hooks;
    // Not `isUsed()`: it counts interceptors, and the pipeline puts one on every hook.
    const tapped = (hook: { taps: readonly unknown[] }) => hook.taps.length > 0;
    this.usesEncrypt = tapped(h.encrypt);
    this.usesRequestTransforms = tapped(h.transformRequest);
    this.usesResponseTransforms = tapped(h.transformResponse);
    this.usesUpstreamResponse = tapped(h.upstreamResponse);
    this.usesUpstreamError = tapped(h.upstreamError);
    this.usesBeforeUpgrade = tapped(h.beforeUpgrade);
    this.usesRequestDone = tapped(h.requestDone);
    this.proxy = new ProxyServer({ selfHandleResponse: true, xfwd: false, ws: true });
    this.proxy.on('proxyReq', (proxyReq: ClientRequest, req: IncomingMessage & WithCtx, _res: unknown, _options: unknown, socket: Socket) => {
      const ctx = req[kCtx];
      if (!ctx) return;
      // The request may have failed (a body stage refused it) before its socket was assigned.
      if (ctx.error) {
        proxyReq.destroy();
        return;
      }
      ctx.upstreamRequest = proxyReq;
      if (ctx.gated) {
        if (socket.connecting) socket.once('connect', () => openGate(ctx));
        else openGate(ctx);
      }
    });
    this.proxy.on('proxyRes', (upstream: IncomingMessage, req: IncomingMessage & WithCtx, res: ServerResponse) => {
      const ctx = req[kCtx];
      if (ctx) respond(this, ctx, upstream, res);
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

  /** Requests and tunnels in flight. */
  get active(): number {
    return this.live.size;
  }

  /** The `request` listener of the client-facing server (the current generation's). */
  readonly handleRequest = (req: IncomingMessage & WithCtx, res: ServerResponse & WithCtx): void => {
    const ctx = new EngineContext(req, res, performance.now(), this);
    req[kCtx] = ctx;
    res[kCtx] = ctx;
    this.admit(ctx);
    // 'close' fires once; `on` avoids the wrapper closure `once` allocates per request.
    res.on('close', onResponseClose);
    if (this.draining) res.shouldKeepAlive = false;
    const refused = checkRequestHead(req, this.options.limits);
    if (refused) {
      this.fail(ctx, refused);
      return;
    }
    if (req.url !== undefined && isReserved(req.url)) {
      serveReserved(this.routes, ctx, this.failFn);
      return;
    }
    prepareRequestHeaders(req, false);
    if (this.usesEncrypt || this.usesRequestTransforms) {
      this.prepare(ctx).then(() => this.dispatch(ctx), (e: unknown) => this.fail(ctx, e));
    } else {
      this.dispatch(ctx);
    }
  };

  /** The `upgrade` listener: WebSocket handshakes go through target selection and are tunnelled. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    handleUpgrade(this, req, socket, head);
  };

  admit(ctx: EngineContext): void {
    this.live.add(ctx);
  }

  private async prepare(ctx: EngineContext): Promise<void> {
    const h = this.hooks;
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
  private dispatch(ctx: EngineContext): void {
    if (ctx.res.writableEnded || ctx.res.destroyed) return;
    const tried = ctx.tried;
    const candidates = tried ? this.pool.available.filter((t) => !tried.includes(t)) : this.pool.available;
    if (candidates.length === 0) {
      this.fail(ctx, new LbError('LB_ERR_TARGET_NONE_AVAILABLE'));
      return;
    }
    let target: Target | undefined;
    try {
      target = this.hooks.selectTarget.call(ctx, candidates);
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
    this.proxy.web(ctx.req, ctx.res, { target: target.url, agent: target.agent, buffer: bodyFor(ctx, this.options.limits.maxBodyBytes, this.failFn) });
  }

  private upstreamFailed(ctx: EngineContext, error: unknown): void {
    // The backend answered before reading the whole body and then stopped reading it (EPIPE, reset on our
    // writes): its response goes on; the response path handles that response's own failures.
    if (ctx.responded && !ctx.req.complete) return;
    const lbError = classifyUpstreamError(error, ctx.target);
    if (this.usesUpstreamError && lbError.source === 'upstream') this.hooks.upstreamError.call(ctx, lbError);
    if (this.mayRetry(ctx, lbError)) {
      const failed = ctx.target!;
      this.release(ctx);
      (ctx.tried ??= []).push(failed);
      ctx.upstreamRequest = undefined;
      const candidates = this.pool.available.filter((t) => !ctx.tried!.includes(t));
      if (candidates.length > 0) {
        this.logger.warn(`${lbError.message} Retrying on another target.`, { code: lbError.code, method: ctx.req.method, path: ctx.req.url, attempt: ctx.attempts });
        this.dispatch(ctx);
        return;
      }
    }
    this.fail(ctx, lbError);
  }

  /**
   * Whether the error's `retryable` allows another attempt for this request: "any"
   * while no body byte was sent, "idempotent" for bodiless idempotent requests.
   */
  private mayRetry(ctx: EngineContext, error: LbError): boolean {
    if (ctx.attempts > this.options.retries || ctx.error || ctx.responded || ctx.res.headersSent || ctx.res.destroyed) return false;
    if (error.retryable === 'any') return !ctx.bodySent;
    return error.retryable === 'idempotent' && this.options.idempotentOnReset && IDEMPOTENT.has(ctx.req.method ?? '')
      && ctx.requestStages === undefined && !hasBody(ctx.req);
  }

  private readonly failFn = (ctx: EngineContext, error: unknown) => this.fail(ctx, error);

  /**
   * Ends a request with an error: a short response with the error's status when
   * nothing was sent yet, else a cut connection. One log line either way.
   */
  fail(ctx: EngineContext, error: unknown): void {
    const lbError = isLbError(error) ? error : classifyUpstreamError(error, ctx.target);
    if (ctx.error) return;
    ctx.error = lbError;
    this.release(ctx);
    ctx.upstreamRequest?.destroy();
    const res = ctx.res;
    const fields = { code: lbError.code, method: ctx.req.method, path: ctx.req.url, target: ctx.target?.id, status: lbError.statusCode };
    if (lbError.code === 'LB_ERR_PLUGIN_HOOK_FAILED') this.logger.error(lbError.message, fields);
    else this.logger.warn(lbError.message, fields);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    // A request without a body has nothing left to read: its connection can stay alive, unless the client
    // broke HTTP's rules or lb's limits (as nginx, no keep-alive after a 400, 413 or 414).
    const reusable = !lbError.code.startsWith('LB_ERR_CLIENT_') && (ctx.req.complete || !hasBody(ctx.req));
    sendErrorResponse(res, lbError, reusable, ctx.errorFormat === 'json');
  }

  private release(ctx: EngineContext): void {
    const held = ctx.held;
    if (held) {
      held.inFlight--;
      ctx.held = undefined;
    }
  }

  /** Called once per request when its response (or tunnel) closes. */
  finish(ctx: EngineContext, completed: boolean): void {
    if (!this.live.delete(ctx)) return;
    this.release(ctx);
    // An early response left the backend's connection expecting more body: never reuse it.
    const upstreamRequest = ctx.upstreamRequest;
    if (upstreamRequest !== undefined && !upstreamRequest.writableFinished) upstreamRequest.destroy();
    if (!completed) {
      if (!ctx.error) {
        ctx.error = new LbError('LB_ERR_CLIENT_ABORTED');
        this.logger.debug(ctx.error.message, { method: ctx.req.method, path: ctx.req.url, target: ctx.target?.id });
      }
    }
    if (this.usesRequestDone || this.options.accessLog) {
      const tunnel = ctx.tunnel as Socket | undefined;
      const outcome = {
        statusCode: completed ? ctx.res.statusCode : 499, durationMs: performance.now() - ctx.startedAt, error: ctx.error,
        bytesIn: tunnel?.bytesRead, bytesOut: tunnel?.bytesWritten,
      };
      if (this.usesRequestDone) this.hooks.requestDone.call(ctx, outcome);
      if (this.options.accessLog) {
        this.logger.info('request', {
          method: ctx.req.method, path: ctx.req.url, status: outcome.statusCode, target: ctx.target?.id, ms: Math.round(outcome.durationMs * 10) / 10,
          ...(tunnel ? { upgrade: 'websocket', bytesIn: outcome.bytesIn, bytesOut: outcome.bytesOut } : undefined),
        });
      }
    }
    if (this.live.size === 0 && this.idleWaiters.length) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** Resolves when no request or tunnel is in flight. */
  whenIdle(): Promise<void> {
    if (this.live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * A parse error on a request lb is already serving (a malformed chunk, a body cut
   * short): answer it with the error's status if nothing was sent yet, and close.
   */
  failMidRequest(ctx: EngineContext, error: LbError): void {
    ctx.gated?.source.unpipe();
    this.fail(ctx, error);
  }

  /** Cuts every request and tunnel still in flight (the grace period is over). */
  cut(): void {
    for (const ctx of [...this.live]) {
      if (ctx.tunnel) ctx.tunnel.destroy();
      else {
        ctx.res.destroy();
        ctx.req.socket.destroy();
      }
    }
  }

  close(): void {
    this.cut();
    this.proxy.removeAllListeners();
  }
}
