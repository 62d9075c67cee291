import { randomInt } from 'node:crypto';

/** A pseudo-random source: floats in [0, 1). */
export type Prng = () => number;

/**
 * mulberry32: a 32-bit state generator, fast and good enough to spread picks; not for secrets.
 * `seed` 0 draws a seed from the OS, so only an explicit seed makes the sequence repeat.
 * Strategies that draw at random share it, so that a `seed` option makes every one repeatable.
 */
export function createPrng(seed: number): Prng {
  let state = (seed === 0 ? randomInt(1, 2 ** 32) : seed) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The schema of the `seed` option every randomised strategy takes. */
export const seedOption = {
  type: 'integer',
  minimum: 0,
  maximum: 4294967295,
  default: 0,
  description: 'Seed of the pseudo-random generator (an unsigned 32-bit integer); 0 draws one at start-up. A fixed seed repeats the same picks for the same inputs (tests, benchmarks).',
} as const;

/** Two distinct indices below `n` (n >= 2), each pair equally likely. */
export function distinctPair(random: Prng, n: number): [number, number] {
  const i = Math.floor(random() * n);
  let j = Math.floor(random() * (n - 1));
  if (j >= i) j++;
  return [i, j];
}
