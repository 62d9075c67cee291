import { readFileSync } from 'node:fs';

/** The parts of a V8 .cpuprofile (written by `node --cpu-prof`) that a summary needs. */
interface CpuProfile {
  startTime: number;
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

/** Time spent in one function (all its call sites together). */
export interface FunctionTime {
  name: string;
  /** file:line, shortened. */
  location: string;
  /** Where the code lives: "lb core", "http-proxy-3", "node internals", ... */
  area: string;
  selfMs: number;
  /** Self plus callees (recursion counted once per stack). */
  totalMs: number;
}

export interface ProfileSummary {
  totalMs: number;
  functions: FunctionTime[];
  /** Self time per area, largest first. */
  areas: Array<{ area: string; selfMs: number }>;
}

function shortUrl(url: string): string {
  if (!url) return '';
  const clean = url.replace(/^file:\/\//, '');
  const nm = clean.lastIndexOf('/node_modules/');
  if (nm >= 0) return clean.slice(nm + '/node_modules/'.length);
  const m = /\/(dist\/)?(core|plugins|presets|cli|bench)\/.*/.exec(clean);
  return m ? m[0].slice(1) : clean;
}

/** Which part of the stack a script belongs to. */
function areaOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : 'native/V8';
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/node_modules/http-proxy-3/')) return 'http-proxy-3';
  if (url.includes('/node_modules/tapable/')) return 'tapable';
  if (url.includes('/node_modules/')) return 'other dependencies';
  const m = /\/(core|plugins|presets|cli|bench)\//.exec(url);
  return m ? `lb ${m[1]}` : 'other';
}

/** Which samples to count, in milliseconds since the profile started (about when the process started). */
export interface ProfileWindow {
  fromMs?: number;
  toMs?: number;
}

/** Self and total time per function from a .cpuprofile file, optionally only within `window` (to leave out start-up). */
export function summariseCpuProfile(file: string, window: ProfileWindow = {}): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; the time after it is what the sampled frame spent.
  const fromUs = (window.fromMs ?? 0) * 1000;
  const toUs = (window.toMs ?? Infinity) * 1000;
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (at < fromUs || at > toUs) continue;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + dt);
  }
  const keyOf = (id: number) => {
    const f = byId.get(id)!.callFrame;
    return `${f.functionName || '(anonymous)'}\u0000${shortUrl(f.url)}:${f.lineNumber + 1}\u0000${areaOf(f.url, f.functionName)}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    totalUs += us;
    const key = keyOf(id);
    self.set(key, (self.get(key) ?? 0) + us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = keyOf(cur);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + us);
    }
  }
  const functions: FunctionTime[] = [...total.entries()].map(([key, us]) => {
    const [name, location, area] = key.split('\u0000');
    return { name, location, area, selfMs: (self.get(key) ?? 0) / 1000, totalMs: us / 1000 };
  });
  const areaTotals = new Map<string, number>();
  for (const f of functions) areaTotals.set(f.area, (areaTotals.get(f.area) ?? 0) + f.selfMs);
  return {
    totalMs: totalUs / 1000,
    functions,
    areas: [...areaTotals.entries()].map(([area, selfMs]) => ({ area, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}

/**
 * A plain-text report: time per area, the top functions by self time, and `focus` areas by
 * total time. Given the number of requests served while profiling, each line also shows µs per request.
 */
export function formatProfileSummary(s: ProfileSummary, top = 25, focus: string[] = ['lb core'], requests?: number): string {
  const pct = (ms: number) => `${((ms / s.totalMs) * 100).toFixed(1).padStart(5)}%`;
  const perReq = (ms: number) => (requests ? `${((ms * 1000) / requests).toFixed(2).padStart(7)} µs/req ` : '');
  const row = (f: FunctionTime, ms: number) => `${pct(ms)} ${ms.toFixed(0).padStart(7)} ms ${perReq(ms)} ${f.name.padEnd(36)} ${f.area.padEnd(15)} ${f.location}`;
  const lines = [`sampled ${s.totalMs.toFixed(0)} ms${requests ? `, ${requests} requests` : ''}`, '', 'self time by area:'];
  for (const a of s.areas) lines.push(`${pct(a.selfMs)} ${a.selfMs.toFixed(0).padStart(7)} ms ${perReq(a.selfMs)} ${a.area}`);
  lines.push('', `top ${top} functions by self time:`);
  for (const f of [...s.functions].sort((a, b) => b.selfMs - a.selfMs).slice(0, top)) lines.push(row(f, f.selfMs));
  for (const area of focus) {
    const inArea = s.functions.filter((f) => f.area === area).sort((a, b) => b.totalMs - a.totalMs);
    if (!inArea.length) continue;
    lines.push('', `${area}: total (inclusive) time, self in brackets:`);
    for (const f of inArea.slice(0, top)) lines.push(`${row(f, f.totalMs)}  [self ${f.selfMs.toFixed(0)} ms]`);
  }
  return lines.join('\n');
}
