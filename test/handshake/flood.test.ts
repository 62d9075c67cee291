import { expect } from 'chai';
import { createCipheriv, createHash, type Hash } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { connect } from '../../plugins/handshake/client/index.js';
import { toB64u } from '../../plugins/handshake/protocol/bytes.js';
import { acceptBinding, parseAccept } from '../../plugins/handshake/protocol/messages.js';
import { OpenTransform, SealTransform } from '../../plugins/handshake/node-records.js';
import { startBackend, startLb, type TestBackend, type TestLb } from '../support/servers.js';
import { waitFor } from '../reload/helpers.js';
import {
  HANDSHAKE, ROOMY_LIMITS, answerTo, expectStillServing, fetchOffer, freshIdentity, handshakeRc, openResponse, postAnswer,
  rawHandshake, requestId, seal, send, startStand, type RawResponse, type Stand,
} from './raw.js';

const getOffer = (stand: Stand) => send(stand.lb.url, { path: HANDSHAKE });
const retryAfter = (res: RawResponse) => Number(res.headers['retry-after']);
const lines = (stand: Stand, code: string, from = 0) => stand.lb.log.lines.slice(from).filter((line) => line.includes(code));

/**
 * The responses of `all` refused with `status`: each names `code` and carries a
 * Retry-After of at least 1 s, and lb logged one line for each since `mark`.
 * Returns them and those lines.
 */
function retryLater(stand: Stand, all: RawResponse[], status: number, code: string, mark: number): { refused: RawResponse[]; logged: string[] } {
  const refused = all.filter((r) => r.status === status);
  for (const r of refused) {
    expect(r.headers['lb-error']).to.equal(code);
    expect(retryAfter(r)).to.be.at.least(1);
  }
  const logged = lines(stand, code, mark);
  expect(logged).to.have.length(refused.length);
  return { refused, logged };
}

/**
 * The flooding clients, in a worker thread with its own event loop, so that the loop
 * measured is lb's (and its backend's), not the attackers'. In waves: every client asks
 * for an offer at once, then every client answers at once. Posts the statuses counted.
 */
const FLOOD_CLIENTS = `
const { workerData, parentPort } = require('node:worker_threads');
const http = require('node:http');
const send = (method, body) => new Promise((resolve, reject) => {
  const req = http.request(workerData.url, { method, agent: false, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
    res.resume();
    res.on('end', () => resolve(method + ' ' + res.statusCode));
  });
  req.on('error', reject);
  req.end(body);
});
(async () => {
  const counts = {};
  const count = (key) => { counts[key] = (counts[key] || 0) + 1; };
  const { answers, clients } = workerData;
  for (let at = 0; at < answers.length; at += clients) {
    const wave = answers.slice(at, at + clients);
    for (const status of await Promise.all(wave.map(() => send('GET')))) count(status);
    for (const status of await Promise.all(wave.map((answer) => send('POST', answer)))) count(status);
  }
  parentPort.postMessage({ counts });
})().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));
`;

function flood(url: string, answers: string[], clients: number): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(FLOOD_CLIENTS, { eval: true, workerData: { url, answers, clients } });
    worker.once('message', (m: { counts?: Record<string, number>; error?: string }) => {
      void worker.terminate();
      if (m.error) reject(new Error(m.error));
      else resolve(m.counts!);
    });
    worker.once('error', reject);
  });
}

