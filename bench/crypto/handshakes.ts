// The client side of part 1: one handshake per call for every contender, a protocol-level
// handshake (what the SDK does, step by step) for the original way and the lean load client,
// and the sequential and closed-loop runners.
import tls from 'node:tls';
import { connect, prepare, LbClientError, type ClientKeys } from '../../plugins/handshake/client/index.js';
import { acceptBinding, answerAad, encodeAnswer, offerSignedBytes, parseAccept, parseOffer } from '../../plugins/handshake/protocol/messages.js';
import { fingerprint, importIdentityPublic, verify } from '../../plugins/handshake/protocol/primitives.js';
import type { SuiteId } from '../../plugins/handshake/protocol/suites.js';
import type { Server } from './servers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One handshake; resolves when the client holds the session key. */
export type Handshake = () => Promise<void>;

/** What a protocol-level handshake gives the client. */
export interface SessionKeys {
  readonly k: Uint8Array;
  readonly sessionId: Uint8Array;
  /** base64url session id, for the lb-session header. */
  readonly id: string;
}

/**
 * The handshake's three steps over fetch with the protocol module, as the SDK runs them:
 * GET the signed offer, check the pin and signature, seal PU2 (from `keys`, else made now),
 * POST it, unwrap K.
 */
export async function protocolHandshake(url: string, pin: string, keys?: ClientKeys): Promise<SessionKeys> {
  const c = globalThis.crypto;
  const first = await fetch(url, { headers: { accept: 'application/json' } });
  const offerText = await first.text();
  if (!first.ok) throw new Error(`GET ${url}: ${first.status} ${first.headers.get('lb-error') ?? ''} ${offerText.slice(0, 200)}`);
  const parsed = parseOffer(offerText);
  if (!parsed.ok) throw new Error(`malformed offer: ${parsed.reason}`);
  const offer = parsed.value;
  if ((await fingerprint(c, offer.identity)) !== pin) throw new Error('the offer is not from the pinned identity');
  const identity = await importIdentityPublic(c, offer.identity);
  if (!(await verify(c, identity, offer.signature, offerSignedBytes(offer.suite.id, offer.offerId, offer.expires, offer.pu1)))) throw new Error('bad offer signature');
  const own = keys && keys.suite === offer.suite.id ? keys : await offer.suite.generateClientKeys(c);
  const sealedPu2 = await offer.suite.sealPu2(c, offer.pu1, own, await answerAad(c, offer));
  const second = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: encodeAnswer({ offerId: offer.offerId, sealedPu2 }) });
  const acceptText = await second.text();
  if (!second.ok) throw new Error(`POST ${url}: ${second.status} ${second.headers.get('lb-error') ?? ''} ${acceptText.slice(0, 200)}`);
  const accepted = parseAccept(acceptText);
  if (!accepted.ok) throw new Error(`malformed accept: ${accepted.reason}`);
  const { sessionId, wrappedK } = accepted.value;
  const k = await offer.suite.unwrapK(c, own, offer.pu1, wrappedK, await acceptBinding(c, offer, sealedPu2, sessionId));
  if (!k || k.length !== 32) throw new Error('K does not unwrap');
  return { k, sessionId, id: Buffer.from(sessionId).toString('base64url') };
}

/** `count` client key sets made ahead of time with the SDK's prepare(), used in turn. */
export async function preparedKeys(suite: SuiteId, count: number): Promise<ClientKeys[]> {
  return Promise.all(Array.from({ length: count }, () => prepare(suite)));
}

/** lb's handshake through the SDK: connect() with keys made ahead of time. */
export function sdkHandshake(s: Server, keys: readonly ClientKeys[]): Handshake {
  let i = 0;
  return async () => {
    await connect(s.base, { pin: s.pin!, keys: keys[i++ % keys.length] });
  };
}

/** The original way: the server makes PU1/PR1 on GET, the client makes PU2/PR2 after the offer. */
export function originalHandshake(s: Server): Handshake {
  return async () => {
    await protocolHandshake(`${s.base}/handshake`, s.pin!);
  };
}

/** A full TLS 1.3 handshake on a new connection, no session resumption, the certificate verified. */
export function tlsHandshake(s: Server): Handshake {
  return () => new Promise<void>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: s.port, ca: s.certPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    socket.once('secureConnect', () => {
      resolve();
      socket.end();
    });
    socket.once('error', reject);
    socket.on('error', () => undefined);
  });
}

/** `n` handshakes one after another; their latencies, ms. */
export async function sequential(h: Handshake, n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await h();
    ms.push(performance.now() - t0);
  }
  return ms;
}

export interface LoopResult {
  completed: number;
  /** Refused because the PU1 pool was empty (503 LB_ERR_HANDSHAKE_POOL_EMPTY); retried after 20 ms. */
  poolEmpty: number;
  errors: number;
  firstError?: string;
  wallMs: number;
  latencies: number[];
}

/** `concurrency` clients, each starting its next handshake as soon as one ends, for `durationMs`. */
export async function closedLoop(h: Handshake, concurrency: number, durationMs: number): Promise<LoopResult> {
  const r: LoopResult = { completed: 0, poolEmpty: 0, errors: 0, wallMs: 0, latencies: [] };
  const t0 = performance.now();
  const end = t0 + durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      const start = performance.now();
      try {
        await h();
        r.completed++;
        r.latencies.push(performance.now() - start);
      } catch (e) {
        if (e instanceof LbClientError && e.code === 'LB_ERR_HANDSHAKE_POOL_EMPTY') {
          r.poolEmpty++;
          await sleep(20);
        } else {
          r.errors++;
          r.firstError ??= (e as Error).message;
          await sleep(5);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  r.wallMs = performance.now() - t0;
  return r;
}
