import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { parsePrometheusText, readNodeExporter } from '../../plugins/health/index.js';
import { startBackend, startLb, type TestBackend, type TestLb } from '../support/servers.js';
import { waitFor } from './helpers.js';

/** Real output of prometheus-node-exporter 1.5 (cpu, meminfo and loadavg collectors) on a 2-core machine. */
const FIXTURE = readFileSync(new URL('./fixtures/node-exporter.txt', import.meta.url), 'utf8');

// Per scrape, in seconds: cpu0 user +0.3, idle +0.7; cpu1 system +0.1, idle +0.8, iowait +0.1.
// Busy 0.4 of 2.0 seconds: utilisation 0.2.
const STEP: Record<string, number> = { '0/user': 0.3, '0/idle': 0.7, '1/system': 0.1, '1/idle': 0.8, '1/iowait': 0.1 };

/** The fixture with node_cpu_seconds_total advanced `k` steps, as node_exporter would serve it later. */
function advanced(k: number): string {
  return FIXTURE.replace(/^node_cpu_seconds_total\{cpu="(\d+)",mode="(\w+)"\} (\S+)$/gm, (line, cpu: string, mode: string, value: string) => {
    const step = STEP[`${cpu}/${mode}`] ?? 0;
    return `node_cpu_seconds_total{cpu="${cpu}",mode="${mode}"} ${(Number(value) + k * step).toFixed(2)}`;
  });
}

describe('node_exporter metrics (format "prometheus")', () => {
  it('parses the text exposition format: labels with escapes, special values, timestamps', () => {
    const text = [
      '# HELP x A help line with "quotes"',
      'x{a="1",b="say \\"hi\\"\\n"} 1.5e+03 1700000000000',
      'x{a="2",} +Inf',
      'x NaN',
      'y 7',
    ].join('\n');
    const samples = parsePrometheusText(text, new Set(['x']));
    expect([...samples.keys()]).to.deep.equal(['x']);
    const xs = samples.get('x')!;
    expect(xs[0]).to.deep.equal({ labels: { a: '1', b: 'say "hi"\n' }, value: 1500 });
    expect(xs[1]).to.deep.equal({ labels: { a: '2' }, value: Infinity });
    expect(xs[2].value).to.be.NaN;
    expect(() => parsePrometheusText('x{a="1"} twelve', new Set(['x']))).to.throw('line 1 (x): "twelve" is not a number');
    expect(() => parsePrometheusText('ok 1\nx{a="1} 3', new Set(['x']))).to.throw('line 2 (x): unterminated label value');
  });

  it('reads memory and load from one scrape and CPU from the change between two', () => {
    const first = readNodeExporter(advanced(0), undefined);
    expect(first.metrics.cpu, 'no CPU figure from a single scrape').to.equal(undefined);
    expect(first.metrics.memory).to.be.closeTo(1 - 2.4250814464e10 / 2.527602688e10, 1e-9);
    expect(first.metrics.load1).to.equal(2.34);
    expect(first.metrics.load).to.equal(1.17);
    expect(first.metrics.cores).to.equal(2);
    const second = readNodeExporter(advanced(1), first.counters);
    expect(second.metrics.cpu).to.be.closeTo(0.2, 1e-6);
    const reset = readNodeExporter(advanced(0), second.counters);
    expect(reset.metrics.cpu, 'counters went back (exporter restarted)').to.equal(undefined);
    expect(() => readNodeExporter('<html>nope</html>', undefined)).to.throw(
      'no node_exporter metrics (node_cpu_seconds_total, node_memory_MemAvailable_bytes, node_memory_MemTotal_bytes, node_load1) in the response',
    );
  });

  describe('polled through lb', () => {
    let exporter: http.Server | undefined;
    let backend: TestBackend | undefined;
    let lb: TestLb | undefined;
    let child: ChildProcess | undefined;
    afterEach(async () => {
      await lb?.close();
      await backend?.close();
      child?.kill('SIGTERM');
      if (exporter) await new Promise((done) => exporter!.close(done));
      lb = backend = exporter = child = undefined;
    });

    it('polls node_exporter text served over HTTP on a sidecar port and stores CPU, memory and load', async () => {
      const paths: string[] = [];
      let scrapes = 0;
      exporter = http.createServer((req, res) => {
        paths.push(req.url ?? '');
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(advanced(scrapes++));
      });
      await new Promise<void>((resolve) => exporter!.listen(0, '127.0.0.1', resolve));
      backend = await startBackend('app');
      lb = await startLb({
        backends: [backend.url],
        plugins: [{ use: 'health-check', options: { format: 'prometheus', port: (exporter.address() as AddressInfo).port, intervalMs: 100, timeoutMs: 1000 } }],
      });
      const target = lb.lb.pool.targets[0];
      await waitFor(() => target.metrics.cpu !== undefined, 3000, 'a CPU figure');
      expect(target.metrics.cpu).to.be.closeTo(0.2, 1e-6);
      expect(target.metrics.memory).to.be.closeTo(0.04056, 1e-5);
      expect(target.metrics.load).to.equal(1.17);
      expect(paths[0]).to.equal('/metrics?collect[]=cpu&collect[]=meminfo&collect[]=loadavg');
      expect(backend.hits, 'checks go to the exporter port, not the backend').to.equal(0);
      expect(target.state).to.equal('up');
    });

    it('polls a real prometheus-node-exporter when one is installed', async function () {
      const binary = ['prometheus-node-exporter', 'node_exporter'].find((b) => spawnSync(b, ['--version']).status === 0);
      if (!binary) this.skip();
      const port = await freePort();
      child = spawn(binary!, [
        `--web.listen-address=127.0.0.1:${port}`, '--collector.disable-defaults', '--collector.cpu', '--collector.meminfo', '--collector.loadavg',
      ], { stdio: 'ignore' });
      backend = await startBackend('app');
      lb = await startLb({
        backends: [backend.url],
        plugins: [{ use: 'health-check', options: { format: 'prometheus', port, intervalMs: 100, timeoutMs: 1000, fall: 30 } }],
      });
      const target = lb.lb.pool.targets[0];
      await waitFor(() => target.metrics.cpu !== undefined, 8000, 'a CPU figure from node_exporter');
      expect(target.metrics.cpu).to.be.within(0, 1);
      expect(target.metrics.memory).to.be.within(0.001, 1);
      expect(target.metrics.load).to.be.at.least(0);
      expect(target.state).to.equal('up');
    });
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
