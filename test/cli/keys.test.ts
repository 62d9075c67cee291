import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readIdentity } from '../../plugins/handshake/identity.js';
import { requireBuiltCli, runLb } from './spawn-lb.js';

const modeOf = (file: string) => (statSync(file).mode & 0o777).toString(8);

describe('lb keys', function () {
  this.timeout(30000);
  before(requireBuiltCli);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'lb-keys-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('generates lb-identity.pem in the working directory, mode 0600, and prints its path and fingerprint', async () => {
    const r = await runLb(['keys', 'generate'], { cwd: dir });
    expect(r.code, r.stderr).to.equal(0);
    const file = path.join(dir, 'lb-identity.pem');
    expect(modeOf(file)).to.equal('600');
    const { fingerprint } = readIdentity(file);
    expect(fingerprint).to.match(/^SHA256:[A-Za-z0-9_-]{43}$/);
    expect(r.stdout).to.equal([
      'Wrote lb-identity.pem (ECDSA P-256 identity key, mode 0600). Keep it secret; back it up.',
      `  fingerprint: ${fingerprint}`,
      `  clients pin it: connect(url, { pin: '${fingerprint}' }); \`lb keys fingerprint lb-identity.pem\` prints it again.`,
      '',
    ].join('\n'));
    expect(r.stderr).to.equal('');
  });

  it('refuses to replace a key without --force, and with --force writes a new one with mode 0600', async () => {
    const file = path.join(dir, 'lb-identity.pem');
    expect((await runLb(['keys', 'generate'], { cwd: dir })).code).to.equal(0);
    const before = readFileSync(file, 'utf8');
    const refused = await runLb(['keys', 'generate'], { cwd: dir });
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.equal(`lb: ${file} exists; pass --force to replace it (clients pinned to its fingerprint will refuse the new one).\n`);
    expect(refused.stdout).to.equal('');
    expect(readFileSync(file, 'utf8')).to.equal(before);
    // A replaced file keeps its mode unless lb sets it: a key made readable by mistake becomes private again.
    chmodSync(file, 0o644);
    const forced = await runLb(['keys', 'generate', '--force'], { cwd: dir });
    expect(forced.code, forced.stderr).to.equal(0);
    expect(readFileSync(file, 'utf8')).to.not.equal(before);
    expect(modeOf(file)).to.equal('600');
    expect(forced.stdout).to.include(`  fingerprint: ${readIdentity(file).fingerprint}\n`);
  });

  it('writes to --out, making its folders, and prints the fingerprint alone for scripts', async () => {
    const gen = await runLb(['keys', 'generate', '--out', 'keys/prod/identity.pem'], { cwd: dir });
    expect(gen.code, gen.stderr).to.equal(0);
    const file = path.join(dir, 'keys', 'prod', 'identity.pem');
    expect(modeOf(file)).to.equal('600');
    expect(gen.stdout).to.include('Wrote keys/prod/identity.pem (ECDSA P-256 identity key, mode 0600).');
    expect(gen.stdout).to.include('  lb uses it with the handshake option "identityKey": "keys/prod/identity.pem".\n');
    const fp = await runLb(['keys', 'fingerprint', 'keys/prod/identity.pem'], { cwd: dir });
    expect(fp.code, fp.stderr).to.equal(0);
    expect(fp.stdout).to.equal(`${readIdentity(file).fingerprint}\n`);
    expect(fp.stderr).to.equal('');
    const absolute = await runLb(['keys', 'fingerprint', file], { cwd: os.tmpdir() });
    expect(absolute.stdout).to.equal(fp.stdout);
  });

  it('reads lb-identity.pem in the working directory when no file is named', async () => {
    expect((await runLb(['keys', 'generate'], { cwd: dir })).code).to.equal(0);
    const fp = await runLb(['keys', 'fingerprint'], { cwd: dir });
    expect(fp.code).to.equal(0);
    expect(fp.stdout).to.equal(`${readIdentity(path.join(dir, 'lb-identity.pem')).fingerprint}\n`);
  });

  it('exits 1 naming the file and `lb keys generate` when the key is missing, not a key, or not ECDSA P-256', async () => {
    const missing = await runLb(['keys', 'fingerprint'], { cwd: dir });
    expect(missing.code).to.equal(1);
    const abs = path.join(dir, 'lb-identity.pem');
    expect(missing.stderr).to.equal(`lb: cannot read the identity key ${abs}: ENOENT: no such file or directory, open '${abs}'. Make one with \`lb keys generate --out lb-identity.pem\`.\n`);
    expect(missing.stdout).to.equal('');
    expect(existsSync(abs)).to.equal(false);

    writeFileSync(path.join(dir, 'notes.txt'), 'not a key\n');
    const text = await runLb(['keys', 'fingerprint', 'notes.txt'], { cwd: dir });
    expect(text.code).to.equal(1);
    expect(text.stderr).to.match(new RegExp(`^lb: ${path.join(dir, 'notes.txt')} is not a PEM private key \\(.+\\)\\. Make one with \`lb keys generate --out notes.txt\`\\.\\n$`));

    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    writeFileSync(path.join(dir, 'rsa.pem'), rsa);
    const wrongType = await runLb(['keys', 'fingerprint', 'rsa.pem'], { cwd: dir });
    expect(wrongType.code).to.equal(1);
    expect(wrongType.stderr).to.equal(`lb: ${path.join(dir, 'rsa.pem')} holds a rsa key; the identity key must be ECDSA P-256. Make one with \`lb keys generate --out rsa.pem\`.\n`);
  });

  it('exits 2 on a missing or unknown subcommand and on extra arguments, and lists the subcommands in --help', async () => {
    const none = await runLb(['keys'], { cwd: dir });
    expect(none.code).to.equal(2);
    expect(none.stderr).to.equal('lb: keys needs a subcommand: generate or fingerprint.\nRun `lb --help` for usage.\n');
    const unknown = await runLb(['keys', 'rotate'], { cwd: dir });
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.equal('lb: unknown keys subcommand "rotate": generate or fingerprint.\nRun `lb --help` for usage.\n');
    const extra = await runLb(['keys', 'generate', 'id.pem'], { cwd: dir });
    expect(extra.code).to.equal(2);
    expect(extra.stderr).to.equal('lb: unexpected argument "id.pem"; name the file with --out id.pem.\nRun `lb --help` for usage.\n');
    expect(existsSync(path.join(dir, 'id.pem'))).to.equal(false);
    const help = await runLb(['help'], { cwd: dir });
    expect(help.stdout).to.include('\n  keys       The identity key of the handshake plugin');
    expect(help.stdout).to.include('\n             keys generate [--out FILE] [--force]  write a new ECDSA P-256 key, mode 0600 (default FILE: lb-identity.pem)\n');
    expect(help.stdout).to.include('\n             keys fingerprint [FILE]               print its fingerprint (SHA256:...), which clients pin\n');
  });
});
