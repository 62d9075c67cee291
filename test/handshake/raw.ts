/**
 * Helpers for abuse tests of the handshake plugin: a session made by running the
 * steps of the protocol by hand with the protocol module (so that K and the session
 * id are known, and the steps are shown to be enough), requests sealed with the
 * proxy's own record code and sent raw with node:http, a backend that records exactly
 * what reached it, and the checks every refusal must pass (`expectRefused`).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { concat, fromB64u, toB64u, u64 } from '../../plugins/handshake/protocol/bytes.js';
import { acceptBinding, answerAad, encodeAnswer, offerSignedBytes, parseAccept, parseOffer, type Offer } from '../../plugins/handshake/protocol/messages.js';
import { fingerprint, importIdentityPublic, randomBytes, verify, type CryptoLike } from '../../plugins/handshake/protocol/primitives.js';
import {
  DELIMITER, FINAL_DELIMITER, HEADER_BYTES, SALT_BYTES, bindingAad, encodeHeader, type Binding,
} from '../../plugins/handshake/protocol/records.js';
import type { ClientKeys } from '../../plugins/handshake/protocol/suites.js';
import { deriveNodeKeys, openPrefix, sealRecord, sealWhole } from '../../plugins/handshake/node-records.js';
import { generateIdentityFile } from '../../plugins/handshake/identity.js';
import { connect, type Session } from '../../plugins/handshake/client/index.js';
import { startBackend, startLb, type Handler, type TestBackend, type TestLb } from '../support/servers.js';

export const HANDSHAKE = '/.lb/handshake';
const c: CryptoLike = globalThis.crypto;

/** A fresh identity key file in its own temp dir, and the fingerprint clients pin. */
export function freshIdentity(): { file: string; pin: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lb-'));
  const identity = generateIdentityFile(path.join(dir, 'id.pem'));
  return { file: identity.file, pin: identity.fingerprint };
}

/** An rc with only what encryption needs (no health polls reach the backends): round robin, memory keystore, handshake. */
export function handshakeRc(backends: string[], identityFile: string, options: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    strategy: 'round-robin',
    backends,
    plugins: ['memory-keystore', { use: 'handshake', options: { identityKey: identityFile, ...options } }],
  };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string | number | string[]>;
  /** The body, whole; or a function that writes it to the request (and ends it). */
  body?: string | Uint8Array | ((req: http.ClientRequest) => Promise<void>);
}

/**
 * One request on a fresh connection. Resolves with the response even when lb answers
 * before the body is all written and closes (the writes may then fail): what counts is
 * what lb said.
 */
export function send(base: string, r: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(new URL(r.path, base), { method: r.method ?? 'GET', headers: r.headers, agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    const body = r.body;
    if (typeof body === 'function') body(req).catch(() => req.destroy());
    else req.end(body);
  });
}

/** Writes and waits until the socket took it (no fixed sleeps: the caller polls for what it waits on). */
export function write(req: http.ClientRequest, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => req.write(bytes, (e) => (e ? reject(e) : resolve())));
}

/** Step 1: an offer, checked as a client must (pinned identity, signature, expiry). */
export async function fetchOffer(base: string, pin: string): Promise<{ offer: Offer; json: string }> {
  // Right after start-up a pool holds one PU1 and refills in the background: wait for one (polling, as Retry-After says).
  let res = await send(base, { path: HANDSHAKE });
  for (const deadline = Date.now() + 10_000; res.headers['lb-error'] === 'LB_ERR_HANDSHAKE_POOL_EMPTY' && Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    res = await send(base, { path: HANDSHAKE });
  }
  if (res.status !== 200) throw new Error(`GET ${HANDSHAKE} answered ${res.status} ${res.headers['lb-error'] ?? ''}`);
  const json = res.body.toString('utf8');
  const parsed = parseOffer(json);
  if (!parsed.ok) throw new Error(`the offer is malformed: ${parsed.reason}`);
  const offer = parsed.value;
  if ((await fingerprint(c, offer.identity)) !== pin) throw new Error('the offer is not from the pinned identity');
  const key = await importIdentityPublic(c, offer.identity);
  if (!(await verify(c, key, offer.signature, offerSignedBytes(offer.suite.id, offer.offerId, offer.expires, offer.pu1)))) throw new Error('the offer\'s signature does not verify');
  if (offer.expires <= Date.now()) throw new Error('the offer has expired');
  return { offer, json };
}

/** Step 2's message for `offer`: PU2 sealed to `pu1` (the offer's, unless another key is given), bound to the offer. */
export async function answerTo(offer: Offer, o: { keys?: ClientKeys; pu1?: Uint8Array; aad?: Uint8Array } = {}): Promise<{ body: string; keys: ClientKeys; sealedPu2: Uint8Array }> {
  const keys = o.keys ?? (await offer.suite.generateClientKeys(c));
  const sealedPu2 = await offer.suite.sealPu2(c, o.pu1 ?? offer.pu1, keys, o.aad ?? (await answerAad(c, offer)));
  return { body: encodeAnswer({ offerId: offer.offerId, sealedPu2 }), keys, sealedPu2 };
}

