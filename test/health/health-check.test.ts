import { expect } from 'chai';
import type { Target } from '../../core/index.js';
import { SLOW_START_MIN_FACTOR } from '../../core/index.js';
import { closeAfterEach, startBackend, startLb, type TestBackend, type TestLb } from '../support/servers.js';
import { getMany, sleep, startAgentBackend, waitFor, type AgentBackend } from './helpers.js';

const INTERVAL = 100;
const JITTER = 0.2;
const FALL = 2;
const RISE = 3;
// Worst case for fall checks to fail is fall intervals stretched by the jitter; the slack is for a loaded
// machine whose timers run late (the exact number of checks is asserted separately).
const SLACK = 1000;
const DOWN_WITHIN = FALL * INTERVAL * (1 + JITTER) + SLACK;

function checkOptions(extra: Record<string, unknown> = {}) {
  return { intervalMs: INTERVAL, jitter: JITTER, timeoutMs: 1000, fall: FALL, rise: RISE, ...extra };
}

async function startFarm(n: number, extra: Record<string, unknown> = {}, logLevel: 'info' | 'debug' = 'info') {
  const backends: AgentBackend[] = [];
  for (let i = 0; i < n; i++) backends.push(await startAgentBackend(`b${i}`));
  const lb = await startLb({
    backends: backends.map((b) => b.url),
    strategy: 'round-robin',
    plugins: [{ use: 'health-check', options: checkOptions(extra) }],
  }, logLevel);
  return { backends, lb };
}

function targetOf(lb: TestLb, b: AgentBackend): Target {
  return lb.lb.pool.get(`127.0.0.1:${b.port}`)!;
}

/** Resolves with the ms from now until `target` reaches `state`. */
function whenState(lb: TestLb, target: Target, state: string, onChange?: () => void): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    lb.lb.pool.onStateChange((t) => {
      if (t === target && t.state === state) {
        onChange?.();
        resolve(performance.now() - started);
      }
    });
  });
}

