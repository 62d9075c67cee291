/**
 * Where PU1 comes from, never generated on the request path: a pool of pairs made
 * ahead of time (WebCrypto generates in the libuv thread pool, off the event loop)
 * and refilled in the background, each used once; or one rotating pair shared by
 * the handshakes of a period, with the next made before it is needed.
 */
import { randomBytes, sign, type CryptoLike } from './protocol/primitives.js';
import { OFFER_ID_BYTES, encodeOffer, offerSignedBytes, type Offer } from './protocol/messages.js';
import type { Suite, SuitePair } from './protocol/suites.js';
import { toB64u } from './protocol/bytes.js';

/** An offer lb made, with its private key, until it is used or expires. */
export interface OpenOffer {
  readonly offer: Offer;
  readonly json: string;
  readonly privateKey: CryptoKey;
  /** Used once (pool) or until it expires (rotating). */
  readonly single: boolean;
}

export interface Pu1SourceOptions {
  readonly crypto: CryptoLike;
  readonly suite: Suite;
  /** `signSync`: the same ECDSA signature (r || s) with node:crypto, where it can be used (a few tens of µs). */
  readonly identity: { readonly spki: Uint8Array; readonly key: CryptoKey; readonly signSync?: (data: Uint8Array) => Uint8Array };
  readonly mode: 'pool' | 'rotating';
  readonly poolSize: number;
  readonly refillConcurrency: number;
  readonly rotateMs: number;
  readonly offerTtlMs: number;
  readonly onError: (error: Error) => void;
}

async function makeOffer(o: Pu1SourceOptions, pair: SuitePair, expires: number, single: boolean): Promise<OpenOffer> {
  const offerId = randomBytes(o.crypto, OFFER_ID_BYTES);
  const signed = offerSignedBytes(o.suite.id, offerId, expires, pair.publicBytes);
  const signature = o.identity.signSync ? o.identity.signSync(signed) : await sign(o.crypto, o.identity.key, signed);
  const offer: Offer = { suite: o.suite, offerId, pu1: pair.publicBytes, expires, identity: o.identity.spki, signature };
  return { offer, json: encodeOffer(offer), privateKey: pair.privateKey, single };
}

export class Pu1Source {
  private o: Pu1SourceOptions;
  private readonly pool: SuitePair[] = [];
  private generating = 0;
  private readonly open = new Map<string, { entry: OpenOffer; expiresAt: number }>();
  private current: OpenOffer | undefined;
  private nextReady: OpenOffer | undefined;
  private readonly waiters: Array<(pair: SuitePair | undefined) => void> = [];
  private making = false;
  private rotateAt = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private stopped = false;
  private started = false;
  /** Pairs generated per second, measured: for Retry-After and the log. */
  private genMs = 100;

  constructor(options: Pu1SourceOptions) {
    this.o = options;
  }

  /**
   * The options of a reloaded generation (same suite, mode and identity: those key the
   * kept source). A larger pool starts filling at once; offers already made stand.
   */
  configure(options: Pu1SourceOptions): void {
    this.o = options;
    if (this.started) this.refill();
  }

