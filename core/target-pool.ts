import type http from 'node:http';
import { createUpstreamAgent, type UpstreamTimeouts } from './upstream-agent.js';

/** Whether a target may receive requests. */
export type TargetState = 'up' | 'down';

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

/** How a backend is described in configuration. */
export interface TargetSpec {
  url: string;
  weight?: number;
}

export interface TargetOptions extends UpstreamTimeouts {
  /** Most connections kept open per backend at once (0: no limit). */
  maxSocketsPerTarget: number;
}

/** One backend: its address, weight, health state, in-flight count and latest metrics. */
export class Target {
  /** `host:port`, unique within a pool. */
  readonly id: string;
  /** Parsed once; handed to the proxy as is, so no request parses it again. */
  readonly url: URL;
  readonly weight: number;
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

  constructor(spec: TargetSpec, options: TargetOptions) {
    this.url = new URL(spec.url);
    this.id = this.url.host;
    this.weight = spec.weight ?? 1;
    this.agent = createUpstreamAgent(this.url, options, options.maxSocketsPerTarget);
  }

  toString(): string {
    return this.url.origin;
  }
}

export type TargetStateListener = (target: Target, previous: TargetState, reason: string) => void;

/**
 * The one source of truth about targets and their health. Active polls and passive
 * signals both report here; strategies read `available`, an immutable snapshot
 * rebuilt only when a state changes, so the hot path allocates nothing.
 */
export class TargetPool {
  readonly targets: readonly Target[];
  private snapshot: readonly Target[];
  private readonly listeners: TargetStateListener[] = [];

  constructor(specs: readonly TargetSpec[], options: TargetOptions) {
    this.targets = Object.freeze(specs.map((s) => new Target(s, options)));
    this.snapshot = this.targets;
  }

  /** Targets that are up, in configuration order. Frozen; replaced (not mutated) on change. */
  get available(): readonly Target[] {
    return this.snapshot;
  }

  onStateChange(listener: TargetStateListener): void {
    this.listeners.push(listener);
  }

  /** Moves a target to `state`; listeners hear of real transitions only. */
  setState(target: Target, state: TargetState, reason: string): void {
    if (target.state === state) return;
    const previous = target.state;
    target.state = state;
    target.reason = reason;
    this.snapshot = Object.freeze(this.targets.filter((t) => t.state === 'up'));
    for (const listener of this.listeners) listener(target, previous, reason);
  }

  get(id: string): Target | undefined {
    return this.targets.find((t) => t.id === id);
  }

  /** Closes every kept-alive upstream connection. */
  destroy(): void {
    for (const t of this.targets) t.agent.destroy();
  }
}
