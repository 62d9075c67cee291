import { expect } from 'chai';
import { chooseCoding, parseAcceptEncoding } from '../../plugins/compression/index.js';
import { normalisePath } from '../../plugins/compression/policy.js';
import { startLb, type TestBackend, type TestLb } from '../support/servers.js';
import { decode, rawRequest, startScriptedBackend, text } from './helpers.js';

describe('compression: Accept-Encoding negotiation', () => {
  const offered = ['br', 'gzip'] as const;
  const cases: Array<[header: string, coding: string | undefined, identityRefused?: boolean]> = [
    ['gzip, deflate, br', 'br'],
    ['gzip', 'gzip'],
    ['br;q=0.5, gzip;q=0.8', 'gzip'],
    ['BR;Q=1, GZIP;q=0.1', 'br'],
    ['br;q=0, gzip', 'gzip'],
    ['x-gzip', 'gzip'],
    ['*', 'br'],
    ['*;q=0.5, br;q=0', 'gzip'],
    ['gzip;q=0, *', 'br'],
    ['deflate, zstd, compress', undefined],
    ['identity', undefined],
    ['', undefined],
    ['br;q=0.2, identity;q=0.9', undefined],
    ['gzip;q=0.5', 'gzip'],
    ['gzip, identity;q=0', 'gzip', true],
    ['*;q=0', undefined, true],
    ['zstd, identity;q=0', undefined, true],
    ['gzip,,br;q=0.9', 'gzip'],
    ['gzip;q=1.000, br;q=0.999', 'gzip'],
  ];
  for (const [header, coding, refused = false] of cases) {
    it(`chooses ${coding ?? 'identity'} for "${header}"${refused ? ' and notes identity is refused' : ''}`, () => {
      const accepted = parseAcceptEncoding(header);
      expect(accepted, 'parsed').to.not.equal(undefined);
      expect(chooseCoding(accepted!, offered)).to.deep.equal({ coding, identityRefused: refused });
    });
  }

  it('breaks ties by the server preference order', () => {
    expect(chooseCoding(parseAcceptEncoding('br, gzip')!, ['gzip', 'br']).coding).to.equal('gzip');
    expect(chooseCoding(parseAcceptEncoding('br, gzip')!, ['br']).coding).to.equal('br');
  });

  for (const bad of ['gzip;q=2', 'gzip;q=abc', 'gzip;q=0.1234', 'br;level=5', 'gzip br', 'gz"ip', ';q=1', 'gzip;q']) {
    it(`rejects the malformed value "${bad}"`, () => {
      expect(parseAcceptEncoding(bad)).to.equal(undefined);
    });
  }

  it('normalises paths before matching route prefixes', () => {
    expect(normalisePath('/%61ccount/x?y=1')).to.equal('/account/x');
    expect(normalisePath('//account//x')).to.equal('/account/x');
    expect(normalisePath('/public/../account/x')).to.equal('/account/x');
    expect(normalisePath('/account/x/..')).to.equal('/account/');
    expect(normalisePath('/%zz/x')).to.equal('/%zz/x');
  });
});

