import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHealthAgent, type HealthAgent } from '../../plugins/health/index.js';

/** How a scripted backend answers its health path. */
export type HealthMode = 'agent' | 'fail-500' | 'garbage' | 'html' | 'huge' | 'huge-declared' | 'hang' | 'draining' | 'not-an-object' | 'no-content-type';

/** A real backend on loopback with a mounted health agent and scripted bad behaviour. */
export interface AgentBackend {
  readonly name: string;
  server: http.Server;
  port: number;
  url: string;
  agent: HealthAgent;
  /** Application requests received (health polls excluded). */
  hits: number;
  /** Health polls received, and those answered with a passing report. */
  polls: number;
  passes: number;
  /** Health polls answered with a failing response (any mode but 'agent'). */
  failures: number;
  mode: HealthMode;
  /** Huge bodies sent to their end (0 when every checker hung up early). */
  hugeBodiesCompleted: number;
  /** Stops listening and drops every connection (the agent keeps running). */
  kill(): Promise<void>;
  /** Listens again on the same port. */
  revive(): Promise<void>;
  close(): Promise<void>;
}

function listen(server: http.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startAgentBackend(name: string, mode: HealthMode = 'agent'): Promise<AgentBackend> {
  const hanging = new Set<http.ServerResponse>();
  const makeServer = () => {
    const server = http.createServer((req, res) => {
      if (req.url?.startsWith('/.lb/health')) {
        b.polls++;
        serveHealth(req, res);
        return;
      }
      b.hits++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ backend: name }));
    });
    return server;
  };

  const serveHealth = (req: http.IncomingMessage, res: http.ServerResponse) => {
    switch (b.mode) {
      case 'agent':
        if (b.agent.handler(req, res)) b.passes++;
        return;
    }
    b.failures++;
    switch (b.mode) {
      case 'draining':
        b.agent.setStatus('draining');
        b.agent.handler(req, res);
        b.agent.setStatus('ok');
        return;
      case 'fail-500':
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('broken\n');
        return;
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"status": "ok", "cpu": {'); // cut JSON
        return;
      case 'not-an-object':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('[1, 2, 3]');
        return;
      case 'html':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<html><body>It works!</body></html>');
        return;
      case 'huge': {
        // A streamed body with no length: the client must cut it off itself. One chunk per turn of the
        // event loop, so that this in-process sender does not hog the loop the checker shares.
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(48 * 1024, 0x20);
        let sent = 0;
        const pump = () => {
          if (res.destroyed) return;
          if (sent >= 10 * 1024 * 1024) {
            b.hugeBodiesCompleted++;
            return void res.end();
          }
          sent += chunk.length;
          if (res.write(chunk)) setImmediate(pump);
          else res.once('drain', pump);
        };
        pump();
        return;
      }
      case 'huge-declared':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 10 * 1024 * 1024 });
        res.write('{"status": "ok"');
        hanging.add(res);
        res.once('close', () => hanging.delete(res));
        return;
      case 'no-content-type':
        res.removeHeader('content-type');
        res.writeHead(200);
        res.end(JSON.stringify(b.agent.report()));
        return;
      case 'hang':
        hanging.add(res);
        res.once('close', () => hanging.delete(res));
        return;
    }
  };

  const agent = createHealthAgent({ windowMs: 100 });
  const server = makeServer();
  agent.attach(server);
  const port = await listen(server, 0);
  const b: AgentBackend = {
    name, server, port, url: `http://127.0.0.1:${port}`, agent, hits: 0, polls: 0, passes: 0, failures: 0, mode, hugeBodiesCompleted: 0,
    kill: () => new Promise((done) => {
      b.server.close(() => done());
      b.server.closeAllConnections();
    }),
    revive: async () => {
      b.server = makeServer();
      b.agent.attach(b.server);
      await listen(b.server, b.port);
    },
    close: async () => {
      for (const res of hanging) res.destroy();
      agent.close();
      if (b.server.listening) await b.kill();
    },
  };
  return b;
}

/** Resolves once `condition()` holds; rejects after `timeoutMs` with `what` in the message. */
export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
  return performance.now() - started;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** GETs `url` `n` times in sequence on fresh connections; returns the status codes. */
export async function getMany(url: string, n: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    statuses.push(await new Promise<number>((resolve, reject) => {
      http.get(url, { agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      }).on('error', reject);
    }));
  }
  return statuses;
}
