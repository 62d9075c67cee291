import { expect } from 'chai';
import http from 'node:http';
import { resolveConfig } from '../../core/index.js';
import { builtinPlugins } from '../../plugins/index.js';
import { builtinPresets } from '../../presets/index.js';
import { serversPerTest, type TestBackend } from '../support/servers.js';

/** Sends `count` GETs through `url`, `concurrency` at a time on one keep-alive agent; resolves with the statuses. */
async function load(url: string, count: number, concurrency: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const statuses: number[] = [];
  let next = 0;
  const one = () => new Promise<void>((resolve, reject) => {
    const req = http.get(`${url}/${next++}`, { agent }, (res) => {
      statuses.push(res.statusCode ?? 0);
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
  });
  const worker = async () => {
    while (next < count) await one();
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return statuses;
}

/** Requests served (health reports aside) by backend name. */
const served = new Map<string, number>();

/** A backend that takes `delayMs` per request and serves an lb-agent report whose load per core is `load()`. */
function reportingBackend(servers: ReturnType<typeof serversPerTest>, name: string, delayMs: number, load: () => number): Promise<TestBackend> {
  served.set(name, 0);
  return servers.backend(name, (req, res) => {
    if (req.url !== '/.lb/health') served.set(name, served.get(name)! + 1);
    if (req.url === '/.lb/health') {
      const body = JSON.stringify({ version: 1, status: 'ok', timestamp: Date.now(), cpu: { utilization: Math.min(1, load()), cores: 4 }, load: { perCore: load() } });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      return;
    }
    setTimeout(() => res.end(name), delayMs);
  });
}

describe('metric-based through a real lb', () => {
  const servers = serversPerTest();

  it('sends few requests to the backend whose reports say it is loaded, and follows when the reports change', async () => {
    const backends = await Promise.all(['a', 'b', 'c'].map((n) => servers.backend(n, (_req, res) => { setTimeout(() => res.end(n), 2); })));
    const lb = await servers.lb({ backends: backends.map((b) => b.url), strategy: { use: 'metric-based', options: { seed: 3 } } });
    const pool = lb.lb.pool;
    // What a poller would store every 10 ms.
    let loads = [0.2, 3, 0.2];
    const report = () => pool.targets.forEach((t, i) => pool.updateMetrics(t, { cpu: Math.min(1, loads[i]), memory: 0.3, load: loads[i], cores: 4 }));
    report();
    const poller = setInterval(report, 10);
    try {
      expect(await load(lb.url, 300, 4)).to.satisfy((s: number[]) => s.every((x) => x === 200));
      const [a, b, c] = backends.map((x) => x.hits);
      expect(b).to.be.below(30);
      expect(Math.min(a, c)).to.be.above(120);

      loads = [3, 0.2, 3];
      await new Promise((r) => setTimeout(r, 50));
      for (const x of backends) x.hits = 0;
      await load(lb.url, 300, 4);
      expect(backends[1].hits).to.be.above(200);
    } finally {
      clearInterval(poller);
    }
  });

  it('starves none of five identical upstreams over 1500 requests (each gets at least a quarter of its fair share)', async () => {
    const backends = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((n) => servers.backend(n)));
    const lb = await servers.lb({ backends: backends.map((b) => b.url), strategy: { use: 'metric-based', options: { seed: 5 } } });
    const pool = lb.lb.pool;
    // Identical backends report identical, slightly stale load, as a poller would every 20 ms.
    const poller = setInterval(() => pool.targets.forEach((t) => pool.updateMetrics(t, { cpu: 0.3, memory: 0.3, load: 0.3, cores: 4 })), 20);
    try {
      expect((await load(lb.url, 1500, 8)).length).to.equal(1500);
    } finally {
      clearInterval(poller);
    }
    for (const b of backends) expect(b.hits).to.be.at.least(1500 / 5 / 4);
  });
});

describe('the least-loaded preset', () => {
  const servers = serversPerTest();

  it('resolves to metric-based with health-check polling, in-band reports and passive health', async () => {
    const resolved = await resolveConfig({ preset: 'least-loaded', backends: ['http://127.0.0.1:9001'] }, '', { plugins: builtinPlugins, presets: builtinPresets });
    expect(resolved.strategy.plugin.name).to.equal('metric-based');
    expect(resolved.plugins.map((p) => p.plugin.name)).to.deep.equal(['health-check', 'orca-load-reports', 'passive-health']);
  });

  it('polls each backend\'s agent report and sends the busy backend little', async () => {
    const backends = [
      await reportingBackend(servers, 'busy', 2, () => 3),
      await reportingBackend(servers, 'idle-1', 2, () => 0.1),
      await reportingBackend(servers, 'idle-2', 2, () => 0.1),
    ];
    const lb = await servers.lb({ preset: 'least-loaded', backends: backends.map((b) => b.url), strategy: { use: 'metric-based', options: { seed: 6 } }, plugins: [{ use: 'health-check', options: { intervalMs: 50 } }] });
    const pool = lb.lb.pool;
    for (let i = 0; i < 100 && pool.targets.some((t) => t.metricsAt === 0); i++) await new Promise((r) => setTimeout(r, 20));
    expect(pool.targets.map((t) => t.metrics.load)).to.deep.equal([3, 0.1, 0.1]);
    await load(lb.url, 300, 4);
    const [busy, idle1, idle2] = ['busy', 'idle-1', 'idle-2'].map((n) => served.get(n)!);
    expect(busy + idle1 + idle2).to.equal(300);
    expect(busy).to.be.below(40);
  });
});
