/**
 * The record layer over WebCrypto, as web TransformStreams: what the client SDK uses
 * in browsers and in Node. Every record is authenticated before its data is released.
 */
import { concat } from './bytes.js';
import { aesGcmOpen, aesGcmSeal, hkdf, importAesKey, randomBytes, type CryptoLike } from './primitives.js';
import {
  RecordReader, RecordSequence, RecordSplitter, SALT_BYTES, bindingAad, cekInfo, encodeHeader, nonceFor, nonceInfo, unpad,
  type Binding, type Direction, type ReaderItem,
} from './records.js';

export interface WebRecordKeys {
  readonly key: CryptoKey;
  readonly nonceBase: Uint8Array;
}

export async function deriveWebKeys(c: CryptoLike, k: Uint8Array, salt: Uint8Array, direction: Direction): Promise<WebRecordKeys> {
  const [cek, nonceBase] = await Promise.all([hkdf(c, k, salt, cekInfo(direction), 32), hkdf(c, k, salt, nonceInfo(direction), 12)]);
  return { key: await importAesKey(c, cek), nonceBase };
}

/** Thrown (as the stream's error) when a body does not decrypt; `reason` says why. */
export class RecordError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`encrypted body refused: ${reason}`);
    this.name = 'RecordError';
    this.reason = reason;
  }
}

/** Encrypts a whole message held in memory. */
export function sealMessage(c: CryptoLike, k: Uint8Array, binding: Binding, data: Uint8Array, rs: number): Promise<Uint8Array> {
  return runThrough(sealStream(c, k, binding, rs), data);
}

/** A TransformStream from plaintext to the record stream of one message. */
export function sealStream(c: CryptoLike, k: Uint8Array, binding: Binding, rs: number): TransformStream<Uint8Array, Uint8Array> {
  const salt = randomBytes(c, SALT_BYTES);
  const aad = bindingAad(binding);
  const splitter = new RecordSplitter(rs);
  let keys: Promise<WebRecordKeys> | undefined;
  let seq = 0;
  const seal = async (plain: Uint8Array) => {
    const { key, nonceBase } = await keys!;
    return aesGcmSeal(c, key, nonceFor(nonceBase, seq++), plain, aad);
  };
  return new TransformStream({
    start(controller) {
      keys = deriveWebKeys(c, k, salt, binding.direction);
      controller.enqueue(encodeHeader(salt, rs));
    },
    async transform(chunk, controller) {
      const records: Uint8Array[] = [];
      splitter.push(chunk, records);
      for (const r of records) controller.enqueue(await seal(r));
    },
    async flush(controller) {
      controller.enqueue(await seal(splitter.end()));
    },
  });
}

/** A TransformStream from one message's record stream to its plaintext. */
export function openStream(c: CryptoLike, k: Uint8Array, binding: Binding, maxRecordSize?: number): TransformStream<Uint8Array, Uint8Array> {
  const aad = bindingAad(binding);
  const reader = new RecordReader(maxRecordSize);
  let keys: WebRecordKeys | undefined;
  let sequence: RecordSequence | undefined;
  const handle = async (items: ReaderItem[], controller: TransformStreamDefaultController<Uint8Array>) => {
    for (const item of items) {
      if (item.kind === 'header') {
        keys = await deriveWebKeys(c, k, item.salt, binding.direction);
        sequence = new RecordSequence(item.rs);
        continue;
      }
      const plain = await aesGcmOpen(c, keys!.key, nonceFor(keys!.nonceBase, item.seq), item.sealed, aad);
      if (!plain) throw new RecordError(`record ${item.seq} does not authenticate (tampered, reordered, or from another message)`);
      const r = unpad(plain);
      if (typeof r === 'string') throw new RecordError(r);
      const bad = sequence!.accept(item.sealed.length, r.final);
      if (bad) throw new RecordError(bad);
      if (r.data.length > 0) controller.enqueue(r.data.slice());
    }
  };
  return new TransformStream({
    async transform(chunk, controller) {
      const items: ReaderItem[] = [];
      const bad = reader.push(chunk, items);
      await handle(items, controller);
      if (bad) throw new RecordError(bad);
    },
    async flush(controller) {
      const items: ReaderItem[] = [];
      const bad = reader.end(items);
      if (bad) throw new RecordError(bad);
      await handle(items, controller);
      const truncated = sequence!.end();
      if (truncated) throw new RecordError(truncated);
    },
  });
}

/** Decrypts a whole message held in memory; throws RecordError. */
export function openMessage(c: CryptoLike, k: Uint8Array, binding: Binding, sealed: Uint8Array, maxRecordSize?: number): Promise<Uint8Array> {
  return runThrough(openStream(c, k, binding, maxRecordSize), sealed);
}

async function runThrough(stream: TransformStream<Uint8Array, Uint8Array>, input: Uint8Array): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const parts: Uint8Array[] = [];
  const pump = (async () => {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      parts.push(r.value);
    }
  })();
  const write = (async () => {
    await writer.write(input);
    await writer.close();
  })();
  await Promise.all([write, pump]);
  return concat(...parts);
}
