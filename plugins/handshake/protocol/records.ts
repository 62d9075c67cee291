/**
 * The record layer: RFC 8188 (Encrypted Content-Encoding for HTTP) with AES-256-GCM
 * and lb's binding as additional data. A body is a 21-byte header (salt, record size
 * rs, an empty key id) followed by records of exactly rs bytes except the last; each
 * record is AES-GCM over data || delimiter (0x01, or 0x02 on the last) || optional
 * zero padding. Keys come from K and the salt with HKDF-SHA-256, per direction;
 * record i's nonce is the nonce base XOR i. This file is the framing; the ciphers
 * that run it are in node-records.ts (proxy) and web-records.ts (any WebCrypto).
 */
import { concat, readU32, u32, utf8 } from './bytes.js';

export const SALT_BYTES = 16;
export const HEADER_BYTES = SALT_BYTES + 4 + 1;
export const TAG_BYTES = 16;
/** RFC 8188's smallest record: one byte of data, the delimiter and the tag. */
export const MIN_RECORD_SIZE = 18;
export const MAX_RECORD_SIZE = 65536;
export const DEFAULT_RECORD_SIZE = 65536;
/** A body of more records than this is refused (at the largest rs, 256 TiB). */
export const MAX_RECORDS = 2 ** 32;

export type Direction = 'request' | 'response';
const DIRECTION_BYTE: Record<Direction, number> = { request: 1, response: 2 };

export const DELIMITER = 0x01;
export const FINAL_DELIMITER = 0x02;

/** HKDF info for the content-encryption key and the nonce base of one direction. */
export function cekInfo(direction: Direction): Uint8Array {
  return concat(utf8('Content-Encoding: lb-aes256gcm'), Uint8Array.of(0), utf8(direction));
}

export function nonceInfo(direction: Direction): Uint8Array {
  return concat(utf8('Content-Encoding: lb-nonce'), Uint8Array.of(0), utf8(direction));
}

/** What every record of a message is bound to. `status` for responses only. */
export interface Binding {
  readonly direction: Direction;
  readonly sessionId: Uint8Array;
  readonly requestId: Uint8Array;
  readonly method: string;
  readonly path: string;
  readonly status?: number;
}

const AAD_LABEL = concat(utf8('lb/1 record'), Uint8Array.of(0));

/**
 * The additional data of every record of a message: label, direction, then
 * field8(session id), field8(request id), field8(method), field16(path), u16(status).
 * Written into one buffer (it runs for every message).
 */
export function bindingAad(b: Binding): Uint8Array {
  const method = utf8(b.method.toUpperCase());
  const path = utf8(b.path);
  if (b.sessionId.length > 255 || b.requestId.length > 255 || method.length > 255 || path.length > 0xffff) throw new RangeError('binding field too long');
  const out = new Uint8Array(AAD_LABEL.length + 1 + 1 + b.sessionId.length + 1 + b.requestId.length + 1 + method.length + 2 + path.length + 2);
  let o = 0;
  out.set(AAD_LABEL, o);
  o += AAD_LABEL.length;
  out[o++] = DIRECTION_BYTE[b.direction];
  out[o++] = b.sessionId.length;
  out.set(b.sessionId, o);
  o += b.sessionId.length;
  out[o++] = b.requestId.length;
  out.set(b.requestId, o);
  o += b.requestId.length;
  out[o++] = method.length;
  out.set(method, o);
  o += method.length;
  out[o++] = path.length >>> 8;
  out[o++] = path.length & 0xff;
  out.set(path, o);
  o += path.length;
  const status = b.direction === 'response' ? (b.status ?? 0) : 0;
  out[o++] = (status >>> 8) & 0xff;
  out[o] = status & 0xff;
  return out;
}

export function encodeHeader(salt: Uint8Array, rs: number): Uint8Array {
  return concat(salt, u32(rs), Uint8Array.of(0));
}

export type HeaderResult = { salt: Uint8Array; rs: number } | string;

export function parseHeader(bytes: Uint8Array, maxRecordSize = MAX_RECORD_SIZE): HeaderResult {
  if (bytes.length < HEADER_BYTES) return 'the body is shorter than its 21-byte header';
  const rs = readU32(bytes, SALT_BYTES);
  if (rs < MIN_RECORD_SIZE || rs > maxRecordSize) return `record size ${rs} is outside ${MIN_RECORD_SIZE}..${maxRecordSize}`;
  if (bytes[SALT_BYTES + 4] !== 0) return 'the key id must be empty';
  return { salt: bytes.slice(0, SALT_BYTES), rs };
}

/** Nonce of record `seq`: the base XOR seq as a 96-bit big-endian integer. */
export function nonceFor(base: Uint8Array, seq: number): Uint8Array {
  // A copy even when `base` is a Buffer (whose slice() is a view).
  const n = new Uint8Array(base);
  let s = seq;
  for (let i = 11; i >= 4 && s > 0; i--) {
    n[i] ^= s & 0xff;
    s = Math.floor(s / 256);
  }
  return n;
}

/** Bytes on the wire for `plain` bytes of data, unpadded, in records of `rs`. */
export function sealedLength(plain: number, rs: number): number {
  const perRecord = rs - TAG_BYTES - 1;
  const records = Math.max(1, Math.ceil(plain / perRecord));
  return HEADER_BYTES + plain + records * (TAG_BYTES + 1);
}

