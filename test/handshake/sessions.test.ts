import { expect } from 'chai';
import { connect, LbClientError, RecordError } from '../../plugins/handshake/client/index.js';
import { fromB64u, toB64u } from '../../plugins/handshake/protocol/bytes.js';
import { offerSignedBytes } from '../../plugins/handshake/protocol/messages.js';
import { fingerprint, generateIdentity, sign } from '../../plugins/handshake/protocol/primitives.js';
import { SUITES, suiteOf, type SuiteId } from '../../plugins/handshake/protocol/suites.js';
import { request } from '../support/servers.js';
import { eventually, expectNoSessionHeaders, handshakeServers, HANDSHAKE, wire, type HeldResponse, type Seen } from './support.js';

const c = globalThis.crypto;

/** The first error a promise rejects with (or a failure when it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => expect.fail('expected a rejection'), (e: unknown) => e);
}

async function clientError(p: Promise<unknown>): Promise<LbClientError> {
  const e = await rejection(p);
  expect(e).to.be.instanceOf(LbClientError);
  return e as LbClientError;
}

/** Replays the session headers of a request the SDK sent, as a raw request. */
function replay(url: string, headers: Headers) {
  const h: Record<string, string> = {};
  for (const name of ['lb-session', 'lb-request', 'lb-seal']) h[name] = headers.get(name)!;
  return request(url, { headers: h });
}

function flip(b64: string, at: number): string {
  const bytes = fromB64u(b64, 4096)!;
  bytes[at < 0 ? bytes.length + at : at] ^= 1;
  return toB64u(bytes);
}

const isHandshake = (s: Seen) => s.url === HANDSHAKE;
const offerIn = async (body: Promise<Buffer> | undefined) => JSON.parse((await body!).toString()) as Record<string, string>;

describe('handshake: suites and PU1 modes', function () {
  this.timeout(20000);
  const servers = handshakeServers();

  for (const suite of SUITES) {
    it(`completes a handshake with the ${suite} suite and round trips a body`, async () => {
      const b = await servers.backend();
      const lb = await servers.secureLb([b.url], { suite, pu1: { poolSize: 1 } });
      const w = wire(true);
      const session = await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
      expect((await offerIn(w.exchanges[0].body)).suite).to.equal(suite);
      const res = await session.fetch('/suite', { method: 'POST', body: suite });
      expect(await res.json()).to.deep.equal({ method: 'POST', url: '/suite', length: suite.length });
      expect(b.seen[0].body.toString()).to.equal(suite);
    });
  }

  it('gives each handshake its own PU1 in pool mode, and refuses a second answer to one offer', async () => {
    const b = await servers.backend();
    const lb = await servers.secureLb([b.url], { suite: 'x25519', pu1: { mode: 'pool', poolSize: 4 } });
    const w = wire(true);
    await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    const [first, second] = await Promise.all(w.exchanges.filter((e) => e.method === 'GET').map((e) => offerIn(e.body)));
    expect(first.pu1).not.to.equal(second.pu1);
    expect(first.offer).not.to.equal(second.offer);
    const answer = w.exchanges.find((e) => e.method === 'POST')!.requestBody as string;
    const again = await request(lb.url + HANDSHAKE, { method: 'POST', body: answer, headers: { 'content-type': 'application/json' } });
    expect(again.status).to.equal(400);
    expect(again.headers['lb-error']).to.equal('LB_ERR_HANDSHAKE_OFFER_UNKNOWN');
    expect(JSON.parse(again.body)).to.deep.equal({ error: { code: 'LB_ERR_HANDSHAKE_OFFER_UNKNOWN', status: 400, message: 'The offer the handshake answers is unknown, already used or expired.' } });
  });

  it('serves one PU1 to every handshake of a rotation period in rotating mode', async () => {
    const b = await servers.backend();
    const lb = await servers.secureLb([b.url], { pu1: { mode: 'rotating', rotateSeconds: 60 } });
    const w = wire(true);
    const one = await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    const two = await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    const [first, second] = await Promise.all(w.exchanges.filter((e) => e.method === 'GET').map((e) => offerIn(e.body)));
    expect(first.pu1).to.equal(second.pu1);
    expect(first.offer).to.equal(second.offer);
    expect(one.id).not.to.equal(two.id);
    for (const s of [one, two]) expect((await s.fetch('/rotating')).status).to.equal(200);
  });
});

