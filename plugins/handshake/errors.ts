import { defineErrors } from '../../core/index.js';

/** The handshake plugin's error codes (listed in docs/errors.md and docs/protocol.md). */
export const handshakeErrors = defineErrors({
  LB_ERR_HANDSHAKE_IDENTITY: {
    message: 'The handshake cannot use its identity key: {detail}',
    statusCode: 500, source: 'internal', retryable: 'never',
    meaning: 'The file named by the handshake option identityKey is missing (with createIdentity false), unreadable, or not an ECDSA P-256 private key in PEM. lb does not start (or a reload is refused).',
    fix: 'Make a key with `lb keys generate --out FILE` and name FILE in identityKey, or set createIdentity to true to have lb make one.',
  },
  LB_ERR_HANDSHAKE_MALFORMED: {
    message: 'Handshake message refused: {detail}',
    statusCode: 400, source: 'downstream', retryable: 'never',
    meaning: 'A POST to /.lb/handshake was not the JSON answer docs/protocol.md defines (fields, base64url, sizes).',
    fix: 'Use lb/client, or follow docs/protocol.md "Step 2" exactly.',
  },
  LB_ERR_HANDSHAKE_OFFER_UNKNOWN: {
    message: 'The offer the handshake answers is unknown, already used or expired.',
    statusCode: 400, source: 'downstream', retryable: 'never',
    meaning: 'Each pooled PU1 completes one handshake within offerTtlMs; a rotating PU1 serves until its rotation ends. This offer is neither (or was made by another lb instance).',
    fix: 'Start again with GET /.lb/handshake; lb/client does so by itself.',
  },
  LB_ERR_HANDSHAKE_FAILED: {
    message: 'The handshake answer does not decrypt under the offer\'s key.',
    statusCode: 400, source: 'downstream', retryable: 'never',
    meaning: 'PU2 sealed under PU1 failed to authenticate: it was tampered with, sealed to another key, or bound to another offer.',
    fix: 'Seal PU2 to the PU1 of the offer you answer, with that offer\'s AAD (docs/protocol.md).',
  },
  LB_ERR_HANDSHAKE_BUSY: {
    message: 'Too many handshakes in progress ({limit}); retry shortly.',
    statusCode: 503, source: 'internal', retryable: 'never',
    meaning: 'limits.concurrent handshakes are being computed; more would delay everyone. The response carries Retry-After.',
    fix: 'Retry after the Retry-After seconds; for more sustained handshakes use pu1.mode "rotating" or the x25519 suite, or raise limits.concurrent.',
  },
  LB_ERR_HANDSHAKE_POOL_EMPTY: {
    message: 'No pre-generated PU1 is left; the pool refills at about {rate} per second.',
    statusCode: 503, source: 'internal', retryable: 'never',
    meaning: 'Each handshake in pu1.mode "pool" takes one key pair generated ahead of time; they were all used faster than they are made.',
    fix: 'Retry after the Retry-After seconds; raise pu1.poolSize for bursts, or use pu1.mode "rotating" or the x25519 suite for sustained rates.',
  },
  LB_ERR_HANDSHAKE_RATE_LIMITED: {
    message: 'Client {client} asked for too many handshakes; retry in {retryAfter} s.',
    statusCode: 429, source: 'downstream', retryable: 'never',
    meaning: 'One client address used up its handshake budget (limits.perClient: burst, then perSecond).',
    fix: 'Reuse sessions instead of making one per request (lb/client does), or raise limits.perClient.',
  },
  LB_ERR_SESSION_REQUIRED: {
    message: 'This listener serves encrypted sessions only; the request has no lb-session header.',
    statusCode: 401, source: 'downstream', retryable: 'never',
    meaning: 'The handshake plugin runs with plaintext "refuse", so requests outside a session are not proxied.',
    fix: 'Send requests through lb/client (connect, then session.fetch), or set the handshake plugin\'s plaintext to "allow".',
  },
  LB_ERR_SESSION_HEADERS: {
    message: 'Encrypted request refused: {detail}',
    statusCode: 400, source: 'downstream', retryable: 'never',
    meaning: 'The lb-session, lb-request or lb-seal header is missing or not the base64url value docs/protocol.md defines.',
    fix: 'Send the headers of docs/protocol.md "Requests"; lb/client does.',
  },
  LB_ERR_SESSION_UNKNOWN: {
    message: 'Session {session} is unknown, expired or closed; make a new handshake.',
    statusCode: 401, source: 'downstream', retryable: 'never',
    meaning: 'The keystore has no live session under this id: it expired (sessionTtlSeconds), was closed, or was made with a keystore this instance does not share.',
    fix: 'Make a new handshake (lb/client renegotiates by itself); with several lb instances give them one shared keystore (Redis).',
  },
  LB_ERR_REQUEST_STALE: {
    message: 'Encrypted request refused: its request id is {age} s from lb\'s clock, beyond the {window} s replay window.',
    statusCode: 400, source: 'downstream', retryable: 'never',
    meaning: 'Request ids carry the client\'s time; lb only remembers ids within replayWindowSeconds, so older (or far future) ones could be replays.',
    fix: 'Fix the client\'s clock (or lb\'s), or raise replayWindowSeconds.',
  },
  LB_ERR_REQUEST_REPLAYED: {
    message: 'Encrypted request refused: request id already seen in session {session} (a replay).',
    statusCode: 400, source: 'downstream', retryable: 'never',
    meaning: 'Every encrypted request has a fresh id; lb remembers ids within the replay window and refuses a second request with the same one.',
    fix: 'Make a new request id for every request, retries included (lb/client does).',
  },
  LB_ERR_RECORD_INVALID: {
    message: 'Encrypted body refused: {detail}',
    statusCode: 400, source: 'downstream', retryable: 'never',
    meaning: 'A record did not authenticate (tampered, truncated, reordered, from another request or session) or broke the framing of docs/protocol.md. Nothing of it reached the backend in clear.',
    fix: 'Send the body exactly as sealed, under this session\'s K, bound to this request\'s method, path and id.',
  },
  LB_ERR_RECORD_TOO_LARGE: {
    message: 'Encrypted body refused: record size {rs} is above the {limit} bytes lb accepts.',
    statusCode: 413, source: 'downstream', retryable: 'never',
    meaning: 'The body\'s header declares records larger than maxRecordSize; lb holds one record at a time and bounds it.',
    fix: 'Seal with a record size of at most maxRecordSize (default 65536).',
  },
});

export type HandshakeErrorCode = keyof typeof handshakeErrors.specs;
