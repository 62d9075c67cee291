/**
 * Property-based fuzzing (fast-check) of the proxy's request path: encrypted requests, sealed as
 * lb/client would, mutated in their session headers, method, path or body, sent raw through a real lb
 * (session and requests made with raw.ts's helpers). The decoders themselves are fuzzed in
 * fuzz-decoders.test.ts. Seeds are fast-check's random ones; a failure prints the seed and path that
 * replay it (`fc.assert(prop, { seed, path })`). The property states in its title how many requests it
 * sends and asserts that count; it is bounded (numRuns, fc.timeout per run, and
 * fc.interruptAfterTimeLimit that fails when it interrupts).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import fs from 'node:fs';
import type { ClientRequest } from 'node:http';
import path from 'node:path';
import { fromB64u } from '../../plugins/handshake/protocol/bytes.js';
import type { Binding } from '../../plugins/handshake/protocol/records.js';
import { startBackend, startLb, type TestBackend, type TestLb } from '../support/servers.js';
import { freshIdentity, handshakeRc, openResponse, rawHandshake, seal, send as sendRaw, type RawResponse, type RawSession } from './raw.js';
import { bounded, bytesFrom, counter, isPrefix } from './fuzz-support.js';

const { fed, count } = counter();

describe('handshake fuzz: mutated encrypted requests through lb', function () {
  this.timeout(90_000);
  let backend: TestBackend;
  let lb: TestLb;
  let session: RawSession;
  let identityDir: string | undefined;
  /** What the backend received, by path (each run has its own): the body so far, and whether it ended or was cut. */
  const received = new Map<string, { parts: Buffer[]; state: 'open' | 'ended' | 'cut' }>();
  type Req = { method: string; path: string; headers: Record<string, string | string[]>; body?: Buffer; binding: Binding; chunked?: boolean };

  before(async () => {
    const identity = freshIdentity();
    identityDir = path.dirname(identity.file);
    backend = await startBackend('fuzz', (req, res) => {
      const got = { parts: [] as Buffer[], state: 'open' as 'open' | 'ended' | 'cut' };
      received.set(req.url!, got);
      req.on('data', (d: Buffer) => got.parts.push(d));
      req.on('end', () => { got.state = 'ended'; res.end('ok'); });
      req.on('close', () => { if (got.state === 'open') got.state = 'cut'; });
    });
    lb = await startLb(handshakeRc([backend.url], identity.file, { plaintext: 'refuse', pu1: { poolSize: 1 }, limits: { perClientBurst: 1000 } }));
    session = await rawHandshake(lb.url, identity.pin);
    expect(session.k).to.have.length(32);
  });
  after(async () => {
    await lb?.close();
    await backend?.close();
    if (identityDir) fs.rmSync(identityDir, { recursive: true, force: true });
  });

  /** A request sealed by raw.ts's seal, less its Content-Length: send() frames the (maybe mutated) body itself. */
  function valid(n: number, method: string, plain: Buffer | undefined, rs: number): Req {
    const sealed = seal(session, { method, path: `/fuzz/${n}?q=${n}`, body: plain, rs });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(sealed.headers)) if (name !== 'content-length') headers[name] = String(value);
    return { method, path: sealed.path, binding: sealed.binding, headers, body: sealed.body };
  }

  function send(r: Req): Promise<RawResponse> {
    const chunked = Boolean(r.body?.length && r.chunked);
    const headers = chunked ? { ...r.headers, 'transfer-encoding': 'chunked' } : r.body ? { ...r.headers, 'content-length': String(r.body.length) } : r.headers;
    const body = r.body;
    const writeChunked = (req: ClientRequest) => { req.write(body!); req.end(); return Promise.resolve(); };
    return sendRaw(lb.url, { method: r.method, path: r.path, headers, body: chunked ? writeChunked : body });
  }

  const PRINTABLE = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i));
  const keep = <T>(other: fc.Arbitrary<T>, weight = 5) => fc.oneof({ weight, arbitrary: fc.constant({ op: 'keep' as const }) }, { weight: 1, arbitrary: other });
  const header = keep(fc.oneof(
    fc.record({ op: fc.constantFrom('drop' as const, 'twice' as const) }),
    fc.record({ op: fc.constant('random' as const), value: fc.string({ unit: fc.constantFrom(...PRINTABLE), maxLength: 80 }) }),
    fc.record({ op: fc.constantFrom('replace' as const, 'insert' as const, 'delete' as const), at: fc.nat(), ch: fc.constantFrom(...'AZaz09-_=+/.') }),
  ));
  const body = fc.oneof({ weight: 1, arbitrary: fc.constant('keep' as const) }, { weight: 1, arbitrary: fc.constantFrom('flip' as const, 'truncate' as const, 'insert' as const, 'delete' as const, 'random' as const) })
    .chain((op) => fc.record({ op: fc.constant(op), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }));
  const set = <T>(values: T[]) => keep(fc.record({ op: fc.constant('set' as const), value: fc.constantFrom(...values) }), 8);
  const exchange = fc.record({
    method: fc.constantFrom('GET', 'DELETE', 'OPTIONS', 'POST', 'PUT', 'PATCH'),
    plain: fc.option(fc.record({ size: fc.integer({ min: 0, max: 6000 }), seed: fc.integer() })),
    rs: fc.oneof(fc.integer({ min: 18, max: 64 }), fc.integer({ min: 65, max: 65536 })),
    chunked: fc.boolean(),
    mutate: fc.record({ session: header, request: header, seal: header, body, method: set(['GET', 'POST', 'PUT', 'DELETE']), path: set(['x', '/', '0', '%41', '.']) }),
  });

  const sameButRs = (a: Buffer, b: Buffer) => a.length === b.length && a.every((x, i) => x === b[i] || (i >= 16 && i < 20));

  function mutateHeader(headers: Record<string, string | string[]>, name: string, m: { op: string; value?: string; at?: number; ch?: string }) {
    const v = headers[name] as string | undefined;
    if (m.op === 'drop') delete headers[name];
    else if (m.op === 'twice' && v !== undefined) headers[name] = [v, v];
    else if (m.op === 'random') headers[name] = m.value!;
    else if (m.op !== 'keep' && m.op !== 'twice' && v !== undefined) {
      const i = m.at! % (v.length + 1);
      headers[name] = v.slice(0, i) + (m.op === 'delete' ? '' : m.ch!) + v.slice(m.op === 'insert' ? i : i + 1);
    }
  }

  it('answers 300 encrypted requests mutated in headers, method, path or body with a 4xx and an lb-error, passing the backend nothing (chunked: at most a cut, authenticated prefix), and proxies the unmutated ones', async () => {
    let n = 0;
    const plains = new Map<string, Buffer>();
    const proxiedPaths = new Set<string>();
    await fc.assert(fc.asyncProperty(exchange, async ({ method, plain: p, rs, chunked, mutate: m }) => {
      const withBody = ['POST', 'PUT', 'PATCH'].includes(method);
      const plain = withBody ? bytesFrom(p?.seed ?? 1, Math.min(p?.size ?? 0, 200 * (rs - 17))) : undefined;
      const good = valid(n++, method, plain, rs);
      const bad: Req = { ...good, headers: { ...good.headers }, chunked };
      mutateHeader(bad.headers, 'lb-session', m.session);
      mutateHeader(bad.headers, 'lb-request', m.request);
      mutateHeader(bad.headers, 'lb-seal', m.seal);
      if (m.method.op === 'set') bad.method = m.method.value;
      if (m.path.op === 'set') bad.path = good.path + m.path.value;
      if (m.body.op !== 'keep') {
        const b = good.body ?? Buffer.alloc(0);
        const i = m.body.at % (b.length + 1);
        if (m.body.op === 'flip') { bad.body = Buffer.from(b.length ? b : [0]); bad.body[i % bad.body.length] ^= 1 << m.body.bit; }
        else if (m.body.op === 'truncate') bad.body = b.subarray(0, Math.min(i, b.length - 1));
        else if (m.body.op === 'insert') bad.body = Buffer.concat([b.subarray(0, i), m.body.bytes, b.subarray(i)]);
        else if (m.body.op === 'delete') bad.body = Buffer.concat([b.subarray(0, i), b.subarray(i + m.body.bytes.length)]);
        else bad.body = Buffer.from(m.body.bytes);
      }
      const sealOf = (r: Req) => Buffer.from(fromB64u(String(r.headers['lb-seal'] ?? '')) ?? Buffer.alloc(0));
      const others = (r: Req) => JSON.stringify([r.method, r.path, r.headers['lb-session'], r.headers['lb-request'], r.headers['lb-seal'] === undefined]);
      const bodies = [bad.body ?? Buffer.alloc(0), good.body ?? Buffer.alloc(0), sealOf(bad), sealOf(good)]; // Content-Length: 0 is no body
      const same = others(bad) === others(good) && JSON.stringify(bad.headers) === JSON.stringify(good.headers) && bodies[0].equals(bodies[1]);
      // RFC 8188 leaves the record size unauthenticated: one that frames the records the same way opens them to the same data.
      const rsOnly = others(bad) === others(good) && sameButRs(bodies[0], bodies[1]) && sameButRs(bodies[2], bodies[3]);
      const hits = backend.hits;
      const res = await send(bad);
      count('requests');
      plains.set(bad.path, plain ?? Buffer.alloc(0));
      if (same || (rsOnly && res.status === 200)) {
        proxiedPaths.add(good.path);
        expect(res.status, res.headers['lb-error'] as string).to.equal(200);
        const got = received.get(good.path)!;
        expect(got.state === 'ended' && Buffer.concat(got.parts).equals(plain ?? Buffer.alloc(0)), 'the backend got the plaintext').to.equal(true);
        expect(openResponse(session, good, res).toString(), 'the response opens to the backend\'s answer').to.equal('ok');
      } else {
        expect(res.status, `${res.status} ${res.body.toString()}`).to.be.within(400, 499);
        expect(res.headers['lb-error']).to.match(/^LB_ERR_[A-Z_]+$/);
        // With a Content-Length the whole body (under 10 KB here: one read on loopback) is checked before
        // anything is proxied; a chunked one streams after its first record, so a later bad record can cut
        // it at the backend, which must then have had only authenticated data (checked below).
        if (!bad.chunked || !bad.body?.length) expect(backend.hits, 'the backend received a mutated request').to.equal(hits);
      }
    }), bounded(300, 5000, 40_000));
    expect(fed.get('requests')).to.equal(300);
    for (const deadline = Date.now() + 10_000; [...received.values()].some((r) => r.state === 'open') && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 20));
    for (const [path, got] of received) {
      expect(got.state, `${path} at the backend`).to.equal(proxiedPaths.has(path) ? 'ended' : 'cut');
      expect(isPrefix(Buffer.concat(got.parts), plains.get(path)!), `${path}: the backend got only authenticated data`).to.equal(true);
    }
    const last = valid(n, 'POST', Buffer.from('still up'), 1024);
    expect((await send(last)).status).to.equal(200);
    expect(Buffer.concat(received.get(last.path)!.parts).toString()).to.equal('still up');
    const replayed = await send(last);
    expect([replayed.status, replayed.headers['lb-error']]).to.deep.equal([400, 'LB_ERR_REQUEST_REPLAYED']);
    expect(backend.hits).to.equal(received.size);
  });
});
