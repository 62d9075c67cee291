import { expect } from 'chai';
import http from 'node:http';
import { request, serversPerTest } from '../support/servers.js';

describe('a request body stage that fails mid-upload', () => {
  const servers = serversPerTest();

  it('is answered with the stage\'s status, not a crash, and lb keeps serving', async () => {
    const backend = await servers.backend('sink', (req, res) => { req.resume(); req.on('end', () => res.end('ok')); });
    const lb = await servers.lb({ backends: [backend.url], plugins: [{ use: './test/fixtures/plugins/failing-request-stage.ts', options: { limit: 1024 * 1024 } }] });
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(lb.url, { method: 'POST', agent: false, headers: { 'content-length': String(8 * 1024 * 1024) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent < 8 * 1024 * 1024) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expect(status).to.equal(413);
    expect(lb.log.lines.some((l) => l.includes('code=LB_ERR_FIXTURE_TOO_LARGE'))).to.equal(true);
    expect((await request(lb.url, { method: 'POST', body: 'small' })).body).to.equal('ok');
  });
});
