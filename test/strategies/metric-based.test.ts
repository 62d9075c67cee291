import { expect } from 'chai';
import { LbError, resolveConfig, type Target, type TargetMetrics } from '../../core/index.js';
import { MetricModel } from '../../plugins/metric-based/index.js';
import { createPrng } from '../../core/index.js';
import { builtinPlugins } from '../../plugins/index.js';
import { builtinPresets } from '../../presets/index.js';
import { strategyHarness, twoChoiceShares, type StrategyHarness } from './harness.js';

const busy: TargetMetrics = { cpu: 1, memory: 0.4, load: 2.5, cores: 8 };
const idle: TargetMetrics = { cpu: 0.1, memory: 0.4, load: 0.1, cores: 8 };
// Scores with the default weights (cpu 0.5, memory 0.1, load 1): the weighted mean of the figures.
const BUSY = (0.5 * 1 + 0.1 * 0.4 + 2.5) / 1.6;
const IDLE = (0.5 * 0.1 + 0.1 * 0.4 + 0.1) / 1.6;
const HALF = (0.5 * 0.5 + 0.1 * 0.4 + 0.5) / 1.6;

interface Case {
  title: string;
  /** Report per target (undefined: none), and how old it is in ms. */
  reports: Array<TargetMetrics | undefined>;
  ageMs?: number[];
  /** Requests in flight when the report is read, and afterwards while picking. */
  inFlightAtReport?: number[];
  inFlight: number[];
  /** The definition: draw ∝ 1 / (1 + external score); cost = external score + in flight / cores. */
  draw: number[];
  cost: number[];
}

const cases: Case[] = [
  {
    title: 'two backends with 2.5 load per core are drawn less and lose to the two idle ones',
    reports: [busy, busy, idle, idle],
    inFlight: [0, 0, 0, 0],
    draw: [1 / (1 + BUSY), 1 / (1 + BUSY), 1 / (1 + IDLE), 1 / (1 + IDLE)],
    cost: [BUSY, BUSY, IDLE, IDLE],
  },
  {
    title: 'requests sent since a report count 1/cores each; a target without reports counts in flight / weight',
    reports: [{ cpu: 0.5, memory: 0.4, load: 0.5, cores: 4 }, { cpu: 0.5, memory: 0.4, load: 0.5, cores: 4 }, undefined],
    inFlightAtReport: [4, 4, 1],
    inFlight: [8, 4, 1],
    draw: [1, 1, 1],
    cost: [HALF - 1 + 2, HALF - 1 + 1, 1],
  },
  {
    title: 'a report older than maxAgeMs is unknown: that backend is scored by its requests in flight alone',
    reports: [busy, { cpu: 0.5, memory: 0.4, load: 0.5, cores: 8 }, busy],
    ageMs: [6000, 0, 0],
    inFlight: [0, 0, 0],
    draw: [1, 1 / (1 + HALF), 1 / (1 + BUSY)],
    cost: [0, HALF, BUSY],
  },
  {
    title: 'backends reporting the same load are picked alike',
    reports: [idle, idle, idle, idle, idle],
    inFlight: [2, 2, 2, 2, 2],
    draw: [1, 1, 1, 1, 1],
    cost: [0, 0, 0, 0, 0],
  },
];

