/**
 * The handshake's reserved routes: GET /.lb/handshake (step 1, the signed offer),
 * POST /.lb/handshake (steps 2 and 3: PU2 in, K out), DELETE /.lb/handshake (close
 * the session the request is authenticated with).
 */
import type { Pipeline } from '../../core/index.js';
import { toB64u } from './protocol/bytes.js';
import { KEY_BYTES, SESSION_ID_BYTES, acceptBinding, answerAad, encodeAccept, parseAnswer } from './protocol/messages.js';
import { randomBytes, type CryptoLike } from './protocol/primitives.js';
import type { Suite } from './protocol/suites.js';
import { handshakeErrors } from './errors.js';
import { acceptBindingSync, answerAadSync, type ServerSuite } from './server-crypto.js';
import { verifyRequest, type CipherSettings } from './cipher.js';
import type { HandshakeLimits } from './limits.js';
import type { Pu1Source } from './pu1-source.js';
import type { Sessions } from './sessions.js';

export const HANDSHAKE_PATH = '/.lb/handshake';

export interface RouteSettings {
  readonly crypto: CryptoLike;
  readonly suite: Suite;
  /** node:crypto for steps 2 and 3 (with Node's own WebCrypto); absent: the WebCrypto suite, as with @peculiar/webcrypto. */
  readonly server: ServerSuite | undefined;
  readonly source: Pu1Source;
  readonly sessions: Sessions;
  readonly limits: HandshakeLimits;
  readonly sessionTtlMs: number;
  readonly cipher: CipherSettings;
}

const { create } = handshakeErrors;
const JSON_HEADERS = { 'content-type': 'application/json' };

export function claimRoutes(pipeline: Pipeline, r: RouteSettings): void {
  pipeline.routes.claim({
    path: HANDSHAKE_PATH,
    methods: ['GET', 'POST', 'DELETE'],
    maxBodyBytes: 8192,
    timeoutMs: 10_000,
    errorFormat: 'json',
    async handler({ req, readBody }) {
      // A client's handshake budget is spent where the cost is: on the pooled PU1 it takes (GET), or,
      // when one rotating PU1 serves many handshakes, on each answer that lb decrypts (POST).
      const costly = r.source.rotating ? req.method === 'POST' : req.method === 'GET';
      if (costly) {
        const wait = r.limits.takeToken(req.socket.remoteAddress ?? 'unknown');
        if (wait > 0) throw create('LB_ERR_HANDSHAKE_RATE_LIMITED', { client: req.socket.remoteAddress ?? 'unknown', retryAfter: Math.ceil(wait) }, { retryAfter: wait });
      }
      if (req.method === 'GET') {
        const offer = await r.source.offer();
        if (!offer) {
          const rate = r.source.refillRate;
          throw create('LB_ERR_HANDSHAKE_POOL_EMPTY', { rate: rate.toFixed(1) }, { retryAfter: Math.max(1, 1 / rate) });
        }
        return { headers: JSON_HEADERS, body: offer.json };
      }
      if (req.method === 'DELETE') {
        const v = await verifyRequest(req, r.cipher);
        await r.sessions.close(v.sid);
        return { status: 204 };
      }
      if (!r.limits.enter()) throw create('LB_ERR_HANDSHAKE_BUSY', { limit: r.limits.inProgress }, { retryAfter: 1 });
      try {
        return { headers: JSON_HEADERS, body: await complete(r, (await readBody()).toString('utf8')) };
      } finally {
        r.limits.leave();
      }
    },
  });
}

/** Steps 2 and 3: opens PU2, makes the session and K, and answers with K wrapped under PU2. */
async function complete(r: RouteSettings, text: string): Promise<string> {
  const parsed = parseAnswer(text);
  if (!parsed.ok) throw create('LB_ERR_HANDSHAKE_MALFORMED', { detail: parsed.reason });
  const { offerId, sealedPu2 } = parsed.value;
  const open = r.source.take(toB64u(offerId));
  if (!open) throw create('LB_ERR_HANDSHAKE_OFFER_UNKNOWN');
  const c = r.crypto;
  const server = r.server;
  const aad = server ? answerAadSync(open.offer) : await answerAad(c, open.offer);
  const pu2 = server ? await server.openPu2(open.privateKey, open.offer.pu1, sealedPu2, aad) : await r.suite.openPu2(c, open.privateKey, open.offer.pu1, sealedPu2, aad);
  if (!pu2) throw create('LB_ERR_HANDSHAKE_FAILED');
  const sessionId = randomBytes(c, SESSION_ID_BYTES);
  const k = randomBytes(c, KEY_BYTES);
  let wrappedK: Uint8Array;
  try {
    wrappedK = server
      ? server.wrapK(open.privateKey, pu2, k, acceptBindingSync(open.offer, sealedPu2, sessionId))
      : await r.suite.wrapK(c, open.privateKey, pu2, k, await acceptBinding(c, open.offer, sealedPu2, sessionId));
  } catch {
    throw create('LB_ERR_HANDSHAKE_FAILED');
  }
  const now = Date.now();
  const expires = now + r.sessionTtlMs;
  await r.sessions.create(toB64u(sessionId), { suite: r.suite.id, created: now, expires, k });
  return encodeAccept({ sessionId, expires, wrappedK, maxRecordSize: r.cipher.maxRecordSize });
}
