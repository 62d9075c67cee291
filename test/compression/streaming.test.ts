import { expect } from 'chai';
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { createLoadBalancer, definePlugin, PLUGIN_API_VERSION, resolveConfig, Stage, type ResponseContext } from '../../core/index.js';
import { builtinPlugins } from '../../plugins/index.js';
import { builtinPresets } from '../../presets/index.js';
import { captureLog, startBackend, startLb, type TestBackend, type TestLb } from '../support/servers.js';

const MiB = 1024 * 1024;
const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * 1.5 MiB of NDJSON with random hex ids: compresses about 2.4:1, so a 200 MB response is
 * still ~80 MB compressed. Longer than brotli's 1 MiB window, so repeating it gives no
 * long-distance matches.
 */
function ndjsonBlock(): Buffer {
  const words = ['order', 'paid', 'shipped', 'refund', 'alpha', 'beta', 'gamma', 'delta', 'north', 'south'];
  let x = 2463534242;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
  const hex = (n: number) => Array.from({ length: n }, () => next().toString(16).padStart(8, '0')).join('');
  const lines: string[] = [];
  let size = 0;
  while (size < 1.5 * MiB) {
    const line = `{"id":"${hex(4)}","sig":"${hex(4)}","n":${next() % 100000},"t":"${words[next() % 10]}"}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join(''));
}

/** Starts lb in a child process (see fixtures/lb-process.ts) and talks to it over IPC. */
async function startLbProcess(rc: Record<string, unknown>): Promise<{ child: ChildProcess; url: string; rss(): Promise<number>; close(): Promise<void> }> {
  const child = fork(path.join(here, 'fixtures', 'lb-process.ts'), [JSON.stringify(rc)], { execArgv: ['--import', 'tsx', '--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ask = (message: string) => new Promise<number>((resolve) => {
    const onMessage = (m: { rss?: number }) => {
      if (m.rss === undefined) return;
      child.off('message', onMessage);
      resolve(m.rss);
    };
    child.on('message', onMessage);
    child.send(message);
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`lb process exited with ${code}`)));
    child.on('message', (m: { port?: number }) => { if (m.port) resolve(m.port); });
  });
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    rss: () => ask('rss'),
    close: () => new Promise((resolve) => {
      child.removeAllListeners('exit');
      child.once('exit', () => resolve());
      child.send('close');
    }),
  };
}

describe('compression: streaming with backpressure', function () {
  this.timeout(60000);
  let backend: TestBackend | undefined;
  let lbProcess: Awaited<ReturnType<typeof startLbProcess>> | undefined;
  let lb: TestLb | undefined;

  afterEach(async () => {
    await lbProcess?.close();
    await lb?.close();
    await backend?.close();
    lbProcess = lb = backend = undefined;
  });

  it('compresses a 200 MB stream with lb\'s memory within 64 MB of its baseline; a stalled reader stalls the backend', async () => {
    const block = ndjsonBlock();
    const total = 200 * 1000 * 1000;
    let written = 0;
    const hashSent = createHash('sha256');
    backend = await startBackend('big', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      if (req.url === '/warm') return void res.end(block.subarray(0, 64 * 1024));
      const more = () => {
        while (written < total) {
          const piece = block.subarray(0, Math.min(block.length, total - written));
          written += piece.length;
          hashSent.update(piece);
          if (!res.write(piece)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    });
    // Quality 1 keeps this test fast; streaming, windows and backpressure are the same at every quality.
    lbProcess = await startLbProcess({ preset: 'compressed', backends: [backend.url], log: { level: 'warn' }, plugins: [{ use: 'compression', options: { brotli: { quality: 1, largeQuality: 1 } } }] });
    // Baseline once lb has compressed a response (zlib and brotli loaded, buffers warm).
    const warm = await fetch(`${lbProcess.url}/warm`, { headers: { 'accept-encoding': 'br' } });
    expect(warm.headers.get('content-encoding')).to.equal('br');
    await warm.arrayBuffer();
    const baseline = await lbProcess.rss();
    let peak = baseline;
    const proc = lbProcess;
    const sampler = setInterval(() => void proc.rss().then((r) => { peak = Math.max(peak, r); }), 50);

    // The reader stops for 3 s after its first MiB: once the buffers on the way (sockets,
    // streams) are full, the backend must be stalled too, not read into lb's heap.
    const stallMs = 3000;
    const writtenDuringStall: number[] = [];
    let stalled = false;
    let readCompressed = 0;
    const reader = new Transform({
      transform(chunk: Buffer, _e, callback) {
        readCompressed += chunk.length;
        if (stalled || readCompressed < MiB) return void callback(null, chunk);
        stalled = true;
        setTimeout(() => writtenDuringStall.push(written), stallMs - 1000);
        setTimeout(() => {
          writtenDuringStall.push(written);
          callback(null, chunk);
        }, stallMs);
      },
    });
    const received = createHash('sha256');
    let decoded = 0;
    try {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get(`${proc.url}/big`, { agent: false, headers: { 'accept-encoding': 'br' } }, resolve).on('error', reject);
      });
      expect(res.headers['content-encoding']).to.equal('br');
      await pipeline(res, reader, zlib.createBrotliDecompress(), new Writable({
        write(chunk: Buffer, _e, callback) {
          decoded += chunk.length;
          received.update(chunk);
          callback();
        },
      }));
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, await proc.rss());
    expect(decoded).to.equal(total);
    expect(received.digest('hex')).to.equal(hashSent.digest('hex'));
    expect(readCompressed, 'compressed bytes').to.be.above(total / 3);
    const [atTwoSeconds, atThreeSeconds] = writtenDuringStall;
    expect(atThreeSeconds - atTwoSeconds, 'bytes the backend wrote in the last second of the stall').to.equal(0);
    expect(atThreeSeconds, 'bytes the backend wrote before the reader resumed').to.be.below(100 * MiB);
    // Measured ~35 MiB: V8's young generation and the zlib threads' malloc arenas fill before they are reused.
    // The body is 200 MB raw and ~80 MB compressed: a proxy holding either would pass 64 MiB.
    expect((peak - baseline) / MiB, 'lb RSS growth (MiB)').to.be.below(64);
  });

  it('stops the compressor and the upstream request when the client disconnects', async () => {
    let upstreamClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => { upstreamClosed = resolve; });
    let written = 0;
    backend = await startBackend('endless', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = ndjsonBlock().subarray(0, 64 * 1024);
      const more = () => {
        while (!res.destroyed && res.write(chunk)) written += chunk.length;
        if (!res.destroyed) res.once('drain', more);
      };
      res.on('close', () => upstreamClosed());
      more();
    });
    const stages: ResponseContext['stages'][] = [];
    const observer = definePlugin({
      name: 'test-stage-observer', description: 'test only', apiVersion: PLUGIN_API_VERSION, schema: { type: 'object' },
      apply(pipeline) {
        pipeline.hooks.transformResponse.tapPromise({ name: 'test-stage-observer', stage: Stage.ENCODE + 1 }, async (response) => {
          stages.push(response.stages);
          return response;
        });
      },
    });
    const catalog = new Map([...builtinPlugins, [observer.name, observer]]);
    const resolved = await resolveConfig({ preset: 'compressed', backends: [backend.url], plugins: ['test-stage-observer'] }, '', { plugins: catalog, presets: builtinPresets });
    const log = captureLog('debug');
    const instance = await createLoadBalancer(resolved, { logger: log.logger });
    const info = await instance.listen(0, '127.0.0.1');
    lb = { lb: instance, url: info.url, port: info.port, log, close: () => instance.close() };

    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${info.url}/endless`, { agent: false, headers: { 'accept-encoding': 'gzip' } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (e) => { if (!req.destroyed) reject(e); });
    });
    await closed;
    const writtenAtClose = written;
    await new Promise((r) => setTimeout(r, 100));
    expect(written).to.equal(writtenAtClose);
    expect(stages).to.have.length(1);
    const compressor = stages[0]?.find((s) => s instanceof zlib.Gzip);
    expect(compressor, 'gzip stage').to.not.equal(undefined);
    expect(compressor!.destroyed).to.equal(true);
    expect(log.lines.some((l) => l.includes('The client closed the connection before the response was complete.'))).to.equal(true);
  });

  it('flushes a server-sent event stream so that each event arrives without waiting for more data', async () => {
    let sendEvent: (text: string) => void = () => undefined;
    let closeStream: () => void = () => undefined;
    backend = await startBackend('sse', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      sendEvent = (t) => res.write(`data: ${t}\n\n`);
      closeStream = () => res.end();
      res.write(`: ${'padding '.repeat(200)}\n\n`);
    });
    lb = await startLb({ preset: 'compressed', backends: [backend.url] });
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${lb!.url}/events`, { agent: false, headers: { 'accept-encoding': 'br' } }, resolve).on('error', reject);
    });
    expect(res.headers['content-encoding']).to.equal('br');
    const decoder = zlib.createBrotliDecompress();
    res.pipe(decoder);
    let textSoFar = '';
    decoder.on('data', (c: Buffer) => { textSoFar += c.toString(); });
    const waitFor = async (needle: string) => {
      const deadline = Date.now() + 1000;
      while (!textSoFar.includes(needle)) {
        if (Date.now() > deadline) throw new Error(`"${needle}" did not arrive within 1 s; got ${JSON.stringify(textSoFar.slice(-80))}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    for (const n of [1, 2, 3]) {
      const sentAt = Date.now();
      sendEvent(`event ${n}`);
      await waitFor(`data: event ${n}\n\n`);
      expect(Date.now() - sentAt, `event ${n} latency (ms)`).to.be.below(500);
    }
    closeStream();
    await new Promise((r) => decoder.once('end', r));
  });
});
