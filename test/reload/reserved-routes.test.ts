import { expect } from 'chai';
import { createLoadBalancer, type LoadBalancer } from '../../core/index.js';
import { resetEvents } from '../fixtures/plugins/reload-lifecycle.js';
import { captureLog, closeAfterEach, request } from '../support/servers.js';
import { resolveRc, startCountingBackend, type CountingBackend } from './helpers.js';

describe('LoadBalancer.reload and the routes under /.lb/', () => {
  let a: CountingBackend | undefined;
  let b: CountingBackend | undefined;
  let lb: LoadBalancer | undefined;
  closeAfterEach(() => [lb, a, b]);
  beforeEach(resetEvents);

  it('answers an unclaimed /.lb/ path with lb\'s 404, and a route a reload dropped too, without any backend seeing them', async () => {
    a = await startCountingBackend('a');
    b = await startCountingBackend('b');
    const lifecycle = (label: string) => ({ use: './test/fixtures/plugins/reload-lifecycle.ts', options: { label } });
    lb = await createLoadBalancer(await resolveRc({ backends: [a.url], plugins: [lifecycle('g1')] }), { logger: captureLog().logger });
    const { url } = await lb.listen(0, '127.0.0.1');
    const notFound = async (path: string) => {
      const r = await request(url + path);
      expect({ status: r.status, body: r.body }, path).to.deep.equal({ status: 404, body: '404 Not Found (LB_ERR_ROUTE_NOT_FOUND)\n' });
    };
    const claimed = async () => JSON.parse((await request(`${url}/.lb/reload-lifecycle`)).body) as { label: string; kept: number };

    await notFound('/.lb/anything-unclaimed');
    await notFound('/.lb/health');
    expect(await claimed()).to.deep.equal({ label: 'g1', kept: 1 });

    // Generation 2 has the route with other options, and another backend.
    expect((await lb.reload(() => resolveRc({ backends: [a!.url, b!.url], plugins: [lifecycle('g2')] }))).ok).to.equal(true);
    await notFound('/.lb/anything-unclaimed');
    expect(await claimed()).to.deep.equal({ label: 'g2', kept: 1 });

    // Generation 3 drops the plugin: its path is unclaimed now.
    expect((await lb.reload(() => resolveRc({ backends: [a!.url, b!.url] }))).ok).to.equal(true);
    await notFound('/.lb/anything-unclaimed');
    await notFound('/.lb/reload-lifecycle');
    await notFound('/%2Elb/reload-lifecycle');

    expect(a.hits + b.hits).to.equal(0);
    // The backends are there all along: an ordinary path reaches them.
    expect((await request(`${url}/ordinary`)).status).to.equal(200);
    expect([...a.paths, ...b.paths]).to.deep.equal(['/ordinary']);
  });
});
