/** Options of the handshake plugin. */
export const handshakeSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    identityKey: {
      type: 'string', default: 'lb-identity.pem',
      description: 'Path of the identity key file (PKCS#8 PEM, ECDSA P-256), relative to the working directory. Every PU1 is signed with it; clients pin its fingerprint (`lb keys fingerprint`). Unit: file path.',
    },
    createIdentity: {
      type: 'boolean', default: true,
      description: 'Make the identity key file (mode 0600) when it does not exist, and log its path and fingerprint. false: a missing file fails start-up. Unit: on/off.',
    },
    suite: {
      type: 'string', enum: ['rsa-oaep-2048', 'rsa-oaep-3072', 'x25519'], default: 'rsa-oaep-2048',
      description: 'Key exchange: RSA-OAEP-SHA-256 (2048 or 3072 bits) for PU1 and PU2, or X25519 + HKDF with the same steps, about two orders of magnitude cheaper. Unit: suite name.',
    },
    pu1: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Where PU1 comes from. Keys are never generated on the request path.',
      properties: {
        mode: {
          type: 'string', enum: ['pool', 'rotating'], default: 'pool',
          description: '"pool": a fresh PU1 per handshake, made ahead of time and used once (forward secrecy per session; sustained rate bounded by key generation, a few per second per core for RSA). "rotating": one PU1 shared by every handshake of a rotation period (cheap; with x25519 a leaked PR1 exposes the K of that period\'s sessions, with RSA only their PU2 and the chance to impersonate lb while the offer is valid). Unit: mode.',
        },
        poolSize: { type: 'integer', minimum: 1, maximum: 10000, default: 32, description: 'PU1 pairs kept ready in "pool" mode. Unit: key pairs.' },
        refillConcurrency: { type: 'integer', minimum: 1, maximum: 16, default: 1, description: 'Key pairs generated at once in the background (each occupies a libuv thread-pool thread). Unit: key pairs.' },
        rotateSeconds: { type: 'integer', minimum: 1, maximum: 86400, default: 60, description: 'How long one PU1 serves in "rotating" mode before the next (made ahead of time) replaces it. Unit: seconds.' },
      },
    },
    offerTtlMs: { type: 'integer', minimum: 1000, maximum: 600000, default: 30000, description: 'How long a client has to answer an offer (step 2 after step 1). Unit: ms.' },
    sessionTtlSeconds: { type: 'integer', minimum: 10, maximum: 604800, default: 900, description: 'Lifetime of a session (its K) in the keystore; then requests get 401 LB_ERR_SESSION_UNKNOWN and lb/client makes a new handshake. Unit: seconds.' },
    replayWindowSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: 120, description: 'Request ids must carry a time within this many seconds of lb\'s clock; ids are remembered for twice as long to refuse replays. Unit: seconds.' },
    recordSize: { type: 'integer', minimum: 1024, maximum: 65536, default: 65536, description: 'Record size rs of the responses lb encrypts. Unit: bytes.' },
    firstRecordTimeoutMs: { type: 'integer', minimum: 100, maximum: 600000, default: 30000, description: 'How long the first record of a request body may take to arrive: lb checks it before anything is proxied (400 LB_ERR_RECORD_INVALID after). A slow producer can also send smaller records (the SDK\'s recordSize). Unit: ms.' },
    maxRecordSize: { type: 'integer', minimum: 1024, maximum: 65536, default: 65536, description: 'Largest record size accepted in request bodies (413 above). Unit: bytes.' },
    plaintext: {
      type: 'string', enum: ['refuse', 'allow'], default: 'refuse',
      description: '"refuse": requests without an lb-session header get 401 LB_ERR_SESSION_REQUIRED. "allow": they are proxied in clear beside encrypted ones. Unit: policy.',
    },
    limits: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Handshakes are expensive (RSA); these caps keep a flood from starving everyone else.',
      properties: {
        concurrent: { type: 'integer', minimum: 1, maximum: 100000, default: 64, description: 'Handshake steps computed at once; beyond it, 503 with Retry-After. Unit: handshakes.' },
        perClientBurst: { type: 'integer', minimum: 1, maximum: 100000, default: 20, description: 'Handshakes one client address may start at once before its rate applies (token bucket size). Unit: handshakes.' },
        perClientPerSecond: { type: 'number', minimum: 0.01, maximum: 100000, default: 2, description: 'Sustained handshakes per second per client address; beyond it, 429 with Retry-After. Unit: handshakes per second.' },
      },
    },
    webcrypto: {
      type: 'string', enum: ['native', 'peculiar'], default: 'native',
      description: 'WebCrypto used for the key exchange: Node\'s own, or @peculiar/webcrypto. Records always use node:crypto (measured faster). Unit: implementation.',
    },
  },
} as const;
