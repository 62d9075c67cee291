import { expect } from 'chai';
import http from 'node:http';
import { destroyed } from '../fixtures/plugins/failing-response-stage.js';
import { request, serversPerTest } from '../support/servers.js';

/** Sends a GET and reports how the response ended: complete, or cut after some bytes. */
function fetchOutcome(url: string, headers: Record<string, string>): Promise<{ status: number; bytes: number; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => { bytes += c.length; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, complete: true }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, bytes, complete: false }));
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, bytes, complete: false }));
    });
    req.on('error', reject);
  });
}

describe('response body stages', () => {
  const servers = serversPerTest();

  it('cuts the client\'s response when a stage fails mid-body, destroys every stage, logs one line, and keeps serving', async () => {
    const backend = await servers.backend('b', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('a'.repeat(1000));
      setTimeout(() => res.write('b'.repeat(1000)), 20);
      setTimeout(() => res.end('c'.repeat(1000)), 40);
    });
    const lb = await servers.lb({ backends: [backend.url], plugins: ['./test/fixtures/plugins/failing-response-stage.ts'] });
    const outcome = await fetchOutcome(lb.url, { 'x-fail-stage': '1' });
    expect(outcome.status).to.equal(200);
    expect(outcome.complete, 'the client must see a truncated response, not a complete-looking one').to.equal(false);
    expect(outcome.bytes).to.be.below(3000);
    const deadline = Date.now() + 2000;
    while (destroyed.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(destroyed).to.have.members(['first', 'failing']);
    expect(lb.log.lines.filter((l) => l.includes('response body stage failed') && l.includes('stage gave up on chunk 2'))).to.have.length(1);
    const fine = await request(lb.url);
    expect(fine.status).to.equal(200);
    expect(fine.body).to.have.length(3000);
  });
});
