import type { FromSchema } from 'json-schema-to-ts';

const pluginName = {
  type: 'string',
  minLength: 1,
  description: 'A built-in plugin name, an npm package name, or a path starting with ./ or ../ (relative to the rc file).',
} as const;

const pluginEntry = {
  description: 'A plugin: its name alone, or an object naming it with options.',
  anyOf: [
    pluginName,
    {
      type: 'object',
      properties: {
        use: pluginName,
        options: { type: 'object', description: 'Options for the plugin, checked against its own schema.' },
        enabled: { type: 'boolean', default: true, description: 'false drops a plugin that the preset would add.' },
      },
      required: ['use'],
      additionalProperties: false,
    },
  ],
} as const;

/** The core part of the rc file's schema; plugins' own options schemas are checked beside it. */
export const coreConfigSchema = {
  type: 'object',
  description: 'Configuration of lb, the load balancer.',
  properties: {
    $schema: { type: 'string', description: 'Path or URL of this JSON Schema, for editors.' },
    preset: {
      type: 'string',
      default: 'basic',
      description: 'Named list of plugins with default options (`lb presets` lists them). `--preset` on the command line wins.',
    },
    listen: {
      type: 'object',
      default: {},
      description: 'Where lb accepts client connections.',
      properties: {
        host: { type: 'string', default: '127.0.0.1', description: 'Address to bind; "0.0.0.0" or "::" for every interface.' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080, description: 'TCP port; 0 picks a free one.' },
      },
      additionalProperties: false,
    },
    backends: {
      type: 'array',
      default: [],
      description: 'The backend servers (targets) requests are balanced across.',
      items: {
        description: 'A backend: its URL alone, or an object with a URL, a weight and a health-check port.',
        anyOf: [
          { type: 'string', pattern: '^https?://', description: 'Backend URL, e.g. "http://127.0.0.1:9001".' },
          {
            type: 'object',
            properties: {
              url: { type: 'string', pattern: '^https?://', description: 'Backend URL, e.g. "http://127.0.0.1:9001".' },
              weight: { type: 'integer', minimum: 1, maximum: 1000, default: 1, description: 'Relative share of requests for weighted strategies.' },
              healthPort: {
                type: 'integer', minimum: 1, maximum: 65535,
                description: 'Port that active health checks poll on this backend\'s host (its `lb agent` sidecar or node_exporter), instead of the health-check plugin\'s port (HAProxy: check port). For several backends on one host, each with its own agent.',
              },
            },
            required: ['url'],
            additionalProperties: false,
          },
        ],
      },
    },
    strategy: {
      ...pluginEntry,
      description: 'The strategy that picks a backend for each request; overrides the preset\'s. A name, or { "use": name, "options": {...} }.',
    },
    plugins: {
      type: 'array',
      default: [],
      description: 'Plugins added to the preset\'s, or overriding their options (same name), or dropping them ("enabled": false).',
      items: pluginEntry,
    },
    services: {
      type: 'object',
      default: {},
      description: 'Which plugin provides a service when several loaded plugins can, e.g. { "keystore": "redis-keystore" }.',
      additionalProperties: { type: 'string', minLength: 1, description: 'The name of a loaded plugin that provides the service.' },
    },
    timeouts: {
      type: 'object',
      default: {},
      description: 'Time limits, in milliseconds.',
      properties: {
        connectMs: { type: 'integer', minimum: 1, default: 5000, description: 'Connecting to a backend; past it the request gets 504 (nginx: proxy_connect_timeout).' },
        upstreamMs: { type: 'integer', minimum: 1, default: 60000, description: 'Silence from a backend while a request waits on it; past it 504 (nginx: proxy_read_timeout).' },
        headerMs: { type: 'integer', minimum: 1, default: 10000, description: 'Receiving a client\'s request headers; past it 408 (nginx: client_header_timeout).' },
        clientIdleMs: { type: 'integer', minimum: 1, default: 75000, description: 'An idle client keep-alive connection is closed after this (nginx: keepalive_timeout).' },
        upstreamIdleMs: { type: 'integer', minimum: 1, default: 4000, description: 'An idle backend keep-alive connection is closed after this; keep it below the backends\' own keep-alive timeout.' },
        shutdownGraceMs: { type: 'integer', minimum: 0, default: 10000, description: 'On SIGINT/SIGTERM (and for the old configuration on a reload), in-flight requests get this long to finish before their connections are closed.' },
        lingerMs: {
          type: 'integer', minimum: 0, default: 5000,
          description: 'After a backend answered before the client finished sending its body, lb reads and drops the rest for up to this long before closing, so the client sees the response rather than a reset (nginx: lingering_time).',
        },
      },
      additionalProperties: false,
    },
    retries: {
      type: 'object',
      default: {},
      description: 'Sending a request to another backend after a failed attempt. Retries re-enter target selection, excluding the backends already tried.',
      properties: {
        count: {
          type: 'integer', minimum: 0, maximum: 10, default: 2,
          description: 'Most further attempts per request. A connection failure is retried for any method (nothing was sent); 0 turns retries off.',
        },
        idempotentOnReset: {
          type: 'boolean', default: true,
          description: 'Also retry GET, HEAD, OPTIONS, PUT, DELETE and TRACE requests without a body when the backend resets the connection before its response headers.',
        },
      },
      additionalProperties: false,
    },
    limits: {
      type: 'object',
      default: {},
      description: 'Size and count limits.',
      properties: {
        maxHeaderBytes: { type: 'integer', minimum: 1024, maximum: 1048576, default: 16384, description: 'Largest request header block, in bytes; larger gets 431 (nginx: large_client_header_buffers, 4 × 8 KB).' },
        maxHeaderCount: { type: 'integer', minimum: 1, maximum: 10000, default: 100, description: 'Most header fields in a request; more gets 431 (HAProxy: tune.http.maxhdr 101; Apache: LimitRequestFields 100).' },
        maxUrlBytes: { type: 'integer', minimum: 256, maximum: 1048576, default: 8192, description: 'Longest request target (URL), in bytes; longer gets 414 (nginx: 8 KB per request line).' },
        maxBodyBytes: {
          type: 'integer', minimum: 0, default: 1073741824,
          description: 'Largest request body, in bytes (default 1 GiB); a larger declared Content-Length gets 413 before anything reaches a backend, and a chunked body that grows past it gets 413 and its upstream request is aborted. 0: no limit (nginx: client_max_body_size, 1 MB).',
        },
        maxSocketsPerTarget: { type: 'integer', minimum: 0, default: 0, description: 'Most connections open to one backend at once; 0 means no limit.' },
      },
      additionalProperties: false,
    },
    log: {
      type: 'object',
      default: {},
      description: 'Logging to standard error.',
      properties: {
        level: { enum: ['debug', 'info', 'warn', 'error', 'silent'], default: 'info', description: 'Least severe level written.' },
        format: { enum: ['text', 'json'], default: 'text', description: 'One line per event: "text" for people, "json" for collectors.' },
        access: { type: 'boolean', default: false, description: 'Log one line per request (method, path, status, target, duration).' },
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
} as const;

/** The rc file as validated, with defaults filled in. */
export type LbConfig = FromSchema<typeof coreConfigSchema, { keepDefaultedPropertiesOptional: false }>;
/** A plugin entry as written in the rc file or a preset. */
export type PluginEntry = FromSchema<typeof pluginEntry, { keepDefaultedPropertiesOptional: true }>;
