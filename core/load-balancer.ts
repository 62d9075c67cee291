import http from 'node:http';
import type { Socket } from 'node:net';
import type { ResolvedConfig } from './config/resolve.js';
import { LbError, isLbError } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { Pipeline, type ListenInfo } from './pipeline.js';
import { ProxyEngine } from './proxy-engine.js';
import { TargetPool } from './target-pool.js';

export interface LoadBalancerOptions {
  /** Replaces the logger built from `config.log` (tests capture lines with it). */
  logger?: Logger;
}

/** A running (or ready to run) lb: its pipeline, target pool and client-facing server. */
export interface LoadBalancer {
  readonly pipeline: Pipeline;
  readonly pool: TargetPool;
  readonly server: http.Server;
  readonly logger: Logger;
  /** Starts listening; resolves with the address once bound. */
  listen(port?: number, host?: string): Promise<ListenInfo>;
  /**
   * Stops accepting connections, lets in-flight requests finish for up to
   * `timeouts.shutdownGraceMs`, then closes every connection. Resolves when done.
   */
  close(): Promise<void>;
}

/** Writes the raw response for a request Node rejected before lb saw it (bad syntax, slow headers). */
function rejectClient(socket: Socket, status: number, code: string): void {
  if (socket.writable && !(socket as Socket & { _httpMessage?: unknown })._httpMessage) {
    const reason = http.STATUS_CODES[status] ?? 'Error';
    const body = `${status} ${reason} (${code})\n`;
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroySoon();
}

/**
 * Builds an lb from a resolved configuration: creates the target pool and the
 * pipeline, applies the strategy and every plugin, seals the pipeline, and creates
 * the client-facing HTTP server. Call `listen()` to start serving.
 */
export async function createLoadBalancer(resolved: ResolvedConfig, options: LoadBalancerOptions = {}): Promise<LoadBalancer> {
  const { config } = resolved;
  const t = config.timeouts;
  const logger = options.logger ?? createLogger({ level: config.log.level, format: config.log.format });
  const pool = new TargetPool(resolved.backends, {
    connectMs: t.connectMs,
    upstreamMs: t.upstreamMs,
    upstreamIdleMs: t.upstreamIdleMs,
    maxSocketsPerTarget: config.limits.maxSocketsPerTarget,
  });
  const pipeline = new Pipeline(pool, logger);
  // Transitions are logged once, here, whoever caused them.
  pipeline.hooks.targetStateChange.tap('lb:core', (target, previous, reason) => {
    const log = target.state === 'up' ? logger.info : logger.warn;
    log(`target ${target.id} is ${target.state}`, { previous, reason });
  });


  for (const { plugin, options: pluginOptions } of [resolved.strategy, ...resolved.plugins]) {
    try {
      await plugin.apply(pipeline, pluginOptions);
    } catch (e) {
      if (isLbError(e)) throw e;
      throw new LbError('LB_ERR_PLUGIN_HOOK_FAILED', { plugin: plugin.name, hook: 'apply', detail: (e as Error).message }, { cause: e });
    }
  }
  pipeline.seal();

  const engine = new ProxyEngine(pipeline, { accessLog: config.log.access, retries: config.retries.count, idempotentOnReset: config.retries.idempotentOnReset });
  const server = http.createServer({
    maxHeaderSize: config.limits.maxHeaderBytes,
    headersTimeout: t.headerMs,
    // Whole-request limit off: a large upload may take long; silence is bounded per phase instead.
    requestTimeout: 0,
    keepAliveTimeout: t.clientIdleMs,
    // How often Node checks header timeouts; the default (30 s) would let a slow client far past headerMs.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(t.headerMs / 4))),
  });
  server.on('request', engine.handleRequest);
  server.on('upgrade', engine.handleUpgrade);
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const code = error.code ?? '';
    if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable) {
      socket.destroy();
      return;
    }
    let lbError: LbError;
    if (code === 'ERR_HTTP_REQUEST_TIMEOUT') lbError = new LbError('LB_ERR_CLIENT_HEADER_TIMEOUT', { timeoutMs: t.headerMs });
    else if (code === 'HPE_HEADER_OVERFLOW') lbError = new LbError('LB_ERR_CLIENT_HEADERS_TOO_LARGE', { limit: config.limits.maxHeaderBytes });
    else lbError = new LbError('LB_ERR_CLIENT_BAD_REQUEST', { detail: `${code} ${error.message}`.trim() });
    logger.warn(lbError.message, { code: lbError.code, status: lbError.statusCode, remote: socket.remoteAddress });
    rejectClient(socket, lbError.statusCode, lbError.code);
  });

  let listenInfo: ListenInfo | undefined;
  let closing: Promise<void> | undefined;

  const listen = (port = config.listen.port, host = config.listen.host): Promise<ListenInfo> =>
    new Promise((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        reject(new LbError('LB_ERR_LISTEN_FAILED', { address: `${host}:${port}`, detail: e.code ?? e.message }, { cause: e }));
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        const address = server.address();
        const boundPort = typeof address === 'object' && address ? address.port : port;
        const urlHost = host.includes(':') ? `[${host}]` : host;
        listenInfo = { host, port: boundPort, url: `http://${urlHost}:${boundPort}` };
        pipeline.hooks.listening.promise(listenInfo).then(() => resolve(listenInfo!), reject);
      });
    });

  const close = (): Promise<void> => {
    closing ??= (async () => {
      engine.draining = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await pipeline.hooks.closing.promise().catch((e: unknown) => logger.error('closing hook failed', { detail: (e as Error).message }));
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => { timer = setTimeout(resolve, t.shutdownGraceMs); });
      await Promise.race([engine.whenIdle(), grace]);
      clearTimeout(timer);
      if (engine.active > 0) logger.warn('shutdown grace period over; closing remaining connections', { inFlight: engine.active });
      server.closeAllConnections();
      engine.close();
      pool.destroy();
      await stopped;
    })();
    return closing;
  };

  return { pipeline, pool, server, logger, listen, close };
}
