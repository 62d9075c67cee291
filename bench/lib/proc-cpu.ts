import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    ticksPerSecond = Number(r.stdout?.trim()) || 100;
  }
  return ticksPerSecond;
}

/** [ppid, utime + stime in ticks] of a process from /proc, or undefined when it is gone. */
function readStat(pid: number): [number, number] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: fields start after the last ")".
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return [Number(fields[1]), Number(fields[11]) + Number(fields[12])];
  } catch {
    return undefined;
  }
}

/** Whether CPU time can be read here (Linux /proc). */
export function canMeasureCpu(): boolean {
  return readStat(process.pid) !== undefined;
}

/**
 * CPU time (user + system, all threads) used so far by `pid` and its descendants
 * (nginx's workers under its master), in milliseconds. Resolution: one clock tick (10 ms).
 * Under contention from other work this stays honest where requests/s does not.
 */
export function processTreeCpuMs(pid: number): number {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) parents.set(Number(name), stat[0]);
  }
  const tree = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [child, parent] of parents) {
      if (tree.has(parent) && !tree.has(child)) {
        tree.add(child);
        grew = true;
      }
    }
  }
  let ticks = 0;
  for (const p of tree) ticks += readStat(p)?.[1] ?? 0;
  return (ticks / clockTicks()) * 1000;
}
