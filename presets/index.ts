import type { PresetCatalog, PresetDefinition } from '../core/index.js';

/**
 * Named plugin lists with default options. An rc picks one with "preset" and may
 * override any plugin's options, add plugins or drop them.
 */
const presets: PresetDefinition[] = [
  {
    name: 'basic',
    description: 'Round robin (smooth weighted when weights differ) with passive health, as nginx does by default: the plain reverse proxy.',
    strategy: 'round-robin',
    plugins: ['passive-health'],
  },
  {
    name: 'compressed',
    description: 'Round robin plus compression: br or gzip responses negotiated with each client, request bodies decompressed with bomb limits.',
    strategy: 'round-robin',
    plugins: ['passive-health', 'compression'],
  },
  {
    name: 'least-loaded',
    description: 'Backends report their load (lb agent, GET /.lb/health, polled); metric-based sends each request where it should finish soonest.',
    strategy: 'metric-based',
    plugins: ['health-check', 'orca-load-reports', 'passive-health'],
  },
  {
    name: 'secure',
    description: 'least-loaded plus end-to-end encryption of bodies: the handshake on /.lb/handshake (signed PU1, RSA-OAEP), sessions in the memory keystore; plaintext requests refused.',
    strategy: 'metric-based',
    plugins: ['health-check', 'orca-load-reports', 'passive-health', 'memory-keystore', 'handshake'],
  },
  {
    name: 'secure-compressed',
    description: 'secure plus compression: responses compressed before they are encrypted (see the BREACH switch, compression.encrypted), request bodies decompressed after decryption.',
    strategy: 'metric-based',
    plugins: ['health-check', 'orca-load-reports', 'passive-health', 'memory-keystore', 'handshake', 'compression'],
  },
];

export const builtinPresets: PresetCatalog = new Map(presets.map((p) => [p.name, Object.freeze(p)]));
