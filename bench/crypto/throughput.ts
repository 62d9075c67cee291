// Part 2's lean load client: POSTs a body that the backend echoes, or GETs a body of a size,
// through lb, closed loop over keep-alive connections. Encrypted requests are sealed with the
// protocol's record layer (node:crypto, the bytes web-records.ts makes; a GET carries the sealed
// empty body in lb-seal); plaintext ones are sent as they are.
import http from 'node:http';
import { randomFillSync } from 'node:crypto';
import { concat, toB64u, u64 } from '../../plugins/handshake/protocol/bytes.js';
import { DEFAULT_RECORD_SIZE, sealedLength, type Binding } from '../../plugins/handshake/protocol/records.js';
import { openPrefix, sealWhole } from '../../plugins/handshake/node-records.js';
import { patternBytes } from './fixture.js';
import type { SessionKeys } from './handshakes.js';

export const ECHO_PATH = '/echo';
export type LoadKind = 'echo' | 'get';

export interface EchoLoad {
  /** lb's base URL (loopback). */
  base: string;
  /** echo: POST `body`, answered with it; get: GET /bytes/<body.length>, answered with patternBytes(length). */
  kind: LoadKind;
  body: Buffer;
  concurrency: number;
  durationMs: number;
  /** Encrypt with this session; plaintext when undefined. */
  session?: SessionKeys;
  /** Responses decrypted (when encrypted) and compared with the body, at the start of the run; the rest are only counted. */
  verify: number;
}

export interface EchoResult {
  requests: number;
  errors: number;
  firstError?: string;
  wallMs: number;
  latencies: number[];
  /** CPU time of this (client) process over the run, ms. */
  clientCpuMs: number;
  verified: number;
}

/** A fresh request id: 8-byte time in ms, 16 random bytes. */
function requestId(): Uint8Array {
  return concat(u64(Date.now()), randomFillSync(new Uint8Array(16)));
}

interface Prepared {
  method: string;
  path: string;
  headers: http.OutgoingHttpHeaders;
  payload: Buffer | undefined;
  binding?: Binding;
  /** Bytes the response must have. */
  expected: number;
}

function prepareRequest(o: EchoLoad): Prepared {
  const echo = o.kind === 'echo';
  const method = echo ? 'POST' : 'GET';
  const path = echo ? ECHO_PATH : `/bytes/${o.body.length}`;
  if (!o.session) {
    const headers = echo ? { 'content-type': 'application/octet-stream', 'content-length': o.body.length } : {};
    return { method, path, headers, payload: echo ? o.body : undefined, expected: o.body.length };
  }
  const rid = requestId();
  const binding: Binding = { direction: 'request', sessionId: o.session.sessionId, requestId: rid, method, path };
  const sealed = sealWhole(o.session.k, binding, echo ? o.body : new Uint8Array(0), DEFAULT_RECORD_SIZE);
  const headers: http.OutgoingHttpHeaders = { 'lb-session': o.session.id, 'lb-request': toB64u(rid) };
  if (echo) Object.assign(headers, { 'content-type': 'application/octet-stream', 'content-length': sealed.length });
  else headers['lb-seal'] = toB64u(sealed);
  // lb seals responses in records of its recordSize (65536 by default).
  return { method, path, headers, payload: echo ? sealed : undefined, binding, expected: sealedLength(o.body.length, DEFAULT_RECORD_SIZE) };
}

function checkBody(o: EchoLoad, p: Prepared, status: number, chunks: Buffer[]): string | undefined {
  const whole = Buffer.concat(chunks);
  if (!o.session) return whole.equals(o.body) ? undefined : 'the response body differs';
  const opened = openPrefix(o.session.k, { ...p.binding!, direction: 'response', status }, whole, DEFAULT_RECORD_SIZE, true);
  if (!('data' in opened)) return `the response does not decrypt: ${opened.reason}`;
  return opened.data.equals(o.body) ? undefined : 'the decrypted body differs';
}

function send(o: EchoLoad, agent: http.Agent, keep: boolean): Promise<void> {
  const p = prepareRequest(o);
  const url = new URL(o.base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: p.path, method: p.method, headers: p.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (keep) chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status !== 200) return reject(new Error(`status ${status} ${res.headers['lb-error'] ?? ''}: ${Buffer.concat(chunks).toString('utf8', 0, 200)}`));
        if (bytes !== p.expected) return reject(new Error(`the response has ${bytes} bytes, not ${p.expected}`));
        const bad = keep ? checkBody(o, p, status, chunks) : undefined;
        if (bad) reject(new Error(bad));
        else resolve();
      });
    });
    req.on('error', reject);
    req.end(p.payload);
  });
}

/** One bounded closed-loop run: `concurrency` requests in flight, each sent as soon as the last on its connection ends. */
export async function echoLoad(o: EchoLoad): Promise<EchoResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const r: EchoResult = { requests: 0, errors: 0, wallMs: 0, latencies: [], clientCpuMs: 0, verified: 0 };
  let toVerify = o.verify;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + o.durationMs;
  const worker = async () => {
    while (performance.now() < end && r.errors < 50) {
      const keep = toVerify > 0;
      if (keep) toVerify--;
      const start = performance.now();
      try {
        await send(o, agent, keep);
        r.requests++;
        if (keep) r.verified++;
        r.latencies.push(performance.now() - start);
      } catch (e) {
        r.errors++;
        r.firstError ??= (e as Error).message;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    agent.destroy();
  }
  r.wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  r.clientCpuMs = (cpu.user + cpu.system) / 1000;
  return r;
}

/** The body of a run: what is POSTed (echo), or what the backend sends (get). */
export function bodyOf(bytes: number): Buffer {
  return patternBytes(bytes);
}
