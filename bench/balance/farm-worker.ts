import { parentPort, workerData } from 'node:worker_threads';
import { startFarm, stopFarm, type BackendSpec } from './farm.js';

/** The farm on its own thread, so that the balancer's work never delays the emulated CPUs' timers. */
const { specs, jobs: shared } = workerData as { specs: BackendSpec[]; jobs: SharedArrayBuffer };
const jobs = new Int32Array(shared);
const farm = await startFarm(specs);
farm.forEach((b, i) => {
  b.cpu.onChange = (n) => Atomics.store(jobs, i, n);
});
parentPort!.postMessage({ ports: farm.map((b) => b.port) });
parentPort!.on('message', (message: unknown) => {
  if (message === 'stop') void stopFarm(farm).then(() => parentPort!.close());
});
