import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ERRORS, LbError, specProblem } from '../errors.js';
import { planServices, type ServicePlan } from '../services.js';
import { PLUGIN_API_VERSION, type LbPlugin, type PluginCatalog } from '../plugin.js';
import type { TargetSpec } from '../target-pool.js';
import { coreConfigSchema, type LbConfig, type PluginEntry } from './schema.js';
import { didYouMean, formatProblem, validateAgainst, type Problem } from './validate.js';

/** A preset: a named, documented plugin list with default options. */
export interface PresetDefinition {
  readonly name: string;
  /** One line for `lb presets`. */
  readonly description: string;
  readonly strategy: PluginEntry;
  readonly plugins: readonly PluginEntry[];
}

export type PresetCatalog = ReadonlyMap<string, PresetDefinition>;

/** A plugin ready to apply: resolved, with validated options and defaults filled in. */
export interface ResolvedPlugin {
  readonly plugin: LbPlugin;
  readonly options: Record<string, unknown>;
  /** Where it came from, for messages: "preset basic" or "plugins[2]". */
  readonly origin: string;
}

/** A configuration checked end to end and ready to start. */
export interface ResolvedConfig {
  /** The rc file, '' when lb runs on defaults. */
  readonly file: string;
  readonly config: LbConfig;
  readonly preset: PresetDefinition;
  readonly strategy: ResolvedPlugin;
  readonly plugins: readonly ResolvedPlugin[];
  readonly backends: readonly TargetSpec[];
  /** Which plugin provides each service. */
  readonly services: ServicePlan;
  /** The strategy and the plugins in the order they are applied: service providers before the plugins that require them. */
  readonly applyOrder: readonly ResolvedPlugin[];
}

export interface ResolveOptions {
  plugins: PluginCatalog;
  presets: PresetCatalog;
  /** `--preset` from the command line; wins over the rc. */
  presetOverride?: string;
}

interface Entry { use: string; options: Record<string, unknown> | undefined; enabled: boolean; origin: string }

function normalise(entry: PluginEntry, origin: string): Entry {
  return typeof entry === 'string'
    ? { use: entry, options: undefined, enabled: true, origin }
    : { use: entry.use, options: entry.options as Record<string, unknown> | undefined, enabled: entry.enabled ?? true, origin };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Options from the rc override the preset's key by key; nested objects merge, arrays are replaced. */
function mergeOptions(base: Record<string, unknown> | undefined, over: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over ?? {})) out[k] = isPlainObject(v) && isPlainObject(out[k]) ? mergeOptions(out[k] as Record<string, unknown>, v) : v;
  return out;
}

function describeFile(file: string): string {
  return file ? path.relative(process.cwd(), file) || file : '(defaults; no rc file)';
}

function isPlugin(value: unknown): value is LbPlugin {
  const v = value as Partial<LbPlugin> | undefined;
  return !!v && typeof v.name === 'string' && typeof v.apply === 'function' && typeof v.schema === 'object' && v.schema !== null;
}

/** Finds a plugin by built-in name, relative path, or npm package name. */
async function loadPlugin(name: string, configDir: string, catalog: PluginCatalog): Promise<LbPlugin> {
  const builtIn = catalog.get(name);
  if (builtIn) return builtIn;
  let resolved: string;
  try {
    resolved = name.startsWith('.') || path.isAbsolute(name)
      ? createRequire(path.join(configDir, 'noop.js')).resolve(path.resolve(configDir, name))
      : createRequire(path.join(configDir, 'noop.js')).resolve(name);
  } catch {
    throw new LbError('LB_ERR_PLUGIN_UNKNOWN', { name, suggestion: didYouMean(name, catalog.keys()) });
  }
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(resolved).href)) as { default?: unknown };
  } catch (e) {
    throw new LbError('LB_ERR_PLUGIN_SHAPE', { name, detail: `loading ${resolved} failed: ${(e as Error).message}` }, { cause: e });
  }
  const candidate = isPlugin(mod.default) ? mod.default : isPlugin((mod.default as { default?: unknown } | undefined)?.default) ? (mod.default as { default: LbPlugin }).default : mod;
  if (!isPlugin(candidate)) {
    throw new LbError('LB_ERR_PLUGIN_SHAPE', { name, detail: 'expected a default export { name, description, apiVersion, schema, apply(pipeline, options) }.' });
  }
  return candidate;
}

