// The processes the crypto bench measures: lb with and without the handshake plugin, the
// original-way server, TLS 1.3 servers and the echo backend, one process each on 127.0.0.1.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateIdentityFile } from '../../plugins/handshake/identity.js';
import { processTreeCpuMs } from '../lib/proc-cpu.js';
import { freePorts, startChild, waitForPort, type Child } from '../lib/process.js';
import { which } from '../lib/tools.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const here = (file: string) => path.join(repoRoot, 'bench', 'crypto', file);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Part 1's contenders, in table order. */
export const HANDSHAKE_IDS = ['pool', 'rotating', 'x25519', 'original', 'tls-rsa', 'tls-ecdsa'] as const;
export type HandshakeId = (typeof HANDSHAKE_IDS)[number];

export const HANDSHAKE_LABELS: Record<HandshakeId, string> = {
  pool: '(a) lb pu1 pool, rsa-oaep-2048',
  rotating: '(b) lb pu1 rotating, rsa-oaep-2048',
  x25519: '(c) lb suite x25519 (pool)',
  original: '(d) original way (2 RSA pairs per handshake)',
  'tls-rsa': '(e) TLS 1.3, RSA-2048 cert',
  'tls-ecdsa': '(e) TLS 1.3, ECDSA P-256 cert',
};

/** A server process under measurement. */
export interface Server {
  readonly id: string;
  readonly label: string;
  readonly child: Child;
  readonly pid: number;
  readonly port: number;
  /** http://127.0.0.1:port */
  readonly base: string;
  /** lb's identity fingerprint (lb and the original-way server). */
  readonly pin?: string;
  /** The TLS server's certificate, for the client to verify. */
  readonly certPem?: string;
  /** Whether it does background work after handshakes (a PU1 pool refilling). */
  readonly refills: boolean;
}

function startTs(name: string, file: string, args: string[]): Child {
  return startChild(name, process.execPath, ['--import', 'tsx', here(file), ...args], { cwd: repoRoot });
}

/** The handshake plugin's options for one contender; the per-client caps are lifted (every client is 127.0.0.1). */
function handshakeOptions(identityKey: string, suite: string, mode: 'pool' | 'rotating'): Record<string, unknown> {
  return { identityKey, createIdentity: false, suite, pu1: { mode }, limits: { perClientBurst: 100_000, perClientPerSecond: 100_000 } };
}

export interface LbSpec {
  id: string;
  label: string;
  /** Undefined: plain lb (preset basic); else basic + memory-keystore + handshake with these settings. */
  handshake?: { suite: 'rsa-oaep-2048' | 'x25519'; mode: 'pool' | 'rotating' };
}

/** Starts lb (`dist/cli/lb.js run`) with preset basic, round robin over `backend`, plus the handshake plugin when asked. */
export async function startLb(spec: LbSpec, dir: string, backend: string, nodeArgs: string[] = []): Promise<Server> {
  const [port] = await freePorts(1);
  const identity = spec.handshake ? generateIdentityFile(path.join(dir, `${spec.id}-identity.pem`)) : undefined;
  const plugins = spec.handshake
    ? [{ use: 'memory-keystore' }, { use: 'handshake', options: handshakeOptions(identity!.file, spec.handshake.suite, spec.handshake.mode) }]
    : [];
  const rc = path.join(dir, `${spec.id}-lbrc.json`);
  writeFileSync(rc, JSON.stringify({ preset: 'basic', listen: { host: '127.0.0.1', port }, strategy: 'round-robin', backends: [backend], log: { level: 'warn' }, plugins }, null, 2));
  const child = startChild(`lb-${spec.id}`, process.execPath, [...nodeArgs, path.join(repoRoot, 'dist/cli/lb.js'), 'run', '--config', rc], { cwd: dir });
  await waitForPort(port, 20_000, child);
  const refills = spec.handshake?.mode === 'pool';
  return { id: spec.id, label: spec.label, child, pid: child.process.pid!, port, base: `http://127.0.0.1:${port}`, pin: identity?.fingerprint, refills };
}

