import { definePlugin, PLUGIN_API_VERSION, Stage, type OptionsOf, type Target } from '../../core/index.js';
import { metricsFromLoadReport, parseLoadReportHeader } from './orca.js';
import { loadReportsSchema } from './schema.js';

const PLUGIN_NAME = 'orca-load-reports';

/**
 * In-band load reports: on every backend response that carries the header, the
 * report is parsed and merged into the target's metrics (fields it lacks keep their
 * last value), so the proxy learns a backend's load per response rather than per poll.
 * A malformed header changes nothing; the response goes on untouched.
 */
export default definePlugin<OptionsOf<typeof loadReportsSchema>>({
  name: PLUGIN_NAME,
  description: 'Reads in-band load reports (ORCA endpoint-load-metrics, TEXT or JSON) from every backend response into the target\'s metrics.',
  kind: 'feature',
  apiVersion: PLUGIN_API_VERSION,
  schema: loadReportsSchema,
  apply(pipeline, options) {
    const header = options.header.toLowerCase();
    const strip = options.strip;
    const { pool } = pipeline;
    const log = pipeline.logger.child(PLUGIN_NAME);
    // Logged when a target's problem changes, not on every response.
    const lastProblem = new Map<Target, string>();

    const read = (target: Target, value: string) => {
      try {
        const metrics = metricsFromLoadReport(parseLoadReportHeader(value));
        pool.updateMetrics(target, { ...target.metrics, ...metrics });
        if (lastProblem.size) lastProblem.delete(target);
      } catch (e) {
        const problem = (e as Error).message;
        if (lastProblem.get(target) === problem) return;
        lastProblem.set(target, problem);
        log.debug(`ignoring the ${header} header of ${target.id}`, { reason: problem });
      }
    };

    pipeline.hooks.upstreamResponse.tap({ name: PLUGIN_NAME, stage: Stage.NORMAL }, (ctx, upstream) => {
      const target = ctx.target;
      const raw = upstream.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i];
        if (name.length !== header.length || name.toLowerCase() !== header) continue;
        if (target) read(target, raw[i + 1]);
        if (strip) ctx.hideResponseHeader(header);
        return;
      }
    });
  },
});
