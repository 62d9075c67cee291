import { expect } from 'chai';
import { fromB64u, toB64u } from '../../plugins/handshake/protocol/bytes.js';
import { randomBytes } from '../../plugins/handshake/protocol/primitives.js';
import { suiteOf } from '../../plugins/handshake/protocol/suites.js';
import { waitFor } from '../reload/helpers.js';
import {
  HANDSHAKE, answerTo, craftBody, expectRefused, fetchOffer, flipBit, openResponse, pattern, postAnswer, rawHandshake, requestId, seal,
  send, splitRecords, startStand, write, type RawResponse, type RawSession, type SealedRequest, type Stand,
} from './raw.js';

/** The same bytes in base64url with non-zero trailing bits: a lenient decoder reads it, lb must not. */
function nonCanonical(b64u: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(b64u[b64u.length - 1]);
  return b64u.slice(0, -1) + alphabet[last | 1];
}

const MALFORMED = (detail: string) => ({ status: 400, code: 'LB_ERR_HANDSHAKE_MALFORMED', message: `Handshake message refused: ${detail}` });
const HEADERS = (detail: string) => ({ status: 400, code: 'LB_ERR_SESSION_HEADERS', message: `Encrypted request refused: ${detail}` });
const RECORD = (detail: string) => ({ status: 400, code: 'LB_ERR_RECORD_INVALID', message: `Encrypted body refused: ${detail}` });
const NOT_AUTHENTIC = (seq: number) => RECORD(`record ${seq} does not authenticate (tampered, reordered, or from another message)`);

