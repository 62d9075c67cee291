import type { ResolvedConfig, ResolvedPlugin } from './config/resolve.js';
import { isLbError } from './errors.js';
import { ProxyEngine } from './engine/request-flow.js';
import type { Logger } from './log.js';
import { Pipeline, pluginError, type ListenInfo } from './pipeline.js';
import type { PluginLifecycle } from './plugin.js';
import { Services } from './services.js';
import type { TargetOptions, TargetRegistry } from './target-pool.js';

/** The target options a configuration sets. */
export function targetOptions(resolved: ResolvedConfig): TargetOptions {
  const t = resolved.config.timeouts;
  return { connectMs: t.connectMs, upstreamMs: t.upstreamMs, upstreamIdleMs: t.upstreamIdleMs, maxSocketsPerTarget: resolved.config.limits.maxSocketsPerTarget };
}

/**
 * One generation: a sealed pipeline with its plugins, built from one validated
 * configuration, and the engine that serves its requests. The long-lived parts
 * (listeners, targets and their agents) belong to the load balancer; a reload builds
 * the next generation beside this one, swaps it in, and stops this one once drained.
 */
export class Generation {
  readonly number: number;
  readonly resolved: ResolvedConfig;
  readonly pipeline: Pipeline;
  readonly engine: ProxyEngine;
  /** When it was built (ms since epoch). */
  readonly loadedAt = Date.now();
  private readonly lifecycles: Array<{ name: string; lifecycle: PluginLifecycle }>;
  private started: Array<{ name: string; lifecycle: PluginLifecycle }> = [];
  private stopped: Promise<void> | undefined;

  private constructor(number: number, resolved: ResolvedConfig, pipeline: Pipeline, lifecycles: Array<{ name: string; lifecycle: PluginLifecycle }>) {
    this.number = number;
    this.resolved = resolved;
    this.pipeline = pipeline;
    this.lifecycles = lifecycles;
    this.engine = new ProxyEngine(pipeline, {
      accessLog: resolved.config.log.access, retries: resolved.config.retries.count, idempotentOnReset: resolved.config.retries.idempotentOnReset,
      limits: resolved.config.limits, lingerMs: resolved.config.timeouts.lingerMs,
    });
  }

  /**
   * Applies the strategy and every plugin (service providers before the plugins that
   * require them) to a new pipeline over a pool from `registry`, and seals it. On
   * failure the pool is released and the error names the plugin.
   */
  static async build(number: number, resolved: ResolvedConfig, registry: TargetRegistry, logger: Logger, kept: KeptState): Promise<Generation> {
    const pool = registry.createPool(resolved.backends, targetOptions(resolved));
    const services = new Services(resolved.services.chosen);
    const pipeline = new Pipeline(pool, logger, services, kept);
    // Transitions are logged once, here, whoever caused them.
    pipeline.hooks.targetStateChange.tap('lb:core', (target, previous, reason) => {
      const log = target.state === 'up' ? logger.info : logger.warn;
      log(`target ${target.id} is ${target.state}`, { previous, reason });
    });
    const lifecycles: Array<{ name: string; lifecycle: PluginLifecycle }> = [];
    try {
      for (const entry of resolved.applyOrder) {
        const lifecycle = await apply(pipeline, services, entry);
        if (lifecycle) lifecycles.push({ name: entry.plugin.name, lifecycle });
      }
      pipeline.seal();
      return new Generation(number, resolved, pipeline, lifecycles);
    } catch (e) {
      pool.destroy();
      throw e;
    }
  }

  /** Runs every plugin's `start`; if one throws, stops those already started and rethrows naming it. */
  async start(): Promise<void> {
    for (const entry of this.lifecycles) {
      if (!entry.lifecycle.start) {
        this.started.push(entry);
        continue;
      }
      try {
        await entry.lifecycle.start();
        this.started.push(entry);
      } catch (e) {
        await this.stop();
        throw pluginError(e, entry.name, 'start');
      }
    }
  }

  /** The generation now takes new requests. */
  activate(info: ListenInfo): Promise<void> {
    return this.pipeline.hooks.listening.promise(info);
  }

  /** The generation takes no more new requests; its requests in flight go on. */
  async retire(): Promise<void> {
    await this.pipeline.hooks.closing.promise().catch((e: unknown) => this.pipeline.logger.error('closing hook failed', { detail: (e as Error).message }));
  }

  /** Resolves once no request of this generation is in flight. */
  whenIdle(): Promise<void> {
    return this.engine.whenIdle();
  }

  /**
   * Stops the plugins (in reverse order of start), cuts whatever is still in flight,
   * and releases the pool (closing the targets no other generation holds). Once.
   */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      for (const { name, lifecycle } of this.started.reverse()) {
        try {
          await lifecycle.stop?.();
        } catch (e) {
          this.pipeline.logger.error(pluginError(e, name, 'stop').message, { generation: this.number });
        }
      }
      this.started = [];
      this.engine.close();
      this.pipeline.pool.destroy();
    })();
    return this.stopped;
  }
}

async function apply(pipeline: Pipeline, services: Services, entry: ResolvedPlugin): Promise<PluginLifecycle | undefined> {
  const { plugin, options } = entry;
  pipeline.applying = plugin.name;
  services.applying = { name: plugin.name, provides: plugin.provides ?? [], requires: plugin.requires ?? [] };
  try {
    const result = await plugin.apply(pipeline, options);
    services.checkProvided(plugin.name, plugin.provides ?? []);
    return result && typeof result === 'object' ? result : undefined;
  } catch (e) {
    // lb's own refusals (a route clash, a service not provided) stand as they are.
    throw isLbError(e) ? e : pluginError(e, plugin.name, 'apply');
  } finally {
    pipeline.applying = undefined;
    services.applying = undefined;
  }
}

/**
 * State plugins keep across reloads (`pipeline.keep`): a session store, back-off
 * counters. Owned by the load balancer, keyed by plugin and key; a value is closed
 * (its `close()` called, if it has one) when no live generation has its plugin any
 * more, or when lb shuts down.
 */
export class KeptState {
  private readonly values = new Map<string, { plugin: string; value: unknown }>();

  get<T>(plugin: string, key: string, init: () => T): T {
    const id = `${plugin}\u0000${key}`;
    let entry = this.values.get(id);
    if (!entry) {
      entry = { plugin, value: init() };
      this.values.set(id, entry);
    }
    return entry.value as T;
  }

  /** Closes the values of plugins in none of `live`. */
  async release(live: ReadonlySet<string>): Promise<void> {
    for (const [id, entry] of this.values) {
      if (live.has(entry.plugin)) continue;
      this.values.delete(id);
      try {
        await (entry.value as { close?(): unknown }).close?.();
      } catch (e) {
        // A failing close must not take the proxy down; the caller logs nothing, so say it here.
        process.emitWarning(`lb: closing the state plugin "${entry.plugin}" kept failed: ${(e as Error).message}`);
      }
    }
  }
}
