/**
 * Instructions per request, counted with valgrind's callgrind: repeatable to well under
 * 1% on this VM, where wall-clock requests/s drift by ±30% within minutes. Each proxy
 * runs under callgrind twice, serving N and then 5N keep-alive requests; the difference
 * of the two totals over 4N removes start-up and shutdown.
 *
 *   npm run build && tsx bench/overhead/instructions.ts [--n 1000] [--alt /path/to/other/dist/cli/lb.js] [--preset basic] [--encrypted]
 *
 * --encrypted adds lb with the handshake plugin (x25519, rotating PU1: the handshake
 * itself is cheap under valgrind), sent GETs sealed as lb/client seals them, each
 * with its own request id; the answers are checked to be encrypted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePorts, startChild, stopAll, stopChildrenOnExit, waitForPort, type Child } from '../lib/process.js';
import { ensureTool } from '../lib/tools.js';
import { repoRoot } from './contenders.js';
import { ROOMY_LIMITS, freshIdentity, rawHandshake, seal, type RawSession } from '../../test/handshake/raw.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '1000' }, alt: { type: 'string' }, preset: { type: 'string', default: 'basic' }, connections: { type: 'string', default: '4' },
    encrypted: { type: 'boolean', default: false },
  },
});
const N = Number(values.n);
const CONNECTIONS = Number(values.connections);

interface Proxy {
  label: string;
  /** The command line after `valgrind ... node`. */
  args(port: number, backends: string[], dir: string): string[];
  /** Requests it is sent (default: plain GETs). */
  load?(url: string, count: number): Promise<void>;
}

const tsxArgs = (file: string) => ['--import', 'tsx', path.join(repoRoot, 'bench', 'overhead', file)];
const lbArgs = (script: string) => (port: number, backends: string[], dir: string) => {
  const rc = path.join(dir, `rc-${port}.json`);
  writeFileSync(rc, JSON.stringify({ preset: values.preset, listen: { host: '127.0.0.1', port }, backends, log: { level: 'warn' } }));
  return [script, 'run', '--config', rc];
};

const proxies: Proxy[] = [
  { label: 'bare node:http pipe', args: (port, backends) => [...tsxArgs('bare-node-http.ts'), String(port), ...backends] },
  { label: 'bare http-proxy-3', args: (port, backends) => [...tsxArgs('bare-http-proxy-3.ts'), String(port), ...backends] },
  { label: `lb (preset ${values.preset})`, args: lbArgs(path.join(repoRoot, 'dist', 'cli', 'lb.js')) },
];
if (values.alt) proxies.push({ label: `lb alt build (${values.alt})`, args: lbArgs(path.resolve(values.alt)) });
if (values.encrypted) {
  const identity = freshIdentity();
  proxies.push({
    label: `lb (preset ${values.preset}) + handshake, sealed GETs`,
    args: (port, backends, dir) => {
      const rc = path.join(dir, `rc-enc-${port}.json`);
      const plugins = ['memory-keystore', { use: 'handshake', options: { identityKey: identity.file, suite: 'x25519', pu1: { mode: 'rotating' }, limits: ROOMY_LIMITS } }];
      writeFileSync(rc, JSON.stringify({ preset: values.preset, listen: { host: '127.0.0.1', port }, backends, log: { level: 'warn' }, plugins }));
      return [path.join(repoRoot, 'dist', 'cli', 'lb.js'), 'run', '--config', rc];
    },
    async load(url, count) {
      const session = (sessions[url] ??= await rawHandshake(url, identity.pin));
      await load(url, count, () => seal(session, { path: '/' }).headers, (res) => typeof res.headers['content-length'] === 'string' && res.headers['lb-error'] === undefined);
    },
  });
}
const sessions: Record<string, RawSession> = {};

/** Sends `count` GETs over `CONNECTIONS` keep-alive connections, each waiting for the previous answer. */
async function load(url: string, count: number, headers: () => http.OutgoingHttpHeaders = () => ({}), accept: (res: http.IncomingMessage) => boolean = () => true): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  let left = count;
  const worker = async () => {
    while (left-- > 0) {
      await new Promise<void>((resolve, reject) => {
        http.get(url, { agent, headers: headers() }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 && accept(res) ? resolve() : reject(new Error(`status ${res.statusCode} ${res.headers['lb-error'] ?? ''}`))));
        }).on('error', reject);
      });
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  agent.destroy();
}

/** Total instructions of one callgrind run of `proxy` serving `count` requests. */
async function measure(proxy: Proxy, backends: string[], dir: string, count: number): Promise<number> {
  const [port] = await freePorts(1);
  const out = path.join(dir, `callgrind-${port}.out`);
  const child: Child = startChild(proxy.label, 'valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, ...proxy.args(port, backends, dir)], { cwd: repoRoot });
  await waitForPort(port, 180_000, child);
  const send = proxy.load ?? ((url: string, n: number) => load(url, n));
  await send(`http://127.0.0.1:${port}/`, 20);
  await send(`http://127.0.0.1:${port}/`, count);
  await child.stop('SIGTERM', 120_000);
  const totals = /^(?:totals|summary):\s*(\d+)/m.exec(readFileSync(out, 'utf8'));
  if (!totals) throw new Error(`no totals in ${out}`);
  return Number(totals[1]);
}

async function main(): Promise<void> {
  stopChildrenOnExit();
  if (!ensureTool('valgrind', 'valgrind', console.log)) throw new Error('valgrind is not installed and could not be installed');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lb-instructions-'));
  const ports = await freePorts(2);
  const backends = ports.map((p, i) => startChild(`backend-${i + 1}`, process.execPath, [...tsxArgs('backend.ts'), String(p), `b${i + 1}`], { cwd: repoRoot }));
  await Promise.all(ports.map((p, i) => waitForPort(p, 15_000, backends[i])));
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const rows: string[] = [];
  try {
    for (const proxy of proxies) {
      const small = await measure(proxy, urls, dir, N);
      const large = await measure(proxy, urls, dir, 5 * N);
      const perRequest = (large - small) / (4 * N);
      rows.push(`| ${proxy.label} | ${(perRequest / 1e6).toFixed(3)} M |`);
      console.log(`${proxy.label}: ${(perRequest / 1e6).toFixed(3)} M instructions per request (N=${N}: ${small}, 5N: ${large})`);
    }
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(['', `| proxy | instructions per request (N=${N}, ${CONNECTIONS} connections) |`, '|---|---|', ...rows].join('\n'));
}

await main();
