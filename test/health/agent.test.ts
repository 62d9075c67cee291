import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  AGENT_REPORT_VERSION, createHealthAgent, metricsFromLoadReport, parseLoadReportHeader, readAgentReport, type AgentReport, type HealthAgent,
} from '../../plugins/health/index.js';
import { request } from '../support/servers.js';
import { sleep, waitFor } from './helpers.js';

interface Mounted {
  server: http.Server;
  url: string;
  agent: HealthAgent;
  close(): Promise<void>;
}

/** A node:http app with the agent mounted the documented way: handler first, then the app. */
async function mount(options: Parameters<typeof createHealthAgent>[0], app?: http.RequestListener): Promise<Mounted> {
  const server = http.createServer();
  const agent = createHealthAgent({ windowMs: 100, ...options, server });
  server.on('request', (req, res) => {
    if (agent.handler(req, res)) return;
    if (app) return app(req, res);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('app\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server, agent, url: `http://127.0.0.1:${port}`,
    close: () => new Promise((done) => {
      agent.close();
      server.close(() => done());
      server.closeAllConnections();
    }),
  };
}

async function fetchReport(url: string): Promise<{ status: number; type: string | undefined; report: AgentReport }> {
  const res = await request(`${url}/.lb/health`);
  return { status: res.status, type: res.headers['content-type'], report: JSON.parse(res.body) as AgentReport };
}

/** The highest figures of the reports read every 10 ms for `ms`: windows end on the agent's clock, not the test's. */
async function highest(agent: HealthAgent, ms: number) {
  const top = { elu: 0, delayMax: 0, process: 0, host: 0 };
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const r = agent.report();
    top.elu = Math.max(top.elu, r.eventLoop!.utilization ?? 0);
    top.delayMax = Math.max(top.delayMax, r.eventLoop!.delayMaxMs ?? 0);
    top.process = Math.max(top.process, r.cpu!.process ?? 0);
    top.host = Math.max(top.host, r.cpu!.utilization ?? 0);
    await sleep(10);
  }
  return top;
}

describe('health agent (createHealthAgent)', () => {
  let mounted: Mounted | undefined;
  afterEach(async () => {
    await mounted?.close();
    mounted = undefined;
  });

  it('serves a complete JSON report at GET /.lb/health of a node:http server and passes other requests to the app', async () => {
    mounted = await mount({});
    // One whole window, with event-loop samples in it.
    await sleep(250);
    await waitFor(() => mounted!.agent.report().eventLoop!.delayMs !== undefined, 3000, 'a complete window');
    const { status, type, report } = await fetchReport(mounted.url);
    expect(status).to.equal(200);
    expect(type).to.equal('application/json; charset=utf-8');
    expect(report.version).to.equal(AGENT_REPORT_VERSION);
    expect(report.status).to.equal('ok');
    expect(Math.abs(report.timestamp - Date.now())).to.be.below(5000);
    expect(report.windowMs).to.be.within(50, 1000);
    expect(report.cpu!.cores).to.equal(os.cpus().length);
    expect(report.cpu!.utilization).to.be.within(0, 1);
    expect(report.cpu!.process).to.be.within(0, 1);
    expect(report.memory!.totalBytes).to.equal(os.totalmem());
    expect(report.memory!.usedBytes).to.be.within(1, os.totalmem());
    expect(report.memory!.utilization).to.be.within(0, 1);
    expect(report.memory!.rssBytes).to.be.above(1024 * 1024);
    expect(report.load!.load1).to.be.at.least(0);
    expect(report.load!.perCore).to.be.closeTo(report.load!.load1! / os.cpus().length, 0.01);
    expect(report.eventLoop!.delayMs).to.be.at.least(0);
    expect(report.eventLoop!.utilization).to.be.within(0, 1);
    expect(report.requests).to.deep.equal({ inFlight: 0, perSecond: report.requests!.perSecond });

    // What the agent serves is what the poller reads, field by field.
    const reading = readAgentReport(JSON.stringify(report));
    expect(reading.ignored).to.deep.equal([]);
    expect(reading.metrics.cpu).to.equal(report.cpu!.utilization);
    expect(reading.metrics.memory).to.equal(report.memory!.utilization);
    expect(reading.metrics.load).to.equal(report.load!.perCore);
    expect(reading.metrics.inFlight).to.equal(0);
    expect(reading.metrics.rss).to.equal(report.memory!.rssBytes);
    expect(reading.metrics.cores).to.equal(os.cpus().length);

    const app = await request(`${mounted.url}/other`);
    expect(app.body).to.equal('app\n');
  });

  it('answers HEAD without a body, refuses other methods with 405, and answers 503 while draining', async () => {
    mounted = await mount({});
    const head = await request(`${mounted.url}/.lb/health`, { method: 'HEAD' });
    expect(head.status).to.equal(200);
    expect(head.body).to.equal('');
    const post = await request(`${mounted.url}/.lb/health`, { method: 'POST' });
    expect(post.status).to.equal(405);
    expect(post.headers.allow).to.equal('GET, HEAD');
    expect(post.body).to.equal('405 Method Not Allowed: the health report answers GET and HEAD.\n');
    mounted.agent.setStatus('draining');
    const draining = await fetchReport(mounted.url);
    expect(draining.status).to.equal(503);
    expect(draining.report.status).to.equal('draining');
  });

  it('works as Express-style middleware: handler() serves the report or calls next(), middleware() counts requests', async () => {
    const agent = createHealthAgent({ windowMs: 100 });
    // A connect-style chain, as app.use(agent.middleware); app.use(agent.handler) builds in Express.
    type Middleware = (req: http.IncomingMessage, res: http.ServerResponse, next: () => void) => void;
    const held: http.ServerResponse[] = [];
    const chain: Middleware[] = [agent.middleware, agent.handler, (_req, res) => held.push(res)];
    const server = http.createServer((req, res) => {
      const run = (i: number): void => chain[i](req, res, () => run(i + 1));
      run(0);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    mounted = { server, agent, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((done) => { agent.close(); server.close(() => done()); server.closeAllConnections(); }) };
    const pending = request(`${mounted.url}/users`);
    await waitFor(() => held.length === 1, 2000, 'the app to receive the request');
    const { report } = await fetchReport(mounted.url);
    expect(report.requests!.inFlight).to.equal(1);
    held[0].end('users');
    expect((await pending).body).to.equal('users');
  });

  it('counts the host server\'s requests in flight, not its own polls', async () => {
    const held: http.ServerResponse[] = [];
    mounted = await mount({}, (_req, res) => held.push(res));
    const pending = [1, 2, 3].map(() => request(`${mounted!.url}/slow`));
    await waitFor(() => held.length === 3, 2000, 'three held requests');
    expect((await fetchReport(mounted.url)).report.requests!.inFlight).to.equal(3);
    for (const res of held) res.end('done');
    await Promise.all(pending);
    await waitFor(() => mounted!.agent.report().requests!.inFlight === 0, 2000, 'in-flight back to 0');
    // The three finished requests show in a window's rate, then leave it.
    await waitFor(() => mounted!.agent.report().requests!.perSecond! > 0, 2000, 'a request rate');
    await waitFor(() => mounted!.agent.report().requests!.perSecond === 0, 2000, 'a window without requests');
  });

  it('reports a busy event loop: utilisation near 1 and a delay of the blocked time', async () => {
    mounted = await mount({ windowMs: 200 });
    await sleep(450);
    const before = mounted.agent.report();
    const started = Date.now();
    while (Date.now() - started < 300) {
      // Block the event loop for 300 ms.
    }
    const after = await highest(mounted.agent, 500);
    expect(before.eventLoop!.utilization, 'idle loop').to.be.below(0.5);
    expect(after.elu, 'blocked loop').to.be.above(0.6);
    expect(after.delayMax, 'longest delay').to.be.above(200);
    expect(after.process, 'process CPU').to.be.above(before.cpu!.process!);
  });

  it('reports CPU a worker thread burns: process and host utilisation follow what the process really used', async () => {
    mounted = await mount({ windowMs: 200 });
    await sleep(450);
    const before = mounted.agent.report();
    const cores = os.cpus().length;
    const cpuAtStart = process.cpuUsage();
    const wallAtStart = performance.now();
    const worker = new Worker('const end = Date.now() + 1000; while (Date.now() < end) {}', { eval: true });
    try {
      const busy = await highest(mounted.agent, 1000);
      const used = process.cpuUsage(cpuAtStart);
      // The truth, measured here: the process's CPU over the busy second, as a fraction of the host.
      const truth = (used.user + used.system) / 1000 / (performance.now() - wallAtStart) / cores;
      expect(truth, 'the worker did burn CPU').to.be.above(before.cpu!.process! + 0.02);
      expect(busy.process, 'process CPU').to.be.above(0.6 * truth);
      expect(busy.host, 'host CPU').to.be.above(0.6 * truth);
      expect(mounted.agent.report().eventLoop!.utilization, 'event loop').to.be.below(0.5);
    } finally {
      await worker.terminate();
    }
  });

  it('adds an endpoint-load-metrics header to the app\'s responses that carries the report\'s figures', async () => {
    const held: http.ServerResponse[] = [];
    mounted = await mount({ loadReports: true }, (req, res) => {
      if (req.url === '/hold') return void held.push(res);
      res.end('ok');
    });
    await sleep(150);
    const hold = request(`${mounted.url}/hold`);
    await waitFor(() => held.length === 1, 2000, 'held request');
    const res = await request(`${mounted.url}/`);
    const header = res.headers['endpoint-load-metrics'] as string;
    expect(header).to.match(/^TEXT cpu_utilization=[\d.]+,mem_utilization=[\d.]+,rps_fractional=[\d.]+,named_metrics\.load=/);
    const metrics = metricsFromLoadReport(parseLoadReportHeader(header));
    const report = mounted.agent.report();
    expect(metrics.cpu).to.equal(report.cpu!.utilization);
    expect(metrics.memory).to.be.closeTo(report.memory!.utilization!, 0.01);
    expect(metrics.load).to.equal(report.load!.perCore);
    // The held request and this one.
    expect(metrics.inFlight).to.equal(2);
    expect(metrics.rss).to.be.above(1024 * 1024);
    held[0].end('done');
    await hold;
    const health = await request(`${mounted.url}/.lb/health`);
    expect(health.headers['endpoint-load-metrics'], 'the report itself carries no header').to.equal(undefined);
  });

  it('lets the host adjust a report (augment), as an emulated backend does', async () => {
    mounted = await mount({ augment: (r) => { r.cpu = { ...r.cpu, utilization: 0.75 }; r.named = { queueDepth: 4 }; } });
    const { report } = await fetchReport(mounted.url);
    expect(report.cpu!.utilization).to.equal(0.75);
    const reading = readAgentReport(JSON.stringify(report));
    expect(reading.metrics.cpu).to.equal(0.75);
    expect(reading.metrics.queueDepth).to.equal(4);
  });
});
