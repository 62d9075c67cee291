import { expect } from 'chai';
import type { Socket } from 'node:net';
import { request, serversPerTest } from '../support/servers.js';

describe('retrying failed attempts on other targets', () => {
  const servers = serversPerTest();

  function echo(name: string) {
    return servers.backend(name, (req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => res.end(`${name}:${req.method}:${body}`));
    });
  }

  it('sends a request whose connection was refused to another target, with its body intact', async () => {
    const dead = await servers.deadUrl();
    const backends = [await echo('alive')];
    const lb = await servers.lb({ backends: [dead, backends[0].url] });
    const get = await request(lb.url);
    expect(get.status).to.equal(200);
    expect(get.body).to.equal('alive:GET:');
    const post = await request(lb.url, { method: 'POST', body: 'x'.repeat(100000) });
    expect(post.status).to.equal(200);
    expect(post.body).to.equal(`alive:POST:${'x'.repeat(100000)}`);
    expect(lb.log.lines.some((l) => / warn  \[lb\] Could not connect to backend .* ECONNREFUSED .* Retrying on another target\. code=LB_ERR_UPSTREAM_CONNECT method=GET path=\/ attempt=1/.test(l))).to.equal(true);
  });

  it('retries a bodiless GET that a backend resets before its response headers', async () => {
    const resetter = await servers.backend('resetter', (req) => { (req.socket as Socket).destroy(); });
    const backends = [resetter, await echo('good')];
    const lb = await servers.lb({ backends: backends.map((b) => b.url) });
    const response = await request(lb.url + '/item');
    expect(response.status).to.equal(200);
    expect(response.body).to.equal('good:GET:');
    expect(resetter.hits).to.equal(1);
  });

  it('never replays a POST whose body has gone upstream: 502 when that backend resets', async () => {
    const resetter = await servers.backend('resetter', (req) => { req.once('data', () => (req.socket as Socket).destroy()); });
    const other = await echo('other');
    const backends = [resetter, other];
    const lb = await servers.lb({ backends: backends.map((b) => b.url) });
    const response = await request(lb.url + '/orders', { method: 'POST', body: 'order-1' });
    expect(response.status).to.equal(502);
    expect(response.body).to.equal('502 Bad Gateway (LB_ERR_UPSTREAM_RESET)\n');
    expect(resetter.hits).to.equal(1);
    expect(other.hits).to.equal(0);
  });

  it('does not retry a non-idempotent request after a reset, even without a body', async () => {
    const resetter = await servers.backend('resetter', (req) => { (req.socket as Socket).destroy(); });
    const other = await echo('other');
    const backends = [resetter, other];
    const lb = await servers.lb({ backends: backends.map((b) => b.url) });
    expect((await request(lb.url, { method: 'POST' })).status).to.equal(502);
    expect(other.hits).to.equal(0);
  });

  it('tries each target at most once, within the retry count, then answers with the last error', async () => {
    const dead = await Promise.all([servers.deadUrl(), servers.deadUrl(), servers.deadUrl()]);
    const backends = [await echo('alive')];
    // Passive health off, so that every request meets the dead targets again.
    const lb = await servers.lb({ backends: [...dead, backends[0].url], retries: { count: 1 }, plugins: [{ use: 'passive-health', enabled: false }] });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await request(lb.url)).status);
    // Round robin starts each request one target further: d1→d2 (502), d2→d3 (502), d3→alive, alive.
    expect(statuses).to.deep.equal([502, 502, 200, 200]);
    const all = await servers.lb({ backends: dead });
    const response = await request(all.url);
    expect(response.status).to.equal(502);
    expect(all.log.lines.filter((l) => l.includes('Retrying on another target')).length).to.equal(2);
  });
});
