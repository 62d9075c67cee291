import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cosmiconfig } from 'cosmiconfig';
import { LbError } from '../errors.js';
import { locateJsonError } from './json-position.js';

/** The module name cosmiconfig searches under: .lbrc, .lbrc.json, .lbrc.yaml, .lbrc.js, lb.config.js, package.json#lb... */
export const CONFIG_MODULE_NAME = 'lb';

export interface LoadedConfigFile {
  /** Absolute path of the file the configuration came from ('' when none was found). */
  file: string;
  /** The parsed, not yet validated, content. */
  raw: unknown;
}

/**
 * Reads the rc file: `configPath` if given, else the first of cosmiconfig's search
 * places in `cwd`. Returns an empty configuration with `file: ''` when none exists.
 */
export async function loadConfigFile(options: { configPath?: string; cwd?: string } = {}): Promise<LoadedConfigFile> {
  const cwd = options.cwd ?? process.cwd();
  const explorer = cosmiconfig(CONFIG_MODULE_NAME, { cache: false });
  if (options.configPath) {
    const file = path.resolve(cwd, options.configPath);
    if (!existsSync(file)) throw new LbError('LB_ERR_CONFIG_NOT_FOUND', { detail: `${file} does not exist.` });
    try {
      const result = await explorer.load(file);
      return { file, raw: result?.config ?? {} };
    } catch (e) {
      throw parseError(file, e);
    }
  }
  try {
    const result = await explorer.search(cwd);
    return result ? { file: result.filepath, raw: result.config ?? {} } : { file: '', raw: {} };
  } catch (e) {
    const file = (e as { filepath?: string }).filepath ?? cwd;
    throw parseError(file, e);
  }
}

function parseError(file: string, error: unknown): LbError {
  const raw = error instanceof Error ? error.message : String(error);
  if (/JSON/.test(raw) && existsSync(file)) {
    const where = locateJsonError(readFileSync(file, 'utf8'));
    if (where) return new LbError('LB_ERR_CONFIG_PARSE', { file, detail: `invalid JSON at line ${where.line}, column ${where.column}: ${where.message}.` }, { cause: error });
  }
  // cosmiconfig prefixes "JSON Error in <file>:" and adds a code frame; keep the reason and the position.
  const detail = raw
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.includes(file))
    .slice(0, 6)
    .join('\n   ');
  return new LbError('LB_ERR_CONFIG_PARSE', { file, detail: detail || raw }, { cause: error });
}
