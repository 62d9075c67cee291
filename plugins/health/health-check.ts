import { definePlugin, PLUGIN_API_VERSION, Stage, type HealthReport, type Logger, type OptionsOf, type Pipeline, type Target } from '../../core/index.js';
import { probe } from './probe.js';
import { readNodeExporter, type CpuCounters } from './prometheus.js';
import { readAgentReport } from './read-report.js';
import { AGENT_PATH } from './report.js';
import { healthCheckSchema } from './schema.js';

const PLUGIN_NAME = 'health-check';

type Options = OptionsOf<typeof healthCheckSchema>;
type Format = Options['format'];

const DEFAULT_PATH: Record<Format, string> = {
  'lb-agent': AGENT_PATH,
  none: AGENT_PATH,
  prometheus: '/metrics?collect[]=cpu&collect[]=meminfo&collect[]=loadavg',
};
const ACCEPT: Record<Format, string> = {
  'lb-agent': 'application/json',
  prometheus: 'text/plain;version=0.0.4, application/openmetrics-text;q=0.5',
  none: '*/*',
};
const MEDIA_TYPES: Record<Format, readonly string[]> = {
  'lb-agent': ['application/json'],
  prometheus: ['text/plain', 'application/openmetrics-text'],
  none: [],
};

/** Options with the format's defaults applied. */
interface Settings extends Options {
  path: string;
}

function mediaTypeMatches(format: Format, mediaType: string): boolean {
  return MEDIA_TYPES[format].includes(mediaType) || (format === 'lb-agent' && mediaType.startsWith('application/') && mediaType.endsWith('+json'));
}

/** The HTTP check, as a healthCheck tap: fills in ok, reason, latency and metrics. */
function createHttpProbe(settings: Settings, signal: AbortSignal, log: Logger) {
  const cpuCounters = new Map<Target, CpuCounters>();
  const lastIgnored = new Map<Target, string>();
  const where = `GET ${settings.path}`;
  const expected = settings.expectStatus.join(' or ');
  return async (target: Target, report: HealthReport): Promise<void> => {
    const failWith = (reason: string) => {
      report.ok = false;
      report.reason ??= `${where}: ${reason}`;
    };
    let response;
    try {
      response = await probe({
        url: target.url, port: target.healthPort ?? settings.port, path: settings.path, timeoutMs: settings.timeoutMs, maxBodyBytes: settings.maxBodyBytes,
        readBody: settings.format !== 'none', accept: ACCEPT[settings.format], signal,
      });
    } catch (e) {
      failWith((e as Error).message);
      return;
    }
    report.latencyMs = response.latencyMs;
    if (!settings.expectStatus.includes(response.status)) {
      let detail = '';
      if (settings.format === 'lb-agent') {
        try {
          detail = `; agent status "${readAgentReport(response.body).status}"`;
        } catch {
          // Not a report: the status code alone is the reason.
        }
      }
      failWith(`status ${response.status}, expected ${expected}${detail}`);
      return;
    }
    if (settings.format === 'none') return;
    if (!mediaTypeMatches(settings.format, response.mediaType)) {
      failWith(`${response.mediaType ? `content-type "${response.mediaType}"` : 'no content-type'}, expected ${MEDIA_TYPES[settings.format].join(' or ')}`);
      return;
    }
    try {
      if (settings.format === 'prometheus') {
        const reading = readNodeExporter(response.body, cpuCounters.get(target));
        if (reading.counters) cpuCounters.set(target, reading.counters);
        report.metrics = { ...report.metrics, ...reading.metrics };
        return;
      }
      const reading = readAgentReport(response.body);
      report.metrics = { ...report.metrics, ...reading.metrics };
      const ignored = reading.ignored.join(', ');
      if (ignored !== (lastIgnored.get(target) ?? '')) {
        lastIgnored.set(target, ignored);
        if (ignored) log.debug(`ignoring malformed fields of ${target.id}'s report`, { fields: ignored });
      }
      if (reading.status !== 'ok') failWith(`agent status "${reading.status}"`);
    } catch (e) {
      failWith((e as Error).message);
    }
  };
}

/** Per-target timers: each round runs every healthCheck tap, then reports to the pool. */
class Poller {
  private readonly timers = new Map<Target, NodeJS.Timeout>();
  private running = false;
  readonly aborter = new AbortController();

  constructor(private readonly pipeline: Pipeline, private readonly settings: Settings, private readonly log: Logger) {}

  start(): void {
    if (this.running || this.aborter.signal.aborted) return;
    this.running = true;
    // The first round at once (spread by the jitter), so a backend dead at start is found early.
    for (const target of this.pipeline.pool.targets) this.schedule(target, Math.random() * this.settings.jitter * this.settings.intervalMs);
  }

  stop(): void {
    this.running = false;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.aborter.abort();
  }

  private schedule(target: Target, delayMs: number): void {
    const timer = setTimeout(() => void this.round(target), delayMs);
    timer.unref();
    this.timers.set(target, timer);
  }

  private async round(target: Target): Promise<void> {
    const started = performance.now();
    const report: HealthReport = { ok: true };
    try {
      await this.pipeline.hooks.healthCheck.promise(target, report);
    } catch (e) {
      report.ok = false;
      report.reason ??= (e as Error).message;
    }
    if (!this.running) return;
    const { pool } = this.pipeline;
    const { rise, fall, intervalMs, jitter } = this.settings;
    if (report.metrics) pool.updateMetrics(target, report.metrics, Date.now());
    if (report.ok) {
      pool.recordCheck(target, true, '', { rise, fall });
    } else {
      const reason = report.reason ?? 'a health probe failed without a reason';
      this.log.debug(`check of ${target.id} failed`, { reason });
      pool.recordCheck(target, false, `${reason} (${target.failures + 1} failed checks in a row)`, { rise, fall });
    }
    const next = intervalMs * (1 + jitter * (2 * Math.random() - 1));
    this.schedule(target, Math.max(0, next - (performance.now() - started)));
  }
}

/**
 * Active health checks. Owns one timer per target (started when lb listens, stopped
 * when it closes); each round calls every `healthCheck` tap, then records the result
 * in the pool, which applies rise/fall and logs each transition once. The plugin's own
 * tap is an HTTP GET that reads the lb-agent report, node_exporter's metrics, or the
 * status alone.
 */
export default definePlugin<Options>({
  name: PLUGIN_NAME,
  description: 'Active health checks: polls each backend (lb agent JSON, node_exporter or status only) with rise/fall thresholds and slow start; stores the load it reports.',
  kind: 'feature',
  apiVersion: PLUGIN_API_VERSION,
  schema: healthCheckSchema,
  apply(pipeline, options) {
    const log = pipeline.logger.child(PLUGIN_NAME);
    const settings: Settings = { ...options, path: options.path || DEFAULT_PATH[options.format] };
    const poller = new Poller(pipeline, settings, log);
    const tap = { name: PLUGIN_NAME, stage: Stage.NORMAL };
    pipeline.hooks.healthCheck.tapPromise(tap, createHttpProbe(settings, poller.aborter.signal, log));
    // The poller stops as soon as its generation takes no new requests (the next one polls the same targets).
    pipeline.hooks.closing.tapPromise(tap, async () => poller.stop());
    if (settings.slowStartMs > 0) {
      pipeline.hooks.targetStateChange.tap(tap, (target, previous) => {
        if (target.state === 'up' && previous !== 'up') target.slowStartMs = settings.slowStartMs;
      });
    }
    return { start: () => poller.start(), stop: () => poller.stop() };
  },
});
