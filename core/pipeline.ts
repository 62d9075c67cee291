import type { IncomingMessage } from 'node:http';
import tapable from 'tapable';
import type { BodyCipher, RequestContext, ResponseContext } from './context.js';
import { LbError, isLbError } from './errors.js';
import type { Logger } from './log.js';
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
  statusCode: number;
  /** Milliseconds from arrival to the end of the response. */
  durationMs: number;
  error: LbError | undefined;
}

function createHooks() {
  return Object.freeze({
    /** After lb listens: start timers (health polling) here. */
    listening: new AsyncSeriesHook<[ListenInfo]>(['info']),
    /** On shutdown, before connections are closed: stop timers, flush state. */
    closing: new AsyncSeriesHook<[]>([]),
    /** Requests under `/.lb/`: a tap that serves the request returns true. */
    serveReserved: new SyncBailHook<[RequestContext], true | undefined>(['ctx']),
    /** Resolves the cipher of an encrypted session (bail: the first cipher wins). */
    encrypt: new AsyncSeriesBailHook<[RequestContext], BodyCipher | undefined>(['ctx']),
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

/**
 * The plugin pipeline: typed hooks declared once, a target pool, a logger.
 * Plugins tap hooks in `apply()`; once lb starts, `seal()` forbids new taps.
 */
export class Pipeline {
  readonly hooks: PipelineHooks = createHooks();
  readonly pool: TargetPool;
  readonly logger: Logger;
  private sealed = false;

  constructor(pool: TargetPool, logger: Logger) {
    this.pool = pool;
    this.logger = logger;
    for (const name of Object.keys(this.hooks) as HookName[]) this.guard(name);
    pool.onStateChange((target, previous, reason) => this.hooks.targetStateChange.call(target, previous, reason));
  }

  get isSealed(): boolean {
    return this.sealed;
  }

  /** Called by the core once every plugin has been applied. */
  seal(): void {
    this.sealed = true;
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

function attribute(fn: AnyFn, type: string, plugin: string, hook: string): AnyFn {
  const wrap = (error: unknown) => {
    // A plugin that deliberately answers a request with an lb error (413, 400...) keeps its code.
    if (isLbError(error) && error.statusCode !== 0) return error;
    const detail = error instanceof Error ? error.message : String(error);
    return new LbError('LB_ERR_PLUGIN_HOOK_FAILED', { plugin, hook, detail }, { cause: error });
  };
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
