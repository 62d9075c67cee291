import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatLoadReportHeader, LOAD_REPORT_HEADER } from '../../plugins/health/orca.js';
import { AGENT_CONTENT_TYPE, AGENT_PATH, AGENT_REPORT_VERSION, type AgentReport } from '../../plugins/health/report.js';
import { EmulatedCpu } from './cpu.js';

/** One emulated backend: its CPU and how many `stress --cpu` workers run beside requests. */
export interface BackendSpec {
  name: string;
  cores: number;
  background: number;
}

/** Memory in use: a fixed base plus a little per request in progress. */
const MEMORY_BASE = 0.3;
const MEMORY_PER_JOB = 0.001;

/** A running farm backend. */
export interface FarmBackend {
  spec: BackendSpec;
  cpu: EmulatedCpu;
  server: http.Server;
  port: number;
}

/**
 * Serves `GET /work?ms=W`: W ms of CPU work on the emulated CPU, then `200 ok` with
 * `x-backend` and an in-band load report (ORCA `endpoint-load-metrics`, TEXT);
 * `GET /.lb/health`: the lb-agent report (docs/health.md) with the utilisation and
 * load observed since the previous report.
 */
function handler(backend: Omit<FarmBackend, 'server' | 'port'>) {
  const { spec, cpu } = backend;
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = req.url ?? '';
    if (url === AGENT_PATH) {
      const r = cpu.takeReading();
      const report: AgentReport = {
        version: AGENT_REPORT_VERSION,
        status: 'ok',
        timestamp: Date.now(),
        windowMs: Math.round(r.windowMs),
        cpu: { utilization: Math.min(1, r.utilization), cores: spec.cores },
        memory: { utilization: MEMORY_BASE + MEMORY_PER_JOB * cpu.active },
        load: { load1: r.loadPerCore * spec.cores, perCore: r.loadPerCore },
        requests: { inFlight: cpu.active },
      };
      res.writeHead(200, { 'content-type': AGENT_CONTENT_TYPE }).end(JSON.stringify(report));
      return;
    }
    const at = url.indexOf('ms=');
    const workMs = at >= 0 ? Number.parseFloat(url.slice(at + 3)) : NaN;
    if (!url.startsWith('/work') || !Number.isFinite(workMs)) {
      res.writeHead(404).end('use /work?ms=N\n');
      return;
    }
    void cpu.run(workMs).then(() => {
      const recent = cpu.recent();
      const loadReport = formatLoadReportHeader({
        cpu_utilization: recent.utilization,
        mem_utilization: MEMORY_BASE + MEMORY_PER_JOB * cpu.active,
        named_metrics: { load: recent.loadPerCore },
      });
      res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': spec.name, [LOAD_REPORT_HEADER]: loadReport }).end('ok\n');
    });
  };
}

/** Starts every backend on 127.0.0.1 with a free port. */
export async function startFarm(specs: readonly BackendSpec[]): Promise<FarmBackend[]> {
  return Promise.all(specs.map((spec) => new Promise<FarmBackend>((resolve) => {
    const cpu = new EmulatedCpu(spec.cores, spec.background);
    const server = http.createServer({ keepAliveTimeout: 60_000 }, handler({ spec, cpu }));
    server.listen(0, '127.0.0.1', () => resolve({ spec, cpu, server, port: (server.address() as AddressInfo).port }));
  })));
}

export async function stopFarm(farm: readonly FarmBackend[]): Promise<void> {
  await Promise.all(farm.map((b) => new Promise<void>((resolve) => {
    b.cpu.stop();
    b.server.close(() => resolve());
    b.server.closeAllConnections();
  })));
}
