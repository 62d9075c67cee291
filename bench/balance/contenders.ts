import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startChild, waitForPort, type Child } from '../lib/process.js';
import { nginxHead } from '../lib/peers.js';
import type { BackendSpec } from './farm.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

/** A balancer under test: an lb configuration, or a peer proxy with one balancing method. */
export interface Contender {
  /** Short name, used on the command line (--only). */
  name: string;
  /** What the table shows. */
  label: string;
  /** What the charts show, when shorter than the label. */
  short?: string;
  kind: 'lb' | 'nginx' | 'haproxy';
  /** lb: the rc (backends are filled in); paths are relative to bench/balance. */
  rc?: Record<string, unknown>;
  /** nginx: the upstream directive ('' for round robin); haproxy: the `balance` algorithm. */
  method?: string;
  /** Part of lb's own product (highlighted), rather than a peer, a baseline or a reference. */
  ours?: boolean;
}

/** Every contender, in the order runs interleave them. */
export function allContenders(pollMs: number): Contender[] {
  const polling = { use: 'health-check', options: { intervalMs: pollMs } };
  return [
    { name: 'oracle', label: 'oracle (join the shortest true queue)', short: 'oracle (shortest true queue)', kind: 'lb', rc: { strategy: './oracle-plugin.ts' } },
    { name: 'random', label: 'lb random', kind: 'lb', rc: { strategy: { use: 'random', options: { seed: 1 } } } },
    { name: 'round-robin', label: 'lb round-robin', kind: 'lb', rc: { strategy: 'round-robin' } },
    { name: 'least-connections', label: 'lb least-connections', kind: 'lb', rc: { strategy: 'least-connections' }, ours: true },
    { name: 'p2c-ewma', label: 'lb p2c-ewma', kind: 'lb', rc: { strategy: { use: 'p2c-ewma', options: { seed: 1 } } }, ours: true },
    { name: 'metric-based', label: `lb metric-based (polled every ${pollMs} ms)`, short: 'lb metric-based', kind: 'lb', rc: { strategy: { use: 'metric-based', options: { seed: 1 } }, plugins: [polling] }, ours: true },
    { name: 'metric-based-inband', label: 'lb metric-based (polled + in-band reports)', short: 'lb metric-based, in-band', kind: 'lb', rc: { strategy: { use: 'metric-based', options: { seed: 1 } }, plugins: [polling, 'orca-load-reports'] }, ours: true },
    { name: 'original', label: `original design (min polled CPU, every ${pollMs} ms)`, kind: 'lb', rc: { strategy: './min-cpu-plugin.ts', plugins: [polling] } },
    { name: 'nginx-least-conn', label: 'nginx least_conn', kind: 'nginx', method: 'least_conn;' },
    { name: 'nginx-round-robin', label: 'nginx round robin', kind: 'nginx', method: '' },
    { name: 'haproxy-leastconn', label: 'HAProxy leastconn', kind: 'haproxy', method: 'leastconn' },
    { name: 'haproxy-random2', label: 'HAProxy random(2) (power of two)', short: 'HAProxy random(2)', kind: 'haproxy', method: 'random(2)' },
  ];
}

/** A contender running in front of a fresh farm. */
export interface Setup {
  port: number;
  stop(): Promise<void>;
}

async function lineFrom(child: Child, pattern: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => { exited = true; });
  for (;;) {
    const line = child.output().split('\n').find((l) => pattern.test(l));
    if (line) return line;
    if (exited || Date.now() > deadline) throw new Error(`${child.name} did not start:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function nginxConf(dir: string, port: number, backends: number[], method: string): string {
  return `${nginxHead(dir, 16384)}
  upstream farm {
    ${method}
${backends.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
    keepalive 1024;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://farm;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 120s;
    }
  }
}
`;
}

function haproxyConf(port: number, backends: number[], balance: string): string {
  return `global
  nbthread 1
  maxconn 8000
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 60s
frontend bench
  bind 127.0.0.1:${port}
  default_backend farm
backend farm
  balance ${balance}
  http-reuse always
${backends.map((p, i) => `  server b${i + 1} 127.0.0.1:${p}`).join('\n')}
`;
}

/**
 * Starts a fresh farm (and, for lb, the balancer in the same process: the oracle reads
 * the farm's memory), then the peer proxy if the contender is one.
 */
export async function startSetup(contender: Contender, specs: readonly BackendSpec[], binaries: { nginx?: string; haproxy?: string }): Promise<Setup> {
  const host = startChild('host', process.execPath, ['--import', 'tsx', path.join(here, 'host.ts'), JSON.stringify({ specs, rc: contender.kind === 'lb' ? contender.rc : undefined })], { cwd: root });
  let info: { ports: number[]; lbPort?: number };
  try {
    info = JSON.parse(await lineFrom(host, /^\{"ports"/, 30_000)) as typeof info;
  } catch (e) {
    await host.stop();
    throw e;
  }
  if (contender.kind === 'lb') return { port: info.lbPort!, stop: () => host.stop() };

  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), `lb-balance-${contender.name}-`));
  let peer: Child;
  if (contender.kind === 'nginx') {
    for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, d));
    writeFileSync(path.join(dir, 'nginx.conf'), nginxConf(dir, port, info.ports, contender.method ?? ''));
    peer = startChild('nginx', binaries.nginx!, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')]);
  } else {
    writeFileSync(path.join(dir, 'haproxy.cfg'), haproxyConf(port, info.ports, contender.method ?? 'roundrobin'));
    peer = startChild('haproxy', binaries.haproxy!, ['-db', '-f', path.join(dir, 'haproxy.cfg')]);
  }
  const stop = async () => {
    await peer.stop();
    await host.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, 15_000, peer);
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, stop };
}
