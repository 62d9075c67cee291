import { expect } from 'chai';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { request, serversPerTest } from '../support/servers.js';

/** Sends raw bytes on a fresh connection and resolves with everything received until the server closes or `until` matches. */
function raw(port: number, text: string, until?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let got = '';
    socket.on('data', (c) => {
      got += c.toString('latin1');
      if (until?.test(got)) { socket.destroy(); resolve(got); }
    });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
}

describe('HTTP semantics of the proxy', () => {
  const servers = serversPerTest();

  it('sets X-Forwarded-For/-Proto/-Host and passes the client\'s Host', async () => {
    let seen: http.IncomingHttpHeaders = {};
    const backend = await servers.backend('h', (req, res) => { seen = req.headers; res.end(); });
    const lb = await servers.lb({ backends: [backend.url] });
    await request(lb.url, { headers: { host: 'shop.example', 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'spoofed.example' } });
    expect(seen.host).to.equal('shop.example');
    expect(seen['x-forwarded-for']).to.equal('203.0.113.7, 127.0.0.1');
    expect(seen['x-forwarded-proto']).to.equal('http');
    expect(seen['x-forwarded-host']).to.equal('shop.example');
  });

  it('removes hop-by-hop headers in both directions, including those named in Connection', async () => {
    let seen: http.IncomingHttpHeaders = {};
    const backend = await servers.backend('h', (req, res) => {
      seen = req.headers;
      res.writeHead(200, { connection: 'x-backend-hop', 'x-backend-hop': '1', 'keep-alive': 'timeout=99', 'x-end-to-end': 'kept', 'proxy-connection': 'keep-alive' });
      res.end('ok');
    });
    const lb = await servers.lb({ backends: [backend.url] });
    const response = await raw(lb.port,
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: close, x-client-hop\r\nX-Client-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nX-End-To-End: kept\r\n\r\n',
    );
    expect(seen).to.not.have.any.keys('x-client-hop', 'keep-alive', 'proxy-connection', 'te');
    expect(seen['x-end-to-end']).to.equal('kept');
    expect(seen.connection).to.equal('keep-alive');
    const head = response.split('\r\n\r\n')[0].toLowerCase();
    expect(head).to.include('x-end-to-end: kept');
    expect(head).to.not.include('x-backend-hop');
    expect(head).to.not.include('proxy-connection');
    expect(head).to.not.include('timeout=99');
  });

  it('reuses keep-alive connections to a backend across requests', async () => {
    let connections = 0;
    const backend = await servers.backend('ka');
    backend.server.on('connection', () => { connections++; });
    const lb = await servers.lb({ backends: [backend.url] });
    for (let i = 0; i < 50; i++) expect((await request(lb.url)).status).to.equal(200);
    expect(backend.hits).to.equal(50);
    expect(connections).to.equal(1);
    // Nothing accumulates on the reused connection: listeners per event stay as after one request.
    const free = Object.values((lb.lb.pool.targets[0].agent as unknown as { freeSockets: Record<string, import('node:net').Socket[]> }).freeSockets).flat();
    expect(free).to.have.length(1);
    for (const event of free[0].eventNames()) expect(free[0].listenerCount(event), String(event)).to.be.at.most(2);
  });

  it('keeps the backend\'s repeated Set-Cookie headers and status text', async () => {
    const backend = await servers.backend('c', (_req, res) => {
      res.statusMessage = 'Quite Created';
      res.writeHead(201, [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']].flat());
      res.end();
    });
    const lb = await servers.lb({ backends: [backend.url] });
    const response = await request(lb.url);
    expect(response.status).to.equal(201);
    expect(response.headers['set-cookie']).to.deep.equal(['a=1', 'b=2']);
  });

  it('tunnels WebSocket upgrades to the backend', async () => {
    const backend = await servers.backend('ws');
    let upgradeHeaders: http.IncomingHttpHeaders = {};
    backend.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
      upgradeHeaders = req.headers;
      const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      socket.on('data', (c: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), c])));
      // As a WebSocket server does: a closed client side closes the connection.
      socket.on('end', () => socket.end());
    });
    const lb = await servers.lb({ backends: [backend.url] });
    const key = Buffer.from('0123456789abcdef').toString('base64');
    const { res, socket } = await new Promise<{ res: http.IncomingMessage; socket: net.Socket }>((resolve, reject) => {
      const req = http.request(lb.url + '/chat', { agent: false, headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': key, 'sec-websocket-version': '13' } });
      req.on('upgrade', (r, s) => resolve({ res: r, socket: s }));
      req.on('error', reject);
      req.end();
    });
    expect(res.statusCode).to.equal(101);
    expect(res.headers['sec-websocket-accept']).to.equal(createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64'));
    expect(upgradeHeaders['x-forwarded-proto']).to.equal('ws');
    expect(lb.lb.pool.targets[0].inFlight).to.equal(1);
    const echoed = await new Promise<string>((resolve) => { socket.once('data', (c: Buffer) => resolve(c.toString())); socket.write('hello'); });
    expect(echoed).to.equal('echo:hello');
    socket.destroy();
    while (lb.lb.pool.targets[0].inFlight !== 0) await new Promise((r) => setTimeout(r, 5));
  });

  it('answers a WebSocket upgrade with 502 when the backend refuses it', async () => {
    const dead = await servers.backend('dead');
    await dead.close();
    const backend = await servers.backend('unused');
    const lb = await servers.lb({ backends: [dead.url] });
    const response = await raw(lb.port, 'GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    expect(response).to.match(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(response).to.include('(LB_ERR_UPSTREAM_CONNECT)');
  });
});
