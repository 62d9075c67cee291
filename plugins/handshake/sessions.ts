/**
 * Sessions in the keystore: K and its expiry under the session id the server chose,
 * and the request ids seen within the replay window. Values are opaque bytes to the
 * keystore; a Redis keystore seals them again at rest.
 */
import type { Keystore } from '../../core/index.js';
import { concat, readU64, u64, u8 } from './protocol/bytes.js';
import { KEY_BYTES } from './protocol/messages.js';
import { SUITES, type SuiteId } from './protocol/suites.js';

const RECORD_VERSION = 1;
const RECORD_BYTES = 1 + 1 + 8 + 8 + KEY_BYTES;

export interface SessionRecord {
  readonly suite: SuiteId;
  readonly created: number;
  readonly expires: number;
  readonly k: Uint8Array;
}

export const sessionKey = (sid: string) => `hs:s:${sid}`;
export const seenKey = (sid: string, rid: string) => `hs:r:${sid}:${rid}`;

export function encodeSession(r: SessionRecord): Uint8Array {
  return concat(u8(RECORD_VERSION), u8(SUITES.indexOf(r.suite)), u64(r.created), u64(r.expires), r.k);
}

export function decodeSession(bytes: Uint8Array | undefined, now = Date.now()): SessionRecord | undefined {
  if (!bytes || bytes.length !== RECORD_BYTES || bytes[0] !== RECORD_VERSION) return undefined;
  const suite = SUITES[bytes[1]];
  const expires = readU64(bytes, 10);
  if (!suite || expires <= now) return undefined;
  return { suite, created: readU64(bytes, 2), expires, k: bytes.slice(18, 18 + KEY_BYTES) };
}

export class Sessions {
  constructor(private readonly store: Keystore) {}

  async create(sid: string, record: SessionRecord): Promise<void> {
    await this.store.put(sessionKey(sid), encodeSession(record), record.expires - Date.now());
  }

  async get(sid: string): Promise<SessionRecord | undefined> {
    return decodeSession(await this.store.get(sessionKey(sid)));
  }

  close(sid: string): Promise<boolean> {
    return this.store.delete(sessionKey(sid));
  }

  /** True the first time a request id is seen in the session, false for a replay. */
  firstSeen(sid: string, rid: string, ttlMs: number): Promise<boolean> {
    return this.store.rememberSeen(seenKey(sid, rid), ttlMs);
  }
}
