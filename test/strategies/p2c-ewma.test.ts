import { expect } from 'chai';
import { createP2cEwmaPick, PeakEwma } from '../../plugins/p2c-ewma/index.js';
import { createPrng } from '../../core/index.js';
import { request, serversPerTest } from '../support/servers.js';
import { strategyHarness, twoChoiceShares, type StrategyHarness } from './harness.js';

describe('p2c-ewma strategy', () => {
  let h: StrategyHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  describe('PeakEwma', () => {
    it('takes a slower response as the estimate at once, and blends a faster one in by the time since the last', async () => {
      h = await strategyHarness('p2c-ewma', [1]);
      const t = h.targets[0];
      const ewma = new PeakEwma(1000);
      expect(ewma.latency(t, 0)).to.equal(undefined);
      ewma.observe(t, 10, 0);
      ewma.observe(t, 100, 1);
      expect(ewma.latency(t, 1)).to.equal(100);
      ewma.observe(t, 10, 1001);
      expect(ewma.latency(t, 1001)).to.be.closeTo(100 * Math.exp(-1) + 10 * (1 - Math.exp(-1)), 1e-9);
    });

    it('lets an unobserved estimate decay towards zero, so that a slow target is tried again', async () => {
      h = await strategyHarness('p2c-ewma', [1]);
      const t = h.targets[0];
      const ewma = new PeakEwma(1000);
      ewma.observe(t, 100, 0);
      expect(ewma.latency(t, 2000)).to.be.closeTo(100 * Math.exp(-2), 1e-9);
      expect(ewma.latency(t, 2000)).to.equal(ewma.latency(t, 2000));
    });

    it('costs latency × (in flight + 1); an unmeasured target costs 0 when idle and more than any measured one when busy', async () => {
      h = await strategyHarness('p2c-ewma', [1, 1]);
      const [measured, fresh] = h.targets;
      const ewma = new PeakEwma(10000);
      ewma.observe(measured, 20, 0);
      measured.inFlight = 3;
      expect(ewma.cost(measured, 0)).to.equal(80);
      expect(ewma.cost(fresh, 0)).to.equal(0);
      fresh.inFlight = 1;
      expect(ewma.cost(fresh, 0)).to.be.greaterThan(1e6);
    });
  });

  const cases: Array<{ title: string; latency: number[]; inFlight: number[] }> = [
    { title: 'idle targets ranked by latency: the slowest is never picked', latency: [10, 20, 40, 80], inFlight: [0, 0, 0, 0] },
    { title: 'latency × (in flight + 1) equal everywhere: every target alike', latency: [10, 20, 40, 80], inFlight: [7, 3, 1, 0] },
    { title: 'equal latency: fewer in flight wins', latency: [10, 10, 10], inFlight: [2, 0, 1] },
  ];
  for (const c of cases) {
    it(`picks the cheaper of two random targets: ${c.title} (6000 picks on a fixed seed, shares within 0.02)`, async () => {
      h = await strategyHarness('p2c-ewma', c.latency.map(() => 1));
      const ewma = new PeakEwma(1e12);
      const now = performance.now();
      h.targets.forEach((t, i) => {
        ewma.observe(t, c.latency[i], now);
        t.inFlight = c.inFlight[i];
      });
      const pick = createP2cEwmaPick(ewma, createPrng(9));
      const counts = h.targets.map(() => 0);
      for (let i = 0; i < 6000; i++) counts[h.targets.indexOf(pick(h.targets)!)]++;
      const expected = twoChoiceShares(c.latency.map(() => 1), c.latency.map((l, i) => l * (c.inFlight[i] + 1)));
      counts.forEach((n, i) => expect(n / 6000, `share of target ${i}`).to.be.closeTo(expected[i], 0.02));
    });
  }
});

describe('p2c-ewma through a real lb', () => {
  const servers = serversPerTest();

  for (const measure of ['headers', 'complete']) {
    it(`learns that one backend answers slowly and sends it almost nothing (measure: "${measure}")`, async () => {
      const slow = await servers.backend('slow', (_req, res) => { setTimeout(() => res.end('slow'), 150); });
      const backends = [slow, await servers.backend('fast-1'), await servers.backend('fast-2')];
      // A short decay, so that a first slow answer from a cold fast backend is forgotten within the test.
      const lb = await servers.lb({ backends: backends.map((b) => b.url), strategy: { use: 'p2c-ewma', options: { seed: 1, measure, decayMs: 200 } } });
      for (let i = 0; i < 60; i++) expect((await request(`${lb.url}/${i}`)).status).to.equal(200);
      expect(slow.hits).to.be.at.most(4);
      expect(backends[1].hits + backends[2].hits).to.equal(60 - slow.hits);
      expect(Math.min(backends[1].hits, backends[2].hits)).to.be.at.least(20);
    });
  }
});
