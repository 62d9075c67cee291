import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { connect, RecordError, type CryptoLike } from '../../plugins/handshake/client/index.js';
import { OpenTransform, SealTransform } from '../../plugins/handshake/node-records.js';
import { sealedLength, type Binding } from '../../plugins/handshake/protocol/records.js';
import { openMessage, sealStream } from '../../plugins/handshake/protocol/web-records.js';
import { request } from '../support/servers.js';
import { expectNoSessionHeaders, handshakeServers, sha256, wire } from './support.js';

const RS = 65536;

describe('handshake: round trips through lb to a real backend', function () {
  this.timeout(20000);
  const servers = handshakeServers();

  it('sends a GET without a body as an lb-seal header, and the backend gets a GET with no body', async () => {
    const b = await servers.backend();
    const lb = await servers.secureLb([b.url]);
    const w = wire();
    const session = await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    const res = await session.fetch('/items?page=2');
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ method: 'GET', url: '/items?page=2', length: 0 });
    const sent = w.exchanges.at(-1)!;
    expect(sent.requestBody).to.equal(undefined);
    expect(sent.requestHeaders.get('lb-seal')).to.be.a('string').with.length.greaterThan(30);
    expect(b.seen).to.have.length(1);
    expect(b.seen[0].body.length).to.equal(0);
    expect(b.seen[0].headers).not.to.have.property('content-length');
    expect(b.seen[0].headers).not.to.have.property('transfer-encoding');
    expectNoSessionHeaders(b.seen);
  });

  it('answers HEAD with the backend\'s headers and a sealed empty body in lb-seal, and no body', async () => {
    const b = await servers.backend((_s, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5000, 'x-kind': 'report' });
      res.end();
    });
    const lb = await servers.secureLb([b.url]);
    const w = wire();
    const session = await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    const res = await session.fetch('/report', { method: 'HEAD' });
    expect(res.status).to.equal(200);
    expect(res.headers.get('x-kind')).to.equal('report');
    expect(res.headers.get('lb-seal')).to.equal(null);
    expect((await res.arrayBuffer()).byteLength).to.equal(0);
    const onWire = w.exchanges.at(-1)!.headers;
    expect(onWire.get('lb-seal')).to.be.a('string');
    expect(onWire.get('content-length')).to.equal(String(sealedLength(5000, RS)));
    expect(b.seen.map((s) => s.method)).to.deep.equal(['HEAD']);
    expectNoSessionHeaders(b.seen);
  });

  it('passes a 204 through with an lb-seal and no body', async () => {
    const b = await servers.backend((_s, res) => {
      res.writeHead(204, { 'x-deleted': '7' });
      res.end();
    });
    const lb = await servers.secureLb([b.url]);
    const w = wire();
    const session = await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    const res = await session.fetch('/items/7', { method: 'DELETE' });
    expect(res.status).to.equal(204);
    expect(res.headers.get('x-deleted')).to.equal('7');
    expect(res.body).to.equal(null);
    const onWire = w.exchanges.at(-1)!.headers;
    expect(onWire.get('lb-seal')).to.be.a('string');
    expect(onWire.get('content-length')).to.equal(null);
    expect(b.seen.map((s) => `${s.method} ${s.url}`)).to.deep.equal(['DELETE /items/7']);
    expectNoSessionHeaders(b.seen);
  });

  it('delivers a small POST to the backend as its exact plaintext, with the plaintext\'s Content-Length', async () => {
    const b = await servers.backend();
    const lb = await servers.secureLb([b.url]);
    const w = wire();
    const session = await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    const text = JSON.stringify({ order: 42, note: 'crème brûlée' });
    const plain = Buffer.from(text);
    const res = await session.fetch('/orders', { method: 'POST', body: text, headers: { 'content-type': 'application/json' } });
    expect(await res.json()).to.deep.equal({ method: 'POST', url: '/orders', length: plain.length });
    const onWire = w.exchanges.at(-1)!.requestBody as Uint8Array;
    expect(onWire.length).to.equal(sealedLength(plain.length, RS));
    expect(Buffer.from(onWire).includes(plain)).to.equal(false);
    const got = b.seen[0];
    expect(got.body.equals(plain)).to.equal(true);
    expect(got.headers['content-length']).to.equal(String(plain.length));
    expect(got.headers).not.to.have.property('transfer-encoding');
    expect(got.headers['content-type']).to.equal('application/json');
    expectNoSessionHeaders(b.seen);
  });

  it('uploads 10 MB with PUT: the backend receives the identical bytes with their length', async () => {
    const b = await servers.backend();
    const lb = await servers.secureLb([b.url]);
    const session = await connect(lb.url, { pin: lb.pin });
    const data = randomBytes(10 * 1024 * 1024);
    const res = await session.fetch('/blobs/1', { method: 'PUT', body: data });
    expect(res.status).to.equal(200);
    await res.arrayBuffer();
    expect(b.seen[0].headers['content-length']).to.equal(String(data.length));
    expect(sha256(b.seen[0].body)).to.equal(sha256(data));
    expectNoSessionHeaders(b.seen);
  });

  it('streams an upload given as a ReadableStream: the backend receives it chunked, byte for byte', async () => {
    const b = await servers.backend();
    const lb = await servers.secureLb([b.url]);
    const session = await connect(lb.url, { pin: lb.pin });
    const parts = Array.from({ length: 40 }, (_, i) => randomBytes(25_000 + i));
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((r) => setImmediate(r));
        if (i < parts.length) controller.enqueue(new Uint8Array(parts[i++]));
        else controller.close();
      },
    });
    const res = await session.fetch('/uploads', { method: 'POST', body });
    expect(res.status).to.equal(200);
    await res.arrayBuffer();
    const got = b.seen[0];
    expect(got.headers['transfer-encoding']).to.equal('chunked');
    expect(got.headers).not.to.have.property('content-length');
    expect(sha256(got.body)).to.equal(sha256(Buffer.concat(parts)));
    expectNoSessionHeaders(b.seen);
  });

  it('streams a download: the client reads the first records before the backend writes the rest', async () => {
    const head = randomBytes(256 * 1024);
    const rest = Array.from({ length: 48 }, () => randomBytes(64 * 1024));
    let clientGotFirst!: () => void;
    const firstArrived = new Promise<void>((resolve) => (clientGotFirst = resolve));
    let waited = 'no';
    const b = await servers.backend(async (_s, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(head);
      waited = await Promise.race([firstArrived.then(() => 'yes'), new Promise<string>((r) => setTimeout(() => r('timed out'), 10_000))]);
      for (const part of rest) if (!res.write(part)) await new Promise((r) => res.once('drain', r));
      res.end();
    });
    const lb = await servers.secureLb([b.url]);
    const session = await connect(lb.url, { pin: lb.pin });
    const res = await session.fetch('/download');
    const reader = res.body!.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.length;
      if (total >= 64 * 1024) clientGotFirst();
    }
    expect(waited).to.equal('yes');
    expect(sha256(Buffer.concat(chunks))).to.equal(sha256(Buffer.concat([head, ...rest])));
    expectNoSessionHeaders(b.seen);
  });

  it('encrypts a response with a Content-Length into a ciphertext of the exact sealed length', async () => {
    const data = randomBytes(100_000);
    const b = await servers.backend((_s, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.length });
      res.end(data);
    });
    const lb = await servers.secureLb([b.url]);
    const w = wire(true);
    const session = await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    const res = await session.fetch('/file');
    const got = Buffer.from(await res.arrayBuffer());
    expect(got.equals(data)).to.equal(true);
    const sent = w.exchanges.at(-1)!;
    expect(sent.headers.get('content-length')).to.equal(String(sealedLength(data.length, RS)));
    expect((await sent.body!).length).to.equal(sealedLength(data.length, RS));
    expect((await sent.body!).includes(data.subarray(0, 64))).to.equal(false);
    expect(res.headers.get('content-length')).to.equal(null);
    expectNoSessionHeaders(b.seen);
  });

  it('encrypts a chunked response (no Content-Length) as a chunked ciphertext', async () => {
    const parts = [randomBytes(10), randomBytes(70_000), randomBytes(3)];
    const b = await servers.backend(async (_s, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (const p of parts) {
        res.write(p);
        await new Promise((r) => setImmediate(r));
      }
      res.end();
    });
    const lb = await servers.secureLb([b.url]);
    const w = wire();
    const session = await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    const res = await session.fetch('/chunks');
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.concat(parts))).to.equal(true);
    const onWire = w.exchanges.at(-1)!.headers;
    expect(onWire.get('content-length')).to.equal(null);
    expect(onWire.get('transfer-encoding')).to.equal('chunked');
    expectNoSessionHeaders(b.seen);
  });
});