describe('metric-based strategy', () => {
  let h: StrategyHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  for (const c of cases) {
    it(`picks by its definition: ${c.title} (8000 picks on a fixed seed, shares within 0.02)`, async () => {
      h = await strategyHarness({ use: 'metric-based', options: { seed: 21 } }, c.reports.map(() => 1));
      const now = Date.now();
      h.targets.forEach((t, i) => {
        t.inFlight = (c.inFlightAtReport ?? c.inFlight)[i];
        const report = c.reports[i];
        if (report) h!.lb.pool.updateMetrics(t, { ...report }, now - (c.ageMs?.[i] ?? 0));
      });
      h.pick();
      h.targets.forEach((t, i) => { t.inFlight = c.inFlight[i]; });
      const counts = Object.values(h.tally(8000));
      const expected = twoChoiceShares(c.draw, c.cost);
      counts.forEach((n, i) => expect(n / 8000, `share of backend ${i}`).to.be.closeTo(expected[i], 0.02));
    });
  }

  it('spreads a burst instead of herding onto the backend that looked idle at the last report', async () => {
    h = await strategyHarness({ use: 'metric-based', options: { seed: 4 } }, [1, 1, 1, 1, 1]);
    const pool = h.lb.pool;
    h.targets.forEach((t, i) => pool.updateMetrics(t, i === 0 ? { cpu: 0, memory: 0.4, load: 0, cores: 8 } : { cpu: 0.5, memory: 0.4, load: 0.5, cores: 8 }));
    const counts = h.targets.map(() => 0);
    for (let i = 0; i < 200; i++) {
      const t = h.pick()!;
      t.inFlight++;
      counts[h.targets.indexOf(t)]++;
    }
    // Scoring by the report alone (the original design) would send all 200 to the first.
    expect(counts[0]).to.be.within(40, 60);
    for (const n of counts.slice(1)) expect(n).to.be.within(30, 45);
  });

  it('starves no backend of five identical ones over 1500 requests (each gets at least a quarter of its fair share)', async () => {
    h = await strategyHarness({ use: 'metric-based', options: { seed: 8 } }, [1, 1, 1, 1, 1]);
    const random = createPrng(8);
    const counts = h.targets.map(() => 0);
    for (let i = 0; i < 1500; i++) {
      // Every 50 requests each backend reports its load: its own requests in flight on 4 cores.
      if (i % 50 === 0) for (const t of h.targets) h.lb.pool.updateMetrics(t, { cpu: Math.min(1, t.inFlight / 4), memory: 0.3, load: t.inFlight / 4, cores: 4 });
      const t = h.pick()!;
      t.inFlight++;
      counts[h.targets.indexOf(t)]++;
      for (const u of h.targets) if (u.inFlight > 0 && random() < 0.15) u.inFlight--;
    }
    for (const n of counts) expect(n).to.be.at.least(1500 / 5 / 4);
  });

  it('ramps a backend that just came back up from a tenth of its draws to all of them over slowStartMs', async () => {
    h = await strategyHarness({ use: 'metric-based', options: { seed: 2, slowStartMs: 10000 } }, [1, 1, 1]);
    const [back, ...others] = h.targets;
    for (const t of others) t.changedAt -= 60000;
    h.lb.pool.setState(back, 'down', 'test');
    h.lb.pool.setState(back, 'up', 'test');
    const ramping = twoChoiceShares([0.1, 1, 1], [0, 0, 0]);
    expect(h.tally(6000).a / 6000).to.be.closeTo(ramping[0], 0.02);
    back.changedAt -= 10000;
    expect(h.tally(6000).a / 6000).to.be.closeTo(1 / 3, 0.02);
  });

  it('follows the slow start the health-check plugin puts on a recovered backend', async () => {
    h = await strategyHarness({ use: 'metric-based', options: { seed: 2 } }, [1, 1, 1]);
    const [back] = h.targets;
    h.lb.pool.setState(back, 'down', 'test');
    h.lb.pool.setState(back, 'up', 'test');
    back.slowStartMs = 10000;
    expect(h.tally(6000).a / 6000).to.be.closeTo(twoChoiceShares([0.1, 1, 1], [0, 0, 0])[0], 0.02);
  });
});

