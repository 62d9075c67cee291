/** Media types compressed by default: text and the structured formats served as text, plus wasm and uncompressed fonts. */
export const DEFAULT_TYPES = [
  'text/*',
  'application/json', 'application/*+json', 'application/x-ndjson',
  'application/javascript', 'application/x-javascript', 'application/ecmascript',
  'application/xml', 'application/*+xml',
  'application/yaml', 'application/x-yaml', 'application/toml', 'application/graphql',
  'application/wasm',
  'image/svg+xml', 'image/x-icon', 'image/vnd.microsoft.icon', 'image/bmp',
  'font/ttf', 'font/otf', 'font/collection', 'application/vnd.ms-fontobject',
] as const;

const mediaTypeList = {
  type: 'array',
  items: { type: 'string', pattern: '^[A-Za-z0-9!#$&^_.+-]+/([A-Za-z0-9!#$&^_.+-]+|\\*|\\*\\+[A-Za-z0-9!#$&^_.+-]+)$' },
  uniqueItems: true,
} as const;

/** Options of the compression plugin. Route rules override the top-level values for a path prefix. */
export const compressionSchema = {
  type: 'object',
  description: 'Compresses responses (br, gzip) negotiated with Accept-Encoding, streaming; decompresses request bodies with size and ratio limits.',
  properties: {
    encodings: {
      type: 'array',
      items: { enum: ['br', 'gzip'] },
      uniqueItems: true,
      minItems: 1,
      default: ['br', 'gzip'],
      description: 'Codings lb may use for responses, in server preference order: it decides between codings the client accepts with equal q-values. Unit: coding names.',
    },
    minSize: {
      type: 'integer', minimum: 0, default: 1024,
      description: 'Responses smaller than this many bytes are sent as they are. Without Content-Length lb reads at most this many bytes to decide (see sizeWaitMs). In bytes.',
    },
    sizeWaitMs: {
      type: 'integer', minimum: 0, maximum: 10000, default: 50,
      description: 'For a response without Content-Length, the longest lb waits for the first minSize bytes before sending headers; a backend that has sent less by then is treated as a stream and compressed. In milliseconds.',
    },
    types: {
      ...mediaTypeList,
      default: [...DEFAULT_TYPES],
      description: 'Media types that are compressed: "text/*" matches a family, "application/*+json" a suffix. Responses of other types (images, audio, video, archives, woff fonts) and without Content-Type are sent as they are. Unit: media types.',
    },
    brotli: {
      type: 'object',
      default: {},
      description: 'Brotli (br) settings.',
      properties: {
        engine: {
          enum: ['zlib', 'wasm'], default: 'zlib',
          description: '"zlib": node:zlib, off the event loop, streaming with flush (measured faster, see docs/compression.md). "wasm": brotli-wasm, synchronous on the event loop, no flush (streams of unknown length then use zlib). Unit: engine name.',
        },
        quality: { type: 'integer', minimum: 0, maximum: 11, default: 5, description: 'Brotli quality for bodies under largeFrom: higher is smaller and slower; 4-5 suit dynamic responses. Unit: level 0-11.' },
        largeQuality: {
          type: 'integer', minimum: 0, maximum: 11, default: 4,
          description: 'Brotli quality for bodies of largeFrom bytes or more and for streams of unknown length, where speed matters most (measured: about twice as fast as 5 on 1 MB of JSON, still smaller than gzip 6). Unit: level 0-11.',
        },
        largeFrom: { type: 'integer', minimum: 0, default: 262144, description: 'Body size from which largeQuality applies. In bytes.' },
        windowBits: {
          type: 'integer', minimum: 10, maximum: 24, default: 19,
          description: 'Largest sliding window, as a power of two (19 = 512 KiB, as nginx\'s brotli module); bounds per-stream memory. Responses with a known smaller length use a smaller window. Unit: log2 bytes.',
        },
      },
      additionalProperties: false,
    },
    gzip: {
      type: 'object',
      default: {},
      description: 'gzip settings, for clients without br.',
      properties: {
        level: { type: 'integer', minimum: 1, maximum: 9, default: 6, description: 'zlib level: higher is smaller and slower. Unit: level 1-9.' },
      },
      additionalProperties: false,
    },
    flushIdleMs: {
      type: 'integer', minimum: 0, maximum: 10000, default: 10,
      description: 'For responses without Content-Length (SSE, NDJSON, long polls), compressed data is flushed to the client once the backend has sent nothing for this long, so events are not held back; 0 flushes after every chunk. In milliseconds.',
    },
    checkUpstreamEncoding: {
      type: 'boolean', default: true,
      description: 'Check the first bytes of a backend response that claims Content-Encoding gzip, deflate or br, and answer 502 when they are not in that coding. Unit: on/off.',
    },
    encrypted: {
      type: 'object',
      default: {},
      description: 'Responses of encrypted sessions. Compressing a secret together with attacker-controlled text and then encrypting leaks the secret through the length (BREACH).',
      properties: {
        compress: { type: 'boolean', default: true, description: 'false: never compress a response whose session is encrypted. Unit: on/off.' },
        skipTypes: {
          ...mediaTypeList,
          default: [],
          description: 'Media types never compressed when the session is encrypted, e.g. ["text/html"] for pages that reflect input next to secrets. Unit: media types.',
        },
      },
      additionalProperties: false,
    },
    request: {
      type: 'object',
      default: {},
      description: 'Request bodies sent with Content-Encoding br, gzip or deflate.',
      properties: {
        decompress: { type: 'boolean', default: true, description: 'Decompress request bodies before they reach the backend. Unit: on/off.' },
        maxSize: {
          type: 'integer', minimum: 1, default: 10485760,
          description: 'Largest decompressed request body; past it the client gets 413 and lb stops reading. In bytes.',
        },
        maxRatio: {
          type: 'number', minimum: 1, default: 100,
          description: 'Largest expansion (decompressed bytes / compressed bytes) once the body passes ratioAfter; past it 413. Unit: ratio.',
        },
        ratioAfter: {
          type: 'integer', minimum: 0, default: 1048576,
          description: 'Decompressed size from which maxRatio is enforced, so small, very repetitive bodies pass. In bytes.',
        },
        unknownEncoding: {
          enum: ['reject', 'pass'], default: 'reject',
          description: '"reject" answers 415 (with Accept-Encoding) to a request body in a coding lb cannot decode; "pass" sends it to the backend unchanged. Unit: action.',
        },
      },
      additionalProperties: false,
    },
    upstream: {
      type: 'object',
      default: {},
      description: 'Compression of request bodies toward backends that declare, with Accept-Encoding in their responses (RFC 7694), that they accept it.',
      properties: {
        compress: { type: 'boolean', default: false, description: 'Compress request bodies for backends that declared the coding. Unit: on/off.' },
        encoding: { enum: ['gzip', 'br'], default: 'gzip', description: 'Coding used toward backends. Unit: coding name.' },
        minSize: { type: 'integer', minimum: 0, default: 1024, description: 'Request bodies with a smaller Content-Length are sent as they are. In bytes.' },
      },
      additionalProperties: false,
    },
    routes: {
      type: 'array',
      default: [],
      description: 'Per-path overrides, as nginx locations: the longest matching prefix wins; fields left out inherit the top-level value.',
      items: {
        type: 'object',
        properties: {
          path: { type: 'string', pattern: '^/', description: 'Path prefix the rule applies to, e.g. "/api/". Unit: URL path.' },
          compress: { type: 'boolean', description: 'Compress responses on this path. Inherits true. Unit: on/off.' },
          types: { ...mediaTypeList, description: 'Compressible media types on this path. Inherits `types`. Unit: media types.' },
          minSize: { type: 'integer', minimum: 0, description: 'Smallest response compressed on this path. Inherits `minSize`. In bytes.' },
          compressEncrypted: { type: 'boolean', description: 'Compress responses of encrypted sessions on this path (BREACH switch). Inherits `encrypted.compress`. Unit: on/off.' },
          decompress: { type: 'boolean', description: 'Decompress request bodies on this path. Inherits `request.decompress`. Unit: on/off.' },
          maxRequestSize: { type: 'integer', minimum: 1, description: 'Largest decompressed request body on this path. Inherits `request.maxSize`. In bytes.' },
        },
        required: ['path'],
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
} as const;
