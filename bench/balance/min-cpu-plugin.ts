import { definePlugin, PLUGIN_API_VERSION, Stage, type Target } from '../../core/index.js';

const schema = { type: 'object', description: 'No options.', properties: {}, additionalProperties: false } as const;

/**
 * The original design, for contrast: every request goes to the backend whose last
 * polled CPU utilisation is lowest (the first such in order); nothing else counts.
 */
export default definePlugin<Record<string, never>>({
  name: 'original-min-cpu',
  description: 'Always the backend with the lowest polled CPU (the original design; bench/balance only).',
  kind: 'strategy',
  apiVersion: PLUGIN_API_VERSION,
  schema,
  apply(pipeline) {
    pipeline.hooks.selectTarget.tap({ name: 'original-min-cpu', stage: Stage.STRATEGY }, (_ctx, candidates) => {
      let best: Target | undefined;
      let bestCpu = Infinity;
      for (const t of candidates) {
        const cpu = t.metrics.cpu ?? 0;
        if (cpu < bestCpu) {
          best = t;
          bestCpu = cpu;
        }
      }
      return best;
    });
  },
});
