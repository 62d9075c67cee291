/**
 * Regenerates the files derived from code: the editor JSON Schema, docs/errors.md and
 * the reference part of docs/configuration.md. `npm run generate`; tests fail when stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { builtinPlugins } from '../plugins/index.js';
import { builtinPresets } from '../presets/index.js';
import { editorSchemaPath, packageRoot } from './package-info.js';
import { buildConfigReference, buildEditorSchema, buildErrorsDoc, spliceReference } from './reference.js';

/** Every generated file with its expected content. */
export function generatedFiles(): Array<{ file: string; content: string }> {
  const configDoc = path.join(packageRoot, 'docs', 'configuration.md');
  return [
    { file: editorSchemaPath, content: JSON.stringify(buildEditorSchema(builtinPlugins, builtinPresets), null, 2) + '\n' },
    { file: path.join(packageRoot, 'docs', 'errors.md'), content: buildErrorsDoc(builtinPlugins) },
    { file: configDoc, content: spliceReference(readFileSync(configDoc, 'utf8'), buildConfigReference(builtinPlugins, builtinPresets)) },
  ];
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  for (const { file, content } of generatedFiles()) {
    writeFileSync(file, content);
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  }
}
