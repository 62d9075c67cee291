import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
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
 * An lb plugin, in the manner of a webpack plugin: a name, a JSON Schema for its
 * options, and `apply(pipeline, options)` that taps the hooks it needs.
 * `options` have been validated against `schema`, with defaults filled in.
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
  apply(pipeline: Pipeline, options: Options): void | Promise<void>;
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
