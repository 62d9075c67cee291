import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, LbClientError, type Session } from '../../plugins/handshake/client/index.js';
import { generateIdentityFile, readIdentity } from '../../plugins/handshake/identity.js';
import { startDemoBackend } from '../../cli/demo.js';
import { request, startBackend } from '../support/servers.js';
import { requireBuiltCli, runLb, startLb, type Child } from './spawn-lb.js';

const BANNER_END = /\n(Try: .*)\n/;

/**
 * connect(), polling while the PU1 pool is empty: lb starts with one key ready (which the
 * demo's own request at start-up uses) and makes the others in the background.
 */
async function connectWhenReady(url: string, pin: string, deadlineMs = 20000): Promise<Session> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await connect(url, { pin });
    } catch (e) {
      if (!(e instanceof LbClientError) || e.code !== 'LB_ERR_HANDSHAKE_POOL_EMPTY' || Date.now() > deadline) throw e;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Runs the `Try:` line's node command as a user pasting it would; resolves with its stdout. */
function runTryLine(line: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const m = /^Try: node --input-type=module -e "(.*)"$/.exec(line);
  if (!m) throw new Error(`not a node one-liner: ${line}`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', m[1]], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const killer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('close', (code) => { clearTimeout(killer); resolve({ code, stdout, stderr }); });
  });
}

