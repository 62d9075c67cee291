import http, { type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ProxyServer } from 'http-proxy-3';
import { LbError, isLbError } from '../errors.js';
import { prepareRequestHeaders } from '../headers.js';
import type { Logger } from '../log.js';
import type { PipelineHooks } from '../pipeline.js';
import { isReserved, normalisePath } from '../reserved-routes.js';
import type { Target, TargetPool } from '../target-pool.js';
import { EngineContext, type RequestOwner } from './engine-context.js';
import { classifyUpstreamError, sendRawError } from './error-response.js';

/** What a WebSocket upgrade needs from the engine. */
export interface UpgradeEngine extends RequestOwner {
  readonly hooks: PipelineHooks;
  readonly pool: TargetPool;
  readonly logger: Logger;
  readonly proxy: ProxyServer;
  readonly usesBeforeUpgrade: boolean;
  readonly usesUpstreamError: boolean;
  /** Counts the request as active (for draining and reload) until `finish`. */
  admit(ctx: EngineContext): void;
}

/**
 * A WebSocket upgrade: counted as active from arrival until the tunnel closes (so
 * shutdown and reload wait for it, up to the grace period), refused by any
 * `beforeUpgrade` tap that throws, sent to the target the strategy picks, and
 * reported to `requestDone` and the access log once closed, with its bytes.
 */
export function handleUpgrade(e: UpgradeEngine, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const res = new http.ServerResponse(req);
  const ctx = new EngineContext(req, res, performance.now(), e);
  ctx.tunnel = socket;
  e.admit(ctx);
  socket.once('close', () => e.finish(ctx, true));
  // Node removed its own listener on upgrade: a client reset while a hook runs would otherwise crash lb.
  socket.on('error', () => socket.destroy());
  const refuse = (error: LbError) => {
    if (ctx.error) return;
    ctx.error = error;
    res.statusCode = error.statusCode || 500;
    e.logger.warn(error.message, { code: error.code, path: req.url, target: ctx.target?.id, status: res.statusCode, upgrade: 'websocket' });
    sendRawError(socket, res.statusCode, error.code);
    (socket as Socket).destroySoon();
  };
  const proceed = () => {
    if (socket.destroyed) return;
    const available = e.pool.available;
    let target: Target | undefined;
    try {
      target = available.length ? e.hooks.selectTarget.call(ctx, available) : undefined;
    } catch (error) {
      refuse(isLbError(error) ? error : classifyUpstreamError(error, undefined));
      return;
    }
    if (!target) {
      refuse(new LbError('LB_ERR_TARGET_NONE_AVAILABLE'));
      return;
    }
    const chosen = target;
    prepareRequestHeaders(req, true);
    ctx.target = chosen;
    ctx.held = chosen;
    ctx.attempts = 1;
    chosen.inFlight++;
    res.statusCode = 101;
    e.proxy.ws(req, socket, head, { target: chosen.url, agent: chosen.agent }, (error: Error) => {
      const lbError = classifyUpstreamError(error, chosen);
      if (e.usesUpstreamError && lbError.source === 'upstream') e.hooks.upstreamError.call(ctx, lbError);
      refuse(lbError);
    });
  };
  // Paths under /.lb/ are never proxied, upgrades included; no reserved route serves upgrades.
  if (req.url !== undefined && isReserved(req.url)) {
    refuse(new LbError('LB_ERR_ROUTE_NOT_FOUND', { path: normalisePath(req.url).slice(0, 200) }));
    return;
  }
  if (!e.usesBeforeUpgrade) {
    proceed();
    return;
  }
  e.hooks.beforeUpgrade.promise(ctx).then(proceed, (error: unknown) => refuse(error as LbError));
}