describe('handshake: compression inside the encryption (secure-compressed preset)', function () {
  this.timeout(20000);
  const servers = handshakeServers();
  const json = Buffer.from(JSON.stringify(Array.from({ length: 500 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'] }))));
  const start = async () => {
    const b = await servers.backend((_s, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': json.length });
      res.end(json);
    });
    return { b, lb: await servers.secureLb([b.url], {}, { preset: 'secure-compressed' }) };
  };

  it('compresses a JSON response before encrypting it, and the SDK returns the exact original bytes', async () => {
    expect(json.length).to.be.greaterThan(20_000);
    const { b, lb } = await start();
    const w = wire(true);
    const session = await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    const res = await session.fetch('/catalog');
    expect(Buffer.from(await res.arrayBuffer()).equals(json)).to.equal(true);
    const sent = w.exchanges.at(-1)!;
    expect(sent.requestHeaders.get('lb-accept-encoding')).to.equal('gzip, deflate');
    expect(sent.headers.get('content-encoding')).to.equal(null);
    expect(sent.headers.get('lb-content-encoding')).to.equal('gzip');
    expect((await sent.body!).length).to.be.lessThan(json.length / 4);
    expect(res.headers.get('lb-content-encoding')).to.equal(null);
    expectNoSessionHeaders(b.seen);
  });

  it('sends identity to a client that accepts no encoding (acceptEncoding "")', async () => {
    const { b, lb } = await start();
    const w = wire(true);
    const session = await connect(lb.url, { pin: lb.pin, fetch: w.fetch, acceptEncoding: '' });
    const res = await session.fetch('/catalog');
    expect(Buffer.from(await res.arrayBuffer()).equals(json)).to.equal(true);
    const sent = w.exchanges.at(-1)!;
    expect(sent.headers.get('lb-content-encoding')).to.equal(null);
    expect((await sent.body!).length).to.equal(sealedLength(json.length, RS));
    expectNoSessionHeaders(b.seen);
  });
});

describe('handshake: requests outside a session', function () {
  this.timeout(20000);
  const servers = handshakeServers();

  it('refuses a plaintext request with 401 LB_ERR_SESSION_REQUIRED as JSON, and the backend sees nothing', async () => {
    const b = await servers.backend();
    const lb = await servers.secureLb([b.url]);
    const res = await request(`${lb.url}/orders`, { method: 'POST', body: 'secret', headers: { 'content-type': 'text/plain' } });
    expect(res.status).to.equal(401);
    expect(res.headers['lb-error']).to.equal('LB_ERR_SESSION_REQUIRED');
    expect(res.headers['content-type']).to.equal('application/json');
    expect(JSON.parse(res.body)).to.deep.equal({
      error: {
        code: 'LB_ERR_SESSION_REQUIRED', status: 401,
        message: 'This listener serves encrypted sessions only; the request has no lb-session header.',
      },
    });
    expect(b.seen).to.have.length(0);
  });

  it('proxies a plaintext request with plaintext "allow", beside encrypted ones', async () => {
    const b = await servers.backend();
    const lb = await servers.secureLb([b.url], { plaintext: 'allow' });
    const res = await request(`${lb.url}/orders`, { method: 'POST', body: 'in the clear' });
    expect(res.status).to.equal(200);
    expect(JSON.parse(res.body)).to.deep.equal({ method: 'POST', url: '/orders', length: 12 });
    expect(b.seen[0].body.toString()).to.equal('in the clear');
    const session = await connect(lb.url, { pin: lb.pin });
    const sealed = await session.fetch('/orders', { method: 'POST', body: 'encrypted' });
    expect(await sealed.json()).to.deep.equal({ method: 'POST', url: '/orders', length: 9 });
    expect(b.seen[1].body.toString()).to.equal('encrypted');
  });
});

const CRYPTOS: Array<{ name: string; make: () => Promise<CryptoLike> }> = [
  { name: 'native WebCrypto', make: async () => globalThis.crypto },
  { name: '@peculiar/webcrypto', make: async () => new (await import('@peculiar/webcrypto')).Crypto() as CryptoLike },
];

const binding = (path: string): Binding => ({ direction: 'response', sessionId: randomBytes(16), requestId: randomBytes(24), method: 'GET', path, status: 200 });

async function webSeal(c: CryptoLike, k: Uint8Array, b: Binding, data: Buffer, rs: number): Promise<Buffer> {
  const input = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array(data.subarray(0, 1000)));
      controller.enqueue(new Uint8Array(data.subarray(1000)));
      controller.close();
    },
  });
  const stream = input.pipeThrough(sealStream(c, k, b, rs));
  return Buffer.from(await new Response(stream).arrayBuffer());
}

