import type { Target } from '../../core/index.js';

/** Starts a ramp for a target that just came back up; strategies read `target.slowStartFactor()`. */
export function markSlowStart(target: Target, ms: number): void {
  target.slowStartMs = ms;
}

/** The fraction of its normal share a target should get now (see Target.slowStartFactor). */
export function slowStartFactor(target: Target, now = Date.now()): number {
  return target.slowStartFactor(now);
}
