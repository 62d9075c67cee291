import { expect } from 'chai';
import { builtinPresets } from '../../presets/index.js';
import { startLb, type TestBackend, type TestLb } from '../support/servers.js';
import { decode, rawRequest, startScriptedBackend, text } from './helpers.js';

// The cipher here is a test fixture that passes bytes through: it marks a request as belonging to an
// encrypted session, which is all the BREACH switch looks at. Real encryption comes with the handshake plugin.
const CIPHER = './test/compression/fixtures/passthrough-cipher.ts';
const encrypted = { 'accept-encoding': 'br', 'x-test-session': 'encrypted' };
const plain = { 'accept-encoding': 'br' };

describe('compression: the BREACH switch for encrypted sessions', function () {
  this.timeout(10000);
  let backend: TestBackend;
  let lb: TestLb | undefined;

  before(async () => {
    backend = await startScriptedBackend();
  });
  afterEach(async () => {
    await lb?.close();
    lb = undefined;
  });
  after(async () => backend?.close());

  const start = (options: Record<string, unknown>) =>
    startLb({ preset: 'compressed', backends: [backend.url], plugins: [{ use: 'compression', options }, CIPHER] });

  it('compresses responses of encrypted sessions by default, before the cipher stage', async () => {
    lb = await start({});
    const r = await rawRequest(`${lb.url}/page?size=5000&type=text/html`, { headers: encrypted });
    expect(r.headers['x-test-cipher']).to.equal('passthrough');
    expect(r.headers['content-encoding']).to.equal('br');
    expect(decode(r).equals(text(5000))).to.equal(true);
  });

  it('never compresses under encryption with encrypted.compress false, and still compresses plain sessions', async () => {
    lb = await start({ encrypted: { compress: false } });
    const secret = await rawRequest(`${lb.url}/page?size=5000&type=text/html`, { headers: encrypted });
    expect(secret.headers['x-test-cipher']).to.equal('passthrough');
    expect(secret.headers['content-encoding']).to.equal(undefined);
    expect(secret.body.equals(text(5000))).to.equal(true);
    const open = await rawRequest(`${lb.url}/page?size=5000&type=text/html`, { headers: plain });
    expect(open.headers['content-encoding']).to.equal('br');
  });

  it('skips the listed media types under encryption (encrypted.skipTypes) and compresses the others', async () => {
    lb = await start({ encrypted: { skipTypes: ['text/html'] } });
    const html = await rawRequest(`${lb.url}/page?size=5000&type=${encodeURIComponent('text/html; charset=utf-8')}`, { headers: encrypted });
    expect(html.headers['content-encoding']).to.equal(undefined);
    const json = await rawRequest(`${lb.url}/api?size=5000&type=application/json`, { headers: encrypted });
    expect(json.headers['content-encoding']).to.equal('br');
    const htmlPlain = await rawRequest(`${lb.url}/page?size=5000&type=text/html`, { headers: plain });
    expect(htmlPlain.headers['content-encoding']).to.equal('br');
  });

  it('turns compression off under encryption per route (compressEncrypted: false)', async () => {
    lb = await start({ routes: [{ path: '/account/', compressEncrypted: false }] });
    const account = await rawRequest(`${lb.url}/account/settings?size=5000`, { headers: encrypted });
    expect(account.headers['content-encoding']).to.equal(undefined);
    const dodged = await rawRequest(`${lb.url}/public/../account/settings?size=5000`, { headers: encrypted });
    expect(dodged.headers['content-encoding']).to.equal(undefined);
    const elsewhere = await rawRequest(`${lb.url}/catalog?size=5000`, { headers: encrypted });
    expect(elsewhere.headers['content-encoding']).to.equal('br');
    const accountPlain = await rawRequest(`${lb.url}/account/settings?size=5000`, { headers: plain });
    expect(accountPlain.headers['content-encoding']).to.equal('br');
  });
});

describe('compression: the compressed preset', () => {
  it('is round robin with passive health plus the compression plugin with default options', () => {
    const preset = builtinPresets.get('compressed');
    expect(preset).to.deep.include({ strategy: 'round-robin', plugins: ['passive-health', 'compression'] });
  });
});
