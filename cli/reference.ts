import { coreConfigSchema, ERRORS, type ErrorTable, type LbPlugin, type PluginCatalog, type PresetCatalog, type Retryable } from '../core/index.js';

type Json = Record<string, unknown>;

function pluginBranch(plugin: LbPlugin): Json {
  return {
    type: 'object',
    description: plugin.description,
    properties: {
      use: { const: plugin.name, description: plugin.description },
      options: plugin.schema,
      enabled: { type: 'boolean', default: true, description: 'false drops a plugin that the preset would add.' },
    },
    required: ['use'],
    additionalProperties: false,
  };
}

/**
 * The rc file's JSON Schema for editors: the core schema, with every built-in
 * plugin's options schema attached to its name, so editors complete and check them.
 * Third-party plugins (any other name) are accepted with any options.
 */
export function buildEditorSchema(plugins: PluginCatalog, presets: PresetCatalog): Json {
  const schema = structuredClone(coreConfigSchema) as unknown as Json & { properties: Record<string, Json> };
  const all = [...plugins.values()];
  const strategies = all.filter((p) => p.kind === 'strategy');
  const features = all.filter((p) => p.kind !== 'strategy');
  const otherName = { type: 'string', not: { enum: all.map((p) => p.name) }, description: 'A third-party plugin: an npm package name or a ./relative path.' };
  const other = { type: 'object', properties: { use: otherName, options: { type: 'object' }, enabled: { type: 'boolean' } }, required: ['use'], additionalProperties: false };
  const slot = (list: LbPlugin[], description: unknown) => ({
    description,
    anyOf: [
      { enum: list.map((p) => p.name), description: 'A built-in plugin, with default options.' },
      ...list.map(pluginBranch),
      otherName,
      other,
    ],
  });
  schema.$schema = 'http://json-schema.org/draft-07/schema#';
  schema.title = 'lb configuration (.lbrc.json)';
  schema.properties.preset = { ...schema.properties.preset, enum: [...presets.keys()] };
  schema.properties.strategy = slot(strategies, schema.properties.strategy.description);
  schema.properties.plugins = { ...schema.properties.plugins, items: slot(features, 'A plugin: its name alone, or an object naming it with options.') };
  return schema;
}

const RETRY_TEXT: Record<Retryable, string> = { any: 'yes', idempotent: 'idempotent requests', never: 'no' };

/** Every error table, in the order docs/errors.md lists them: the core's, then each built-in plugin's that has one. */
export function errorTables(plugins: PluginCatalog): Array<{ owner: string; specs: ErrorTable }> {
  const tables: Array<{ owner: string; specs: ErrorTable }> = [{ owner: 'core', specs: ERRORS }];
  for (const p of plugins.values()) if (p.errors) tables.push({ owner: p.name, specs: p.errors.specs });
  return tables;
}

/** docs/errors.md, generated from the core's table (core/errors.ts) and each built-in plugin's. */
export function buildErrorsDoc(plugins: PluginCatalog): string {
  const section = (owner: string, specs: ErrorTable) => [
    '',
    owner === 'core' ? '## lb\'s core (`core/errors.ts`)' : `## Plugin \`${owner}\` (\`plugins/${owner}/errors.ts\`)`,
    '',
    '| Code | HTTP status | Source | Retry safe | Meaning | How to fix |',
    '|---|---|---|---|---|---|',
    ...Object.entries(specs).map(([code, s]) =>
      `| \`${code}\` | ${s.statusCode || '—'} | ${s.source} | ${RETRY_TEXT[s.retryable]} | ${s.meaning} | ${s.fix} |`),
  ];
  return [
    '# Errors',
    '',
    '<!-- Generated from core/errors.ts and the plugins\' errors.ts by `npm run generate`; a test fails when they disagree. Edit the tables there. -->',
    '',
    'Every error lb reports has a stable code. HTTP status is what a client receives when the error ends its request',
    '(— for errors that stop lb from starting: those exit with status 2 for configuration, 1 otherwise). *Retry safe* says',
    'whether lb may send the same request to another backend after it: *yes* for any request (nothing reached the',
    'backend), *idempotent requests* for GET, HEAD, OPTIONS, PUT, DELETE and TRACE without a body (the backend may have',
    'acted on it; `retries.idempotentOnReset` turns these off), *no* otherwise. Errors carry `code`, `statusCode`,',
    '`source` and `retryable`; match on `code`, never on the message. Each plugin declares its own codes beside its',
    'code; codes are unique across lb and every plugin loaded (a duplicate stops lb at start-up).',
    ...errorTables(plugins).flatMap((t) => section(t.owner, t.specs)),
    '',
  ].join('\n');
}

function typeOf(s: Json): string {
  if (Array.isArray(s.enum)) return (s.enum as unknown[]).map((v) => JSON.stringify(v)).join(' \\| ');
  if (Array.isArray(s.anyOf)) return (s.anyOf as Json[]).map(typeOf).join(' or ');
  if (s.type === 'array') return `array of ${typeOf((s.items ?? {}) as Json)}`;
  return String(s.type ?? 'any');
}

function rowsFor(schema: Json, prefix: string, out: string[]): void {
  const props = (schema.properties ?? {}) as Record<string, Json>;
  for (const [key, s] of Object.entries(props)) {
    if (key === '$schema') continue;
    const path = prefix ? `${prefix}.${key}` : key;
    const def = s.default === undefined ? '—' : `\`${JSON.stringify(s.default)}\``;
    out.push(`| \`${path}\` | ${typeOf(s)} | ${def} | ${String(s.description ?? '').replace(/\|/g, '\\|')} |`);
    if (s.type === 'object' && s.properties) rowsFor(s, path, out);
  }
}

/** The reference part of docs/configuration.md: every key with type, default and meaning. */
export function buildConfigReference(plugins: PluginCatalog, presets: PresetCatalog): string {
  const core: string[] = ['| Key | Type | Default | Meaning |', '|---|---|---|---|'];
  rowsFor(coreConfigSchema as unknown as Json, '', core);
  const sections = [
    '<!-- Generated from the schemas by `npm run generate`; a test fails when it is stale. -->',
    '',
    '### Top-level keys',
    '',
    ...core,
    '',
    '### Presets',
    '',
    '| Preset | Strategy | Plugins | Description |',
    '|---|---|---|---|',
    ...[...presets.values()].map((p) => {
      const name = (e: unknown) => (typeof e === 'string' ? e : (e as { use: string }).use);
      return `| \`${p.name}\` | ${name(p.strategy)} | ${p.plugins.map(name).join(', ') || '—'} | ${p.description} |`;
    }),
    '',
  ];
  for (const plugin of plugins.values()) {
    const rows: string[] = [];
    rowsFor(plugin.schema as Json, '', rows);
    sections.push(`### Plugin \`${plugin.name}\` (${plugin.kind ?? 'feature'})`, '', plugin.description, '');
    if (rows.length) sections.push('| Option | Type | Default | Meaning |', '|---|---|---|---|', ...rows, '');
    else sections.push('No options.', '');
  }
  return sections.join('\n');
}

const START = '<!-- reference:start -->';
const END = '<!-- reference:end -->';

/** Replaces the generated part of docs/configuration.md. */
export function spliceReference(doc: string, reference: string): string {
  const a = doc.indexOf(START);
  const b = doc.indexOf(END);
  if (a === -1 || b === -1) throw new Error(`docs/configuration.md lacks the ${START} ... ${END} markers`);
  return `${doc.slice(0, a + START.length)}\n${reference}\n${doc.slice(b)}`;
}