describe('handshake: malformed handshake messages on /.lb/handshake', function () {
  this.timeout(30000);
  let stand: Stand;
  before(async () => {
    stand = await startStand();
  });
  after(() => stand?.close());

  const post = (body: unknown) => () => postAnswer(stand.lb.url, typeof body === 'string' ? body : JSON.stringify(body));

  it('refuses an answer that is not JSON, or not a JSON object, with 400 LB_ERR_HANDSHAKE_MALFORMED', async () => {
    await expectRefused(stand, post('{"v":1,'), MALFORMED('not JSON'));
    await expectRefused(stand, post([1, 'offer']), MALFORMED('not a JSON object'));
  });

  it('refuses another protocol version and missing fields, and leaves the offer answerable', async () => {
    const { offer } = await fetchOffer(stand.lb.url, stand.pin);
    const { body } = await answerTo(offer);
    const answer = JSON.parse(body) as { v: number; offer: string; pu2: string };
    await expectRefused(stand, post({ ...answer, v: 2 }), MALFORMED('"v" must be 1'));
    await expectRefused(stand, post({ v: 1, offer: answer.offer }), MALFORMED('"pu2" must be a base64url string'));
    await expectRefused(stand, post({ v: 1, pu2: answer.pu2 }), MALFORMED('"offer" must be a base64url string'));
    await expectRefused(stand, post({ ...answer, pu2: 42 }), MALFORMED('"pu2" must be a base64url string'));
    // Parsing comes before the offer is looked up: malformed answers do not spend it.
    expect((await postAnswer(stand.lb.url, body)).status).to.equal(200);
  });

  it('refuses base64url that is not canonical (trailing bits, padding, the standard alphabet) or of the wrong length', async () => {
    const { offer } = await fetchOffer(stand.lb.url, stand.pin);
    const answer = JSON.parse((await answerTo(offer)).body) as { v: number; offer: string; pu2: string };
    expect(Buffer.from(nonCanonical(answer.offer), 'base64url').equals(Buffer.from(offer.offerId))).to.equal(true);
    await expectRefused(stand, post({ ...answer, offer: nonCanonical(answer.offer) }), MALFORMED('"offer" is not canonical base64url of at most 16 bytes'));
    await expectRefused(stand, post({ ...answer, pu2: `${answer.pu2}==` }), MALFORMED('"pu2" is not canonical base64url of at most 2048 bytes'));
    await expectRefused(stand, post({ ...answer, offer: Buffer.from(offer.offerId).toString('base64') + '+/' }), MALFORMED('"offer" is not canonical base64url of at most 16 bytes'));
    await expectRefused(stand, post({ ...answer, offer: toB64u(offer.offerId.subarray(0, 15)) }), MALFORMED('"offer" is shorter than 16 bytes'));
    await expectRefused(stand, post({ ...answer, pu2: toB64u(randomBytes(crypto, 2049)) }), MALFORMED('"pu2" is not canonical base64url of at most 2048 bytes'));
  });

  it('refuses a handshake body above 8 KB with 413, whether its length is declared or it comes chunked', async () => {
    const big = JSON.stringify({ v: 1, offer: 'A'.repeat(22), pu2: 'A'.repeat(9000) });
    const tooLarge = { status: 413, code: 'LB_ERR_ROUTE_BODY_TOO_LARGE', message: 'The request body for /.lb/handshake is larger than the 8192 bytes its handler accepts.' };
    const res = await expectRefused(stand, post(big), tooLarge);
    expect(res.headers.connection).to.equal('close');
    await expectRefused(stand, () => send(stand.lb.url, {
      method: 'POST', path: HANDSHAKE, headers: { 'transfer-encoding': 'chunked' },
      body: async (req) => {
        for (let i = 0; i < 10; i++) await write(req, Buffer.alloc(1024, 0x41));
        req.end();
      },
    }), tooLarge);
  });

  it('refuses an answer to an offer it never made, or already completed, with LB_ERR_HANDSHAKE_OFFER_UNKNOWN', async () => {
    const unknown = { status: 400, code: 'LB_ERR_HANDSHAKE_OFFER_UNKNOWN', message: 'The offer the handshake answers is unknown, already used or expired.' };
    const { offer } = await fetchOffer(stand.lb.url, stand.pin);
    const { body } = await answerTo(offer);
    const answer = JSON.parse(body) as { v: number; offer: string; pu2: string };
    await expectRefused(stand, post({ ...answer, offer: toB64u(randomBytes(crypto, 16)) }), unknown);
    expect((await postAnswer(stand.lb.url, body)).status).to.equal(200);
    // Each pooled PU1 completes one handshake: the same answer again (a replay) is refused.
    await expectRefused(stand, post(body), unknown);
  });

  it('refuses an answer sealed to another key, or bound to another offer, with LB_ERR_HANDSHAKE_FAILED, and spends the offer', async () => {
    const failed = { status: 400, code: 'LB_ERR_HANDSHAKE_FAILED', message: 'The handshake answer does not decrypt under the offer\'s key.' };
    const { offer } = await fetchOffer(stand.lb.url, stand.pin);
    const stranger = await suiteOf('rsa-oaep-2048')!.generatePair(crypto);
    await expectRefused(stand, post((await answerTo(offer, { pu1: stranger.publicBytes })).body), failed);
    // One PU1 is never probed twice: even the right answer is refused now.
    await expectRefused(stand, post((await answerTo(offer)).body), { status: 400, code: 'LB_ERR_HANDSHAKE_OFFER_UNKNOWN' });
    const other = await fetchOffer(stand.lb.url, stand.pin);
    await expectRefused(stand, post((await answerTo(other.offer, { aad: new Uint8Array(32) })).body), failed);
  });

  it('answers other methods with 405 and the methods it serves, and a DELETE outside a session with 400', async () => {
    for (const method of ['PUT', 'PATCH']) {
      const res = await expectRefused(stand, () => send(stand.lb.url, { method, path: HANDSHAKE, body: '{}' }), {
        status: 405, code: 'LB_ERR_ROUTE_METHOD', message: `Method ${method} is not allowed on /.lb/handshake; it serves GET, POST, DELETE.`,
      });
      expect(res.headers.allow).to.equal('GET, POST, DELETE');
    }
    await expectRefused(stand, () => send(stand.lb.url, { method: 'DELETE', path: HANDSHAKE }), HEADERS('lb-session must be one 16-byte session id in base64url'));
  });
});

