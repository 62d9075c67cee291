import { expect } from 'chai';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { request, serversPerTest } from '../support/servers.js';

/** Uploads `size` bytes through `url` to a backend that echoes as it reads; resolves the echoed bytes' SHA-256 and count. */
function echoThrough(url: string, size: number, chunked: boolean): Promise<{ status: number; bytes: number; sha: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = chunked ? {} : { 'content-length': String(size) };
    const req = http.request(url, { method: 'POST', agent: false, headers }, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => { bytes += c.length; hash.update(c); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, sha: hash.digest('hex') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

describe('a backend that streams its answer while it reads the body (an echo)', () => {
  const servers = serversPerTest();
  const size = 4 * 1024 * 1024;
  const expected = createHash('sha256').update(Buffer.alloc(size, 7)).digest('hex');

  for (const chunked of [false, true]) {
    it(`gets the whole ${chunked ? 'chunked' : 'Content-Length'} upload through lb and sends every byte back, then lb serves the next request`, async () => {
      const backend = await servers.backend('echo', (req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        req.pipe(res);
      });
      const lb = await servers.lb({ backends: [backend.url] });
      expect(await echoThrough(lb.url, size, chunked)).to.deep.equal({ status: 200, bytes: size, sha: expected });
      expect((await request(lb.url, { method: 'POST', body: 'small' })).body).to.equal('small');
    });
  }
});