  /** Fills the first key (pool) or the first rotation; resolves once one handshake can be offered. */
  async start(): Promise<void> {
    this.stopped = false;
    this.started = true;
    // Kept across reloads: every generation starts it again.
    clearInterval(this.sweeper);
    this.sweeper = setInterval(() => this.sweep(), Math.min(this.o.offerTtlMs, 10_000));
    this.sweeper.unref();
    if (this.o.mode === 'rotating') {
      if (!this.current) {
        this.nextReady = await this.makeRotating();
        this.rotate();
      }
      return;
    }
    if (this.pool.length === 0 && this.generating === 0) this.pool.push(await this.generate());
    this.refill();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.sweeper);
  }

  /** Whether one PU1 serves many handshakes. */
  get rotating(): boolean {
    return this.o.mode === 'rotating';
  }

  /** Pairs ready in the pool. */
  get ready(): number {
    return this.pool.length;
  }

  /** Pairs per second the background refill makes, as measured. */
  get refillRate(): number {
    return (1000 / this.genMs) * this.o.refillConcurrency;
  }

  /** An offer for one handshake, or undefined when the pool is empty. */
  async offer(): Promise<OpenOffer | undefined> {
    if (this.o.mode === 'rotating') {
      if (Date.now() >= this.rotateAt) this.rotate();
      return this.current;
    }
    const pair = this.pool.pop() ?? (await this.awaitPair());
    this.refill();
    if (!pair) return undefined;
    const entry = await makeOffer(this.o, pair, Date.now() + this.o.offerTtlMs, true);
    this.open.set(toB64u(entry.offer.offerId), { entry, expiresAt: entry.offer.expires });
    return entry;
  }

  /** The open offer with this id, taken out when it is single-use; undefined when unknown or expired. */
  take(offerId: string): OpenOffer | undefined {
    const found = this.open.get(offerId);
    if (!found) return undefined;
    if (found.entry.single) this.open.delete(offerId);
    return found.expiresAt > Date.now() ? found.entry : undefined;
  }

  /**
   * With the pool empty, waits (up to a second) for a pair already being made, one
   * waiter per pair in the making; others are refused at once (503, Retry-After).
   */
  private awaitPair(): Promise<SuitePair | undefined> {
    if (this.generating === 0 || this.waiters.length >= this.generating) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter = (pair: SuitePair | undefined) => {
        clearTimeout(timer);
        resolve(pair);
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        resolve(undefined);
      }, 1000);
      this.waiters.push(waiter);
    });
  }

  private async generate(): Promise<SuitePair> {
    const t0 = performance.now();
    const pair = await this.o.suite.generatePair(this.o.crypto);
    this.genMs = 0.8 * this.genMs + 0.2 * (performance.now() - t0);
    return pair;
  }

  private refill(): void {
    while (!this.stopped && this.o.mode === 'pool' && this.pool.length + this.generating < this.o.poolSize && this.generating < this.o.refillConcurrency) {
      this.generating++;
      this.generate().then(
        (pair) => {
          this.generating--;
          const waiter = this.waiters.shift();
          if (waiter) waiter(pair);
          else if (!this.stopped) this.pool.push(pair);
          this.refill();
        },
        (e: Error) => {
          this.generating--;
          this.o.onError(e);
        },
      );
    }
  }

  /**
   * Swaps in the next rotating offer once it is ready (it is made in the background
   * during the period before; until then the current one keeps serving, its expiry
   * allowing for that) and starts making the one after.
   */
  private rotate(): void {
    const ready = this.nextReady;
    if (!ready) return;
    this.nextReady = undefined;
    this.current = ready;
    this.rotateAt = Date.now() + this.o.rotateMs;
    this.open.set(toB64u(ready.offer.offerId), { entry: ready, expiresAt: ready.offer.expires });
    this.prepareNext();
  }

  private prepareNext(): void {
    if (this.stopped || this.making) return;
    this.making = true;
    this.makeRotating().then(
      (entry) => {
        this.making = false;
        this.nextReady = entry;
      },
      (e: Error) => {
        this.making = false;
        this.o.onError(e);
      },
    );
  }

  private async makeRotating(): Promise<OpenOffer> {
    const pair = await this.generate();
    // Made a period ahead, served for a period (longer if its successor is late), then answerable for offerTtlMs.
    return makeOffer(this.o, pair, Date.now() + this.o.rotateMs * 3 + this.o.offerTtlMs, false);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, { expiresAt }] of this.open) if (expiresAt <= now) this.open.delete(id);
  }

  /** Drops every pair and offer (the plugin is gone from every generation). */
  close(): void {
    this.stop();
    this.pool.length = 0;
    this.open.clear();
    this.current = undefined;
    this.nextReady = undefined;
  }
}
