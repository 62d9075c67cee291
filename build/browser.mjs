// Bundles the client SDK (plugins/handshake/client) into one self-contained browser ES
// module, dist/browser/lb-client.js: `npm run build` runs it after tsc. The SDK uses
// WebCrypto and fetch only; a Node import reached from it fails the build.
import { builtinModules } from 'node:module';
import { mkdirSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = 'plugins/handshake/client/index.ts';
const outfile = 'dist/browser/lb-client.js';
const nodeBuiltins = new Set(builtinModules);

/** Fails the build on `node:*` and bare Node built-ins (`crypto`, `stream`…), naming the importer. */
const noNodeImports = {
  name: 'no-node-imports',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      const bare = args.path.split('/')[0];
      if (!args.path.startsWith('node:') && !nodeBuiltins.has(bare)) return undefined;
      return { errors: [{ text: `the browser build reached the Node import "${args.path}" (from ${relative(root, args.importer)}): the client SDK must use WebCrypto and fetch only` }] };
    });
  },
};

const started = performance.now();
mkdirSync(dirname(`${root}/${outfile}`), { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: [entry],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  // No sourcemap: the TypeScript sources are not in the package, and the bundle is readable as it is.
  sourcemap: false,
  minify: false,
  legalComments: 'inline',
  metafile: true,
  logLevel: 'warning',
  plugins: [noNodeImports],
}).catch(() => process.exit(1)); // esbuild has printed the errors.

const bytes = result.metafile.outputs[outfile].bytes;
console.log(`${outfile}: ${(bytes / 1024).toFixed(1)} KiB in ${Math.round(performance.now() - started)} ms`);
