import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHaproxy, startNginx } from '../lib/peers.js';
import { freePorts, httpGet, startChild, waitForPort, type Child } from '../lib/process.js';
import { ensureTool } from '../lib/tools.js';
import { BACKEND_BODY } from './fixture.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const here = (file: string) => path.join(repoRoot, 'bench', 'overhead', file);

/** What a bench measures: a URL served by one process of its own. */
export interface Contender {
  id: ContenderId;
  label: string;
  url: string;
  child?: Child;
  /** The process whose CPU time (with its descendants) is charged to this contender. */
  cpuPid: number | undefined;
  /** Whether requests are spread across both backends (checked before measuring). */
  balances: boolean;
}

/** The default contenders, in table order. */
export const CONTENDER_IDS = ['direct', 'bare-http-proxy-3', 'bare-node-http', 'lb', 'nginx', 'haproxy'] as const;
/** `lb-alt` is another build of lb (its `cli/lb.js`), measured beside this one to compare changes in one run. */
export type ContenderId = (typeof CONTENDER_IDS)[number] | 'lb-alt';

export const LABELS: Record<ContenderId, string> = {
  direct: 'direct to one backend',
  'bare-http-proxy-3': 'bare http-proxy-3',
  'bare-node-http': 'bare node:http pipe',
  lb: 'lb (preset basic)',
  'lb-alt': 'lb alt build (basic)',
  nginx: 'nginx (1 worker)',
  haproxy: 'HAProxy (1 thread)',
};

/** Runs a TypeScript file of this folder in its own Node process. */
function startTs(name: string, file: string, args: string[], nodeArgs: string[] = []): Child {
  return startChild(name, process.execPath, [...nodeArgs, '--import', 'tsx', here(file), ...args], { cwd: repoRoot });
}

export interface Setup {
  backends: Child[];
  backendUrls: string[];
  contenders: Contender[];
  /** Contenders asked for but not available here, with the reason. */
  skipped: Array<{ id: ContenderId; reason: string }>;
}

export interface SetupOptions {
  ids: readonly ContenderId[];
  /** Scratch folder for rc files and peer configs. */
  dir: string;
  /** The compiled `lb.js` of the `lb-alt` contender. */
  lbAltScript?: string;
  /** Extra Node flags for a contender's process (e.g. --cpu-prof); Node contenders only. */
  nodeArgs?: Partial<Record<ContenderId, string[]>>;
  log: (line: string) => void;
}

/**
 * Starts two backends (one node:http process each) and every contender asked for,
 * each in its own process on 127.0.0.1, and waits until all of them listen.
 */
export async function startContenders(o: SetupOptions): Promise<Setup> {
  const ports = await freePorts(2 + o.ids.length);
  const backendPorts = ports.slice(0, 2);
  const backends = backendPorts.map((p, i) => startTs(`backend-${i + 1}`, 'backend.ts', [String(p), `b${i + 1}`]));
  const backendUrls = backendPorts.map((p) => `http://127.0.0.1:${p}`);
  const hostPorts = backendPorts.map((p) => `127.0.0.1:${p}`);
  const contenders: Contender[] = [];
  const skipped: Setup['skipped'] = [];

  o.ids.forEach((id, i) => {
    const port = ports[2 + i];
    const url = `http://127.0.0.1:${port}/`;
    const add = (child: Child) => contenders.push({ id, label: LABELS[id], url, child, balances: true, cpuPid: child.process.pid });
    switch (id) {
      case 'direct':
        contenders.push({ id, label: LABELS[id], url: `${backendUrls[0]}/`, balances: false, cpuPid: backends[0].process.pid });
        break;
      case 'bare-http-proxy-3':
        add(startTs(id, 'bare-http-proxy-3.ts', [String(port), ...backendUrls], o.nodeArgs?.[id]));
        break;
      case 'bare-node-http':
        add(startTs(id, 'bare-node-http.ts', [String(port), ...backendUrls], o.nodeArgs?.[id]));
        break;
      case 'lb':
      case 'lb-alt': {
        const script = id === 'lb' ? path.join(repoRoot, 'dist/cli/lb.js') : o.lbAltScript;
        if (!script) throw new Error('the lb-alt contender needs the path of another build\'s cli/lb.js');
        const rc = path.join(o.dir, `${id}rc.json`);
        writeFileSync(rc, JSON.stringify({ preset: 'basic', listen: { host: '127.0.0.1', port }, backends: backendUrls, log: { level: 'warn' } }, null, 2));
        add(startChild(id, process.execPath, [...(o.nodeArgs?.[id] ?? []), script, 'run', '--config', rc, '--port', String(port)], { cwd: o.dir }));
        break;
      }
      case 'nginx': {
        const binary = ensureTool('nginx', 'nginx', o.log);
        if (binary) add(startNginx({ binary, port, backends: hostPorts, dir: path.join(o.dir, 'nginx') }));
        else skipped.push({ id, reason: 'nginx is not installed and could not be installed' });
        break;
      }
      case 'haproxy': {
        const binary = ensureTool('haproxy', 'haproxy', o.log);
        if (binary) add(startHaproxy({ binary, port, backends: hostPorts, dir: path.join(o.dir, 'haproxy') }));
        else skipped.push({ id, reason: 'haproxy is not installed and could not be installed' });
        break;
      }
    }
  });

  await Promise.all(backends.map((b, i) => waitForPort(backendPorts[i], 15_000, b)));
  for (const c of contenders) {
    if (c.child) await waitForPort(Number(new URL(c.url).port), 20_000, c.child);
  }
  return { backends, backendUrls, contenders, skipped };
}

/**
 * Checks that a contender answers with the backends' body and status 200, and that
 * a balancing one reaches both backends; throws with what it saw otherwise.
 */
export async function checkContender(c: Contender): Promise<void> {
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const r = await httpGet(c.url);
    if (r.status !== 200 || r.body !== BACKEND_BODY) {
      throw new Error(`${c.label} at ${c.url} answered ${r.status} ${JSON.stringify(r.body.slice(0, 200))}; expected 200 ${JSON.stringify(BACKEND_BODY)}`);
    }
    seen.add(String(r.headers['x-backend']));
  }
  if (c.balances && seen.size < 2) throw new Error(`${c.label} sent 4 requests to ${[...seen].join(', ')} only; expected both backends`);
}
