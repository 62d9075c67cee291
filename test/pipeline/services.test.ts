import { expect } from 'chai';
import { LbError, resolveConfig, serviceKey, Services } from '../../core/index.js';
import { builtinPlugins } from '../../plugins/index.js';
import { builtinPresets } from '../../presets/index.js';
import { applied, GREETING, type Greeter } from '../fixtures/plugins/service-keys.js';
import { request, serversPerTest, startLb } from '../support/servers.js';

const backends = ['http://127.0.0.1:1'];
const fixture = (name: string) => `./test/fixtures/plugins/${name}.ts`;
const [HELLO, HOWDY, CONSUMER] = [fixture('service-hello'), fixture('service-howdy'), fixture('service-consumer')];

const resolve = (rc: Record<string, unknown>) => resolveConfig({ backends, ...rc }, '', { plugins: builtinPlugins, presets: builtinPresets });

/** The problems resolveConfig reports for `rc`, as `lb validate` prints them. */
async function problems(rc: Record<string, unknown>): Promise<string[]> {
  try {
    await resolve(rc);
  } catch (e) {
    expect(e).to.be.instanceOf(LbError);
    expect((e as LbError).code).to.equal('LB_ERR_CONFIG_INVALID');
    return [...(e as LbError).details];
  }
  throw new Error('expected the configuration to be rejected');
}

/** The error lb refuses to start with, as `CODE: message`. */
async function startFailure(rc: Record<string, unknown>): Promise<string> {
  try {
    const lb = await startLb({ backends, ...rc });
    await lb.close();
  } catch (e) {
    expect(e).to.be.instanceOf(LbError);
    return `${(e as LbError).code}: ${(e as LbError).message}`;
  }
  throw new Error('expected lb to refuse to start');
}

