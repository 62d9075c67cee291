import { expect } from 'chai';
import http from 'node:http';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { serversPerTest, startBackend, startLb, type TestBackend, type TestLb } from '../support/servers.js';
import { rawRequest, text } from './helpers.js';

/** What the backend saw of the last request. */
interface Seen {
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Bytes received so far (also for requests that never complete). */
  received: number;
  aborted: boolean;
}

const MiB = 1024 * 1024;

/** Zeros, `total` bytes, produced lazily: the source of a decompression bomb. */
function zeros(total: number): Readable {
  const chunk = Buffer.alloc(256 * 1024);
  let left = total;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(chunk.length, left);
      left -= n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

/**
 * Streams `body` (compressed on the fly) as a request, and resolves with the response
 * and how many bytes the client managed to send before lb answered and closed.
 */
function upload(url: string, coding: string, body: Readable): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders; sent: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/octet-stream', 'content-encoding': coding } }, (res) => {
      let t = '';
      res.on('data', (c: Buffer) => { t += c.toString(); });
      res.on('end', () => {
        body.destroy();
        resolve({ status: res.statusCode ?? 0, text: t, headers: res.headers, sent });
      });
    });
    // Writes fail once lb closes the connection after answering: expected here.
    req.on('error', (e) => { if (!req.writableEnded && sent === 0) reject(e); });
    body.on('data', (c: Buffer) => { sent += c.length; });
    body.pipe(req);
  });
}

