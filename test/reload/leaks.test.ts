import { expect } from 'chai';
import { createHook } from 'node:async_hooks';
import { createLoadBalancer, type LoadBalancer, type Target, type TargetPool } from '../../core/index.js';
import { events, resetEvents } from '../fixtures/plugins/reload-lifecycle.js';
import { captureLog, closeAfterEach, request } from '../support/servers.js';
import { resolveRc, startCountingBackend, waitFor, type CountingBackend } from './helpers.js';

/**
 * Timers pending now, unref'd ones included (process.getActiveResourcesInfo() lists only
 * ref'd timers, and the health checks' are unref'd), counted with an async hook.
 */
function trackTimers() {
  const created = new Map<number, { _destroyed?: boolean }>();
  const hook = createHook({
    init(id, type, _trigger, resource) { if (type === 'Timeout') created.set(id, resource as { _destroyed?: boolean }); },
    destroy(id) { created.delete(id); },
  }).enable();
  // Destroy hooks run a little after a timer fires or is cleared; its own flag says at once.
  const count = () => [...created.values()].filter((t) => !t._destroyed).length;
  return { count, stop: () => hook.disable() };
}

/** The registry behind a pool: the pools still attached (each with its state listeners) and the Targets it holds. */
function registryOf(pool: TargetPool): { pools: Set<TargetPool>; size: number } {
  return (pool as unknown as { registry: { pools: Set<TargetPool>; size: number } }).registry;
}

const listeners = (emitter: NodeJS.EventEmitter) => emitter.eventNames().reduce((n, e) => n + emitter.listenerCount(e), 0);

