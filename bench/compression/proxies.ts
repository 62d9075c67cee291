// End-to-end: lb (compression off, on) and nginx (gzip off, level 1, level 6) in front of the same
// backend process, loaded with wrk carrying an Accept-Encoding header, interleaved, medians.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseWrkOutput, type LoadResult } from '../lib/load.js';
import { freePorts, startChild, waitForPort, type Child } from '../lib/process.js';
import { nginxHead } from '../lib/peers.js';
import { ensureTool } from '../lib/tools.js';
import type { BenchDocument } from './documents.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const here = (file: string) => path.join(repoRoot, 'bench', 'compression', file);

export type ContenderId = 'lb-off' | 'lb-stage' | 'lb-br' | 'lb-gzip' | 'lb-br-malloc' | 'nginx-off' | 'nginx-gzip1' | 'nginx-gzip6';

export interface Contender {
  id: ContenderId;
  label: string;
  /** Base URL (no path). */
  url: string;
  /** Accept-Encoding sent by the load generator. */
  acceptEncoding: string;
}

export const LABELS: Record<ContenderId, string> = {
  'lb-off': 'lb, compression off',
  'lb-stage': 'lb, pass-through stage, no compression',
  'lb-br': 'lb, compressed (br, defaults)',
  'lb-gzip': 'lb, compressed (gzip client, level 6)',
  'lb-br-malloc': 'lb, compressed (br), glibc malloc tuned',
  'nginx-off': 'nginx, gzip off',
  'nginx-gzip1': 'nginx, gzip level 1 (its default)',
  'nginx-gzip6': 'nginx, gzip level 6',
};

/** nginx.conf: one worker, upstream keep-alive, and one server per gzip setting (off, 1, 6). */
function nginxConfig(dir: string, backend: string, ports: { off: number; gzip1: number; gzip6: number }): string {
  const server = (port: number, gzip: string) => `  server {
    listen 127.0.0.1:${port};
${gzip}
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`;
  const gzipOn = (level: number) => `    gzip on; gzip_comp_level ${level}; gzip_min_length 1024; gzip_proxied any; gzip_vary on;
    gzip_types application/json text/html;`;
  return `${nginxHead(dir)}
  upstream backend {
    server ${backend};
    keepalive 64;
    keepalive_requests 1000000;
  }
${server(ports.off, '    gzip off;')}
${server(ports.gzip1, gzipOn(1))}
${server(ports.gzip6, gzipOn(6))}
}
`;
}

/**
 * glibc malloc settings that keep freed memory in the process instead of returning it to the
 * OS after each response: brotli allocates and frees megabytes per stream, and without them
 * every response pays page faults for fresh memory (see docs/compression.md).
 */
export const MALLOC_TUNING = { MALLOC_TRIM_THRESHOLD_: String(64 << 20), MALLOC_MMAP_THRESHOLD_: String(32 << 20) };

export interface ProxySetup {
  children: Child[];
  contenders: Contender[];
  skipped: string[];
  nginxVersion: string | undefined;
}

