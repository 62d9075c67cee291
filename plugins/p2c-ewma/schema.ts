import { seedOption } from '../../core/index.js';

/** Options of the p2c-ewma strategy. */
export const p2cEwmaSchema = {
  type: 'object',
  description: 'Power of two random choices over peak-EWMA latency × (requests in flight + 1), as Finagle and Linkerd balance.',
  properties: {
    decayMs: {
      type: 'number',
      exclusiveMinimum: 0,
      default: 10000,
      description: 'Decay time of the latency estimate, in ms: a peak fades to 1/e of itself after this long without a slower response.',
    },
    measure: {
      enum: ['headers', 'complete'],
      default: 'headers',
      description: 'Latency observed per response: from arrival to the backend\'s response headers ("headers"), or to the end of the response ("complete").',
    },
    seed: seedOption,
  },
  additionalProperties: false,
} as const;