describe('LoadBalancer.reload and what generations leave behind', function () {
  this.timeout(20_000);
  let a: CountingBackend | undefined;
  let b: CountingBackend | undefined;
  let c: CountingBackend | undefined;
  let lb: LoadBalancer | undefined;
  let timers: ReturnType<typeof trackTimers> | undefined;
  closeAfterEach(() => [lb, a, b, c]);
  afterEach(() => { timers?.stop(); timers = undefined; });
  beforeEach(resetEvents);

  it('has as many handles, timers and listeners after ten reloads as before them, and as before lb once it is closed', async () => {
    timers = trackTimers();
    [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => startCountingBackend(n)));
    // Idle connections stay open (unless lb closes them) for longer than the test.
    for (const s of [a, b, c]) s.server.keepAliveTimeout = 60_000;
    const handles = () => process.getActiveResourcesInfo().filter((r) => r !== 'Timeout').sort().join(',');
    const snapshot = () => ({
      handles: handles(),
      timers: timers!.count(),
      process: listeners(process),
      server: lb ? listeners(lb.server) : 0,
      agents: lb ? lb.pool.targets.reduce((n, t) => n + listeners(t.agent), 0) : 0,
      pools: lb ? registryOf(lb.pool).pools.size : 0,
      targets: lb ? registryOf(lb.pool).size : 0,
    });
    const beforeLb = snapshot();

    // Health checks every minute, without jitter: each generation polls every backend once at start, and its timers wait.
    const health = { use: 'health-check', options: { intervalMs: 60_000, jitter: 0, format: 'none', path: '/health' } };
    const rc = (i: number) => ({
      strategy: i % 2 ? 'least-connections' : 'round-robin',
      backends: [a!.url, b!.url, ...(i % 4 === 1 || i % 4 === 2 ? [c!.url] : [])],
      timeouts: { upstreamIdleMs: 60_000 },
      plugins: [health, ...(i % 3 === 1 ? [{ use: './test/fixtures/plugins/reload-lifecycle.ts', options: { label: `g${i + 1}` } }] : [])],
    });
    lb = await createLoadBalancer(await resolveRc(rc(0)), { logger: captureLog().logger });
    const { url } = await lb.listen(0, '127.0.0.1');
    /** Settled: every backend in use polled by this generation and used once, one idle connection to each, old generations gone. */
    const settle = async (inUse: CountingBackend[], polls: Map<CountingBackend, number>) => {
      for (const s of inUse) await waitFor(`generation ${lb!.generation.number}'s first poll of ${s.name}`, () => s.polls > (polls.get(s) ?? 0));
      for (let i = 0; i < inUse.length; i++) await request(url);
      await waitFor('old generations to be released', () => registryOf(lb!.pool).pools.size === 1);
      for (const s of [a!, b!, c!]) {
        const expected = inUse.includes(s) ? 1 : 0;
        await waitFor(`${s.name} to have ${expected} open connection(s)`, async () => (await s.connections()) === expected);
      }
      // Clients gone: no connection to lb, no socket shutting down, only the backends' ends of lb's idle connections
      // (lb's own ends are unref'd while idle, so not listed).
      await waitFor('client connections to close', async () => {
        const lbConnections = await new Promise<number>((resolve) => lb!.server.getConnections((_e, n) => resolve(n)));
        const info = process.getActiveResourcesInfo();
        return lbConnections === 0 && !info.some((r) => /Shutdown|Connect|Write/.test(r)) && info.filter((r) => r === 'TCPSocketWrap').length === inUse.length;
      });
    };
    const polls = () => new Map([a!, b!, c!].map((s) => [s, s.polls]));
    await settle([a, b], new Map());
    const start = snapshot();
    expect(start.pools).to.equal(1);
    expect(start.targets).to.equal(2);

    let cTarget: Target | undefined;
    for (let i = 1; i <= 10; i++) {
      const before = polls();
      const result = await lb.reload(() => resolveRc(rc(i % 10)));
      expect(result.ok, `reload ${i}`).to.equal(true);
      const withC = lb.pool.targets.length === 3;
      if (withC) cTarget = lb.pool.get(c.id);
      await settle(withC ? [a, b, c] : [a, b], before);
      if (i === 3) {
        // c was removed: its agent has closed the connection it kept, and lb holds nothing of it.
        expect(lb.pool.get(c.id)).to.equal(undefined);
        expect(registryOf(lb.pool).size).to.equal(2);
        expect(Object.keys(cTarget!.agent.sockets).length + Object.keys(cTarget!.agent.freeSockets).length).to.equal(0);
        expect(await c.connections()).to.equal(0);
        const cHits = c.hits;
        for (let k = 0; k < 4; k++) await request(url);
        expect(c.hits).to.equal(cHits);
      }
    }
    // The tenth reload went back to the first rc.
    expect(lb.generation.number).to.equal(11);
    await waitFor('handles, timers and listeners as they were after start', () => JSON.stringify(snapshot()) === JSON.stringify(start) || undefined, 5000)
      .catch(() => expect(snapshot()).to.deep.equal(start));

    await lb.close();
    lb = undefined;
    await waitFor('handles, timers and listeners as before lb', () => JSON.stringify(snapshot()) === JSON.stringify(beforeLb) || undefined, 5000)
      .catch(() => expect(snapshot()).to.deep.equal(beforeLb));
  });

  it('runs a plugin\'s stop only once its generation has drained, and closes its kept value once no generation has it', async () => {
    let release: (() => void) | undefined;
    const held = new Promise<void>((resolve) => { release = resolve; });
    a = await startCountingBackend('a');
    b = await startCountingBackend('slow', { held });
    const lifecycle = (label: string) => ({ use: './test/fixtures/plugins/reload-lifecycle.ts', options: { label } });

    lb = await createLoadBalancer(await resolveRc({ backends: [b.url], plugins: [lifecycle('g1')] }), { logger: captureLog().logger });
    const { url } = await lb.listen(0, '127.0.0.1');
    expect(events).to.deep.equal(['apply:g1', 'keep-init:1', 'start:g1']);
    const inFlight = request(`${url}/held`);
    await waitFor('the slow backend to start answering', () => lb!.pool.targets[0].inFlight === 1);

    const second = await lb.reload(() => resolveRc({ backends: [a!.url], plugins: [lifecycle('g2')] }));
    expect(second.ok).to.equal(true);
    // Generation 2 serves (a round trip through it gives generation 1 every chance to be stopped too early)...
    expect(JSON.parse((await request(url)).body).backend).to.equal('a');
    expect(JSON.parse((await request(`${url}/.lb/reload-lifecycle`)).body)).to.deep.equal({ label: 'g2', kept: 1 });
    // ...while generation 1 still has a request in flight, so it is not stopped.
    expect(events).to.deep.equal(['apply:g1', 'keep-init:1', 'start:g1', 'apply:g2', 'start:g2']);
    release!();
    const finished = await inFlight;
    expect(finished.status).to.equal(200);
    expect(finished.body).to.equal('first half;second half');
    await waitFor('generation 1 to be stopped', () => events.includes('stop:g1'));
    expect(events).to.deep.equal(['apply:g1', 'keep-init:1', 'start:g1', 'apply:g2', 'start:g2', 'stop:g1']);

    // Generation 3 drops the plugin: once generation 2 has drained, it is stopped and the value it kept is closed.
    const third = await lb.reload(() => resolveRc({ backends: [a!.url] }));
    expect(third.ok && third.changes.pluginsRemoved).to.deep.equal(['reload-lifecycle']);
    await waitFor('the kept value to be closed', () => events.includes('keep-close:1'));
    expect(events.slice(5)).to.deep.equal(['stop:g1', 'stop:g2', 'keep-close:1']);
    expect((await request(`${url}/.lb/reload-lifecycle`)).status).to.equal(404);
  });
});
