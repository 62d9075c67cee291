/**
 * lb's client SDK (`lb/client`): the handshake, then `session.fetch` that encrypts
 * request bodies and decrypts responses as streams. Runs in Node 20 and in browsers
 * (WebCrypto and fetch only); the package also ships it as one browser ES module.
 *
 *   const session = await connect('https://api.example', { pin: 'SHA256:…' });
 *   const res = await session.fetch('/orders', { method: 'POST', body: JSON.stringify(order) });
 */
import { concat, fromB64u, toB64u, u64 } from '../protocol/bytes.js';
import { acceptBinding, answerAad, encodeAnswer, parseAccept, parseOffer, type Offer } from '../protocol/messages.js';
import { defaultCrypto, fingerprint, importIdentityPublic, randomBytes, verify, type CryptoLike } from '../protocol/primitives.js';
import { DEFAULT_RECORD_SIZE, type Binding } from '../protocol/records.js';
import { suiteOf, type ClientKeys, type SuiteId } from '../protocol/suites.js';
import { offerSignedBytes } from '../protocol/messages.js';
import { RecordError, openMessage, openStream, sealMessage, sealStream } from '../protocol/web-records.js';
import { CLIENT_CODES, LbClientError, errorOf } from './errors.js';

export { LbClientError, CLIENT_CODES } from './errors.js';
export { RecordError } from '../protocol/web-records.js';
export type { ClientKeys, SuiteId } from '../protocol/suites.js';
export type { CryptoLike } from '../protocol/primitives.js';

const HANDSHAKE_PATH = '/.lb/handshake';
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

export interface ConnectOptions {
  /** The proxy's identity fingerprint (`SHA256:…`, from `lb keys fingerprint`): offers not signed by it are refused. */
  pin: string;
  /** WebCrypto to use; default `globalThis.crypto`. `new (await import('@peculiar/webcrypto')).Crypto()` works too. */
  crypto?: CryptoLike;
  /** fetch to use; default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Keys made ahead of time with `prepare()` (while a page loads, say); used once. */
  keys?: ClientKeys | Promise<ClientKeys>;
  /** Codings the client decodes inside the encryption (DecompressionStream): default "gzip, deflate". "" for none. */
  acceptEncoding?: string;
  /** Record size of the bodies the client sends. Default 65536. */
  recordSize?: number;
  /**
   * Stream request bodies given as ReadableStream. Default: true in Node; false in
   * browsers, which stream uploads over HTTP/2 only, so the SDK reads such a body
   * whole first.
   */
  streamUploads?: boolean;
  /** Renegotiate this long before the session's expiry. Default 5 s. */
  renewBeforeMs?: number;
  /** When lb answers the handshake with 503 or 429 and a Retry-After of at most this, wait and try once more. Default 5 s; 0 never waits. */
  maxRetryWaitSeconds?: number;
}

/** Makes the client's key pair(s) for one handshake ahead of time. */
export function prepare(suite: SuiteId = 'rsa-oaep-2048', crypto: CryptoLike = defaultCrypto()): Promise<ClientKeys> {
  return suiteOf(suite)!.generateClientKeys(crypto);
}

/** Runs the handshake with the proxy at `baseUrl` and resolves the session. */
export async function connect(baseUrl: string | URL, options: ConnectOptions): Promise<Session> {
  const session = new Session(new URL(baseUrl), options);
  await session.renew(options.keys);
  return session;
}

function isNode(): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
}

type Body = RequestInit['body'];

/** An encrypted session with one proxy (or with any proxy sharing its keystore). */
export class Session {
  private readonly base: URL;
  private readonly o: ConnectOptions;
  private readonly c: CryptoLike;
  private readonly f: typeof fetch;
  private k: Uint8Array = new Uint8Array(0);
  private sid: Uint8Array = new Uint8Array(0);
  private renewing: Promise<void> | undefined;
  private maxRecordSize = DEFAULT_RECORD_SIZE;
  /** The session id lb chose (base64url), and when the session expires (ms since the epoch). */
  id = '';
  expires = 0;

