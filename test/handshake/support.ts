import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http, { type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { generateIdentityFile, readIdentity, type IdentityFile } from '../../plugins/handshake/identity.js';
import { serversPerTest, type TestLb } from '../support/servers.js';

/** A request as a backend (or a man in the middle) received it, body whole. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** false when the request was cut before its body ended (what arrived is in `body`). */
  complete?: boolean;
}

export type Responder = (seen: Seen, res: ServerResponse) => void | Promise<void>;

/** A backend that keeps every request it gets (lb's health checks aside). */
export interface RecordingBackend {
  url: string;
  seen: Seen[];
}

export interface SecureLb extends TestLb {
  pin: string;
  identity: IdentityFile;
}

/** One exchange seen by a wrapped fetch: what went out, what came back on the wire. */
export interface Exchange {
  method: string;
  url: string;
  requestHeaders: Headers;
  requestBody: unknown;
  status: number;
  headers: Headers;
  /** The wire body, when the wrapper was asked to keep bodies. */
  body?: Promise<Buffer>;
}

/** A response as a man in the middle holds it, body whole; the hook may change any part. */
export interface HeldResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface Mitm {
  url: string;
  /** Where requests go; may be changed between requests. */
  target: string;
  log: Array<{ method: string; url: string; status: number }>;
  onRequest?: (req: Seen) => void;
  onResponse?: (req: Seen, res: HeldResponse) => void | Promise<void>;
}

export const HANDSHAKE = '/.lb/handshake';
export const SESSION_HEADERS = ['lb-session', 'lb-request', 'lb-seal', 'lb-accept-encoding'];

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'content-length'];

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** The body as far as it arrived, and whether it ended. */
function readWhatArrives(stream: NodeJS.ReadableStream): Promise<{ body: Buffer; complete: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = (complete: boolean) => resolve({ body: Buffer.concat(chunks), complete });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => done(true));
    stream.on('error', () => done(false));
    stream.on('close', () => done(false));
  });
}

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

/** The backend saw no session header: lb took them all off. */
export function expectNoSessionHeaders(seen: Seen[]): void {
  expect(seen.length).to.be.greaterThan(0);
  for (const s of seen) for (const h of SESSION_HEADERS) expect(s.headers, `${s.method} ${s.url}`).not.to.have.property(h);
}

/** A fetch that records each exchange (and, with `bodies`, a copy of each wire response body). */
export function wire(bodies = false): { fetch: typeof fetch; exchanges: Exchange[] } {
  const exchanges: Exchange[] = [];
  const wrapped = async (input: string | URL | Request, init: RequestInit = {}) => {
    const res = await fetch(input, init);
    const url = new URL(String(input));
    const exchange: Exchange = {
      method: init.method ?? 'GET', url: url.pathname + url.search, requestHeaders: new Headers(init.headers), requestBody: init.body,
      status: res.status, headers: res.headers,
    };
    exchanges.push(exchange);
    if (!bodies) return res;
    exchange.body = res.clone().arrayBuffer().then((b) => Buffer.from(b), () => Buffer.alloc(0));
    return res;
  };
  return { fetch: wrapped as typeof fetch, exchanges };
}

/**
 * Servers for a handshake test file: backends that record what they get, lb with the
 * secure preset and a fresh identity key, and men in the middle; all closed after each test.
 */
export function handshakeServers() {
  const servers = serversPerTest();
  const dirs: string[] = [];
  const open: http.Server[] = [];
  afterEach(async () => {
    for (const server of open.splice(0)) await new Promise<void>((done) => { server.close(() => done()); server.closeAllConnections(); });
  });
  after(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  const identity = (): IdentityFile => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lb-'));
    dirs.push(dir);
    return generateIdentityFile(path.join(dir, 'id.pem'));
  };

  /** Answers `respond` after reading the whole body; by default echoes what it got as JSON. */
  const backend = async (respond?: Responder): Promise<RecordingBackend> => {
    const seen: Seen[] = [];
    const b = await servers.backend('recording', (req, res) => {
      void readWhatArrives(req).then(async ({ body, complete }) => {
        if (req.url === '/.lb/health') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ version: 1, status: 'ok', timestamp: Date.now() }));
          return;
        }
        const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, complete };
        seen.push(s);
        if (!complete) return;
        if (respond) return respond(s, res);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: s.method, url: s.url, length: body.length }));
      });
    });
    return { url: b.url, seen };
  };

  /** lb with the `secure` preset (or `rc.preset`), round robin, the handshake's options and a new identity key (unless they name one). */
  const secureLb = async (backends: string[], handshake: Record<string, unknown> = {}, rc: Record<string, unknown> = {}): Promise<SecureLb> => {
    const id = typeof handshake.identityKey === 'string' ? readIdentity(handshake.identityKey) : identity();
    const options = { identityKey: id.file, pu1: { poolSize: 2 }, ...handshake };
    const lb = await servers.lb({ preset: 'secure', strategy: 'round-robin', backends, plugins: [{ use: 'handshake', options }], ...rc });
    return { ...lb, pin: id.fingerprint, identity: id };
  };

  /** An HTTP proxy that holds each message whole, so that its hooks can read and change it. */
  const mitm = async (target: string): Promise<Mitm> => {
    const m: Mitm = { url: '', target, log: [] };
    const server = http.createServer((req, res) => {
      void (async () => {
        const seen: Seen = { method: req.method ?? 'GET', url: req.url ?? '/', headers: { ...req.headers }, body: await readAll(req) };
        m.onRequest?.(seen);
        const headers = { ...seen.headers };
        for (const h of HOP_BY_HOP) delete headers[h];
        if (seen.body.length > 0) headers['content-length'] = String(seen.body.length);
        const upstream = http.request(m.target + seen.url, { method: seen.method, headers, agent: false });
        upstream.on('error', () => res.destroy());
        upstream.on('response', async (up) => {
          const held: HeldResponse = { status: up.statusCode ?? 502, headers: { ...up.headers }, body: await readAll(up) };
          m.log.push({ method: seen.method, url: seen.url, status: held.status });
          await m.onResponse?.(seen, held);
          const out = { ...held.headers };
          for (const h of HOP_BY_HOP) delete out[h];
          if (seen.method !== 'HEAD' && held.status !== 204 && held.status !== 304) out['content-length'] = String(held.body.length);
          res.writeHead(held.status, out);
          res.end(held.body);
        });
        upstream.end(seen.body);
      })().catch(() => res.destroy());
    });
    open.push(server);
    m.url = await listen(server);
    return m;
  };

  return { ...servers, identity, backend, secureLb, mitm };
}

/** Polls `check` until it returns a value other than undefined, or fails after `ms`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
