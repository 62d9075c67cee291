import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { LbError } from '../errors.js';
import { pluginError } from '../pipeline.js';
import { normalisePath, type ReservedRoutes, type Route, type RouteRequest, type RouteResponse } from '../reserved-routes.js';
import type { EngineContext } from './engine-context.js';

/**
 * Serves a request under /.lb/: the plugin that claimed the path answers; an
 * unclaimed path gets lb's 404 and never reaches a backend. A handler that throws
 * gets the request a 500 naming the plugin; one that neither answers nor starts its
 * response within the route's `timeoutMs`, a 504.
 */
export function serveReserved(routes: ReservedRoutes, ctx: EngineContext, fail: (ctx: EngineContext, error: unknown) => void): void {
  const { req, res } = ctx;
  const raw = req.url ?? '/';
  const path = normalisePath(raw);
  const route = routes.find(path);
  if (!route) {
    fail(ctx, new LbError('LB_ERR_ROUTE_NOT_FOUND', { path: path.slice(0, 200) }));
    return;
  }
  ctx.errorFormat = route.errorFormat;
  const method = req.method ?? 'GET';
  if (!route.methods.includes(method)) {
    res.setHeader('allow', route.methods.join(', '));
    fail(ctx, new LbError('LB_ERR_ROUTE_METHOD', { method: method.slice(0, 20), path, allowed: route.methods.join(', ') }));
    return;
  }
  const q = raw.indexOf('?');
  const request: RouteRequest = {
    req, res, path,
    query: new URLSearchParams(q === -1 ? '' : raw.slice(q + 1)),
    readBody: (maxBytes) => readBody(req, route, path, Math.min(maxBytes ?? Infinity, route.maxBodyBytes)),
  };
  const timer = setTimeout(() => {
    if (!res.headersSent) fail(ctx, new LbError('LB_ERR_ROUTE_TIMEOUT', { plugin: route.plugin, path, timeoutMs: route.timeoutMs }));
  }, route.timeoutMs);
  timer.unref();
  const hook = `route ${route.path}`;
  new Promise<RouteResponse | void>((resolve) => resolve(route.handler(request))).then(
    (result) => {
      clearTimeout(timer);
      if (ctx.error || res.headersSent) return;
      if (result === undefined) {
        fail(ctx, pluginError(new Error('the handler neither returned a response nor wrote one'), route.plugin, hook));
        return;
      }
      send(ctx, result);
    },
    (e: unknown) => {
      clearTimeout(timer);
      fail(ctx, pluginError(e, route.plugin, hook));
    },
  );
}

function send(ctx: EngineContext, result: RouteResponse): void {
  const { res } = ctx;
  const headers: Record<string, string | number | string[] | undefined> = { 'cache-control': 'no-store', ...result.headers };
  let body: string | Buffer;
  if (result.body === undefined) body = '';
  else if (typeof result.body === 'string') {
    body = result.body;
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  } else if (Buffer.isBuffer(result.body)) {
    body = result.body;
    headers['content-type'] ??= 'application/octet-stream';
  } else {
    body = JSON.stringify(result.body);
    headers['content-type'] ??= 'application/json';
  }
  headers['content-length'] = Buffer.byteLength(body);
  res.writeHead(result.status ?? 200, headers as OutgoingHttpHeaders);
  res.end(body);
}

function readBody(req: IncomingMessage, route: Route, path: string, limit: number): Promise<Buffer> {
  const tooLarge = () => new LbError('LB_ERR_ROUTE_BODY_TOO_LARGE', { path, limit });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
