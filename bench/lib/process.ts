import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';

/** A child process started by a bench, with the tail of its output kept for error reports. */
export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  /** Last few KB of stdout and stderr together. */
  output(): string;
  readonly exited: Promise<number | null>;
  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

const OUTPUT_TAIL = 8192;
const running = new Set<Child>();

/** Spawns `command` without a shell; the child is stopped by `stopAll()` (also on exit and SIGINT). */
export function startChild(name: string, command: string, args: string[], options: SpawnOptions = {}): Child {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-OUTPUT_TAIL);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    proc.once('error', (e) => {
      keep(Buffer.from(`\n[spawn ${command}: ${e.message}]\n`));
      resolve(null);
    });
    proc.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null)));
  });
  const child: Child = {
    name,
    process: proc,
    output: () => tail,
    exited,
    stop: async (signal = 'SIGTERM', graceMs = 3000) => {
      if (proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) {
        proc.kill(signal);
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      running.delete(child);
    },
  };
  running.add(child);
  void exited.then(() => running.delete(child));
  return child;
}

/** Stops every child still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((c) => c.stop()));
}

let hooked = false;
/** Kills the children if the bench is interrupted or exits early, so no server outlives it. */
export function stopChildrenOnExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const c of running) c.process.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void stopAll().finally(() => process.exit(130));
    });
  }
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** `count` distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once 127.0.0.1:`port` accepts a TCP connection; rejects after `timeoutMs` or when `child` exits first. */
export async function waitForPort(port: number, timeoutMs = 15000, child?: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child?.exited.then(() => { exited = true; });
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => { socket.destroy(); resolve(false); });
    });
    if (open) return;
    if (exited) throw new Error(`${child?.name} exited before listening on port ${port}:\n${child?.output()}`);
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms${child ? `:\n${child.output()}` : ''}`);
    await sleep(50);
  }
}

/** A GET's status, headers and body (loopback only; no keep-alive), bounded by `timeoutMs`. */
export function httpGet(url: string, timeoutMs = 5000): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const parsed = new URL(url);
  if (parsed.hostname !== '127.0.0.1' && parsed.hostname !== '[::1]' && parsed.hostname !== 'localhost') {
    return Promise.reject(new Error(`benchmarks send traffic to loopback only, not ${parsed.hostname}`));
  }
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Runs `npm run build` in `root` (the compiled CLI a bench starts); throws with its output on failure. */
export function buildLb(root: string, log: (line: string) => void): void {
  log('npm run build ...');
  const r = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`npm run build failed (status ${r.status}):\n${r.stdout}${r.stderr}`);
}

/**
 * The command a bench run can be repeated with, for its report: `npm run SCRIPT`
 * and the flags it was given, less those that do not change the figures.
 */
export function benchCommand(script: string, argv: readonly string[], ignored: readonly string[] = []): string {
  const flags = argv.filter((a) => !ignored.includes(a));
  return flags.length ? `npm run ${script} -- ${flags.join(' ')}` : `npm run ${script}`;
}
