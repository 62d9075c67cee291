import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { createHealthAgent, formatLoadReportHeader, metricsFromLoadReport, parseLoadReportHeader, type HealthAgent } from '../../plugins/health/index.js';
import { request, startBackend, startLb, type TestBackend, type TestLb } from '../support/servers.js';

describe('ORCA load reports (endpoint-load-metrics)', () => {
  describe('parseLoadReportHeader', () => {
    const valid: Array<[string, object]> = [
      ['TEXT cpu_utilization=0.3, mem_utilization=0.8', { cpu_utilization: 0.3, mem_utilization: 0.8 }],
      ['TEXT cpu_utilization:0.7,application_utilization:0.8,rps_fractional:1000,eps:2', { cpu_utilization: 0.7, application_utilization: 0.8, rps_fractional: 1000, eps: 2 }],
      ['TEXT named_metrics.foo=123,named_metrics.bar=0.2,utilization.total=0.5', { named_metrics: { foo: 123, bar: 0.2 }, utilization: { total: 0.5 } }],
      ['JSON {"cpu_utilization": 0.7, "named_metrics": {"foo": 123}}', { cpu_utilization: 0.7, named_metrics: { foo: 123 } }],
      ['TEXT ', {}],
    ];
    for (const [header, expected] of valid) {
      it(`reads ${JSON.stringify(header)}`, () => {
        expect(parseLoadReportHeader(header)).to.deep.equal(expected);
      });
    }

    const invalid: Array<[string, string]> = [
      ['BAD random-value', 'unsupported format "BAD"; expected TEXT, JSON or BIN'],
      ['', 'unsupported format ""; expected TEXT, JSON or BIN'],
      ['BIN CQAAAAAAAOA/', 'the BIN (protobuf) encoding is not supported; send TEXT or JSON'],
      ['TEXT cpu_utilization=0.7,unsupported_metric=0.8', 'unsupported metric name "unsupported_metric"'],
      ['TEXT cpu_utilization=0.7,cpu_utilization=0.8', 'metric cpu_utilization appears twice'],
      ['TEXT named_metrics.a=1,named_metrics.a=2', 'metric named_metrics.a appears twice'],
      ['TEXT cpu_utilization="0.7"', 'metric cpu_utilization is not a finite number: "0.7"'],
      ['TEXT cpu_utilization=NaN', 'metric cpu_utilization is not a finite number: NaN'],
      ['TEXT cpu_utilization=-1', 'metric cpu_utilization is negative (-1)'],
      ['TEXT cpu_utilization=', 'metric cpu_utilization has no value'],
      ['TEXT named_metrics.=3', 'metric named_metrics. has an empty key'],
      ['TEXT not-a-list-of-key-value-pairs', '"not-a-list-of-key-value-pairs" is not name=value'],
      ['JSON {"cpu_utilization": "0.7"}', 'metric cpu_utilization is not a number'],
      ['JSON not json', 'invalid JSON: Unexpected token \'o\', "not json" is not valid JSON'],
    ];
    for (const [header, message] of invalid) {
      it(`rejects ${JSON.stringify(header)}: ${message}`, () => {
        expect(() => parseLoadReportHeader(header)).to.throw(message);
      });
    }

    it('normalises a report into target metrics, and formats one that parses back to itself', () => {
      const report = { cpu_utilization: 1.4, mem_utilization: 0.5, rps_fractional: 12, named_metrics: { inFlight: 3, cpu: 0.1 }, utilization: { gpu: 0.9 } };
      expect(metricsFromLoadReport(report)).to.deep.equal({ cpu: 1, memory: 0.5, rps: 12, inFlight: 3, 'utilization.gpu': 0.9 });
      expect(formatLoadReportHeader(report)).to.equal('TEXT cpu_utilization=1.4,mem_utilization=0.5,rps_fractional=12,named_metrics.inFlight=3,named_metrics.cpu=0.1,utilization.gpu=0.9');
      expect(parseLoadReportHeader(formatLoadReportHeader(report))).to.deep.equal(report);
    });
  });

  describe('orca-load-reports plugin', () => {
    let backend: TestBackend | undefined;
    let lb: TestLb | undefined;
    let agentServer: { server: http.Server; agent: HealthAgent } | undefined;
    afterEach(async () => {
      await lb?.close();
      await backend?.close();
      if (agentServer) {
        agentServer.agent.close();
        await new Promise((done) => { agentServer!.server.close(done); agentServer!.server.closeAllConnections(); });
      }
      lb = backend = agentServer = undefined;
    });

    it('updates the target\'s metrics from every response, and strips the header from what the client gets', async () => {
      backend = await startBackend('b', (_req, res, self) => {
        res.writeHead(200, { 'Endpoint-Load-Metrics': `TEXT cpu_utilization=${(self.hits % 10) / 10}, named_metrics.queue=${self.hits}`, 'content-type': 'text/plain' });
        res.end(`hit ${self.hits}`);
      });
      lb = await startLb({ backends: [backend.url], plugins: ['orca-load-reports'] });
      const target = lb.lb.pool.targets[0];
      let previousAt = 0;
      for (let i = 1; i <= 12; i++) {
        const res = await request(lb.url);
        expect(res.body).to.equal(`hit ${i}`);
        expect(res.headers['endpoint-load-metrics']).to.equal(undefined);
        expect(target.metrics.cpu).to.equal((i % 10) / 10);
        expect(target.metrics.queue).to.equal(i);
        expect(target.metricsAt).to.be.at.least(previousAt);
        previousAt = target.metricsAt;
      }
    });

    it('keeps the header for the client with strip: false, and keeps fields a report lacks', async () => {
      let header = 'TEXT cpu_utilization=0.5, mem_utilization=0.25';
      backend = await startBackend('b', (_req, res) => {
        res.writeHead(200, { 'endpoint-load-metrics': header });
        res.end('ok');
      });
      lb = await startLb({ backends: [backend.url], plugins: [{ use: 'orca-load-reports', options: { strip: false } }] });
      const res = await request(lb.url);
      expect(res.headers['endpoint-load-metrics']).to.equal(header);
      header = 'TEXT cpu_utilization=0.75';
      await request(lb.url);
      expect(lb.lb.pool.targets[0].metrics).to.deep.equal({ cpu: 0.75, memory: 0.25 });
    });

    it('leaves metrics and the response untouched on a malformed header, and logs the problem once at debug', async () => {
      let header = 'TEXT cpu_utilization=0.5';
      backend = await startBackend('b', (_req, res) => {
        res.writeHead(200, { 'endpoint-load-metrics': header });
        res.end('body');
      });
      lb = await startLb({ backends: [backend.url], plugins: ['orca-load-reports'] }, 'debug');
      await request(lb.url);
      const target = lb.lb.pool.targets[0];
      const at = target.metricsAt;
      header = 'TEXT cpu_utilization=lots';
      for (let i = 0; i < 3; i++) {
        const res = await request(lb.url);
        expect(res.status).to.equal(200);
        expect(res.body).to.equal('body');
      }
      expect(target.metrics).to.deep.equal({ cpu: 0.5 });
      expect(target.metricsAt).to.equal(at);
      const lines = lb.log.lines.filter((l) => l.includes('[orca-load-reports]'));
      expect(lines).to.have.length(1);
      expect(lines[0]).to.include(`debug [orca-load-reports] ignoring the endpoint-load-metrics header of ${target.id} reason="metric cpu_utilization is not a finite number: lots"`);
    });

    it('reads what the health agent emits on a backend\'s responses', async () => {
      const server = http.createServer();
      const agent = createHealthAgent({ server, loadReports: true, windowMs: 100 });
      server.on('request', (req, res) => {
        if (agent.handler(req, res)) return;
        res.end('app');
      });
      agentServer = { server, agent };
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      lb = await startLb({ backends: [`http://127.0.0.1:${(server.address() as AddressInfo).port}`], plugins: ['orca-load-reports'] });
      await request(lb.url);
      const m = lb.lb.pool.targets[0].metrics;
      expect(m.cpu).to.be.within(0, 1);
      expect(m.memory).to.be.within(0, 1);
      expect(m.load).to.be.at.least(0);
      expect(m.inFlight).to.equal(1);
      expect(m.rss).to.be.above(0);
      expect(m.rps).to.be.at.least(0);
      expect(m.cores).to.equal(os.cpus().length);
    });
  });
});
