import { expect } from 'chai';
import { request, serversPerTest } from '../support/servers.js';

describe('whole-body responses (ResponseContext.readBody and body)', () => {
  const servers = serversPerTest();
  const plugins = ['./test/fixtures/plugins/whole-body.ts'];

  it('sends a body a plugin read and replaced with its new Content-Length, not chunked', async () => {
    const backend = await servers.backend('b', (_req, res) => {
      res.write('hello ');
      res.end('world');
    });
    const lb = await servers.lb({ backends: [backend.url], plugins });
    const r = await request(lb.url, { headers: { 'x-whole': 'read' } });
    expect(r.body).to.equal('HELLO WORLD');
    expect(r.headers['content-length']).to.equal('11');
    expect(r.headers['transfer-encoding']).to.equal(undefined);
  });

  it('reads the body through the stages added before, and feeds a replaced body to stages added after', async () => {
    const backend = await servers.backend('b', (_req, res) => res.end('body'));
    const lb = await servers.lb({ backends: [backend.url], plugins });
    const before = await request(lb.url, { headers: { 'x-whole': 'stage-then-read' } });
    expect(before.body).to.equal('<body[early]>');
    expect(before.headers['content-length']).to.equal('13');
    const after = await request(lb.url, { headers: { 'x-whole': 'read-then-stage' } });
    expect(after.body).to.equal('body[late]');
    expect(after.headers['content-length']).to.equal(undefined);
  });

  it('drops the unread rest of a backend body a plugin replaced, and keeps serving', async () => {
    let aborted = 0;
    const backend = await servers.backend('b', (req, res) => {
      if (req.headers['x-whole'] !== 'replace') {
        res.end('fine');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024);
      const timer = setInterval(() => res.write(chunk), 5);
      res.on('close', () => {
        clearInterval(timer);
        aborted++;
      });
    });
    const lb = await servers.lb({ backends: [backend.url], plugins });
    const r = await request(lb.url, { headers: { 'x-whole': 'replace' } });
    expect(r.body).to.equal('replaced');
    expect(r.headers['content-length']).to.equal('8');
    const deadline = Date.now() + 2000;
    while (aborted === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(aborted, 'the backend saw its response abandoned').to.equal(1);
    expect((await request(lb.url)).body).to.equal('fine');
  });

  it('answers 502 with LB_ERR_RESPONSE_BODY_TOO_LARGE when a body outgrows the plugin\'s limit', async () => {
    const backend = await servers.backend('b', (_req, res) => res.end('more than four bytes'));
    const lb = await servers.lb({ backends: [backend.url], plugins });
    const r = await request(lb.url, { headers: { 'x-whole': 'limit' } });
    expect(r.status).to.equal(502);
    expect(r.body).to.equal('502 Bad Gateway (LB_ERR_RESPONSE_BODY_TOO_LARGE)\n');
    expect(lb.log.lines.some((l) => l.includes('larger than the 4 bytes a plugin reads into memory'))).to.equal(true);
    expect((await request(lb.url, { headers: { 'x-whole': 'read' } })).body).to.equal('MORE THAN FOUR BYTES');
  });
});