function problemFrom(error: unknown, pathText: string): Problem {
  if (error instanceof LbError) return { path: pathText, message: error.message, code: error.code, hint: error.fix };
  throw error;
}

/**
 * Validates a raw rc against the core schema, applies the preset, resolves and
 * validates every plugin. Collects every problem before failing, so one run of
 * `lb validate` shows them all.
 */
export async function resolveConfig(raw: unknown, file: string, options: ResolveOptions): Promise<ResolvedConfig> {
  const where = describeFile(file);
  const fail = (problems: Problem[]) =>
    new LbError('LB_ERR_CONFIG_INVALID', { file: where }, { details: problems.map(formatProblem) });

  const config = structuredClone(raw ?? {}) as LbConfig;
  const coreProblems = validateAgainst(coreConfigSchema, config, '');
  if (coreProblems.length) throw fail(coreProblems);

  const problems: Problem[] = [];
  const configDir = file ? path.dirname(file) : process.cwd();

  const presetName = options.presetOverride ?? config.preset;
  const preset = options.presets.get(presetName);
  if (!preset) {
    problems.push({
      path: options.presetOverride ? '--preset' : 'preset',
      message: `preset "${presetName}" is unknown.${didYouMean(presetName, options.presets.keys())} Known presets: ${[...options.presets.keys()].join(', ')}.`,
      code: 'LB_ERR_PRESET_UNKNOWN',
      hint: 'Run `lb presets` to list the presets with their plugins.',
    });
    throw fail(problems);
  }

  const load = async (entry: Entry, pathText: string): Promise<LbPlugin | undefined> => {
    try {
      const plugin = await loadPlugin(entry.use, configDir, options.plugins);
      if (plugin.apiVersion !== PLUGIN_API_VERSION) {
        throw new LbError('LB_ERR_PLUGIN_API_VERSION', { name: plugin.name, wanted: String(plugin.apiVersion), provided: String(PLUGIN_API_VERSION) });
      }
      return plugin;
    } catch (e) {
      problems.push(problemFrom(e, pathText));
      return undefined;
    }
  };

  const checkOptions = (plugin: LbPlugin, opts: Record<string, unknown> | undefined, pathText: string): Record<string, unknown> => {
    const data = structuredClone(opts ?? {});
    problems.push(...validateAgainst(plugin.schema, data, pathText));
    return data;
  };

  // Strategy: the rc's replaces the preset's; naming the same strategy merges options.
  const presetStrategy = normalise(preset.strategy, `preset ${preset.name}`);
  const rcStrategy = config.strategy === undefined ? undefined : normalise(config.strategy, 'strategy');
  const strategyEntry = !rcStrategy
    ? presetStrategy
    : rcStrategy.use === presetStrategy.use
      ? { ...rcStrategy, options: mergeOptions(presetStrategy.options, rcStrategy.options) }
      : rcStrategy;
  const strategyPath = rcStrategy ? 'strategy' : `preset "${preset.name}" strategy`;
  const strategyPlugin = await load(strategyEntry, strategyPath);
  let strategy: ResolvedPlugin | undefined;
  if (strategyPlugin) {
    if (strategyPlugin.kind !== 'strategy') {
      problems.push(problemFrom(new LbError('LB_ERR_PLUGIN_WRONG_SLOT', { name: strategyPlugin.name, kind: 'feature', slot: 'plugins' }), strategyPath));
    } else {
      const optionsPath = rcStrategy && typeof config.strategy === 'object' ? 'strategy.options' : `${strategyPath} options`;
      strategy = { plugin: strategyPlugin, options: checkOptions(strategyPlugin, strategyEntry.options, optionsPath), origin: strategyEntry.origin };
    }
  }

  // Plugins: the preset's list, then the rc's entries override, drop or add.
  const merged: Entry[] = preset.plugins.map((p) => normalise(p, `preset ${preset.name}`));
  const seenInRc = new Set<string>();
  (config.plugins ?? []).forEach((rawEntry, i) => {
    const entry = normalise(rawEntry, `plugins[${i}]`);
    if (seenInRc.has(entry.use)) {
      problems.push(problemFrom(new LbError('LB_ERR_PLUGIN_DUPLICATE', { name: entry.use }), `plugins[${i}]`));
      return;
    }
    seenInRc.add(entry.use);
    const index = merged.findIndex((m) => m.use === entry.use);
    if (index === -1) {
      if (entry.enabled) merged.push(entry);
    } else if (!entry.enabled) {
      merged.splice(index, 1);
    } else {
      merged[index] = { ...entry, options: mergeOptions(merged[index].options, entry.options) };
    }
  });

  const plugins: ResolvedPlugin[] = [];
  const names = new Set<string>(strategy ? [strategy.plugin.name] : []);
  for (const entry of merged) {
    const at = entry.origin.startsWith('plugins[') ? entry.origin : `preset "${preset.name}" plugin "${entry.use}"`;
    const plugin = await load(entry, at);
    if (!plugin) continue;
    if (plugin.kind === 'strategy') {
      problems.push(problemFrom(new LbError('LB_ERR_PLUGIN_WRONG_SLOT', { name: plugin.name, kind: 'strategy', slot: 'strategy' }), at));
      continue;
    }
    if (names.has(plugin.name)) {
      problems.push(problemFrom(new LbError('LB_ERR_PLUGIN_DUPLICATE', { name: plugin.name }), at));
      continue;
    }
    names.add(plugin.name);
    const optionsPath = entry.origin.startsWith('plugins[') && entry.options !== undefined ? `${at}.options` : `${at} options`;
    plugins.push({ plugin, options: checkOptions(plugin, entry.options, optionsPath), origin: entry.origin });
  }

  const backends: TargetSpec[] = [];
  const hosts = new Set<string>();
  config.backends.forEach((b, i) => {
    const spec: TargetSpec = typeof b === 'string' ? { url: b, weight: 1 } : { url: b.url, weight: b.weight ?? 1, healthPort: b.healthPort };
    let url: URL;
    try {
      url = new URL(spec.url);
    } catch {
      problems.push({ path: `backends[${i}]`, message: `"${spec.url}" is not a valid URL.`, hint: 'Write it as http://HOST:PORT, e.g. "http://127.0.0.1:9001".' });
      return;
    }
    if (url.pathname !== '/' || url.search || url.hash || url.username) {
      problems.push({ path: `backends[${i}]`, message: `"${spec.url}" has a path, query or credentials; a backend is an origin only.`, hint: `Write "${url.origin}".` });
      return;
    }
    if (hosts.has(url.host)) {
      problems.push({ path: `backends[${i}]`, message: `"${spec.url}" is listed twice.`, hint: 'Give each backend once; use "weight" to send it more requests.' });
      return;
    }
    hosts.add(url.host);
    backends.push(spec);
  });

  if (problems.length || !strategy) throw fail(problems);
  const all = [strategy, ...plugins];
  problems.push(...errorCodeProblems(all));
  let services: ServicePlan | undefined;
  try {
    services = planServices(all.map((p) => p.plugin), (config as { services?: Record<string, string> }).services ?? {}, options.plugins.values());
  } catch (e) {
    problems.push(problemFrom(e, e instanceof LbError && e.code === 'LB_ERR_SERVICE_UNKNOWN_PROVIDER' ? 'services' : 'plugins'));
  }
  if (problems.length || !services) throw fail(problems);
  const applyOrder = Object.freeze(services.order.map((i) => all[i]));
  return Object.freeze({ file, config, preset, strategy, plugins: Object.freeze(plugins), backends: Object.freeze(backends), services, applyOrder });
}

/** Error codes must be well formed and unique across the core and every plugin loaded. */
function errorCodeProblems(plugins: readonly ResolvedPlugin[]): Problem[] {
  const problems: Problem[] = [];
  const owners = new Map<string, string>(Object.keys(ERRORS).map((code) => [code, 'lb\'s core']));
  for (const { plugin, origin } of plugins) {
    for (const [code, spec] of Object.entries(plugin.errors?.specs ?? {})) {
      const detail = specProblem(code, spec);
      if (detail) {
        problems.push(problemFrom(new LbError('LB_ERR_PLUGIN_CODE_INVALID', { plugin: plugin.name, code, detail }), origin));
        continue;
      }
      const owner = owners.get(code);
      if (owner) problems.push(problemFrom(new LbError('LB_ERR_PLUGIN_CODE_DUPLICATE', { code, first: owner, second: `plugin "${plugin.name}"` }), origin));
      else owners.set(code, `plugin "${plugin.name}"`);
    }
  }
  return problems;
}
