import { definePlugin, PLUGIN_API_VERSION, Stage, type OptionsOf, type Target } from '../../core/index.js';
import { createPrng, type Prng } from '../../core/index.js';
import { leastConnectionsSchema } from './schema.js';

const PLUGIN_NAME = 'least-connections';

/** -1, 0 or 1 as a's in-flight count per unit of weight is below, equal to or above b's (no division). */
function compareLoad(a: Target, b: Target): number {
  return Math.sign(a.inFlight * b.weight - b.inFlight * a.weight);
}

/**
 * The candidate with the fewest requests in flight per unit of weight. Ties go in
 * turn: the scan starts after the last pick, so equally loaded backends alternate.
 * The cursor moves only on a pick.
 */
export function createLeastConnections(): (candidates: readonly Target[]) => Target | undefined {
  let cursor = 0;
  return (candidates) => {
    const n = candidates.length;
    if (n === 0) return undefined;
    if (cursor >= n) cursor = 0;
    let bestIndex = cursor;
    for (let k = 1; k < n; k++) {
      const i = cursor + k < n ? cursor + k : cursor + k - n;
      if (compareLoad(candidates[i], candidates[bestIndex]) < 0) bestIndex = i;
    }
    cursor = bestIndex + 1;
    return candidates[bestIndex];
  };
}

/** As above, with ties broken at random (reservoir sampling over the tied candidates). */
export function createLeastConnectionsRandomTies(random: Prng): (candidates: readonly Target[]) => Target | undefined {
  return (candidates) => {
    let best: Target | undefined;
    let tied = 0;
    for (const t of candidates) {
      const order = best === undefined ? -1 : compareLoad(t, best);
      if (order < 0) {
        best = t;
        tied = 1;
      } else if (order === 0 && random() * ++tied < 1) {
        best = t;
      }
    }
    return best;
  };
}

export default definePlugin<OptionsOf<typeof leastConnectionsSchema>>({
  name: PLUGIN_NAME,
  description: 'Fewest requests in flight per unit of weight (nginx least_conn); ties in turn or at random.',
  kind: 'strategy',
  apiVersion: PLUGIN_API_VERSION,
  schema: leastConnectionsSchema,
  apply(pipeline, options) {
    const pick = options.ties === 'random' ? createLeastConnectionsRandomTies(createPrng(options.seed)) : createLeastConnections();
    pipeline.hooks.selectTarget.tap({ name: PLUGIN_NAME, stage: Stage.STRATEGY }, (_ctx, candidates) => pick(candidates));
  },
});
