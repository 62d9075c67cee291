import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import type { ErrorTable, PluginErrors } from './errors.js';
import type { Pipeline } from './pipeline.js';

/** The plugin contract version this lb provides; plugins declare the one they target. */
export const PLUGIN_API_VERSION = 1;

/** What a plugin is for: a `strategy` fills the rc's `strategy` slot; anything else is a `feature`. */
export type PluginKind = 'strategy' | 'feature';

/** An options schema: a JSON Schema object written `as const`, so the options type derives from it. */
export type OptionsSchema = JSONSchema & object;

/** The options type a schema describes, with its defaults applied. */
export type OptionsOf<S extends OptionsSchema> = FromSchema<S, { keepDefaultedPropertiesOptional: false }>;

/**
 * Work a plugin does for as long as its generation serves: timers, pollers, sockets,
 * services. `start` runs once every plugin of the generation is applied, before it
 * takes requests (a throw refuses the generation: at start-up lb exits, on reload the
 * old generation keeps serving); `stop` runs once the generation has drained (a
 * reload) or lb shuts down. Whatever `start` opened, `stop` must close.
 */
export interface PluginLifecycle {
  start?(): void | Promise<void>;
  stop?(): void | Promise<void>;
}

/**
 * An lb plugin, in the manner of a webpack plugin: a name, a JSON Schema for its
 * options, and `apply(pipeline, options)` that taps the hooks it needs.
 * `options` have been validated against `schema`, with defaults filled in.
 * `apply` runs once per generation (at start-up and on every reload) and may return
 * a `PluginLifecycle`.
 */
export interface LbPlugin<Options = any> {
  /** Unique name; used for every tap and in error messages. */
  readonly name: string;
  /** One line for `lb presets` and the docs. */
  readonly description: string;
  readonly kind?: PluginKind;
  /** The plugin API version this plugin targets (PLUGIN_API_VERSION). */
  readonly apiVersion: number;
  /** JSON Schema of the options; every property has a description and a default. */
  readonly schema: OptionsSchema;
  /** The plugin's own error codes (`defineErrors(...)`), unique across the plugins loaded. */
  readonly errors?: PluginErrors<ErrorTable>;
  /** Services this plugin provides (`pipeline.services.provide`) and requires (`pipeline.services.get`), by name. */
  readonly provides?: readonly string[];
  readonly requires?: readonly string[];
  apply(pipeline: Pipeline, options: Options): void | PluginLifecycle | Promise<void | PluginLifecycle>;
}

/**
 * Declares a plugin; `Options` is usually `OptionsOf<typeof schema>`, so the
 * options type derives from the schema and cannot drift from it.
 * @example
 * const schema = { type: 'object', properties: { ratio: { type: 'number', default: 1 } }, additionalProperties: false } as const;
 * export default definePlugin<OptionsOf<typeof schema>>({ name: 'my-plugin', description: '...', apiVersion: 1, schema, apply(pipeline, options) { ... } });
 */
export function definePlugin<Options>(plugin: LbPlugin<Options>): LbPlugin<Options> {
  return Object.freeze(plugin);
}

/** A plugin name mapped to the plugin: the built-in catalog, handed to the core by the CLI. */
export type PluginCatalog = ReadonlyMap<string, LbPlugin>;