describe('compression: which responses are compressed, through lb', function () {
  this.timeout(20000);
  let backend: TestBackend;
  let lb: TestLb;
  const br = { 'accept-encoding': 'br, gzip' };

  before(async () => {
    backend = await startScriptedBackend();
    lb = await startLb({
      preset: 'compressed',
      backends: [backend.url],
      plugins: [{
        use: 'compression',
        options: {
          routes: [
            { path: '/raw/', compress: false },
            { path: '/raw/but-compressed/', compress: true },
            { path: '/tiny/', minSize: 10 },
          ],
        },
      }],
    });
  });
  after(async () => {
    await lb?.close();
    await backend?.close();
  });

  const get = (path: string, headers: Record<string, string> = br, method = 'GET') => rawRequest(lb.url + path, { headers, method });

  it('compresses with br, sets Content-Encoding and Vary, weakens the ETag, drops Content-Length and Accept-Ranges', async () => {
    const r = await get('/doc?size=50000&h.etag="v1"&h.accept-ranges=bytes');
    expect(r.status).to.equal(200);
    expect(r.headers['content-encoding']).to.equal('br');
    expect(r.headers.vary).to.equal('Accept-Encoding');
    expect(r.headers.etag).to.equal('W/"v1"');
    expect(r.headers['content-length']).to.equal(undefined);
    expect(r.headers['transfer-encoding']).to.equal('chunked');
    expect(r.headers['accept-ranges']).to.equal(undefined);
    expect(r.body.length).to.be.below(50000);
    expect(decode(r).equals(text(50000))).to.equal(true);
  });

  it('compresses a small body of known length in one piece and sends it with the compressed Content-Length', async () => {
    const r = await get('/doc?size=5000&h.etag="v1"&h.accept-ranges=bytes');
    expect(r.headers['content-encoding']).to.equal('br');
    expect(r.headers.etag).to.equal('W/"v1"');
    expect(r.headers['transfer-encoding']).to.equal(undefined);
    expect(r.headers['content-length']).to.equal(String(r.body.length));
    expect(r.headers['accept-ranges']).to.equal(undefined);
    expect(r.body.length).to.be.below(5000);
    expect(decode(r).equals(text(5000))).to.equal(true);
  });

  it('sends a small body of unknown length that ended within minSize as it is, with its Content-Length', async () => {
    const r = await get('/doc?size=500&chunked');
    expect(r.headers['content-encoding']).to.equal(undefined);
    expect(r.headers['content-length']).to.equal('500');
    expect(r.body.equals(text(500))).to.equal(true);
  });

  it('uses gzip for a client that prefers it by q-value, and keeps a weak ETag and an existing Vary', async () => {
    const r = await get('/doc?size=5000&h.etag=W/"v2"&h.vary=Origin', { 'accept-encoding': 'br;q=0.5, gzip' });
    expect(r.headers['content-encoding']).to.equal('gzip');
    expect(r.headers.etag).to.equal('W/"v2"');
    expect(r.headers.vary).to.equal('Origin, Accept-Encoding');
    expect(decode(r).equals(text(5000))).to.equal(true);
  });

  it('sends identity without Accept-Encoding, with Vary and the backend\'s Content-Length and strong ETag', async () => {
    const r = await get('/doc?size=5000&h.etag="v3"', {});
    expect(r.headers['content-encoding']).to.equal(undefined);
    expect(r.headers['content-length']).to.equal('5000');
    expect(r.headers.etag).to.equal('"v3"');
    expect(r.headers.vary).to.equal('Accept-Encoding');
    expect(r.body.equals(text(5000))).to.equal(true);
  });

  it('sends identity for codings lb does not produce (deflate, zstd)', async () => {
    const r = await get('/doc?size=5000', { 'accept-encoding': 'deflate, zstd' });
    expect(r.headers['content-encoding']).to.equal(undefined);
    expect(r.body.equals(text(5000))).to.equal(true);
  });

  it('understands * and identity;q=0: a small body is compressed when the client refuses identity', async () => {
    const star = await get('/doc?size=5000', { 'accept-encoding': '*' });
    expect(star.headers['content-encoding']).to.equal('br');
    const small = await get('/doc?size=100', { 'accept-encoding': 'gzip, identity;q=0' });
    expect(small.headers['content-encoding']).to.equal('gzip');
    expect(decode(small).equals(text(100))).to.equal(true);
  });

  it('leaves a response already encoded by the backend untouched', async () => {
    const r = await get('/doc?body=already&h.content-encoding=x-custom');
    expect(r.headers['content-encoding']).to.equal('x-custom');
    expect(r.headers.vary).to.equal(undefined);
    expect(r.body.toString()).to.equal('already');
  });

  it('leaves Cache-Control: no-transform untouched', async () => {
    const r = await get('/doc?size=5000&h.cache-control=public, No-Transform');
    expect(r.headers['content-encoding']).to.equal(undefined);
    expect(r.headers['content-length']).to.equal('5000');
    expect(r.headers.vary).to.equal(undefined);
  });

  it('leaves HEAD, 204, 304 and 206 responses untouched', async () => {
    const head = await get('/doc?size=5000', br, 'HEAD');
    expect(head.headers['content-encoding']).to.equal(undefined);
    expect(head.headers['content-length']).to.equal('5000');
    const noContent = await get('/doc?status=204');
    expect(noContent.status).to.equal(204);
    expect(noContent.headers['content-encoding']).to.equal(undefined);
    const notModified = await get('/doc?status=304&h.etag="v4"');
    expect(notModified.status).to.equal(304);
    expect(notModified.headers['content-encoding']).to.equal(undefined);
    expect(notModified.headers.etag).to.equal('"v4"');
    const partial = await get('/doc?status=206&size=5000&h.content-range=bytes 0-4999/9000');
    expect(partial.status).to.equal(206);
    expect(partial.headers['content-encoding']).to.equal(undefined);
  });

  it('leaves bodies under minSize (1024 bytes by default) untouched, by Content-Length', async () => {
    const under = await get('/doc?size=1023');
    expect(under.headers['content-encoding']).to.equal(undefined);
    expect(under.headers['content-length']).to.equal('1023');
    const at = await get('/doc?size=1024');
    expect(at.headers['content-encoding']).to.equal('br');
  });

  it('decides a chunked body by reading at most minSize bytes: small passes as is, large is compressed', async () => {
    const small = await get('/doc?size=500&chunked&first=100&pause=5');
    expect(small.headers['content-encoding']).to.equal(undefined);
    expect(small.body.equals(text(500))).to.equal(true);
    const large = await get('/doc?size=50000&chunked&first=2000&pause=5');
    expect(large.headers['content-encoding']).to.equal('br');
    expect(decode(large).equals(text(50000))).to.equal(true);
  });

  it('compresses a chunked body whose backend stalls past sizeWaitMs before minSize bytes (a stream)', async () => {
    const started = Date.now();
    const r = await get('/doc?size=600&chunked&first=100&pause=400');
    expect(r.headers['content-encoding']).to.equal('br');
    expect(decode(r).equals(text(600))).to.equal(true);
    expect(Date.now() - started).to.be.at.least(380);
  });

  it('compresses only configured media types', async () => {
    for (const type of ['text/html; charset=utf-8', 'application/json', 'application/problem+json', 'image/svg+xml', 'application/wasm', 'application/atom+xml']) {
      const r = await get(`/doc?size=5000&type=${encodeURIComponent(type)}`);
      expect(r.headers['content-encoding'], type).to.equal('br');
    }
    for (const type of ['image/png', 'image/jpeg', 'video/mp4', 'audio/mpeg', 'application/zip', 'application/gzip', 'font/woff2', 'application/octet-stream', 'none']) {
      const r = await get(`/doc?size=5000&type=${encodeURIComponent(type)}`);
      expect(r.headers['content-encoding'], type).to.equal(undefined);
      expect(r.headers.vary, type).to.equal(undefined);
      expect(r.headers['content-length'], type).to.equal('5000');
    }
  });

  it('applies route rules by longest prefix, on the normalised path', async () => {
    expect((await get('/raw/x?size=5000')).headers['content-encoding']).to.equal(undefined);
    expect((await get('/%72aw/x?size=5000')).headers['content-encoding']).to.equal(undefined);
    expect((await get('/raw/but-compressed/x?size=5000')).headers['content-encoding']).to.equal('br');
    expect((await get('/tiny/x?size=20')).headers['content-encoding']).to.equal('br');
  });

  it('sends identity for a malformed Accept-Encoding and logs it once per request', async () => {
    const before = lb.log.lines.length;
    const r = await get('/doc?size=5000', { 'accept-encoding': 'gzip;q=2' });
    expect(r.status).to.equal(200);
    expect(r.headers['content-encoding']).to.equal(undefined);
    expect(r.body.equals(text(5000))).to.equal(true);
    const lines = lb.log.lines.slice(before).filter((l) => l.includes('malformed Accept-Encoding'));
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/info {2}\[compression\] malformed Accept-Encoding; sending the response uncompressed value="gzip;q=2" path="\/doc\?size=5000"$/);
  });
});
