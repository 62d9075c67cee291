import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/** One thing wrong with a configuration, in words a user can act on. */
export interface Problem {
  /** JSON path in JavaScript notation, e.g. `plugins[2].options.quality` ('' for the root). */
  path: string;
  /** What is wrong: what was expected and what was found. */
  message: string;
  /** The schema's description of the setting, or another hint. */
  hint?: string;
  /** The error code when it is more specific than LB_ERR_CONFIG_INVALID. */
  code?: string;
}

export function formatProblem(p: Problem): string {
  const where = p.path === '' ? '(top level)' : p.path;
  let line = ` - ${where}: ${p.message}`;
  if (p.code) line += ` (${p.code})`;
  if (p.hint) line += `\n   -> ${p.hint}`;
  return line;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: false });
const compiled = new WeakMap<object, ValidateFunction>();

/**
 * Validates `data` against `schema` in place (filling in defaults) and returns the
 * problems found, each with `basePath` before its path.
 */
export function validateAgainst(schema: object, data: unknown, basePath: string): Problem[] {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (validate(data)) return [];
  return explain(validate.errors ?? [], basePath);
}

/** Converts an ajv JSON pointer (/plugins/2/options) into `plugins[2].options`. */
export function jsPath(basePath: string, pointer: string): string {
  let out = basePath;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function found(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function typeName(t: string): string {
  return t === 'integer' ? 'an integer' : t === 'object' ? 'an object' : t === 'array' ? 'an array' : `a ${t}`;
}

/** Levenshtein distance, for "did you mean". */
export function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

/** ` Did you mean "x"?` for the closest candidate within a small distance, else ''. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  let best = '';
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = distance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? ` Did you mean "${best}"?` : '';
}

function describe(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  const schema = e.parentSchema as { properties?: Record<string, unknown>; pattern?: string } | undefined;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const known = Object.keys(schema?.properties ?? {});
      return `key "${key}" is not allowed.${didYouMean(key, known)}${known.length ? ` Allowed keys: ${known.join(', ')}.` : ''}`;
    }
    case 'required':
      return `the key "${String(p.missingProperty)}" is required but missing.`;
    case 'type':
      return `must be ${typeName(String(p.type))}; found ${found(e.data)}.`;
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}; found ${found(e.data)}.${
        typeof e.data === 'string' ? didYouMean(e.data, (p.allowedValues as unknown[]).map(String)) : ''}`;
    case 'const':
      return `must be ${JSON.stringify(p.allowedValue)}; found ${found(e.data)}.`;
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
      return `must be ${String(p.comparison)} ${String(p.limit)}; found ${found(e.data)}.`;
    case 'pattern':
      return `must match ${String(p.pattern)}; found ${found(e.data)}.`;
    case 'minLength':
      return `must not be shorter than ${String(p.limit)} characters; found ${found(e.data)}.`;
    case 'maxLength':
      return `must not be longer than ${String(p.limit)} characters; found ${found(e.data)}.`;
    case 'minItems':
      return `must have at least ${String(p.limit)} items; found ${Array.isArray(e.data) ? e.data.length : 0}.`;
    default:
      return `${e.message ?? 'is invalid'}; found ${found(e.data)}.`;
  }
}

/**
 * Turns ajv's errors into problems. `anyOf` failures report every branch; keep the
 * branch errors that went deepest, and merge bare type mismatches into one line.
 */
function explain(errors: ErrorObject[], basePath: string): Problem[] {
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  const problems: Problem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (e.keyword === 'anyOf') continue;
    const path = jsPath(basePath, e.instancePath);
    if (anyOfPaths.has(e.instancePath) && e.keyword === 'type') {
      const deeper = errors.some((o) => o.keyword !== 'type' && o.keyword !== 'anyOf' && o.instancePath.startsWith(e.instancePath));
      if (deeper) continue;
      const types = errors.filter((o) => o.keyword === 'type' && o.instancePath === e.instancePath).map((o) => typeName(String(o.params.type)));
      const key = `${path}|type`;
      if (seen.has(key)) continue;
      seen.add(key);
      const anyOf = errors.find((o) => o.keyword === 'anyOf' && o.instancePath === e.instancePath);
      const hint = (anyOf?.parentSchema as { description?: string } | undefined)?.description;
      problems.push({ path, message: `must be ${types.join(' or ')}; found ${found(e.data)}.`, hint });
      continue;
    }
    const message = describe(e);
    const key = `${path}|${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const described = e.keyword === 'additionalProperties' || e.keyword === 'required' ? undefined : (e.parentSchema as { description?: string } | undefined)?.description;
    problems.push({ path, message, hint: described });
  }
  return problems;
}
