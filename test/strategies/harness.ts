import http from 'node:http';
import net from 'node:net';
import { createLoadBalancer, createLogger, RequestContext, resolveConfig, type LoadBalancer, type Target } from '../../core/index.js';
import { builtinPlugins } from '../../plugins/index.js';
import { builtinPresets } from '../../presets/index.js';

/**
 * A strategy applied to a real pipeline and target pool (an lb that is built but not
 * listening), so that tests call the `selectTarget` hook exactly as the engine does.
 */
export interface StrategyHarness {
  lb: LoadBalancer;
  /** Targets in configuration order, named a, b, c... by `name`. */
  targets: readonly Target[];
  name(target: Target | undefined): string;
  /** One pick over the pool's available targets (or `candidates`). */
  pick(candidates?: readonly Target[]): Target | undefined;
  /** `count` picks; returns how many each target got, by name. */
  tally(count: number, candidates?: readonly Target[]): Record<string, number>;
  close(): Promise<void>;
}

/** Addresses nothing listens on: unit tests never send a request. */
const backendUrl = (i: number) => `http://127.0.0.1:${9 + i}`;

export async function strategyHarness(strategy: unknown, weights: number[]): Promise<StrategyHarness> {
  const backends = weights.map((weight, i) => ({ url: backendUrl(i), weight }));
  const resolved = await resolveConfig({ backends, strategy }, '', { plugins: builtinPlugins, presets: builtinPresets });
  const lb = await createLoadBalancer(resolved, { logger: createLogger({ level: 'error', write: () => undefined }) });
  const targets = lb.pool.targets;
  const names = new Map(targets.map((t, i) => [t, String.fromCharCode(97 + i)]));
  // A request context from real (unconnected) node objects; strategies do not read it.
  const req = new http.IncomingMessage(new net.Socket());
  const ctx = new RequestContext(req, new http.ServerResponse(req), performance.now());
  const pick = (candidates: readonly Target[] = lb.pool.available) => lb.pipeline.hooks.selectTarget.call(ctx, candidates);
  return {
    lb,
    targets,
    name: (t) => (t ? names.get(t) ?? '?' : 'none'),
    pick,
    tally(count, candidates) {
      const counts: Record<string, number> = Object.fromEntries(targets.map((t) => [names.get(t)!, 0]));
      for (let i = 0; i < count; i++) counts[names.get(pick(candidates)!)!]++;
      return counts;
    },
    close: () => lb.close(),
  };
}

/**
 * The exact pick probabilities of "two distinct draws, the cheaper wins" when each
 * draw is proportional to `draw[i]` without replacement and ties are a coin toss.
 */
export function twoChoiceShares(draw: number[], cost: number[]): number[] {
  const total = draw.reduce((s, x) => s + x, 0);
  const shares = draw.map(() => 0);
  for (let i = 0; i < draw.length; i++) {
    for (let j = 0; j < draw.length; j++) {
      if (i === j) continue;
      const p = (draw[i] / total) * (draw[j] / (total - draw[i]));
      if (cost[i] < cost[j]) shares[i] += p;
      else if (cost[j] < cost[i]) shares[j] += p;
      else {
        shares[i] += p / 2;
        shares[j] += p / 2;
      }
    }
  }
  return shares;
}
