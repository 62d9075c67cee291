/**
 * The protocol's cryptographic primitives over WebCrypto. Every function takes the
 * `Crypto` to use, so the proxy, Node clients and browsers share this code and tests
 * can pit native WebCrypto against `@peculiar/webcrypto`.
 */
import { concat, toB64u, utf8 } from './bytes.js';

/** What the protocol needs of a WebCrypto implementation. */
export interface CryptoLike {
  readonly subtle: SubtleCrypto;
  getRandomValues<T extends ArrayBufferView>(array: T): T;
}

/** The runtime's WebCrypto (`globalThis.crypto`). */
export function defaultCrypto(): CryptoLike {
  const c = (globalThis as { crypto?: CryptoLike }).crypto;
  if (!c?.subtle) throw new Error('this runtime has no WebCrypto (globalThis.crypto.subtle): pass { crypto: new (await import("@peculiar/webcrypto")).Crypto() }');
  return c;
}

export function randomBytes(c: CryptoLike, n: number): Uint8Array {
  const out = new Uint8Array(n);
  // getRandomValues takes at most 65536 bytes per call.
  for (let i = 0; i < n; i += 65536) c.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

/** A view WebCrypto accepts on every implementation (some refuse views of a SharedArrayBuffer). */
function buf(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}

export async function sha256(c: CryptoLike, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await c.subtle.digest('SHA-256', buf(data)));
}

/** HKDF-SHA-256 (RFC 5869): `length` bytes from `ikm`, `salt` and `info`. */
export async function hkdf(c: CryptoLike, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
  // RFC 5869 caps the output at 255 * HashLen; not every implementation checks (@peculiar/webcrypto wraps its block counter).
  if (!Number.isInteger(length) || length < 0 || length > 255 * 32) throw new RangeError('HKDF-SHA-256 gives 0 to 8160 bytes');
  const key = await c.subtle.importKey('raw', buf(ikm), 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await c.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: buf(salt), info: buf(info) }, key, length * 8));
}

export function importAesKey(c: CryptoLike, raw: Uint8Array): Promise<CryptoKey> {
  return c.subtle.importKey('raw', buf(raw), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

/** AES-GCM with a 96-bit IV and a 128-bit tag: ciphertext || tag. */
export async function aesGcmSeal(c: CryptoLike, key: CryptoKey, iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  if (iv.length !== 12) throw new RangeError('AES-GCM IVs are 96 bits here');
  return new Uint8Array(await c.subtle.encrypt({ name: 'AES-GCM', iv: buf(iv), additionalData: buf(aad), tagLength: 128 }, key, buf(plaintext)));
}

/** Opens ciphertext || tag; undefined when it does not authenticate. */
export async function aesGcmOpen(c: CryptoLike, key: CryptoKey, iv: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array | undefined> {
  if (iv.length !== 12 || sealed.length < 16) return undefined;
  try {
    return new Uint8Array(await c.subtle.decrypt({ name: 'AES-GCM', iv: buf(iv), additionalData: buf(aad), tagLength: 128 }, key, buf(sealed)));
  } catch {
    return undefined;
  }
}

// RSA-OAEP with SHA-256 and MGF1-SHA-256.

const RSA_OAEP = { name: 'RSA-OAEP', hash: 'SHA-256' } as const;

export async function generateRsaOaep(c: CryptoLike, bits: number): Promise<CryptoKeyPair> {
  return c.subtle.generateKey({ ...RSA_OAEP, modulusLength: bits, publicExponent: Uint8Array.of(1, 0, 1) }, true, ['encrypt', 'decrypt']) as Promise<CryptoKeyPair>;
}

export function importRsaOaepPublic(c: CryptoLike, spki: Uint8Array): Promise<CryptoKey> {
  return c.subtle.importKey('spki', buf(spki), RSA_OAEP, true, ['encrypt']);
}

export function importRsaOaepPrivate(c: CryptoLike, pkcs8: Uint8Array): Promise<CryptoKey> {
  return c.subtle.importKey('pkcs8', buf(pkcs8), RSA_OAEP, false, ['decrypt']);
}

export async function rsaOaepEncrypt(c: CryptoLike, publicKey: CryptoKey, data: Uint8Array, label: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await c.subtle.encrypt({ name: 'RSA-OAEP', label: buf(label) }, publicKey, buf(data)));
}

/** undefined when the ciphertext does not decrypt (every failure looks the same). */
export async function rsaOaepDecrypt(c: CryptoLike, privateKey: CryptoKey, data: Uint8Array, label: Uint8Array): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await c.subtle.decrypt({ name: 'RSA-OAEP', label: buf(label) }, privateKey, buf(data)));
  } catch {
    return undefined;
  }
}

// X25519 (RFC 7748).

export async function generateX25519(c: CryptoLike): Promise<CryptoKeyPair> {
  return c.subtle.generateKey({ name: 'X25519' }, true, ['deriveBits']) as Promise<CryptoKeyPair>;
}

export function importX25519Public(c: CryptoLike, raw: Uint8Array): Promise<CryptoKey> {
  return c.subtle.importKey('raw', buf(raw), { name: 'X25519' }, true, []);
}

export function importX25519Private(c: CryptoLike, pkcs8: Uint8Array): Promise<CryptoKey> {
  return c.subtle.importKey('pkcs8', buf(pkcs8), { name: 'X25519' }, false, ['deriveBits']);
}

/** The 32-byte shared secret; undefined when it is all zeros (a low-order public key, RFC 7748 §6.1). */
export async function x25519(c: CryptoLike, privateKey: CryptoKey, publicKey: CryptoKey): Promise<Uint8Array | undefined> {
  let shared: Uint8Array;
  try {
    shared = new Uint8Array(await c.subtle.deriveBits({ name: 'X25519', public: publicKey } as unknown as EcdhKeyDeriveParams, privateKey, 256));
  } catch {
    return undefined;
  }
  let acc = 0;
  for (const b of shared) acc |= b;
  return acc === 0 ? undefined : shared;
}

// The identity key: ECDSA P-256 with SHA-256, signatures as r || s (IEEE P1363, 64 bytes).

const ECDSA = { name: 'ECDSA', namedCurve: 'P-256' } as const;

export function generateIdentity(c: CryptoLike): Promise<CryptoKeyPair> {
  return c.subtle.generateKey(ECDSA, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

export function importIdentityPublic(c: CryptoLike, spki: Uint8Array): Promise<CryptoKey> {
  return c.subtle.importKey('spki', buf(spki), ECDSA, true, ['verify']);
}

export function importIdentityPrivate(c: CryptoLike, pkcs8: Uint8Array): Promise<CryptoKey> {
  return c.subtle.importKey('pkcs8', buf(pkcs8), ECDSA, true, ['sign']);
}

export async function sign(c: CryptoLike, privateKey: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await c.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, buf(data)));
}

export async function verify(c: CryptoLike, publicKey: CryptoKey, signature: Uint8Array, data: Uint8Array): Promise<boolean> {
  if (signature.length !== 64) return false;
  try {
    return await c.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, publicKey, buf(signature), buf(data));
  } catch {
    return false;
  }
}

/** The identity's fingerprint, as clients pin it: `SHA256:` and the base64url SHA-256 of its SPKI. */
export async function fingerprint(c: CryptoLike, identitySpki: Uint8Array): Promise<string> {
  return `SHA256:${toB64u(await sha256(c, identitySpki))}`;
}

/** Domain separation for everything the protocol hashes, signs or derives. */
export function label(name: string): Uint8Array {
  return concat(utf8(`lb/1 ${name}`), Uint8Array.of(0));
}
