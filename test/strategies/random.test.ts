import { expect } from 'chai';
import { strategyHarness, type StrategyHarness } from './harness.js';

describe('random strategy', () => {
  let h: StrategyHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const cases: Array<{ title: string; options: Record<string, unknown>; weights: number[]; expected: number[] }> = [
    { title: 'draws four equal backends about equally often', options: { seed: 7 }, weights: [1, 1, 1, 1], expected: [0.25, 0.25, 0.25, 0.25] },
    { title: 'draws in proportion to the weights when they differ', options: { seed: 7 }, weights: [1, 2, 5], expected: [1 / 8, 2 / 8, 5 / 8] },
    { title: 'draws uniformly whatever the weights with weighted: false', options: { seed: 7, weighted: false }, weights: [1, 2, 5], expected: [1 / 3, 1 / 3, 1 / 3] },
  ];
  for (const c of cases) {
    it(`${c.title} (8000 draws on a fixed seed, each share within 0.02)`, async () => {
      h = await strategyHarness({ use: 'random', options: c.options }, c.weights);
      const counts = Object.values(h.tally(8000));
      counts.forEach((n, i) => expect(n / 8000, `share of backend ${i}`).to.be.closeTo(c.expected[i], 0.02));
    });
  }

  it('repeats the same picks for the same seed and makes others for another seed', async () => {
    const sequence = async (seed: number) => {
      const harness = await strategyHarness({ use: 'random', options: { seed } }, [1, 1, 1, 1, 1]);
      const names = Array.from({ length: 40 }, () => harness.name(harness.pick()));
      await harness.close();
      return names.join('');
    };
    const first = await sequence(42);
    expect(await sequence(42)).to.equal(first);
    expect(await sequence(43)).to.not.equal(first);
  });

  it('picks only among the candidates it is given', async () => {
    h = await strategyHarness({ use: 'random', options: { seed: 3 } }, [1, 1, 1]);
    h.lb.pool.setState(h.targets[1], 'down', 'test');
    expect(h.tally(600)).to.include({ b: 0 });
    expect(h.pick([])).to.equal(undefined);
  });
});