  constructor(base: URL, options: ConnectOptions) {
    this.base = base;
    this.o = options;
    this.c = options.crypto ?? defaultCrypto();
    this.f = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Makes a new handshake (also done by itself on expiry or when lb no longer knows the session). */
  renew(keys?: ClientKeys | Promise<ClientKeys>): Promise<void> {
    this.renewing ??= this.handshake(keys).finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private async handshake(prepared?: ClientKeys | Promise<ClientKeys>): Promise<void> {
    const c = this.c;
    const url = new URL(HANDSHAKE_PATH, this.base);
    const getOffer = () => this.f(url, { method: 'GET', cache: 'no-store', headers: { accept: 'application/json' } });
    let first = await getOffer();
    if (first.headers.get('lb-error')) {
      const error = await errorOf(first);
      // A busy proxy (503, 429) says when to come back: wait once if that is soon.
      const wait = error.retryAfter ?? 0;
      if ((error.status !== 503 && error.status !== 429) || wait > (this.o.maxRetryWaitSeconds ?? 5)) throw error;
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      first = await getOffer();
      if (first.headers.get('lb-error')) throw await errorOf(first);
    }
    if (!first.ok) throw new LbClientError(CLIENT_CODES.BAD_MESSAGE, `the handshake offer came back ${first.status}`);
    const parsed = parseOffer(await first.text());
    if (!parsed.ok) throw new LbClientError(CLIENT_CODES.BAD_MESSAGE, `the handshake offer is malformed: ${parsed.reason}`);
    const offer = parsed.value;
    await checkOffer(c, offer, this.o.pin);
    let keys = prepared ? await prepared : undefined;
    if (!keys || keys.suite !== offer.suite.id) keys = await offer.suite.generateClientKeys(c);
    const sealedPu2 = await offer.suite.sealPu2(c, offer.pu1, keys, await answerAad(c, offer));
    const second = await this.f(url, { method: 'POST', cache: 'no-store', headers: { 'content-type': 'application/json' }, body: encodeAnswer({ offerId: offer.offerId, sealedPu2 }) });
    if (second.headers.get('lb-error')) throw await errorOf(second);
    const accepted = parseAccept(await second.text());
    if (!accepted.ok) throw new LbClientError(CLIENT_CODES.BAD_MESSAGE, `the handshake answer is malformed: ${accepted.reason}`);
    const { sessionId, wrappedK, expires, maxRecordSize } = accepted.value;
    const k = await offer.suite.unwrapK(c, keys, offer.pu1, wrappedK, await acceptBinding(c, offer, sealedPu2, sessionId));
    if (!k || k.length !== 32) throw new LbClientError(CLIENT_CODES.HANDSHAKE_FAILED, 'K does not unwrap under PU2: the answer is not for this handshake');
    this.k = k;
    this.sid = sessionId;
    this.id = toB64u(sessionId);
    this.expires = expires;
    this.maxRecordSize = maxRecordSize ?? DEFAULT_RECORD_SIZE;
  }

  /**
   * fetch through the session: the body is encrypted, the response decrypted (its
   * body streams). lb's own errors reject with LbClientError; a body that fails to
   * authenticate errors its stream with RecordError.
   */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    if (Date.now() > this.expires - (this.o.renewBeforeMs ?? 5000)) await this.renew();
    const url = new URL(path, this.base);
    const method = (init.method ?? 'GET').toUpperCase();
    const body = await this.plainBody(init.body);
    const attempt = async () => {
      const { res, binding } = await this.send(url, method, init, body);
      return { res, binding };
    };
    let { res, binding } = await attempt();
    // lb's error responses are not authenticated: renegotiate and resend by itself only where sending twice is harmless.
    if (res.headers.get('lb-error') === 'LB_ERR_SESSION_UNKNOWN' && IDEMPOTENT.has(method) && !(body instanceof ReadableStream)) {
      await res.body?.cancel();
      await this.renew();
      ({ res, binding } = await attempt());
    }
    if (res.headers.get('lb-error') === 'LB_ERR_SESSION_UNKNOWN') this.expires = 0; // the next fetch renegotiates first
    if (res.headers.get('lb-error')) throw await errorOf(res);
    if (res.type === 'opaqueredirect') throw new LbClientError(CLIENT_CODES.REDIRECT, `${method} ${path} answered with a redirect, which browsers hide from scripts; lb/client does not follow redirects (each request is sealed for its own path)`);
    return this.decrypt(res, { ...binding, direction: 'response', status: res.status });
  }

  /** Closes the session on the proxy (every proxy sharing the keystore refuses it after). */
  async close(): Promise<void> {
    const url = new URL(HANDSHAKE_PATH, this.base);
    const { res } = await this.send(url, 'DELETE', {}, undefined);
    if (res.headers.get('lb-error')) throw await errorOf(res);
    await res.body?.cancel();
    this.expires = 0;
  }

  private async plainBody(body: Body | undefined): Promise<Uint8Array | ReadableStream<Uint8Array> | undefined> {
    if (body === undefined || body === null) return undefined;
    if (typeof body === 'string') return new TextEncoder().encode(body);
    if (body instanceof Uint8Array) return body;
    if (body instanceof ArrayBuffer) return new Uint8Array(body);
    if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    if (typeof Blob !== 'undefined' && body instanceof Blob) return new Uint8Array(await body.arrayBuffer());
    if (body instanceof URLSearchParams) return new TextEncoder().encode(body.toString());
    if (body instanceof ReadableStream) {
      if (this.o.streamUploads ?? isNode()) return body as ReadableStream<Uint8Array>;
      return new Uint8Array(await new Response(body).arrayBuffer());
    }
    throw new TypeError('session.fetch bodies are strings, bytes, Blobs, URLSearchParams or ReadableStreams (FormData is not supported)');
  }

  private async send(url: URL, method: string, init: RequestInit, body: Uint8Array | ReadableStream<Uint8Array> | undefined) {
    const requestId = concat(u64(Date.now()), randomBytes(this.c, 16));
    const path = url.pathname + url.search;
    const binding: Binding = { direction: 'request', sessionId: this.sid, requestId, method, path };
    const headers = new Headers(init.headers);
    headers.set('lb-session', this.id);
    headers.set('lb-request', toB64u(requestId));
    headers.set('lb-accept-encoding', this.o.acceptEncoding ?? 'gzip, deflate');
    headers.delete('content-length');
    if (init.body instanceof URLSearchParams && !headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
    const rs = Math.min(this.o.recordSize ?? DEFAULT_RECORD_SIZE, this.maxRecordSize);
    let sent: BodyInit | undefined;
    const extra: Record<string, unknown> = {};
    if (body === undefined || (body instanceof Uint8Array && body.length === 0)) {
      headers.set('lb-seal', toB64u(await sealMessage(this.c, this.k, binding, new Uint8Array(0), rs)));
    } else if (body instanceof Uint8Array) {
      sent = (await sealMessage(this.c, this.k, binding, body, rs)) as Uint8Array<ArrayBuffer>;
    } else {
      sent = body.pipeThrough(sealStream(this.c, this.k, binding, rs));
      extra.duplex = 'half';
    }
    // Redirects are returned, not followed: a request is sealed for its own path, and its session headers must not go elsewhere.
    const res = await this.f(url, { ...init, ...extra, method, headers, body: sent, cache: 'no-store', redirect: 'manual' } as RequestInit);
    return { res, binding };
  }

  private async decrypt(res: Response, binding: Binding): Promise<Response> {
    const headers = new Headers(res.headers);
    for (const h of ['lb-seal', 'content-length', 'lb-content-encoding', 'content-encoding']) headers.delete(h);
    const bodiless = binding.method === 'HEAD' || res.status === 204 || res.status === 304;
    if (bodiless) {
      const seal = res.headers.get('lb-seal');
      const sealed = seal === null ? undefined : fromB64u(seal, 1024);
      if (!sealed) throw new LbClientError(CLIENT_CODES.BAD_RESPONSE, `a ${res.status} response to ${binding.method} has no valid lb-seal header: it is not from lb`);
      try {
        await openMessage(this.c, this.k, binding, sealed);
      } catch (e) {
        throw new LbClientError(CLIENT_CODES.BAD_RESPONSE, `the response's lb-seal does not authenticate: ${(e as Error).message}`);
      }
      await res.body?.cancel();
      return new Response(null, { status: res.status, statusText: res.statusText, headers });
    }
    if (!res.body) throw new LbClientError(CLIENT_CODES.BAD_RESPONSE, 'the response has no body to decrypt');
    let plain: ReadableStream<Uint8Array> = res.body.pipeThrough(openStream(this.c, this.k, binding));
    const coding = res.headers.get('lb-content-encoding')?.trim().toLowerCase();
    if (coding && coding !== 'identity') {
      if (coding !== 'gzip' && coding !== 'deflate') throw new LbClientError(CLIENT_CODES.BAD_RESPONSE, `the response is ${coding}-encoded, which this client did not ask for`);
      plain = plain.pipeThrough(new DecompressionStream(coding) as unknown as TransformStream<Uint8Array, Uint8Array>);
    }
    return new Response(plain, { status: res.status, statusText: res.statusText, headers });
  }
}

/** Refuses an offer not signed by the pinned identity, or expired. */
async function checkOffer(c: CryptoLike, offer: Offer, pin: string): Promise<void> {
  const got = await fingerprint(c, offer.identity);
  if (got !== pin) throw new LbClientError(CLIENT_CODES.PIN_MISMATCH, `the proxy's identity is ${got}, not the pinned ${pin}: refusing (a man in the middle, or a new identity key)`);
  let key: CryptoKey;
  try {
    key = await importIdentityPublic(c, offer.identity);
  } catch {
    throw new LbClientError(CLIENT_CODES.BAD_SIGNATURE, 'the offer\'s identity is not an ECDSA P-256 public key');
  }
  if (!(await verify(c, key, offer.signature, offerSignedBytes(offer.suite.id, offer.offerId, offer.expires, offer.pu1)))) {
    throw new LbClientError(CLIENT_CODES.BAD_SIGNATURE, 'PU1 is not signed by the pinned identity: refusing (PU1 was swapped in transit)');
  }
  if (offer.expires <= Date.now()) throw new LbClientError(CLIENT_CODES.OFFER_EXPIRED, 'the offer has expired (check the clocks)');
}

