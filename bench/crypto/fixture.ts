/** `n` pseudo-random bytes, the same for every call with the same `n` (the backend's downloads; the client checks them). */
export function patternBytes(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = (n ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
