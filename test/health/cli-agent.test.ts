import { expect } from 'chai';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startAgent, type RunningAgent } from '../../cli/agent.js';
import type { Io } from '../../cli/commands.js';
import { formatError, isLbError } from '../../core/index.js';
import { request, startBackend, startLb, type TestBackend, type TestLb } from '../support/servers.js';
import { waitFor } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function memoryIo(): Io & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (t) => lines.push(t), err: (t) => lines.push(t) };
}

describe('lb agent (sidecar)', () => {
  let running: RunningAgent | undefined;
  let backend: TestBackend | undefined;
  let lb: TestLb | undefined;
  afterEach(async () => {
    await lb?.close();
    await backend?.close();
    await running?.stop();
    running = backend = lb = undefined;
  });

  it('serves the host\'s report without process figures, and 404 elsewhere', async () => {
    const io = memoryIo();
    running = await startAgent(io, { port: 0, host: '127.0.0.1' });
    expect(io.lines[0]).to.match(/^lb agent \S+ listening on http:\/\/127\.0\.0\.1:\d+$/);
    expect(io.lines[1]).to.equal(`  report: GET ${running.url}/.lb/health (this host's CPU, memory and load; format in docs/health.md)`);
    const res = await request(`${running.url}/.lb/health`);
    expect(res.status).to.equal(200);
    const report = JSON.parse(res.body) as Record<string, unknown>;
    expect(Object.keys(report).sort()).to.deep.equal(['cpu', 'load', 'memory', 'status', 'timestamp', 'version', 'windowMs']);
    expect(Object.keys(report.cpu as object).sort()).to.deep.equal(['cores', 'utilization']);
    const other = await request(`${running.url}/`);
    expect(other.status).to.equal(404);
    expect(other.body).to.equal('404 Not Found: this is lb\'s health agent; GET /.lb/health for the report.\n');
  });

  it('is what the health check polls when given its port, beside a backend that serves no report', async () => {
    running = await startAgent(memoryIo(), { port: 0 });
    backend = await startBackend('app');
    lb = await startLb({
      backends: [backend.url],
      plugins: [{ use: 'health-check', options: { port: (running.server.address() as AddressInfo).port, intervalMs: 100, timeoutMs: 1000 } }],
    });
    const target = lb.lb.pool.targets[0];
    await waitFor(() => target.metricsAt > 0, 2000, 'a report');
    expect(target.metrics.cpu).to.be.within(0, 1);
    expect(target.metrics.memory).to.be.within(0, 1);
    expect(target.metrics.inFlight, 'no process figures from a sidecar').to.equal(undefined);
    expect(target.state).to.equal('up');
    expect(backend.hits).to.equal(0);
  });

  it('fails with LB_ERR_LISTEN_FAILED when the port is taken', async () => {
    const taken = http.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      let error: unknown;
      try {
        running = await startAgent(memoryIo(), { port });
      } catch (e) {
        error = e;
      }
      expect(isLbError(error)).to.equal(true);
      expect(formatError(error as never)).to.equal(
        `Cannot listen on 127.0.0.1:${port}: EADDRINUSE (LB_ERR_LISTEN_FAILED)\n  -> Choose another port with --port or listen.port, or stop the process holding it.`,
      );
    } finally {
      await new Promise((done) => taken.close(done));
    }
  });

  it('runs as `lb agent --port 0`, serves the report, and exits 0 on SIGTERM', async function () {
    this.timeout(30000);
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/lb.ts', 'agent', '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => /listening on (\S+)/.test(stdout) || child.exitCode !== null, 20000, 'the agent to listen');
      const url = /listening on (\S+)/.exec(stdout)?.[1];
      expect(url, stderr).to.be.a('string');
      const res = await request(`${url}/.lb/health`);
      expect(res.status).to.equal(200);
      expect((JSON.parse(res.body) as { status: string }).status).to.equal('ok');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, stderr).to.equal(0);
  });
});