describe('compression: request bodies', function () {
  this.timeout(30000);
  let backend: TestBackend;
  let lb: TestLb;
  let seen: Seen;

  before(async () => {
    backend = await startBackend('sink', (req, res) => {
      seen = { headers: req.headers, body: Buffer.alloc(0), received: 0, aborted: false };
      const current = seen;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => { chunks.push(c); current.received += c.length; });
      req.on('aborted', () => { current.aborted = true; });
      req.on('error', () => { current.aborted = true; });
      req.on('end', () => {
        current.body = Buffer.concat(chunks);
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`got ${current.body.length}`);
      });
    });
    lb = await startLb({
      preset: 'compressed',
      backends: [backend.url],
      plugins: [{
        use: 'compression',
        options: {
          request: { maxSize: 8 * MiB },
          routes: [
            { path: '/raw/', decompress: false },
            { path: '/small/', maxRequestSize: 64 * 1024 },
          ],
        },
      }],
    });
  });
  after(async () => {
    await lb?.close();
    await backend?.close();
  });

  const body = text(200_000, 7);
  const post = (path: string, encoding: string, payload: Buffer) =>
    rawRequest(lb.url + path, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': encoding }, body: payload });

  const encoders: Array<[string, (b: Buffer) => Buffer]> = [
    ['gzip', (b) => zlib.gzipSync(b)],
    ['x-gzip', (b) => zlib.gzipSync(b)],
    ['br', (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } })],
    ['deflate', (b) => zlib.deflateSync(b)],
    ['Deflate', (b) => zlib.deflateRawSync(b)],
    ['gzip, br', (b) => zlib.brotliCompressSync(zlib.gzipSync(b), { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } })],
  ];
  for (const [coding, encode] of encoders) {
    it(`decodes a "${coding}" body before the backend, which sees the exact bytes and no Content-Encoding`, async () => {
      const r = await post('/upload', coding, encode(body));
      expect(r.status).to.equal(200);
      expect(r.body.toString()).to.equal(`got ${body.length}`);
      expect(seen.body.equals(body)).to.equal(true);
      expect(seen.headers['content-encoding']).to.equal(undefined);
      expect(seen.headers['content-length']).to.equal(undefined);
      expect(seen.headers['transfer-encoding']).to.equal('chunked');
    });
  }

  it('passes the body unchanged on a route with decompress: false', async () => {
    const encoded = zlib.gzipSync(body);
    const r = await post('/raw/upload', 'gzip', encoded);
    expect(r.status).to.equal(200);
    expect(seen.headers['content-encoding']).to.equal('gzip');
    expect(seen.body.equals(encoded)).to.equal(true);
  });

  it('refuses a gzip bomb with 413 while it is still small: lb stops reading and the backend gets at most ratioAfter bytes', async () => {
    const bombSize = 4 * 1024 * MiB; // 4 GiB of zeros, about 4 MB gzipped; produced only as far as the client gets
    const r = await upload(`${lb.url}/upload`, 'gzip', zeros(bombSize).pipe(zlib.createGzip({ level: 1 })));
    expect(r.status).to.equal(413);
    expect(r.text).to.equal('413 Payload Too Large (LB_ERR_COMPRESSION_BOMB)\n');
    expect(r.headers.connection).to.equal('close');
    // 1 MiB decompressed is ~1 KB of this gzip; the client got a few socket buffers further, not megabytes.
    expect(r.sent, 'compressed bytes the client sent').to.be.below(2 * MiB);
    expect(seen.received, 'bytes the backend received').to.be.at.most(MiB + 64 * 1024);
    const line = lb.log.lines.find((l) => l.includes('LB_ERR_COMPRESSION_BOMB'));
    expect(line).to.match(/warn {2}\[lb\] Request body expands past a ratio of 100 when decompressed: \d+ compressed bytes gave \d+ code=LB_ERR_COMPRESSION_BOMB method=POST path=\/upload target=127\.0\.0\.1:\d+ status=413$/);
  });

  it('refuses a brotli bomb (a few KB that expand to 32 MiB) with 413, passing the backend at most ratioAfter bytes', async () => {
    const bomb = zlib.brotliCompressSync(Buffer.alloc(32 * MiB), { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } });
    expect(bomb.length).to.be.below(64 * 1024);
    const r = await post('/upload', 'br', bomb);
    expect(r.status).to.equal(413);
    expect(seen.received).to.be.at.most(MiB);
  });

  it('refuses a body that decompresses past a route\'s maxRequestSize with 413, whatever its ratio', async () => {
    const r = await post('/small/upload', 'gzip', zlib.gzipSync(body));
    expect(r.status).to.equal(413);
    expect(seen.received).to.be.at.most(64 * 1024);
    expect(lb.log.lines.some((l) => l.includes('Request body expands past 65536 bytes when decompressed'))).to.equal(true);
  });

  it('answers 400 to a body that is not gzip at all, and logs the decoder\'s reason', async () => {
    const r = await post('/upload', 'gzip', Buffer.from('{"plain": "json, not gzip"}'));
    expect(r.status).to.equal(400);
    expect(r.body.toString()).to.equal('400 Bad Request (LB_ERR_COMPRESSION_CORRUPT)\n');
    expect(lb.log.lines.some((l) => /warn {2}\[lb\] Request body is not valid gzip: incorrect header check code=LB_ERR_COMPRESSION_CORRUPT/.test(l))).to.equal(true);
  });

  it('answers 400 to a truncated gzip body', async () => {
    const whole = zlib.gzipSync(body);
    const r = await post('/upload', 'gzip', whole.subarray(0, whole.length >> 1));
    expect(r.status).to.equal(400);
    expect(lb.log.lines.some((l) => l.includes('Request body is not valid gzip: truncated (unexpected end of file)'))).to.equal(true);
  });

  it('answers 400 to a truncated brotli body', async () => {
    const whole = zlib.brotliCompressSync(body, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } });
    const r = await post('/upload', 'br', whole.subarray(0, whole.length >> 1));
    expect(r.status).to.equal(400);
    expect(lb.log.lines.some((l) => /Request body is not valid br: truncated/.test(l))).to.equal(true);
  });

  it('answers 400 while a large upload is still arriving when its data turns corrupt midway', async () => {
    const good = zlib.gzipSync(text(3 * MiB, 3)).subarray(0, 200_000);
    const words = new Uint32Array(4 * MiB);
    for (let i = 0, x = 12345; i < words.length; i++) words[i] = x = (Math.imul(x ^ (x >>> 15), 2246822507) + 0x9e3779b9) >>> 0;
    const garbage = Buffer.from(words.buffer);
    const pieces = [good];
    for (let i = 0; i < garbage.length; i += 64 * 1024) pieces.push(garbage.subarray(i, i + 64 * 1024));
    const r = await upload(`${lb.url}/upload`, 'gzip', Readable.from(pieces));
    expect(r.status).to.equal(400);
    expect(r.headers.connection).to.equal('close');
    expect(r.sent).to.be.below(8 * MiB);
  });

  it('answers 415 with Accept-Encoding to a coding lb cannot decode', async () => {
    const r = await post('/upload', 'zstd', Buffer.from('whatever'));
    expect(r.status).to.equal(415);
    expect(r.headers['accept-encoding']).to.equal('br, gzip, deflate');
    expect(r.body.toString()).to.equal('415 Unsupported Media Type (LB_ERR_COMPRESSION_UNSUPPORTED)\n');
    expect(lb.log.lines.some((l) => l.includes('Request body has Content-Encoding "zstd", which lb cannot decode.'))).to.equal(true);
  });

  it('survives clients that abort a compressed upload midway', async () => {
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        const req = http.request(`${lb.url}/upload`, { method: 'POST', agent: false, headers: { 'content-encoding': 'gzip' } });
        req.on('error', () => resolve());
        const gzip = zlib.createGzip();
        gzip.pipe(req);
        gzip.write(text(300_000, i));
        gzip.flush(() => setTimeout(() => {
          req.destroy();
          setTimeout(resolve, 50);
        }, 20));
      });
    }
    const r = await post('/upload', 'gzip', zlib.gzipSync(body));
    expect(r.status).to.equal(200);
  });

  it('keeps serving everyone else after refusing bad bodies', async () => {
    const r = await post('/upload', 'gzip', zlib.gzipSync(body));
    expect(r.status).to.equal(200);
    expect(seen.body.equals(body)).to.equal(true);
  });
});

