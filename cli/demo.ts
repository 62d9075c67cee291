import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LbError } from '../core/index.js';
import { createHealthAgent } from '../plugins/health/agent.js';

/** A small in-process backend for `lb run --demo`, so balancing is visible at once. */
export interface DemoBackend {
  readonly name: string;
  readonly url: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** True when `url` can be served by a demo backend on this machine. */
export function isDemoAddress(url: string): boolean {
  const u = new URL(url);
  return u.protocol === 'http:' && LOOPBACK.has(u.hostname);
}

/** Longest `?pad=N` a demo backend honours. */
const MAX_PAD = 1 << 20;

/**
 * Starts one demo backend answering every request with who it is (`?pad=N` adds N bytes,
 * to see compression). It serves the lb agent report at /.lb/health, with load reports on
 * its responses, so that the presets with health checks keep it in rotation.
 */
export function startDemoBackend(name: string, host: string, port: number): Promise<DemoBackend> {
  const server = http.createServer();
  const agent = createHealthAgent({ server, loadReports: true });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (agent.handler(req, res)) return;
    const padding = Math.min(MAX_PAD, Number(/[?&]pad=(\d{1,7})(?:&|$)/.exec(req.url ?? '')?.[1] ?? 0));
    const answer: Record<string, unknown> = { backend: name, method: req.method, path: req.url, forwardedFor: req.headers['x-forwarded-for'] ?? null };
    if (padding > 0) answer.pad = 'lb demo padding '.repeat(Math.ceil(padding / 16)).slice(0, padding);
    const body = JSON.stringify(answer) + '\n';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-backend': name });
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      agent.close();
      reject(new LbError('LB_ERR_LISTEN_FAILED', { address: `${host}:${port} (demo backend ${name})`, detail: e.code ?? e.message }));
    });
    server.listen(port, host, () => {
      const { port: bound } = server.address() as AddressInfo;
      const urlHost = host.includes(':') ? `[${host}]` : host;
      resolve({
        name,
        url: `http://${urlHost}:${bound}`,
        close: () => new Promise((done) => {
          agent.close();
          server.close(() => done());
          server.closeAllConnections();
        }),
      });
    });
  });
}

/**
 * Starts demo backends at the configured loopback addresses, or three on free
 * ports when none are configured.
 */
export async function startDemoBackends(configured: readonly string[]): Promise<DemoBackend[]> {
  const addresses = configured.length
    ? configured.map((u) => {
        const url = new URL(u);
        return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) };
      })
    : [0, 0, 0].map((port) => ({ host: '127.0.0.1', port }));
  const started: DemoBackend[] = [];
  try {
    for (const [i, a] of addresses.entries()) started.push(await startDemoBackend(`demo-${i + 1}`, a.host, a.port));
  } catch (e) {
    await Promise.all(started.map((b) => b.close()));
    throw e;
  }
  return started;
}
