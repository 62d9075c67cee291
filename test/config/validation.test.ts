import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { definePlugin, LbError, PLUGIN_API_VERSION, resolveConfig, type PresetCatalog } from '../../core/index.js';
import { builtinPlugins } from '../../plugins/index.js';
import { builtinPresets } from '../../presets/index.js';

const backends = ['http://127.0.0.1:9001'];

async function problems(raw: unknown, extra: { presetOverride?: string; file?: string; presets?: PresetCatalog } = {}): Promise<string[]> {
  try {
    await resolveConfig(raw, extra.file ?? '', { plugins: builtinPlugins, presets: extra.presets ?? builtinPresets, presetOverride: extra.presetOverride });
  } catch (e) {
    expect(e).to.be.instanceOf(LbError);
    expect((e as LbError).code).to.equal('LB_ERR_CONFIG_INVALID');
    return [...(e as LbError).details];
  }
  throw new Error('expected the configuration to be rejected');
}

describe('validating a configuration', () => {
  it('names the JSON path, what was expected and what was found for each problem', async () => {
    expect(await problems({ backends, listen: { prot: 80 }, timeouts: { connectMs: 0, upstreamMs: 'soon' } })).to.deep.equal([
      ' - listen: key "prot" is not allowed. Did you mean "port"? Allowed keys: host, port.',
      ' - timeouts.connectMs: must be >= 1; found 0.\n   -> Connecting to a backend; past it the request gets 504 (nginx: proxy_connect_timeout).',
      ' - timeouts.upstreamMs: must be an integer; found "soon".\n   -> Silence from a backend while a request waits on it; past it 504 (nginx: proxy_read_timeout).',
    ]);
  });

  it('explains a malformed backend entry in one line', async () => {
    expect(await problems({ backends: [42, { url: 'http://127.0.0.1:1', wieght: 2 }, 'ftp://x'] })).to.deep.equal([
      ' - backends[0]: must be a string or an object; found 42.\n   -> A backend: its URL alone, or an object with a URL, a weight and a health-check port.',
      ' - backends[1]: key "wieght" is not allowed. Did you mean "weight"? Allowed keys: url, weight, healthPort.',
      ' - backends[2]: must match ^https?://; found "ftp://x".\n   -> Backend URL, e.g. "http://127.0.0.1:9001".',
    ]);
  });

  it('refuses a backend with a path, and one listed twice', async () => {
    expect(await problems({ backends: ['http://127.0.0.1:9001/api', 'http://127.0.0.1:9002', 'http://127.0.0.1:9002'] })).to.deep.equal([
      ' - backends[0]: "http://127.0.0.1:9001/api" has a path, query or credentials; a backend is an origin only.\n   -> Write "http://127.0.0.1:9001".',
      ' - backends[2]: "http://127.0.0.1:9002" is listed twice.\n   -> Give each backend once; use "weight" to send it more requests.',
    ]);
  });

  it('rejects an unknown preset with a suggestion, from the rc or from --preset', async () => {
    const known = [...builtinPresets.keys()].join(', ');
    expect(await problems({ backends, preset: 'bsic' })).to.deep.equal([
      ` - preset: preset "bsic" is unknown. Did you mean "basic"? Known presets: ${known}. (LB_ERR_PRESET_UNKNOWN)\n   -> Run \`lb presets\` to list the presets with their plugins.`,
    ]);
    expect((await problems({ backends }, { presetOverride: 'nope' }))[0]).to.match(/^ - --preset: preset "nope" is unknown\./);
  });

  it('rejects an unknown plugin with a suggestion, and a plugin listed twice', async () => {
    expect(await problems({ backends, strategy: 'round-robbin', plugins: ['./no/such/file.js'] })).to.deep.equal([
      ' - strategy: Plugin "round-robbin" is neither built in nor an installed package or file. Did you mean "round-robin"? (LB_ERR_PLUGIN_UNKNOWN)\n   -> Use a built-in name (`lb presets` shows them), install the npm package, or give a path starting with ./ relative to the rc file.',
      ' - plugins[0]: Plugin "./no/such/file.js" is neither built in nor an installed package or file. (LB_ERR_PLUGIN_UNKNOWN)\n   -> Use a built-in name (`lb presets` shows them), install the npm package, or give a path starting with ./ relative to the rc file.',
    ]);
    const twice = await problems({ backends, plugins: ['./test/fixtures/plugins/body-stages.ts', { use: './test/fixtures/plugins/body-stages.ts' }] });
    expect(twice[0]).to.equal(' - plugins[1]: Plugin "./test/fixtures/plugins/body-stages.ts" is listed twice. (LB_ERR_PLUGIN_DUPLICATE)\n   -> Keep one entry and merge its options; to change a preset\'s plugin, list it once with the options to override.');
  });

  it('checks plugin options against the plugin\'s own schema', async () => {
    expect(await problems({ backends, strategy: { use: 'round-robin', options: { weighted: 'sometimes', extra: 1 } } })).to.deep.equal([
      ' - strategy.options: key "extra" is not allowed. Allowed keys: weighted.',
      ' - strategy.options.weighted: must be one of "auto", "always", "never"; found "sometimes".\n   -> "auto" uses smooth weighted round robin when any backend\'s weight differs from 1; "never" ignores weights.',
    ]);
  });

  it('keeps strategies in "strategy" and other plugins in "plugins"', async () => {
    expect(await problems({ backends, strategy: './test/fixtures/plugins/body-stages.ts', plugins: ['round-robin'] })).to.deep.equal([
      ' - strategy: Plugin "body-stages" is a feature, so it belongs in "plugins". (LB_ERR_PLUGIN_WRONG_SLOT)\n   -> Name the strategy in `"strategy": "NAME"` and list other plugins under `plugins`.',
      ' - plugins[0]: Plugin "round-robin" is a strategy, so it belongs in "strategy". (LB_ERR_PLUGIN_WRONG_SLOT)\n   -> Name the strategy in `"strategy": "NAME"` and list other plugins under `plugins`.',
    ]);
  });

  it('rejects a module that is not a plugin, and a plugin for another plugin API', async () => {
    const found = await problems({ backends, plugins: ['./test/fixtures/plugins/not-a-plugin.ts', './test/fixtures/plugins/future-plugin.ts'] });
    expect(found).to.deep.equal([
      ' - plugins[0]: Module "./test/fixtures/plugins/not-a-plugin.ts" does not export an lb plugin: expected a default export { name, description, apiVersion, schema, apply(pipeline, options) }. (LB_ERR_PLUGIN_SHAPE)\n   -> Export a plugin object as the module\'s default export (see docs/plugins.md).',
      ` - plugins[1]: Plugin "future-plugin" targets plugin API 99; this lb provides ${PLUGIN_API_VERSION}. (LB_ERR_PLUGIN_API_VERSION)\n   -> Upgrade lb or the plugin so that their plugin API versions match.`,
    ]);
  });
});

