import http from 'node:http';
import type { Socket } from 'node:net';
import type { ResolvedConfig } from './config/resolve.js';
import { clientParseError } from './engine/client-errors.js';
import { sendRawError } from './engine/error-response.js';
import { contextOf } from './engine/request-flow.js';
import { LbError, isLbError } from './errors.js';
import { Generation, KeptState, targetOptions } from './generation.js';
import { createLogger, type Logger } from './log.js';
import type { ListenInfo, Pipeline } from './pipeline.js';
import { describeReload, type ReloadChanges } from './reload.js';
import { TargetRegistry, type TargetPool } from './target-pool.js';

export interface LoadBalancerOptions {
  /** Replaces the logger built from `config.log` (tests capture lines with it). */
  logger?: Logger;
}

/** What a reload did: the generation now serving and what changed, or why it was refused. */
export type ReloadResult =
  | { readonly ok: true; readonly generation: number; readonly ms: number; readonly changes: ReloadChanges }
  | { readonly ok: false; readonly generation: number; readonly error: LbError };

/** Where a reload gets its configuration: a resolved one, or a function that loads and resolves the rc again. */
export type ReloadSource = ResolvedConfig | (() => Promise<ResolvedConfig>);

/** A running (or ready to run) lb: its listener, its targets, and the generation serving now. */
export interface LoadBalancer {
  /** The pipeline of the generation serving new requests. */
  readonly pipeline: Pipeline;
  /** The targets of the generation serving new requests. */
  readonly pool: TargetPool;
  readonly generation: Generation;
  readonly server: http.Server;
  readonly logger: Logger;
  /** Builds its first generation's plugins' `start`, then listens; resolves with the address once bound. */
  listen(port?: number, host?: string): Promise<ListenInfo>;
  /**
   * Builds a new generation from `source`, starts it and swaps it in: new requests go
   * to it, requests in flight finish on the old one, which stops once drained (at most
   * `timeouts.shutdownGraceMs`). A refused reload (invalid config, a plugin failing in
   * apply or start, a listener change) changes nothing. Reloads run one at a time;
   * several asked for meanwhile run once, with the latest source.
   */
  reload(source: ReloadSource): Promise<ReloadResult>;
  /**
   * Stops accepting connections, lets in-flight requests finish for up to
   * `timeouts.shutdownGraceMs`, then closes every connection. Resolves when done.
   */
  close(): Promise<void>;
}

/**
 * Builds an lb from a resolved configuration: the long-lived parts (the client-facing
 * server, the target registry with each backend's state and connections) and its
 * first generation (the strategy and every plugin applied to a sealed pipeline).
 * Call `listen()` to start serving.
 */