describe('handshake: session headers, checked before anything is proxied', function () {
  this.timeout(30000);
  let stand: Stand;
  let s: RawSession;
  before(async () => {
    stand = await startStand({ pu1: { mode: 'rotating' } });
    s = await rawHandshake(stand.lb.url, stand.pin);
  });
  after(() => stand?.close());

  const sendAs = (r: SealedRequest, headers: Record<string, string | number | undefined> = r.headers) => () => {
    const clean: Record<string, string | number> = {};
    for (const [name, value] of Object.entries(headers)) if (value !== undefined) clean[name] = value;
    return send(stand.lb.url, { method: r.method, path: r.path, headers: clean, body: r.body });
  };

  it('serves a request sealed by hand from the protocol module alone, and its response opens under K', async () => {
    const r = seal(s, { method: 'PUT', path: '/by-hand?q=1', body: Buffer.from('made with the spec') });
    const res = await sendAs(r)();
    expect(res.status).to.equal(200);
    expect(JSON.parse(openResponse(s, r, res).toString())).to.deep.include({ method: 'PUT', url: '/by-hand?q=1', bytes: 18 });
    const bodiless = seal(s, { path: '/bodiless' });
    const got = await sendAs(bodiless)();
    expect(JSON.parse(openResponse(s, bodiless, got).toString())).to.deep.include({ url: '/bodiless', bytes: 0 });
  });

  it('refuses a request without lb-session with 401 LB_ERR_SESSION_REQUIRED, whatever else it carries', async () => {
    const r = seal(s, { path: '/x' });
    await expectRefused(stand, sendAs(r, { ...r.headers, 'lb-session': undefined }), {
      status: 401, code: 'LB_ERR_SESSION_REQUIRED', message: 'This listener serves encrypted sessions only; the request has no lb-session header.',
    });
  });

  it('refuses a garbled lb-session with 400 LB_ERR_SESSION_HEADERS', async () => {
    const r = seal(s, { path: '/x' });
    const refusal = HEADERS('lb-session must be one 16-byte session id in base64url');
    for (const garbled of ['', 'not base64url!', nonCanonical(s.id), toB64u(s.sid.subarray(0, 15)), `${s.id}AA`, `${s.id}==`]) {
      await expectRefused(stand, sendAs(r, { ...r.headers, 'lb-session': garbled }), refusal);
    }
  });

  it('refuses a missing lb-request, or one that is not 24 bytes, with 400 LB_ERR_SESSION_HEADERS', async () => {
    const r = seal(s, { path: '/x' });
    const refusal = HEADERS('lb-request must be one 24-byte request id (8-byte time in ms, 16 random bytes) in base64url');
    const rid = fromB64u(String(r.headers['lb-request']))!;
    for (const wrong of [undefined, toB64u(rid.subarray(0, 23)), toB64u(Buffer.concat([rid, Buffer.of(0)])), nonCanonical(toB64u(rid.subarray(0, 23)))]) {
      await expectRefused(stand, sendAs(r, { ...r.headers, 'lb-request': wrong }), refusal);
    }
  });

  it('refuses an unknown session id with 401 LB_ERR_SESSION_UNKNOWN', async () => {
    const sid = randomBytes(crypto, 16);
    const forged: RawSession = { ...s, sid, id: toB64u(sid) };
    await expectRefused(stand, sendAs(seal(forged, { path: '/x' })), {
      status: 401, code: 'LB_ERR_SESSION_UNKNOWN', message: `Session ${forged.id} is unknown, expired or closed; make a new handshake.`,
    });
  });

  it('refuses request ids 10 minutes old or ahead with 400 LB_ERR_REQUEST_STALE', async () => {
    const stale = { status: 400, code: 'LB_ERR_REQUEST_STALE' };
    await expectRefused(stand, sendAs(seal(s, { path: '/x', requestId: requestId(Date.now() - 600_000) })), {
      ...stale, message: 'Encrypted request refused: its request id is 600 s from lb\'s clock, beyond the 120 s replay window.',
    });
    await expectRefused(stand, sendAs(seal(s, { path: '/x', body: Buffer.from('late'), requestId: requestId(Date.now() + 600_000) })), {
      ...stale, message: 'Encrypted request refused: its request id is -600 s from lb\'s clock, beyond the 120 s replay window.',
    });
  });

  it('refuses the same request sent twice with 400 LB_ERR_REQUEST_REPLAYED; the backend sees it once', async () => {
    for (const r of [seal(s, { path: '/once-get' }), seal(s, { path: '/once-post', body: Buffer.from('pay 100 to Bob') })]) {
      expect((await sendAs(r)()).status).to.equal(200);
      await expectRefused(stand, sendAs(r), { status: 400, code: 'LB_ERR_REQUEST_REPLAYED', message: `Encrypted request refused: request id already seen in session ${s.id} (a replay).` });
      expect(stand.arrivals.filter((a) => a.url === r.path)).to.have.length(1);
    }
  });

  it('refuses a bodiless request without lb-seal, and lb-seal beside a body, with 400 LB_ERR_SESSION_HEADERS', async () => {
    const bodiless = seal(s, { path: '/x' });
    await expectRefused(stand, sendAs(bodiless, { ...bodiless.headers, 'lb-seal': undefined }), HEADERS('a request without a body carries the sealed empty body in lb-seal (base64url)'));
    await expectRefused(stand, sendAs(bodiless, { ...bodiless.headers, 'lb-seal': 'not*base64url' }), HEADERS('a request without a body carries the sealed empty body in lb-seal (base64url)'));
    const withBody = seal(s, { path: '/x', body: Buffer.from('data') });
    await expectRefused(stand, sendAs(withBody, { ...withBody.headers, 'lb-seal': bodiless.headers['lb-seal'] }), HEADERS('lb-seal is for requests without a body; a body carries its own records'));
  });

  it('refuses an lb-seal that seals a non-empty body, or is bound to another request, with LB_ERR_RECORD_INVALID', async () => {
    const rid = requestId();
    const sneaky = seal(s, { method: 'GET', path: '/x', body: Buffer.from('smuggled'), requestId: rid });
    const r = seal(s, { path: '/x', requestId: rid });
    await expectRefused(stand, sendAs(r, { ...r.headers, 'lb-seal': toB64u(sneaky.body!) }), RECORD('the lb-seal of a bodiless request must seal an empty body'));
    const elsewhere = seal(s, { path: '/x', bindTo: { path: '/y' } });
    await expectRefused(stand, sendAs(elsewhere), NOT_AUTHENTIC(0));
  });

  it('refuses every request of a closed session with 401 LB_ERR_SESSION_UNKNOWN', async () => {
    const mine = await rawHandshake(stand.lb.url, stand.pin);
    const close = seal(mine, { method: 'DELETE', path: HANDSHAKE });
    expect((await sendAs(close)()).status).to.equal(204);
    await expectRefused(stand, sendAs(seal(mine, { path: '/x' })), { status: 401, code: 'LB_ERR_SESSION_UNKNOWN' });
  });
});

