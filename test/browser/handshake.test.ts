import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { generateIdentityFile } from '../../plugins/handshake/identity.js';
import { serversPerTest } from '../support/servers.js';

// The browser bundle of lb/client (dist/browser/lb-client.js) in headless Chromium, against a real
// lb and backend. The backend serves the page and the bundle in clear (plaintext: 'allow'), so the
// page and its encrypted fetches share lb's origin (no CORS).
const CHROMIUM = process.env.LB_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = path.resolve(import.meta.dirname, '../..');
const BUNDLE = path.join(ROOT, 'dist/browser/lb-client.js');
const PAGE_JS = path.join(import.meta.dirname, 'page.js');
const PAGE_HTML = '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body><script type="module" src="/page.js"></script></body></html>';
const BIG = 10 * 1024 * 1024;

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Deterministic bytes: the streamed download's chunk `i`. */
function chunk(i: number, size: number): Buffer {
  return Buffer.alloc(size, `chunk ${i} of the streamed download; `);
}

interface Received {
  method: string;
  url: string;
  bytes: number;
  sha256: string;
  contentType: string | null;
  lbHeaders: string[];
}

/** The backend: the page and bundle in clear, and the /api/* routes the page calls through the session. */
function app() {
  const received: Received[] = [];
  const stream = { sent: [] as Buffer[], release: undefined as (() => void) | undefined };
  const text = 'a compressible line of text, said again and again inside the encryption\n'.repeat(3000);
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = req.url ?? '/';
    const pathname = url.split('?')[0];
    if (pathname === '/.lb/health') return void res.writeHead(200).end();
    if (pathname === '/page.html') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE_HTML);
    if (pathname === '/page.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(fs.readFileSync(PAGE_JS));
    if (pathname === '/lb-client.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(fs.readFileSync(BUNDLE));
    if (pathname === '/api/text') return void res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
    if (pathname === '/api/stream') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const write = (c: Buffer) => {
        stream.sent.push(c);
        return res.write(c);
      };
      write(chunk(0, 200 * 1024));
      stream.release = async () => {
        for (let i = 1; i <= 20; i++) if (!write(chunk(i, 100 * 1024))) await new Promise((r) => res.once('drain', r));
        res.end();
      };
      return;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      const r: Received = {
        method: req.method ?? '', url, bytes, sha256: hash.digest('hex'), contentType: req.headers['content-type'] ?? null,
        lbHeaders: Object.keys(req.headers).filter((h) => h.startsWith('lb-')),
      };
      received.push(r);
      if (pathname === '/api/release') {
        void stream.release?.();
        return void res.writeHead(204).end();
      }
      if (pathname === '/api/nothing') return void res.writeHead(204).end();
      res.writeHead(200, { 'content-type': 'application/json', 'x-echo': 'yes' }).end(JSON.stringify(r));
    });
  };
  return { handler, received, stream, text };
}

