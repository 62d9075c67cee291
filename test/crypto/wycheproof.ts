/**
 * Loading Project Wycheproof test vectors (C2SP/wycheproof, testvectors_v1) from the
 * shared test data, `../shared/testdata/wycheproof/` relative to the repository
 * root. A missing folder or file throws: a test that cannot find its vectors fails,
 * it does not skip.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is test/crypto/wycheproof.ts). */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * `LB_WYCHEPROOF_DIR` if set; else the first `shared/testdata/wycheproof` beside the
 * repository or one of its parents (`../shared/...` for a checkout next to the shared
 * folder, as here and in CI); else /work/shared/...; else the expected path, which
 * then fails the tests.
 */
function findVectors(): string {
  if (process.env.LB_WYCHEPROOF_DIR) return resolve(process.env.LB_WYCHEPROOF_DIR);
  for (let dir = REPO_ROOT; ; dir = dirname(dir)) {
    const candidate = resolve(dir, '..', 'shared', 'testdata', 'wycheproof');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  // A clone elsewhere on a machine of this project's farm: the shared folder's usual place.
  const usual = '/work/shared/testdata/wycheproof';
  return existsSync(usual) ? usual : resolve(REPO_ROOT, '..', 'shared', 'testdata', 'wycheproof');
}

export const WYCHEPROOF_DIR = findVectors();

export type Result = 'valid' | 'invalid' | 'acceptable';

export interface TestCase {
  readonly tcId: number;
  readonly comment: string;
  readonly flags: readonly string[];
  readonly result: Result;
}

export interface TestGroup<T extends TestCase> {
  readonly type: string;
  readonly tests: readonly T[];
}

export interface VectorFile<G extends TestGroup<TestCase>> {
  readonly algorithm: string;
  readonly numberOfTests: number;
  readonly testGroups: readonly G[];
}

export interface AeadTest extends TestCase {
  readonly key: string;
  readonly iv: string;
  readonly aad: string;
  readonly msg: string;
  readonly ct: string;
  readonly tag: string;
}
export interface AeadGroup extends TestGroup<AeadTest> {
  readonly ivSize: number;
  readonly keySize: number;
  readonly tagSize: number;
}

export interface HkdfTest extends TestCase {
  readonly ikm: string;
  readonly salt: string;
  readonly info: string;
  readonly size: number;
  readonly okm: string;
}
export interface HkdfGroup extends TestGroup<HkdfTest> {
  readonly keySize: number;
}

export interface RsaOaepTest extends TestCase {
  readonly msg: string;
  readonly ct: string;
  readonly label: string;
}
export interface RsaOaepGroup extends TestGroup<RsaOaepTest> {
  readonly keySize: number;
  readonly sha: string;
  readonly mgf: string;
  readonly mgfSha: string;
  /** PKCS#8 PrivateKeyInfo, hex. */
  readonly privateKeyPkcs8: string;
}

export interface XdhTest extends TestCase {
  readonly public: string;
  readonly private: string;
  readonly shared: string;
}
export interface XdhGroup extends TestGroup<XdhTest> {
  readonly curve: string;
}

export interface EcdsaTest extends TestCase {
  readonly msg: string;
  /** DER (X9.62 Ecdsa-Sig-Value), hex. */
  readonly sig: string;
}
export interface EcdsaGroup extends TestGroup<EcdsaTest> {
  readonly sha: string;
  /** SubjectPublicKeyInfo, hex. */
  readonly publicKeyDer: string;
  readonly publicKey: { readonly curve: string };
}

/**
 * Reads and parses one vector file. Throws, naming the path, when the folder or the
 * file is missing, and when the file's own `numberOfTests` does not match the tests
 * it holds (a truncated or edited file).
 */
export function loadVectors<G extends TestGroup<TestCase>>(file: string, algorithm: string): VectorFile<G> {
  if (!existsSync(WYCHEPROOF_DIR) || !statSync(WYCHEPROOF_DIR).isDirectory()) {
    throw new Error(`the Wycheproof test vectors are missing: no folder ${WYCHEPROOF_DIR} (see ../shared/testdata/README.md)`);
  }
  const path = resolve(WYCHEPROOF_DIR, file);
  if (!existsSync(path)) throw new Error(`the Wycheproof test vector file ${path} is missing`);
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as VectorFile<G>;
  if (parsed.algorithm !== algorithm) throw new Error(`${path} holds ${parsed.algorithm} vectors, not ${algorithm}`);
  if (!Array.isArray(parsed.testGroups) || parsed.testGroups.length === 0) throw new Error(`${path} has no test groups`);
  const held = countTests(parsed.testGroups);
  if (held !== parsed.numberOfTests) throw new Error(`${path} says it has ${parsed.numberOfTests} tests but holds ${held}`);
  return parsed;
}

export function countTests(groups: readonly TestGroup<TestCase>[]): number {
  return groups.reduce((n, g) => n + g.tests.length, 0);
}

/** Strict hex (even length, [0-9a-f] either case); throws on anything else. */
export function hex(text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) throw new Error(`not hex: ${JSON.stringify(text.slice(0, 40))}`);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function equalBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Reads one DER definite length at `at`; undefined unless it is the minimal
 * encoding (short form below 128, long form without leading zero bytes and only
 * for 128 and up; the indefinite form 0x80 is refused).
 */
function derLength(der: Uint8Array, at: number): { length: number; next: number } | undefined {
  if (at >= der.length) return undefined;
  const first = der[at];
  if (first < 0x80) return { length: first, next: at + 1 };
  const octets = first & 0x7f;
  // 0x80 is BER's indefinite length; more than 4 octets is no length a signature has.
  if (octets === 0 || octets > 4 || at + 1 + octets > der.length) return undefined;
  if (der[at + 1] === 0) return undefined;
  let length = 0;
  for (let i = 0; i < octets; i++) length = length * 256 + der[at + 1 + i];
  if (length < 0x80) return undefined;
  return { length, next: at + 1 + octets };
}

/**
 * Reads one DER INTEGER at `at` as a non-negative value of at most `size` bytes,
 * left-padded to `size`; undefined unless its encoding is minimal, it is not
 * negative, and it fits.
 */
function derUnsigned(der: Uint8Array, at: number, size: number): { value: Uint8Array; next: number } | undefined {
  if (der[at] !== 0x02) return undefined;
  const len = derLength(der, at + 1);
  if (!len || len.length === 0 || len.next + len.length > der.length) return undefined;
  let body = der.subarray(len.next, len.next + len.length);
  // Negative (two's complement): r and s are positive.
  if (body[0] & 0x80) return undefined;
  if (body[0] === 0x00 && body.length > 1) {
    // A leading zero is only allowed (and then required) to keep a high bit from meaning negative.
    if ((body[1] & 0x80) === 0) return undefined;
    body = body.subarray(1);
  }
  if (body.length > size) return undefined;
  const value = new Uint8Array(size);
  value.set(body, size - body.length);
  return { value, next: len.next + len.length };
}

/**
 * A strict DER Ecdsa-Sig-Value (SEQUENCE { r INTEGER, s INTEGER }) to IEEE P1363
 * r || s with `size`-byte halves (32 for P-256); undefined for any encoding that is
 * not the one canonical DER encoding of two non-negative integers that fit, or that
 * has bytes after it.
 */
export function derToP1363(der: Uint8Array, size = 32): Uint8Array | undefined {
  if (der.length < 2 || der[0] !== 0x30) return undefined;
  const seq = derLength(der, 1);
  if (!seq || seq.next + seq.length !== der.length) return undefined;
  const r = derUnsigned(der, seq.next, size);
  if (!r) return undefined;
  const s = derUnsigned(der, r.next, size);
  if (!s || s.next !== der.length) return undefined;
  const out = new Uint8Array(2 * size);
  out.set(r.value, 0);
  out.set(s.value, size);
  return out;
}
