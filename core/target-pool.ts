import type http from 'node:http';
import { createUpstreamAgent, updateUpstreamAgent, type UpstreamTimeouts } from './upstream-agent.js';

/**
 * Whether a target may receive requests: `up`; `down` (failed active health checks,
 * back after `rise` passes); `ejected` (passive health: failed live traffic, back
 * after a back-off period).
 */
export type TargetState = 'up' | 'down' | 'ejected';

/** Consecutive-result thresholds of active health checks, with HAProxy's meaning. */
export interface HealthThresholds {
  /** Consecutive successful checks that bring a down target back up. */
  rise: number;
  /** Consecutive failed checks that take an up target down. */
  fall: number;
}

/** Load a backend reports about itself (filled in by health plugins). Fractions are 0..1. */
export interface TargetMetrics {
  /** CPU utilisation over the last interval, 0..1. */
  cpu?: number;
  /** Memory in use, 0..1 of the total. */
  memory?: number;
  /** One-minute load average divided by the number of cores. */
  load?: number;
  /** Other named figures a plugin reports. */
  [name: string]: number | undefined;
}

/** The share a recovering target starts its slow-start ramp from. */
export const SLOW_START_MIN_FACTOR = 0.1;

/** How a backend is described in configuration. */
export interface TargetSpec {
  url: string;
  weight?: number;
  /** Port active health checks poll on the backend's host instead of the health plugin's own. */
  healthPort?: number;
}

export interface TargetOptions extends UpstreamTimeouts {
  /** Most connections kept open per backend at once (0: no limit). */
  maxSocketsPerTarget: number;
}

/**
 * One backend: its address, weight, health state, in-flight count and latest metrics.
 * Long-lived: a reload that keeps the backend (same URL) keeps its Target, and so its
 * health, in-flight count, metrics and connections; only `weight` and `healthPort`
 * follow the new configuration.
 */
export class Target {
  /** `host:port`, unique within a pool. */
  readonly id: string;
  /** Parsed once; handed to the proxy as is, so no request parses it again. */
  readonly url: URL;
  /** Relative share for weighted strategies (updated by a reload). */
  weight: number;
  /** The keep-alive agent that holds this backend's connections. */
  readonly agent: http.Agent;
  state: TargetState = 'up';
  /** Requests sent to this target whose responses have not finished. */
  inFlight = 0;
  /** Latest load report, and when it arrived (ms since epoch; 0 = never). */
  metrics: TargetMetrics = {};
  metricsAt = 0;
  /** Why the target last changed state. */
  reason = '';
  /** When the state last changed (ms since epoch); slow start measures from here. */
  changedAt = Date.now();
  /**
   * Length of the slow-start ramp after the target last came back up, in ms (0: none).
   * Set by a health plugin; strategies scale the target's share by `slowStartFactor()`.
   */
  slowStartMs = 0;
  /** Consecutive passed and failed active checks. */
  passes = 0;
  failures = 0;
  /** @internal timer that ends a passive ejection. */
  ejectionTimer: NodeJS.Timeout | undefined = undefined;

  /** Port active health checks poll on this backend's host, when it has its own (else the plugin's setting). */
  healthPort: number | undefined;

  constructor(spec: TargetSpec, options: TargetOptions) {
    this.url = new URL(spec.url);
    this.id = this.url.host;
    this.weight = spec.weight ?? 1;
    this.healthPort = spec.healthPort;
    this.agent = createUpstreamAgent(this.url, options, options.maxSocketsPerTarget);
  }

  /**
   * The fraction of its normal share the target should get now: 1 outside a ramp;
   * during one, from 0.1 (HAProxy's and Envoy's floor) rising linearly to 1 over
   * `ms` (the target's own `slowStartMs` unless a strategy has its own) after `changedAt`.
   */
  slowStartFactor(now = Date.now(), ms = this.slowStartMs): number {
    if (ms <= 0 || this.state !== 'up') return 1;
    const f = (now - this.changedAt) / ms;
    return f >= 1 ? 1 : Math.max(SLOW_START_MIN_FACTOR, f);
  }