describe('compression: unknown request codings with unknownEncoding "pass"', function () {
  this.timeout(10000);
  const servers = serversPerTest();

  it('sends the body to the backend unchanged, with its Content-Encoding', async () => {
    let seenEncoding: string | undefined;
    let seenBody = '';
    const backend = await servers.backend('pass', (req, res) => {
      seenEncoding = req.headers['content-encoding'];
      req.on('data', (c: Buffer) => { seenBody += c.toString(); });
      req.on('end', () => res.end('ok'));
    });
    const lb = await servers.lb({ preset: 'compressed', backends: [backend.url], plugins: [{ use: 'compression', options: { request: { unknownEncoding: 'pass' } } }] });
    const r = await rawRequest(`${lb.url}/x`, { method: 'POST', headers: { 'content-encoding': 'zstd' }, body: 'opaque' });
    expect(r.status).to.equal(200);
    expect(seenEncoding).to.equal('zstd');
    expect(seenBody).to.equal('opaque');
  });
});

describe('compression: request bodies toward backends that accept them', function () {
  this.timeout(10000);
  const servers = serversPerTest();

  it('gzips bodies only once the backend declared Accept-Encoding: gzip (RFC 7694), and only compressible ones above minSize', async () => {
    const seen: Array<{ encoding: string | undefined; body: Buffer }> = [];
    const backend = await servers.backend('declares', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ encoding: req.headers['content-encoding'], body: Buffer.concat(chunks) });
        res.writeHead(200, { 'accept-encoding': 'gzip' });
        res.end('ok');
      });
    });
    const lb = await servers.lb({ preset: 'compressed', backends: [backend.url], plugins: [{ use: 'compression', options: { upstream: { compress: true } } }] });
    const json = Buffer.from(JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item ${i}` })) }));
    const send = (payload: Buffer, type = 'application/json') =>
      rawRequest(`${lb.url}/api`, { method: 'POST', headers: { 'content-type': type, 'content-length': payload.length }, body: payload });
    await send(json);
    await send(json);
    await send(Buffer.from('{"small":true}'));
    await send(json, 'image/png');
    expect(seen.map((s) => s.encoding)).to.deep.equal([undefined, 'gzip', undefined, undefined]);
    expect(zlib.gunzipSync(seen[1].body).equals(json)).to.equal(true);
    expect(seen[1].body.length).to.be.below(json.length / 3);
  });
});
