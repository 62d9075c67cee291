import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (existsSync(candidate) && (JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name === 'lb') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('lb: cannot find its own package.json');
    dir = parent;
  }
}

/** The lb package's root folder, whether running from TypeScript sources or from dist/. */
export const packageRoot = findRoot();
export const packageVersion = (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
/** The JSON Schema of rc files that ships in the package, for editors. */
export const editorSchemaPath = path.join(packageRoot, 'cli', 'lbrc.schema.json');
