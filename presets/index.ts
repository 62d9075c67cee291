import type { PresetCatalog, PresetDefinition } from '../core/index.js';

/**
 * Named plugin lists with default options. An rc picks one with "preset" and may
 * override any plugin's options, add plugins or drop them.
 */
const presets: PresetDefinition[] = [
  {
    name: 'basic',
    description: 'Round robin (smooth weighted when weights differ), no other plugins: the plain reverse proxy.',
    strategy: 'round-robin',
    plugins: [],
  },
];

export const builtinPresets: PresetCatalog = new Map(presets.map((p) => [p.name, Object.freeze(p)]));