describe('services between plugins', () => {
  const servers = serversPerTest();
  beforeEach(() => { applied.length = 0; });

  describe('when the configuration is resolved', () => {
    it('reports a required service that no loaded plugin provides, naming the plugin and the catalog plugins that could', async () => {
      expect(await problems({ plugins: [CONSUMER] })).to.deep.equal([
        ' - plugins: Plugin "service-consumer" requires the service "greeting", which no loaded plugin provides. (LB_ERR_SERVICE_MISSING)\n   -> Add a plugin that provides the service to `plugins` in the rc file.',
      ]);
      expect(await problems({ plugins: [fixture('service-keystore-user')] })).to.deep.equal([
        ' - plugins: Plugin "service-keystore-user" requires the service "keystore", which no loaded plugin provides. Plugins that provide it: memory-keystore. (LB_ERR_SERVICE_MISSING)\n   -> Add a plugin that provides the service to `plugins` in the rc file.',
      ]);
    });

    it('reports a service that two loaded plugins provide unless the rc chooses one', async () => {
      const expected = ' - plugins: The service "greeting" is provided by "service-hello" and "service-howdy"; choose one. (LB_ERR_SERVICE_AMBIGUOUS)\n   -> Name the provider in the rc: `"services": { "SERVICE": "PLUGIN" }`, or drop the other plugins.';
      expect(await problems({ plugins: [HELLO, HOWDY, CONSUMER] })).to.deep.equal([expected]);
      // Ambiguous even when nothing requires it.
      expect(await problems({ plugins: [HELLO, HOWDY] })).to.deep.equal([expected]);
      const chosen = await resolve({ plugins: [HELLO, HOWDY, CONSUMER], services: { greeting: 'service-howdy' } });
      expect(chosen.services.chosen.get('greeting')).to.equal('service-howdy');
    });

    it('reports a chosen provider that is not loaded or does not provide the service', async () => {
      expect(await problems({ plugins: [HELLO], services: { greeting: 'service-consumer' } })).to.deep.equal([
        ' - services: services.greeting names "service-consumer", which is not a loaded plugin providing "greeting". (LB_ERR_SERVICE_UNKNOWN_PROVIDER)\n   -> Name one of the loaded plugins that provide the service, or add the plugin to `plugins`.',
      ]);
      expect(await problems({ services: { keystore: 'memory-keystore' } })).to.deep.equal([
        ' - services: services.keystore names "memory-keystore", which is not a loaded plugin providing "keystore". Plugins that provide it: memory-keystore. (LB_ERR_SERVICE_UNKNOWN_PROVIDER)\n   -> Name one of the loaded plugins that provide the service, or add the plugin to `plugins`.',
      ]);
    });

    it('reports plugins that require each other\'s services', async () => {
      expect(await problems({ plugins: [fixture('service-cycle-a'), fixture('service-cycle-b')] })).to.deep.equal([
        ' - plugins: Plugins require each other\'s services in a cycle: service-cycle-a → service-cycle-b → service-cycle-a. (LB_ERR_SERVICE_CYCLE)\n   -> Break the cycle: one of the plugins must not require the other\'s service.',
      ]);
    });

    it('orders providers before the plugins that require them, whatever the rc order', async () => {
      for (const plugins of [[CONSUMER, HELLO], [HELLO, CONSUMER]]) {
        const resolved = await resolve({ plugins });
        expect(resolved.applyOrder.map((p) => p.plugin.name)).to.deep.equal(['round-robin', 'passive-health', 'service-hello', 'service-consumer']);
      }
    });
  });

  describe('when plugins are applied', () => {
    it('applies the provider first, so the requirer gets the service in its own apply', async () => {
      const lb = await servers.lb({ backends, plugins: [CONSUMER, HELLO] });
      expect(applied).to.deep.equal(['service-hello', 'service-consumer']);
      expect((await request(lb.url + '/.lb/greet?who=you')).body).to.equal('hello, you (from service-hello)');
    });

    it('gives the requirer the provider the rc chose, whichever is listed first', async () => {
      for (const [choice, body] of [['service-howdy', 'howdy, you (from service-howdy)'], ['service-hello', 'hello, you (from service-hello)']]) {
        const lb = await servers.lb({ backends, plugins: [HELLO, HOWDY, CONSUMER], services: { greeting: choice } });
        expect((await request(lb.url + '/.lb/greet?who=you')).body).to.equal(body);
      }
    });

    it('refuses a plugin that provides or gets a service it did not declare', async () => {
      expect(await startFailure({ plugins: [{ use: fixture('service-undeclared'), options: { use: 'provide' } }] }))
        .to.equal('LB_ERR_SERVICE_UNDECLARED: Plugin "service-undeclared" used the service "greeting" without declaring it in provides.');
      expect(await startFailure({ plugins: [HELLO, { use: fixture('service-undeclared'), options: { use: 'get' } }] }))
        .to.equal('LB_ERR_SERVICE_UNDECLARED: Plugin "service-undeclared" used the service "greeting" without declaring it in requires.');
    });

    it('refuses a chosen provider that did not provide what it declared, and ignores one that was not chosen', async () => {
      expect(await startFailure({ plugins: [{ use: HELLO, options: { provide: false } }, CONSUMER] }))
        .to.equal('LB_ERR_SERVICE_NOT_PROVIDED: Plugin "service-hello" declares that it provides "greeting" but did not provide it in apply().');
      const lb = await servers.lb({ backends, plugins: [{ use: HELLO, options: { provide: false } }, HOWDY, CONSUMER], services: { greeting: 'service-howdy' } });
      expect((await request(lb.url + '/.lb/greet?who=me')).body).to.equal('howdy, me (from service-howdy)');
    });

    it('refuses services once the pipeline is sealed', async () => {
      const lb = await servers.lb({ backends, plugins: [HELLO] });
      expect(() => lb.lb.pipeline.services.get(GREETING)).to.throw(LbError, 'Cannot tap hook services.get(greeting) as "unknown": the pipeline is sealed once lb starts.');
      expect(() => lb.lb.pipeline.services.provide(GREETING, { greet: () => '' })).to.throw(LbError, 'Cannot tap hook services.provide(greeting) as "unknown": the pipeline is sealed once lb starts.');
    });
  });

  it('types a service by its key', () => {
    const services = new Services(new Map([['greeting', 'p']]));
    services.applying = { name: 'p', provides: ['greeting'], requires: [] };
    services.provide(GREETING, { greet: (who) => `hi ${who}` });
    const greeter: Greeter = services.get(GREETING);
    expect(greeter.greet('x')).to.equal('hi x');
    // @ts-expect-error a Greeter is not a number: the key carries the type.
    const wrong: number = services.get(GREETING);
    expect(typeof wrong).to.equal('object');
    const key = serviceKey<number>('count');
    expect(key).to.deep.equal({ name: 'count' });
    expect(Object.isFrozen(key)).to.equal(true);
  });
});
