import type { IncomingMessage } from 'node:http';
import tapable from 'tapable';
import type { BodyCipher, RequestContext, ResponseContext } from './context.js';
import { LbError, isLbError } from './errors.js';
import type { Logger } from './log.js';
import { ReservedRoutes, type Route, type RouteSpec } from './reserved-routes.js';
import { Services } from './services.js';
import type { Target, TargetMetrics, TargetPool, TargetState } from './target-pool.js';

const { AsyncParallelHook, AsyncSeriesBailHook, AsyncSeriesHook, AsyncSeriesWaterfallHook, SyncBailHook, SyncHook } = tapable;

/**
 * Named stages for ordering taps (`hook.tap({ name, stage: Stage.ENCODE }, fn)`).
 * Order never depends on the order of plugins in the rc.
 */
export const Stage = Object.freeze({
  /** Undo an encoding (request decompression). */
  DECODE: -200,
  /** Before ordinary work: filters, sticky routing, authentication. */
  EARLY: -100,
  NORMAL: 0,
  LATE: 100,
  /** Apply an encoding (response compression). The core adds encryption after all stages. */
  ENCODE: 200,
  /** Strategies tap selectTarget here, after every filter has had its say. */
  STRATEGY: 1000,
});

/** What a health probe fills in about one target. */
export interface HealthReport {
  /** Set to false by a probe that found the target unhealthy. */
  ok: boolean;
  /** Why the probe failed, for the log. */
  reason?: string;
  /** Round-trip of the probe, in ms. */
  latencyMs?: number;
  /** Load the target reported. */
  metrics?: TargetMetrics;
}

/** Where lb listens, given to the `listening` hook. */
export interface ListenInfo {
  url: string;
  host: string;
  port: number;
}

/** How a request ended, given to the `requestDone` hook. */
export interface RequestOutcome {
  /** The status sent (101 for a WebSocket upgrade that was tunnelled); 499 when the client went away first. */
  statusCode: number;
  /** Milliseconds from arrival to the end of the response (of the tunnel, for an upgrade). */
  durationMs: number;
  error: LbError | undefined;
  /** For WebSocket upgrades: bytes read from and written to the client over the tunnel's life. */
  bytesIn?: number;
  bytesOut?: number;
}

function createHooks() {
  return Object.freeze({
    /** The generation starts serving (lb listens, or a reload swapped it in), with where lb listens. */
    listening: new AsyncSeriesHook<[ListenInfo]>(['info']),
    /** The generation stops taking new requests (shutdown, or a reload replaced it); its requests in flight still finish. */
    closing: new AsyncSeriesHook<[]>([]),
    /** Resolves the cipher of an encrypted session (bail: the first cipher wins). */
    encrypt: new AsyncSeriesBailHook<[RequestContext], BodyCipher | undefined>(['ctx']),
    /** A WebSocket upgrade, before a target is chosen: throw an LbError (401, 403, 429...) to refuse it. */
    beforeUpgrade: new AsyncSeriesHook<[RequestContext]>(['ctx']),
    /** Edits the request (headers, body stages) before a target is chosen. */
    transformRequest: new AsyncSeriesWaterfallHook<[RequestContext]>(['ctx']),
    /** Picks one of the candidate targets (bail); nothing picked answers 503. Must not do I/O. */
    selectTarget: new SyncBailHook<[RequestContext, readonly Target[]], Target | undefined>(['ctx', 'candidates']),
    /** Every response header block from a backend, as it arrives (passive health, in-band load reports). */
    upstreamResponse: new SyncHook<[RequestContext, IncomingMessage]>(['ctx', 'upstream']),
    /** An attempt to a backend failed (connect, timeout, reset). */
    upstreamError: new SyncHook<[RequestContext, LbError]>(['ctx', 'error']),
    /** Edits the response (status, headers, body stages) before it goes to the client. */
    transformResponse: new AsyncSeriesWaterfallHook<[ResponseContext]>(['response']),
    /** A request finished, successfully or not (logs, metrics). */
    requestDone: new SyncHook<[RequestContext, RequestOutcome]>(['ctx', 'outcome']),
    /** Health probes for one target, run in parallel; each fills in the report. */
    healthCheck: new AsyncParallelHook<[Target, HealthReport]>(['target', 'report']),
    /** A target went up or down. */
    targetStateChange: new SyncHook<[Target, TargetState, string]>(['target', 'previous', 'reason']),
  });
}

/** Every hook of the pipeline, by name. */
export type PipelineHooks = ReturnType<typeof createHooks>;
export type HookName = keyof PipelineHooks;

type AnyFn = (...args: unknown[]) => unknown;

/** Where `Pipeline.keep` stores values (the load balancer's KeptState). */
export interface KeepStore {
  get<T>(plugin: string, key: string, init: () => T): T;
}

