// One lb for the bench, built from the sources through the core API (no dist/ build needed).
// Usage: lb-server.ts <port> '<rc as JSON>'
import { createLoadBalancer, createLogger, resolveConfig } from '../../core/index.js';
import { builtinPlugins } from '../../plugins/index.js';
import { builtinPresets } from '../../presets/index.js';

const [portText, rcText = '{}'] = process.argv.slice(2);
const resolved = await resolveConfig(JSON.parse(rcText), '', { plugins: builtinPlugins, presets: builtinPresets });
const lb = await createLoadBalancer(resolved, { logger: createLogger({ level: 'warn' }) });
await lb.listen(Number(portText), '127.0.0.1');
process.on('SIGTERM', () => void lb.close().then(() => process.exit(0)));