export function postAnswer(base: string, body: string | Uint8Array): Promise<RawResponse> {
  return send(base, { method: 'POST', path: HANDSHAKE, headers: { 'content-type': 'application/json' }, body });
}

/** A session whose K and id the test knows. */
export interface RawSession {
  readonly k: Uint8Array;
  readonly sid: Uint8Array;
  readonly id: string;
  readonly expires: number;
}

/** The whole handshake by hand: offer, answer, accept, K unwrapped under PU2 with the transcript binding. */
export async function rawHandshake(base: string, pin: string): Promise<RawSession> {
  const { offer } = await fetchOffer(base, pin);
  const { body, keys, sealedPu2 } = await answerTo(offer);
  const res = await postAnswer(base, body);
  if (res.status !== 200) throw new Error(`POST ${HANDSHAKE} answered ${res.status} ${res.headers['lb-error'] ?? ''}`);
  const accepted = parseAccept(res.body.toString('utf8'));
  if (!accepted.ok) throw new Error(`the accept is malformed: ${accepted.reason}`);
  const { sessionId, wrappedK, expires } = accepted.value;
  const k = await offer.suite.unwrapK(c, keys, offer.pu1, wrappedK, await acceptBinding(c, offer, sealedPu2, sessionId));
  if (!k || k.length !== 32) throw new Error('K does not unwrap');
  return { k, sid: sessionId, id: toB64u(sessionId), expires };
}

/** A request id: 8 bytes of time in ms, 16 random bytes. */
export function requestId(at = Date.now()): Uint8Array {
  return concat(u64(at), randomBytes(c, 16));
}

export interface SealOptions {
  method?: string;
  path: string;
  body?: Uint8Array;
  rs?: number;
  requestId?: Uint8Array;
  /** Bind the records to something else than the request sent (another path, method, request id). */
  bindTo?: Partial<Binding>;
  /** Seal under another K than the session's. */
  k?: Uint8Array;
}

export interface SealedRequest extends RawRequest {
  method: string;
  headers: Record<string, string | number>;
  /** What the request is bound to (the response's binding adds the direction and status). */
  binding: Binding;
  body?: Buffer;
}

/** A request as lb/client would send it: session headers, and the body (or lb-seal) sealed in records bound to it. */
export function seal(s: RawSession, o: SealOptions): SealedRequest {
  const method = o.method ?? (o.body ? 'POST' : 'GET');
  const rid = o.requestId ?? requestId();
  const binding: Binding = { direction: 'request', sessionId: s.sid, requestId: rid, method, path: o.path };
  const sealedTo: Binding = { ...binding, ...o.bindTo };
  const rs = o.rs ?? 65536;
  const k = o.k ?? s.k;
  const headers: Record<string, string | number> = { 'lb-session': s.id, 'lb-request': toB64u(rid) };
  if (o.body === undefined) {
    headers['lb-seal'] = toB64u(sealWhole(k, sealedTo, new Uint8Array(0), rs));
    return { method, path: o.path, headers, binding };
  }
  const body = sealWhole(k, sealedTo, o.body, rs);
  headers['content-length'] = body.length;
  return { method, path: o.path, headers, body, binding };
}

/** The header and records of a sealed body. */
export function splitRecords(sealed: Uint8Array): { header: Buffer; records: Buffer[] } {
  const bytes = Buffer.from(sealed);
  const rs = bytes.readUInt32BE(SALT_BYTES);
  const records: Buffer[] = [];
  for (let at = HEADER_BYTES; at < bytes.length; at += rs) records.push(bytes.subarray(at, Math.min(at + rs, bytes.length)));
  return { header: bytes.subarray(0, HEADER_BYTES), records };
}

/** A copy of `bytes` with one bit flipped. */
export function flipBit(bytes: Uint8Array, at: number): Buffer {
  const out = Buffer.from(bytes);
  out[at] ^= 0x01;
  return out;
}

/** Records crafted one by one (padding, empty records…) that a well-behaved sealer would not make. */
export function craftBody(k: Uint8Array, binding: Binding, rs: number, records: Array<{ data: Uint8Array; final: boolean; padding?: number }>): Buffer {
  const salt = randomBytes(c, SALT_BYTES);
  const keys = deriveNodeKeys(k, salt, binding.direction);
  const aad = bindingAad(binding);
  const sealed = records.map((r, seq) => {
    const plain = new Uint8Array(r.data.length + 1 + (r.padding ?? 0));
    plain.set(r.data);
    plain[r.data.length] = r.final ? FINAL_DELIMITER : DELIMITER;
    return sealRecord(keys, seq, plain, aad);
  });
  return Buffer.concat([encodeHeader(salt, rs), ...sealed]);
}

/** Opens a response of lb to `request` (its body, or its lb-seal when bodiless); throws when it does not authenticate. */
export function openResponse(s: RawSession, request: Pick<SealedRequest, 'binding'>, res: RawResponse): Buffer {
  const binding: Binding = { ...request.binding, direction: 'response', status: res.status };
  const seal = res.headers['lb-seal'];
  const sealed = typeof seal === 'string' ? fromB64u(seal, 1024) : res.body;
  if (!sealed) throw new Error('the response\'s lb-seal is not base64url');
  const opened = openPrefix(s.k, binding, sealed, 65536, true);
  if (!('data' in opened)) throw new Error(`the response does not open: ${opened.reason}`);
  return opened.data;
}

