import { expect } from 'chai';
import zlib from 'node:zlib';
import { serversPerTest, startBackend, startLb, type TestBackend, type TestLb } from '../support/servers.js';
import { rawRequest, text } from './helpers.js';

// About 2 MB of gzip that does not shrink: it reaches lb in many chunks, so the check sees only the first.
const LARGE_PLAIN = Buffer.from(Array.from({ length: 2_000_000 }, (_, i) => (i * 2654435761) >>> 24));
const LARGE_GZIP = zlib.gzipSync(LARGE_PLAIN, { level: 1 });
const PLAIN = Buffer.from(JSON.stringify({ message: 'this body is plain JSON, whatever the header says', items: [1, 2, 3] }));

describe('compression: responses the backend already encoded', function () {
  this.timeout(10000);
  let backend: TestBackend;
  let lb: TestLb;

  before(async () => {
    backend = await startBackend('encoded', (req, res) => {
      const [, coding, honest] = req.url!.split('/');
      const body = honest === 'large'
        ? LARGE_GZIP
        : honest === 'honest'
        ? coding === 'gzip' ? zlib.gzipSync(text(4000)) : coding === 'br' ? zlib.brotliCompressSync(text(4000)) : zlib.deflateSync(text(4000))
        : PLAIN;
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': coding, 'content-length': body.length });
      res.end(body);
    });
    lb = await startLb({ preset: 'compressed', backends: [backend.url] });
  });
  after(async () => {
    await lb?.close();
    await backend?.close();
  });

  for (const coding of ['gzip', 'br', 'deflate']) {
    it(`passes a body that really is ${coding} through untouched`, async () => {
      const r = await rawRequest(`${lb.url}/${coding}/honest`, { headers: { 'accept-encoding': 'gzip, br, deflate' } });
      expect(r.status).to.equal(200);
      expect(r.headers['content-encoding']).to.equal(coding);
      expect(r.headers.vary).to.equal(undefined);
      const decoded = coding === 'gzip' ? zlib.gunzipSync(r.body) : coding === 'br' ? zlib.brotliDecompressSync(r.body) : zlib.inflateSync(r.body);
      expect(decoded.equals(text(4000))).to.equal(true);
      expect(r.headers['content-length']).to.equal(String(r.body.length));
    });

    it(`answers 502 with a log line when the backend labels a plain body ${coding}`, async () => {
      const r = await rawRequest(`${lb.url}/${coding}/lying`, { headers: { 'accept-encoding': 'gzip, br, deflate' } });
      expect(r.status).to.equal(502);
      expect(r.body.toString()).to.equal('502 Bad Gateway (LB_ERR_COMPRESSION_UPSTREAM_MISLABELED)\n');
      const line = lb.log.lines.find((l) => l.includes(`Content-Encoding ${coding}, but the body is not`));
      expect(line).to.match(new RegExp(`warn {2}\\[lb\\] Backend 127\\.0\\.0\\.1:\\d+ labels its body Content-Encoding ${coding}, but the body is not: .+ code=LB_ERR_COMPRESSION_UPSTREAM_MISLABELED method=GET path=/${coding}/lying target=127\\.0\\.0\\.1:\\d+ status=502$`));
    });
  }

  it('keeps the Content-Length of a large checked body: the bytes it read are put back, not replayed through a stage', async () => {
    const r = await rawRequest(`${lb.url}/gzip/large`, { headers: { 'accept-encoding': 'gzip' } });
    expect(r.status).to.equal(200);
    expect(r.headers['content-length']).to.equal(String(LARGE_GZIP.length));
    expect(r.headers['transfer-encoding']).to.equal(undefined);
    expect(zlib.gunzipSync(r.body).equals(LARGE_PLAIN)).to.equal(true);
  });

  it('keeps serving other requests after a lying backend response', async () => {
    const r = await rawRequest(`${lb.url}/gzip/honest`, { headers: { 'accept-encoding': 'gzip' } });
    expect(r.status).to.equal(200);
  });

  it('passes the lie through when checkUpstreamEncoding is false', async () => {
    const trusting = await startLb({ preset: 'compressed', backends: [backend.url], plugins: [{ use: 'compression', options: { checkUpstreamEncoding: false } }] });
    try {
      const r = await rawRequest(`${trusting.url}/gzip/lying`, { headers: { 'accept-encoding': 'gzip' } });
      expect(r.status).to.equal(200);
      expect(r.headers['content-encoding']).to.equal('gzip');
      expect(r.body.equals(PLAIN)).to.equal(true);
    } finally {
      await trusting.close();
    }
  });
});

describe('compression: a backend that dies while lb reads a small body whole', () => {
  const servers = serversPerTest();

  it('answers 502 (the headers were not sent yet), logs it once, and keeps serving', async () => {
    const backend = await servers.backend('dies', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 5000 });
      if (req.url === '/fine') {
        res.end(text(5000));
        return;
      }
      res.write(text(2000));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const lb = await servers.lb({ preset: 'compressed', backends: [backend.url] });
    const r = await rawRequest(`${lb.url}/dies`, { headers: { 'accept-encoding': 'br' } });
    expect(r.status).to.equal(502);
    expect(r.body.toString()).to.equal('502 Bad Gateway (LB_ERR_UPSTREAM_RESET)\n');
    const deadline = Date.now() + 2000;
    while (!lb.log.lines.some((l) => l.includes('LB_ERR_UPSTREAM_RESET')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(lb.log.lines.filter((l) => l.includes('LB_ERR_UPSTREAM_RESET')), lb.log.lines.join('\n')).to.have.length(1);
    const fine = await rawRequest(`${lb.url}/fine`, { headers: { 'accept-encoding': 'br' } });
    expect(fine.status).to.equal(200);
    expect(zlib.brotliDecompressSync(fine.body).equals(text(5000))).to.equal(true);
  });
});