/** Starts the echo backend; resolves its base URL. */
export async function startBackend(): Promise<{ child: Child; base: string }> {
  const [port] = await freePorts(1);
  const child = startTs('echo-backend', 'echo-backend.ts', [String(port)]);
  await waitForPort(port, 15_000, child);
  return { child, base: `http://127.0.0.1:${port}` };
}

export async function startOriginal(dir: string): Promise<Server> {
  const [port] = await freePorts(1);
  const identity = generateIdentityFile(path.join(dir, 'original-identity.pem'));
  const child = startTs('original', 'original-server.ts', [String(port), identity.file]);
  await waitForPort(port, 15_000, child);
  return { id: 'original', label: HANDSHAKE_LABELS.original, child, pid: child.process.pid!, port, base: `http://127.0.0.1:${port}`, pin: identity.fingerprint, refills: false };
}

/** A self-signed certificate for 127.0.0.1 made with the openssl CLI; undefined when openssl is missing. */
export function selfSigned(dir: string, kind: 'rsa' | 'ecdsa'): { key: string; cert: string } | undefined {
  const openssl = which('openssl');
  if (!openssl) return undefined;
  const key = path.join(dir, `tls-${kind}-key.pem`);
  const cert = path.join(dir, `tls-${kind}-cert.pem`);
  const algorithm = kind === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  const r = spawnSync(openssl, ['req', '-x509', ...algorithm, '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`openssl req -x509 (${kind}) failed:\n${r.stderr}`);
  return { key, cert };
}

export async function startTls(dir: string, kind: 'rsa' | 'ecdsa', certPem: (file: string) => string): Promise<Server | undefined> {
  const files = selfSigned(dir, kind);
  if (!files) return undefined;
  const [port] = await freePorts(1);
  const id = kind === 'rsa' ? 'tls-rsa' : 'tls-ecdsa';
  const child = startTs(id, 'tls-server.ts', [String(port), files.key, files.cert]);
  await waitForPort(port, 15_000, child);
  return { id, label: HANDSHAKE_LABELS[id], child, pid: child.process.pid!, port, base: `https://127.0.0.1:${port}`, certPem: certPem(files.cert), refills: false };
}

/** CPU time (user + system, all threads) of a server so far, ms. */
export function cpuMs(s: Server): number {
  return processTreeCpuMs(s.pid);
}

let ticksPerSecond: number | undefined;

/**
 * CPU time so far of a server's main thread (Node's event loop: JavaScript and synchronous
 * node:crypto), ms, from /proc/<pid>/task/<pid>/stat; the rest of cpuMs() is its other
 * threads (the libuv pool running WebCrypto and key generation, V8's GC and compiler).
 */
export function mainThreadCpuMs(s: Server): number | undefined {
  try {
    const text = readFileSync(`/proc/${s.pid}/task/${s.pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    ticksPerSecond ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
    return ((Number(fields[11]) + Number(fields[12])) / ticksPerSecond) * 1000;
  } catch {
    return undefined;
  }
}

/**
 * Lets only `active` run: every other server of `all` is stopped with SIGSTOP, so the
 * background work of one (a PU1 pool refilling) never lands on another's measurement.
 */
export function runOnly(active: Server | undefined, all: readonly Server[]): void {
  for (const s of all) signal(s, s === active ? 'SIGCONT' : 'SIGSTOP');
}

export function resumeAll(all: readonly Server[]): void {
  for (const s of all) signal(s, 'SIGCONT');
}

function signal(s: Server, name: NodeJS.Signals): void {
  const p = s.child.process;
  if (p.exitCode !== null || p.signalCode !== null) return;
  try {
    process.kill(s.pid, name);
  } catch {
    // It exited in between.
  }
}

/**
 * Waits until a server has used no CPU for `quietMs` (its pool is full again), at most
 * `maxMs`; resolves how long that took.
 */
export async function settle(s: Server, maxMs: number, quietMs = 120): Promise<number> {
  const t0 = performance.now();
  let last = cpuMs(s);
  let quietSince = performance.now();
  while (performance.now() - t0 < maxMs) {
    await sleep(40);
    const now = cpuMs(s);
    if (now !== last) {
      last = now;
      quietSince = performance.now();
    } else if (performance.now() - quietSince >= quietMs) break;
  }
  return performance.now() - t0;
}
