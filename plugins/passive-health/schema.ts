/** Options of passive health checking (outlier detection on live traffic). */
export const passiveHealthSchema = {
  type: 'object',
  description: 'Takes a backend out of rotation when live requests to it fail, without waiting for a health poll.',
  properties: {
    consecutiveFailures: {
      type: 'integer', minimum: 1, maximum: 100, default: 1,
      description: 'Consecutive failed attempts (refused or timed-out connection, reset, upstream timeout, malformed response) that eject a backend (nginx: max_fails).',
    },
    consecutive5xx: {
      type: 'integer', minimum: 0, maximum: 1000, default: 0,
      description: 'Consecutive 5xx responses that eject a backend; 0 turns this off (Envoy: consecutive_5xx).',
    },
    ejectMs: {
      type: 'integer', minimum: 100, default: 10000,
      description: 'How long the first ejection lasts, in ms; each further ejection in a row lasts this much longer (nginx: fail_timeout; Envoy: base_ejection_time).',
    },
    maxEjectMs: {
      type: 'integer', minimum: 100, default: 300000,
      description: 'The longest an ejection lasts, in ms.',
    },
    maxEjectedPercent: {
      type: 'integer', minimum: 0, maximum: 100, default: 100,
      description: 'Most backends ejected at once, in percent of all; past it failures are logged but nobody more is ejected.',
    },
  },
  additionalProperties: false,
} as const;
