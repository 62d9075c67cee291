import http from 'node:http';
import zlib from 'node:zlib';
import { startBackend, type TestBackend } from '../support/servers.js';

/** A whole response with its body as bytes (compressed bodies are not text). */
export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request on a fresh connection; resolves with the raw (still encoded) response. */
export function rawRequest(url: string, options: http.RequestOptions & { body?: Buffer | string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Decodes a body by its Content-Encoding (none, gzip or br). */
export function decode(response: RawResponse): Buffer {
  const coding = response.headers['content-encoding'];
  if (coding === undefined) return response.body;
  if (coding === 'gzip') return zlib.gunzipSync(response.body);
  if (coding === 'br') return zlib.brotliDecompressSync(response.body);
  throw new Error(`unexpected Content-Encoding ${coding}`);
}

/** Deterministic, compressible text of `size` bytes. */
export function text(size: number, seed = 1): Buffer {
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];
  let state = seed >>> 0;
  const parts: string[] = [];
  let length = 0;
  while (length < size) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const word = words[state % words.length] + ((state >>> 8) % 7 === 0 ? '.\n' : ' ');
    parts.push(word);
    length += word.length;
  }
  return Buffer.from(parts.join('').slice(0, size));
}

/**
 * A backend whose response is described by the query string, so that each negotiation
 * rule is one request: size, type, status, chunked, headers (h.NAME=value).
 */
export function startScriptedBackend(): Promise<TestBackend> {
  return startBackend('scripted', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams;
    const status = Number(q.get('status') ?? 200);
    const body = q.has('body') ? Buffer.from(q.get('body') ?? '') : text(Number(q.get('size') ?? 4096));
    const headers: http.OutgoingHttpHeaders = {};
    const type = q.get('type') ?? 'text/plain; charset=utf-8';
    if (type !== 'none') headers['content-type'] = type;
    for (const [key, value] of q) if (key.startsWith('h.')) headers[key.slice(2)] = value;
    const chunked = q.has('chunked');
    if (!chunked && status !== 204 && status !== 304) headers['content-length'] = body.length;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || status === 204 || status === 304) return void res.end();
    if (!chunked) return void res.end(body);
    // Chunked: the first piece now, the rest after `pause` ms (a backend still computing).
    const pause = Number(q.get('pause') ?? 0);
    const first = Math.min(body.length, Number(q.get('first') ?? 64));
    res.write(body.subarray(0, first));
    setTimeout(() => res.end(body.subarray(first)), pause);
  });
}
