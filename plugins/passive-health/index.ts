import { definePlugin, PLUGIN_API_VERSION, type OptionsOf, type Target } from '../../core/index.js';
import { passiveHealthSchema } from './schema.js';

const PLUGIN_NAME = 'passive-health';

const FAILURES = new Set(['LB_ERR_UPSTREAM_CONNECT', 'LB_ERR_UPSTREAM_CONNECT_TIMEOUT', 'LB_ERR_UPSTREAM_RESET', 'LB_ERR_UPSTREAM_TIMEOUT', 'LB_ERR_UPSTREAM_BAD_RESPONSE']);

interface TargetRecord {
  failures: number;
  errors5xx: number;
  /** Ejections in a row; the next lasts ejectMs × (ejections + 1). */
  ejections: number;
  lastEjectionEnd: number;
}

/**
 * Passive health, in the manner of nginx's max_fails/fail_timeout and Envoy's outlier
 * detection: live failures eject a target for a back-off period; the pool puts it back.
 */
export default definePlugin<OptionsOf<typeof passiveHealthSchema>>({
  name: PLUGIN_NAME,
  description: 'Ejects a backend whose live requests fail (connection refused, reset, timeout; optionally 5xx bursts) for a growing back-off period.',
  apiVersion: PLUGIN_API_VERSION,
  schema: passiveHealthSchema,
  apply(pipeline, options) {
    const pool = pipeline.pool;
    // Back-off counts survive reloads, as the ejections themselves (on the targets) do.
    const records = pipeline.keep('records', () => new WeakMap<Target, TargetRecord>());
    const recordOf = (target: Target | undefined) => {
      if (!target || !pool.targets.includes(target)) return undefined;
      let record = records.get(target);
      if (!record) records.set(target, (record = { failures: 0, errors5xx: 0, ejections: 0, lastEjectionEnd: 0 }));
      return record;
    };

    const eject = (target: Target, record: TargetRecord, reason: string) => {
      // As nginx: a lone backend is never considered unavailable; there is nowhere else to go.
      if (target.state !== 'up' || pool.targets.length === 1) return;
      const maxEjected = Math.floor((pool.targets.length * options.maxEjectedPercent) / 100);
      const ejected = pool.targets.filter((t) => t.state === 'ejected').length;
      if (ejected + 1 > maxEjected) {
        pipeline.logger.warn(`target ${target.id} failing but not ejected: maxEjectedPercent reached`, { reason });
        return;
      }
      const now = Date.now();
      // A target that stayed healthy for a full maximum period since its last ejection starts over.
      if (now - record.lastEjectionEnd > options.maxEjectMs) record.ejections = 0;
      const ms = Math.min(options.ejectMs * (record.ejections + 1), options.maxEjectMs);
      record.ejections++;
      record.lastEjectionEnd = now + ms;
      record.failures = 0;
      record.errors5xx = 0;
      pool.eject(target, ms, `${reason}; ejected for ${ms} ms`);
    };

    pipeline.hooks.upstreamError.tap(PLUGIN_NAME, (ctx, error) => {
      const target = ctx.target;
      const record = recordOf(target);
      if (!record || !FAILURES.has(error.code)) return;
      record.failures++;
      if (record.failures >= options.consecutiveFailures) eject(target!, record, `${record.failures} failed attempt(s) in a row, last: ${error.code}`);
    });

    // Counting successes costs every response a call; only pay it when a threshold needs it.
    if (options.consecutiveFailures > 1 || options.consecutive5xx > 0) {
      pipeline.hooks.upstreamResponse.tap(PLUGIN_NAME, (ctx, upstream) => {
        const record = recordOf(ctx.target);
        if (!record) return;
        record.failures = 0;
        if (options.consecutive5xx === 0) return;
        if ((upstream.statusCode ?? 0) >= 500) {
          record.errors5xx++;
          if (record.errors5xx >= options.consecutive5xx) eject(ctx.target!, record, `${record.errors5xx} 5xx responses in a row`);
        } else {
          record.errors5xx = 0;
        }
      });
    }
  },
});
