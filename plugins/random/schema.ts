import { seedOption } from '../../core/index.js';

/** Options of the random strategy. */
export const randomSchema = {
  type: 'object',
  description: 'Picks a backend at random: the naive baseline.',
  properties: {
    seed: seedOption,
    weighted: {
      type: 'boolean',
      default: true,
      description: 'true draws each backend with a probability proportional to its weight; false draws uniformly.',
    },
  },
  additionalProperties: false,
} as const;
