import type { OptionsOf } from '../../core/index.js';
import { TypeMatcher, type Coding } from './negotiate.js';
import type { compressionSchema } from './schema.js';

export type CompressionOptions = OptionsOf<typeof compressionSchema>;

/** Everything decided per path, compiled once at start-up. */
export interface Policy {
  readonly compress: boolean;
  readonly encodings: readonly Coding[];
  readonly types: TypeMatcher;
  readonly minSize: number;
  readonly compressEncrypted: boolean;
  readonly encryptedSkip: TypeMatcher;
  readonly decompress: boolean;
  readonly maxRequestSize: number;
}

/** A path prefix and its policy. */
interface Rule {
  readonly prefix: string;
  readonly policy: Policy;
}

/**
 * The path a backend will most likely see for `url`: without the query, percent-decoded,
 * dot segments resolved, repeated slashes collapsed. Rules match on it, so that
 * "/%61ccount/" or "//account/../account/" cannot slip past a rule for "/account/".
 */
export function normalisePath(url: string): string {
  const q = url.indexOf('?');
  let path = q < 0 ? url : url.slice(0, q);
  if (path.includes('%')) {
    try {
      path = decodeURIComponent(path);
    } catch {
      // malformed escapes: match on the raw path
    }
  }
  if (path.includes('//')) path = path.replace(/\/{2,}/g, '/');
  if (path.includes('/.')) {
    const segments = path.split('/');
    const out: string[] = [];
    for (const seg of segments) {
      if (seg === '..') {
        if (out.length > 1) out.pop();
      } else if (seg !== '.') out.push(seg);
    }
    const last = segments[segments.length - 1];
    path = out.join('/') + (last === '.' || last === '..' ? '/' : '');
    if (!path.startsWith('/')) path = `/${path}`;
  }
  return path;
}

/**
 * Chooses the policy for a request path: the longest matching route prefix, as nginx
 * picks a prefix `location`, else the top-level options.
 */
export class Policies {
  readonly base: Policy;
  private readonly rules: readonly Rule[];

  constructor(options: CompressionOptions) {
    const matchers = new Map<string, TypeMatcher>();
    const matcher = (types: readonly string[]) => {
      const key = types.join('\n');
      let m = matchers.get(key);
      if (!m) matchers.set(key, (m = new TypeMatcher(types)));
      return m;
    };
    this.base = {
      compress: true,
      encodings: options.encodings as Coding[],
      types: matcher(options.types),
      minSize: options.minSize,
      compressEncrypted: options.encrypted.compress,
      encryptedSkip: matcher(options.encrypted.skipTypes),
      decompress: options.request.decompress,
      maxRequestSize: options.request.maxSize,
    };
    const base = this.base;
    this.rules = options.routes
      .map((r) => ({
        prefix: r.path,
        policy: {
          ...base,
          compress: r.compress ?? base.compress,
          types: r.types ? matcher(r.types) : base.types,
          minSize: r.minSize ?? base.minSize,
          compressEncrypted: r.compressEncrypted ?? base.compressEncrypted,
          decompress: r.decompress ?? base.decompress,
          maxRequestSize: r.maxRequestSize ?? base.maxRequestSize,
        },
      }))
      .sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The policy for a request URL (path and query as received). */
  match(url: string | undefined): Policy {
    const rules = this.rules;
    if (rules.length === 0 || url === undefined) return this.base;
    const path = normalisePath(url);
    for (const rule of rules) if (path.startsWith(rule.prefix)) return rule.policy;
    return this.base;
  }

  /** Whether any rule (or the base) compresses responses / decompresses requests: unused hooks stay untapped. */
  get anyCompress(): boolean {
    return this.base.compress || this.rules.some((r) => r.policy.compress);
  }

  get anyDecompress(): boolean {
    return this.base.decompress || this.rules.some((r) => r.policy.decompress);
  }
}