describe('handshake: sessions', function () {
  this.timeout(20000);
  const servers = handshakeServers();
  const fast = { suite: 'x25519', pu1: { poolSize: 4 } };

  it('seals request bodies with records no larger than the maxRecordSize lb states in its accept', async () => {
    const b = await servers.backend();
    const lb = await servers.secureLb([b.url], { ...fast, maxRecordSize: 1024 });
    const w = wire();
    const session = await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    const body = new Uint8Array(5000).fill(7);
    const res = await session.fetch('/small-records', { method: 'PUT', body });
    expect(res.status).to.equal(200);
    await res.text();
    expect(b.seen.at(-1)!.body.equals(Buffer.from(body))).to.equal(true);
    // The body's header (salt, then rs as a 32-bit big-endian integer) says 1024.
    const sealed = w.exchanges.at(-1)!.requestBody as Uint8Array;
    expect(Buffer.from(sealed.subarray(16, 20)).readUInt32BE(0)).to.equal(1024);
    expect(sealed.length).to.equal(21 + 5000 + 17 * Math.ceil(5000 / (1024 - 17)));
  });

  it('closes a session: its request headers, replayed, then get 401 LB_ERR_SESSION_UNKNOWN instead of 400 LB_ERR_REQUEST_REPLAYED', async () => {
    const b = await servers.backend();
    const lb = await servers.secureLb([b.url], fast);
    const w = wire();
    const session = await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    await (await session.fetch('/a')).text();
    const sent = w.exchanges.at(-1)!.requestHeaders;
    const before = await replay(lb.url + '/a', sent);
    expect([before.status, before.headers['lb-error']]).to.deep.equal([400, 'LB_ERR_REQUEST_REPLAYED']);
    await session.close();
    const after = await replay(lb.url + '/a', sent);
    expect([after.status, after.headers['lb-error']]).to.deep.equal([401, 'LB_ERR_SESSION_UNKNOWN']);
    expect(JSON.parse(after.body).error.message).to.equal(`Session ${session.id} is unknown, expired or closed; make a new handshake.`);
    expect(b.seen.map((s) => s.url)).to.deep.equal(['/a']);
  });

  it('makes a new session by itself on the first fetch after close', async () => {
    const b = await servers.backend();
    const lb = await servers.secureLb([b.url], fast);
    const w = wire();
    const session = await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    const old = session.id;
    await session.close();
    const res = await session.fetch('/after-close', { method: 'POST', body: 'still works' });
    expect(res.status).to.equal(200);
    await res.text();
    expect(session.id).not.to.equal(old);
    expect(w.exchanges.map((e) => `${e.method} ${e.url} ${e.status}`)).to.deep.equal([
      `GET ${HANDSHAKE} 200`, `POST ${HANDSHAKE} 200`, `DELETE ${HANDSHAKE} 204`, `GET ${HANDSHAKE} 200`, `POST ${HANDSHAKE} 200`, 'POST /after-close 200',
    ]);
    expect(b.seen[0].body.toString()).to.equal('still works');
  });

  it('renegotiates by itself when lb answers 401 LB_ERR_SESSION_UNKNOWN (failover to an instance without the session)', async () => {
    const b = await servers.backend();
    const one = await servers.secureLb([b.url], fast);
    const two = await servers.secureLb([b.url], { ...fast, identityKey: one.identity.file });
    const proxy = await servers.mitm(one.url);
    const session = await connect(proxy.url, { pin: one.pin });
    const old = session.id;
    expect((await session.fetch('/x', { method: 'PUT', body: 'on one' })).status).to.equal(200);
    proxy.target = two.url;
    const res = await session.fetch('/x', { method: 'PUT', body: 'on two' });
    expect(res.status).to.equal(200);
    await res.text();
    expect(session.id).not.to.equal(old);
    expect(proxy.log.map((e) => `${e.method} ${e.url} ${e.status}`).slice(2)).to.deep.equal([
      'PUT /x 200', 'PUT /x 401', `GET ${HANDSHAKE} 200`, `POST ${HANDSHAKE} 200`, 'PUT /x 200',
    ]);
    expect(b.seen.map((s) => s.body.toString())).to.deep.equal(['on one', 'on two']);
  });

  it('does not resend a POST by itself after a 401 LB_ERR_SESSION_UNKNOWN (an unauthenticated error), but renegotiates before the next request', async () => {
    const b = await servers.backend();
    const one = await servers.secureLb([b.url], fast);
    const two = await servers.secureLb([b.url], { ...fast, identityKey: one.identity.file });
    const proxy = await servers.mitm(one.url);
    const session = await connect(proxy.url, { pin: one.pin });
    proxy.target = two.url;
    const e = await session.fetch('/x', { method: 'POST', body: 'once' }).then(() => undefined, (error: unknown) => error as { code?: string; status?: number });
    expect([e?.code, e?.status]).to.deep.equal(['LB_ERR_SESSION_UNKNOWN', 401]);
    expect(b.seen).to.have.length(0);
    const res = await session.fetch('/x', { method: 'POST', body: 'again' });
    expect(res.status).to.equal(200);
    await res.text();
    expect(proxy.log.map((x) => `${x.method} ${x.url} ${x.status}`).slice(2)).to.deep.equal([
      'POST /x 401', `GET ${HANDSHAKE} 200`, `POST ${HANDSHAKE} 200`, 'POST /x 200',
    ]);
    expect(b.seen.map((s) => s.body.toString())).to.deep.equal(['again']);
  });

  it('renews before expiry: with renewBeforeMs above the TTL every fetch starts with a new handshake', async () => {
    const b = await servers.backend();
    const lb = await servers.secureLb([b.url], { ...fast, sessionTtlSeconds: 10 });
    const t0 = Date.now();
    const keeping = await connect(lb.url, { pin: lb.pin });
    expect(keeping.expires).to.be.within(t0 + 10_000, Date.now() + 10_000);
    const id = keeping.id;
    for (let i = 0; i < 2; i++) await (await keeping.fetch('/keep')).text();
    expect(keeping.id).to.equal(id);
    const renewing = await connect(lb.url, { pin: lb.pin, renewBeforeMs: 11_000 });
    const ids = new Set([renewing.id]);
    for (let i = 0; i < 2; i++) {
      await (await renewing.fetch('/renew')).text();
      ids.add(renewing.id);
    }
    expect(ids.size).to.equal(3);
  });

  it('expires a session after sessionTtlSeconds: lb refuses it with 401, and the SDK makes a new one', async function () {
    this.timeout(30000);
    const b = await servers.backend();
    const lb = await servers.secureLb([b.url], { ...fast, sessionTtlSeconds: 10 });
    const w = wire();
    const session = await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    const old = session.id;
    await (await session.fetch('/a')).text();
    const sent = w.exchanges.at(-1)!.requestHeaders;
    const refused = await eventually('the session to expire', async () => {
      const r = await replay(lb.url + '/a', sent);
      return r.status === 401 ? r : undefined;
    }, 20_000);
    expect(Date.now()).to.be.at.least(session.expires);
    expect(refused.headers['lb-error']).to.equal('LB_ERR_SESSION_UNKNOWN');
    expect((await session.fetch('/b')).status).to.equal(200);
    expect(session.id).not.to.equal(old);
  });
});

