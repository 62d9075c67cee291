import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const root = path.resolve(import.meta.dirname, '../..');
/** The compiled command, as `npx lb` runs it; `npm test` builds it first. */
export const cliEntry = path.join(root, 'dist', 'cli', 'lb.js');

export function requireBuiltCli(): void {
  if (!existsSync(cliEntry)) throw new Error(`${cliEntry} is missing: run \`npm run build\` (npm test does) before these tests.`);
}

export interface Exit { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** A running `lb` child process. */
export interface Child {
  readonly process: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves with the first match of `pattern` in stdout; rejects when the process ends first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves once the process has ended. */
  readonly exited: Promise<Exit>;
  /** SIGTERM, then the exit. */
  stop(): Promise<Exit>;
}

/** Starts the real `lb` command; killed with SIGKILL after `timeoutMs` if still running. */
export function startLb(args: string[], options: { cwd: string; timeoutMs?: number }): Child {
  const child = spawn(process.execPath, [cliEntry, ...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let ended = false;
  const listeners = new Set<() => void>();
  const notify = () => { for (const l of [...listeners]) l(); };
  const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30000);
  child.stdout!.on('data', (d: Buffer) => { stdout += d; notify(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d; });
  const exited = new Promise<Exit>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      ended = true;
      notify();
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    process: child,
    get stdout() { return stdout; },
    get stderr() { return stderr; },
    exited,
    waitFor(pattern, timeoutMs = 20000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`no ${pattern} in lb's output within ${timeoutMs} ms.\nstdout:\n${stdout}\nstderr:\n${stderr}`)), timeoutMs);
        const check = () => {
          const m = pattern.exec(stdout);
          if (m) done(undefined, m);
          else if (ended) done(new Error(`lb exited before printing ${pattern}.\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        };
        const done = (error?: Error, m?: RegExpExecArray) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) reject(error);
          else resolve(m!);
        };
        listeners.add(check);
        check();
      });
    },
    stop() {
      if (!ended) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Runs `lb` to its end. */
export function runLb(args: string[], options: { cwd: string; timeoutMs?: number }): Promise<Exit> {
  return startLb(args, options).exited;
}
