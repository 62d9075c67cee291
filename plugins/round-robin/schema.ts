/** Options of the round-robin strategy. */
export const roundRobinSchema = {
  type: 'object',
  description: 'Round robin; smooth weighted round robin (nginx\'s algorithm) when backends have different weights.',
  properties: {
    weighted: {
      enum: ['auto', 'always', 'never'],
      default: 'auto',
      description: '"auto" uses smooth weighted round robin when any backend\'s weight differs from 1; "never" ignores weights.',
    },
  },
  additionalProperties: false,
} as const;