describe('health-check plugin (active polling)', () => {
  let backends: AgentBackend[] = [];
  let lb: TestLb | undefined;
  closeAfterEach(() => [lb, ...backends]);

  it('takes a backend whose checks fail out of rotation within fall × interval: it then receives no request', async () => {
    ({ backends, lb } = await startFarm(3));
    await waitFor(() => backends.every((b) => b.passes >= 1), 2000, 'first checks');
    const [sick] = backends;
    let failuresAtDown = -1;
    const down = whenState(lb, targetOf(lb, sick), 'down', () => { failuresAtDown = sick.failures; });
    sick.mode = 'fail-500';
    const ms = await down;
    expect(failuresAtDown, 'failed checks before it went down').to.equal(FALL);
    expect(ms, 'time to take it down').to.be.below(DOWN_WITHIN);
    const hitsAtDown = backends.map((b) => b.hits);
    const statuses = await getMany(lb.url, 30);
    expect(statuses.every((s) => s === 200)).to.equal(true);
    expect(sick.hits - hitsAtDown[0], 'requests to the sick backend').to.equal(0);
    expect(backends[1].hits - hitsAtDown[1]).to.equal(15);
    expect(backends[2].hits - hitsAtDown[2]).to.equal(15);
    const target = targetOf(lb, sick);
    expect(target.reason).to.equal(`GET /.lb/health: status 500, expected 200 (${FALL} failed checks in a row)`);
  });

  it('logs the transition once, with its reason, however many checks fail after it', async () => {
    ({ backends, lb } = await startFarm(2));
    await waitFor(() => backends.every((b) => b.passes >= 1), 2000, 'first checks');
    backends[0].mode = 'fail-500';
    await waitFor(() => targetOf(lb!, backends[0]).state === 'down', 2000, 'down');
    const pollsAtDown = backends[0].polls;
    await waitFor(() => backends[0].polls >= pollsAtDown + 5, 2000, 'five more failing checks');
    const downLines = lb.log.lines.filter((l) => l.includes(`target 127.0.0.1:${backends[0].port} is down`));
    expect(downLines).to.have.length(1);
    expect(downLines[0]).to.include(`reason="GET /.lb/health: status 500, expected 200 (${FALL} failed checks in a row)"`);
    expect(lb.log.lines.filter((l) => l.includes('[health-check]')), 'no per-check lines at info').to.deep.equal([]);
  });

  it('brings a down backend back after exactly rise passing checks, and sends it requests again', async () => {
    ({ backends, lb } = await startFarm(2));
    const [sick] = backends;
    sick.mode = 'fail-500';
    await waitFor(() => targetOf(lb!, sick).state === 'down', 2000, 'down');
    const passesBefore = sick.passes;
    let passesAtUp = -1;
    const up = whenState(lb, targetOf(lb, sick), 'up', () => { passesAtUp = sick.passes; });
    sick.mode = 'agent';
    const ms = await up;
    expect(passesAtUp - passesBefore, 'passing checks before it came back').to.equal(RISE);
    expect(ms).to.be.below(RISE * INTERVAL * (1 + JITTER) + SLACK);
    expect(targetOf(lb, sick).reason).to.equal(`passed ${RISE} checks`);
    const hitsAtUp = sick.hits;
    await getMany(lb.url, 10);
    expect(sick.hits - hitsAtUp).to.equal(5);
  });

  it('takes a killed backend (server closed) out, answers every request from the others, and rejoins it when it listens again', async () => {
    ({ backends, lb } = await startFarm(3));
    await waitFor(() => backends.every((b) => b.passes >= 1), 2000, 'first checks');
    const [victim] = backends;
    const target = targetOf(lb, victim);
    const down = whenState(lb, target, 'down');
    await victim.kill();
    expect(await down).to.be.below(DOWN_WITHIN);
    expect(target.reason).to.match(new RegExp(`^GET /\\.lb/health: ECONNREFUSED connect ECONNREFUSED 127\\.0\\.0\\.1:${victim.port} \\(${FALL} failed checks in a row\\)$`));
    const statuses = await getMany(lb.url, 20);
    expect(statuses).to.deep.equal(Array(20).fill(200));

    const up = whenState(lb, target, 'up');
    await victim.revive();
    await up;
    const hitsAtUp = victim.hits;
    await getMany(lb.url, 9);
    expect(victim.hits - hitsAtUp).to.equal(3);
  });

  it('counts an agent that reports "draining" as failing, with the agent\'s status as the reason', async () => {
    ({ backends, lb } = await startFarm(2));
    backends[0].mode = 'draining';
    await waitFor(() => targetOf(lb!, backends[0]).state === 'down', 2000, 'down');
    expect(targetOf(lb, backends[0]).reason).to.equal(`GET /.lb/health: status 503, expected 200; agent status "draining" (${FALL} failed checks in a row)`);
  });

  it('polls each backend\'s own sidecar port when it has a healthPort (several backends on one host), the plugin\'s port otherwise', async () => {
    // The "sidecars" are agent servers on their own ports; the app backends beside them answer traffic only.
    const sidecars = [await startAgentBackend('sidecar-a'), await startAgentBackend('sidecar-b')];
    const apps = [await startAgentBackend('app-a'), await startAgentBackend('app-b'), await startAgentBackend('app-c')];
    backends = [...apps, ...sidecars];
    lb = await startLb({
      backends: [{ url: apps[0].url, healthPort: sidecars[0].port }, { url: apps[1].url, healthPort: sidecars[1].port }, apps[2].url],
      strategy: 'round-robin',
      plugins: [{ use: 'health-check', options: checkOptions({}) }],
    });
    await waitFor(() => sidecars.every((s) => s.polls >= 2) && apps[2].polls >= 2, 2000, 'both sidecars and app-c polled');
    expect(apps.slice(0, 2).map((a) => a.polls), 'apps with a healthPort are never polled themselves').to.deep.equal([0, 0]);
    sidecars[1].mode = 'draining';
    const drained = targetOf(lb, apps[1]);
    await waitFor(() => drained.state === 'down', 2000, 'app-b down');
    expect(drained.reason).to.include('agent status "draining"');
    expect(targetOf(lb, apps[0]).state).to.equal('up');
    const hits = apps[1].hits;
    expect(await getMany(lb.url, 4)).to.deep.equal([200, 200, 200, 200]);
    expect(apps[1].hits - hits, 'nothing to the drained app').to.equal(0);
  });

  it('stores the load each agent reports in the target\'s metrics, with the time it arrived', async () => {
    ({ backends, lb } = await startFarm(2));
    const target = targetOf(lb, backends[0]);
    const startedAt = Date.now();
    await waitFor(() => target.metricsAt >= startedAt, 2000, 'metrics');
    const m = target.metrics;
    expect(m.cpu).to.be.within(0, 1);
    expect(m.memory).to.be.within(0, 1);
    expect(m.load).to.be.at.least(0);
    expect(m.rss).to.be.above(0);
    expect(m.inFlight).to.equal(0);
    expect(m.eventLoopUtilization).to.be.within(0, 1);
    const first = target.metricsAt;
    await waitFor(() => target.metricsAt > first, 1000, 'a newer report');
    expect(target.metricsAt - first).to.be.below(INTERVAL * (1 + JITTER) + SLACK);
  });

  it('starts a slow-start ramp for a backend that comes back, readable with target.slowStartFactor()', async () => {
    ({ backends, lb } = await startFarm(2, { slowStartMs: 1000 }));
    const target = targetOf(lb, backends[0]);
    expect(target.slowStartFactor(), 'no ramp at start').to.equal(1);
    backends[0].mode = 'fail-500';
    await waitFor(() => target.state === 'down', 2000, 'down');
    expect(target.slowStartFactor(), 'down').to.equal(1);
    backends[0].mode = 'agent';
    await waitFor(() => target.state === 'up', 2000, 'up');
    const upAt = target.changedAt;
    expect(target.slowStartFactor(upAt)).to.equal(SLOW_START_MIN_FACTOR);
    expect(target.slowStartFactor(upAt + 500)).to.equal(0.5);
    expect(target.slowStartFactor(upAt + 1000)).to.equal(1);
  });

  it('with format "none" judges the status code alone, on the configured path', async () => {
    let broken = false;
    const paths: string[] = [];
    const plain: TestBackend = await startBackend('plain', (req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(broken ? 404 : 204, { 'content-type': 'text/html' });
      res.end();
    });
    try {
      lb = await startLb({
        backends: [plain.url],
        plugins: [{ use: 'health-check', options: checkOptions({ format: 'none', path: '/healthz', expectStatus: [200, 204] }) }],
      });
      const target = lb.lb.pool.targets[0];
      await waitFor(() => paths.length >= 2, 2000, 'two checks');
      expect(target.state).to.equal('up');
      expect(target.metricsAt, 'no metrics from a status-only check').to.equal(0);
      broken = true;
      await waitFor(() => target.state === 'down', 2000, 'down');
      expect(target.reason).to.equal(`GET /healthz: status 404, expected 200 or 204 (${FALL} failed checks in a row)`);
      expect(new Set(paths)).to.deep.equal(new Set(['/healthz']));
    } finally {
      await lb?.close();
      await plain.close();
    }
  });

  it('stops polling when lb closes', async () => {
    ({ backends, lb } = await startFarm(1));
    await waitFor(() => backends[0].polls >= 2, 2000, 'polls');
    await lb.close();
    const polls = backends[0].polls;
    await sleep(INTERVAL * 4);
    expect(backends[0].polls).to.equal(polls);
  });
});
