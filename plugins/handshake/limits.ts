/**
 * Handshake caps: a bound on handshake steps computed at once, and a token bucket
 * per client address, with the seconds to wait for Retry-After.
 */
export class HandshakeLimits {
  private active = 0;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private concurrent: number;
  private burst: number;
  private perSecond: number;
  /** Client addresses tracked at most; the oldest are forgotten beyond it (they start full again). */
  private readonly maxClients: number;

  constructor(concurrent: number, burst: number, perSecond: number, maxClients = 100_000) {
    this.concurrent = concurrent;
    this.burst = burst;
    this.perSecond = perSecond;
    this.maxClients = maxClients;
  }

  /** New caps on reload; the buckets and the count in progress carry over. */
  configure(concurrent: number, burst: number, perSecond: number): void {
    this.concurrent = concurrent;
    this.burst = burst;
    this.perSecond = perSecond;
  }

  get inProgress(): number {
    return this.active;
  }

  /** Takes one of the client's tokens: 0 when allowed, else the seconds until one is back. */
  takeToken(client: string, now = performance.now()): number {
    let b = this.buckets.get(client);
    if (b) {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
      b.at = now;
      // Refresh its place in insertion order, so eviction drops the least recently seen.
      this.buckets.delete(client);
      this.buckets.set(client, b);
    } else {
      if (this.buckets.size >= this.maxClients) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: this.burst, at: now };
      this.buckets.set(client, b);
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / this.perSecond;
  }

  /** Enters a handshake step: false when `concurrent` are already in progress. */
  enter(): boolean {
    if (this.active >= this.concurrent) return false;
    this.active++;
    return true;
  }

  leave(): void {
    this.active--;
  }
}