describe('applying presets', () => {
  const feature = definePlugin<{ level: number; nested: { a: number; b: number } }>({
    name: 'feature-x',
    description: 'Test feature.',
    apiVersion: PLUGIN_API_VERSION,
    schema: {
      type: 'object',
      properties: {
        level: { type: 'integer', default: 1 },
        nested: { type: 'object', default: {}, properties: { a: { type: 'integer', default: 1 }, b: { type: 'integer', default: 2 } }, additionalProperties: false },
      },
      additionalProperties: false,
    },
    apply() {},
  });
  const other = definePlugin<Record<string, never>>({ name: 'feature-y', description: 'Test feature.', apiVersion: PLUGIN_API_VERSION, schema: { type: 'object' }, apply() {} });
  const plugins = new Map([...builtinPlugins, [feature.name, feature], [other.name, other]]);
  const presets: PresetCatalog = new Map([
    ['rich', { name: 'rich', description: 'Test preset.', strategy: { use: 'round-robin', options: { weighted: 'never' } }, plugins: [{ use: 'feature-x', options: { level: 5, nested: { a: 7 } } }, 'feature-y'] }],
  ]);
  const resolve = (raw: object, presetOverride?: string) => resolveConfig({ backends, ...raw }, '', { plugins, presets: new Map([...builtinPresets, ...presets]), presetOverride });

  it('uses the preset\'s plugins with their default options', async () => {
    const r = await resolve({ preset: 'rich' });
    expect(r.strategy.plugin.name).to.equal('round-robin');
    expect(r.strategy.options).to.deep.equal({ weighted: 'never' });
    expect(r.plugins.map((p) => [p.plugin.name, p.options])).to.deep.equal([['feature-x', { level: 5, nested: { a: 7, b: 2 } }], ['feature-y', {}]]);
  });

  it('lets the rc override a preset plugin\'s options key by key, drop a plugin and add one', async () => {
    const r = await resolve({ preset: 'rich', plugins: [{ use: 'feature-x', options: { nested: { b: 9 } } }, { use: 'feature-y', enabled: false }, './test/fixtures/plugins/body-stages.ts'] });
    expect(r.plugins.map((p) => [p.plugin.name, p.options])).to.deep.equal([['feature-x', { level: 5, nested: { a: 7, b: 9 } }], ['body-stages', { key: 42 }]]);
  });

  it('merges options when the rc names the preset\'s strategy, and replaces them for another strategy', async () => {
    expect((await resolve({ preset: 'rich', strategy: { use: 'round-robin' } })).strategy.options).to.deep.equal({ weighted: 'never' });
    expect((await resolve({ preset: 'rich', strategy: { use: 'round-robin', options: { weighted: 'always' } } })).strategy.options).to.deep.equal({ weighted: 'always' });
  });

  it('lets --preset win over the rc\'s preset', async () => {
    expect((await resolve({ preset: 'basic' }, 'rich')).preset.name).to.equal('rich');
  });

  it('validates every built-in preset', async () => {
    for (const name of builtinPresets.keys()) {
      const r = await resolveConfig({ backends, preset: name }, '', { plugins: builtinPlugins, presets: builtinPresets });
      expect(r.preset.name).to.equal(name);
    }
  });
});

describe('loading plugins from npm packages', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'lb-npm-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves a plugin package from the rc file\'s folder', async () => {
    const pkg = path.join(dir, 'node_modules', 'lb-plugin-hello');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'lb-plugin-hello', type: 'module', main: 'index.js' }));
    writeFileSync(path.join(pkg, 'index.js'), `export default { name: 'hello', description: 'Says hello.', apiVersion: ${PLUGIN_API_VERSION}, schema: { type: 'object', properties: { greeting: { type: 'string', default: 'hi' } }, additionalProperties: false }, apply() {} };`);
    const file = path.join(dir, '.lbrc.json');
    const r = await resolveConfig({ backends, plugins: ['lb-plugin-hello'] }, file, { plugins: builtinPlugins, presets: builtinPresets });
    expect(r.plugins.map((p) => [p.plugin.name, p.options])).to.deep.include(['hello', { greeting: 'hi' }]);
  });
});