describe('MetricModel', () => {
  let h: StrategyHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  const loadOnly = { weights: { cpu: 0, memory: 0, load: 1 }, maxAgeMs: 5000, smoothing: 0.5 };

  const report = (t: Target, metrics: TargetMetrics, inFlight: number) => {
    t.inFlight = inFlight;
    h!.lb.pool.updateMetrics(t, metrics);
  };

  it('splits a report into load from elsewhere and this proxy\'s requests in flight, 1/cores each', async () => {
    h = await strategyHarness('metric-based', [1]);
    const [t] = h.targets;
    const model = new MetricModel(loadOnly);
    report(t, { load: 2.5, cores: 4 }, 2);
    const e = model.refresh(t, Date.now());
    expect(model.cost(t, e)).to.equal(2.5);
    t.inFlight = 6;
    expect(model.cost(t, e)).to.equal(3.5);
    expect(model.externalLoad(e)).to.equal(2);
  });

  it('learns how much one request weighs from reports without cores, and keeps cores once reported', async () => {
    h = await strategyHarness('metric-based', [1]);
    const [t] = h.targets;
    const model = new MetricModel(loadOnly);
    report(t, { load: 0.5 }, 4);
    let e = model.refresh(t, Date.now());
    t.inFlight = 12;
    expect(model.cost(t, e)).to.equal(1.5);
    report(t, { load: 1, cores: 2 }, 2);
    model.refresh(t, Date.now());
    report(t, { load: 1 }, 2);
    e = model.refresh(t, Date.now());
    t.inFlight = 4;
    expect(model.cost(t, e)).to.equal(2);
  });

  it('smooths the load from elsewhere across reports by the smoothing option', async () => {
    h = await strategyHarness('metric-based', [1]);
    const [t] = h.targets;
    for (const [smoothing, expected] of [[0.5, 2], [1, 3]]) {
      const model = new MetricModel({ ...loadOnly, smoothing });
      report(t, { load: 1, cores: 4 }, 0);
      model.refresh(t, Date.now());
      report(t, { load: 3, cores: 4 }, 0);
      expect(model.cost(t, model.refresh(t, Date.now()))).to.equal(expected);
    }
  });

  it('ignores figures out of range or missing, and treats a report with none that counts as unknown', async () => {
    h = await strategyHarness('metric-based', [1]);
    const [t] = h.targets;
    const model = new MetricModel({ ...loadOnly, weights: { cpu: 1, memory: 0, load: 1 } });
    expect(model.score({ cpu: 7, load: 0.5 })).to.equal(0.75);
    expect(model.score({ cpu: Number.NaN, load: -1, memory: 0.5 })).to.equal(undefined);
    report(t, { memory: 0.9 }, 3);
    expect(model.cost(t, model.refresh(t, Date.now()))).to.equal(3);
  });
});

describe('metric-based options', () => {
  const rejected = async (options: unknown): Promise<string[]> => {
    try {
      await resolveConfig({ backends: ['http://127.0.0.1:9001'], strategy: { use: 'metric-based', options } }, '', { plugins: builtinPlugins, presets: builtinPresets });
    } catch (e) {
      expect((e as LbError).code).to.equal('LB_ERR_CONFIG_INVALID');
      return [...(e as LbError).details];
    }
    throw new Error('expected the options to be rejected');
  };
  const atLeastOne = '   -> At least one of weights.cpu, weights.memory and weights.load must be greater than 0; with all three at 0 every backend would score alike.';

  it('rejects weights that are all zero, saying that one must be above 0', async () => {
    expect(await rejected({ weights: { cpu: 0, memory: 0, load: 0 } })).to.deep.equal([
      ` - strategy.options.weights.cpu: must be > 0; found 0.\n${atLeastOne}`,
      ` - strategy.options.weights.memory: must be > 0; found 0.\n${atLeastOne}`,
      ` - strategy.options.weights.load: must be > 0; found 0.\n${atLeastOne}`,
    ]);
  });

  it('rejects a negative weight', async () => {
    expect(await rejected({ weights: { load: -1 } })).to.deep.equal([
      ' - strategy.options.weights.load: must be >= 0; found -1.\n   -> Weight of load per core (load average / cores; 1 = every core busy, above 1 = work queued) in a backend\'s score (unitless, >= 0).',
    ]);
  });

  it('accepts zero weights as long as one is above 0, and fills in the defaults', async () => {
    const resolved = await resolveConfig({ backends: ['http://127.0.0.1:9001'], strategy: { use: 'metric-based', options: { weights: { cpu: 0, memory: 0 } } } }, '', { plugins: builtinPlugins, presets: builtinPresets });
    expect(resolved.strategy.options).to.deep.equal({ weights: { cpu: 0, memory: 0, load: 1 }, maxAgeMs: 5000, smoothing: 0.5, slowStartMs: 0, seed: 0 });
  });
});
