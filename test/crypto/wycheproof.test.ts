/**
 * The handshake plugin's crypto layer against Project Wycheproof (C2SP/wycheproof,
 * testvectors_v1, in ../shared/testdata/wycheproof/): every applicable vector, through
 * our own functions (plugins/handshake/protocol/primitives.ts over native WebCrypto
 * and over @peculiar/webcrypto, and plugins/handshake/node-records.ts over
 * node:crypto). "valid" must succeed with exactly the expected bytes, "invalid" must be
 * refused, "acceptable" may go either way (each check says which way it allows) but
 * must not throw out of our functions.
 *
 * Each check runs every vector, collects what went wrong (tcId, comment, flags), and
 * asserts both that nothing did and that the number of vectors run equals the number
 * of applicable vectors in the file and the count in the title (pinned for this
 * snapshot of the vectors), so no check can pass by running nothing.
 *
 * Not used: rsa_pss_2048_sha256_mgf1_32_test.json (the protocol signs with ECDSA
 * P-256 only; nothing in it uses RSA-PSS).
 */
import { expect } from 'chai';
import { openRecord, sealRecord, type NodeRecordKeys } from '../../plugins/handshake/node-records.js';
import {
  aesGcmOpen, aesGcmSeal, hkdf, importAesKey, importIdentityPublic, importRsaOaepPrivate, importX25519Private, importX25519Public,
  rsaOaepDecrypt, verify, x25519, type CryptoLike,
} from '../../plugins/handshake/protocol/primitives.js';
import {
  countTests, derToP1363, equalBytes, hex, loadVectors, toHex,
  type AeadGroup, type EcdsaGroup, type HkdfGroup, type RsaOaepGroup, type TestCase, type TestGroup, type VectorFile, type XdhGroup,
} from './wycheproof.js';

/** Vector counts in this snapshot of the files; each check also counts them in the file itself. */
const COUNT = {
  aesGcm96: 197, // 67 with 128-bit keys, 64 with 192-bit, 66 with 256-bit; 116 valid, 81 invalid
  aesGcmOtherIv: 119, // IVs of 0 to 2056 bits other than 96; 113 valid, 6 invalid
  aesGcmRecords: 66, // 256-bit keys, 96-bit IVs: what node-records' AES-256-GCM can take
  aesGcmRecordsOtherKey: 131, // 128- and 192-bit keys with 96-bit IVs
  hkdf: 86, // 83 valid, 3 invalid (SizeTooLarge)
  rsaOaep2048: 37, // 18 valid, 19 invalid
  rsaOaep3072: 37, // 18 valid, 19 invalid
  x25519: 518, // 264 valid, 254 acceptable (31 of them with an all-zero shared secret)
  ecdsa: 484, // 174 valid, 310 invalid
} as const;

function memo<T>(load: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= load());
}

const files = {
  aesGcm: memo(() => loadVectors<AeadGroup>('aes_gcm_test.json', 'AES-GCM')),
  hkdf: memo(() => loadVectors<HkdfGroup>('hkdf_sha256_test.json', 'HKDF-SHA-256')),
  rsaOaep2048: memo(() => loadVectors<RsaOaepGroup>('rsa_oaep_2048_sha256_mgf1sha256_test.json', 'RSAES-OAEP')),
  rsaOaep3072: memo(() => loadVectors<RsaOaepGroup>('rsa_oaep_3072_sha256_mgf1sha256_test.json', 'RSAES-OAEP')),
  x25519: memo(() => loadVectors<XdhGroup>('x25519_test.json', 'XDH')),
  ecdsa: memo(() => loadVectors<EcdsaGroup>('ecdsa_secp256r1_sha256_test.json', 'ECDSA')),
};

/** What running one check's vectors gave: how many ran, what went wrong, and how the allowed outcomes fell. */
class Tally {
  run = 0;
  readonly failures: string[] = [];
  readonly outcomes = new Map<string, number>();

