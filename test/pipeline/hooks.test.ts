import { expect } from 'chai';
import { createLogger, ERRORS, LbError, Pipeline, TargetPool } from '../../core/index.js';
import { request, serversPerTest } from '../support/servers.js';

const timeouts = { connectMs: 1000, upstreamMs: 1000, upstreamIdleMs: 1000, maxSocketsPerTarget: 0 };

describe('the pipeline', () => {
  const servers = serversPerTest();

  it('declares its hooks once, frozen', () => {
    const pipeline = new Pipeline(TargetPool.of([], timeouts), createLogger({ level: 'silent' }));
    expect(Object.isFrozen(pipeline.hooks)).to.equal(true);
    expect(Object.keys(pipeline.hooks)).to.include.members(['selectTarget', 'healthCheck', 'transformRequest', 'transformResponse', 'encrypt', 'listening', 'closing', 'requestDone']);
  });

  it('refuses taps after sealing, and callback-style taps always', () => {
    const pipeline = new Pipeline(TargetPool.of([], timeouts), createLogger({ level: 'silent' }));
    expect(() => pipeline.hooks.closing.tapAsync('cb-plugin', (done) => done())).to.throw(LbError,
      'Hook closing was tapped with tapAsync by "cb-plugin"; lb accepts tap and tapPromise only.');
    pipeline.seal();
    expect(() => pipeline.hooks.selectTarget.tap('late-plugin', () => undefined)).to.throw(LbError,
      'Cannot tap hook selectTarget as "late-plugin": the pipeline is sealed once lb starts.');
  });

  it('reports an error thrown by a plugin with the plugin\'s name and the hook, answers 500, and keeps serving', async () => {
    const backend = await servers.backend('b');
    const lb = await servers.lb({ backends: [backend.url], strategy: { use: './test/fixtures/plugins/throwing-strategy.ts', options: { message: 'no luck' } } });
    const failed = await request(lb.url + '/boom');
    expect(failed.status).to.equal(500);
    expect(failed.body).to.equal('500 Internal Server Error (LB_ERR_PLUGIN_HOOK_FAILED)\n');
    expect(lb.log.lines.some((l) => / error {1}\[lb\] Plugin "throwing-strategy" failed in hook selectTarget: no luck code=LB_ERR_PLUGIN_HOOK_FAILED method=GET path=\/boom/.test(l))).to.equal(true);
    expect((await request(lb.url + '/fine')).status).to.equal(200);
  });

  it('runs body stages by stage, decrypts first on the way in and encrypts last on the way out', async () => {
    let seenByBackend = '';
    const backend = await servers.backend('echo', (req, res) => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (c: string) => { body += c; });
      req.on('end', () => { seenByBackend = body; res.end(`got:${body}`); });
    });
    const lb = await servers.lb({ backends: [backend.url], plugins: ['./test/fixtures/plugins/body-stages.ts'] });

    const plain = await request(lb.url, { method: 'POST', body: 'hello' });
    expect(seenByBackend).to.equal('HELLO');
    expect(plain.body).to.equal('got:HELLO[normal][encode]');
    expect(plain.headers['x-transformed']).to.equal('yes');
    expect(plain.headers['content-length']).to.equal(undefined);

    const xor = (s: string) => Buffer.from(s, 'latin1').map((b) => b ^ 42);
    const ciphered = await new Promise<Buffer>((resolve, reject) => {
      import('node:http').then(({ default: http }) => {
        const req = http.request(lb!.url, { method: 'POST', agent: false, headers: { 'x-test-cipher': '1' } }, (res) => {
          expect(res.headers['x-encrypted']).to.equal('xor');
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks)));
        });
        req.on('error', reject);
        req.end(xor('secret'));
      }, reject);
    });
    // The request stage upper-cased plaintext, so decryption ran before it; the response
    // stages' tags are inside the ciphertext, so encryption ran after them.
    expect(seenByBackend).to.equal('SECRET');
    expect(Buffer.from(ciphered.map((b) => b ^ 42)).toString('latin1')).to.equal('got:SECRET[normal][encode]');
  });

  it('never calls a hook that no plugin tapped while serving a request', async () => {
    const backend = await servers.backend('b');
    const lb = await servers.lb({ backends: [backend.url] });
    const called: string[] = [];
    const hooks = lb.lb.pipeline.hooks;
    for (const name of ['encrypt', 'transformRequest', 'transformResponse', 'requestDone', 'upstreamResponse', 'beforeUpgrade'] as const) {
      (hooks[name] as unknown as { intercept(i: object): void }).intercept({ call: () => called.push(name) });
    }
    expect((await request(lb.url + '/x')).status).to.equal(200);
    expect((await request(lb.url, { method: 'POST', body: 'x' })).status).to.equal(200);
    expect((await request(lb.url + '/.lb/x')).status).to.equal(404);
    expect(called).to.deep.equal([]);
  });

  it('lists every error code with a status, a source and a fix', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      expect(code).to.match(/^LB_ERR_[A-Z]+_[A-Z_]+$/);
      expect(spec.fix.length, code).to.be.greaterThan(10);
      expect(spec.meaning.length, code).to.be.greaterThan(10);
    }
  });
});