describe('handshake: caps on handshakes', function () {
  this.timeout(30000);
  let stand: Stand | undefined;
  afterEach(async () => {
    await stand?.close();
    stand = undefined;
  });

  /**
   * Sends 4 attempts at once from a client with a bucket of 3 (the bystander's handshake
   * took a token already): one at least gets 429, whatever the timing.
   */
  async function expectRateLimited(stand: Stand, attempt: () => Promise<RawResponse>): Promise<RawResponse> {
    const mark = stand.lb.log.lines.length;
    const all = await Promise.all(Array.from({ length: 4 }, attempt));
    const allowed = all.filter((r) => r.status === 200).length;
    const { refused: limited, logged } = retryLater(stand, all, 429, 'LB_ERR_HANDSHAKE_RATE_LIMITED', mark);
    expect(allowed).to.be.within(2, 3);
    expect(limited.length).to.equal(4 - allowed);
    for (const r of limited) expect(JSON.parse(r.body.toString()).error).to.deep.include({ code: 'LB_ERR_HANDSHAKE_RATE_LIMITED', status: 429 });
    expect(logged[0]).to.match(/\[lb\] Client 127\.0\.0\.1 asked for too many handshakes; retry in [12] s\. code=LB_ERR_HANDSHAKE_RATE_LIMITED /);
    expect(stand.arrivals).to.have.length(0);
    await expectStillServing(stand);
    return limited[0];
  }

  it('answers offers beyond a client\'s burst with 429 LB_ERR_HANDSHAKE_RATE_LIMITED and Retry-After (pool), then lets it in again at its rate', async () => {
    // x25519 refills the pool at once: only the client's budget refuses offers here.
    stand = await startStand({ suite: 'x25519', limits: { perClientBurst: 3, perClientPerSecond: 0.5 } });
    const limited = await expectRateLimited(stand, () => getOffer(stand!));
    // A token comes back every 2 s, and asking meanwhile does not spend it.
    await waitFor('an offer to be allowed again', async () => (await getOffer(stand!)).status === 200, retryAfter(limited) * 1000 + 2000, 100);
  });

  it('spends the budget on answers when one rotating PU1 serves every handshake, so offers stay free', async () => {
    stand = await startStand({ pu1: { mode: 'rotating' }, limits: { perClientBurst: 3, perClientPerSecond: 0.5 } });
    const { offer } = await fetchOffer(stand.lb.url, stand.pin);
    for (let i = 0; i < 10; i++) expect((await getOffer(stand)).status).to.equal(200);
    const keys = await offer.suite.generateClientKeys(crypto);
    const answers = await Promise.all(Array.from({ length: 4 }, () => answerTo(offer, { keys })));
    let next = 0;
    await expectRateLimited(stand, () => postAnswer(stand!.lb.url, answers[next++].body));
  });

  it('answers 503 LB_ERR_HANDSHAKE_POOL_EMPTY with Retry-After when a burst takes every pooled PU1, and refills', async () => {
    stand = await startStand({ pu1: { mode: 'pool', poolSize: 2, refillConcurrency: 1 } });
    const mark = stand.lb.log.lines.length;
    const all = await Promise.all(Array.from({ length: 12 }, () => getOffer(stand!)));
    const { refused: empty, logged } = retryLater(stand, all, 503, 'LB_ERR_HANDSHAKE_POOL_EMPTY', mark);
    expect(empty.length).to.be.at.least(1);
    for (const r of all) expect([200, 503]).to.include(r.status);
    expect(logged[0]).to.match(/\[lb\] No pre-generated PU1 is left; the pool refills at about \d+\.\d per second\. code=LB_ERR_HANDSHAKE_POOL_EMPTY /);
    // Every offer served has its own PU1, used once.
    const pu1s = all.filter((r) => r.status === 200).map((r) => JSON.parse(r.body.toString()).pu1 as string);
    expect(new Set(pu1s).size).to.equal(pu1s.length);
    expect(stand.arrivals).to.have.length(0);
    await expectStillServing(stand);
    // Once refilled (as Retry-After says), a new handshake completes.
    const fresh = await rawHandshake(stand.lb.url, stand.pin);
    const r = seal(fresh, { path: '/fresh' });
    expect((await send(stand.lb.url, r)).status).to.equal(200);
  });

  it('answers 503 LB_ERR_HANDSHAKE_BUSY with Retry-After to answers beyond limits.concurrent, and completes the others and later ones', async () => {
    stand = await startStand({ suite: 'rsa-oaep-3072', pu1: { mode: 'rotating' }, limits: { ...ROOMY_LIMITS, concurrent: 1 } });
    const { offer } = await fetchOffer(stand.lb.url, stand.pin);
    const keys = await offer.suite.generateClientKeys(crypto);
    const answers = await Promise.all(Array.from({ length: 24 }, () => answerTo(offer, { keys })));
    const mark = stand.lb.log.lines.length;
    const all = await Promise.all(answers.map((a) => postAnswer(stand!.lb.url, a.body)));
    const { refused: busy, logged } = retryLater(stand, all, 503, 'LB_ERR_HANDSHAKE_BUSY', mark);
    expect(busy.length, 'answers refused as busy').to.be.at.least(1);
    for (const r of all) expect([200, 503]).to.include(r.status);
    expect(logged[0]).to.contain('[lb] Too many handshakes in progress (1); retry shortly. code=LB_ERR_HANDSHAKE_BUSY ');
    expect(stand.arrivals).to.have.length(0);
    await expectStillServing(stand);
    // A later answer (the slot is free again) completes, and its K unwraps.
    const later = await answerTo(offer, { keys });
    const res = await postAnswer(stand.lb.url, later.body);
    expect(res.status).to.equal(200);
    const accepted = parseAccept(res.body.toString());
    if (!accepted.ok) throw new Error(accepted.reason);
    const k = await offer.suite.unwrapK(crypto, keys, offer.pu1, accepted.value.wrappedK, await acceptBinding(crypto, offer, later.sealedPu2, accepted.value.sessionId));
    expect(k?.length).to.equal(32);
  });
});

