import { expect } from 'chai';
import v8 from 'node:v8';
import vm from 'node:vm';
import { resolveConfig } from '../../core/index.js';
import { builtinPlugins } from '../../plugins/index.js';
import { builtinPresets } from '../../presets/index.js';
import { request, serversPerTest } from '../support/servers.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

describe('reload memory', function () {
  this.timeout(20000);
  const servers = serversPerTest();

  it('lets every replaced generation be garbage-collected once drained: ten reloads keep no old pipeline, pool or plugin state alive', async () => {
    const a = await servers.backend('a');
    const b = await servers.backend('b');
    const rc = (i: number) => ({
      backends: i % 2 ? [a.url, b.url] : [a.url], strategy: i % 2 ? 'least-connections' : 'round-robin',
      plugins: ['health-check', 'memory-keystore', 'compression'],
    });
    const lb = await servers.lb(rc(0));
    const old: Array<WeakRef<object>> = [];
    for (let i = 1; i <= 10; i++) {
      expect((await request(lb.url)).status).to.equal(200);
      old.push(new WeakRef(lb.lb.generation), new WeakRef(lb.lb.pipeline), new WeakRef(lb.lb.pool));
      const result = await lb.lb.reload(await resolveConfig(rc(i), '', { plugins: builtinPlugins, presets: builtinPresets }));
      expect(result.ok).to.equal(true);
    }
    expect((await request(lb.url)).status).to.equal(200);
    const deadline = Date.now() + 10_000;
    let alive = old.filter((r) => r.deref() !== undefined).length;
    while (alive > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      gc();
      alive = old.filter((r) => r.deref() !== undefined).length;
    }
    expect(alive, 'old generations, pipelines or pools still reachable').to.equal(0);
    expect(lb.lb.generation.number).to.equal(11);
  });
});
