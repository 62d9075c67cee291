import type { LbPlugin, PluginCatalog } from '../core/index.js';
import roundRobin from './round-robin/index.js';
import passiveHealth from './passive-health/index.js';
import compression from './compression/index.js';
import random from './random/index.js';
import leastConnections from './least-connections/index.js';
import p2cEwma from './p2c-ewma/index.js';
import metricBased from './metric-based/index.js';
import { healthCheck, orcaLoadReports } from './health/index.js';
import memoryKeystore from './memory-keystore/index.js';
import handshake from './handshake/index.js';

/** Every built-in plugin, by name. The CLI hands this catalog to the core. */
export const builtinPlugins: PluginCatalog = new Map<string, LbPlugin>([roundRobin, passiveHealth, random, leastConnections, p2cEwma, metricBased, healthCheck, orcaLoadReports, compression, memoryKeystore, handshake].map((p) => [p.name, p]));