describe('handshake: a flood of handshakes', function () {
  this.timeout(60000);
  let stand: Stand | undefined;
  after(() => stand?.close());

  it('keeps the event loop free (p99 delay under 100 ms) and serves other sessions while 200 clients handshake at once', async () => {
    // rsa-oaep-3072: over a millisecond per private-key operation, so each wave is real work for the thread pool.
    stand = await startStand({ suite: 'rsa-oaep-3072', pu1: { mode: 'rotating' } });
    const probe = await rawHandshake(stand.lb.url, stand.pin);
    const { offer } = await fetchOffer(stand.lb.url, stand.pin);
    const keys = await offer.suite.generateClientKeys(crypto);
    const TOTAL = 600;
    const CONCURRENCY = 200;
    // A rotating offer takes any number of answers: the same ones serve every round.
    const answers = (await Promise.all(Array.from({ length: TOTAL }, () => answerTo(offer, { keys })))).map((a) => a.body);

    const round = async () => {
      let flooding = true;
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      const started = performance.now();
      const flooded = flood(new URL(HANDSHAKE, stand!.lb.url).href, answers, CONCURRENCY).finally(() => {
        flooding = false;
      });
      // Encrypted requests of another session, one after another, for as long as the flood lasts.
      const probes: Array<{ ms: number; during: boolean }> = [];
      const probing = (async () => {
        while (flooding) {
          const t0 = performance.now();
          const r = seal(probe, { method: 'POST', path: '/probe', body: Buffer.from('still there?') });
          const res = await send(stand!.lb.url, r);
          expect(res.status).to.equal(200);
          expect(JSON.parse(openResponse(probe, r, res).toString())).to.deep.include({ url: '/probe', bytes: 12 });
          probes.push({ ms: performance.now() - t0, during: flooding });
        }
      })();
      const [statuses] = await Promise.all([flooded, probing]);
      const elapsed = performance.now() - started;
      delay.disable();
      const ms = (ns: number) => Math.round(ns / 1e4) / 100;
      const p99 = ms(delay.percentile(99));
      const during = probes.filter((p) => p.during).length;
      console.log(`      ${TOTAL} handshakes from ${CONCURRENCY} clients in ${Math.round(elapsed)} ms; event-loop delay p50 ${ms(delay.percentile(50))} ms, p99 ${p99} ms, `
        + `max ${ms(delay.max)} ms; ${during} requests of another session meanwhile, slowest ${Math.round(Math.max(...probes.map((p) => p.ms)))} ms`);
      expect(statuses).to.deep.equal({ 'GET 200': TOTAL, 'POST 200': TOTAL });
      expect(during).to.be.at.least(1);
      return { p99, probes: probes.length };
    };

    // On a shared host other processes can hold the CPU for a while: a second round, if needed, tells that from lb
    // blocking its loop (RSA on the event loop gives p99 of 200-400 ms here every time).
    const rounds = [await round()];
    if (rounds[0].p99 >= 100) rounds.push(await round());
    expect(Math.min(...rounds.map((r) => r.p99))).to.be.below(100);
    expect(stand.arrivals).to.have.length(rounds.reduce((n, r) => n + r.probes, 0));
    expect(stand.arrivals.every((a) => a.url === '/probe' && a.complete)).to.equal(true);
    expect(stand.lb.log.lines.filter((line) => / (warn|error) /.test(line))).to.deep.equal([]);
  });
});

