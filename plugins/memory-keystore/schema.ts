export const memoryKeystoreSchema = {
  type: 'object',
  description: 'Options of the in-memory keystore.',
  properties: {
    maxEntries: {
      type: 'integer', minimum: 1, default: 1000000,
      description: 'Most entries held (sessions and remembered request ids together); past it the oldest entry is dropped first. About 200 bytes each.',
    },
    sweepIntervalMs: {
      type: 'integer', minimum: 100, default: 10000,
      description: 'How often expired entries are removed, in ms (an expired entry is never returned, swept or not).',
    },
  },
  additionalProperties: false,
} as const;
