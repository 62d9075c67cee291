import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './helpers.js';

const root = path.resolve(import.meta.dirname, '../..');
/** The compiled command, as `npx lb` runs it; `npm test` builds it first. */
export const cliEntry = path.join(root, 'dist', 'cli', 'lb.js');

/** Fails the suite early, with what to do, when dist/ has not been built. */
export function requireBuiltCli(): void {
  if (!existsSync(cliEntry)) throw new Error(`${cliEntry} is missing: run \`npm run build\` (npm test does) before these tests.`);
}

/** Replaces a file in one rename, as editors save, so that lb never reads half of it. */
export function replaceFile(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

/** Runs `lb` with `args` to its end (`lb reload`, `lb validate`). */
export function runLb(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliEntry, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('close', (code) => { clearTimeout(killer); resolve({ code, stdout, stderr }); });
  });
}

/** A real `lb run` child process: its URL once it listens, and its log (stderr) line by line. */
export class LbProcess {
  readonly child: ChildProcess;
  url = '';
  stdout = '';
  /** Every stderr line so far, without its timestamp; a line that carries detail lines (a refused reload) stays one entry. */
  readonly log: string[] = [];
  private partial = '';
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** How it exited, once it has. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  private constructor(args: string[], cwd: string, signalOnListen: NodeJS.Signals | undefined) {
    this.child = spawn(process.execPath, [cliEntry, 'run', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => {
      const first = !this.stdout.includes('listening on');
      this.stdout += d;
      if (signalOnListen && first && this.stdout.includes('listening on')) this.child.kill(signalOnListen);
    });
    this.child.stderr!.on('data', (d: Buffer) => this.read(d.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve(this.exit = { code, signal })));
  }

  /** Starts `lb run ARGS` in `cwd` and waits until it listens; `signalOnListen` is sent the moment it says so. */
  static async start(args: string[], cwd: string, signalOnListen?: NodeJS.Signals): Promise<LbProcess> {
    const lb = new LbProcess(args, cwd, signalOnListen);
    await waitFor('lb to listen', () => {
      if (lb.exit) throw new Error(`lb exited (${JSON.stringify(lb.exit)}) before listening:\n${lb.stdout}\n${lb.log.join('\n')}`);
      const m = /listening on (http:\S+)/.exec(lb.stdout);
      return m && (lb.url = m[1]);
    }, 15_000);
    return lb;
  }

  private read(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      // Detail lines (" - ...", "   -> ...") belong to the line before them.
      if (/^ /.test(line) && this.log.length) this.log[this.log.length - 1] += `\n${line}`;
      else this.log.push(line.replace(/^\S+ /, ''));
    }
  }

  /** The log lines matching `pattern`. */
  lines(pattern: RegExp): string[] {
    return this.log.filter((l) => pattern.test(l));
  }

  /** Waits for a log line matching `pattern` and returns it. */
  waitForLine(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    return waitFor(() => `a log line matching ${pattern}; the log:\n${this.log.join('\n')}`, () => {
      const line = this.log.find((l) => pattern.test(l));
      if (!line && this.exit) throw new Error(`lb exited (${JSON.stringify(this.exit)}) before logging a line matching ${pattern}; the log:\n${this.log.join('\n')}`);
      return line;
    }, timeoutMs);
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.child.kill(signal)) throw new Error(`could not send ${signal} to lb (pid ${this.child.pid})`);
  }

  /** SIGTERM, and how it exited (SIGKILL after 10 s). */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      void this.exited.then(() => clearTimeout(killer));
    }
    return this.exited;
  }

  async close(): Promise<void> {
    await this.stop();
  }
}