  /** Runs one vector's check; an exception out of it is a failure of that vector, not of the whole check. */
  async vector(t: TestCase, check: () => Promise<string | undefined> | string | undefined): Promise<void> {
    this.run++;
    let wrong: string | undefined;
    try {
      wrong = await check();
    } catch (err) {
      wrong = `threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
    }
    if (wrong) this.failures.push(`tcId ${t.tcId} (${t.result}; ${t.comment || 'no comment'}; ${t.flags.join(', ') || 'no flags'}): ${wrong}`);
  }

  note(outcome: string): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
  }

  /** No failures, and exactly the vectors the file has and the title promises. */
  expectAll(inFile: number, pinned: number): void {
    const shown = this.failures.slice(0, 25).join('\n  ');
    const more = this.failures.length > 25 ? `\n  ... and ${this.failures.length - 25} more` : '';
    expect(this.failures, `${this.failures.length} of ${this.run} vectors went wrong:\n  ${shown}${more}\n`).to.deep.equal([]);
    expect(this.run, 'vectors run vs. applicable vectors in the file').to.equal(inFile);
    expect(this.run, 'vectors run vs. the count this snapshot of the vectors has').to.equal(pinned);
  }
}

/** Where a call threw: the error, or undefined when it returned. */
async function thrown(f: () => unknown): Promise<unknown> {
  try {
    await f();
    return undefined;
  } catch (err) {
    return err ?? new Error('threw a nullish value');
  }
}

const isZero = (b: Uint8Array) => b.every((x) => x === 0);
const tests = <G extends TestGroup<TestCase>>(groups: readonly G[], where: (g: G) => boolean) => countTests(groups.filter(where));

/** The protocol's AEAD: 96-bit IVs, 128-bit tags. */
const ours96 = (g: AeadGroup) => g.ivSize === 96 && g.tagSize === 128;

/** PKCS#8 PrivateKeyInfo for a raw X25519 private key (RFC 8410): this prefix, then the 32 bytes. */
const X25519_PKCS8_PREFIX = hex('302e020100300506032b656e04220420');
function x25519Pkcs8(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(X25519_PKCS8_PREFIX.length + raw.length);
  out.set(X25519_PKCS8_PREFIX);
  out.set(raw, X25519_PKCS8_PREFIX.length);
  return out;
}

const SUITES: readonly { readonly name: string; readonly make: () => Promise<CryptoLike> }[] = [
  { name: 'native WebCrypto', make: async () => globalThis.crypto as CryptoLike },
  { name: '@peculiar/webcrypto', make: async () => new (await import('@peculiar/webcrypto')).Crypto() as CryptoLike },
];

describe('the handshake crypto layer against the Wycheproof test vectors', () => {
  it('finds every vector file it uses in ../shared/testdata/wycheproof/', () => {
    // Fails (not skips) with the missing path when the folder or a file is not there.
    for (const load of Object.values(files)) expect((load() as VectorFile<AeadGroup>).testGroups.length).to.be.greaterThan(0);
  });

  it('decodes only canonical DER ECDSA signatures to r || s (the helper the ECDSA check relies on)', () => {
    // Some of these rules are not exercised by the ECDSA file (it has, for one, no
    // integer with an unneeded leading zero), so they are checked here directly.
    const p = (r: string, s: string) => hex(r.padStart(64, '0') + s.padStart(64, '0'));
    const decode = (der: string) => derToP1363(hex(der));
    expect(decode('3006020101020102')).to.deep.equal(p('01', '02'));
    expect(decode('3007020200ff020102'), 'a required leading zero').to.deep.equal(p('ff', '02'));
    expect(decode('3006020100020100'), 'zeros (for verify to refuse)').to.deep.equal(p('00', '00'));
    const high = `8${'1'.repeat(63)}`; // a 32-byte value with its high bit set, so DER needs a leading zero
    expect(decode(`3046022100${high}022100${high}`), '32-byte values').to.deep.equal(p(high, high));
    for (const [der, why] of [
      ['', 'nothing'],
      ['30060201010201', 'a truncated signature'],
      ['300702020001020102', 'an unneeded leading zero'],
      ['30060201ff020102', 'a negative integer'],
      ['30050200020102', 'an empty integer'],
      ['308106020101020102', 'a long-form length under 128'],
      ['30800201010201020000', 'an indefinite length'],
      ['300602010102010200', 'a trailing byte'],
      ['3009020101020102020103', 'a third integer'],
      ['3003020101', 'one integer'],
      ['3106020101020102', 'a SET, not a SEQUENCE'],
      ['3006030101020102', 'a BIT STRING, not an INTEGER'],
      ['3006020101020202', 'an integer running past the end'],
      [`302602210100${'00'.repeat(31)}020101`, 'a 33-byte value (2^256)'],
      [`30250220007f${'ff'.repeat(30)}020101`, 'an unneeded leading zero on a 31-byte value'],
    ] as const) {
      expect(decode(der), why).to.equal(undefined);
    }
  });

  for (const suite of SUITES) {
    describe(`through ${suite.name}`, () => {
      let c: CryptoLike;
      before(async () => {
        c = await suite.make();
        expect(c.subtle?.decrypt, `${suite.name} has no subtle`).to.be.a('function');
      });

      it(`passes all ${COUNT.aesGcm96} AES-GCM vectors with 96-bit IVs (128-, 192- and 256-bit keys) through ${suite.name}`, async () => {
        // The protocol uses AES-256-GCM; the primitives take any AES key, so the
        // 128- and 192-bit groups run as well. The ciphertext to open is ct || tag.
        const groups = files.aesGcm().testGroups;
        const tally = new Tally();
        for (const g of groups.filter(ours96)) {
          for (const t of g.tests) {
            await tally.vector(t, async () => {
              const key = await importAesKey(c, hex(t.key));
              const iv = hex(t.iv);
              const aad = hex(t.aad);
              const msg = hex(t.msg);
              const sealed = hex(t.ct + t.tag);
              const opened = await aesGcmOpen(c, key, iv, sealed, aad);
              const resealed = await aesGcmSeal(c, key, iv, msg, aad);
              if (t.result === 'valid') {
                if (!equalBytes(opened, msg)) return `opened to ${opened ? toHex(opened) : 'a refusal'}, not the message`;
                if (!equalBytes(resealed, sealed)) return `sealed to ${toHex(resealed)}, not ct || tag`;
                return undefined;
              }
              // Every invalid vector here has a modified tag ("acceptable": none in the file).
              if (opened !== undefined) return `opened to ${toHex(opened)} instead of being refused`;
              if (equalBytes(resealed, sealed)) return 'sealing the message gave the invalid ciphertext';
              return undefined;
            });
          }
        }
        tally.expectAll(tests(groups, ours96), COUNT.aesGcm96);
      });

      it(`refuses all ${COUNT.aesGcmOtherIv} AES-GCM vectors with IVs other than 96 bits, which the protocol does not use, through ${suite.name}`, async () => {
        // Not applicable to the protocol (96-bit IVs and 128-bit tags only), valid
        // or not in GCM itself: aesGcmSeal must throw and aesGcmOpen must refuse. (A
        // group with another tag size, none in this file, would have to be refused
        // by aesGcmOpen, whose tag is 128 bits, and could not be produced by aesGcmSeal.)
        const groups = files.aesGcm().testGroups;
        const notOurs = (g: AeadGroup) => !ours96(g);
        const tally = new Tally();
        for (const g of groups.filter(notOurs)) {
          for (const t of g.tests) {
            await tally.vector(t, async () => {
              const key = await importAesKey(c, hex(t.key));
              const iv = hex(t.iv);
              const aad = hex(t.aad);
              const sealed = hex(t.ct + t.tag);
              const opened = await aesGcmOpen(c, key, iv, sealed, aad);
              if (opened !== undefined) return `a ${g.ivSize}-bit IV / ${g.tagSize}-bit tag opened instead of being refused`;
              if (g.ivSize !== 96) {
                const err = await thrown(() => aesGcmSeal(c, key, iv, hex(t.msg), aad));
                if (!(err instanceof RangeError)) return `aesGcmSeal with a ${g.ivSize}-bit IV did not throw a RangeError (${String(err)})`;
              } else {
                const resealed = await aesGcmSeal(c, key, iv, hex(t.msg), aad);
                if (equalBytes(resealed, sealed)) return `aesGcmSeal produced a ${g.tagSize}-bit tag`;
              }
              return undefined;
            });
          }
        }
        tally.expectAll(tests(groups, notOurs), COUNT.aesGcmOtherIv);
      });

      it(`passes all ${COUNT.hkdf} HKDF-SHA-256 vectors through ${suite.name}`, async () => {
        // The invalid ones ask for more than 255 * 32 bytes: hkdf must throw.
        const groups = files.hkdf().testGroups;
        const tally = new Tally();
        for (const g of groups) {
          for (const t of g.tests) {
            await tally.vector(t, async () => {
              const derive = () => hkdf(c, hex(t.ikm), hex(t.salt), hex(t.info), t.size);
              if (t.result === 'valid') {
                const okm = await derive();
                return equalBytes(okm, hex(t.okm)) ? undefined : `derived ${toHex(okm)}`;
              }
              if (t.size <= 255 * 32) return `an invalid vector of ${t.size} bytes, which is not too large (unexpected in this file)`;
              return (await thrown(derive)) ? undefined : `derived ${t.size} bytes instead of throwing`;
            });
          }
        }
        tally.expectAll(countTests(groups), COUNT.hkdf);
      });

      for (const [bits, load, pinned] of [[2048, files.rsaOaep2048, COUNT.rsaOaep2048], [3072, files.rsaOaep3072, COUNT.rsaOaep3072]] as const) {
        it(`passes all ${pinned} RSA-OAEP-${bits} SHA-256/MGF1-SHA-256 vectors through ${suite.name}`, async () => {
          // The private key is the group's PKCS#8 (privateKeyPkcs8). Were it refused
          // on import, that would be a pass only for the group's invalid vectors.
          const groups = load().testGroups;
          const applicable = (g: RsaOaepGroup) => g.sha === 'SHA-256' && g.mgf === 'MGF1' && g.mgfSha === 'SHA-256' && g.keySize === bits;
          const tally = new Tally();
          for (const g of groups.filter(applicable)) {
            let key: CryptoKey | undefined;
            let importError: unknown;
            try {
              key = await importRsaOaepPrivate(c, hex(g.privateKeyPkcs8));
            } catch (err) {
              importError = err;
            }
            for (const t of g.tests) {
              await tally.vector(t, async () => {
                if (!key) return t.result === 'valid' ? `the private key did not import: ${String(importError)}` : (tally.note('key refused'), undefined);
                const plain = await rsaOaepDecrypt(c, key, hex(t.ct), hex(t.label));
                if (t.result === 'valid') return equalBytes(plain, hex(t.msg)) ? undefined : `decrypted to ${plain ? toHex(plain) : 'a refusal'}`;
                return plain === undefined ? undefined : `decrypted to ${toHex(plain)} instead of being refused`;
              });
            }
          }
          tally.expectAll(tests(groups, applicable), pinned);
        });
      }

      it(`passes all ${COUNT.x25519} X25519 vectors through ${suite.name}, refusing every all-zero shared secret`, async () => {
        // Raw keys; the private key goes in through PKCS#8 (fixed prefix + 32 bytes).
        // - An all-zero shared secret (LowOrderPublic / ZeroSharedSecret, all of them
        //   "acceptable" in the file) must be refused: x25519() returns undefined, our
        //   RFC 7748 §6.1 check. An import that throws is a refusal too. (On Node 20
        //   both implementations already throw in deriveBits, OpenSSL refusing the
        //   all-zero result, and x25519() maps that to undefined; its own zero check is
        //   a second line that these vectors cannot reach.)
        // - "valid" must import and give exactly the shared secret.
        // - Other "acceptable" vectors (public keys with the high bit set, which RFC
        //   7748 masks; non-canonical u >= p; twist points; small or special u) may be
        //   refused, but when a secret comes out it must be the expected one.
        //   Measured on Node 20 with both implementations: every one gives the
        //   expected secret; none is refused.
        const groups = files.x25519().testGroups;
        const applicable = (g: XdhGroup) => g.curve === 'curve25519';
        const tally = new Tally();
        for (const g of groups.filter(applicable)) {
          for (const t of g.tests) {
            await tally.vector(t, async () => {
              const expected = hex(t.shared);
              let shared: Uint8Array | undefined;
              let importError: unknown;
              try {
                const privateKey = await importX25519Private(c, x25519Pkcs8(hex(t.private)));
                const publicKey = await importX25519Public(c, hex(t.public));
                shared = await x25519(c, privateKey, publicKey);
              } catch (err) {
                importError = err;
              }
              if (isZero(expected)) {
                tally.note('all-zero secret refused');
                return shared === undefined ? undefined : `gave the all-zero secret ${toHex(shared)} instead of refusing it`;
              }
              if (t.result === 'valid') {
                if (importError) return `a key did not import: ${String(importError)}`;
                return equalBytes(shared, expected) ? undefined : `gave ${shared ? toHex(shared) : 'a refusal'}`;
              }
              if (shared === undefined) {
                tally.note(`acceptable, refused${importError ? ' on import' : ''}`);
                return undefined;
              }
              tally.note('acceptable, computed');
              return equalBytes(shared, expected) ? undefined : `gave ${toHex(shared)}`;
            });
          }
        }
        tally.expectAll(tests(groups, applicable), COUNT.x25519);
        expect(tally.outcomes.get('all-zero secret refused'), 'vectors with an all-zero shared secret').to.equal(31);
      });

      it(`passes all ${COUNT.ecdsa} ECDSA P-256 SHA-256 vectors (DER signatures) through ${suite.name}`, async () => {
        // Our verify takes IEEE P1363 r || s. The helper's strict DER decoder turns
        // the vector's signature into that, or refuses a non-canonical encoding, and
        // such a signature must be one the file calls invalid (BER and other
        // encodings are not valid ECDSA-Sig-Values). The public key is the group's
        // SPKI (publicKeyDer); were it refused on import, that would be a pass only
        // for the group's invalid vectors.
        const groups = files.ecdsa().testGroups;
        const applicable = (g: EcdsaGroup) => g.sha === 'SHA-256' && g.publicKey.curve === 'secp256r1';
        const tally = new Tally();
        for (const g of groups.filter(applicable)) {
          let key: CryptoKey | undefined;
          let importError: unknown;
          try {
            key = await importIdentityPublic(c, hex(g.publicKeyDer));
          } catch (err) {
            importError = err;
          }
          for (const t of g.tests) {
            await tally.vector(t, async () => {
              const p1363 = derToP1363(hex(t.sig));
              if (!p1363) {
                tally.note('non-canonical DER, refused by the decoder');
                return t.result === 'invalid' ? undefined : 'the strict DER decoder refused a signature the file does not call invalid';
              }
              if (!key) return t.result === 'valid' ? `the public key did not import: ${String(importError)}` : (tally.note('key refused'), undefined);
              const ok = await verify(c, key, p1363, hex(t.msg));
              tally.note(`verified ${ok}`);
              if (t.result === 'valid') return ok ? undefined : 'did not verify';
              return ok ? 'verified instead of being refused' : undefined;
            });
          }
        }
        tally.expectAll(tests(groups, applicable), COUNT.ecdsa);
      });
    });
  }

  describe('through the node:crypto record layer (node-records)', () => {
    /** nonceBase such that nonceFor(nonceBase, seq) is `iv`: the seq, big-endian, XORed into the last 8 bytes. */
    function baseFor(iv: Uint8Array, seq: number): Uint8Array {
      const base = iv.slice();
      let s = BigInt(seq);
      for (let i = 11; i >= 4; i--, s >>= 8n) base[i] ^= Number(s & 0xffn);
      return base;
    }
    // Besides seq 0 (nonceBase = the IV), each vector runs at a seq past 2^32 with
    // the nonceBase that gives the same nonce, which checks the nonce = nonceBase XOR
    // seq of records.ts on the way.
    const SEQS = [0, 2 ** 40 + 0x01020304];

    it(`passes all ${COUNT.aesGcmRecords} AES-256-GCM vectors with 96-bit IVs through openRecord and sealRecord`, async () => {
      // Only 256-bit keys apply: the record layer is AES-256-GCM. Vectors with other
      // IV sizes are excluded: nonceBase always comes out of HKDF as 12 bytes, and
      // node:crypto takes any IV length, so such a vector would say nothing about
      // the protocol.
      const groups = files.aesGcm().testGroups;
      const applicable = (g: AeadGroup) => ours96(g) && g.keySize === 256;
      const tally = new Tally();
      for (const g of groups.filter(applicable)) {
        for (const t of g.tests) {
          await tally.vector(t, () => {
            const cek = Buffer.from(hex(t.key));
            const iv = hex(t.iv);
            const aad = hex(t.aad);
            const msg = hex(t.msg);
            const sealed = hex(t.ct + t.tag);
            for (const seq of SEQS) {
              const keys: NodeRecordKeys = { cek, nonceBase: baseFor(iv, seq) };
              const opened = openRecord(keys, seq, sealed, aad);
              if (t.result === 'valid') {
                if (!equalBytes(opened, msg)) return `at seq ${seq}, opened to ${opened ? toHex(opened) : 'a refusal'}, not the message`;
                const resealed = sealRecord(keys, seq, msg, aad);
                if (!equalBytes(resealed, sealed)) return `at seq ${seq}, sealed to ${toHex(resealed)}, not ct || tag`;
              } else if (opened !== undefined) {
                return `at seq ${seq}, opened to ${toHex(opened)} instead of being refused`;
              }
            }
            return undefined;
          });
        }
      }
      tally.expectAll(tests(groups, applicable), COUNT.aesGcmRecords);
    });

    it(`refuses the ${COUNT.aesGcmRecordsOtherKey} AES-GCM vectors with 128- and 192-bit keys in openRecord and sealRecord`, async () => {
      // A content-encryption key that is not 256 bits is a programming error (HKDF
      // always gives 32 bytes): both functions throw rather than use it.
      const groups = files.aesGcm().testGroups;
      const applicable = (g: AeadGroup) => ours96(g) && g.keySize !== 256;
      const tally = new Tally();
      for (const g of groups.filter(applicable)) {
        for (const t of g.tests) {
          await tally.vector(t, () => {
            const keys: NodeRecordKeys = { cek: Buffer.from(hex(t.key)), nonceBase: hex(t.iv) };
            const aad = hex(t.aad);
            try {
              sealRecord(keys, 0, hex(t.msg), aad);
              return `sealRecord took a ${g.keySize}-bit key`;
            } catch { /* refused */ }
            try {
              const opened = openRecord(keys, 0, hex(t.ct + t.tag), aad);
              return `openRecord took a ${g.keySize}-bit key (${opened ? 'and opened' : 'and refused'})`;
            } catch { /* refused */ }
            return undefined;
          });
        }
      }
      tally.expectAll(tests(groups, applicable), COUNT.aesGcmRecordsOtherKey);
    });
  });
});
