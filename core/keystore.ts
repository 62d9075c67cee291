import { serviceKey } from './services.js';

/**
 * Shared state with expiry, as the handshake needs it: session keys by id, and the
 * ids of requests already seen (replay windows). Values are opaque bytes; every entry
 * has a time to live. Provided by a plugin (`memory-keystore` by default, Redis for
 * several proxies) through the `keystore` service; the same interface either way.
 */
export interface Keystore {
  /** The value under `key`, or undefined when there is none or it expired. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Stores `value` under `key` for `ttlMs`, replacing what was there. */
  put(key: string, value: Uint8Array, ttlMs: number): Promise<void>;
  /** Removes `key`; resolves whether it was there. */
  delete(key: string): Promise<boolean>;
  /**
   * Records `key` as seen for `ttlMs`, atomically: resolves true the first time,
   * false when it was already seen within its window (a replay).
   */
  rememberSeen(key: string, ttlMs: number): Promise<boolean>;
}

/** The service key of the keystore: `pipeline.services.get(KEYSTORE)`. */
export const KEYSTORE = serviceKey<Keystore>('keystore');
