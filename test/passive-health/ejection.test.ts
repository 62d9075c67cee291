import { expect } from 'chai';
import type { Socket } from 'node:net';
import { request, serversPerTest } from '../support/servers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('passive health (ejecting failing backends from live traffic)', () => {
  const servers = serversPerTest();

  it('ejects a backend after a failed attempt, sends it nothing while ejected, and takes it back after ejectMs', async () => {
    const resetter = await servers.backend('resetter', (req) => { (req.socket as Socket).destroy(); });
    const good = await servers.backend('good');
    const backends = [resetter, good];
    const lb = await servers.lb({ backends: backends.map((b) => b.url), plugins: [{ use: 'passive-health', options: { ejectMs: 400 } }] });
    for (let i = 0; i < 10; i++) expect((await request(lb.url)).status).to.equal(200);
    expect(resetter.hits).to.equal(1);
    const line = lb.log.lines.find((l) => l.includes(`target ${lb!.lb.pool.targets[0].id} is ejected`));
    expect(line).to.include('reason="1 failed attempt(s) in a row, last: LB_ERR_UPSTREAM_RESET; ejected for 400 ms"');
    await sleep(500);
    expect(lb.lb.pool.targets[0].state).to.equal('up');
    for (let i = 0; i < 4; i++) await request(lb.url);
    expect(resetter.hits).to.equal(2);
  });

  it('makes each ejection in a row last longer', async () => {
    const resetter = await servers.backend('resetter', (req) => { (req.socket as Socket).destroy(); });
    const backends = [resetter, await servers.backend('good')];
    const lb = await servers.lb({ backends: backends.map((b) => b.url), plugins: [{ use: 'passive-health', options: { ejectMs: 200 } }] });
    await request(lb.url);
    await sleep(250);
    for (let i = 0; i < 2; i++) await request(lb.url);
    expect(resetter.hits).to.equal(2);
    expect(lb.log.lines.some((l) => l.includes('ejected for 400 ms'))).to.equal(true);
  });

  it('ejects a backend after a burst of 5xx responses when consecutive5xx is set', async () => {
    const failing = await servers.backend('failing', (_req, res) => { res.writeHead(500); res.end('oops'); });
    const good = await servers.backend('good');
    const backends = [failing, good];
    const lb = await servers.lb({ backends: backends.map((b) => b.url), plugins: [{ use: 'passive-health', options: { consecutive5xx: 3 } }] });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await request(lb.url)).status);
    expect(failing.hits).to.equal(3);
    expect(statuses.filter((s) => s === 500).length).to.equal(3);
    expect(lb.lb.pool.targets[0].state).to.equal('ejected');
  });

  it('never ejects a lone backend, as nginx does', async () => {
    const resetter = await servers.backend('resetter', (req) => { (req.socket as Socket).destroy(); });
    const backends = [resetter];
    const lb = await servers.lb({ backends: [resetter.url] });
    for (let i = 0; i < 3; i++) expect((await request(lb.url)).status).to.equal(502);
    expect(resetter.hits).to.equal(3);
  });

  it('ejects no more than maxEjectedPercent of the backends', async () => {
    const backends = [
      await servers.backend('r1', (req) => { (req.socket as Socket).destroy(); }),
      await servers.backend('r2', (req) => { (req.socket as Socket).destroy(); }),
    ];
    const lb = await servers.lb({ backends: backends.map((b) => b.url), retries: { count: 0 }, plugins: [{ use: 'passive-health', options: { maxEjectedPercent: 50 } }] });
    for (let i = 0; i < 4; i++) expect((await request(lb.url)).status).to.equal(502);
    expect(lb.lb.pool.targets.map((t) => t.state).sort()).to.deep.equal(['ejected', 'up']);
    expect(lb.log.lines.some((l) => l.includes('failing but not ejected: maxEjectedPercent reached'))).to.equal(true);
  });

  it('answers 503 at once while every backend is ejected', async () => {
    const dead = [await servers.backend('dead-1'), await servers.backend('dead-2')];
    await Promise.all(dead.map((b) => b.close()));
    const lb = await servers.lb({ backends: dead.map((b) => b.url), retries: { count: 0 } });
    expect((await request(lb.url)).status).to.equal(502);
    expect((await request(lb.url)).status).to.equal(502);
    const second = await request(lb.url);
    expect(second.status).to.equal(503);
    expect(second.headers['retry-after']).to.equal('1');
  });
});
