import { expect } from 'chai';
import http from 'node:http';
import type { Socket } from 'node:net';
import { request, serversPerTest } from '../support/servers.js';

const MB = 1024 * 1024;

interface UploadResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
  socket: Socket;
  /** The client's request error, if its upload was cut (EPIPE, ECONNRESET). */
  requestError?: string;
}

/**
 * POSTs `total` bytes to `url` in 64 KB writes that respect backpressure, chunked
 * unless `contentLength`; resolves once the response has ended and the request has closed.
 */
function upload(url: string, total: number, options: { contentLength?: boolean; agent?: http.Agent | false } = {}): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = options.contentLength ? { 'content-length': total } : {};
    const req = http.request(url, { method: 'POST', headers, agent: options.agent ?? false });
    let requestError: string | undefined;
    let response: Omit<UploadResult, 'requestError'> | undefined;
    let closed = false;
    let res0: http.IncomingMessage | undefined;
    const done = () => {
      if (response && closed) resolve({ ...response, requestError });
    };
    req.on('error', (e: NodeJS.ErrnoException) => {
      requestError = e.code ?? e.message;
      // An error before any response fails the upload; after it, the result reports it.
      if (response === undefined && !res0) reject(e);
    });
    req.on('close', () => { closed = true; done(); });
    req.on('response', (res) => {
      res0 = res;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        response = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), reusedSocket: req.reusedSocket, socket: req.socket as Socket };
        done();
      });
    });
    const piece = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    const write = () => {
      while (sent < total && !req.destroyed) {
        const n = Math.min(piece.length, total - sent);
        sent += n;
        if (!req.write(n === piece.length ? piece : piece.subarray(0, n))) {
          req.once('drain', write);
          return;
        }
      }
      if (!req.destroyed) req.end();
    };
    write();
  });
}

/** A request after the early response reaches the backend on a new connection: the one still expecting the upload was not reused. */
async function expectFreshBackendConnection(lbUrl: string, connections: () => number): Promise<void> {
  const before = connections();
  const next = await request(lbUrl);
  expect(next.status).to.equal(200);
  expect(next.body).to.equal('ok');
  expect(connections()).to.equal(before + 1);
}

describe('lb relaying a backend\'s early response to an upload', () => {
  const servers = serversPerTest();

  /** Answers 401 to a POST at once, without reading its body; 200 `ok` to anything else. */
  async function earlyBackend() {
    let connections = 0;
    const backend = await servers.backend('early', (req, res) => {
      if (req.method === 'POST') {
        res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Basic realm="test"' });
        res.end('login first\n');
        return;
      }
      req.resume();
      res.end('ok');
    });
    backend.server.on('connection', () => { connections++; });
    return { backend, connections: () => connections };
  }

  it('ends a 20 MB chunked upload with the backend\'s 401 and closes the connection', async function () {
    this.timeout(20000);
    const { backend, connections } = await earlyBackend();
    const lb = await servers.lb({ backends: [backend.url] });

    const result = await upload(lb.url, 20 * MB);

    expect(result.status).to.equal(401);
    expect(result.body).to.equal('login first\n');
    expect(result.headers['www-authenticate']).to.equal('Basic realm="test"');
    expect(result.headers.connection).to.equal('close');
    expect(result.requestError, 'the client\'s upload was cut').to.equal(undefined);
    expect(backend.hits).to.equal(1);
    await expectFreshBackendConnection(lb.url, connections);
  });

  it('ends a 20 MB Content-Length upload with the backend\'s 401 and closes the connection', async function () {
    this.timeout(20000);
    const { backend, connections } = await earlyBackend();
    const lb = await servers.lb({ backends: [backend.url] });

    const result = await upload(lb.url, 20 * MB, { contentLength: true });

    expect(result.status).to.equal(401);
    expect(result.body).to.equal('login first\n');
    expect(result.headers.connection).to.equal('close');
    expect(result.requestError, 'the client\'s upload was cut').to.equal(undefined);
    expect(backend.hits).to.equal(1);
    await expectFreshBackendConnection(lb.url, connections);
  });

  it('drains a 10 KB Content-Length upload after the backend\'s 401 and serves the next request on the same connection', async function () {
    this.timeout(20000);
    const early = await earlyBackend();
    const lb = await servers.lb({ backends: [early.backend.url] });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await upload(lb.url, 10 * 1024, { contentLength: true, agent });
      expect(first.status).to.equal(401);
      expect(first.body).to.equal('login first\n');
      expect(first.headers.connection).to.equal('keep-alive');
      expect(first.reusedSocket).to.equal(false);

      const second = await new Promise<{ status: number; body: string; reused: boolean; socket: Socket }>((resolve, reject) => {
        const req = http.get(lb.url, { agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), reused: req.reusedSocket, socket: req.socket as Socket }));
        });
        req.on('error', reject);
      });
      expect(second.status).to.equal(200);
      expect(second.body).to.equal('ok');
      expect(second.reused).to.equal(true);
      expect(second.socket).to.equal(first.socket);
      expect(early.backend.hits).to.equal(2);
    } finally {
      agent.destroy();
    }
  });
});