class LocalKeepStore implements KeepStore {
  private readonly map = new Map<string, unknown>();
  get<T>(plugin: string, key: string, init: () => T): T {
    const id = `${plugin}\u0000${key}`;
    if (!this.map.has(id)) this.map.set(id, init());
    return this.map.get(id) as T;
  }
}

/** Claims paths under /.lb/ for the plugin being applied. */
export interface PipelineRoutes {
  /** Claims a path (or prefix) for the plugin being applied; a clash with another plugin's claim fails start-up. */
  claim(spec: RouteSpec): void;
  list(): readonly Route[];
}

/**
 * The plugin pipeline of one generation: typed hooks declared once, the target pool,
 * reserved routes, services between plugins, a logger. Plugins tap hooks, claim
 * routes and provide services in `apply()`; then `seal()` forbids all three.
 */
export class Pipeline {
  readonly hooks: PipelineHooks = createHooks();
  /** This generation's targets. Read it when you need them; the next generation gets another. */
  readonly pool: TargetPool;
  readonly logger: Logger;
  /** Services between plugins (see `provides` and `requires` on the plugin). */
  readonly services: Services;
  readonly routes: PipelineRoutes;
  /** @internal the routes, for the engine. */
  readonly routeTable = new ReservedRoutes();
  /** @internal the plugin being applied, set by the generation. */
  applying: string | undefined = undefined;
  private sealed = false;

  private readonly kept: KeepStore;

  constructor(pool: TargetPool, logger: Logger, services: Services = new Services(new Map()), kept: KeepStore = new LocalKeepStore()) {
    this.pool = pool;
    this.logger = logger;
    this.services = services;
    this.kept = kept;
    const table = this.routeTable;
    this.routes = Object.freeze({
      claim: (spec: RouteSpec) => table.claim(this.applying ?? 'unknown', spec),
      list: () => table.list(),
    });
    for (const name of Object.keys(this.hooks) as HookName[]) this.guard(name);
    pool.onStateChange((target, previous, reason) => this.hooks.targetStateChange.call(target, previous, reason));
  }

  /**
   * State the plugin being applied keeps across reloads: `init` runs the first time
   * (for this plugin and key), later generations get the same value. It is closed
   * (`close()`, if it has one) once the plugin is in no live generation, or at shutdown.
   * Use it for state that clients rely on (sessions, rate-limit buckets); anything
   * else is simpler rebuilt per generation.
   */
  keep<T>(key: string, init: () => T): T {
    if (this.sealed || !this.applying) throw new LbError('LB_ERR_PIPELINE_SEALED', { hook: `keep(${key})`, plugin: this.applying ?? 'unknown' });
    return this.kept.get(this.applying, key, init);
  }

  get isSealed(): boolean {
    return this.sealed;
  }

  /** Called by the core once every plugin has been applied. */
  seal(): void {
    this.sealed = true;
    this.routeTable.seal();
    this.services.seal();
  }

  /**
   * A `register` interceptor runs once per tap, not per call: it refuses taps after
   * sealing and callback-style taps, and wraps each tap so that an error names the
   * plugin and the hook.
   */
  private guard(hookName: HookName): void {
    const hook = this.hooks[hookName] as unknown as { intercept(i: object): void };
    hook.intercept({
      register: (tap: { name: string; type: string; fn: AnyFn }) => {
        if (this.sealed) throw new LbError('LB_ERR_PIPELINE_SEALED', { hook: hookName, plugin: tap.name });
        if (tap.type === 'async') throw new LbError('LB_ERR_PIPELINE_CALLBACK_TAP', { hook: hookName, plugin: tap.name });
        return { ...tap, fn: attribute(tap.fn, tap.type, tap.name, hookName) };
      },
    });
  }
}

/**
 * What a plugin's failure in a hook (or a route, or apply) becomes: an lb error it
 * raised on purpose (413, 400...) keeps its code; anything else is
 * LB_ERR_PLUGIN_HOOK_FAILED naming the plugin and the hook.
 */
export function pluginError(error: unknown, plugin: string, hook: string): LbError {
  if (isLbError(error) && error.statusCode !== 0) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new LbError('LB_ERR_PLUGIN_HOOK_FAILED', { plugin, hook, detail }, { cause: error });
}

function attribute(fn: AnyFn, type: string, plugin: string, hook: string): AnyFn {
  const wrap = (error: unknown) => pluginError(error, plugin, hook);
  if (type === 'promise') {
    return (...args) => (fn(...args) as Promise<unknown>).then(undefined, (e: unknown) => { throw wrap(e); });
  }
  return (...args) => {
    try {
      return fn(...args);
    } catch (e) {
      throw wrap(e);
    }
  };
}
