/**
 * The handshake's messages: their JSON shapes, the bytes that are signed, and the
 * transcript that binds each step to the ones before. Parsers return undefined (or a
 * reason) for anything malformed; they never throw on input.
 */
import { concat, field16, field8, fromB64u, toB64u, u64, utf8 } from './bytes.js';
import { label, sha256, type CryptoLike } from './primitives.js';
import { suiteOf, type Suite } from './suites.js';

export const PROTOCOL_VERSION = 1;
export const OFFER_ID_BYTES = 16;
export const SESSION_ID_BYTES = 16;
/** A request id: the client's time (8 bytes, ms since the epoch) and 16 random bytes. */
export const REQUEST_ID_BYTES = 24;
export const KEY_BYTES = 32;
/** Largest handshake message body lb reads. */
export const MAX_MESSAGE_BYTES = 8192;

/** Step 1, server → client: PU1, signed by the identity key. */
export interface Offer {
  readonly suite: Suite;
  readonly offerId: Uint8Array;
  readonly pu1: Uint8Array;
  /** Milliseconds since the epoch after which the server no longer completes this offer. */
  readonly expires: number;
  readonly identity: Uint8Array;
  readonly signature: Uint8Array;
}

/** Step 2, client → server: PU2 sealed under PU1. */
export interface Answer {
  readonly offerId: Uint8Array;
  readonly sealedPu2: Uint8Array;
}

/** Step 3, server → client: the session id and K wrapped under PU2. */
export interface Accept {
  readonly sessionId: Uint8Array;
  readonly expires: number;
  readonly wrappedK: Uint8Array;
  /** The largest record size lb accepts in request bodies (absent: 65536). */
  readonly maxRecordSize?: number;
}

/** The bytes the identity key signs for an offer. */
export function offerSignedBytes(suite: string, offerId: Uint8Array, expires: number, pu1: Uint8Array): Uint8Array {
  return concat(label('offer'), field8(utf8(suite)), field8(offerId), u64(expires), field16(pu1));
}

/** AAD of PU2's encryption under PU1: binds it to the offer it answers. */
export function answerAad(c: CryptoLike, offer: Offer): Promise<Uint8Array> {
  return sha256(c, concat(label('answer'), offerSignedBytes(offer.suite.id, offer.offerId, offer.expires, offer.pu1)));
}

/** Binding of K's wrapping: the transcript hash (offer, signature, answer) and the session id. */
export async function acceptBinding(c: CryptoLike, offer: Offer, sealedPu2: Uint8Array, sessionId: Uint8Array): Promise<Uint8Array> {
  const transcript = await sha256(c, concat(label('transcript'), offerSignedBytes(offer.suite.id, offer.offerId, offer.expires, offer.pu1), field16(offer.signature), field16(sealedPu2)));
  return concat(transcript, field8(sessionId));
}

export function encodeOffer(offer: Offer): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, suite: offer.suite.id, offer: toB64u(offer.offerId), pu1: toB64u(offer.pu1), expires: offer.expires, identity: toB64u(offer.identity), sig: toB64u(offer.signature) });
}

export function encodeAnswer(answer: Answer): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, offer: toB64u(answer.offerId), pu2: toB64u(answer.sealedPu2) });
}

export function encodeAccept(accept: Accept): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, session: toB64u(accept.sessionId), expires: accept.expires, k: toB64u(accept.wrappedK), ...(accept.maxRecordSize === undefined ? {} : { rs: accept.maxRecordSize }) });
}

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

function object(text: string): Record<string, unknown> | string {
  if (text.length > MAX_MESSAGE_BYTES) return `message longer than ${MAX_MESSAGE_BYTES} bytes`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const o = value as Record<string, unknown>;
  if (o.v !== PROTOCOL_VERSION) return `"v" must be ${PROTOCOL_VERSION}`;
  return o;
}

function bytes(o: Record<string, unknown>, key: string, min: number, max: number): Uint8Array | string {
  const v = o[key];
  if (typeof v !== 'string') return `"${key}" must be a base64url string`;
  const b = fromB64u(v, max);
  if (!b) return `"${key}" is not canonical base64url of at most ${max} bytes`;
  if (b.length < min) return `"${key}" is shorter than ${min} bytes`;
  return b;
}

function time(o: Record<string, unknown>, key: string): number | string {
  const v = o[key];
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : `"${key}" must be a positive integer (ms since the epoch)`;
}

export function parseOffer(text: string): Parsed<Offer> {
  const o = object(text);
  if (typeof o === 'string') return { ok: false, reason: o };
  const suite = typeof o.suite === 'string' ? suiteOf(o.suite) : undefined;
  if (!suite) return { ok: false, reason: `unknown suite ${JSON.stringify(o.suite)}` };
  const offerId = bytes(o, 'offer', OFFER_ID_BYTES, OFFER_ID_BYTES);
  const pu1 = bytes(o, 'pu1', 1, 1024);
  const identity = bytes(o, 'identity', 1, 256);
  const signature = bytes(o, 'sig', 64, 64);
  const expires = time(o, 'expires');
  for (const v of [offerId, pu1, identity, signature, expires]) if (typeof v === 'string') return { ok: false, reason: v };
  if (!suite.publicKeyValid(pu1 as Uint8Array)) return { ok: false, reason: `"pu1" is not a ${suite.id} public key` };
  return { ok: true, value: { suite, offerId: offerId as Uint8Array, pu1: pu1 as Uint8Array, identity: identity as Uint8Array, signature: signature as Uint8Array, expires: expires as number } };
}

export function parseAnswer(text: string): Parsed<Answer> {
  const o = object(text);
  if (typeof o === 'string') return { ok: false, reason: o };
  const offerId = bytes(o, 'offer', OFFER_ID_BYTES, OFFER_ID_BYTES);
  const sealedPu2 = bytes(o, 'pu2', 32, 2048);
  for (const v of [offerId, sealedPu2]) if (typeof v === 'string') return { ok: false, reason: v };
  return { ok: true, value: { offerId: offerId as Uint8Array, sealedPu2: sealedPu2 as Uint8Array } };
}

export function parseAccept(text: string): Parsed<Accept> {
  const o = object(text);
  if (typeof o === 'string') return { ok: false, reason: o };
  const sessionId = bytes(o, 'session', SESSION_ID_BYTES, SESSION_ID_BYTES);
  const wrappedK = bytes(o, 'k', 32, 512);
  const expires = time(o, 'expires');
  for (const v of [sessionId, wrappedK, expires]) if (typeof v === 'string') return { ok: false, reason: v };
  const rs = o.rs;
  if (rs !== undefined && !(Number.isInteger(rs) && (rs as number) >= 18 && (rs as number) <= 65536)) return { ok: false, reason: '"rs" must be an integer from 18 to 65536' };
  return { ok: true, value: { sessionId: sessionId as Uint8Array, wrappedK: wrappedK as Uint8Array, expires: expires as number, ...(rs === undefined ? {} : { maxRecordSize: rs as number }) } };
}
