import { definePlugin, PLUGIN_API_VERSION, Stage, type OptionsOf, type Target } from '../../core/index.js';
import { createPrng, distinctPair, type Prng } from '../../core/index.js';
import { p2cEwmaSchema } from './schema.js';

const PLUGIN_NAME = 'p2c-ewma';

/** Cost of a target never measured while it has requests in flight: above any measured one (Finagle's penalty). */
const UNMEASURED_PENALTY = 1e9;

interface Estimate {
  /** Latency estimate in ms at `at`. */
  ms: number;
  /** performance.now() of the last observation. */
  at: number;
}

/**
 * Peak-EWMA latency per target (Finagle's `PeakEwma`): a slower response replaces the
 * estimate at once; a faster one is blended in with a weight that grows with the time
 * since the last observation. A target that goes unobserved sees its estimate decay
 * towards zero, so one that was slow once is tried again. Reads are pure: they compute
 * that decay instead of storing it (Finagle and tower store it on every read).
 */
export class PeakEwma {
  private readonly estimates = new Map<Target, Estimate>();
  constructor(private readonly decayMs: number) {}

  observe(target: Target, latencyMs: number, now: number): void {
    const e = this.estimates.get(target);
    if (!e) {
      this.estimates.set(target, { ms: latencyMs, at: now });
      return;
    }
    const keep = Math.exp(-Math.max(0, now - e.at) / this.decayMs);
    e.ms = latencyMs > e.ms ? latencyMs : e.ms * keep + latencyMs * (1 - keep);
    e.at = now;
  }

  /** The latency estimate now, in ms; undefined before the first observation. */
  latency(target: Target, now: number): number | undefined {
    const e = this.estimates.get(target);
    return e && e.ms * Math.exp(-Math.max(0, now - e.at) / this.decayMs);
  }

  /** Expected wait: estimate × (in flight + 1). */
  cost(target: Target, now: number): number {
    const ms = this.latency(target, now);
    if (ms === undefined) return target.inFlight === 0 ? 0 : UNMEASURED_PENALTY + target.inFlight;
    return ms * (target.inFlight + 1);
  }
}

/** Two distinct candidates at random; the cheaper wins (a coin decides a tie). */
export function createP2cEwmaPick(ewma: PeakEwma, random: Prng): (candidates: readonly Target[]) => Target | undefined {
  return (candidates) => {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    const [i, j] = distinctPair(random, n);
    const now = performance.now();
    const a = ewma.cost(candidates[i], now);
    const b = ewma.cost(candidates[j], now);
    return a < b || (a === b && random() < 0.5) ? candidates[i] : candidates[j];
  };
}

export default definePlugin<OptionsOf<typeof p2cEwmaSchema>>({
  name: PLUGIN_NAME,
  description: 'Power of two random choices over peak-EWMA latency × (in flight + 1) (Finagle, Linkerd).',
  kind: 'strategy',
  apiVersion: PLUGIN_API_VERSION,
  schema: p2cEwmaSchema,
  apply(pipeline, options) {
    const ewma = new PeakEwma(options.decayMs);
    const pick = createP2cEwmaPick(ewma, createPrng(options.seed));
    const hooks = pipeline.hooks;
    hooks.selectTarget.tap({ name: PLUGIN_NAME, stage: Stage.STRATEGY }, (_ctx, candidates) => pick(candidates));
    if (options.measure === 'headers') {
      hooks.upstreamResponse.tap(PLUGIN_NAME, (ctx) => {
        if (!ctx.target) return;
        const now = performance.now();
        ewma.observe(ctx.target, now - ctx.startedAt, now);
      });
    } else {
      hooks.requestDone.tap(PLUGIN_NAME, (ctx, outcome) => {
        if (ctx.target && !outcome.error) ewma.observe(ctx.target, outcome.durationMs, performance.now());
      });
    }
  },
});
