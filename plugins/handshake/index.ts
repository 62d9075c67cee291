import { Crypto as PeculiarCrypto } from '@peculiar/webcrypto';
import { definePlugin, KEYSTORE, PLUGIN_API_VERSION, type OptionsOf } from '../../core/index.js';
import { handshakeSchema } from './schema.js';
import { handshakeErrors } from './errors.js';
import { loadIdentity, signingKey } from './identity.js';
import { Pu1Source } from './pu1-source.js';
import { HandshakeLimits } from './limits.js';
import { Sessions } from './sessions.js';
import { SessionCipher, SESSION_HEADER, REQUEST_HEADER, SEAL_HEADER, ACCEPT_ENCODING_HEADER, verifyRequest, wholeBodySource, type CipherSettings } from './cipher.js';
import { claimRoutes, HANDSHAKE_PATH } from './routes.js';
import { suiteOf } from './protocol/suites.js';
import { identitySigner, serverSuite } from './server-crypto.js';
import type { CryptoLike } from './protocol/primitives.js';

const PLUGIN_NAME = 'handshake';

export { HANDSHAKE_PATH } from './routes.js';
export { handshakeErrors } from './errors.js';
export { generateIdentityFile, readIdentity, loadIdentity, fingerprintOf } from './identity.js';

/**
 * End-to-end encryption of bodies with the dual-asymmetric handshake of
 * docs/protocol.md: signed PU1 offers on /.lb/handshake, sessions in the keystore
 * service, RFC 8188 records bound to each request, replay windows.
 */
export default definePlugin<OptionsOf<typeof handshakeSchema>>({
  name: PLUGIN_NAME,
  description: 'Encrypts bodies end to end: signed PU1 offers, PU2 under PU1, K under PU2 (RSA-OAEP or X25519), RFC 8188 records, sessions in the keystore.',
  kind: 'feature',
  apiVersion: PLUGIN_API_VERSION,
  schema: handshakeSchema,
  errors: handshakeErrors,
  requires: [KEYSTORE.name],
  async apply(pipeline, o) {
    const crypto: CryptoLike = o.webcrypto === 'peculiar' ? new PeculiarCrypto() : globalThis.crypto;
    let identity;
    try {
      identity = loadIdentity(o.identityKey, o.createIdentity);
    } catch (e) {
      throw handshakeErrors.create('LB_ERR_HANDSHAKE_IDENTITY', { detail: (e as Error).message }, { cause: e });
    }
    if (identity.created) pipeline.logger.info(`handshake: made a new identity key in ${identity.file}; clients pin ${identity.fingerprint}`, { fingerprint: identity.fingerprint });
    else pipeline.logger.info(`handshake: identity ${identity.fingerprint} (${identity.file})`, { fingerprint: identity.fingerprint });
    const key = await signingKey(crypto, identity);
    const suite = suiteOf(o.suite)!;
    const pu1Options = {
      crypto, suite, identity: { spki: identity.spki, key, signSync: o.webcrypto === 'native' ? identitySigner(identity.pkcs8) : undefined },
      mode: o.pu1.mode, poolSize: o.pu1.poolSize, refillConcurrency: o.pu1.refillConcurrency, rotateMs: o.pu1.rotateSeconds * 1000, offerTtlMs: o.offerTtlMs,
      onError: (e: Error) => pipeline.logger.error(`handshake: making a PU1 failed: ${e.message}`),
    };
    const source = pipeline.keep(`pu1:${o.suite}:${o.pu1.mode}:${identity.fingerprint}:${o.webcrypto}`, () => new Pu1Source(pu1Options));
    source.configure(pu1Options);
    const sessions = new Sessions(pipeline.services.get(KEYSTORE));
    const limits = pipeline.keep('limits', () => new HandshakeLimits(o.limits.concurrent, o.limits.perClientBurst, o.limits.perClientPerSecond));
    limits.configure(o.limits.concurrent, o.limits.perClientBurst, o.limits.perClientPerSecond);
    const cipher: CipherSettings = { sessions, replayWindowMs: o.replayWindowSeconds * 1000, recordSize: o.recordSize, maxRecordSize: o.maxRecordSize, readAheadMs: o.firstRecordTimeoutMs };
    const server = o.webcrypto === 'native' ? serverSuite(suite, crypto) : undefined;
    claimRoutes(pipeline, { crypto, suite, server, source, sessions, limits, sessionTtlMs: o.sessionTtlSeconds * 1000, cipher });
    const refusePlaintext = o.plaintext === 'refuse';
    pipeline.hooks.encrypt.tapPromise(PLUGIN_NAME, async (ctx) => {
      const h = ctx.req.headers;
      if (h[SESSION_HEADER] === undefined) {
        // Session headers without a session mean nothing to a backend.
        delete h[REQUEST_HEADER];
        delete h[SEAL_HEADER];
        if (refusePlaintext) {
          ctx.errorFormat = 'json';
          throw handshakeErrors.create('LB_ERR_SESSION_REQUIRED');
        }
        return undefined;
      }
      ctx.errorFormat = 'json';
      const v = await verifyRequest(ctx.req, cipher);
      ctx.bodySource = wholeBodySource(ctx.req, v);
      delete h[SESSION_HEADER];
      delete h[REQUEST_HEADER];
      delete h[SEAL_HEADER];
      const accepted = h[ACCEPT_ENCODING_HEADER];
      delete h[ACCEPT_ENCODING_HEADER];
      // The client decodes what it asked for inside the encryption; the outer Accept-Encoding is its browser's.
      if (typeof accepted === 'string') h['accept-encoding'] = accepted;
      else delete h['accept-encoding'];
      return new SessionCipher(v, cipher);
    });
    // WebSocket frames are not encrypted; an upgrade needs an authenticated session (lb-seal) unless plaintext is allowed.
    pipeline.hooks.beforeUpgrade.tapPromise(PLUGIN_NAME, async (ctx) => {
      const h = ctx.req.headers;
      if (h[SESSION_HEADER] === undefined) {
        if (refusePlaintext) throw handshakeErrors.create('LB_ERR_SESSION_REQUIRED');
        return;
      }
      await verifyRequest(ctx.req, cipher);
      delete h[SESSION_HEADER];
      delete h[REQUEST_HEADER];
      delete h[SEAL_HEADER];
    });
    return { start: () => source.start() };
  },
});

