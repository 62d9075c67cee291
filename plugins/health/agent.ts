import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import os from 'node:os';
import { formatLoadReportHeader, LOAD_REPORT_HEADER } from './orca.js';
import { AGENT_CONTENT_TYPE, AGENT_PATH, AGENT_REPORT_VERSION, type AgentReport, type AgentStatus } from './report.js';
import { LoadSampler, type LoadWindow } from './sampler.js';

/** Options of {@link createHealthAgent}. */
export interface HealthAgentOptions {
  /** Path the report is served at. Default `/.lb/health`. */
  path?: string;
  /** Length of the measuring window for CPU, event-loop delay and request rate, in ms. Default 1000. */
  windowMs?: number;
  /**
   * The host server (node:http or https, Express's `app.listen()` result, Fastify's
   * `fastify.server`): the agent counts its requests in flight and, with
   * `loadReports`, sets the load-report header on its responses.
   */
  server?: Server;
  /** Set an `endpoint-load-metrics` header (ORCA TEXT) on the tracked responses. Default false. */
  loadReports?: boolean;
  /** Report this process's CPU, RSS, event loop and requests. Default true; false for a sidecar. */
  processMetrics?: boolean;
  /** Status to start with. Default `ok`. */
  status?: AgentStatus;
  /** Called on every report before it is sent: add named figures or replace measured ones. */
  augment?: (report: AgentReport) => void;
}

type Next = (error?: unknown) => void;

const kTracked = Symbol('lb.health.tracked');

/** What a backend mounts: see {@link createHealthAgent}. */
export interface HealthAgent {
  readonly path: string;
  readonly status: AgentStatus;
  /**
   * Serves `GET|HEAD <path>` with the report and returns true; for any other request
   * calls `next()` when given (Express/Connect middleware) and returns false.
   */
  handler(req: IncomingMessage, res: ServerResponse, next?: Next): boolean;
  /** Express/Connect middleware that counts the request in flight (and sets the header with `loadReports`). */
  middleware(req: IncomingMessage, res: ServerResponse, next: Next): void;
  /** Counts one request in flight until its response closes (and sets the header with `loadReports`). */
  track(req: IncomingMessage, res: ServerResponse): void;
  /** Counts every request of `server` (what the `server` option does). */
  attach(server: Server): void;
  /** The current report. */
  report(): AgentReport;
  /** The `endpoint-load-metrics` header value for the current load. */
  loadReportHeader(): string;
  /** `draining` or `down` makes the proxy stop sending new requests (the report answers 503). */
  setStatus(status: AgentStatus): void;
  /** Stops the sampler and detaches from the server. */
  close(): void;
}

const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * Creates the backend side of health checks: a report of this host's and process's
 * load (docs/health.md), a handler that serves it, in-flight counting, and optional
 * in-band load reports on every response.
 * @example
 * const server = http.createServer();
 * const agent = createHealthAgent({ server, loadReports: true });
 * server.on('request', (req, res) => { if (!agent.handler(req, res)) app(req, res); });
 */
export function createHealthAgent(options: HealthAgentOptions = {}): HealthAgent {
  const path = options.path ?? AGENT_PATH;
  const processFigures = options.processMetrics ?? true;
  const sampler = new LoadSampler(options.windowMs ?? 1000, processFigures);
  let status: AgentStatus = options.status ?? 'ok';
  let inFlight = 0;
  const attached: Array<{ server: Server; listener: (req: IncomingMessage, res: ServerResponse) => void }> = [];
  // The header's window part changes once per window; only inFlight is added per response.
  let headerBase: string | undefined;
  sampler.onWindow(() => {
    headerBase = undefined;
  });

  const isReportPath = (url: string | undefined) => url !== undefined && (url === path || url.startsWith(`${path}?`));

  function onFinished(this: ServerResponse): void {
    inFlight--;
    sampler.finished++;
  }

  function buildReport(): AgentReport {
    const w: LoadWindow = sampler.current();
    const total = os.totalmem();
    const used = total - os.freemem();
    const [load1, load5, load15] = os.loadavg();
    const report: AgentReport = {
      version: AGENT_REPORT_VERSION,
      status,
      timestamp: Date.now(),
      windowMs: w.windowMs,
      cpu: { utilization: w.cpu, cores: w.cores },
      memory: { usedBytes: used, totalBytes: total, utilization: round(used / total) },
      load: { load1: round(load1, 2), load5: round(load5, 2), load15: round(load15, 2), perCore: round(load1 / Math.max(1, w.cores)) },
    };
    if (processFigures) {
      report.cpu!.process = w.processCpu;
      report.memory!.rssBytes = process.memoryUsage.rss();
      report.eventLoop = {
        delayMs: w.eventLoopDelayMs,
        delayP99Ms: w.eventLoopDelayP99Ms,
        delayMaxMs: w.eventLoopDelayMaxMs,
        utilization: w.eventLoopUtilization,
      };
      report.requests = { inFlight, perSecond: w.requestsPerSecond };
    }
    options.augment?.(report);
    return report;
  }

  function loadReportHeader(): string {
    // With `augment` the figures may change at any time, so nothing is cached.
    if (headerBase === undefined || options.augment) {
      const r = buildReport();
      const named: Record<string, number> = {};
      if (r.load?.perCore !== undefined) named.load = r.load.perCore;
      if (r.cpu?.cores !== undefined) named.cores = r.cpu.cores;
      if (r.eventLoop?.delayMs !== undefined) named.eventLoopDelayMs = r.eventLoop.delayMs;
      if (r.eventLoop?.utilization !== undefined) named.eventLoopUtilization = r.eventLoop.utilization;
      if (r.memory?.rssBytes !== undefined) named.rss = r.memory.rssBytes;
      for (const [k, v] of Object.entries(r.named ?? {})) named[k] = v;
      headerBase = formatLoadReportHeader({
        cpu_utilization: r.cpu?.utilization,
        mem_utilization: r.memory?.utilization,
        rps_fractional: r.requests?.perSecond,
        named_metrics: named,
      });
    }
    return processFigures ? `${headerBase},named_metrics.inFlight=${inFlight}` : headerBase;
  }

  function track(_req: IncomingMessage, res: ServerResponse): void {
    // attach() and middleware() may both see a request; count it once.
    const marked = res as ServerResponse & { [kTracked]?: true };
    if (marked[kTracked]) return;
    marked[kTracked] = true;
    inFlight++;
    res.once('close', onFinished);
    if (options.loadReports && !res.headersSent) res.setHeader(LOAD_REPORT_HEADER, loadReportHeader());
  }

  function attach(server: Server): void {
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      if (!isReportPath(req.url)) track(req, res);
    };
    // Before the application's listener, so that the header is set before it answers.
    server.prependListener('request', listener);
    attached.push({ server, listener });
  }

  function handler(req: IncomingMessage, res: ServerResponse, next?: Next): boolean {
    if (!isReportPath(req.url)) {
      next?.();
      return false;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('405 Method Not Allowed: the health report answers GET and HEAD.\n');
      return true;
    }
    const body = JSON.stringify(buildReport());
    res.writeHead(status === 'ok' ? 200 : 503, {
      'content-type': AGENT_CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }

  if (options.server) attach(options.server);

  return {
    path,
    get status() {
      return status;
    },
    handler,
    middleware(req, res, next) {
      if (!isReportPath(req.url)) track(req, res);
      next();
    },
    track,
    attach,
    report: buildReport,
    loadReportHeader,
    setStatus(next: AgentStatus) {
      status = next;
    },
    close() {
      sampler.close();
      for (const { server, listener } of attached.splice(0)) server.off('request', listener);
    },
  };
}
