import { createPrng, definePlugin, PLUGIN_API_VERSION, Stage, type OptionsOf, type Prng, type Target, type TargetMetrics } from '../../core/index.js';
import { metricBasedSchema } from './schema.js';

const PLUGIN_NAME = 'metric-based';

export type MetricBasedOptions = OptionsOf<typeof metricBasedSchema>;

/** Below this score a report says too little to learn how much one request weighs. */
const LEARN_MIN_SCORE = 0.05;
/** Weight of each new sample in the learned requests-per-unit-of-score ratio. */
const LEARN_RATE = 0.2;
/** A recovering target's chance of being drawn starts at this fraction of its weight. */

/** What the strategy has made of one target's reports. */
interface Estimate {
  /** The report last read (reports are replaced, never edited, so identity tells a new one). */
  report: TargetMetrics | undefined;
  /** Whether `external` comes from a report that is still fresh. */
  fresh: boolean;
  /** Smoothed score of the load this proxy's requests do not explain (may dip below 0). */
  external: number;
  /** Cores the target reported once; cores do not change under a running agent. */
  cores: number | undefined;
  /** Learned requests in flight per unit of score, for targets that do not report cores. */
  requestsPerUnit: number;
  samples: number;
}

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);
const usable = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/**
 * The scoring model. A report's score is the weighted mean of the figures it has
 * (CPU 0..1, memory 0..1, load per core 0..∞, all "fractions of capacity"). Part of
 * it is this proxy's own work: each request in flight adds 1/cores. So the score is
 * split into an external part (taken from reports, smoothed) and the requests in
 * flight now (exact, updated on every pick), and a target costs
 * `external + inFlight / cores`. Cores come from the report's `cores`; without it,
 * they are learned as the ratio of requests in flight to score; before that, the
 * target's weight stands in.
 */
export class MetricModel {
  private readonly estimates = new Map<Target, Estimate>();
  private readonly weights: MetricBasedOptions['weights'];
  private readonly maxAgeMs: number;
  private readonly smoothing: number;

  constructor(options: Pick<MetricBasedOptions, 'weights' | 'maxAgeMs' | 'smoothing'>) {
    this.weights = options.weights;
    this.maxAgeMs = options.maxAgeMs;
    this.smoothing = options.smoothing;
  }

  /** Weighted mean of the figures a report has; undefined when it has none that counts. */
  score(m: TargetMetrics): number | undefined {
    const w = this.weights;
    let sum = 0;
    let total = 0;
    if (w.cpu > 0 && usable(m.cpu)) { sum += w.cpu * clamp01(m.cpu); total += w.cpu; }
    if (w.memory > 0 && usable(m.memory)) { sum += w.memory * clamp01(m.memory); total += w.memory; }
    if (w.load > 0 && usable(m.load)) { sum += w.load * m.load; total += w.load; }
    return total > 0 ? sum / total : undefined;
  }

  private estimate(target: Target): Estimate {
    let e = this.estimates.get(target);
    if (!e) {
      e = { report: undefined, fresh: false, external: 0, cores: undefined, requestsPerUnit: 0, samples: 0 };
      this.estimates.set(target, e);
    }
    return e;
  }

  /** Score added by one request in flight. */
  private perRequest(target: Target, e: Estimate): number {
    if (e.cores !== undefined) return 1 / e.cores;
    if (e.samples > 0) return 1 / Math.max(1, e.requestsPerUnit);
    return 1 / target.weight;
  }

  /** Reads the target's latest report if it is new; marks the estimate stale when the report is old. */
  refresh(target: Target, now: number): Estimate {
    const e = this.estimate(target);
    if (target.metricsAt === 0 || now - target.metricsAt > this.maxAgeMs) {
      e.fresh = false;
      return e;
    }
    const m = target.metrics;
    if (m === e.report) return e;
    e.report = m;
    const score = this.score(m);
    if (score === undefined) {
      e.fresh = false;
      return e;
    }
    if (usable(m.cores) && m.cores >= 1) e.cores = m.cores;
    const inFlight = target.inFlight;
    if (e.cores === undefined && inFlight > 0 && score >= LEARN_MIN_SCORE) {
      const ratio = inFlight / score;
      e.requestsPerUnit = e.samples === 0 ? ratio : e.requestsPerUnit + LEARN_RATE * (ratio - e.requestsPerUnit);
      e.samples++;
    }
    const external = score - inFlight * this.perRequest(target, e);
    e.external = e.fresh ? e.external + this.smoothing * (external - e.external) : external;
    e.fresh = true;
    return e;
  }

  /** Expected load on the target if it got one more request: lower is better. */
  cost(target: Target, e: Estimate): number {
    return (e.fresh ? e.external : 0) + target.inFlight * this.perRequest(target, e);
  }

  /** The external part of the score, never below 0 (for drawing). */
  externalLoad(e: Estimate): number {
    return e.fresh && e.external > 0 ? e.external : 0;
  }
}

/**
 * Power of two choices over the model's costs. The two candidates are drawn with
 * probability ∝ weight × slow-start ramp / (1 + external load): a target busy with
 * work that is not ours is drawn less often but never excluded; the cheaper of the two
 * wins, so a burst cannot herd onto the one target that looked idle at the last report.
 */
export function createMetricBasedPick(model: MetricModel, random: Prng, slowStartMs: number): (candidates: readonly Target[]) => Target | undefined {
  let draw = new Float64Array(8);
  let picked = new Array<Estimate | undefined>(8);
  return (candidates) => {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    if (draw.length < n) {
      draw = new Float64Array(n * 2);
      picked = new Array<Estimate | undefined>(n * 2);
    }
    const now = Date.now();
    let total = 0;
    for (let k = 0; k < n; k++) {
      const t = candidates[k];
      const e = model.refresh(t, now);
      picked[k] = e;
      let w = t.weight / (1 + model.externalLoad(e));
      w *= t.slowStartFactor(now, slowStartMs > 0 ? slowStartMs : t.slowStartMs);
      draw[k] = w;
      total += w;
    }
    const i = drawIndex(draw, n, random() * total, -1);
    const j = drawIndex(draw, n, random() * (total - draw[i]), i);
    const a = model.cost(candidates[i], picked[i]!);
    const b = model.cost(candidates[j], picked[j]!);
    return a < b || (a === b && random() < 0.5) ? candidates[i] : candidates[j];
  };
}

/** The index where `x` falls in the cumulative weights, skipping `skip`. */
function drawIndex(weights: Float64Array, n: number, x: number, skip: number): number {
  let last = -1;
  for (let k = 0; k < n; k++) {
    if (k === skip) continue;
    last = k;
    x -= weights[k];
    if (x < 0) return k;
  }
  return last;
}

export default definePlugin<MetricBasedOptions>({
  name: PLUGIN_NAME,
  description: 'Reported CPU, memory and load plus requests in flight, picked by the better of two random draws.',
  kind: 'strategy',
  apiVersion: PLUGIN_API_VERSION,
  schema: metricBasedSchema,
  apply(pipeline, options) {
    const pick = createMetricBasedPick(new MetricModel(options), createPrng(options.seed), options.slowStartMs);
    pipeline.hooks.selectTarget.tap({ name: PLUGIN_NAME, stage: Stage.STRATEGY }, (_ctx, candidates) => pick(candidates));
  },
});
