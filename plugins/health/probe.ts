import http from 'node:http';
import https from 'node:https';

/** What one check request brought back. */
export interface ProbeResponse {
  status: number;
  /** Media type, lower case, without parameters ('' when absent). */
  mediaType: string;
  /** The body, when asked for; at most `maxBodyBytes`. */
  body: string;
  latencyMs: number;
}

export interface ProbeOptions {
  /** The backend: the check goes to its host only. */
  url: URL;
  /** Port to check; 0 uses the backend's own. */
  port: number;
  path: string;
  timeoutMs: number;
  maxBodyBytes: number;
  readBody: boolean;
  accept: string;
  signal: AbortSignal;
}

/**
 * One GET on a fresh connection (so a backend whose listening socket is gone fails
 * even while an old keep-alive connection would still answer). The host is always
 * the backend's; the request is aborted past `timeoutMs` in total, and the body is
 * cut off past `maxBodyBytes`. Rejects with an Error whose message is the reason.
 */
export function probe(o: ProbeOptions): Promise<ProbeResponse> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const hostname = o.url.hostname.startsWith('[') ? o.url.hostname.slice(1, -1) : o.url.hostname;
    const port = o.port || Number(o.url.port) || (o.url.protocol === 'https:' ? 443 : 80);
    const client = o.url.protocol === 'https:' ? https : http;
    let settled = false;
    const fail = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(new Error(reason));
    };
    const req = client.request({
      hostname,
      port,
      path: o.path,
      method: 'GET',
      agent: false,
      signal: o.signal,
      headers: { host: o.port ? `${o.url.hostname}:${port}` : o.url.host, accept: o.accept, 'user-agent': 'lb-health-check', connection: 'close' },
    });
    const timer = setTimeout(() => fail(`no complete response within ${o.timeoutMs} ms`), o.timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => fail(e.name === 'AbortError' ? 'aborted' : `${e.code ? `${e.code} ` : ''}${e.message}`.trim()));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const mediaType = (res.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      const done = (body: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status, mediaType, body, latencyMs: performance.now() - started });
      };
      if (!o.readBody) {
        res.destroy();
        done('');
        return;
      }
      const declared = Number(res.headers['content-length']);
      if (declared > o.maxBodyBytes) {
        fail(`body of ${declared} bytes exceeds maxBodyBytes (${o.maxBodyBytes})`);
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > o.maxBodyBytes) fail(`body exceeds maxBodyBytes (${o.maxBodyBytes})`);
        else chunks.push(chunk);
      });
      res.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
      res.on('error', (e) => fail(`response cut off: ${e.message}`));
      res.on('close', () => {
        if (!res.complete) fail('response cut off before its end');
      });
    });
    req.end();
  });
}