describe('handshake: 200 MB through the cipher in bounded memory', function () {
  this.timeout(120000);
  const MB = 1024 * 1024;
  const SIZE = 200 * MB;
  const CHUNK = 64 * 1024;
  let backend: TestBackend | undefined;
  let lb: TestLb | undefined;
  after(async () => {
    await lb?.close();
    await backend?.close();
  });

  /** `size` bytes of AES-CTR keystream (seeded), made as they are read and hashed into `hash`. */
  function generated(size: number, seed: number, hash: Hash): Readable {
    const keystream = createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16));
    const zeros = Buffer.alloc(CHUNK);
    let made = 0;
    return new Readable({
      highWaterMark: CHUNK,
      read() {
        if (made >= size) {
          this.push(null);
          return;
        }
        const chunk = keystream.update(zeros.subarray(0, Math.min(CHUNK, size - made)));
        made += chunk.length;
        hash.update(chunk);
        this.push(chunk);
      },
    });
  }

  it('streams a 200 MB encrypted upload and a 200 MB encrypted download with the right SHA-256, the process growing by under 100 MB', async () => {
    const served = new Map<string, string>();
    backend = await startBackend('a', (req, res) => {
      const url = new URL(req.url ?? '/', 'http://backend');
      if (url.pathname === '/download') {
        const size = Number(url.searchParams.get('size'));
        const hash = createHash('sha256');
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
        generated(size, 7, hash).on('end', () => served.set(url.search, hash.digest('hex'))).pipe(res);
        return;
      }
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      req.on('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
    });
    const identity = freshIdentity();
    lb = await startLb(handshakeRc([backend.url], identity.file, { pu1: { mode: 'rotating' } }));
    const base = lb.url;
    const raw = await rawHandshake(base, identity.pin);
    const session = await connect(base, { pin: identity.pin });

    // Upload: sealed as it is generated, chunked (lb/client's streamed uploads in Node go through undici's fetch,
    // which keeps a stream body in memory: nodejs/undici#4058; so the test seals with node:http).
    const upload = async (size: number) => {
      const sent = createHash('sha256');
      const rid = requestId();
      const binding = { direction: 'request' as const, sessionId: raw.sid, requestId: rid, method: 'POST', path: '/upload' };
      const plain = await new Promise<Buffer>((resolve, reject) => {
        const req = http.request(new URL('/upload', base), {
          method: 'POST', agent: false, headers: { 'lb-session': raw.id, 'lb-request': toB64u(rid), 'transfer-encoding': 'chunked' },
        }, (res) => {
          const chunks: Buffer[] = [];
          res.pipe(new OpenTransform(raw.k, { ...binding, direction: 'response', status: res.statusCode }))
            .on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
        });
        req.on('error', reject);
        generated(size, 3, sent).pipe(new SealTransform(raw.k, binding, 65536)).pipe(req);
      });
      expect(JSON.parse(plain.toString())).to.deep.equal({ bytes: size, sha256: sent.digest('hex') });
    };
    // Download: through lb/client, decrypted as a web stream and hashed as it comes.
    const download = async (size: number) => {
      const query = `?size=${size}&n=${Math.random()}`;
      const res = await session.fetch(`/download${query}`);
      const got = createHash('sha256');
      let bytes = 0;
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.length;
        got.update(chunk);
      }
      expect(bytes).to.equal(size);
      expect(got.digest('hex')).to.equal(served.get(query));
    };

    // Warm up (JIT, pools, sockets), then the baseline.
    await upload(16 * MB);
    await download(16 * MB);
    (globalThis as { gc?: () => void }).gc?.();
    const baseline = process.memoryUsage();
    let peak = { rss: baseline.rss, arrayBuffers: baseline.arrayBuffers };
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peak = { rss: Math.max(peak.rss, m.rss), arrayBuffers: Math.max(peak.arrayBuffers, m.arrayBuffers) };
    }, 20);
    const growth: Record<string, { rss: number; arrayBuffers: number; ms: number }> = {};
    try {
      for (const [name, transfer] of [['upload', upload], ['download', download]] as const) {
        peak = { rss: baseline.rss, arrayBuffers: baseline.arrayBuffers };
        const t0 = performance.now();
        await transfer(SIZE);
        growth[name] = { rss: Math.round((peak.rss - baseline.rss) / MB), arrayBuffers: Math.round((peak.arrayBuffers - baseline.arrayBuffers) / MB), ms: Math.round(performance.now() - t0) };
      }
    } finally {
      clearInterval(sampler);
    }
    console.log(`      growth over the baseline (MB): ${JSON.stringify(growth)}`);
    for (const name of ['upload', 'download']) {
      expect(growth[name].rss, `${name}: RSS growth (MB)`).to.be.below(100);
      expect(growth[name].arrayBuffers, `${name}: ArrayBuffer growth (MB)`).to.be.below(100);
    }
  });
});
