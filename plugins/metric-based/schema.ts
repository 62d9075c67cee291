import { seedOption } from '../../core/index.js';

const AT_LEAST_ONE = 'At least one of weights.cpu, weights.memory and weights.load must be greater than 0; with all three at 0 every backend would score alike.';

const weight = (value: number, figure: string) => ({ type: 'number', minimum: 0, default: value, description: `Weight of ${figure} in a backend's score (unitless, >= 0).` } as const);

/** Options of the metric-based strategy. */
export const metricBasedSchema = {
  type: 'object',
  description: 'Scores backends by their reported CPU, memory and load plus the requests in flight, and picks the better of two random draws.',
  properties: {
    weights: {
      type: 'object',
      default: {},
      description: 'How much each reported figure counts; all are fractions of the backend\'s capacity (1 = every core busy). At least one must be above 0.',
      properties: {
        cpu: weight(0.5, 'CPU utilisation (0..1 of all cores over the agent\'s last interval)'),
        memory: weight(0.1, 'memory in use (0..1 of the total)'),
        load: weight(1, 'load per core (load average / cores; 1 = every core busy, above 1 = work queued)'),
      },
      additionalProperties: false,
      // allOf keeps the generated reference reading "object"; the anyOf is the "at least one above 0" rule.
      allOf: [{
        anyOf: [
          { properties: { cpu: { exclusiveMinimum: 0, description: AT_LEAST_ONE } } },
          { properties: { memory: { exclusiveMinimum: 0, description: AT_LEAST_ONE } } },
          { properties: { load: { exclusiveMinimum: 0, description: AT_LEAST_ONE } } },
        ],
      }],
    },
    maxAgeMs: {
      type: 'integer',
      minimum: 1,
      default: 5000,
      description: 'A report older than this, in ms, is treated as unknown: the backend is scored by its requests in flight alone.',
    },
    smoothing: {
      type: 'number',
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.5,
      description: 'Weight of each new report in the estimate of the load a backend carries besides this proxy\'s requests (unitless; 1 keeps only the latest report).',
    },
    slowStartMs: {
      type: 'integer',
      minimum: 0,
      default: 0,
      description: 'For this long after a backend comes back up, in ms, its chance of being drawn ramps from 10% to 100%; 0 follows the health-check plugin\'s slowStartMs, if any.',
    },
    seed: seedOption,
  },
  additionalProperties: false,
} as const;
