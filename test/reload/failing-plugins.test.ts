import { expect } from 'chai';
import { createLoadBalancer, type LoadBalancer } from '../../core/index.js';
import { events, resetEvents } from '../fixtures/plugins/reload-lifecycle.js';
import { captureLog, closeAfterEach, request } from '../support/servers.js';
import { resolveRc, startCountingBackend, untimed, waitFor, type CountingBackend } from './helpers.js';

const fixture = (name: string) => `./test/fixtures/plugins/${name}.ts`;

describe('LoadBalancer.reload with a plugin that fails', () => {
  let a: CountingBackend | undefined;
  let b: CountingBackend | undefined;
  let lb: LoadBalancer | undefined;
  closeAfterEach(() => [lb, a, b]);
  beforeEach(resetEvents);

  /** Generation 1: backend a (which answers /slow after 300 ms), round robin, health checks of /health every 50 ms. */
  const health = (path: string) => ({ use: 'health-check', options: { intervalMs: 50, format: 'none', path } });
  async function start() {
    a = await startCountingBackend('a');
    b = await startCountingBackend('b');
    const log = captureLog();
    lb = await createLoadBalancer(await resolveRc({ backends: [a.url], plugins: [health('/health')] }), { logger: log.logger });
    const { url } = await lb.listen(0, '127.0.0.1');
    return { url, log };
  }

  /** Checks that generation 1 serves as it did: backend a alone, with no fixture's header, and its own timeouts and weights. */
  async function expectGenerationOneServing(url: string) {
    expect(lb!.generation.number).to.equal(1);
    expect(lb!.pool.targets.map((t) => t.id)).to.deep.equal([a!.id]);
    for (let i = 0; i < 4; i++) {
      const r = await request(url);
      expect(r.status).to.equal(200);
      expect(JSON.parse(r.body).backend).to.equal('a');
      expect(r.headers['x-reload-fixture']).to.equal(undefined);
    }
    expect(b!.hits).to.equal(0);
    expect(lb!.pool.get(a!.id)!.weight).to.equal(1);
  }

  const cases = [
    {
      step: 'apply',
      plugin: 'reload-throwing-apply',
      message: 'reload refused; generation 1 keeps serving: Plugin "reload-throwing-apply" failed in hook apply: cannot open /nonexistent/secrets.json (LB_ERR_PLUGIN_HOOK_FAILED) generation=1 code=LB_ERR_PLUGIN_HOOK_FAILED',
      // Applied before the failing plugin, so its kept value is created, then closed with the refused generation.
      events: ['apply:refused', 'keep-init:1', 'keep-close:1'],
    },
    {
      step: 'start',
      plugin: 'reload-throwing-start',
      message: 'reload refused; generation 1 keeps serving: Plugin "reload-throwing-start" failed in hook start: port 1 is not reachable (LB_ERR_PLUGIN_HOOK_FAILED) generation=1 code=LB_ERR_PLUGIN_HOOK_FAILED',
      // Started before the failing plugin, so stopped again, and its kept value closed.
      events: ['apply:refused', 'keep-init:1', 'start:refused', 'stop:refused', 'keep-close:1'],
    },
  ];

  for (const c of cases) {
    it(`keeps generation 1 serving, as it was, when a plugin throws in ${c.step}, and logs the plugin and the step`, async () => {
      const { url, log } = await start();
      await expectGenerationOneServing(url);
      const rc = {
        strategy: 'least-connections',
        backends: [{ url: a!.url, weight: 5 }, b!.url],
        timeouts: { upstreamMs: 100 },
        plugins: [health('/refused-health'), { use: fixture('reload-lifecycle'), options: { label: 'refused' } }, fixture(c.plugin)],
      };
      const result = await lb!.reload(() => resolveRc(rc));
      expect(result.ok).to.equal(false);
      expect(result.generation).to.equal(1);
      expect(log.lines.map(untimed).filter((l) => l.startsWith('error'))).to.deep.equal([`error [lb] ${c.message}`]);
      expect(events).to.deep.equal(c.events);

      await expectGenerationOneServing(url);
      // The refused generation's upstreamMs (100 ms) is not in force: a 300 ms answer still gets through.
      expect((await request(`${url}/slow/300`)).status).to.equal(200);
      // Its health checks were stopped with it: while generation 1 polls /health five more times, nothing polls /refused-health.
      const polls = a!.polls;
      await waitFor('five more polls from generation 1', () => a!.polls >= polls + 5);
      expect(a!.paths.filter((p) => p.includes('health'))).to.deep.equal([]);

      // Fixed, the change goes through, as generation 2.
      const fixed = await lb!.reload(() => resolveRc({ ...rc, plugins: rc.plugins.slice(0, 2) }));
      expect(fixed.ok && fixed.generation).to.equal(2);
      const r = await request(url);
      expect(r.status).to.equal(200);
      expect(lb!.pool.get(a!.id)!.weight).to.equal(5);
      expect(JSON.parse((await request(`${url}/.lb/reload-lifecycle`)).body)).to.deep.equal({ label: 'refused', kept: 2 });
    });
  }

  it('keeps generation 1 serving when a plugin requires a service no plugin provides, and logs the plugin, the service and who could provide it', async () => {
    const { url, log } = await start();
    const rc = { backends: [a!.url, b!.url], plugins: [health('/refused-health'), fixture('reload-needs-keystore')] };
    const result = await lb!.reload(() => resolveRc(rc));
    expect(result.ok).to.equal(false);
    expect(result.generation).to.equal(1);
    expect(log.lines.map(untimed).filter((l) => l.startsWith('error'))).to.deep.equal([[
      'error [lb] reload refused; generation 1 keeps serving: Invalid configuration in (defaults; no rc file) (LB_ERR_CONFIG_INVALID)',
      ' - plugins: Plugin "reload-needs-keystore" requires the service "keystore", which no loaded plugin provides. Plugins that provide it: memory-keystore. (LB_ERR_SERVICE_MISSING)',
      '   -> Add a plugin that provides the service to `plugins` in the rc file. generation=1 code=LB_ERR_CONFIG_INVALID',
    ].join('\n')]);
    await expectGenerationOneServing(url);

    // With a provider listed (after it: providers are applied first), the same change goes through.
    const fixed = await lb!.reload(() => resolveRc({ ...rc, plugins: [...rc.plugins, 'memory-keystore'] }));
    expect(fixed.ok && fixed.generation).to.equal(2);
    expect(fixed.ok && fixed.changes.pluginsAdded).to.deep.equal(['reload-needs-keystore', 'memory-keystore']);
  });
});
