import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LbError } from '../core/index.js';
import { createHealthAgent, type HealthAgent } from '../plugins/health/agent.js';
import { reportError, type Io } from './commands.js';
import { packageVersion } from './package-info.js';

/** Port `lb agent` listens on without --port. */
export const AGENT_DEFAULT_PORT = 9180;

export interface AgentFlags {
  port?: number;
  host?: string;
}

/** A started sidecar agent. */
export interface RunningAgent {
  url: string;
  agent: HealthAgent;
  server: http.Server;
  stop(): Promise<void>;
}

/**
 * Starts the sidecar: an HTTP server that serves only the health report of this
 * host (CPU, memory, load; no process figures, which would be the sidecar's own).
 */
export async function startAgent(io: Io, flags: AgentFlags): Promise<RunningAgent> {
  const agent = createHealthAgent({ processMetrics: false });
  const server = http.createServer((req, res) => {
    if (agent.handler(req, res)) return;
    const body = `404 Not Found: this is lb's health agent; GET ${agent.path} for the report.\n`;
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  const port = flags.port ?? AGENT_DEFAULT_PORT;
  const host = flags.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    agent.close();
    const code = (e as NodeJS.ErrnoException).code;
    throw new LbError('LB_ERR_LISTEN_FAILED', { address: `${host}:${port}`, detail: code ?? (e as Error).message }, { cause: e });
  }
  const bound = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
  io.out(`lb agent ${packageVersion} listening on ${url}`);
  io.out(`  report: GET ${url}${agent.path} (this host's CPU, memory and load; format in docs/health.md)`);
  return {
    url,
    agent,
    server,
    stop: () => new Promise((resolve) => {
      agent.close();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** `lb agent`: serve the report until SIGINT/SIGTERM, then exit 0. */
export async function agentCommand(io: Io, flags: AgentFlags): Promise<number> {
  let running: RunningAgent;
  try {
    running = await startAgent(io, flags);
  } catch (e) {
    return reportError(io, e);
  }
  return new Promise<number>((resolve) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      running.stop().then(() => resolve(0), (e: unknown) => resolve(reportError(io, e)));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}
