import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { closeAfterEach } from '../support/servers.js';
import { SteadyLoad, startCountingBackend, waitFor, type CountingBackend } from './helpers.js';
import { LbProcess, replaceFile, requireBuiltCli, runLb } from './lb-process.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** GET url, resolving with the backend that answered (x-backend). */
function backendOf(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(`${res.statusCode} ${String(res.headers['x-backend'])}`));
    }).on('error', reject);
  });
}

/** Sends `count` GETs one after another; resolves with who answered each. */
async function servedBy(url: string, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(await backendOf(url));
  return out;
}

describe('lb run reloading on SIGHUP, lb reload and --watch', function () {
  this.timeout(30_000);
  before(requireBuiltCli);
  let dir: string;
  let rcFile: string;
  let pidFile: string;
  let lb: LbProcess | undefined;
  let x: CountingBackend | undefined;
  let y: CountingBackend | undefined;
  let z: CountingBackend | undefined;
  let streaming: { close(): Promise<void> } | undefined;
  let load: SteadyLoad | undefined;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lb-reload-cli-'));
    rcFile = path.join(dir, '.lbrc.json');
    pidFile = path.join(dir, 'lb.pid');
  });
  /** More lb processes, for tests that run several. */
  const others: LbProcess[] = [];
  closeAfterEach(() => [load && { close: async () => { await load!.stop(); } }, lb, ...others.splice(0), streaming, x, y, z]);
  afterEach(() => {
    load = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  const rc = (strategy: string, backends: CountingBackend[]) => JSON.stringify({ strategy, backends: backends.map((b) => b.url) }, null, 2);

  it('ends a storm of ten SIGHUPs within a second, the rc changing between them, serving the last rc, with reloads coalesced and none refused', async () => {
    x = await startCountingBackend('x');
    y = await startCountingBackend('y');
    z = await startCountingBackend('z');
    writeFileSync(rcFile, rc('round-robin', [x, y]));
    lb = await LbProcess.start(['--config', rcFile, '--port', '0', '--pid-file', pidFile], dir);
    expect(await servedBy(lb.url, 4)).to.deep.equal(['200 x', '200 y', '200 x', '200 y']);
    expect(readFileSync(pidFile, 'utf8')).to.equal(`${lb.child.pid}\n`);
    load = new SteadyLoad(lb.url, 4, 20_000, 20_000);

    // The rc alternates strategies and backends (y alone, x alone); the tenth and last adds z, which no other has.
    // SIGHUPs come in two bursts of five: the last four of a burst come while the first's reload runs, for lb to coalesce.
    const started = Date.now();
    for (let k = 1; k <= 10; k++) {
      replaceFile(rcFile, k === 10 ? rc('round-robin', [x, z]) : k % 2 ? rc('least-connections', [y]) : rc('round-robin', [x]));
      lb.signal('SIGHUP');
      if (k === 5) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const sent = Date.now() - started;
    // Reloads run one at a time, so once one has read the last rc (it adds z) every later one reads it too.
    await lb.waitForLine(new RegExp(`reload: generation \\d+ serving .*backendsAdded=\\S*${z.id}`), 15_000);
    const served = await servedBy(lb.url, 6);
    expect(new Set(served)).to.deep.equal(new Set(['200 x', '200 z']));
    const result = await load.stop();
    load = undefined;
    expect(result.failures).to.deep.equal([]);
    expect(result.completed).to.be.greaterThan(0);

    const exit = await lb.stop();
    expect(exit).to.deep.equal({ code: 0, signal: null });
    expect(existsSync(pidFile)).to.equal(false);
    const hups = lb.lines(/SIGHUP received; reloading the configuration/);
    const reloads = lb.lines(/reload: generation \d+ serving/);
    expect(hups.length).to.be.within(1, 10);
    // Fewer reloads than signals: those that came while a reload ran were coalesced into one more.
    expect(reloads.length).to.be.within(1, Math.min(hups.length, 9));
    expect(reloads.map((l) => Number(/generation (\d+)/.exec(l)![1]))).to.deep.equal(reloads.map((_l, i) => i + 2));
    // After the one that read the last rc, any further reload (a SIGHUP that came in meanwhile) changed nothing.
    const last = reloads.findIndex((l) => l.includes(z!.id));
    for (const line of reloads.slice(last + 1)) expect(line).to.match(/ ms=[\d.]+ changed=nothing$/);
    expect(lb.lines(/refused|^(warn|error) /)).to.deep.equal([]);
    expect(sent, 'the ten SIGHUPs were sent within a second').to.be.below(1000);
  });

  it('survives a SIGHUP sent the moment it says it listens, and reloads once started', async () => {
    x = await startCountingBackend('x');
    writeFileSync(rcFile, rc('round-robin', [x]));
    // Four at once, as the window between "listening on" and the SIGHUP handler was narrow.
    const runs = await Promise.all([1, 2, 3, 4].map(() => LbProcess.start(['--config', rcFile, '--port', '0'], dir, 'SIGHUP')));
    others.push(...runs);
    for (const run of runs) {
      await run.waitForLine(/reload: generation 2 serving generation=2 ms=[\d.]+ changed=nothing$/);
      expect(await servedBy(run.url, 1)).to.deep.equal(['200 x']);
    }
    const exits = await Promise.all(runs.map((run) => run.stop()));
    expect(exits).to.deep.equal(runs.map(() => ({ code: 0, signal: null })));
  });

  it('finishes a slow upload and a slow download intact across a SIGHUP that moves new requests to another backend, and reloads on `lb reload --pid-file`', async () => {
    const chunk = 16 * 1024;
    const chunks = 40;
    const download = randomBytes(chunk * chunks);
    const upload = randomBytes(chunk * chunks);
    let releaseTransfers!: () => void;
    const released = new Promise<void>((resolve) => { releaseTransfers = resolve; });
    const tick = () => new Promise((resolve) => setTimeout(resolve, 30));
    let uploadChunksSeen = 0;
    // x streams /download slowly (and holds its second half until released), and hashes what /upload brings.
    const xServer = http.createServer((req, res) => {
      if (req.url === '/download') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-backend': 'x' });
        void (async () => {
          for (let i = 0; i < chunks; i++) {
            if (i === chunks / 2) await released;
            if (!res.write(download.subarray(i * chunk, (i + 1) * chunk))) await new Promise((resolve) => res.once('drain', resolve));
            await tick();
          }
          res.end();
        })();
        return;
      }
      if (req.url === '/upload') {
        const hash = createHash('sha256');
        let bytes = 0;
        req.on('data', (d: Buffer) => { hash.update(d); bytes += d.length; uploadChunksSeen++; });
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json', 'x-backend': 'x' });
          res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') }));
        });
        return;
      }
      res.writeHead(200, { 'x-backend': 'x' });
      res.end('x\n');
    });
    await new Promise<void>((resolve) => xServer.listen(0, '127.0.0.1', resolve));
    streaming = { close: () => new Promise<void>((resolve) => { xServer.close(() => resolve()); xServer.closeAllConnections(); }) };
    const xUrl = `http://127.0.0.1:${(xServer.address() as AddressInfo).port}`;
    y = await startCountingBackend('y');
    writeFileSync(rcFile, JSON.stringify({ backends: [xUrl] }));
    lb = await LbProcess.start(['--config', rcFile, '--port', '0', '--pid-file', pidFile], dir);
    const lbUrl = new URL(lb.url);

    let downloadChunksSeen = 0;
    const downloaded = new Promise<{ status: number; bytes: number; sha256: string }>((resolve, reject) => {
      http.get(`${lb!.url}/download`, { agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => { parts.push(d); downloadChunksSeen++; });
        res.on('end', () => { const all = Buffer.concat(parts); resolve({ status: res.statusCode ?? 0, bytes: all.length, sha256: sha256(all) }); });
        res.on('error', reject);
      }).on('error', reject);
    });
    const uploaded = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: lbUrl.hostname, port: lbUrl.port, path: '/upload', method: 'POST', agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      void (async () => {
        for (let i = 0; i < chunks; i++) {
          if (i === chunks / 2) await released;
          req.write(upload.subarray(i * chunk, (i + 1) * chunk));
          await tick();
        }
        req.end();
      })();
    });
    await waitFor('both transfers under way', () => uploadChunksSeen >= 5 && downloadChunksSeen >= 5);

    replaceFile(rcFile, JSON.stringify({ backends: [y.url] }));
    lb.signal('SIGHUP');
    expect(await lb.waitForLine(/reload: generation 2 serving/)).to.match(new RegExp(`^info  \\[lb\\] reload: generation 2 serving generation=2 ms=[\\d.]+ backendsAdded=${y.id} backendsRemoved=${lbUrl.hostname}:\\d+$`));
    // New requests go to y while x's two transfers are held half way.
    expect(await servedBy(lb.url, 3)).to.deep.equal(['200 y', '200 y', '200 y']);
    expect(downloadChunksSeen).to.be.below(chunks);
    releaseTransfers();
    expect(await downloaded).to.deep.equal({ status: 200, bytes: download.length, sha256: sha256(download) });
    const up = await uploaded;
    expect(up.status).to.equal(200);
    expect(JSON.parse(up.body)).to.deep.equal({ bytes: upload.length, sha256: sha256(upload) });

    // `lb reload --pid-file` sends the SIGHUP: back to x.
    replaceFile(rcFile, JSON.stringify({ backends: [xUrl] }));
    const reload = await runLb(['reload', '--pid-file', pidFile], dir);
    expect(reload).to.deep.equal({
      code: 0,
      stdout: `Sent SIGHUP to lb (pid ${lb.child.pid}). Its log has one line for the reload: the new generation and what changed, or why it was refused.\n`,
      stderr: '',
    });
    await lb.waitForLine(/reload: generation 3 serving/);
    expect(await servedBy(lb.url, 3)).to.deep.equal(['200 x', '200 x', '200 x']);
    expect(await lb.stop()).to.deep.equal({ code: 0, signal: null });
    expect(lb.lines(/^(warn|error) /)).to.deep.equal([]);
  });

  it('reloads with --watch when the rc file is rewritten, and refuses a broken rc as `lb validate` describes it, serving on', async () => {
    x = await startCountingBackend('x');
    y = await startCountingBackend('y');
    writeFileSync(rcFile, rc('round-robin', [x]));
    lb = await LbProcess.start(['--config', rcFile, '--port', '0', '--watch'], dir);
    expect(await servedBy(lb.url, 2)).to.deep.equal(['200 x', '200 x']);

    // Rewritten in place, as `echo > .lbrc.json` does.
    writeFileSync(rcFile, rc('least-connections', [y]));
    await lb.waitForLine(/reload: generation 2 serving/);
    expect(lb.lines(/changed; reloading/)).to.deep.equal(['info  [lb] .lbrc.json changed; reloading the configuration']);
    expect(await servedBy(lb.url, 2)).to.deep.equal(['200 y', '200 y']);

    const broken = JSON.stringify({ backends: [y.url, x.url], retries: { count: 99 } });
    writeFileSync(rcFile, broken);
    const refused = await lb.waitForLine(/reload refused/);
    const validate = await runLb(['validate', '--config', '.lbrc.json'], dir);
    expect(validate.code).to.equal(2);
    // The same text as `lb validate` prints, but the general hint; the log's fields end the last line.
    const printed = validate.stderr.trimEnd().split('\n').slice(0, -1);
    expect(refused).to.equal(`error [lb] reload refused; generation 2 keeps serving: ${printed.join('\n').replace(/^lb: /, '')} generation=2 code=LB_ERR_CONFIG_INVALID`);
    expect(printed).to.deep.equal([
      'lb: Invalid configuration in .lbrc.json (LB_ERR_CONFIG_INVALID)',
      ' - retries.count: must be <= 10; found 99.',
      '   -> Most further attempts per request. A connection failure is retried for any method (nothing was sent); 0 turns retries off.',
    ]);
    expect(await servedBy(lb.url, 2)).to.deep.equal(['200 y', '200 y']);
    expect(x.hits).to.equal(2);
    expect(await lb.stop()).to.deep.equal({ code: 0, signal: null });
  });
});
