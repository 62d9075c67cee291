import { expect } from 'chai';
import type { ServerResponse } from 'node:http';
import { createPrng } from '../../core/index.js';
import { request, serversPerTest } from '../support/servers.js';
import { strategyHarness, type StrategyHarness } from './harness.js';

describe('least-connections strategy', () => {
  let h: StrategyHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const cases: Array<{ title: string; weights: number[]; inFlight: number[]; expected: string }> = [
    { title: 'picks the backend with the fewest requests in flight', weights: [1, 1, 1], inFlight: [3, 1, 2], expected: 'bbbb' },
    { title: 'compares requests in flight per unit of weight', weights: [3, 1], inFlight: [4, 2], expected: 'aaaa' },
    { title: 'takes equally idle backends in turn', weights: [1, 1, 1], inFlight: [0, 0, 0], expected: 'abcabc' },
    { title: 'takes in turn only the backends tied for the fewest', weights: [1, 1, 1, 1], inFlight: [1, 0, 0, 1], expected: 'bcbcbc' },
    { title: 'counts a heavier backend as less busy (2 of weight 2 ties 1 of weight 1)', weights: [2, 1], inFlight: [2, 1], expected: 'abab' },
  ];
  for (const c of cases) {
    it(`${c.title}: in flight ${c.inFlight.join(',')}, weights ${c.weights.join(',')} -> ${c.expected}`, async () => {
      h = await strategyHarness('least-connections', c.weights);
      h.targets.forEach((t, i) => { t.inFlight = c.inFlight[i]; });
      const picks = Array.from({ length: c.expected.length }, () => h!.name(h!.pick())).join('');
      expect(picks).to.equal(c.expected);
    });
  }

  it('always picks a least-loaded backend while requests start and finish at random (2000 steps)', async () => {
    h = await strategyHarness('least-connections', [1, 2, 1, 3]);
    const random = createPrng(11);
    const counts = new Map(h.targets.map((t) => [t, 0]));
    for (let step = 0; step < 2000; step++) {
      const loadOf = (t: { inFlight: number; weight: number }) => t.inFlight / t.weight;
      const least = Math.min(...h.targets.map(loadOf));
      const chosen = h.pick()!;
      expect(loadOf(chosen)).to.equal(least);
      chosen.inFlight++;
      counts.set(chosen, counts.get(chosen)! + 1);
      for (const t of h.targets) if (t.inFlight > 0 && random() < 0.2) t.inFlight--;
    }
    // Weighted 1:2:1:3, so the weight-3 backend takes the most and the weight-1 ones the least.
    const [a, b, c, d] = h.targets.map((t) => counts.get(t)!);
    expect(d).to.be.greaterThan(b);
    expect(b).to.be.greaterThan(Math.max(a, c));
  });

  it('breaks ties at random with ties: "random", the same way for the same seed', async () => {
    const run = async () => {
      const harness = await strategyHarness({ use: 'least-connections', options: { ties: 'random', seed: 5 } }, [1, 1, 1]);
      const counts = harness.tally(3000);
      const first = Array.from({ length: 20 }, () => harness.name(harness.pick())).join('');
      await harness.close();
      return { counts, first };
    };
    const one = await run();
    for (const n of Object.values(one.counts)) expect(n / 3000).to.be.closeTo(1 / 3, 0.03);
    expect(one.first).to.not.match(/^(abc)+/);
    expect(await run()).to.deep.equal(one);
  });
});

describe('least-connections through a real lb', () => {
  const servers = serversPerTest();

  it('sends nothing more to a backend holding a request while another is idle, then uses both again', async () => {
    const held: ServerResponse[] = [];
    const slow = await servers.backend('slow', (req, res) => {
      if (req.url === '/held') held.push(res);
      else res.end('slow');
    });
    const fast = await servers.backend('fast');
    const lb = await servers.lb({ backends: [slow.url, fast.url], strategy: 'least-connections' });

    const first = request(`${lb.url}/held`);
    while (held.length === 0) await new Promise((r) => setTimeout(r, 5));
    for (let i = 0; i < 10; i++) expect((await request(`${lb.url}/${i}`)).status).to.equal(200);
    expect([slow.hits, fast.hits]).to.deep.equal([1, 10]);

    held[0].end('done');
    expect((await first).body).to.equal('done');
    for (let i = 0; i < 4; i++) await request(`${lb.url}/again/${i}`);
    expect([slow.hits, fast.hits]).to.deep.equal([3, 12]);
  });
});
