import { expect } from 'chai';
import { createLoadBalancer, type LoadBalancer, type Target } from '../../core/index.js';
import { captureLog, closeAfterEach } from '../support/servers.js';
import { resolveRc, startCountingBackend, SteadyLoad, waitFor, type CountingBackend } from './helpers.js';

type Strategy = 'round-robin' | 'least-connections';

/** Ordinary requests each backend received in one phase (one generation serving alone). */
type Phase = { generation: number; strategy: Strategy; withExtra: boolean; hits: Record<string, number>; served: number };

describe('LoadBalancer.reload under a steady load', function () {
  this.timeout(40_000);
  let fast: CountingBackend | undefined;
  let slow: CountingBackend | undefined;
  let extra: CountingBackend | undefined;
  let sick: CountingBackend | undefined;
  let lb: LoadBalancer | undefined;
  let load: SteadyLoad | undefined;
  closeAfterEach(() => [
    load && { close: async () => { await load!.stop(); } },
    lb, fast, slow, extra, sick,
  ]);

  it('drops no request over ten reloads that alternate strategies and add and remove a backend, shows each change in the hit counts, and keeps a down backend down', async () => {
    fast = await startCountingBackend('fast');
    // Slow enough that least-connections sends it clearly less than its round-robin half.
    slow = await startCountingBackend('slow', { delayMs: 50 });
    extra = await startCountingBackend('extra');
    sick = await startCountingBackend('sick', { healthStatus: 503 });
    const health = { use: 'health-check', options: { intervalMs: 50, jitter: 0.1, fall: 2, rise: 2, timeoutMs: 2000, format: 'none', path: '/health' } };
    const rc = (strategy: Strategy, withExtra: boolean) => ({
      strategy,
      backends: [fast!.url, slow!.url, sick!.url, ...(withExtra ? [extra!.url] : [])],
      plugins: [health],
    });
    const log = captureLog();
    lb = await createLoadBalancer(await resolveRc(rc('round-robin', false)), { logger: log.logger });
    const { url } = await lb.listen(0, '127.0.0.1');
    const sickTarget = await waitFor('the health check to mark the sick backend down', () => {
      const t = lb!.pool.get(sick!.id);
      return t?.state === 'down' ? t : undefined;
    });
    const kept = new Map<string, Target>([fast, slow, sick].map((b) => [b!.id, lb!.pool.get(b!.id)!]));

    const backends = [fast, slow, extra, sick] as CountingBackend[];
    const counts = () => Object.fromEntries(backends.map((b) => [b.name, b.hits]));
    const perPhase = 300;
    load = new SteadyLoad(url, 16, 10_000, 30_000);
    const phases: Phase[] = [];
    /** Lets the generation now serving take `perPhase` requests alone, and records what each backend got. */
    const runPhase = async (strategy: Strategy, withExtra: boolean) => {
      const start = counts();
      const servedAtStart = load!.completed;
      await waitFor(`${perPhase} requests in generation ${lb!.generation.number}`, () => load!.completed - servedAtStart >= perPhase, 15_000);
      const end = counts();
      const hits = Object.fromEntries(backends.map((b) => [b.name, end[b.name] - start[b.name]]));
      phases.push({ generation: lb!.generation.number, strategy, withExtra, hits, served: load!.completed - servedAtStart });
    };

    await runPhase('round-robin', false);
    for (let i = 1; i <= 10; i++) {
      const strategy: Strategy = i % 2 ? 'least-connections' : 'round-robin';
      const withExtra = i % 4 === 1 || i % 4 === 2;
      const old = lb.generation;
      const result = await lb.reload(() => resolveRc(rc(strategy, withExtra)));
      expect(result.ok, `reload ${i}`).to.equal(true);
      expect(result.generation).to.equal(i + 1);
      // Requests the old generation had already taken end there; from here on only the new one sends.
      await old.whenIdle();
      for (const [id, target] of kept) expect(lb.pool.get(id), `Target ${id} after reload ${i}`).to.equal(target);
      expect(sickTarget.state, `the sick backend after reload ${i}`).to.equal('down');
      await runPhase(strategy, withExtra);
    }
    const result = await load.stop();
    load = undefined;

    expect(result.failures).to.deep.equal([]);
    expect(result.completed).to.be.within(11 * perPhase, 10_000);
    const pretty = JSON.stringify(phases);
    expect(phases.map((p) => p.generation)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    for (const p of phases) {
      const where = `generation ${p.generation} (${p.strategy}${p.withExtra ? ', with extra' : ''}): ${pretty}`;
      expect(p.hits.sick, where).to.equal(0);
      if (p.withExtra) expect(p.hits.extra, where).to.be.greaterThan(0);
      else expect(p.hits.extra, where).to.equal(0);
      // Round robin alternates, whatever the latency; least-connections favours the fast backends.
      const ratio = p.hits.slow / p.hits.fast;
      if (p.strategy === 'round-robin') expect(ratio, where).to.be.within(0.8, 1.25);
      else expect(ratio, where).to.be.below(0.5);
    }
    expect(sickTarget.state).to.equal('down');
    expect(lb.pool.get(sick.id)).to.equal(sickTarget);

    const reloadLines = log.lines.filter((l) => l.includes('reload: generation'));
    expect(reloadLines).to.have.length(10);
    expect(reloadLines[0]).to.match(new RegExp(`\\[lb\\] reload: generation 2 serving generation=2 ms=[\\d.]+ backendsAdded=${extra.id} strategy="round-robin → least-connections"$`));
    expect(reloadLines[2]).to.match(new RegExp(`\\[lb\\] reload: generation 4 serving generation=4 ms=[\\d.]+ backendsRemoved=${extra.id} strategy="round-robin → least-connections"$`));
    expect(log.lines.filter((l) => / (warn|error) /.test(l) && !l.includes(`target ${sick!.id} is down`))).to.deep.equal([]);
  });
});
