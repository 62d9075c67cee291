import { expect } from 'chai';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LbError, loadConfigFile } from '../../core/index.js';
import { loadResolved } from '../../cli/commands.js';

describe('loading the rc file', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'lb-config-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const cases: Array<[string, string]> = [
    ['.lbrc', '{ "backends": ["http://127.0.0.1:9001"] }'],
    ['.lbrc.json', '{ "backends": ["http://127.0.0.1:9001"] }'],
    ['.lbrc.yaml', 'backends:\n  - http://127.0.0.1:9001\n'],
    ['.lbrc.js', 'export default { backends: ["http://127.0.0.1:9001"] };'],
    ['lb.config.js', 'export default { backends: ["http://127.0.0.1:9001"] };'],
    ['package.json', '{ "name": "app", "type": "module", "lb": { "backends": ["http://127.0.0.1:9001"] } }'],
  ];
  for (const [name, content] of cases) {
    it(`finds ${name} in the working folder`, async () => {
      writeFileSync(path.join(dir, name), content);
      if (name.endsWith('.js')) writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }');
      const loaded = await loadConfigFile({ cwd: dir });
      expect(loaded.file).to.equal(path.join(dir, name));
      expect(loaded.raw).to.deep.include({ backends: ['http://127.0.0.1:9001'] });
    });
  }

  it('runs on defaults when there is no rc file', async () => {
    const loaded = await loadConfigFile({ cwd: dir });
    expect(loaded).to.deep.equal({ file: '', raw: {} });
    const resolved = await loadResolved({ cwd: dir });
    expect(resolved.preset.name).to.equal('basic');
    expect(resolved.config.listen).to.deep.equal({ host: '127.0.0.1', port: 8080 });
    expect(resolved.config.timeouts.connectMs).to.equal(5000);
  });

  it('reports a --config file that does not exist', async () => {
    const err = await loadConfigFile({ cwd: dir, configPath: 'nope.json' }).catch((e: LbError) => e);
    expect(err).to.be.instanceOf(LbError);
    expect((err as LbError).code).to.equal('LB_ERR_CONFIG_NOT_FOUND');
    expect((err as LbError).message).to.equal(`No configuration found: ${path.join(dir, 'nope.json')} does not exist.`);
  });

  it('reports invalid JSON with the file and the position, without a stack trace', async () => {
    mkdirSync(path.join(dir, 'conf'));
    const file = path.join(dir, 'conf', 'lb.json');
    writeFileSync(file, '{\n  "backends": [\n    "http://127.0.0.1:9001",\n  ]\n}\n');
    const err = (await loadConfigFile({ cwd: dir, configPath: 'conf/lb.json' }).catch((e: LbError) => e)) as LbError;
    expect(err.code).to.equal('LB_ERR_CONFIG_PARSE');
    expect(err.message).to.equal(`Cannot parse ${file}: invalid JSON at line 4, column 3: unexpected "]" (a trailing comma?).`);
    expect(err.message).to.not.include('    at ');
  });

  it('reports invalid YAML with the line', async () => {
    writeFileSync(path.join(dir, '.lbrc.yaml'), 'backends:\n  - http://127.0.0.1:9001\n bad: [\n');
    const err = (await loadConfigFile({ cwd: dir }).catch((e: LbError) => e)) as LbError;
    expect(err.code).to.equal('LB_ERR_CONFIG_PARSE');
    expect(err.message).to.match(/^Cannot parse .*\.lbrc\.yaml: bad indentation of a mapping entry \(3:2\)/);
  });
});