export async function createLoadBalancer(resolved: ResolvedConfig, options: LoadBalancerOptions = {}): Promise<LoadBalancer> {
  const { config } = resolved;
  const logger = options.logger ?? createLogger({ level: config.log.level, format: config.log.format });
  const registry = new TargetRegistry(targetOptions(resolved));
  const kept = new KeptState();
  let current = await Generation.build(1, resolved, registry, logger, kept);
  registry.activate(current.pipeline.pool);
  /** Generations replaced by a reload and still draining. */
  const retiring = new Set<Generation>();

  const t = config.timeouts;
  const server = http.createServer({
    maxHeaderSize: config.limits.maxHeaderBytes,
    headersTimeout: t.headerMs,
    // Whole-request limit off: a large upload may take long; silence is bounded per phase instead.
    requestTimeout: 0,
    keepAliveTimeout: t.clientIdleMs,
    // How often Node checks header timeouts; the default (30 s) would let a slow client far past headerMs.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(t.headerMs / 4))),
    // lb checks Host itself (checkRequestHead), to answer with its own error body and a log line.
    requireHostHeader: false,
  });
  server.on('request', (req, res) => current.engine.handleRequest(req, res));
  server.on('upgrade', (req, socket, head) => current.engine.handleUpgrade(req, socket, head));
  server.maxHeadersCount = config.limits.maxHeaderCount + 1;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const code = error.code ?? '';
    if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable) {
      socket.destroy();
      return;
    }
    const c = current.resolved.config;
    const lbError = clientParseError(error, { maxHeaderBytes: c.limits.maxHeaderBytes, headerMs: c.timeouts.headerMs });
    // A request already being served (a malformed chunk mid-body): its engine answers and logs it.
    const ctx = contextOf((socket as Socket & { _httpMessage?: unknown })._httpMessage);
    if (ctx) {
      ctx.owner.failMidRequest(ctx, lbError);
      socket.destroySoon();
      return;
    }
    logger.warn(lbError.message, { code: lbError.code, status: lbError.statusCode, remote: socket.remoteAddress });
    if (!(socket as Socket & { _httpMessage?: unknown })._httpMessage) sendRawError(socket, lbError.statusCode, lbError.code);
    socket.destroySoon();
  });

  let listenInfo: ListenInfo | undefined;
  let closing: Promise<void> | undefined;

  const listen = async (port = config.listen.port, host = config.listen.host): Promise<ListenInfo> => {
    await current.start();
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        reject(new LbError('LB_ERR_LISTEN_FAILED', { address: `${host}:${port}`, detail: e.code ?? e.message }, { cause: e }));
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    const address = server.address();
    const boundPort = typeof address === 'object' && address ? address.port : port;
    const urlHost = host.includes(':') ? `[${host}]` : host;
    listenInfo = { host, port: boundPort, url: `http://${urlHost}:${boundPort}` };
    await current.activate(listenInfo);
    return listenInfo;
  };

  /** Lets a replaced generation finish its requests, then stops it (cutting what is left after the grace period). */
  const drain = async (old: Generation) => {
    retiring.add(old);
    await old.retire();
    const graceMs = old.resolved.config.timeouts.shutdownGraceMs;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'grace'>((resolve) => { timer = setTimeout(resolve, graceMs, 'grace'); });
    const ended = await Promise.race([old.whenIdle().then(() => 'idle' as const), grace]);
    clearTimeout(timer);
    if (ended === 'grace' && old.engine.active > 0) {
      logger.warn(`generation ${old.number}: grace period over; closing its remaining requests`, { inFlight: old.engine.active });
    }
    await old.stop();
    retiring.delete(old);
    await kept.release(livePlugins());
  };
  const livePlugins = () => new Set([current, ...retiring].flatMap((g) => g.resolved.applyOrder.map((p) => p.plugin.name)));

  const swap = async (source: ReloadSource): Promise<ReloadResult> => {
    const started = performance.now();
    const from = current;
    let next: Generation | undefined;
    try {
      const resolvedNext = typeof source === 'function' ? await source() : source;
      for (const field of ['host', 'port'] as const) {
        const before = from.resolved.config.listen[field];
        const after = resolvedNext.config.listen[field];
        if (before !== after) throw new LbError('LB_ERR_RELOAD_LISTEN_CHANGED', { field: `listen.${field}`, from: String(before), to: String(after) });
      }
      next = await Generation.build(from.number + 1, resolvedNext, registry, logger, kept);
      await next.start();
    } catch (e) {
      const error = isLbError(e) ? e : new LbError('LB_ERR_RELOAD_FAILED', { detail: e instanceof Error ? e.message : String(e) }, { cause: e });
      if (next) await next.stop();
      await kept.release(livePlugins());
      logger.error(`reload refused; generation ${from.number} keeps serving: ${error.message} (${error.code})${error.details.length ? `\n${error.details.join('\n')}` : ''}`, { generation: from.number, code: error.code });
      return { ok: false, generation: from.number, error };
    }
    const nc = next.resolved.config;
    server.headersTimeout = nc.timeouts.headerMs;
    server.keepAliveTimeout = nc.timeouts.clientIdleMs;
    (server as http.Server & { maxHeaderSize?: number }).maxHeaderSize = nc.limits.maxHeaderBytes;
    server.maxHeadersCount = nc.limits.maxHeaderCount + 1;
    current = next;
    const targets = registry.activate(next.pipeline.pool);
    if (listenInfo) await next.activate(listenInfo).catch((e: unknown) => logger.error('listening hook failed', { detail: (e as Error).message, generation: next.number }));
    const ms = Math.round((performance.now() - started) * 10) / 10;
    const changes = describeReload(from.resolved, next.resolved, targets);
    logger.info(`reload: generation ${next.number} serving`, { generation: next.number, ms, ...changes.fields });
    void drain(from);
    return { ok: true, generation: next.number, ms, changes };
  };

  // One reload at a time; reloads asked for while one runs collapse into one more, with the latest source.
  let running: Promise<ReloadResult> | undefined;
  let queued: { source: ReloadSource; promise: Promise<ReloadResult>; resolve: (r: ReloadResult) => void } | undefined;
  const reload = (source: ReloadSource): Promise<ReloadResult> => {
    if (closing) return Promise.resolve({ ok: false, generation: current.number, error: new LbError('LB_ERR_RELOAD_FAILED', { detail: 'lb is shutting down' }) });
    if (!running) {
      running = swap(source).finally(() => {
        running = undefined;
        const next = queued;
        queued = undefined;
        if (next) reload(next.source).then(next.resolve);
      });
      return running;
    }
    if (queued) {
      queued.source = source;
      return queued.promise;
    }
    let resolve!: (r: ReloadResult) => void;
    const promise = new Promise<ReloadResult>((r) => { resolve = r; });
    queued = { source, promise, resolve };
    return promise;
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      await running?.catch(() => undefined);
      const all = () => [current, ...retiring];
      for (const g of all()) g.engine.draining = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await current.retire();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => { timer = setTimeout(resolve, current.resolved.config.timeouts.shutdownGraceMs); });
      await Promise.race([Promise.all(all().map((g) => g.whenIdle())), grace]);
      clearTimeout(timer);
      const inFlight = all().reduce((n, g) => n + g.engine.active, 0);
      if (inFlight > 0) logger.warn('shutdown grace period over; closing remaining connections', { inFlight });
      server.closeAllConnections();
      await Promise.all(all().map((g) => g.stop()));
      await kept.release(new Set());
      registry.destroy();
      await stopped;
    })();
    return closing;
  };

  return {
    get pipeline() { return current.pipeline; },
    get pool() { return current.pipeline.pool; },
    get generation() { return current; },
    server, logger, listen, reload, close,
  };
}
