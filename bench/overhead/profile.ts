// CPU profile of one Node contender under wrk load, summarised by self time.
// Usage: npx tsx bench/overhead/profile.ts [--target lb|lb-alt|bare-http-proxy-3|bare-node-http] [--lb-alt FILE] [--duration 10] [--warmup 2] [--top 25] [--keep DIR] [--skip-build]
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatProfileSummary, summariseCpuProfile, type ProfileWindow } from '../lib/cpuprofile.js';
import { findLoadTool, runLoad } from '../lib/load.js';
import { stopAll, stopChildrenOnExit } from '../lib/process.js';
import { checkContender, repoRoot, startContenders, type ContenderId } from './contenders.js';

const PROFILABLE = ['lb', 'lb-alt', 'bare-http-proxy-3', 'bare-node-http'] as const;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: 'lb' }, duration: { type: 'string', default: '10' }, warmup: { type: 'string', default: '2' },
      top: { type: 'string', default: '25' }, keep: { type: 'string' }, 'lb-alt': { type: 'string' }, 'skip-build': { type: 'boolean' },
    },
  });
  const target = values.target as ContenderId;
  if (!(PROFILABLE as readonly string[]).includes(target)) throw new Error(`--target must be one of ${PROFILABLE.join(', ')}`);
  const durationS = Math.min(120, Math.max(1, Number(values.duration)));
  const warmupS = Math.min(60, Math.max(0, Number(values.warmup)));
  stopChildrenOnExit();
  const tool = findLoadTool();
  if (target === 'lb' && !values['skip-build']) {
    const r = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}${r.stderr}`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lb-bench-profile-'));
  const profDir = path.join(dir, 'prof');
  try {
    const lbAltScript = values['lb-alt'] ? path.resolve(values['lb-alt']) : undefined;
    const spawnedAt = performance.now();
    const setup = await startContenders({ ids: [target], dir, log: console.error, lbAltScript, nodeArgs: { [target]: ['--cpu-prof', '--cpu-prof-dir', profDir] } });
    const c = setup.contenders[0];
    await checkContender(c);
    const load = { url: c.url, connections: 64, threads: 1, tool };
    if (warmupS > 0) await runLoad({ ...load, durationS: warmupS });
    // Only the measured run counts: start-up (config validation) and warm-up are left out of the summary.
    const measured: ProfileWindow = { fromMs: performance.now() - spawnedAt };
    const r = await runLoad({ ...load, durationS });
    measured.toMs = performance.now() - spawnedAt;
    console.log(`${c.label} under --cpu-prof: ${Math.round(r.rps)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms (${tool.name} -c64, ${durationS} s)\n`);
    // A graceful stop lets Node write the profile on exit.
    await c.child!.stop('SIGTERM', 15_000);
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile written in ${profDir}; output:\n${c.child!.output()}`);
    console.log(formatProfileSummary(summariseCpuProfile(path.join(profDir, file), measured), Number(values.top), ['lb core', 'lb plugins', 'http-proxy-3'], r.requests));
    if (values.keep) {
      mkdirSync(values.keep, { recursive: true });
      copyFileSync(path.join(profDir, file), path.join(values.keep, `${target}.cpuprofile`));
      console.log(`\nkept ${path.join(values.keep, `${target}.cpuprofile`)}`);
    }
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch(async (e: unknown) => {
  console.error(`bench/overhead/profile: ${(e as Error).message}`);
  await stopAll();
  process.exitCode = 1;
});
