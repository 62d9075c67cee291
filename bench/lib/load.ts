import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ensureTool, which } from './tools.js';

/** What one load run measured. */
export interface LoadResult {
  /** Requests per second over the run. */
  rps: number;
  /** Median latency, milliseconds. */
  p50Ms: number;
  /** 99th percentile latency, milliseconds. */
  p99Ms: number;
  /** Requests completed. */
  requests: number;
  /** Responses with a status outside 2xx/3xx. */
  non2xx: number;
  /** Connect, read, write errors and timeouts. */
  socketErrors: number;
}

export interface LoadOptions {
  /** Loopback URL to load. */
  url: string;
  durationS: number;
  connections: number;
  /** wrk threads (autocannon ignores it). */
  threads: number;
  /** The load tool, from `findLoadTool()`. */
  tool: LoadTool;
}

/** The load generator in use: wrk where installed, autocannon otherwise. */
export interface LoadTool {
  name: 'wrk' | 'autocannon';
  path: string;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function toMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`unreadable wrk time "${text}"`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

/** Reads requests/s, p50, p99, counts and errors from `wrk --latency` output. */
export function parseWrkOutput(text: string): LoadResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const p50 = /^\s*50%\s+(\S+)/m.exec(text);
  const p99 = /^\s*99%\s+(\S+)/m.exec(text);
  const requests = /(\d+) requests in /.exec(text);
  if (!rps || !p50 || !p99 || !requests) throw new Error(`unreadable wrk output (was --latency given?):\n${text}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    rps: Number(rps[1]),
    p50Ms: toMs(p50[1]),
    p99Ms: toMs(p99[1]),
    requests: Number(requests[1]),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock ? sock.slice(1).reduce((n, v) => n + Number(v), 0) : 0,
  };
}

/** Reads the same figures from `autocannon --json` output. */
export function parseAutocannonJson(text: string): LoadResult {
  const r = JSON.parse(text.slice(text.indexOf('{'))) as {
    requests: { average: number; total: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number; timeouts: number;
  };
  return { rps: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, requests: r.requests.total, non2xx: r.non2xx, socketErrors: r.errors + r.timeouts };
}

/** wrk (installed with apt-get when missing and possible), else a local or global autocannon; throws when neither is there. */
export function findLoadTool(log: (line: string) => void = console.error): LoadTool {
  const wrk = ensureTool('wrk', 'wrk', log);
  if (wrk) return { name: 'wrk', path: wrk };
  const local = path.resolve('node_modules/.bin/autocannon');
  const autocannon = existsSync(local) ? local : which('autocannon');
  if (autocannon) return { name: 'autocannon', path: autocannon };
  throw new Error('neither wrk nor autocannon is available: apt-get install wrk, or npm install --no-save autocannon');
}

function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (host !== '127.0.0.1' && host !== '[::1]' && host !== 'localhost') throw new Error(`benchmarks load loopback only, not ${host}`);
}

/** Runs one bounded load run against `url` and parses the tool's report. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  assertLoopback(options.url);
  const { tool, durationS, connections, threads, url } = options;
  const args = tool.name === 'wrk'
    ? [`-t${threads}`, `-c${connections}`, `-d${durationS}s`, '--latency', url]
    : ['-c', String(connections), '-d', String(durationS), '--json', url];
  return new Promise((resolve, reject) => {
    const child = spawn(tool.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    // The tool stops itself after durationS; this only guards against a hang.
    const guard = setTimeout(() => child.kill('SIGKILL'), (durationS + 15) * 1000);
    child.once('error', (e) => { clearTimeout(guard); reject(e); });
    child.once('close', (code) => {
      clearTimeout(guard);
      if (code !== 0) {
        reject(new Error(`${tool.name} ${args.join(' ')} exited with ${code}:\n${err}${out}`));
        return;
      }
      try {
        resolve(tool.name === 'wrk' ? parseWrkOutput(out) : parseAutocannonJson(out));
      } catch (e) {
        reject(e);
      }
    });
  });
}
