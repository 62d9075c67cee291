import { expect } from 'chai';
import http from 'node:http';
import { request, startBackend, startLb, type TestBackend } from '../support/servers.js';

function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length;
}

describe('shutting down', () => {
  let backend: TestBackend | undefined;

  afterEach(async () => {
    await backend?.close();
    backend = undefined;
  });

  it('lets an in-flight request finish, refuses new connections, and leaves no socket open', async () => {
    const before = tcpHandles();
    backend = await startBackend('slow', (_req, res) => { setTimeout(() => res.end('finished'), 300); });
    const lb = await startLb({ backends: [backend.url] });
    await request(lb.url);
    const inFlight = request(lb.url + '/slow');
    while (backend.hits < 2) await new Promise((r) => setTimeout(r, 5));
    const closed = lb.close();
    await new Promise((r) => setTimeout(r, 50));
    const refused = await request(lb.url).then(() => 'served', (e: NodeJS.ErrnoException) => e.code);
    expect(refused).to.equal('ECONNREFUSED');
    const response = await inFlight;
    expect(response.status).to.equal(200);
    expect(response.body).to.equal('finished');
    await closed;
    await backend.close();
    backend = undefined;
    await new Promise((r) => setTimeout(r, 20));
    expect(tcpHandles()).to.equal(before);
  });

  it('closes requests still running when the grace period ends', async () => {
    backend = await startBackend('stuck', () => { /* never answers */ });
    const lb = await startLb({ backends: [backend.url], timeouts: { shutdownGraceMs: 200 } });
    const pending = new Promise<string>((resolve) => {
      http.get(lb.url, { agent: false }, () => resolve('answered')).on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    while (backend.hits < 1) await new Promise((r) => setTimeout(r, 5));
    const started = Date.now();
    await lb.close();
    expect(Date.now() - started).to.be.within(150, 1000);
    expect(await pending).to.equal('ECONNRESET');
    expect(lb.log.lines.some((l) => l.includes('shutdown grace period over; closing remaining connections inFlight=1'))).to.equal(true);
  });
});