describe('handshake: request bodies, authenticated record by record', function () {
  this.timeout(30000);
  const RS = 16384;
  const DATA = RS - 17;
  let stand: Stand;
  let s: RawSession;
  before(async () => {
    stand = await startStand({ maxRecordSize: RS, pu1: { mode: 'rotating' } });
    s = await rawHandshake(stand.lb.url, stand.pin);
  });
  after(() => stand?.close());

  const sendBody = (r: SealedRequest, body: Buffer, headers: Record<string, string | number> = { ...r.headers, 'content-length': body.length }) =>
    () => send(stand.lb.url, { method: r.method, path: r.path, headers, body });

  /**
   * Sends `head` (the header and first records), waits until the backend has their
   * data, then `tail`: lb must find what is wrong in the tail while the request is
   * already proxied.
   */
  const streamed = (r: SealedRequest, head: Buffer[], tail: Buffer[], chunked = false) => {
    const at = stand.arrivals.length;
    const length = [...head, ...tail].reduce((n, b) => n + b.length, 0);
    const headers: Record<string, string | number> = { ...r.headers, 'content-length': length };
    if (chunked) {
      delete headers['content-length'];
      headers['transfer-encoding'] = 'chunked';
    }
    return {
      at,
      attempt: () => send(stand.lb.url, {
        method: r.method, path: r.path, headers,
        body: async (req) => {
          await write(req, Buffer.concat(head));
          await waitFor('the first records at the backend', () => (stand.arrivals[at]?.bytes ?? 0) > 0);
          for (const part of tail) await write(req, part);
          req.end();
        },
      }),
    };
  };

  /** The refused request reached the backend only as an aborted prefix of authentic data, never whole. */
  async function expectCut(at: number, plain: Buffer, authentic: number): Promise<void> {
    const a = await waitFor('the upstream request to close', () => (stand.arrivals[at]?.closed ? stand.arrivals[at] : undefined));
    expect(a.complete, 'the backend got a complete request').to.equal(false);
    expect(a.aborted).to.equal(true);
    expect(a.bytes).to.be.greaterThan(0).and.at.most(authentic).and.below(plain.length);
    expect(Buffer.concat(a.body).equals(plain.subarray(0, a.bytes))).to.equal(true);
  }

  /** expectRefused for a request that was already proxied: one arrival, cut. */
  async function expectRefusedMidway(run: { at: number; attempt: () => Promise<RawResponse> }, plain: Buffer, authentic: number, refusal: ReturnType<typeof RECORD>) {
    const mark = stand.lb.log.lines.length;
    const res = await run.attempt();
    expect(res.status).to.equal(refusal.status);
    expect(res.headers['lb-error']).to.equal(refusal.code);
    expect(JSON.parse(res.body.toString()).error.message).to.equal(refusal.message);
    await expectCut(run.at, plain, authentic);
    expect(stand.lb.log.lines.slice(mark).filter((l) => l.includes(refusal.code))).to.have.length(1);
    expect((await stand.bystander.fetch('/after', { method: 'POST', body: 'still serving' })).status).to.equal(200);
  }

  it('refuses a flipped bit in the first record, the header or the tag before the backend sees anything', async () => {
    const plain = pattern(3 * DATA + 500);
    const r = seal(s, { path: '/up', body: plain, rs: RS });
    for (const at of [21, 21 + 5000, 21 + RS - 1, 3]) await expectRefused(stand, sendBody(r, flipBit(r.body!, at)), NOT_AUTHENTIC(0));
    await expectRefused(stand, sendBody(r, flipBit(r.body!, 20)), RECORD('the key id must be empty'));
  });

  it('cuts the upstream request when a later record of a streamed body is tampered with', async () => {
    const plain = pattern(8 * DATA + 1000);
    const r = seal(s, { path: '/up', body: plain, rs: RS });
    const { header, records } = splitRecords(r.body!);
    records[4] = flipBit(records[4], 100);
    await expectRefusedMidway(streamed(r, [header, records[0], records[1]], records.slice(2)), plain, 4 * DATA, NOT_AUTHENTIC(4));
  });

  it('cuts the upstream request when later records are reordered, or come from another request', async () => {
    const plain = pattern(6 * DATA + 10);
    const r = seal(s, { path: '/up', body: plain, rs: RS });
    const { header, records } = splitRecords(r.body!);
    const swapped = [...records];
    [swapped[2], swapped[3]] = [swapped[3], swapped[2]];
    await expectRefusedMidway(streamed(r, [header, records[0]], swapped.slice(1)), plain, 2 * DATA, NOT_AUTHENTIC(2));
    // Same session, path and method, another request id: its record 2 in this request's place.
    const r2 = seal(s, { path: '/up', body: plain, rs: RS });
    const other = splitRecords(seal(s, { path: '/up', body: plain, rs: RS }).body!).records;
    const { header: h2, records: mine } = splitRecords(r2.body!);
    await expectRefusedMidway(streamed(r2, [h2, mine[0]], [mine[1], other[2], ...mine.slice(3)]), plain, 2 * DATA, NOT_AUTHENTIC(2));
  });

  it('refuses whole bodies with reordered records, or sealed for another request id, path, method or session', async () => {
    const plain = pattern(2 * DATA + 10);
    const r = seal(s, { path: '/up', body: plain, rs: RS });
    const { header, records } = splitRecords(r.body!);
    await expectRefused(stand, sendBody(r, Buffer.concat([header, records[1], records[0], records[2]])), NOT_AUTHENTIC(0));
    const other = await rawHandshake(stand.lb.url, stand.pin);
    for (const bindTo of [{ requestId: requestId() }, { path: '/elsewhere' }, { path: '/UP' }, { method: 'PUT' }, { sessionId: other.sid }]) {
      await expectRefused(stand, sendBody(r, seal(s, { path: '/up', body: plain, rs: RS, bindTo }).body!), NOT_AUTHENTIC(0));
    }
    await expectRefused(stand, sendBody(r, seal(s, { path: '/up', body: plain, rs: RS, k: other.k }).body!), NOT_AUTHENTIC(0));
  });

  it('refuses a body whose final record is missing, whole or streamed, and never lets the backend see it whole', async () => {
    const plain = pattern(6 * DATA + 100);
    const small = seal(s, { path: '/up', body: plain.subarray(0, 2 * DATA + 100), rs: RS });
    const { header: h, records: rec } = splitRecords(small.body!);
    await expectRefused(stand, sendBody(small, Buffer.concat([h, rec[0], rec[1]])), RECORD('the body ends before its final record (truncated)'));
    for (const chunked of [false, true]) {
      const r = seal(s, { path: '/up', body: plain, rs: RS });
      const { header, records } = splitRecords(r.body!);
      await expectRefusedMidway(streamed(r, [header, records[0]], records.slice(1, -1), chunked), plain, 6 * DATA, RECORD('the body ends before its final record (truncated)'));
    }
  });

  it('refuses record sizes above maxRecordSize with 413 LB_ERR_RECORD_TOO_LARGE, and below 18 bytes with 400', async () => {
    const r = seal(s, { path: '/up', body: pattern(40000), rs: 2 * RS });
    await expectRefused(stand, sendBody(r, r.body!), { status: 413, code: 'LB_ERR_RECORD_TOO_LARGE', message: `Encrypted body refused: record size ${2 * RS} is above the ${RS} bytes lb accepts.` });
    const tiny = Buffer.from(r.body!);
    tiny.writeUInt32BE(17, 16);
    await expectRefused(stand, sendBody(r, tiny), RECORD(`record size 17 is outside 18..${RS}`));
  });

  it('refuses a Content-Length that no unpadded record stream has, and padding that makes the length lie', async () => {
    const r = seal(s, { path: '/up', body: pattern(DATA), rs: RS });
    // A full record, then an empty final one: valid records, but not how a body of that length is sealed.
    const odd = craftBody(s.k, r.binding, RS, [{ data: pattern(DATA), final: false }, { data: new Uint8Array(0), final: true }]);
    await expectRefused(stand, sendBody(r, odd), RECORD(`a Content-Length of ${odd.length} is not that of an unpadded record stream`));
    // One final record padded with zeros: its length implies 200 more bytes of data than it holds.
    const padded = craftBody(s.k, r.binding, RS, [{ data: pattern(1000), final: true, padding: 200 }]);
    await expectRefused(stand, sendBody(r, padded), RECORD('the records hold 1000 bytes of data, not the 1200 their length implies (padding is not accepted on requests with a Content-Length)'));
  });

  it('refuses a body shorter than its header, or ending in a record shorter than a tag, with LB_ERR_RECORD_INVALID', async () => {
    const r = seal(s, { path: '/up', body: pattern(10), rs: RS });
    await expectRefused(stand, sendBody(r, r.body!.subarray(0, 15)), RECORD('the body is shorter than its 21-byte header'));
    await expectRefused(stand, sendBody(r, r.body!.subarray(0, 30)), RECORD('the last record is 9 bytes, shorter than a tag and a delimiter'));
  });
});
