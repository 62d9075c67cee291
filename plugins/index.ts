import type { LbPlugin, PluginCatalog } from '../core/index.js';
import roundRobin from './round-robin/index.js';

/** Every built-in plugin, by name. The CLI hands this catalog to the core. */
export const builtinPlugins: PluginCatalog = new Map<string, LbPlugin>([roundRobin].map((p) => [p.name, p]));