describe('handshake: lb\'s own errors inside a session', function () {
  this.timeout(20000);
  const servers = handshakeServers();

  it('rejects with an LbClientError of lb\'s code and status when every backend is dead, from a JSON error marked lb-error', async () => {
    const lb = await servers.secureLb([await servers.deadUrl(), await servers.deadUrl()]);
    const w = wire(true);
    const session = await connect(lb.url, { pin: lb.pin, fetch: w.fetch });
    const e = await clientError(session.fetch('/orders', { method: 'POST', body: 'x' }));
    expect([e.code, e.status]).to.deep.equal(['LB_ERR_UPSTREAM_CONNECT', 502]);
    expect(e.message).to.match(/^Could not connect to backend 127\.0\.0\.1:\d+: ECONNREFUSED .* \(LB_ERR_UPSTREAM_CONNECT\)$/);
    expect(e.fromServer).to.equal(true);
    const sent = w.exchanges.at(-1)!;
    expect(sent.status).to.equal(e.status);
    expect(sent.headers.get('lb-error')).to.equal(e.code);
    expect(sent.headers.get('content-type')).to.equal('application/json');
    const body = JSON.parse((await sent.body!).toString());
    expect(body).to.deep.equal({ error: { code: e.code, status: e.status, message: body.error.message } });
    expect(e.message).to.equal(`${body.error.message} (${e.code})`);
  });
});

