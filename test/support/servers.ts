import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLoadBalancer, createLogger, resolveConfig, type LoadBalancer, type Logger } from '../../core/index.js';
import { builtinPlugins } from '../../plugins/index.js';
import { builtinPresets } from '../../presets/index.js';

/** A real HTTP backend on 127.0.0.1 with a free port; counts the requests it receives. */
export interface TestBackend {
  readonly server: http.Server;
  readonly url: string;
  readonly port: number;
  hits: number;
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, backend: TestBackend) => void;

/** Answers `{ backend: name }` as JSON, unless another handler is given. */
export function startBackend(name: string, handler?: Handler): Promise<TestBackend> {
  return new Promise((resolve) => {
    const server = http.createServer();
    const backend: TestBackend = {
      server,
      url: '',
      port: 0,
      hits: 0,
      close: () => new Promise((done) => { server.close(() => done()); server.closeAllConnections(); }),
    };
    server.on('request', (req, res) => {
      backend.hits++;
      if (handler) return handler(req, res, backend);
      const body = JSON.stringify({ backend: name, path: req.url }) + '\n';
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name });
      res.end(body);
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      Object.assign(backend, { port, url: `http://127.0.0.1:${port}` });
      resolve(backend);
    });
  });
}

/** Log lines a test can assert on. */
export interface CapturedLog {
  lines: string[];
  logger: Logger;
}

export function captureLog(level: 'debug' | 'info' | 'warn' = 'info'): CapturedLog {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level, write: (line) => lines.push(line) }) };
}

export interface TestLb {
  lb: LoadBalancer;
  url: string;
  port: number;
  log: CapturedLog;
  close(): Promise<void>;
}

/** Resolves `rc` as an rc file would be, starts lb on a free port, and captures its log. */
export async function startLb(rc: Record<string, unknown>, logLevel: 'debug' | 'info' | 'warn' = 'info'): Promise<TestLb> {
  const resolved = await resolveConfig(rc, '', { plugins: builtinPlugins, presets: builtinPresets });
  const log = captureLog(logLevel);
  const lb = await createLoadBalancer(resolved, { logger: log.logger });
  const info = await lb.listen(0, '127.0.0.1');
  return { lb, url: info.url, port: info.port, log, close: () => lb.close() };
}

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection; resolves with the whole response. */
export function request(url: string, options: http.RequestOptions & { body?: string | Buffer } = {}): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * Backends and lb instances for one `describe`, closed after each test (lb first,
 * then backends), so tests need no cleanup code of their own.
 */
export function serversPerTest() {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    while (open.length) await open.pop()!.close();
  });
  const track = <T extends { close(): Promise<void> }>(server: T): T => {
    open.push(server);
    return server;
  };
  return {
    backend: async (name: string, handler?: Handler) => track(await startBackend(name, handler)),
    /** A closed backend's address: connections to it are refused. */
    deadUrl: async () => {
      const b = await startBackend('dead');
      await b.close();
      return b.url;
    },
    lb: async (rc: Record<string, unknown>, logLevel: 'debug' | 'info' | 'warn' = 'info') => track(await startLb(rc, logLevel)),
  };
}

type Closeable = { close(): Promise<void> };

/**
 * For tests that keep their servers in variables: after each test, closes what `open()`
 * returns then, in order (put lb first), each once.
 */
export function closeAfterEach(open: () => ReadonlyArray<Closeable | undefined>): void {
  const closed = new WeakSet<Closeable>();
  afterEach(async () => {
    for (const server of open()) {
      if (server === undefined || closed.has(server)) continue;
      closed.add(server);
      await server.close();
    }
  });
}
