/** Options of the health-check plugin (active polling). */
export const healthCheckSchema = {
  type: 'object',
  description: 'Active health checks: every backend is polled on its own timer; rise/fall thresholds (HAProxy\'s meaning) take it out of rotation and bring it back, and the reported load goes into its metrics.',
  properties: {
    intervalMs: {
      type: 'integer', minimum: 10, maximum: 3600000, default: 2000,
      description: 'Milliseconds between two checks of one backend (HAProxy: inter). A failing backend is out of rotation within fall × intervalMs.',
    },
    jitter: {
      type: 'number', minimum: 0, maximum: 0.5, default: 0.1,
      description: 'Random spread of each interval, as a fraction of intervalMs (0.1: ±10 %), so that checks of many backends and proxies do not align.',
    },
    timeoutMs: {
      type: 'integer', minimum: 1, maximum: 3600000, default: 1000,
      description: 'Milliseconds a check may take in total (connect, headers, body); past it the check fails. Checks of one backend never overlap: one that outlasts intervalMs delays the next.',
    },
    path: {
      type: 'string', pattern: '^(/[^\\s]*)?$', default: '',
      description: 'Path (and query) requested on the backend. "" picks the format\'s own: /.lb/health for lb-agent and none, /metrics?collect[]=cpu&collect[]=meminfo&collect[]=loadavg for prometheus.',
    },
    port: {
      type: 'integer', minimum: 0, maximum: 65535, default: 0,
      description: 'TCP port checked on the backend\'s host (a sidecar `lb agent` or node_exporter); 0 checks the backend\'s own port. A backend\'s own healthPort (in backends) wins.',
    },
    expectStatus: {
      type: 'array', minItems: 1, items: { type: 'integer', minimum: 100, maximum: 599 }, default: [200],
      description: 'HTTP status codes that count as a pass; any other fails the check.',
    },
    rise: {
      type: 'integer', minimum: 1, maximum: 100, default: 2,
      description: 'Consecutive passing checks that bring a down backend back into rotation (HAProxy: rise).',
    },
    fall: {
      type: 'integer', minimum: 1, maximum: 100, default: 3,
      description: 'Consecutive failing checks that take a backend out of rotation (HAProxy: fall).',
    },
    format: {
      enum: ['lb-agent', 'prometheus', 'none'], default: 'lb-agent',
      description: 'What the check reads: "lb-agent" the JSON report of docs/health.md (status and load), "prometheus" node_exporter\'s text (CPU, memory, load), "none" the status code alone.',
    },
    maxBodyBytes: {
      type: 'integer', minimum: 256, maximum: 16777216, default: 65536,
      description: 'Largest check response body read, in bytes; a larger one fails the check.',
    },
    slowStartMs: {
      type: 'integer', minimum: 0, maximum: 3600000, default: 0,
      description: 'Milliseconds over which a backend that comes back up ramps from a tenth to its full share of requests (strategies read it); 0 turns slow start off.',
    },
  },
  additionalProperties: false,
} as const;

/** Options of the orca-load-reports plugin (in-band load reports). */
export const loadReportsSchema = {
  type: 'object',
  description: 'Reads the load a backend attaches to each response (ORCA, as Envoy reads it) into its metrics.',
  properties: {
    header: {
      type: 'string', pattern: '^[A-Za-z0-9-]+$', default: 'endpoint-load-metrics',
      description: 'Response header carrying the report, "TEXT name=value, ..." or "JSON {...}".',
    },
    strip: {
      type: 'boolean', default: true,
      description: 'Remove the header before the response goes to the client, so that backends\' load stays internal.',
    },
  },
  additionalProperties: false,
} as const;
