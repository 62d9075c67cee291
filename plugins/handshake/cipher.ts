/**
 * Requests inside a session, on the proxy: the encrypt hook checks the session
 * headers, the request id (time window, then replay), and the first record (or the
 * lb-seal of a bodiless request) before anything is proxied; the body is then
 * decrypted record by record, and the response encrypted as the last stage.
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import type { BodyCipher, BodyStage, LbError, RequestContext, ResponseContext } from '../../core/index.js';
import { fromB64u, readU32, readU64, toB64u } from './protocol/bytes.js';
import { REQUEST_ID_BYTES, SESSION_ID_BYTES } from './protocol/messages.js';
import { HEADER_BYTES, bindingAad, plainLength, sealedLength, type Binding } from './protocol/records.js';
import { OpenTransform, SealTransform, openPrefix, sealWhole, type OpenFailure } from './node-records.js';
import { handshakeErrors } from './errors.js';
import { readAhead } from './read-ahead.js';
import type { Sessions } from './sessions.js';

export const SESSION_HEADER = 'lb-session';
export const REQUEST_HEADER = 'lb-request';
export const SEAL_HEADER = 'lb-seal';
export const ACCEPT_ENCODING_HEADER = 'lb-accept-encoding';
export const CONTENT_ENCODING_HEADER = 'lb-content-encoding';

export interface CipherSettings {
  readonly sessions: Sessions;
  readonly replayWindowMs: number;
  readonly recordSize: number;
  readonly maxRecordSize: number;
  /** How long the first record of a body may take to arrive. */
  readonly readAheadMs: number;
}

const { create } = handshakeErrors;

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

function refused(failure: OpenFailure, maxRecordSize: number): LbError {
  return failure.tooLarge !== undefined ? create('LB_ERR_RECORD_TOO_LARGE', { rs: failure.tooLarge, limit: maxRecordSize }) : create('LB_ERR_RECORD_INVALID', { detail: failure.reason });
}

/** A verified request of a session: its key, binding, and where its session came from. */
export interface VerifiedRequest {
  readonly sid: string;
  readonly rid: string;
  readonly k: Uint8Array;
  readonly binding: Binding;
  /** The plaintext length, when the ciphertext's Content-Length is known. */
  readonly plaintextLength: number | undefined;
  readonly aad: Uint8Array;
  /** The whole body's plaintext, when all of it arrived while its first record was checked. */
  readonly plaintext: Buffer | undefined;
}

/**
 * Checks an encrypted request up to its first record. Throws the LbError to answer
 * with; resolves once the request may be proxied (its id is then remembered).
 */
export async function verifyRequest(req: IncomingMessage, s: CipherSettings): Promise<VerifiedRequest> {
  const h = req.headers;
  const sid = one(h[SESSION_HEADER]) ?? '';
  const sidBytes = fromB64u(sid, SESSION_ID_BYTES);
  if (!sidBytes || sidBytes.length !== SESSION_ID_BYTES) throw create('LB_ERR_SESSION_HEADERS', { detail: 'lb-session must be one 16-byte session id in base64url' });
  const rid = one(h[REQUEST_HEADER]);
  const ridBytes = rid === undefined ? undefined : fromB64u(rid, REQUEST_ID_BYTES);
  if (!ridBytes || ridBytes.length !== REQUEST_ID_BYTES) throw create('LB_ERR_SESSION_HEADERS', { detail: 'lb-request must be one 24-byte request id (8-byte time in ms, 16 random bytes) in base64url' });
  const ageMs = Date.now() - readU64(ridBytes, 0);
  if (Math.abs(ageMs) > s.replayWindowMs) throw create('LB_ERR_REQUEST_STALE', { age: Math.round(ageMs / 1000), window: s.replayWindowMs / 1000 });
  const session = await s.sessions.get(sid);
  if (!session) throw create('LB_ERR_SESSION_UNKNOWN', { session: sid });
  const binding: Binding = { direction: 'request', sessionId: sidBytes, requestId: ridBytes, method: req.method ?? 'GET', path: req.url ?? '/' };
  const aad = bindingAad(binding);
  const seal = one(h[SEAL_HEADER]);
  let plaintextLength: number | undefined;
  let plaintext: Buffer | undefined;
  if (hasBody(req)) {
    if (seal !== undefined) throw create('LB_ERR_SESSION_HEADERS', { detail: 'lb-seal is for requests without a body; a body carries its own records' });
    const declared = h['content-length'] === undefined ? undefined : Number(h['content-length']);
    let rs = 0;
    const ahead = await readAhead(req, (bytes, chunks) => {
      if (declared !== undefined && bytes >= declared) return 'whole';
      if (bytes < HEADER_BYTES) return false;
      if (rs === 0) {
        const head = chunks[0].length >= HEADER_BYTES ? chunks[0] : Buffer.concat(chunks);
        rs = readU32(head, 16);
      }
      // A record size lb would refuse needs no more bytes to be refused.
      return rs < 18 || rs > s.maxRecordSize || bytes >= HEADER_BYTES + rs;
    }, s.readAheadMs);
    if (ahead.timedOut) throw create('LB_ERR_RECORD_INVALID', { detail: `the first record did not arrive within ${s.readAheadMs} ms` });
    const first = Buffer.concat(ahead.chunks, ahead.bytes);
    // The whole body is here when it ended, or when its declared length arrived.
    const complete = ahead.ended || (declared !== undefined && ahead.bytes >= declared);
    if (declared !== undefined && ahead.bytes > declared) throw create('LB_ERR_RECORD_INVALID', { detail: 'more bytes than the Content-Length' });
    const opened = openPrefix(session.k, binding, complete ? first : first.subarray(0, Math.min(first.length, HEADER_BYTES + rs)), s.maxRecordSize, complete, aad);
    if (!('data' in opened)) throw refused(opened, s.maxRecordSize);
    if (!complete && opened.final && declared !== undefined) throw create('LB_ERR_RECORD_INVALID', { detail: 'data follows the final record' });
    if (declared !== undefined) {
      plaintextLength = plainLength(declared, readU32(first, 16));
      if (plaintextLength === undefined) throw create('LB_ERR_RECORD_INVALID', { detail: `a Content-Length of ${declared} is not that of an unpadded record stream` });
      // A whole body that holds less than its length implies (padding) is refused before the backend gets any of it.
      if (complete && opened.data.length !== plaintextLength) throw create('LB_ERR_RECORD_INVALID', { detail: `the records hold ${opened.data.length} bytes of data, not the ${plaintextLength} their length implies (padding is not accepted on requests with a Content-Length)` });
    }
    // Read whole (most small bodies): the backend gets this plaintext, with no stage to decrypt it again.
    if (complete) plaintext = opened.data;
  } else {
    const sealed = seal === undefined ? undefined : fromB64u(seal, 1024);
    if (!sealed) throw create('LB_ERR_SESSION_HEADERS', { detail: 'a request without a body carries the sealed empty body in lb-seal (base64url)' });
    const opened = openPrefix(session.k, binding, sealed, s.maxRecordSize, true, aad);
    if (!('data' in opened)) throw refused(opened, s.maxRecordSize);
    if (opened.data.length !== 0) throw create('LB_ERR_RECORD_INVALID', { detail: 'the lb-seal of a bodiless request must seal an empty body' });
  }
  if (!(await s.sessions.firstSeen(sid, rid!, s.replayWindowMs * 2))) throw create('LB_ERR_REQUEST_REPLAYED', { session: sid });
  return { sid, rid: rid!, k: session.k, binding, aad, plaintextLength, plaintext };
}