describe('lb/client in the browser (dist/browser/lb-client.js in headless Chromium)', function () {
  this.timeout(60000);
  const servers = serversPerTest();
  let browser: Browser;
  let dir: string;
  let pin: string;
  let context: BrowserContext | undefined;

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium is not at ${CHROMIUM}: .ci/run installs it (apt-get install chromium); set LB_CHROMIUM to use another binary`);
    if (!fs.existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npm run build`);
    const stale = Math.max(newestSource(path.join(ROOT, 'plugins/handshake/client')), newestSource(path.join(ROOT, 'plugins/handshake/protocol')));
    if (fs.statSync(BUNDLE).mtimeMs < stale) throw new Error(`${BUNDLE} is older than the client's sources: run npm run build`);
    dir = fs.mkdtempSync(os.tmpdir() + '/lb-');
    pin = generateIdentityFile(path.join(dir, 'id.pem')).fingerprint;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  });
  afterEach(async () => {
    await context?.close();
    context = undefined;
  });
  after(async () => {
    await browser?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start(handler: ReturnType<typeof app>['handler'], preset = 'secure', handshake: Record<string, unknown> = {}) {
    const backend = await servers.backend('app', handler);
    return servers.lb({
      listen: { host: '127.0.0.1', port: 0 }, preset, strategy: 'round-robin', backends: [backend.url],
      plugins: [
        { use: 'health-check', options: { format: 'none' } },
        { use: 'handshake', options: { identityKey: path.join(dir, 'id.pem'), plaintext: 'allow', pu1: { poolSize: 2 }, ...handshake } },
      ],
    });
  }

  /** Opens the page on lb's origin; `problems` collects console errors and uncaught page errors. */
  async function open(lbUrl: string, pagePin = pin): Promise<{ page: Page; problems: string[] }> {
    context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(`${lbUrl}/page.html?pin=${encodeURIComponent(pagePin)}`);
    await page.waitForSelector('body[data-ready="yes"]', { state: 'attached', timeout: 15000 }).catch((e: Error) => {
      throw new Error(`the page did not load the bundle: ${[...problems, e.message].join('; ')}`);
    });
    return { page, problems };
  }

  it('connects with the pin and makes an empty GET, a small POST and a bodiless 204 round trip', async () => {
    const a = app();
    const lb = await start(a.handler);
    const { page, problems } = await open(lb.url);
    const r = await page.evaluate('window.scenarios.roundTrips()') as {
      id: string; expiresInMs: number; get: { status: number; xEcho: string; body: Received }; post: { status: number; body: Received }; bodiless: { status: number; body: string };
    };
    expect(r.id).to.match(/^[A-Za-z0-9_-]{22}$/);
    expect(r.expiresInMs).to.be.within(800_000, 900_000);
    expect(r.get.status).to.equal(200);
    expect(r.get.xEcho).to.equal('yes');
    expect(r.get.body).to.include({ method: 'GET', url: '/api/echo?empty=1', bytes: 0, sha256: sha256('') });
    expect(r.post.status).to.equal(200);
    expect(r.post.body).to.include({ method: 'POST', url: '/api/echo?small=1', bytes: 19, sha256: sha256('hello from chromium'), contentType: 'text/plain;charset=utf-8' });
    expect(r.bodiless).to.deep.equal({ status: 204, body: '' });
    expect(a.received.map((x) => x.lbHeaders)).to.deep.equal([[], [], []]);
    expect(problems).to.deep.equal([]);
  });

  it('uploads a 10 MB body made in the page, and the backend receives the bytes the page hashed', async () => {
    const a = app();
    const lb = await start(a.handler);
    const { page, problems } = await open(lb.url);
    const r = await page.evaluate(`window.scenarios.bigUpload(${BIG})`) as { local: string; status: number; echoed: Received };
    expect(r.status).to.equal(200);
    expect(a.received).to.have.length(1);
    expect(a.received[0]).to.include({ method: 'PUT', bytes: BIG, sha256: r.local, contentType: 'application/octet-stream' });
    expect(r.echoed).to.deep.equal(a.received[0]);
    expect(problems).to.deep.equal([]);
  });

  it('streams a download: the page reads decrypted bytes while the backend still holds the rest', async () => {
    const a = app();
    const lb = await start(a.handler);
    const { page, problems } = await open(lb.url);
    const r = await page.evaluate('window.scenarios.streamedDownload()') as { status: number; firstRead: number; reads: number; bytes: number; sha256: string; releaseStatus: number };
    const sent = Buffer.concat(a.stream.sent);
    expect(sent.length).to.equal(2200 * 1024);
    expect(r).to.include({ status: 200, releaseStatus: 204, bytes: sent.length, sha256: sha256(sent) });
    expect(r.firstRead).to.be.within(1, 200 * 1024);
    expect(r.reads).to.be.greaterThan(2);
    expect(problems).to.deep.equal([]);
  });

  it('decodes a gzip response compressed inside the encryption with the secure-compressed preset', async () => {
    const a = app();
    const lb = await start(a.handler, 'secure-compressed');
    const { page, problems } = await open(lb.url);
    const r = await page.evaluate('window.scenarios.compressed()') as {
      status: number; contentType: string; length: number; sha256: string; wire: { lbContentEncoding: string; contentEncoding: string | null; wireBytes: number };
    };
    expect(r).to.include({ status: 200, contentType: 'text/plain; charset=utf-8', length: a.text.length, sha256: sha256(a.text) });
    // gzip is inside the records: the outer response has no Content-Encoding for the browser to undo.
    expect(r.wire.lbContentEncoding).to.equal('gzip');
    expect(r.wire.contentEncoding).to.equal(null);
    expect(r.wire.wireBytes).to.be.below(a.text.length / 20);
    expect(problems).to.deep.equal([]);
  });

  it('makes the x25519 handshake with Chromium\'s WebCrypto and keys from prepare()', async () => {
    const a = app();
    const lb = await start(a.handler, 'secure', { suite: 'x25519' });
    const { page, problems } = await open(lb.url);
    const r = await page.evaluate('window.scenarios.x25519()') as { status: number; body: Received };
    expect(r.status).to.equal(200);
    expect(r.body).to.include({ method: 'POST', bytes: 11, sha256: sha256('over x25519') });
    expect(problems).to.deep.equal([]);
  });

  it('refuses a proxy whose identity is not the pinned one, with LB_ERR_CLIENT_PIN_MISMATCH', async () => {
    const a = app();
    const lb = await start(a.handler);
    const wrong = generateIdentityFile(path.join(dir, 'other.pem')).fingerprint;
    const { page, problems } = await open(lb.url);
    const r = await page.evaluate(`window.scenarios.wrongPin(${JSON.stringify(wrong)})`) as Record<string, unknown>;
    expect(r).to.deep.equal({
      name: 'LbClientError', code: 'LB_ERR_CLIENT_PIN_MISMATCH', status: 0, fromServer: false, isLbClientError: true,
      message: `the proxy's identity is ${pin}, not the pinned ${wrong}: refusing (a man in the middle, or a new identity key) (LB_ERR_CLIENT_PIN_MISMATCH)`,
    });
    expect(a.received).to.deep.equal([]);
    expect(problems).to.deep.equal([]);
  });
});