/** Deterministic bytes for bodies: byte i is a function of i, so any prefix can be checked. */
export function pattern(size: number, offset = 0): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) {
    const n = offset + i;
    out[i] = (n * 31 + (n >>> 8) * 7) & 0xff;
  }
  return out;
}

/** What one request brought to the backend. */
export interface Arrival {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  bytes: number;
  /** The body it received, kept when small (up to 1 MB), for comparisons. */
  body: Buffer[];
  /** The body ended as declared ('end'). */
  complete: boolean;
  /** The request closed before its body ended (lb aborted it). */
  aborted: boolean;
  closed: boolean;
}

/** A backend handler that records every arrival and answers, once the body ended, with its length and SHA-256. */
export function recorder(): { arrivals: Arrival[]; handler: Handler } {
  const arrivals: Arrival[] = [];
  const handler: Handler = (req, res) => {
    const a: Arrival = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes: 0, body: [], complete: false, aborted: false, closed: false };
    arrivals.push(a);
    const hash = createHash('sha256');
    req.on('data', (chunk: Buffer) => {
      a.bytes += chunk.length;
      hash.update(chunk);
      if (a.bytes <= 1 << 20) a.body.push(chunk);
    });
    req.on('end', () => {
      a.complete = true;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: a.method, url: a.url, bytes: a.bytes, sha256: hash.digest('hex') }));
    });
    req.on('close', () => {
      a.closed = true;
      a.aborted = !a.complete;
    });
  };
  return { arrivals, handler };
}

/** lb with the handshake in front of a recording backend, and a bystander session made with lb/client. */
export interface Stand {
  readonly lb: TestLb;
  readonly backend: TestBackend;
  readonly arrivals: Arrival[];
  readonly pin: string;
  readonly bystander: Session;
  close(): Promise<void>;
}

/** Handshake caps high enough that a test's own handshakes never meet them. */
export const ROOMY_LIMITS = { concurrent: 1000, perClientBurst: 100_000, perClientPerSecond: 100_000 };

export async function startStand(options: Record<string, unknown> = {}): Promise<Stand> {
  const identity = freshIdentity();
  const { arrivals, handler } = recorder();
  const backend = await startBackend('a', handler);
  const lb = await startLb(handshakeRc([backend.url], identity.file, { limits: ROOMY_LIMITS, ...options }));
  // lb/client seals with 65536-byte records unless told: match a lower maxRecordSize.
  const recordSize = typeof options.maxRecordSize === 'number' ? options.maxRecordSize : undefined;
  const bystander = await connect(lb.url, { pin: identity.pin, recordSize });
  return {
    lb, backend, arrivals, pin: identity.pin, bystander,
    close: async () => {
      await lb.close();
      await backend.close();
    },
  };
}

/** Another session's request goes through, and reaches the backend whole: the proxy keeps serving. */
export async function expectStillServing(stand: Stand): Promise<void> {
  const before = stand.arrivals.length;
  const res = await stand.bystander.fetch('/after', { method: 'POST', body: 'still serving' });
  expect(res.status).to.equal(200);
  expect(JSON.parse(await res.text())).to.deep.include({ url: '/after', bytes: 13 });
  expect(stand.arrivals.length).to.equal(before + 1);
}

export interface Refusal {
  status: number;
  code: string;
  /** The whole message lb logs (and sends in the JSON body of encrypted requests). */
  message?: string | RegExp;
}

/**
 * Runs `attempt` and checks lb refused it: the status, the lb-error header, exactly one
 * log line naming the code (with the whole message), nothing at the backend; then that
 * another session's request still works.
 */
export async function expectRefused(stand: Stand, attempt: () => Promise<RawResponse>, r: Refusal): Promise<RawResponse> {
  const mark = stand.lb.log.lines.length;
  const arrived = stand.arrivals.length;
  const res = await attempt();
  expect(res.status, res.body.toString()).to.equal(r.status);
  expect(res.headers['lb-error']).to.equal(r.code);
  // Encrypted requests get lb's errors as JSON, so a client tells them from the backend's data.
  if (String(res.headers['content-type']).startsWith('application/json')) {
    const { error } = JSON.parse(res.body.toString()) as { error: { code: string; status: number; message: string } };
    expect(error).to.deep.include({ code: r.code, status: r.status });
    if (typeof r.message === 'string') expect(error.message).to.equal(r.message);
  }
  const lines = stand.lb.log.lines.slice(mark).filter((line) => line.includes(r.code));
  expect(lines, stand.lb.log.lines.slice(mark).join('\n')).to.have.length(1);
  if (typeof r.message === 'string') expect(lines[0]).to.contain(`[lb] ${r.message} code=${r.code} `);
  else if (r.message) expect(lines[0]).to.match(r.message);
  expect(stand.arrivals.length, 'requests that reached the backend').to.equal(arrived);
  await expectStillServing(stand);
  return res;
}
