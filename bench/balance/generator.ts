import http from 'node:http';
import type { Arrival } from './arrivals.js';

/** What one replay of the sequence measured, per request (index = arrival). */
export interface Replay {
  /** Latency from the scheduled send time to the end of the response, ms; NaN when the request failed. */
  latencyMs: Float64Array;
  /** The `x-backend` that served each request ('' when it failed). */
  backend: string[];
  failures: number;
  /** Worst delay between a request's scheduled and actual send, ms (the generator's own lag). */
  maxSendLagMs: number;
}

export interface ReplayOptions {
  /** Past this, a request counts as failed, ms. */
  timeoutMs: number;
  /** After the last arrival, stop waiting after this long, ms. */
  drainMs: number;
}

/**
 * Replays `arrivals` open-loop against a loopback `port`: each request leaves at its
 * scheduled time whether or not earlier ones have returned (so queues show), on a
 * keep-alive agent with no connection limit. Latency counts from the scheduled time,
 * so a late send is charged to the run, not hidden.
 */
export function replay(port: number, arrivals: readonly Arrival[], options: ReplayOptions): Promise<Replay> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024 });
  const n = arrivals.length;
  const result: Replay = { latencyMs: new Float64Array(n).fill(Number.NaN), backend: new Array<string>(n).fill(''), failures: 0, maxSendLagMs: 0 };
  const start = performance.now() + 20;
  let next = 0;
  let finished = 0;
  let timer: NodeJS.Timeout | undefined;
  const requests = new Set<http.ClientRequest>();

  return new Promise((resolve) => {
    const done = () => {
      result.failures = result.latencyMs.reduce((k, v) => (Number.isNaN(v) ? k + 1 : k), 0);
      clearTimeout(timer);
      clearTimeout(deadline);
      for (const req of requests) req.destroy();
      agent.destroy();
      resolve(result);
    };
    const send = (i: number) => {
      // Settles once: a success on the response's end, a failure on any error or early close.
      const settle = (backend: string | undefined) => {
        if (!requests.delete(req)) return;
        if (backend !== undefined) {
          result.latencyMs[i] = performance.now() - (start + arrivals[i].atMs);
          result.backend[i] = backend;
        }
        if (++finished === n) done();
      };
      const req = http.request({ host: '127.0.0.1', port, path: `/work?ms=${arrivals[i].workMs}`, agent }, (res) => {
        const backend = res.statusCode === 200 ? String(res.headers['x-backend'] ?? '?') : undefined;
        res.resume();
        res.once('end', () => settle(backend));
        res.once('close', () => settle(undefined));
      });
      requests.add(req);
      req.setTimeout(options.timeoutMs, () => req.destroy(new Error('timeout')));
      req.once('error', () => settle(undefined));
      req.end();
    };
    const pump = () => {
      const now = performance.now() - start;
      while (next < n && arrivals[next].atMs <= now) {
        result.maxSendLagMs = Math.max(result.maxSendLagMs, now - arrivals[next].atMs);
        send(next++);
      }
      if (next < n) timer = setTimeout(pump, Math.max(0, arrivals[next].atMs - (performance.now() - start) - 0.5));
    };
    const deadline = setTimeout(done, (arrivals[n - 1]?.atMs ?? 0) + options.drainMs + 20);
    timer = setTimeout(pump, 20);
  });
}
