import type { Arrival } from './arrivals.js';
import type { Replay } from './generator.js';

/** Latency and spread of one run, over the measured part of the sequence. */
export interface RunStats {
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  /** Requests served by each backend, by name, in farm order. */
  served: Record<string, number>;
  measured: number;
  failures: number;
  maxSendLagMs: number;
}

/** The value below which a fraction `q` of sorted `values` lie (nearest rank). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * Summarises a replay, leaving out requests sent in the first `skipMs` (the queues
 * filling up from empty). Failed requests count as failures, not as latencies.
 */
export function summarize(replay: Replay, arrivals: readonly Arrival[], backendNames: readonly string[], skipMs: number): RunStats {
  const latencies: number[] = [];
  const served: Record<string, number> = Object.fromEntries(backendNames.map((n) => [n, 0]));
  for (let i = 0; i < arrivals.length; i++) {
    const backend = replay.backend[i];
    if (backend) served[backend] = (served[backend] ?? 0) + 1;
    if (arrivals[i].atMs < skipMs) continue;
    const ms = replay.latencyMs[i];
    if (!Number.isNaN(ms)) latencies.push(ms);
  }
  const sorted = Float64Array.from(latencies).sort();
  const mean = latencies.reduce((s, x) => s + x, 0) / (latencies.length || 1);
  return {
    meanMs: mean,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    served,
    measured: latencies.length,
    failures: replay.failures,
    maxSendLagMs: replay.maxSendLagMs,
  };
}
