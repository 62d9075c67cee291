import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { benchDocuments, type BenchDocument } from '../../bench/compression/documents.js';
import { startBackend, startLb, type TestBackend, type TestLb } from '../support/servers.js';
import { rawRequest } from './helpers.js';

const run = promisify(execFile);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Serves each bench document at /<id> with Content-Length and at /chunked/<id> in pieces without it. */
function startDocumentBackend(docs: BenchDocument[]): Promise<TestBackend> {
  return startBackend('documents', (req, res) => {
    const chunked = req.url!.startsWith('/chunked/');
    const doc = docs.find((d) => req.url!.endsWith(`/${d.id}`));
    if (!doc) return void res.writeHead(404).end();
    if (!chunked) {
      res.writeHead(200, { 'content-type': doc.contentType, 'content-length': doc.body.length, etag: `"${doc.id}"` });
      return void res.end(doc.body);
    }
    res.writeHead(200, { 'content-type': doc.contentType });
    let offset = 0;
    const next = () => {
      if (offset >= doc.body.length) return void res.end();
      res.write(doc.body.subarray(offset, (offset += 7000)));
      setImmediate(next);
    };
    next();
  });
}

describe('compression: real clients receive exactly the backend\'s bytes', function () {
  this.timeout(30000);
  const docs = benchDocuments();
  let backend: TestBackend;
  let dir: string;

  before(async () => {
    backend = await startDocumentBackend(docs);
    dir = mkdtempSync(path.join(os.tmpdir(), 'lb-compression-'));
  });
  after(async () => {
    await backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const engines: Array<[string, Record<string, unknown>]> = [
    ['node:zlib brotli (default)', {}],
    ['brotli-wasm', { brotli: { engine: 'wasm' } }],
  ];
  for (const [engine, options] of engines) {
    describe(`with ${engine}`, () => {
      let lb: TestLb;
      before(async () => {
        lb = await startLb({ preset: 'compressed', backends: [backend.url], plugins: [{ use: 'compression', options }] });
      });
      after(async () => lb?.close());

      for (const doc of docs) {
        for (const prefix of ['', '/chunked']) {
          it(`curl --compressed gets ${doc.label}${prefix ? ' (chunked)' : ''} as br, decoded to the same bytes`, async () => {
            const out = path.join(dir, `${doc.id}-${engine.length}-${prefix.length}.bin`);
            const headers = path.join(dir, 'headers.txt');
            const { stdout } = await run('curl', ['-sS', '--compressed', '-D', headers, '-o', out, '-w', '%{size_download}', `${lb.url}${prefix}/${doc.id}`]);
            const head = readFileSync(headers, 'utf8').toLowerCase();
            expect(head).to.include('content-encoding: br');
            expect(head).to.include('vary: accept-encoding');
            const length = /content-length: (\d+)/.exec(head)?.[1];
            // Small bodies of known length are compressed whole and sent with their compressed length; others stream.
            if (prefix === '' && doc.body.length <= 16 * 1024) expect(length).to.equal(stdout.trim());
            if (doc.body.length > 16 * 1024) expect(length).to.equal(undefined);
            expect(Number(stdout), 'bytes on the wire').to.be.below(doc.body.length * 0.6);
            expect(sha(readFileSync(out))).to.equal(sha(doc.body));
          });
        }
        it(`Node's fetch gets ${doc.label} (it asks for gzip or br) decoded to the same bytes`, async () => {
          const r = await fetch(`${lb.url}/${doc.id}`);
          expect(r.status).to.equal(200);
          expect(['gzip', 'br']).to.include(r.headers.get('content-encoding'));
          expect(r.headers.get('etag')).to.equal(`W/"${doc.id}"`);
          expect(sha(Buffer.from(await r.arrayBuffer()))).to.equal(sha(doc.body));
        });
      }

      it('sends the backend\'s bytes and Content-Length unchanged to clients without Accept-Encoding', async () => {
        for (const doc of docs) {
          const r = await rawRequest(`${lb.url}/${doc.id}`);
          expect(r.headers['content-encoding']).to.equal(undefined);
          expect(r.headers['content-length']).to.equal(String(doc.body.length));
          expect(sha(r.body)).to.equal(sha(doc.body));
        }
      });
    });
  }

  it('uses the configured engine: the 1.3 KB document is byte for byte what node:zlib, or brotli-wasm, makes of it', async () => {
    const zl = await startLb({ preset: 'compressed', backends: [backend.url] });
    const wasm = await startLb({ preset: 'compressed', backends: [backend.url], plugins: [{ use: 'compression', options: { brotli: { engine: 'wasm' } } }] });
    try {
      const doc = docs[0];
      const a = await rawRequest(`${zl.url}/${doc.id}`, { headers: { 'accept-encoding': 'br' } });
      const b = await rawRequest(`${wasm.url}/${doc.id}`, { headers: { 'accept-encoding': 'br' } });
      const Z = zlib.constants;
      // A small body gets a 128 KiB window (lgwin 17): smaller windows switch brotli to a slower hasher.
      const lgwin = 17;
      expect(a.body.equals(zlib.brotliCompressSync(doc.body, { params: { [Z.BROTLI_PARAM_QUALITY]: 5, [Z.BROTLI_PARAM_LGWIN]: lgwin, [Z.BROTLI_PARAM_SIZE_HINT]: doc.body.length } }))).to.equal(true);
      const brotliWasm = createRequire(import.meta.url)('brotli-wasm') as { compress(b: Uint8Array, o: { quality: number }): Uint8Array };
      expect(b.body.equals(Buffer.from(brotliWasm.compress(doc.body, { quality: 5 })))).to.equal(true);
    } finally {
      await zl.close();
      await wasm.close();
    }
  });
});
