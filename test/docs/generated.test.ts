import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { generatedFiles } from '../../cli/generate.js';
import { errorTables } from '../../cli/reference.js';
import { builtinPlugins } from '../../plugins/index.js';

describe('generated documentation and schema', () => {
  for (const { file, content } of generatedFiles()) {
    it(`${path.basename(file)} matches the code (run \`npm run generate\` after changing schemas or errors)`, () => {
      expect(readFileSync(file, 'utf8')).to.equal(content);
    });
  }

  it('docs/errors.md lists exactly the codes of core/errors.ts and of every built-in plugin, each once', () => {
    const doc = readFileSync(path.resolve(import.meta.dirname, '../../docs/errors.md'), 'utf8');
    const documented = [...doc.matchAll(/^\| `(LB_ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    const declared = errorTables(builtinPlugins).flatMap((t) => Object.keys(t.specs));
    expect(documented).to.deep.equal(declared);
    expect(new Set(declared).size).to.equal(declared.length);
    expect(declared).to.include('LB_ERR_COMPRESSION_BOMB');
  });

  it('lbrc.example.json points its $schema at the shipped schema and is valid against it', async () => {
    const root = path.resolve(import.meta.dirname, '../..');
    const example = JSON.parse(readFileSync(path.join(root, 'lbrc.example.json'), 'utf8')) as { $schema: string };
    expect(path.resolve(root, example.$schema)).to.equal(path.join(root, 'cli', 'lbrc.schema.json'));
    const { Ajv } = await import('ajv');
    const schema = JSON.parse(readFileSync(path.join(root, 'cli', 'lbrc.schema.json'), 'utf8')) as object;
    const validate = new Ajv({ strict: false }).compile(schema);
    expect(validate(example), JSON.stringify(validate.errors)).to.equal(true);
    expect(validate({ ...example, strategy: { use: 'round-robin', options: { weighted: 'sometimes' } } })).to.equal(false);
  });
});
