import { definePlugin, PLUGIN_API_VERSION, Stage, type OptionsOf, type Target } from '../../core/index.js';
import { createPrng } from '../../core/index.js';
import { farmView } from './farm-view.js';

const schema = {
  type: 'object',
  description: 'Join the shortest queue, reading each emulated backend\'s true queue (bench only).',
  properties: { seed: { type: 'integer', minimum: 0, default: 1, description: 'Seed for breaking ties (unitless).' } },
  additionalProperties: false,
} as const;

/**
 * The oracle: join-the-shortest-queue over the farm's true state. A backend's queue is
 * its background jobs plus its request jobs (read from the farm's shared memory), or
 * the proxy's own in-flight count when that is higher (requests on their way there);
 * the pick minimises (queue + 1) / cores, the slowdown a new job would see.
 */
export default definePlugin<OptionsOf<typeof schema>>({
  name: 'oracle-jsq',
  description: 'Join the shortest true queue of the emulated farm (bench/balance only).',
  kind: 'strategy',
  apiVersion: PLUGIN_API_VERSION,
  schema,
  apply(pipeline, options) {
    const view = farmView();
    const index = new Map<Target, number>(pipeline.pool.targets.map((t) => [t, view.ports.indexOf(Number(t.url.port))]));
    const random = createPrng(options.seed);
    pipeline.hooks.selectTarget.tap({ name: 'oracle-jsq', stage: Stage.STRATEGY }, (_ctx, candidates) => {
      let best: Target | undefined;
      let bestCost = Infinity;
      let tied = 0;
      for (const t of candidates) {
        const i = index.get(t)!;
        const queue = view.background[i] + Math.max(Atomics.load(view.jobs, i), t.inFlight);
        const cost = (queue + 1) / view.cores[i];
        if (cost < bestCost) {
          best = t;
          bestCost = cost;
          tied = 1;
        } else if (cost === bestCost && random() * ++tied < 1) {
          best = t;
        }
      }
      return best;
    });
  },
});