/** The body cipher of one verified request. */
export class SessionCipher implements BodyCipher {
  readonly plaintextLength: number | undefined;
  constructor(private readonly v: VerifiedRequest, private readonly s: CipherSettings) {
    this.plaintextLength = v.plaintextLength;
  }

  decryptRequest(ctx: RequestContext): BodyStage | undefined {
    if (this.v.plaintext !== undefined || !hasBody(ctx.req)) return undefined;
    const stage = new OpenTransform(this.v.k, this.v.binding, this.s.maxRecordSize, (reason) => create('LB_ERR_RECORD_INVALID', { detail: reason }), this.v.aad);
    stage.expectedPlain = this.v.plaintextLength;
    return stage;
  }

  encryptResponse(response: ResponseContext): BodyStage | undefined {
    const binding = this.editHeaders(response);
    return binding && new SealTransform(this.v.k, binding, this.s.recordSize, bindingAad(binding));
  }

  /** Responses up to one record (most API answers) are read whole and sealed in one call, with no stream stage. */
  get sealBodyLimit(): number {
    return this.s.recordSize - 17;
  }

  sealBody(response: ResponseContext, body: Buffer): Buffer | undefined {
    // A HEAD response's Content-Length is that of the body a GET would get, not of the (empty) body read.
    if (this.v.binding.method !== 'HEAD') response.headers['content-length'] = body.length;
    const binding = this.editHeaders(response);
    return binding && sealWhole(this.v.k, binding, body, this.s.recordSize);
  }

  /**
   * Edits an encrypted response's headers (lengths, codings, caching); seals a bodiless
   * response into lb-seal and returns undefined, else returns the body's binding.
   */
  private editHeaders(response: ResponseContext): Binding | undefined {
    const h = response.headers;
    const status = response.statusCode;
    // These headers are lb's word to the client: a backend's own would change how the SDK reads the response.
    delete h['lb-error'];
    delete h[SEAL_HEADER];
    delete h[CONTENT_ENCODING_HEADER];
    const binding: Binding = { ...this.v.binding, direction: 'response', status };
    const coding = h['content-encoding'];
    if (coding !== undefined) {
      h[CONTENT_ENCODING_HEADER] = coding;
      delete h['content-encoding'];
    }
    // Each response has its own keys: a cache could never use the bytes again.
    h['cache-control'] = 'no-store';
    const bodiless = this.v.binding.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    const length = h['content-length'] === undefined ? undefined : Number(h['content-length']);
    if (length !== undefined && Number.isSafeInteger(length) && length >= 0) h['content-length'] = sealedLength(length, this.s.recordSize);
    else delete h['content-length'];
    if (bodiless) {
      h[SEAL_HEADER] = toB64u(sealWhole(this.v.k, binding, new Uint8Array(0), this.s.recordSize));
      if (status === 204 || status === 304) delete h['content-length'];
      return undefined;
    }
    return binding;
  }
}

/**
 * The body to read instead of the spent request, when all of it arrived during the
 * check: its plaintext, sent with its Content-Length.
 */
export function wholeBodySource(req: IncomingMessage, v: VerifiedRequest): Readable | undefined {
  if (v.plaintext === undefined) return undefined;
  req.headers['content-length'] = String(v.plaintext.length);
  delete req.headers['transfer-encoding'];
  const body = new PassThrough();
  body.end(v.plaintext);
  return body;
}
