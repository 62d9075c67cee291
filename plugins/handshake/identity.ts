/**
 * The proxy's long-term identity key (ECDSA P-256): it signs every PU1, and clients
 * pin its fingerprint. Kept in a PKCS#8 PEM file whose path the rc names; the key
 * itself never appears in the rc.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { toB64u } from './protocol/bytes.js';
import { importIdentityPrivate, type CryptoLike } from './protocol/primitives.js';

export interface IdentityFile {
  readonly file: string;
  /** SubjectPublicKeyInfo DER of the public key, as offers carry it. */
  readonly spki: Uint8Array;
  readonly pkcs8: Uint8Array;
  /** `SHA256:` + base64url of SHA-256(spki): what clients pin. */
  readonly fingerprint: string;
  /** Whether this call created the file. */
  readonly created: boolean;
}

export function fingerprintOf(spki: Uint8Array): string {
  return `SHA256:${toB64u(createHash('sha256').update(spki).digest())}`;
}

/** Reads an identity key file; throws an Error whose message says what is wrong and what to do. */
export function readIdentity(file: string): IdentityFile {
  const abs = path.resolve(file);
  let pem: string;
  try {
    pem = readFileSync(abs, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the identity key ${abs}: ${(e as Error).message}. Make one with \`lb keys generate --out ${file}\`.`);
  }
  let key;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    throw new Error(`${abs} is not a PEM private key (${(e as Error).message}). Make one with \`lb keys generate --out ${file}\`.`);
  }
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
    throw new Error(`${abs} holds a ${key.asymmetricKeyType}${details?.namedCurve ? ` ${details.namedCurve}` : ''} key; the identity key must be ECDSA P-256. Make one with \`lb keys generate --out ${file}\`.`);
  }
  const spki = new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
  const pkcs8 = new Uint8Array(key.export({ type: 'pkcs8', format: 'der' }));
  return { file: abs, spki, pkcs8, fingerprint: fingerprintOf(spki), created: false };
}

/** Writes a new identity key file (mode 0600); refuses to replace one unless `force`. */
export function generateIdentityFile(file: string, force = false): IdentityFile {
  const abs = path.resolve(file);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  mkdirSync(path.dirname(abs), { recursive: true });
  try {
    writeFileSync(abs, pem, { mode: 0o600, flag: force ? 'w' : 'wx' });
    // `mode` applies only to a new file: a replaced one keeps its old mode.
    chmodSync(abs, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${abs} exists; pass --force to replace it (clients pinned to its fingerprint will refuse the new one).`);
    throw new Error(`cannot write the identity key ${abs}: ${(e as Error).message}`);
  }
  return { ...readIdentity(abs), created: true };
}

/** Reads the identity key, creating it first when it is missing and `create` is set. */
export function loadIdentity(file: string, create: boolean): IdentityFile {
  try {
    return readIdentity(file);
  } catch (e) {
    let missing = false;
    try {
      readFileSync(path.resolve(file));
    } catch (r) {
      missing = (r as NodeJS.ErrnoException).code === 'ENOENT';
    }
    if (missing && create) return generateIdentityFile(file);
    throw e;
  }
}

/** The identity's signing key in a WebCrypto implementation. */
export function signingKey(c: CryptoLike, identity: IdentityFile): Promise<CryptoKey> {
  return importIdentityPrivate(c, identity.pkcs8);
}
