import { seedOption } from '../../core/index.js';

/** Options of the least-connections strategy. */
export const leastConnectionsSchema = {
  type: 'object',
  description: 'Sends each request to the backend with the fewest requests in flight per unit of weight (nginx least_conn).',
  properties: {
    ties: {
      enum: ['round-robin', 'random'],
      default: 'round-robin',
      description: 'How to choose among backends with equally few requests in flight: in turn ("round-robin", as nginx does) or at random.',
    },
    seed: seedOption,
  },
  additionalProperties: false,
} as const;
