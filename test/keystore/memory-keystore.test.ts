import { expect } from 'chai';
import { KEYSTORE, resolveConfig } from '../../core/index.js';
import { MemoryStore } from '../../plugins/memory-keystore/index.js';
import { builtinPlugins } from '../../plugins/index.js';
import { builtinPresets } from '../../presets/index.js';
import { keystores } from '../fixtures/plugins/service-keystore-user.js';
import { request, serversPerTest } from '../support/servers.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

/** A store on a clock the test moves; its sweep timer is far off unless asked for. */
function storeAt(options: { maxEntries?: number; sweepIntervalMs?: number } = {}) {
  const clock = { now: 1_000_000 };
  const store = new MemoryStore(options.maxEntries ?? 100, options.sweepIntervalMs ?? 3_600_000, () => clock.now);
  return { store, clock };
}

describe('the memory keystore', () => {
  const open: MemoryStore[] = [];
  const make = (options?: Parameters<typeof storeAt>[0]) => {
    const made = storeAt(options);
    open.push(made.store);
    return made;
  };
  afterEach(() => { while (open.length) open.pop()!.close(); });

  it('stores, replaces and deletes values, and hands out copies', async () => {
    const { store } = make();
    expect(await store.get('k')).to.equal(undefined);
    const value = bytes('one');
    await store.put('k', value, 1000);
    value[0] = 0;
    expect(text(await store.get('k'))).to.equal('one');
    (await store.get('k'))![0] = 0;
    expect(text(await store.get('k'))).to.equal('one');
    await store.put('k', bytes('two'), 1000);
    expect(text(await store.get('k'))).to.equal('two');
    expect(await store.delete('k')).to.equal(true);
    expect(await store.delete('k')).to.equal(false);
    expect(await store.get('k')).to.equal(undefined);
  });

  it('forgets a value once its time to live is over, and a replacement starts a new one', async () => {
    const { store, clock } = make();
    await store.put('k', bytes('v'), 1000);
    clock.now += 999;
    expect(text(await store.get('k'))).to.equal('v');
    await store.put('k', bytes('w'), 1000);
    clock.now += 999;
    expect(text(await store.get('k'))).to.equal('w');
    clock.now += 1;
    expect(await store.get('k')).to.equal(undefined);
    await store.put('gone', bytes('v'), 10);
    clock.now += 10;
    expect(await store.delete('gone')).to.equal(false);
  });

  it('remembers a key as seen for its window: true the first time, false for a replay, true again after', async () => {
    const { store, clock } = make();
    expect(await store.rememberSeen('req-1', 500)).to.equal(true);
    expect(await store.rememberSeen('req-1', 500)).to.equal(false);
    clock.now += 499;
    expect(await store.rememberSeen('req-1', 500)).to.equal(false);
    clock.now += 1;
    expect(await store.rememberSeen('req-1', 500)).to.equal(true);
    expect(await store.rememberSeen('req-2', 500)).to.equal(true);
  });

  it('refuses a time to live that is not positive', async () => {
    const { store } = make();
    for (const ttl of [0, -1, Number.NaN]) {
      let error: unknown;
      await store.put('k', bytes('v'), ttl).catch((e: unknown) => { error = e; });
      expect(error).to.be.instanceOf(RangeError);
      expect((error as Error).message).to.equal(`ttlMs must be positive; got ${ttl}`);
    }
    expect(store.size).to.equal(0);
  });

  it('drops the oldest entry past maxEntries, counting a replaced entry as new', async () => {
    const { store } = make({ maxEntries: 3 });
    for (const k of ['a', 'b', 'c']) await store.put(k, bytes(k), 60_000);
    await store.put('a', bytes('a2'), 60_000);
    await store.rememberSeen('d', 60_000);
    expect(store.size).to.equal(3);
    expect(await store.get('b')).to.equal(undefined);
    expect(text(await store.get('a'))).to.equal('a2');
    expect(text(await store.get('c'))).to.equal('c');
    expect(await store.rememberSeen('d', 60_000)).to.equal(false);
  });

  it('removes expired entries before dropping live ones', async () => {
    const { store, clock } = make({ maxEntries: 2 });
    await store.put('old-but-live', bytes('1'), 60_000);
    await store.put('short', bytes('2'), 10);
    clock.now += 10;
    await store.put('new', bytes('3'), 60_000);
    expect(store.size).to.equal(2);
    expect(text(await store.get('old-but-live'))).to.equal('1');
    expect(text(await store.get('new'))).to.equal('3');
  });

  it('sweeps expired entries on its timer, without being read', async () => {
    const { store, clock } = make({ sweepIntervalMs: 20 });
    await store.put('a', bytes('1'), 10);
    await store.put('b', bytes('2'), 60_000);
    clock.now += 10;
    const deadline = Date.now() + 3000;
    while (store.size !== 1) {
      if (Date.now() > deadline) throw new Error(`the sweep never ran: ${store.size} entries`);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(text(await store.get('b'))).to.equal('2');
  });

  describe('as a plugin', () => {
    const servers = serversPerTest();
    const USER = './test/fixtures/plugins/service-keystore-user.ts';
    const rc = (backend: string, options: Record<string, unknown> = {}) => ({ backends: [backend], plugins: [{ use: 'memory-keystore', options }, USER] });
    const resolve = (raw: Record<string, unknown>) => resolveConfig(raw, '', { plugins: builtinPlugins, presets: builtinPresets });
    beforeEach(() => { keystores.length = 0; });

    it('provides the keystore service to a plugin that requires it', async () => {
      const backend = await servers.backend('b');
      const lb = await servers.lb(rc(backend.url));
      expect(lb.lb.generation.resolved.services.chosen.get(KEYSTORE.name)).to.equal('memory-keystore');
      expect(keystores).to.have.length(1);
      expect(keystores[0]).to.be.instanceOf(MemoryStore);
      expect((await request(lb.url + '/.lb/kv/session', { method: 'PUT', body: 'secret' })).status).to.equal(204);
      expect((await request(lb.url + '/.lb/kv/session')).body).to.equal('secret');
      expect(JSON.parse((await request(lb.url + '/.lb/kv/nonce-1', { method: 'POST' })).body)).to.deep.equal({ first: true });
      expect(JSON.parse((await request(lb.url + '/.lb/kv/nonce-1', { method: 'POST' })).body)).to.deep.equal({ first: false });
      expect(JSON.parse((await request(lb.url + '/.lb/kv/session', { method: 'DELETE' })).body)).to.deep.equal({ deleted: true });
      expect((await request(lb.url + '/.lb/kv/session')).status).to.equal(404);
      expect(backend.hits).to.equal(0);
    });

    it('keeps the same store, with its entries, across reloads, and applies a new maxEntries', async () => {
      const backend = await servers.backend('b');
      const lb = await servers.lb(rc(backend.url));
      await request(lb.url + '/.lb/kv/session', { method: 'PUT', body: 'kept' });
      const reloaded = await lb.lb.reload(await resolve(rc(backend.url, { maxEntries: 2 })));
      expect(reloaded).to.deep.include({ ok: true, generation: 2 });
      expect(keystores).to.have.length(2);
      expect(keystores[1]).to.equal(keystores[0]);
      expect((await request(lb.url + '/.lb/kv/session')).body).to.equal('kept');
      await request(lb.url + '/.lb/kv/two', { method: 'PUT', body: '2' });
      await request(lb.url + '/.lb/kv/three', { method: 'PUT', body: '3' });
      expect((await request(lb.url + '/.lb/kv/session')).status).to.equal(404);
      expect((keystores[0] as MemoryStore).size).to.equal(2);
    });

    it('closes the store once no generation has the plugin, and at shutdown', async () => {
      const backend = await servers.backend('b');
      const lb = await servers.lb(rc(backend.url));
      await request(lb.url + '/.lb/kv/session', { method: 'PUT', body: 'x' });
      const first = keystores[0] as MemoryStore;
      expect((await lb.lb.reload(await resolve({ backends: [backend.url] }))).ok).to.equal(true);
      const deadline = Date.now() + 3000;
      while (first.size !== 0) {
        if (Date.now() > deadline) throw new Error('the store was never closed');
        await new Promise((r) => setTimeout(r, 5));
      }
      expect((await request(lb.url + '/.lb/kv/session')).status).to.equal(404);

      const other = await servers.lb(rc(backend.url));
      await request(other.url + '/.lb/kv/session', { method: 'PUT', body: 'y' });
      const second = keystores[1] as MemoryStore;
      expect(second).to.not.equal(first);
      expect(second.size).to.equal(1);
      await other.close();
      expect(second.size).to.equal(0);
    });
  });
});
