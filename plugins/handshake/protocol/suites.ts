/**
 * Key-exchange suites. Each keeps the original design's steps: the server offers
 * PU1; the client sends PU2 encrypted under PU1; the server returns K encrypted
 * under PU2. RSA-OAEP is the default; X25519 does the same steps with ECDH + HKDF.
 */
import { concat, field16 } from './bytes.js';
import * as p from './primitives.js';
import type { CryptoLike } from './primitives.js';

export type SuiteId = 'rsa-oaep-2048' | 'rsa-oaep-3072' | 'x25519';
export const SUITES: readonly SuiteId[] = ['rsa-oaep-2048', 'rsa-oaep-3072', 'x25519'];

/** A key pair of a suite: the public key as sent on the wire, and the private key. */
export interface SuitePair {
  readonly publicBytes: Uint8Array;
  readonly privateKey: CryptoKey;
}

/** The client's keys for one handshake, made ahead of time if wanted. */
export interface ClientKeys {
  readonly suite: SuiteId;
  readonly pair: SuitePair;
  /** X25519 only: the ephemeral pair that seals PU2 to PU1. */
  readonly ephemeral?: SuitePair;
}

export interface Suite {
  readonly id: SuiteId;
  /** Bytes of a wire public key (SPKI for RSA, raw for X25519), to refuse others early. */
  publicKeyValid(bytes: Uint8Array): boolean;
  generatePair(c: CryptoLike): Promise<SuitePair>;
  generateClientKeys(c: CryptoLike): Promise<ClientKeys>;
  /** Client: PU2 sealed to PU1, bound to `aad`. */
  sealPu2(c: CryptoLike, pu1: Uint8Array, keys: ClientKeys, aad: Uint8Array): Promise<Uint8Array>;
  /** Server: PU2 from the sealed bytes, or undefined. */
  openPu2(c: CryptoLike, pr1: CryptoKey, pu1: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array | undefined>;
  /** Server: K wrapped to PU2, bound to the transcript `bind`. */
  wrapK(c: CryptoLike, pr1: CryptoKey, pu2: Uint8Array, k: Uint8Array, bind: Uint8Array): Promise<Uint8Array>;
  /** Client: K, or undefined. */
  unwrapK(c: CryptoLike, keys: ClientKeys, pu1: Uint8Array, wrapped: Uint8Array, bind: Uint8Array): Promise<Uint8Array | undefined>;
}

const ZERO_IV = new Uint8Array(12);

async function exportPair(c: CryptoLike, pair: CryptoKeyPair, format: 'spki' | 'raw'): Promise<SuitePair> {
  return { publicBytes: new Uint8Array(await c.subtle.exportKey(format, pair.publicKey)), privateKey: pair.privateKey };
}

/** DER prefix of an RSA SubjectPublicKeyInfo: SEQUENCE, then the rsaEncryption AlgorithmIdentifier. */
const RSA_SPKI_OID = Uint8Array.of(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01);

function rsaSuite(id: SuiteId, bits: number): Suite {
  const modulusBytes = bits / 8;
  const spkiMin = modulusBytes + 20;
  const spkiMax = modulusBytes + 40;
  const suite: Suite = {
    id,
    publicKeyValid(bytes) {
      if (bytes.length < spkiMin || bytes.length > spkiMax || bytes[0] !== 0x30) return false;
      const at = bytes.indexOf(0x06);
      return at > 0 && at < 12 && RSA_SPKI_OID.every((b, i) => bytes[at + i] === b);
    },
    async generatePair(c) {
      return exportPair(c, await p.generateRsaOaep(c, bits), 'spki');
    },
    async generateClientKeys(c) {
      return { suite: id, pair: await suite.generatePair(c) };
    },
    // Hybrid: a fresh AES-256-GCM key, wrapped with RSA-OAEP under PU1, encrypts PU2.
    async sealPu2(c, pu1, keys, aad) {
      const pub = await p.importRsaOaepPublic(c, pu1);
      const cek = p.randomBytes(c, 32);
      const wrapped = await p.rsaOaepEncrypt(c, pub, cek, aad);
      const sealed = await p.aesGcmSeal(c, await p.importAesKey(c, cek), ZERO_IV, keys.pair.publicBytes, aad);
      return concat(wrapped, sealed);
    },
    async openPu2(c, pr1, _pu1, sealed, aad) {
      if (sealed.length < modulusBytes + 16) return undefined;
      const cek = await p.rsaOaepDecrypt(c, pr1, sealed.subarray(0, modulusBytes), aad);
      if (!cek || cek.length !== 32) return undefined;
      const pu2 = await p.aesGcmOpen(c, await p.importAesKey(c, cek), ZERO_IV, sealed.subarray(modulusBytes), aad);
      return pu2 && suite.publicKeyValid(pu2) ? pu2 : undefined;
    },
    async wrapK(c, _pr1, pu2, k, bind) {
      return p.rsaOaepEncrypt(c, await p.importRsaOaepPublic(c, pu2), k, bind);
    },
    async unwrapK(c, keys, _pu1, wrapped, bind) {
      if (wrapped.length !== modulusBytes) return undefined;
      return p.rsaOaepDecrypt(c, keys.pair.privateKey, wrapped, bind);
    },
  };
  return suite;
}

/** An AES-256-GCM key from an X25519 shared secret: HKDF over both public keys and the binding. */
async function ecdhKey(c: CryptoLike, shared: Uint8Array, a: Uint8Array, b: Uint8Array, name: string, bind: Uint8Array): Promise<CryptoKey> {
  const raw = await p.hkdf(c, shared, concat(field16(a), field16(b)), concat(p.label(name), bind), 32);
  return p.importAesKey(c, raw);
}

const x25519Suite: Suite = {
  id: 'x25519',
  publicKeyValid: (bytes) => bytes.length === 32,
  async generatePair(c) {
    return exportPair(c, await p.generateX25519(c), 'raw');
  },
  async generateClientKeys(c) {
    const [pair, ephemeral] = await Promise.all([x25519Suite.generatePair(c), x25519Suite.generatePair(c)]);
    return { suite: 'x25519', pair, ephemeral };
  },
  // PU2 sealed to PU1 with an ephemeral key E: ECDH(e, PU1) → HKDF → AES-GCM. Sent as E || ciphertext.
  async sealPu2(c, pu1, keys, aad) {
    const e = keys.ephemeral!;
    const shared = await p.x25519(c, e.privateKey, await p.importX25519Public(c, pu1));
    if (!shared) throw new Error('the server\'s X25519 key is of low order');
    const key = await ecdhKey(c, shared, e.publicBytes, pu1, 'pu2', aad);
    return concat(e.publicBytes, await p.aesGcmSeal(c, key, ZERO_IV, keys.pair.publicBytes, aad));
  },
  async openPu2(c, pr1, pu1, sealed, aad) {
    if (sealed.length !== 32 + 32 + 16) return undefined;
    const eBytes = sealed.subarray(0, 32);
    const shared = await p.x25519(c, pr1, await p.importX25519Public(c, eBytes));
    if (!shared) return undefined;
    const key = await ecdhKey(c, shared, eBytes, pu1, 'pu2', aad);
    return p.aesGcmOpen(c, key, ZERO_IV, sealed.subarray(32), aad);
  },
  // K wrapped with a key only PR1 and PR2 can derive: ECDH(PR1, PU2) → HKDF (bound to the transcript) → AES-GCM.
  async wrapK(c, pr1, pu2, k, bind) {
    const shared = await p.x25519(c, pr1, await p.importX25519Public(c, pu2));
    if (!shared) throw new RangeError('PU2 is of low order');
    return p.aesGcmSeal(c, await ecdhKey(c, shared, pu2, new Uint8Array(0), 'k', bind), ZERO_IV, k, bind);
  },
  async unwrapK(c, keys, pu1, wrapped, bind) {
    if (wrapped.length !== 32 + 16) return undefined;
    const shared = await p.x25519(c, keys.pair.privateKey, await p.importX25519Public(c, pu1));
    if (!shared) return undefined;
    return p.aesGcmOpen(c, await ecdhKey(c, shared, keys.pair.publicBytes, new Uint8Array(0), 'k', bind), ZERO_IV, wrapped, bind);
  },
};

const table: Record<SuiteId, Suite> = {
  'rsa-oaep-2048': rsaSuite('rsa-oaep-2048', 2048),
  'rsa-oaep-3072': rsaSuite('rsa-oaep-3072', 3072),
  x25519: x25519Suite,
};

export function suiteOf(id: string): Suite | undefined {
  return Object.prototype.hasOwnProperty.call(table, id) ? table[id as SuiteId] : undefined;
}