describe('handshake: a man in the middle', function () {
  this.timeout(20000);
  const servers = handshakeServers();
  const rsa = suiteOf('rsa-oaep-2048')!;
  const onOffer = (f: (offer: Record<string, unknown>) => Promise<void>) => async (req: Seen, res: HeldResponse) => {
    if (req.method !== 'GET' || !isHandshake(req)) return;
    const offer = JSON.parse(res.body.toString());
    await f(offer);
    res.body = Buffer.from(JSON.stringify(offer));
  };
  // x25519 unless the test is about RSA messages: the suite changes nothing else here, and its keys are cheap.
  const start = async (handshake: Record<string, unknown> = { suite: 'x25519' }) => {
    const b = await servers.backend((s, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(s.method === 'POST' ? s.body : 'x'.repeat(5000));
    });
    const lb = await servers.secureLb([b.url], handshake);
    return { b, lb, mitm: await servers.mitm(lb.url) };
  };

  it('is found when it swaps PU1 for its own key: LB_ERR_CLIENT_BAD_SIGNATURE, and no answer is sent', async () => {
    const { lb, mitm } = await start({});
    const own = await rsa.generatePair(c);
    mitm.onResponse = onOffer(async (offer) => {
      offer.pu1 = toB64u(own.publicBytes);
    });
    const e = await clientError(connect(mitm.url, { pin: lb.pin }));
    expect(e.code).to.equal('LB_ERR_CLIENT_BAD_SIGNATURE');
    expect(e.message).to.equal('PU1 is not signed by the pinned identity: refusing (PU1 was swapped in transit) (LB_ERR_CLIENT_BAD_SIGNATURE)');
    expect([e.status, e.fromServer]).to.deep.equal([0, false]);
    expect(mitm.log.map((l) => l.method)).to.deep.equal(['GET']);
  });

  it('is found when it signs its own PU1 with its own identity key: LB_ERR_CLIENT_PIN_MISMATCH', async () => {
    const { lb, mitm } = await start({});
    const own = await rsa.generatePair(c);
    const identity = await generateIdentity(c);
    const spki = new Uint8Array(await c.subtle.exportKey('spki', identity.publicKey));
    mitm.onResponse = onOffer(async (offer) => {
      offer.pu1 = toB64u(own.publicBytes);
      offer.identity = toB64u(spki);
      offer.sig = toB64u(await sign(c, identity.privateKey, offerSignedBytes(offer.suite as SuiteId, fromB64u(offer.offer as string, 16)!, offer.expires as number, own.publicBytes)));
    });
    const e = await clientError(connect(mitm.url, { pin: lb.pin }));
    expect(e.code).to.equal('LB_ERR_CLIENT_PIN_MISMATCH');
    expect(e.message).to.equal(`the proxy's identity is ${await fingerprint(c, spki)}, not the pinned ${lb.pin}: refusing (a man in the middle, or a new identity key) (LB_ERR_CLIENT_PIN_MISMATCH)`);
    expect(mitm.log.map((l) => l.method)).to.deep.equal(['GET']);
  });

  for (const suite of ['rsa-oaep-2048', 'x25519']) {
    it(`makes the handshake fail when it changes the sealed PU2 of the answer (${suite}): 400 LB_ERR_HANDSHAKE_FAILED`, async () => {
      const { lb, mitm } = await start({ suite });
      mitm.onRequest = (req) => {
        if (req.method !== 'POST' || !isHandshake(req)) return;
        const answer = JSON.parse(req.body.toString());
        answer.pu2 = flip(answer.pu2, -1);
        req.body = Buffer.from(JSON.stringify(answer));
      };
      const e = await clientError(connect(mitm.url, { pin: lb.pin }));
      expect([e.code, e.status, e.fromServer]).to.deep.equal(['LB_ERR_HANDSHAKE_FAILED', 400, true]);
      // Errors of the /.lb/handshake route are JSON, as inside a session: the SDK shows the table's message.
      expect(e.message).to.equal('The handshake answer does not decrypt under the offer\'s key. (LB_ERR_HANDSHAKE_FAILED)');
    });
  }

  for (const [field, suite] of [['k', 'rsa-oaep-2048'], ['k', 'x25519'], ['session', 'rsa-oaep-2048'], ['session', 'x25519']]) {
    it(`makes the handshake fail when it changes "${field}" in the accept (${suite}): LB_ERR_CLIENT_HANDSHAKE_FAILED`, async () => {
      const { lb, mitm } = await start({ suite });
      mitm.onResponse = (req, res) => {
        if (req.method !== 'POST' || !isHandshake(req)) return;
        const accept = JSON.parse(res.body.toString());
        accept[field] = flip(accept[field], 3);
        res.body = Buffer.from(JSON.stringify(accept));
      };
      const e = await clientError(connect(mitm.url, { pin: lb.pin }));
      expect(e.code).to.equal('LB_ERR_CLIENT_HANDSHAKE_FAILED');
      expect(e.message).to.equal('K does not unwrap under PU2: the answer is not for this handshake (LB_ERR_CLIENT_HANDSHAKE_FAILED)');
    });
  }

  it('makes the client\'s read of a response body fail with RecordError when it flips one bit of it', async () => {
    const { lb, mitm } = await start();
    const session = await connect(mitm.url, { pin: lb.pin });
    mitm.onResponse = (req, res) => {
      if (req.url === '/page') res.body[40] ^= 1;
    };
    const res = await session.fetch('/page');
    expect(res.status).to.equal(200);
    const e = await rejection(res.arrayBuffer());
    expect(e).to.be.instanceOf(RecordError);
    expect((e as RecordError).reason).to.equal('record 0 does not authenticate (tampered, reordered, or from another message)');
  });

  it('makes the client\'s read fail when it changes the response status, which every record is bound to', async () => {
    const { lb, mitm } = await start();
    const session = await connect(mitm.url, { pin: lb.pin });
    mitm.onResponse = (req, res) => {
      if (req.url === '/page') res.status = 201;
    };
    const res = await session.fetch('/page');
    expect(res.status).to.equal(201);
    const e = await rejection(res.text());
    expect(e).to.be.instanceOf(RecordError);
    expect((e as RecordError).reason).to.equal('record 0 does not authenticate (tampered, reordered, or from another message)');
  });

  it('makes lb refuse a request body with one bit flipped: 400 LB_ERR_RECORD_INVALID, and the backend sees nothing', async () => {
    const { b, lb, mitm } = await start();
    const session = await connect(mitm.url, { pin: lb.pin });
    mitm.onRequest = (req) => {
      if (req.url === '/orders') req.body[30] ^= 1;
    };
    const e = await clientError(session.fetch('/orders', { method: 'POST', body: 'pay 10 to alice' }));
    expect([e.code, e.status]).to.deep.equal(['LB_ERR_RECORD_INVALID', 400]);
    expect(e.message).to.equal('Encrypted body refused: record 0 does not authenticate (tampered, reordered, or from another message) (LB_ERR_RECORD_INVALID)');
    expect(b.seen).to.have.length(0);
    mitm.onRequest = undefined;
    const res = await session.fetch('/orders', { method: 'POST', body: 'pay 10 to alice' });
    expect(await res.text()).to.equal('pay 10 to alice');
    expectNoSessionHeaders(b.seen);
  });
});
