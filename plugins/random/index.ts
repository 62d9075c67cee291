import { definePlugin, PLUGIN_API_VERSION, Stage, type OptionsOf, type Target } from '../../core/index.js';
import { createPrng, type Prng } from '../../core/index.js';
import { randomSchema } from './schema.js';

const PLUGIN_NAME = 'random';

/** A uniform draw among the candidates. */
export function createUniformPick(random: Prng): (candidates: readonly Target[]) => Target | undefined {
  return (candidates) => candidates[Math.floor(random() * candidates.length)];
}

/** A draw with probability weight / total weight. */
export function createWeightedPick(random: Prng): (candidates: readonly Target[]) => Target | undefined {
  return (candidates) => {
    let total = 0;
    for (const t of candidates) total += t.weight;
    let x = random() * total;
    for (const t of candidates) {
      x -= t.weight;
      if (x < 0) return t;
    }
    return candidates[candidates.length - 1];
  };
}

export default definePlugin<OptionsOf<typeof randomSchema>>({
  name: PLUGIN_NAME,
  description: 'Picks a backend at random (in proportion to weights): the naive baseline.',
  kind: 'strategy',
  apiVersion: PLUGIN_API_VERSION,
  schema: randomSchema,
  apply(pipeline, options) {
    const random = createPrng(options.seed);
    const weighted = options.weighted && pipeline.pool.targets.some((t) => t.weight !== 1);
    const pick = weighted ? createWeightedPick(random) : createUniformPick(random);
    pipeline.hooks.selectTarget.tap({ name: PLUGIN_NAME, stage: Stage.STRATEGY }, (_ctx, candidates) => pick(candidates));
  },
});
