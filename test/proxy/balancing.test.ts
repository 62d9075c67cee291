import { expect } from 'chai';
import { request, serversPerTest } from '../support/servers.js';

describe('balancing across backends', () => {
  const servers = serversPerTest();

  it('sends requests to each backend in turn with round robin', async () => {
    const backends = await Promise.all(['a', 'b', 'c'].map((n) => servers.backend(n)));
    const lb = await servers.lb({ backends: backends.map((b) => b.url) });
    const order: string[] = [];
    for (let i = 0; i < 9; i++) order.push((await request(lb.url)).headers['x-backend'] as string);
    expect(order).to.deep.equal(['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('spreads weighted backends smoothly, as nginx does (weights 5, 1, 1)', async () => {
    const backends = await Promise.all(['a', 'b', 'c'].map((n) => servers.backend(n)));
    const lb = await servers.lb({ backends: [{ url: backends[0].url, weight: 5 }, backends[1].url, backends[2].url] });
    const order: string[] = [];
    for (let i = 0; i < 14; i++) order.push((await request(lb.url)).headers['x-backend'] as string);
    expect(order.join('')).to.equal('aabacaa'.repeat(2));
  });

  it('answers 502 when a backend refuses connections (retries off), and keeps serving through the others', async () => {
    const dead = await servers.backend('dead');
    await dead.close();
    const alive = await servers.backend('alive');
    const lb = await servers.lb({ backends: [dead.url, alive.url], retries: { count: 0 } });
    const first = await request(lb.url + '/x');
    const second = await request(lb.url + '/y');
    expect(first.status).to.equal(502);
    expect(first.body).to.equal('502 Bad Gateway (LB_ERR_UPSTREAM_CONNECT)\n');
    expect(first.headers['content-type']).to.equal('text/plain; charset=utf-8');
    expect(second.status).to.equal(200);
    expect(second.headers['x-backend']).to.equal('alive');
    const line = lb.log.lines.find((l) => l.includes('Could not connect'));
    expect(line).to.match(new RegExp(`Could not connect to backend 127\\.0\\.0\\.1:${dead.port}: ECONNREFUSED .* code=LB_ERR_UPSTREAM_CONNECT method=GET path=/x target=127\\.0\\.0\\.1:${dead.port} status=502`));
  });

  it('answers 503 with Retry-After when every backend is down, and recovers when one is back', async () => {
    const backends = [await servers.backend('a')];
    const lb = await servers.lb({ backends: [backends[0].url] });
    const target = lb.lb.pool.targets[0];
    lb.lb.pool.setState(target, 'down', 'test says so');
    const down = await request(lb.url);
    expect(down.status).to.equal(503);
    expect(down.headers['retry-after']).to.equal('1');
    expect(down.body).to.equal('503 Service Unavailable (LB_ERR_TARGET_NONE_AVAILABLE)\n');
    expect(backends[0].hits).to.equal(0);
    lb.lb.pool.setState(target, 'up', 'test says so');
    expect((await request(lb.url)).status).to.equal(200);
    expect(lb.log.lines.some((l) => l.includes(`target ${target.id} is down previous=up reason="test says so"`))).to.equal(true);
  });

  it('tracks requests in flight per target and releases them when responses end', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const backends = [await servers.backend('slow', (_req, res) => { void gate.then(() => res.end('done')); })];
    const lb = await servers.lb({ backends: [backends[0].url] });
    const pending = Promise.all([request(lb.url), request(lb.url)]);
    while (backends[0].hits < 2) await new Promise((r) => setTimeout(r, 5));
    expect(lb.lb.pool.targets[0].inFlight).to.equal(2);
    release();
    await pending;
    expect(lb.lb.pool.targets[0].inFlight).to.equal(0);
  });
});
