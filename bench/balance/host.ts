/**
 * One bench process: the emulated farm on a worker thread and, when an rc is given,
 * an lb on the main thread balancing across it (the oracle strategy reads the farm's
 * shared memory, so it must live here). Prints one JSON line when ready:
 * `{"ports":[...],"lbPort":N}`; stops on SIGTERM.
 * Usage: node --import tsx bench/balance/host.ts '<json: { specs, rc? }>'
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createLoadBalancer, createLogger, resolveConfig, type LoadBalancer } from '../../core/index.js';
import { builtinPlugins } from '../../plugins/index.js';
import { builtinPresets } from '../../presets/index.js';
import type { BackendSpec } from './farm.js';
import { setFarmView } from './farm-view.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { specs, rc } = JSON.parse(process.argv[2] ?? '{}') as { specs: BackendSpec[]; rc?: Record<string, unknown> };

const shared = new SharedArrayBuffer(4 * specs.length);
// Worker threads do not inherit tsx's loader on Node 20: the worker loads it first, then the farm.
const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => tsx.tsImport(${JSON.stringify(pathToFileURL(path.join(here, 'farm-worker.ts')).href)}, ${JSON.stringify(import.meta.url)}))`;
const worker = new Worker(bootstrap, { eval: true, workerData: { specs, jobs: shared } });
const ports = await new Promise<number[]>((resolve, reject) => {
  worker.once('message', (m: { ports: number[] }) => resolve(m.ports));
  worker.once('error', reject);
});
setFarmView({ ports, cores: specs.map((s) => s.cores), background: specs.map((s) => s.background), jobs: new Int32Array(shared) });

let lb: LoadBalancer | undefined;
let lbPort: number | undefined;
if (rc) {
  // Plugin paths in the rc are relative to this folder (the rc "file" lives here).
  const resolved = await resolveConfig({ ...rc, backends: ports.map((p) => `http://127.0.0.1:${p}`) }, path.join(here, '.lbrc.json'), { plugins: builtinPlugins, presets: builtinPresets });
  lb = await createLoadBalancer(resolved, { logger: createLogger({ level: 'warn' }) });
  lbPort = (await lb.listen(0, '127.0.0.1')).port;
}
process.stdout.write(`${JSON.stringify({ ports, lbPort })}\n`);

process.once('SIGTERM', () => {
  void (async () => {
    await lb?.close();
    worker.postMessage('stop');
    await new Promise((resolve) => worker.once('exit', resolve));
    process.exit(0);
  })();
});
