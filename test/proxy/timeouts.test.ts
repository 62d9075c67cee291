import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { request, serversPerTest } from '../support/servers.js';

/**
 * A TCP listener that never accepts, with its backlog already full: the kernel drops
 * further SYNs, so a connection attempt to it hangs, as to an unreachable host.
 */
async function startBlackhole(): Promise<{ port: number; close(): void }> {
  const child: ChildProcess = spawn('python3', ['-c', [
    'import socket, sys, time',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'time.sleep(60)',
  ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 100));
  return { port, close: () => { fillers.forEach((s) => s.destroy()); child.kill(); } };
}

describe('timeouts', () => {
  const servers = serversPerTest();

  it('cuts off a client that sends its headers one byte at a time, with 408 at the header timeout', async () => {
    const backend = await servers.backend('b');
    const lb = await servers.lb({ backends: [backend.url], timeouts: { headerMs: 400 } });
    const started = Date.now();
    const socket = net.connect(lb.port, '127.0.0.1');
    const text = 'GET / HTTP/1.1\r\nHost: slow\r\nX-Padding: ' + 'a'.repeat(100);
    let i = 0;
    const drip = setInterval(() => { if (socket.writable && i < text.length) socket.write(text[i++]); }, 50);
    const received = await new Promise<string>((resolve) => {
      let got = '';
      socket.on('data', (c) => { got += c; });
      socket.on('close', () => resolve(got));
      socket.on('error', () => {});
    });
    clearInterval(drip);
    const elapsed = Date.now() - started;
    expect(received).to.match(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(received).to.include('408 Request Timeout (LB_ERR_CLIENT_HEADER_TIMEOUT)');
    expect(elapsed).to.be.within(350, 2000);
    expect(backend.hits).to.equal(0);
    expect(lb.log.lines.some((l) => l.includes('The client did not send complete request headers within 400 ms.'))).to.equal(true);
  });

  it('answers 504 when a backend accepts the request but stays silent past upstreamMs, and serves the next request', async () => {
    const backend = await servers.backend('silent', (req, res) => { if (req.url === '/ok') res.end('fine'); });
    const lb = await servers.lb({ backends: [backend.url], timeouts: { upstreamMs: 300 } });
    const started = Date.now();
    const response = await request(lb.url + '/hang');
    expect(response.status).to.equal(504);
    expect(response.body).to.equal('504 Gateway Timeout (LB_ERR_UPSTREAM_TIMEOUT)\n');
    expect(Date.now() - started).to.be.within(250, 1500);
    expect(lb.log.lines.some((l) => l.includes(`Backend 127.0.0.1:${backend!.port} sent nothing for 300 ms.`))).to.equal(true);
    expect((await request(lb.url + '/ok')).body).to.equal('fine');
  });

  it('answers 504 when connecting to a backend takes longer than connectMs', async () => {
    const hole = await startBlackhole();
    try {
      const lb = await servers.lb({ backends: [`http://127.0.0.1:${hole.port}`], timeouts: { connectMs: 300 } });
      const started = Date.now();
      const response = await request(lb.url);
      expect(response.status).to.equal(504);
      expect(response.body).to.equal('504 Gateway Timeout (LB_ERR_UPSTREAM_CONNECT_TIMEOUT)\n');
      expect(Date.now() - started).to.be.within(250, 1500);
    } finally {
      hole.close();
    }
  });

  it('closes an idle client keep-alive connection after clientIdleMs', async () => {
    const backend = await servers.backend('b');
    const lb = await servers.lb({ backends: [backend.url], timeouts: { clientIdleMs: 300 } });
    const socket = net.connect(lb.port, '127.0.0.1');
    const started = Date.now();
    let answered = false;
    socket.on('data', () => { answered = true; });
    socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    expect(answered).to.equal(true);
    expect(Date.now() - started).to.be.within(250, 2000);
  });

  it('does not time out a slow but steady response body', async () => {
    const backend = await servers.backend('steady', (_req, res) => {
      let n = 0;
      const timer = setInterval(() => { res.write('.'); if (++n === 6) { clearInterval(timer); res.end(); } }, 100);
    });
    const lb = await servers.lb({ backends: [backend.url], timeouts: { upstreamMs: 250 } });
    const response = await request(lb.url);
    expect(response.status).to.equal(200);
    expect(response.body).to.equal('......');
  });

  it('answers 431 to request headers over limits.maxHeaderBytes, and 400 to a malformed request', async () => {
    const backend = await servers.backend('b');
    const lb = await servers.lb({ backends: [backend.url], limits: { maxHeaderBytes: 2048 } });
    const big = await new Promise<string>((resolve) => {
      const s = net.connect(lb!.port, '127.0.0.1', () => s.write(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(4096)}\r\n\r\n`));
      let got = '';
      s.on('data', (c) => { got += c; });
      s.on('close', () => resolve(got));
      s.on('error', () => {});
    });
    expect(big).to.match(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    const bad = await new Promise<string>((resolve) => {
      const s = net.connect(lb!.port, '127.0.0.1', () => s.write('GARBAGE\r\n\r\n'));
      let got = '';
      s.on('data', (c) => { got += c; });
      s.on('close', () => resolve(got));
      s.on('error', () => {});
    });
    expect(bad).to.match(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(bad).to.include('(LB_ERR_CLIENT_BAD_REQUEST)');
    expect((await request(lb.url)).status).to.equal(200);
    expect(backend.hits).to.equal(1);
  });
});