/** Starts the backend, two lb processes and (where installed) one nginx, and waits until they listen. */
export async function startProxies(dir: string, log: (line: string) => void): Promise<ProxySetup> {
  const [backendPort, lbOff, lbStage, lbOn, lbMalloc, nOff, n1, n6] = await freePorts(8);
  const node = (name: string, file: string, args: string[], env: Record<string, string> = {}) =>
    startChild(name, process.execPath, ['--import', 'tsx', here(file), ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
  const backend = node('backend', 'backend.ts', [String(backendPort)]);
  const backendUrl = `http://127.0.0.1:${backendPort}`;
  const rc = (preset: string, plugins: string[] = []) => JSON.stringify({ preset, backends: [backendUrl], plugins, log: { level: 'warn' } });
  const children = [
    backend,
    node('lb-off', 'lb-server.ts', [String(lbOff), rc('basic')]),
    node('lb-stage', 'lb-server.ts', [String(lbStage), rc('basic', ['./bench/compression/passthrough-stage.ts'])]),
    node('lb-on', 'lb-server.ts', [String(lbOn), rc('compressed')]),
    node('lb-malloc', 'lb-server.ts', [String(lbMalloc), rc('compressed')], MALLOC_TUNING),
  ];
  const contenders: Contender[] = [
    { id: 'lb-off', label: LABELS['lb-off'], url: `http://127.0.0.1:${lbOff}`, acceptEncoding: 'br, gzip' },
    { id: 'lb-stage', label: LABELS['lb-stage'], url: `http://127.0.0.1:${lbStage}`, acceptEncoding: 'br, gzip' },
    { id: 'lb-br', label: LABELS['lb-br'], url: `http://127.0.0.1:${lbOn}`, acceptEncoding: 'br, gzip' },
    { id: 'lb-gzip', label: LABELS['lb-gzip'], url: `http://127.0.0.1:${lbOn}`, acceptEncoding: 'gzip' },
    { id: 'lb-br-malloc', label: LABELS['lb-br-malloc'], url: `http://127.0.0.1:${lbMalloc}`, acceptEncoding: 'br, gzip' },
  ];
  const skipped: string[] = [];
  let nginxVersion: string | undefined;
  const nginx = ensureTool('nginx', 'nginx', log);
  if (nginx) {
    const nginxDir = path.join(dir, 'nginx');
    mkdirSync(nginxDir, { recursive: true });
    const conf = path.join(nginxDir, 'nginx.conf');
    writeFileSync(conf, nginxConfig(nginxDir, `127.0.0.1:${backendPort}`, { off: nOff, gzip1: n1, gzip6: n6 }));
    children.push(startChild('nginx', nginx, ['-p', nginxDir, '-c', conf, '-e', path.join(nginxDir, 'error.log')]));
    contenders.push(
      { id: 'nginx-off', label: LABELS['nginx-off'], url: `http://127.0.0.1:${nOff}`, acceptEncoding: 'gzip' },
      { id: 'nginx-gzip1', label: LABELS['nginx-gzip1'], url: `http://127.0.0.1:${n1}`, acceptEncoding: 'gzip' },
      { id: 'nginx-gzip6', label: LABELS['nginx-gzip6'], url: `http://127.0.0.1:${n6}`, acceptEncoding: 'gzip' },
    );
    nginxVersion = await new Promise<string>((resolve) => {
      const p = spawn(nginx, ['-v'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let text = '';
      p.stderr.on('data', (c: Buffer) => { text += c.toString(); });
      p.on('close', () => resolve(text.trim().replace(/^nginx version: /, '')));
    });
  } else {
    skipped.push('nginx is not installed and could not be installed');
  }
  await waitForPort(backendPort, 20_000, backend);
  for (const c of contenders) await waitForPort(Number(new URL(c.url).port), 20_000, children.find((ch) => ch.name !== 'backend'));
  return { children, contenders, skipped, nginxVersion };
}

/** One request with the contender's Accept-Encoding: status, coding and bytes on the wire. */
export function probe(c: Contender, doc: BenchDocument): Promise<{ status: number; coding: string; wireBytes: number }> {
  return new Promise((resolve, reject) => {
    http.get(`${c.url}/${doc.id}`, { agent: false, headers: { 'accept-encoding': c.acceptEncoding } }, (res) => {
      let wireBytes = 0;
      res.on('data', (chunk: Buffer) => { wireBytes += chunk.length; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, coding: String(res.headers['content-encoding'] ?? 'identity'), wireBytes }));
    }).on('error', reject);
  });
}

/** One bounded wrk run with the contender's Accept-Encoding header. */
export function runWrk(wrk: string, c: Contender, doc: BenchDocument, durationS: number, connections: number): Promise<LoadResult> {
  const args = ['-t1', `-c${connections}`, `-d${durationS}s`, '--latency', '-H', `Accept-Encoding: ${c.acceptEncoding}`, `${c.url}/${doc.id}`];
  return new Promise((resolve, reject) => {
    const child = spawn(wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    const guard = setTimeout(() => child.kill('SIGKILL'), (durationS + 15) * 1000);
    child.once('error', (e) => { clearTimeout(guard); reject(e); });
    child.once('close', (code) => {
      clearTimeout(guard);
      if (code !== 0) return void reject(new Error(`wrk ${args.join(' ')} exited with ${code}:\n${out}`));
      try {
        resolve(parseWrkOutput(out));
      } catch (e) {
        reject(e);
      }
    });
  });
}