  toString(): string {
    return this.url.origin;
  }
}

export type TargetStateListener = (target: Target, previous: TargetState, reason: string) => void;

/** What a reload changed in the backend list. */
export interface TargetChanges {
  readonly added: readonly Target[];
  readonly removed: readonly Target[];
  readonly kept: readonly Target[];
}

/**
 * The long-lived side of the targets: every Target by URL, with its state, agent and
 * timers, across generations. Each generation sees its own backend list through a
 * `TargetPool`; a state change reaches every attached pool (so each rebuilds its
 * snapshot) and the listeners of the active one (so it is logged once).
 */
export class TargetRegistry {
  private readonly byUrl = new Map<string, Target>();
  private readonly pools = new Set<TargetPool>();
  private active: TargetPool | undefined;
  private options: TargetOptions;
  /** What each pool set on its Targets, to set back when a pool that never served is released (a refused reload). */
  private readonly settings = new WeakMap<TargetPool, { specs: readonly TargetSpec[]; options: TargetOptions }>();
  private readonly served = new WeakSet<TargetPool>();

  constructor(options: TargetOptions) {
    this.options = options;
  }

  /**
   * A pool for a new generation: existing Targets for URLs already known, new ones
   * for the rest. Connection limits and timeouts follow `options` for all of them.
   */
  createPool(specs: readonly TargetSpec[], options: TargetOptions = this.options): TargetPool {
    const pool = new TargetPool(this, this.configure(specs, options));
    this.settings.set(pool, { specs, options });
    this.pools.add(pool);
    return pool;
  }

  /**
   * Sets weights, health ports and agent limits from `specs` on the Targets (creating
   * the missing ones). The next generation's plugins read them while it is built, so
   * they are set then, and set back if that generation never serves.
   */
  private configure(specs: readonly TargetSpec[], options: TargetOptions): Target[] {
    this.options = options;
    return specs.map((spec) => {
      const key = new URL(spec.url).href;
      let target = this.byUrl.get(key);
      if (target) {
        target.weight = spec.weight ?? 1;
        target.healthPort = spec.healthPort;
        updateUpstreamAgent(target.agent, options, options.maxSocketsPerTarget);
      } else {
        target = new Target(spec, options);
        this.byUrl.set(key, target);
      }
      return target;
    });
  }

  /** Makes `pool` the one whose listeners hear of state changes; returns what changed against the previous one. */
  activate(pool: TargetPool): TargetChanges {
    const before = new Set(this.active?.targets ?? []);
    const after = new Set(pool.targets);
    this.active = pool;
    this.served.add(pool);
    return {
      added: pool.targets.filter((t) => !before.has(t)),
      removed: [...before].filter((t) => !after.has(t)),
      kept: pool.targets.filter((t) => before.has(t)),
    };
  }

  /** A generation is gone: forget its pool, and close the Targets no other pool holds. */
  release(pool: TargetPool): void {
    if (!this.pools.delete(pool)) return;
    if (this.active === pool) this.active = undefined;
    // A refused reload: the generation still serving gets its own weights and limits back.
    const serving = this.active && this.settings.get(this.active);
    if (!this.served.has(pool) && serving) this.configure(serving.specs, serving.options);
    const held = new Set<Target>();
    for (const p of this.pools) for (const t of p.targets) held.add(t);
    for (const [key, target] of this.byUrl) {
      if (held.has(target)) continue;
      this.byUrl.delete(key);
      target.agent.destroy();
      if (target.ejectionTimer) clearTimeout(target.ejectionTimer);
    }
  }

  /** @internal */
  changed(target: Target, previous: TargetState, reason: string): void {
    for (const pool of this.pools) pool.refresh(target);
    this.active?.notify(target, previous, reason);
  }

