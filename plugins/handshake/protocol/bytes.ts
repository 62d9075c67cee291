/**
 * Byte helpers for the protocol, with no Node imports, so the same module runs in
 * the proxy, in Node clients and in browsers.
 */

const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64U_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64U.length; i++) B64U_INDEX[B64U.charCodeAt(i)] = i;

/** base64url without padding (RFC 4648 §5). */
export function toB64u(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64U[n >> 18] + B64U[(n >> 12) & 63] + B64U[(n >> 6) & 63] + B64U[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += B64U[n >> 18] + B64U[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += B64U[n >> 18] + B64U[(n >> 12) & 63] + B64U[(n >> 6) & 63];
  }
  return out;
}

/**
 * Decodes canonical base64url without padding; undefined for anything else (other
 * characters, padding, a length of 1 mod 4, or non-zero trailing bits), so that
 * every value has exactly one encoding.
 */
export function fromB64u(text: string, maxBytes = 1 << 20): Uint8Array | undefined {
  const len = text.length;
  if (len % 4 === 1 || (len * 3) / 4 > maxBytes + 2) return undefined;
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? B64U_INDEX[c] : -1;
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) return undefined;
  if (o > maxBytes) return undefined;
  return out.subarray(0, o);
}

const encoder = new TextEncoder();

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function u8(n: number): Uint8Array {
  return Uint8Array.of(n & 0xff);
}

export function u16(n: number): Uint8Array {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff);
}

export function u32(n: number): Uint8Array {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** A non-negative integer below 2^53 as 8 big-endian bytes. */
export function u64(n: number): Uint8Array {
  const hi = Math.floor(n / 0x100000000);
  return concat(u32(hi), u32(n >>> 0));
}

export function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) >>> 0) + (bytes[at + 1] << 16) + (bytes[at + 2] << 8) + bytes[at + 3];
}

export function readU64(bytes: Uint8Array, at: number): number {
  return readU32(bytes, at) * 0x100000000 + readU32(bytes, at + 4);
}

/** A length-prefixed field (1-byte length): for short strings in signed and bound data. */
export function field8(bytes: Uint8Array): Uint8Array {
  if (bytes.length > 255) throw new RangeError('field longer than 255 bytes');
  return concat(u8(bytes.length), bytes);
}

/** A length-prefixed field (2-byte length). */
export function field16(bytes: Uint8Array): Uint8Array {
  if (bytes.length > 0xffff) throw new RangeError('field longer than 65535 bytes');
  return concat(u16(bytes.length), bytes);
}

/** Compares without an early exit, so the time does not tell where two values differ. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
