import type { Keystore } from '../../core/index.js';

interface Entry {
  value: Uint8Array | undefined;
  expiresAt: number;
}

/**
 * The keystore in this process's memory: a Map in insertion order, so the oldest
 * entry is the first one, with expiry checked on every read and swept on a timer.
 * Values are copied in and out, so no caller can change what another reads.
 */
export class MemoryStore implements Keystore {
  private readonly entries = new Map<string, Entry>();
  private readonly timer: NodeJS.Timeout;

  constructor(private maxEntries: number, sweepIntervalMs: number, private readonly now: () => number = Date.now) {
    this.timer = setInterval(() => this.sweep(), sweepIntervalMs);
    this.timer.unref();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Applies options from a reload. */
  configure(maxEntries: number): void {
    this.maxEntries = maxEntries;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const e = this.live(key);
    return e?.value && new Uint8Array(e.value);
  }

  async put(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    this.set(key, new Uint8Array(value), ttlMs);
  }

  async delete(key: string): Promise<boolean> {
    const had = this.live(key) !== undefined;
    this.entries.delete(key);
    return had;
  }

  async rememberSeen(key: string, ttlMs: number): Promise<boolean> {
    if (this.live(key)) return false;
    this.set(key, undefined, ttlMs);
    return true;
  }

  /** Removes every expired entry. */
  sweep(): void {
    const now = this.now();
    for (const [key, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(key);
  }

  close(): void {
    clearInterval(this.timer);
    this.entries.clear();
  }

  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && e.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  private set(key: string, value: Uint8Array | undefined, ttlMs: number): void {
    if (!(ttlMs > 0)) throw new RangeError(`ttlMs must be positive; got ${ttlMs}`);
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
    if (this.entries.size > this.maxEntries) {
      this.sweep();
      for (const oldest of this.entries.keys()) {
        if (this.entries.size <= this.maxEntries) break;
        this.entries.delete(oldest);
      }
    }
  }
}