/** Data bytes in an unpadded body of `sealed` bytes; undefined when no unpadded body has that length. */
export function plainLength(sealed: number, rs: number): number | undefined {
  const body = sealed - HEADER_BYTES;
  if (body < TAG_BYTES + 1) return undefined;
  const records = Math.ceil(body / rs);
  const plain = body - records * (TAG_BYTES + 1);
  return plain >= 0 && sealedLength(plain, rs) === sealed ? plain : undefined;
}

/**
 * Splits the data of a message into record plaintexts (data || delimiter). Holds
 * back up to one record's data until it knows whether more follows, so that the
 * last record carries the final delimiter.
 */
export class RecordSplitter {
  readonly perRecord: number;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(rs: number) {
    this.perRecord = rs - TAG_BYTES - 1;
  }

  /** Record plaintexts that are complete and known not to be the last. */
  push(chunk: Uint8Array, out: Uint8Array[]): void {
    if (chunk.length === 0) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes > this.perRecord) out.push(this.take(this.perRecord, DELIMITER));
  }

  /** The last record's plaintext. */
  end(): Uint8Array {
    return this.take(this.pendingBytes, FINAL_DELIMITER);
  }

  private take(n: number, delimiter: number): Uint8Array {
    const record = new Uint8Array(n + 1);
    moveFront(this.pending, n, record);
    record[n] = delimiter;
    this.pendingBytes -= n;
    return record;
  }
}

/** Moves the first `n` bytes of a queue of chunks into `into`, taking them off the queue. */
function moveFront(queue: Uint8Array[], n: number, into: Uint8Array): void {
  let o = 0;
  while (o < n) {
    const head = queue[0];
    const want = n - o;
    if (head.length <= want) {
      into.set(head, o);
      o += head.length;
      queue.shift();
    } else {
      into.set(head.subarray(0, want), o);
      queue[0] = head.subarray(want);
      o += want;
    }
  }
}

/** A unit the reader cut from the wire: the header, then records in order. */
export type ReaderItem = { kind: 'header'; salt: Uint8Array; rs: number } | { kind: 'record'; seq: number; sealed: Uint8Array };

/**
 * Cuts a message's bytes into its header and records, holding at most one record.
 * Errors are strings: the caller maps them to its error code.
 */
export class RecordReader {
  private readonly maxRecordSize: number;
  private rs = 0;
  private buffer: Uint8Array[] = [];
  private buffered = 0;
  private seq = 0;
  bytesIn = 0;

  constructor(maxRecordSize = MAX_RECORD_SIZE) {
    this.maxRecordSize = maxRecordSize;
  }

  /** The record size once the header is read, 0 before. */
  get recordSize(): number {
    return this.rs;
  }

  push(chunk: Uint8Array, out: ReaderItem[]): string | undefined {
    this.bytesIn += chunk.length;
    this.buffer.push(chunk);
    this.buffered += chunk.length;
    if (this.rs === 0) {
      if (this.buffered < HEADER_BYTES) return undefined;
      const header = parseHeader(this.take(HEADER_BYTES), this.maxRecordSize);
      if (typeof header === 'string') return header;
      this.rs = header.rs;
      out.push({ kind: 'header', salt: header.salt, rs: header.rs });
    }
    while (this.buffered >= this.rs) {
      if (this.seq >= MAX_RECORDS) return 'too many records';
      out.push({ kind: 'record', seq: this.seq++, sealed: this.take(this.rs) });
    }
    return undefined;
  }

  /** The short last record, if any bytes are left. */
  end(out: ReaderItem[]): string | undefined {
    if (this.rs === 0) return this.bytesIn === 0 ? 'the body is empty: an encrypted body has at least a header and one record' : 'the body is shorter than its 21-byte header';
    if (this.buffered > 0) {
      if (this.buffered < TAG_BYTES + 1) return `the last record is ${this.buffered} bytes, shorter than a tag and a delimiter`;
      out.push({ kind: 'record', seq: this.seq++, sealed: this.take(this.buffered) });
    }
    return undefined;
  }

  private take(n: number): Uint8Array {
    const head = this.buffer[0];
    let out: Uint8Array;
    if (head.length >= n) {
      out = head.subarray(0, n);
      if (head.length === n) this.buffer.shift();
      else this.buffer[0] = head.subarray(n);
    } else {
      out = new Uint8Array(n);
      moveFront(this.buffer, n, out);
    }
    this.buffered -= n;
    return out;
  }
}

/**
 * A record's data once it authenticated: strips padding (trailing zeros) and the
 * delimiter. A string says why the record is refused.
 */
export function unpad(plain: Uint8Array): { data: Uint8Array; final: boolean } | string {
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0) end--;
  if (end < 0) return 'a record has no delimiter';
  const d = plain[end];
  if (d !== DELIMITER && d !== FINAL_DELIMITER) return 'a record has an invalid delimiter';
  return { data: plain.subarray(0, end), final: d === FINAL_DELIMITER };
}

/**
 * Checks each opened record against the rules that need the sequence: only the last
 * record may be final and short, and the stream may not end before a final record.
 */
export class RecordSequence {
  private finished = false;
  private readonly rs: number;

  constructor(rs: number) {
    this.rs = rs;
  }

  accept(sealedLength: number, final: boolean): string | undefined {
    if (this.finished) return 'data follows the final record';
    if (!final && sealedLength !== this.rs) return 'a record shorter than the record size is not marked final';
    if (final) this.finished = true;
    return undefined;
  }

  end(): string | undefined {
    return this.finished ? undefined : 'the body ends before its final record (truncated)';
  }

  get done(): boolean {
    return this.finished;
  }
}