function nodeOpen(k: Uint8Array, b: Binding, sealed: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const open = new OpenTransform(k, b);
    const out: Buffer[] = [];
    open.on('data', (c: Buffer) => out.push(c)).on('end', () => resolve(Buffer.concat(out))).on('error', reject);
    Readable.from([sealed.subarray(0, 500), sealed.subarray(500)]).pipe(open);
  });
}

function nodeSeal(k: Uint8Array, b: Binding, data: Buffer, rs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const seal = new SealTransform(k, b, rs);
    const out: Buffer[] = [];
    seal.on('data', (c: Buffer) => out.push(c)).on('end', () => resolve(Buffer.concat(out))).on('error', reject);
    seal.end(data);
  });
}

describe('handshake: native WebCrypto and @peculiar/webcrypto interoperate', function () {
  this.timeout(20000);
  const servers = handshakeServers();

  it('an SDK on @peculiar/webcrypto round trips with lb on native WebCrypto', async () => {
    const b = await servers.backend();
    const lb = await servers.secureLb([b.url]);
    const session = await connect(lb.url, { pin: lb.pin, crypto: new (await import('@peculiar/webcrypto')).Crypto() });
    const res = await session.fetch('/peculiar', { method: 'POST', body: 'from peculiar' });
    expect(await res.json()).to.deep.equal({ method: 'POST', url: '/peculiar', length: 13 });
    expect(b.seen[0].body.toString()).to.equal('from peculiar');
  });

  it('an SDK on native WebCrypto round trips with lb on @peculiar/webcrypto (webcrypto "peculiar")', async () => {
    const b = await servers.backend();
    const lb = await servers.secureLb([b.url], { webcrypto: 'peculiar' });
    const session = await connect(lb.url, { pin: lb.pin });
    const res = await session.fetch('/native', { method: 'POST', body: 'from native' });
    expect(await res.json()).to.deep.equal({ method: 'POST', url: '/native', length: 11 });
    expect(b.seen[0].body.toString()).to.equal('from native');
  });

  for (const c of CRYPTOS) {
    it(`opens records sealed by sealStream over ${c.name} with the proxy's OpenTransform, and refuses them under another binding`, async () => {
      const k = randomBytes(32);
      const b = binding('/interop');
      const data = randomBytes(50_000);
      const sealed = await webSeal(await c.make(), k, b, data, 4096);
      expect(sealed.length).to.equal(sealedLength(data.length, 4096));
      expect((await nodeOpen(k, b, sealed)).equals(data)).to.equal(true);
      const refused = await nodeOpen(k, { ...b, path: '/other' }, sealed).then(() => 'opened', (e: Error) => e.message);
      expect(refused).to.equal('record 0 does not authenticate (tampered, reordered, or from another message)');
    });

    it(`opens records sealed by the proxy's SealTransform with openMessage over ${c.name}, and refuses a flipped bit`, async () => {
      const crypto = await c.make();
      const k = randomBytes(32);
      const b = binding('/interop');
      const data = randomBytes(50_000);
      const sealed = await nodeSeal(k, b, data, 4096);
      expect(Buffer.from(await openMessage(crypto, k, b, sealed)).equals(data)).to.equal(true);
      sealed[sealed.length - 100] ^= 1;
      const refused = await openMessage(crypto, k, b, sealed).then(() => undefined, (e: unknown) => e);
      expect(refused).to.be.instanceOf(RecordError);
      expect((refused as RecordError).reason).to.equal('record 12 does not authenticate (tampered, reordered, or from another message)');
    });
  }
});
