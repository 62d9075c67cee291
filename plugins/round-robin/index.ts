import { definePlugin, PLUGIN_API_VERSION, Stage, type OptionsOf, type Target } from '../../core/index.js';
import { roundRobinSchema } from './schema.js';

const PLUGIN_NAME = 'round-robin';

/** Plain rotation over the candidates. The cursor moves only on a real pick. */
export function createRotation(): (candidates: readonly Target[]) => Target | undefined {
  let cursor = 0;
  return (candidates) => {
    const n = candidates.length;
    if (n === 0) return undefined;
    if (cursor >= n) cursor = 0;
    return candidates[cursor++];
  };
}

/**
 * Smooth weighted round robin, as nginx does it: every pick, each candidate's
 * current weight grows by its weight; the largest wins and gives back the total.
 * Weights 5,1,1 give a,a,b,a,c,a,a: spread out, not bursts of one target.
 */
export function createSmoothWeighted(): (candidates: readonly Target[]) => Target | undefined {
  const current = new Map<Target, number>();
  return (candidates) => {
    let best: Target | undefined;
    let bestWeight = -Infinity;
    let total = 0;
    for (const t of candidates) {
      const w = (current.get(t) ?? 0) + t.weight;
      current.set(t, w);
      total += t.weight;
      if (w > bestWeight) {
        best = t;
        bestWeight = w;
      }
    }
    if (best) current.set(best, bestWeight - total);
    return best;
  };
}

export default definePlugin<OptionsOf<typeof roundRobinSchema>>({
  name: PLUGIN_NAME,
  description: 'Round robin across healthy backends; smooth weighted round robin (nginx) when weights differ.',
  kind: 'strategy',
  apiVersion: PLUGIN_API_VERSION,
  schema: roundRobinSchema,
  apply(pipeline, options) {
    const weighted = options.weighted === 'always' || (options.weighted === 'auto' && pipeline.pool.targets.some((t) => t.weight !== 1));
    const pick = weighted ? createSmoothWeighted() : createRotation();
    pipeline.hooks.selectTarget.tap({ name: PLUGIN_NAME, stage: Stage.STRATEGY }, (_ctx, candidates) => pick(candidates));
  },
});
