import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The absolute path of `command` on PATH (plus /usr/sbin, where nginx and haproxy live), or undefined. */
export function which(command: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The path of `command`, installing `aptPackage` with apt-get when it is missing and
 * apt-get is usable; undefined when it cannot be had (the bench then skips that peer).
 */
export function ensureTool(command: string, aptPackage = command, log: (line: string) => void = console.error): string | undefined {
  const found = which(command);
  if (found) return found;
  if (!which('apt-get')) return undefined;
  log(`${command} is missing; trying apt-get install -y ${aptPackage} ...`);
  const result = spawnSync('apt-get', ['install', '-y', '-q', aptPackage], { stdio: 'ignore', timeout: 180_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (result.status !== 0) log(`apt-get install ${aptPackage} failed (status ${result.status}); skipping ${command}.`);
  return which(command);
}

/** First line of a tool's version output (some print it on stderr or exit non-zero), or undefined. */
export function toolVersion(command: string, args: string[] = ['-v']): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  if (result.error) return undefined;
  const text = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  return text.split('\n')[0]?.trim() || undefined;
}

/** Facts about this machine that a benchmark result depends on. */
export interface MachineFacts {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
}

export function machineFacts(): MachineFacts {
  const cpus = os.cpus();
  return {
    nproc: os.availableParallelism(),
    cpuModel: cpus[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}
