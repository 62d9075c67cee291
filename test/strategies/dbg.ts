import { request, startBackend, startLb } from '../support/servers.js';
const slow = await startBackend('slow', (_req, res) => { setTimeout(() => res.end('slow'), 80); });
const backends = [slow, await startBackend('fast-1'), await startBackend('fast-2')];
const lb = await startLb({ backends: backends.map((b) => b.url), strategy: { use: 'p2c-ewma', options: { seed: 1 } } });
let seq = '';
for (let i = 0; i < 60; i++) { const t0 = performance.now(); const r = await request(`${lb.url}/${i}`); seq += r.body.includes('slow') ? 'S' : r.body.includes('fast-1') ? '1' : '2'; if (performance.now()-t0 > 50 && false) console.log(i); }
console.log(seq);
await lb.close(); for (const b of backends) await b.close();