  /** Every Target known, in no particular order. */
  get size(): number {
    return this.byUrl.size;
  }

  /** Closes every kept-alive upstream connection and timer. */
  destroy(): void {
    for (const pool of [...this.pools]) this.release(pool);
  }
}

/**
 * One generation's view of the targets, and the one source of truth about their
 * health for plugins: active polls and passive signals report here; strategies read
 * `available`, an immutable snapshot rebuilt only when a state changes, so the hot
 * path allocates nothing. Read `targets` when you need them: a reload gives the next
 * generation another pool.
 */
export class TargetPool {
  readonly targets: readonly Target[];
  private snapshot: readonly Target[];
  private readonly listeners: TargetStateListener[] = [];
  private readonly registry: TargetRegistry;

  /** A pool of its own, for tests and tools; lb builds pools from its registry. */
  static of(specs: readonly TargetSpec[], options: TargetOptions): TargetPool {
    const registry = new TargetRegistry(options);
    const pool = registry.createPool(specs);
    registry.activate(pool);
    return pool;
  }

  /** @internal use `TargetRegistry.createPool`. */
  constructor(registry: TargetRegistry, targets: readonly Target[]) {
    this.registry = registry;
    this.targets = Object.freeze([...targets]);
    this.snapshot = Object.freeze(this.targets.filter((t) => t.state === 'up'));
  }

  /** Targets that are up, in configuration order. Frozen; replaced (not mutated) on change. */
  get available(): readonly Target[] {
    return this.snapshot;
  }

  onStateChange(listener: TargetStateListener): void {
    this.listeners.push(listener);
  }

  /** @internal */
  refresh(target: Target): void {
    if (this.targets.includes(target)) this.snapshot = Object.freeze(this.targets.filter((t) => t.state === 'up'));
  }

  /** @internal */
  notify(target: Target, previous: TargetState, reason: string): void {
    for (const listener of this.listeners) listener(target, previous, reason);
  }

  /** Moves a target to `state`; listeners hear of real transitions only. */
  setState(target: Target, state: TargetState, reason: string): void {
    if (target.state === state) return;
    const previous = target.state;
    target.state = state;
    target.reason = reason;
    target.changedAt = Date.now();
    if (state !== 'ejected' && target.ejectionTimer) {
      clearTimeout(target.ejectionTimer);
      target.ejectionTimer = undefined;
    }
    this.registry.changed(target, previous, reason);
  }

  /**
   * Records one active health check. A target goes down after `fall` consecutive
   * failures and comes back after `rise` consecutive passes.
   */
  recordCheck(target: Target, ok: boolean, reason: string, thresholds: HealthThresholds): void {
    if (ok) {
      target.failures = 0;
      target.passes++;
      if (target.state === 'down' && target.passes >= thresholds.rise) this.setState(target, 'up', reason || `passed ${target.passes} checks`);
    } else {
      target.passes = 0;
      target.failures++;
      if (target.state !== 'down' && target.failures >= thresholds.fall) this.setState(target, 'down', reason);
    }
  }

  /** Passive health: takes an up target out of rotation for `ms`, then puts it back. */
  eject(target: Target, ms: number, reason: string): void {
    if (target.state !== 'up') return;
    this.setState(target, 'ejected', reason);
    target.ejectionTimer = setTimeout(() => {
      target.ejectionTimer = undefined;
      if (target.state === 'ejected') this.setState(target, 'up', `ejection of ${ms} ms over`);
    }, ms);
    target.ejectionTimer.unref();
  }

  /** Stores a load report for a target. */
  updateMetrics(target: Target, metrics: TargetMetrics, at = Date.now()): void {
    target.metrics = metrics;
    target.metricsAt = at;
  }

  get(id: string): Target | undefined {
    return this.targets.find((t) => t.id === id);
  }

  /** Releases this pool (and the Targets no other pool holds) from its registry. */
  destroy(): void {
    this.registry.release(this);
  }
}
