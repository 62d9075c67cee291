/**
 * The proxy's side of steps 2 and 3 with node:crypto, synchronously where an
 * operation is short (SHA-256, HKDF, AES-GCM on a few hundred bytes, an RSA public
 * operation, an X25519 agreement: tens of microseconds each), so a handshake makes
 * one thread-pool round trip (RSA-OAEP decryption with PR1, through WebCrypto)
 * instead of a dozen. Same bytes as suites.ts and messages.ts; the round-trip tests
 * pit it against the SDK's WebCrypto side.
 */
import { KeyObject, constants, createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, publicEncrypt, sign } from 'node:crypto';
import { concat, field16, field8 } from './protocol/bytes.js';
import { offerSignedBytes, type Offer } from './protocol/messages.js';
import { label, rsaOaepDecrypt, type CryptoLike } from './protocol/primitives.js';
import type { Suite } from './protocol/suites.js';

const ZERO_IV = Buffer.alloc(12);
/** DER prefix of an X25519 SubjectPublicKeyInfo; the 32-byte key follows. */
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function gcmOpen(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer | undefined {
  if (sealed.length < 16) return undefined;
  const d = createDecipheriv('aes-256-gcm', key, ZERO_IV, { authTagLength: 16 });
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  const head = d.update(sealed.subarray(0, sealed.length - 16));
  try {
    return Buffer.concat([head, d.final()]);
  } catch {
    return undefined;
  }
}

function gcmSeal(key: Uint8Array, plain: Uint8Array, aad: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-gcm', key, ZERO_IV, { authTagLength: 16 });
  c.setAAD(aad);
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

/** answerAad of messages.ts. */
export function answerAadSync(offer: Offer): Buffer {
  return sha256(label('answer'), offerSignedBytes(offer.suite.id, offer.offerId, offer.expires, offer.pu1));
}

/** acceptBinding of messages.ts. */
export function acceptBindingSync(offer: Offer, sealedPu2: Uint8Array, sessionId: Uint8Array): Uint8Array {
  const transcript = sha256(label('transcript'), offerSignedBytes(offer.suite.id, offer.offerId, offer.expires, offer.pu1), field16(offer.signature), field16(sealedPu2));
  return concat(transcript, field8(sessionId));
}

function x25519Public(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** X25519 shared secret, or undefined for an all-zero one (a low-order key) or a key node refuses. */
function x25519(pr1: KeyObject, pub: Uint8Array): Buffer | undefined {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: pr1, publicKey: x25519Public(pub) });
  } catch {
    return undefined;
  }
  return shared.some((b) => b !== 0) ? shared : undefined;
}

function ecdhKey(shared: Uint8Array, a: Uint8Array, b: Uint8Array, name: string, bind: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, concat(field16(a), field16(b)), concat(label(name), bind), 32));
}

/** Steps 2 and 3 on the proxy for one suite. */
export interface ServerSuite {
  openPu2(pr1: CryptoKey, pu1: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array | undefined>;
  wrapK(pr1: CryptoKey, pu2: Uint8Array, k: Uint8Array, bind: Uint8Array): Uint8Array;
}

/** The node:crypto server side of `suite`, for PR1 keys made by Node's own WebCrypto. */
export function serverSuite(suite: Suite, webcrypto: CryptoLike): ServerSuite {
  if (suite.id === 'x25519') {
    return {
      async openPu2(pr1, pu1, sealed, aad) {
        if (sealed.length !== 32 + 32 + 16) return undefined;
        const e = sealed.subarray(0, 32);
        const shared = x25519(KeyObject.from(pr1), e);
        if (!shared) return undefined;
        return gcmOpen(ecdhKey(shared, e, pu1, 'pu2', aad), sealed.subarray(32), aad);
      },
      wrapK(pr1, pu2, k, bind) {
        const shared = x25519(KeyObject.from(pr1), pu2);
        if (!shared) throw new RangeError('PU2 is of low order');
        return gcmSeal(ecdhKey(shared, pu2, new Uint8Array(0), 'k', bind), k, bind);
      },
    };
  }
  const modulusBytes = suite.id === 'rsa-oaep-3072' ? 384 : 256;
  return {
    // The RSA private operation (0.3 to 1 ms) stays off the event loop, in WebCrypto's thread pool.
    async openPu2(pr1, _pu1, sealed, aad) {
      if (sealed.length < modulusBytes + 16) return undefined;
      const cek = await rsaOaepDecrypt(webcrypto, pr1, sealed.subarray(0, modulusBytes), aad);
      if (!cek || cek.length !== 32) return undefined;
      const pu2 = gcmOpen(cek, sealed.subarray(modulusBytes), aad);
      return pu2 && suite.publicKeyValid(pu2) ? pu2 : undefined;
    },
    wrapK(_pr1, pu2, k, bind) {
      const key = createPublicKey({ key: Buffer.from(pu2), format: 'der', type: 'spki' });
      return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: bind }, k);
    },
  };
}

/** Signs with the identity key (ECDSA P-256, SHA-256) as WebCrypto does: r || s, 64 bytes. */
export function identitySigner(pkcs8: Uint8Array): (data: Uint8Array) => Uint8Array {
  const key = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
  return (data) => sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
}
