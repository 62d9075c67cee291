import type { Target } from '../../core/index.js';

/** The share a recovering target starts from, as HAProxy's slowstart and Envoy's min_weight_percent (10 %). */
export const SLOW_START_MIN_FACTOR = 0.1;

/**
 * A target that may carry a slow-start ramp. Until the core's Target has the field,
 * the health-check plugin sets it when a target comes back up; the ramp runs from
 * `target.changedAt` (set by the pool on every state change) for `slowStartMs`.
 */
export type SlowStartTarget = Target & { slowStartMs?: number };

/** Starts a ramp for a target that just came back up. */
export function markSlowStart(target: Target, ms: number): void {
  (target as SlowStartTarget).slowStartMs = ms;
}

/**
 * The fraction of its normal share a target should get now: 1 outside a ramp; during
 * one, from 0.1 rising linearly to 1 over `slowStartMs` after `changedAt`.
 * Strategies multiply a target's weight (or divide its cost) by this factor.
 */
export function slowStartFactor(target: Target, now = Date.now()): number {
  const ms = (target as SlowStartTarget).slowStartMs ?? 0;
  if (ms <= 0 || target.state !== 'up') return 1;
  const f = (now - target.changedAt) / ms;
  return f >= 1 ? 1 : Math.max(SLOW_START_MIN_FACTOR, f);
}
