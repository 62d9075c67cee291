/**
 * What the fast-check property files (fuzz-decoders, fuzz-proxy) share: a per-file count of the
 * inputs each property gave the code under test, the bounds every property runs within, and
 * deterministic plaintexts.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { equalBytes } from '../../plugins/handshake/protocol/bytes.js';

/** A tally of inputs by property; each file makes its own, so its totals do not depend on which other files mocha runs. */
export function counter(): { fed: Map<string, number>; count: (property: string, n?: number) => void } {
  const fed = new Map<string, number>();
  return { fed, count: (property, n = 1) => { fed.set(property, (fed.get(property) ?? 0) + n); } };
}

/** numRuns, a per-run bound for async predicates, and an overall limit that fails the property when hit. */
export const bounded = (numRuns: number, perRunMs: number, totalMs: number) => ({ numRuns, plugins: [fc.timeout(perRunMs), fc.interruptAfterTimeLimit(totalMs, { failOnInterrupt: true })] });

/** The per-run bound of a sync predicate (fc.timeout cannot stop sync code): measured. */
export function within<T>(ms: number, run: () => T): T {
  const start = performance.now();
  const out = run();
  expect(performance.now() - start, 'one run took too long').to.be.below(ms);
  return out;
}

export const isPrefix = (part: Uint8Array, whole: Uint8Array) => part.length <= whole.length && equalBytes(part, whole.subarray(0, part.length));

/** Deterministic bytes from a seed (xorshift32): large plaintexts without fast-check drawing each byte. */
export function bytesFrom(seed: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
