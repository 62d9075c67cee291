import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveConfig, type ResolvedConfig } from '../../core/index.js';
import { builtinPlugins } from '../../plugins/index.js';
import { builtinPresets } from '../../presets/index.js';

/** Resolves an rc object as `lb run` would resolve the file (no file: plugin paths are relative to the cwd). */
export function resolveRc(rc: Record<string, unknown>): Promise<ResolvedConfig> {
  return resolveConfig(rc, '', { plugins: builtinPlugins, presets: builtinPresets });
}

/** Polls `check` until it returns a truthy value, or fails naming `what` (worked out then, if a function) after `timeoutMs`. */
export async function waitFor<T>(what: string | (() => string), check: () => T | Promise<T>, timeoutMs = 5000, everyMs = 10): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** A log line without its timestamp: "error [lb] reload refused; ...". */
export function untimed(line: string): string {
  return line.replace(/^\S+ /, '');
}

/** How a counting backend answers its health path. */
export interface CountingBackendOptions {
  /** Delay before answering an ordinary request, in ms. */
  delayMs?: number;
  /** Status of GET /health (200 by default; 503 for a backend the health check must mark down). */
  healthStatus?: number;
  /** GET /held answers "first half;" at once and "second half" once this resolves. */
  held?: Promise<void>;
}

/** A real backend on 127.0.0.1 that counts ordinary requests and health polls apart. */
export interface CountingBackend {
  readonly name: string;
  readonly server: http.Server;
  readonly url: string;
  /** `host:port`, the id lb gives its Target. */
  readonly id: string;
  /** Ordinary requests received (health polls excluded). */
  hits: number;
  /** Requests received on /health. */
  polls: number;
  /** Paths of every request received, health polls excluded. */
  readonly paths: string[];
  /** Open connections to it, as the server counts them. */
  connections(): Promise<number>;
  close(): Promise<void>;
}

/** Answers `{ backend: name }` with an x-backend header (GET /slow/MS after MS ms; GET /held, see `held`); GET /health answers `healthStatus`. */
export function startCountingBackend(name: string, options: CountingBackendOptions = {}): Promise<CountingBackend> {
  const server = http.createServer();
  const backend = {
    name, server, url: '', id: '', hits: 0, polls: 0, paths: [] as string[],
    connections: () => new Promise<number>((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n)))),
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url === '/health') {
      backend.polls++;
      res.writeHead(options.healthStatus ?? 200, { 'content-type': 'text/plain' });
      res.end('health\n');
      return;
    }
    backend.hits++;
    backend.paths.push(req.url ?? '');
    if (req.url === '/held' && options.held) {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name });
      res.write('first half;');
      void options.held.then(() => res.end('second half'));
      return;
    }
    const answer = () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name });
      res.end(JSON.stringify({ backend: name }) + '\n');
    };
    const delayMs = req.url?.startsWith('/slow/') ? Number(req.url.slice(6)) : options.delayMs;
    if (delayMs) setTimeout(answer, delayMs);
    else answer();
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      Object.assign(backend, { url: `http://127.0.0.1:${port}`, id: `127.0.0.1:${port}` });
      resolve(backend);
    });
  });
}

/** What a steady load saw. */
export interface LoadResult {
  /** Responses, by the backend named in x-backend. */
  readonly byBackend: ReadonlyMap<string, number>;
  readonly completed: number;
  /** Every request that did not end in a 200 from a backend, described. */
  readonly failures: readonly string[];
}

/**
 * A steady load: `connections` keep-alive connections, each sending GET requests one
 * after another until `stop()`, `maxRequests` in all, or `maxMs` is reached.
 */
export class SteadyLoad {
  completed = 0;
  readonly failures: string[] = [];
  private readonly agent: http.Agent;
  private stopped = false;
  private readonly done: Promise<void>;
  private readonly byBackend = new Map<string, number>();
  private sent = 0;

  constructor(private readonly url: string, readonly connections: number, private readonly maxRequests: number, maxMs: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: connections });
    const deadline = Date.now() + maxMs;
    const worker = async () => {
      while (!this.stopped && this.sent < this.maxRequests && Date.now() < deadline) {
        this.sent++;
        await this.one();
      }
    };
    this.done = Promise.all(Array.from({ length: connections }, worker)).then(() => undefined);
  }

  private one(): Promise<void> {
    return new Promise((resolve) => {
      const req = http.get(this.url, { agent: this.agent, timeout: 10_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { body += c; });
        res.on('end', () => {
          const backend = String(res.headers['x-backend'] ?? '');
          if (res.statusCode === 200 && backend) this.byBackend.set(backend, (this.byBackend.get(backend) ?? 0) + 1);
          else this.failures.push(`status ${res.statusCode}: ${body.trim()}`);
          this.completed++;
          resolve();
        });
        res.on('error', (e) => { this.failures.push(`response error: ${e.message}`); this.completed++; resolve(); });
      });
      req.on('timeout', () => req.destroy(new Error('no response within 10 s')));
      req.on('error', (e: NodeJS.ErrnoException) => { this.failures.push(`request error: ${e.code ?? ''} ${e.message}`); this.completed++; resolve(); });
    });
  }

  /** Stops sending, waits for the requests in flight, and closes the connections. */
  async stop(): Promise<LoadResult> {
    this.stopped = true;
    await this.done;
    this.agent.destroy();
    return { byBackend: this.byBackend, completed: this.completed, failures: this.failures };
  }
}
