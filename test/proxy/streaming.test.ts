import { expect } from 'chai';
import http from 'node:http';
import { Readable } from 'node:stream';
import { serversPerTest } from '../support/servers.js';

const MB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

/** A readable of `total` bytes made of one reused chunk: it costs no memory itself. */
function bytes(total: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(CHUNK.length, total - sent);
      sent += n;
      this.push(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    },
  });
}

/** Samples this process's RSS while `work` runs; resolves with the peak growth in MB. */
async function peakRssGrowth(work: () => Promise<void>): Promise<number> {
  global.gc?.();
  const base = process.memoryUsage.rss();
  let peak = base;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 20);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return (Math.max(peak, process.memoryUsage.rss()) - base) / MB;
}

describe('streaming bodies through the proxy', function () {
  this.timeout(60000);
  const servers = serversPerTest();

  it('passes a 200 MB upload and a 200 MB download through with memory growth under 100 MB', async () => {
    let received = 0;
    const backend = await servers.backend('big', (req, res) => {
      if (req.method === 'POST') {
        req.on('data', (c: Buffer) => { received += c.length; });
        req.on('end', () => res.end(String(received)));
      } else {
        res.writeHead(200, { 'content-length': 200 * MB });
        bytes(200 * MB).pipe(res);
      }
    });
    const lb = await servers.lb({ backends: [backend.url] });
    let downloaded = 0;
    const growth = await peakRssGrowth(async () => {
      const upload = await new Promise<string>((resolve, reject) => {
        const req = http.request(lb.url + '/up', { method: 'POST', agent: false }, (res) => {
          let body = '';
          res.on('data', (c) => { body += c; });
          res.on('end', () => resolve(body));
        });
        req.on('error', reject);
        bytes(200 * MB).pipe(req);
      });
      expect(upload).to.equal(String(200 * MB));
      await new Promise<void>((resolve, reject) => {
        http.get(lb.url + '/down', { agent: false }, (res) => {
          expect(res.headers['content-length']).to.equal(String(200 * MB));
          res.on('data', (c: Buffer) => { downloaded += c.length; });
          res.on('end', resolve);
          res.on('error', reject);
        }).on('error', reject);
      });
    });
    expect(received).to.equal(200 * MB);
    expect(downloaded).to.equal(200 * MB);
    expect(growth).to.be.below(100);
  });

  it('aborts the upstream request when the client disconnects mid-upload', async () => {
    let upstreamClosed!: (aborted: boolean) => void;
    const closed = new Promise<boolean>((r) => { upstreamClosed = r; });
    const backend = await servers.backend('slow-reader', (req, res) => {
      req.on('data', () => {});
      req.on('close', () => upstreamClosed(!req.complete));
      res.on('close', () => {});
    });
    const lb = await servers.lb({ backends: [backend.url] }, 'debug');
    const req = http.request(lb.url + '/upload', { method: 'POST', agent: false, headers: { 'content-length': String(10 * MB) } });
    req.on('error', () => {});
    req.write(Buffer.alloc(256 * 1024));
    while (backend.hits === 0) await new Promise((r) => setTimeout(r, 5));
    req.destroy();
    expect(await closed).to.equal(true);
    while (lb.lb.pool.targets[0].inFlight !== 0) await new Promise((r) => setTimeout(r, 5));
    // The client's side ended mid-body: logged as an incomplete body (a client that half-closed gets the 400).
    expect(lb.log.lines.some((l) => l.includes('The request body ended before its declared length') || l.includes('The client closed the connection before the response was complete.'))).to.equal(true);
  });

  it('aborts the upstream response when the client disconnects mid-download', async () => {
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((r) => { upstreamClosed = r; });
    const backend = await servers.backend('endless', (_req, res) => {
      res.writeHead(200);
      const source = bytes(1024 * MB);
      source.pipe(res);
      res.on('close', () => { source.destroy(); upstreamClosed(); });
    });
    const lb = await servers.lb({ backends: [backend.url] });
    await new Promise<void>((resolve) => {
      http.get(lb.url, { agent: false }, (res) => {
        let got = 0;
        res.on('data', (c: Buffer) => {
          got += c.length;
          if (got > MB) { res.destroy(); resolve(); }
        });
      });
    });
    await closed;
  });
});
