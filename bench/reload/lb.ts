// The compiled lb (`dist/cli/lb.js run --config FILE`) under test: its rc, SIGHUP, and the lines it logs.
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpGet, startChild, waitForPort, type Child } from '../lib/process.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The parts of the rc that change between reloads. */
export interface RcVariant {
  strategy: 'round-robin' | 'least-connections';
  backends: string[];
}

/** One "reload: generation N serving ... ms=X" line, and when the bench read it. */
export interface ReloadLine {
  generation: number;
  ms: number;
  seenAt: number;
}

const RELOAD_LINE = /reload: generation (\d+) serving\b.*\bms=([\d.]+)/;
const PROBLEM_LINE = /^\S+ (warn|error)\s/;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class LbUnderTest {
  readonly child: Child;
  readonly url: string;
  /** Every successful reload logged, in order. */
  readonly reloads: ReloadLine[] = [];
  /** Every warn or error line lb logged (a refused reload, a grace period cut, a backend marked down...). */
  readonly problems: string[] = [];
  /** The variant last written to the rc. */
  written: RcVariant | undefined;
  private partial = '';

  private constructor(private readonly rcFile: string, private readonly port: number, first: RcVariant) {
    this.url = `http://127.0.0.1:${port}/`;
    this.writeRc(first);
    this.child = startChild('lb', process.execPath, [path.join(repoRoot, 'dist/cli/lb.js'), 'run', '--config', rcFile], { cwd: path.dirname(rcFile) });
    this.child.process.stderr?.on('data', (chunk: Buffer) => this.read(chunk.toString()));
  }

  /** Starts lb on 127.0.0.1:`port` with `first` and waits until it listens. */
  static async start(dir: string, port: number, first: RcVariant): Promise<LbUnderTest> {
    const lb = new LbUnderTest(path.join(dir, 'lbrc.json'), port, first);
    await waitForPort(port, 20_000, lb.child);
    return lb;
  }

  private read(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = RELOAD_LINE.exec(line);
      if (m) this.reloads.push({ generation: Number(m[1]), ms: Number(m[2]), seenAt: performance.now() });
      if (PROBLEM_LINE.test(line)) this.problems.push(line);
    }
  }

  /** Replaces the rc in one rename, so lb never reads half a file. */
  writeRc(v: RcVariant): void {
    const rc = { preset: 'basic', listen: { host: '127.0.0.1', port: this.port }, strategy: v.strategy, backends: v.backends, log: { level: 'info' } };
    writeFileSync(`${this.rcFile}.tmp`, JSON.stringify(rc, null, 2));
    renameSync(`${this.rcFile}.tmp`, this.rcFile);
    this.written = v;
  }

  /** Sends SIGHUP; returns performance.now() just before the kill(). */
  hup(): number {
    const t0 = performance.now();
    if (!this.child.process.kill('SIGHUP')) throw new Error(`could not signal lb:\n${this.child.output()}`);
    return t0;
  }

  /** The log line of generation `n`, waiting up to `timeoutMs` for it. */
  async waitForGeneration(n: number, timeoutMs = 5000): Promise<ReloadLine | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const line = this.reloads.find((r) => r.generation === n);
      if (line || performance.now() > deadline) return line;
      await sleep(10);
    }
  }

  /** The generation serving now (1 before any reload). */
  get generation(): number {
    return this.reloads.at(-1)?.generation ?? 1;
  }

  /** Writes `v`, reloads and waits for the log line; throws when lb does not log the new generation. */
  async reloadTo(v: RcVariant): Promise<ReloadLine> {
    const next = this.generation + 1;
    this.writeRc(v);
    this.hup();
    const line = await this.waitForGeneration(next);
    if (!line) throw new Error(`lb logged no "reload: generation ${next} serving" within 5 s:\n${this.child.output()}`);
    return line;
  }
}

/** What one SIGHUP-to-serving sample saw. */
export interface SwitchSample {
  /** kill() to the first 200 from the new backend, ms. */
  externalMs: number;
  /** The round trip of the request that answered from the new backend, ms (the poll's resolution). */
  answerMs: number;
  /** lb's own `ms=` for this reload. */
  loggedMs: number | undefined;
  /** Answers from the old backend after the kill(). */
  stale: number;
  /** Polls that failed (an error or a status other than 200). */
  failed: string[];
}

/**
 * Writes `v` (whose only backend is `expect`), sends SIGHUP and polls lb, one request after
 * another on fresh connections, until one answers from `expect`; bounded by `timeoutMs`.
 */
export async function timeToServe(lb: LbUnderTest, v: RcVariant, expect: string, timeoutMs = 5000): Promise<SwitchSample> {
  const next = lb.generation + 1;
  lb.writeRc(v);
  const t0 = lb.hup();
  let stale = 0;
  const failed: string[] = [];
  for (;;) {
    const elapsed = performance.now() - t0;
    if (elapsed > timeoutMs) throw new Error(`no answer from backend ${expect} ${timeoutMs} ms after SIGHUP (${stale} from the old one, ${failed.length} failed):\n${lb.child.output()}`);
    try {
      const sent = performance.now();
      const r = await httpGet(lb.url, 2000);
      if (r.status === 200 && r.headers['x-backend'] === expect) {
        const now = performance.now();
        const line = await lb.waitForGeneration(next);
        return { externalMs: now - t0, answerMs: now - sent, loggedMs: line?.ms, stale, failed };
      }
      if (r.status === 200) stale++;
      else failed.push(`status ${r.status} at +${elapsed.toFixed(1)} ms: ${r.body.slice(0, 200)}`);
    } catch (e) {
      failed.push(`${(e as Error).message} at +${elapsed.toFixed(1)} ms`);
    }
  }
}
