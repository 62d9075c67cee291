import { definePlugin, KEYSTORE, PLUGIN_API_VERSION, type OptionsOf } from '../../core/index.js';
import { memoryKeystoreSchema } from './schema.js';
import { MemoryStore } from './store.js';

const PLUGIN_NAME = 'memory-keystore';

export { MemoryStore } from './store.js';

/**
 * The default keystore: entries in this process's memory, kept across reloads
 * (`pipeline.keep`), lost on restart, not shared with other processes (use the Redis
 * keystore for several proxies or workers).
 */
export default definePlugin<OptionsOf<typeof memoryKeystoreSchema>>({
  name: PLUGIN_NAME,
  description: 'Keystore in this process\'s memory (sessions, replay windows): kept across reloads, not shared between processes.',
  kind: 'feature',
  apiVersion: PLUGIN_API_VERSION,
  schema: memoryKeystoreSchema,
  provides: [KEYSTORE.name],
  apply(pipeline, options) {
    const store = pipeline.keep('store', () => new MemoryStore(options.maxEntries, options.sweepIntervalMs));
    store.configure(options.maxEntries);
    pipeline.services.provide(KEYSTORE, store);
  },
});
