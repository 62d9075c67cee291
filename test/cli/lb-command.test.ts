import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request, startBackend } from '../support/servers.js';

const root = path.resolve(import.meta.dirname, '../..');
// The compiled command, as `npx lb` runs it; `npm test` builds it first.
const cliEntry = path.join(root, 'dist', 'cli', 'lb.js');

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs the real `lb` command as a child process. */
function lb(args: string[], options: { cwd?: string; onStdout?: (text: string, child: ReturnType<typeof spawn>) => void; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliEntry, ...args], { cwd: options.cwd ?? root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15000);
    child.stdout.on('data', (d: Buffer) => { stdout += d; options.onStdout?.(stdout, child); });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('close', (code, signal) => { clearTimeout(killer); resolve({ code, signal, stdout, stderr }); });
  });
}

describe('the lb command', function () {
  this.timeout(30000);
  before(function () {
    if (!existsSync(cliEntry)) throw new Error(`${cliEntry} is missing: run \`npm run build\` (npm test does) before these tests.`);
  });
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'lb-cli-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('prints its version and its help', async () => {
    const version = await lb(['--version']);
    expect(version.code).to.equal(0);
    expect(version.stdout.trim()).to.equal(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version);
    const help = await lb(['--help']);
    expect(help.code).to.equal(0);
    for (const command of ['run', 'validate', 'presets', 'init', 'agent', 'reload', 'keys']) expect(help.stdout).to.include(`\n  ${command} `);
  });

  it('exits 0 from validate when the configuration is valid', async () => {
    const r = await lb(['validate', '--config', 'lbrc.example.json']);
    expect(r.code).to.equal(0);
    expect(r.stdout.trim()).to.equal('lbrc.example.json is valid: preset basic, strategy round-robin, plugins: passive-health, 3 backend(s).');
  });

  it('exits 2 with the file, the JSON path, expected and found, and no stack trace', async () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ backends: ['http://127.0.0.1:1'], listen: { port: 'eighty' } }));
    for (const command of ['validate', 'run']) {
      const r = await lb([command, '--config', file]);
      expect(r.code, command).to.equal(2);
      expect(r.stderr).to.equal([
        `lb: Invalid configuration in ${path.relative(root, file)} (LB_ERR_CONFIG_INVALID)`,
        ' - listen.port: must be an integer; found "eighty".',
        '   -> TCP port; 0 picks a free one.',
        '  -> Each listed problem names the JSON path, what was expected and what was found; change that value.',
        '',
      ].join('\n'));
      expect(r.stderr).to.not.match(/\n\s+at /);
    }
  });

  it('exits 2 on invalid JSON and on an unknown preset', async () => {
    const file = path.join(dir, 'broken.json');
    writeFileSync(file, '{ "backends": [ }');
    const broken = await lb(['validate', '--config', file]);
    expect(broken.code).to.equal(2);
    expect(broken.stderr).to.include(`lb: Cannot parse ${file}: invalid JSON at line 1, column 17: expected a value but found "}". (LB_ERR_CONFIG_PARSE)`);
    const preset = await lb(['validate', '--config', 'lbrc.example.json', '--preset', 'nonesuch']);
    expect(preset.code).to.equal(2);
    expect(preset.stderr).to.include(' - --preset: preset "nonesuch" is unknown.');
  });

  it('exits 2 on an unknown command or flag', async () => {
    const r = await lb(['serve']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.equal('lb: unknown command "serve"; commands are run, validate, presets, init, agent, reload, keys.\nRun `lb --help` for usage.\n');
    const flag = await lb(['run', '--prot', '80']);
    expect(flag.code).to.equal(2);
    expect(flag.stderr).to.match(/^lb: Unknown option '--prot'/);
  });

  it('lists presets with their plugins', async () => {
    const r = await lb(['presets']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/^basic\s+Round robin .*\n\s+strategy: round-robin; plugins: passive-health\n/);
  });

  it('writes a starter .lbrc.json that validates and points at the shipped schema, and will not overwrite it', async () => {
    const first = await lb(['init'], { cwd: dir });
    expect(first.code).to.equal(0);
    const written = JSON.parse(readFileSync(path.join(dir, '.lbrc.json'), 'utf8')) as { $schema: string };
    expect(existsSync(path.resolve(dir, written.$schema))).to.equal(true);
    expect((await lb(['validate'], { cwd: dir })).code).to.equal(0);
    const again = await lb(['init'], { cwd: dir });
    expect(again.code).to.equal(1);
    expect(again.stderr).to.equal('lb: .lbrc.json already exists; pass --force to overwrite it.\n');
  });

  it('runs with --demo, balances across the demo backends, and exits 0 on SIGTERM after in-flight requests', async () => {
    let url = '';
    const served: string[] = [];
    const run = lb(['run', '--demo', '--port', '0'], {
      cwd: dir,
      onStdout: (text, child) => {
        const m = /listening on (http:\S+)/.exec(text);
        if (m && !url && text.includes('Try:')) {
          url = m[1];
          void (async () => {
            for (let i = 0; i < 6; i++) served.push(JSON.parse((await request(url)).body).backend);
            child.kill('SIGTERM');
          })();
        }
      },
    });
    const r = await run;
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/^lb \d+\.\d+\.\d+ listening on http:\/\/127\.0\.0\.1:\d+\n  config:   \(none; built-in defaults\) \(preset basic\)\n  strategy: round-robin\n  plugins:  passive-health\n  backends: http:\/\/127\.0\.0\.1:\d+, http:\/\/127\.0\.0\.1:\d+, http:\/\/127\.0\.0\.1:\d+ \(demo, in-process\)\n/);
    expect(served).to.deep.equal(['demo-1', 'demo-2', 'demo-3', 'demo-1', 'demo-2', 'demo-3']);
    expect(r.stderr).to.include('SIGTERM received; finishing in-flight requests');
    expect(r.stderr).to.include('[lb] stopped');
  });

  it('runs with --preset compressed: curl --compressed gets br, decoded to exactly the backend\'s bytes', async () => {
    const payload = JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'] })) });
    const backend = await startBackend('json', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
    });
    try {
      const rc = path.join(dir, '.lbrc.json');
      writeFileSync(rc, JSON.stringify({ backends: [backend.url] }));
      let curl: { headers: string; body: string } | undefined;
      const r = await lb(['run', '--config', rc, '--preset', 'compressed', '--port', '0'], {
        cwd: dir,
        onStdout: (text, child) => {
          const m = /listening on (http:\S+)/.exec(text);
          if (!m || curl) return;
          curl = { headers: '', body: '' };
          const c = spawn('curl', ['-sS', '--compressed', '-D', '-', '-o', path.join(dir, 'body'), m[1]]);
          c.stdout.on('data', (d: Buffer) => { curl!.headers += d; });
          c.on('close', () => {
            curl!.body = readFileSync(path.join(dir, 'body'), 'utf8');
            child.kill('SIGTERM');
          });
        },
      });
      expect(r.code).to.equal(0);
      expect(r.stdout).to.include('plugins:  passive-health, compression');
      expect(curl?.headers.toLowerCase()).to.include('content-encoding: br');
      expect(curl?.body).to.equal(payload);
    } finally {
      await backend.close();
    }
  });

  it('exits 2 from run when no backend is configured and --demo is not given', async () => {
    const r = await lb(['run', '--port', '0'], { cwd: dir });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('lb: No backends configured in (none; built-in defaults) (LB_ERR_CONFIG_NO_BACKENDS)');
  });
});