describe('lb run with the secure presets', function () {
  this.timeout(60000);
  before(requireBuiltCli);
  let dir: string;
  let running: Child | undefined;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'lb-secure-')); });
  afterEach(async () => {
    await running?.stop();
    running = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('--demo --preset secure-compressed makes the identity key, prints its fingerprint, answers the SDK, and reuses the key on the next run', async () => {
    running = startLb(['run', '--demo', '--preset', 'secure-compressed', '--port', '0'], { cwd: dir });
    const tryLine = (await running.waitFor(BANNER_END))[1];
    const file = path.join(dir, 'lb-identity.pem');
    expect((statSync(file).mode & 0o777).toString(8)).to.equal('600');
    const { fingerprint } = readIdentity(file);
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(running.stdout)![1];
    const lines = running.stdout.split('\n');
    expect(lines.slice(1, 4)).to.deep.equal([
      '  config:   (none; built-in defaults) (preset secure-compressed)',
      '  strategy: metric-based',
      '  plugins:  health-check, orca-load-reports, passive-health, memory-keystore, handshake, compression',
    ]);
    expect(lines.slice(5, 7)).to.deep.equal([
      `  encryption: handshake on /.lb/handshake, identity ${fingerprint} (lb-identity.pem, made now); plaintext requests refused`,
      `  client:     const s = await (await import('lb/client')).connect('${url}', { pin: '${fingerprint}' })`,
    ]);
    // lb's own request through the SDK at start-up: compressed inside the encryption, far smaller on the wire.
    const demo = /^demo: an encrypted GET \/\?pad=4096 through lb\/client answered 200 from demo-[123] \((\d+) bytes, gzip inside the encryption; (\d+) bytes of records on the wire\)$/m.exec(running.stdout);
    expect(demo, running.stdout).to.not.equal(null);
    expect(Number(demo![2])).to.be.below(Number(demo![1]) / 4);
    expect(running.stdout).to.not.include('curl');

    const session = await connectWhenReady(url, fingerprint);
    const res = await session.fetch('/');
    expect(res.status).to.equal(200);
    const answer = JSON.parse(await res.text()) as { backend: string; path: string };
    expect(answer.backend).to.match(/^demo-[123]$/);
    expect(answer.path).to.equal('/');
    await session.close();
    const plain = await request(`${url}/`);
    expect(plain.status).to.equal(401);
    expect(plain.headers['lb-error']).to.equal('LB_ERR_SESSION_REQUIRED');
    let pasted = await runTryLine(tryLine);
    for (const deadline = Date.now() + 20000; pasted.stderr.includes('LB_ERR_HANDSHAKE_POOL_EMPTY') && Date.now() < deadline;) pasted = await runTryLine(tryLine);
    expect(pasted.code, pasted.stderr).to.equal(0);
    expect((JSON.parse(pasted.stdout) as { backend: string }).backend).to.match(/^demo-[123]$/);

    const first = await running.stop();
    expect(first.code).to.equal(0);
    expect(first.stderr).to.include(`handshake: made a new identity key in ${file}; clients pin ${fingerprint}`);

    running = startLb(['run', '--demo', '--preset', 'secure-compressed', '--port', '0'], { cwd: dir });
    await running.waitFor(BANNER_END);
    expect(running.stdout).to.include(`  encryption: handshake on /.lb/handshake, identity ${fingerprint} (lb-identity.pem); plaintext requests refused\n`);
    expect(readIdentity(file).fingerprint).to.equal(fingerprint);
    const url2 = /listening on (http:\S+)\n/.exec(running.stdout)![1];
    const again = await connectWhenReady(url2, fingerprint);
    expect((await again.fetch('/')).status).to.equal(200);
    await again.close();
  });

  it('runs an rc naming a key made with `lb keys generate`; with plaintext allowed the banner keeps the curl example', async () => {
    const made = await runLb(['keys', 'generate', '--out', 'keys/id.pem'], { cwd: dir });
    expect(made.code, made.stderr).to.equal(0);
    const fingerprint = (await runLb(['keys', 'fingerprint', 'keys/id.pem'], { cwd: dir })).stdout.trim();
    writeFileSync(path.join(dir, '.lbrc.json'), JSON.stringify({
      preset: 'secure',
      plugins: [{ use: 'handshake', options: { identityKey: 'keys/id.pem', createIdentity: false, plaintext: 'allow' } }],
    }));
    running = startLb(['run', '--demo', '--port', '0'], { cwd: dir });
    await running.waitFor(/\nTry: curl .*\n/);
    expect(running.stdout).to.include(`  encryption: handshake on /.lb/handshake, identity ${fingerprint} (keys/id.pem); plaintext requests allowed\n`);
    expect(running.stdout).to.match(/\ndemo: an encrypted GET \/\?pad=4096 through lb\/client answered 200 from demo-[123] \(\d+ bytes, not compressed; \d+ bytes of records on the wire\)\n/);
    const url = /listening on (http:\S+)\n/.exec(running.stdout)![1];
    expect((await request(`${url}/`)).status).to.equal(200);
  });

  it('validates the secure presets, and exits 2 without backends or --demo before making a key', async () => {
    const backend = await startBackend('one');
    try {
      writeFileSync(path.join(dir, '.lbrc.json'), JSON.stringify({ backends: [backend.url] }));
      const valid = await runLb(['validate', '--preset', 'secure-compressed'], { cwd: dir });
      expect(valid.code, valid.stderr).to.equal(0);
      expect(valid.stdout).to.equal('.lbrc.json is valid: preset secure-compressed, strategy metric-based, plugins: health-check, orca-load-reports, passive-health, memory-keystore, handshake, compression, 1 backend(s).\n');
      expect((await runLb(['validate', '--preset', 'secure'], { cwd: dir })).code).to.equal(0);
    } finally {
      await backend.close();
    }
    rmSync(path.join(dir, '.lbrc.json'));
    const bare = await runLb(['run', '--preset', 'secure-compressed', '--port', '0'], { cwd: dir });
    expect(bare.code).to.equal(2);
    expect(bare.stderr).to.equal([
      'lb: No backends configured in (none; built-in defaults) (LB_ERR_CONFIG_NO_BACKENDS)',
      '  -> Add `"backends": ["http://127.0.0.1:9001"]` to the rc file, or run with `--demo` to start example backends.',
      '',
    ].join('\n'));
    expect(existsSync(path.join(dir, 'lb-identity.pem'))).to.equal(false);
  });

  it('fails start-up naming the file and `lb keys generate` when identityKey is not a key and createIdentity is false', async () => {
    const key = path.join(dir, 'id.pem');
    writeFileSync(key, 'not a key\n');
    const rc = path.join(dir, 'lb.json');
    writeFileSync(rc, JSON.stringify({
      preset: 'secure',
      backends: ['http://127.0.0.1:9'],
      plugins: [{ use: 'handshake', options: { identityKey: key, createIdentity: false } }],
    }));
    const bad = await runLb(['run', '--config', rc, '--port', '0'], { cwd: dir });
    expect(bad.code).to.equal(1);
    expect(bad.stdout).to.equal('');
    expect(bad.stderr).to.match(new RegExp(
      `^lb: The handshake cannot use its identity key: ${key} is not a PEM private key \\(.+\\)\\. Make one with \`lb keys generate --out ${key}\`\\. \\(LB_ERR_HANDSHAKE_IDENTITY\\)\\n`
      + '  -> Make a key with `lb keys generate --out FILE` and name FILE in identityKey, or set createIdentity to true to have lb make one\\.\\n$'));
    expect(readFileSync(key, 'utf8')).to.equal('not a key\n');

    rmSync(key);
    const missing = await runLb(['run', '--config', rc, '--port', '0'], { cwd: dir });
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.include(`lb: The handshake cannot use its identity key: cannot read the identity key ${key}: ENOENT`);
    expect(missing.stderr).to.include(`Make one with \`lb keys generate --out ${key}\`.`);
    expect(existsSync(key)).to.equal(false);
    // The same file made with the command starts.
    generateIdentityFile(key);
    running = startLb(['run', '--config', rc, '--port', '0'], { cwd: dir });
    await running.waitFor(/\n {2}client: {5}.*\n/);
    expect(running.stdout).to.include(`identity ${readIdentity(key).fingerprint} (id.pem); plaintext requests refused\n`);
  });

  it('demo backends serve the lb agent report, so the health checks of the secure presets keep them in rotation', async () => {
    const backend = await startDemoBackend('demo-1', '127.0.0.1', 0);
    try {
      const report = await request(`${backend.url}/.lb/health`);
      expect(report.status).to.equal(200);
      expect((JSON.parse(report.body) as { status: string }).status).to.equal('ok');
      const answer = await request(`${backend.url}/x?pad=3000`);
      expect(answer.headers['endpoint-load-metrics']).to.be.a('string');
      const body = JSON.parse(answer.body) as { backend: string; pad: string };
      expect(body.backend).to.equal('demo-1');
      expect(body.pad).to.have.length(3000);
    } finally {
      await backend.close();
    }
  });
});
