import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { LbError } from './errors.js';

/** Paths under this prefix belong to lb: claimed by plugins, or answered 404 by lb. Never proxied. */
export const RESERVED_PREFIX = '/.lb/';

/** What a reserved route's handler gets. */
export interface RouteRequest {
  readonly req: IncomingMessage;
  /** Write to it directly to stream (server-sent events, say), or return a `RouteResponse`. */
  readonly res: ServerResponse;
  /** The normalised path, without the query. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Reads the whole request body, refusing with 413 past the route's `maxBodyBytes` (or `maxBytes`, if lower). */
  readBody(maxBytes?: number): Promise<Buffer>;
}

/** A response a handler returns instead of writing `res` itself. */
export interface RouteResponse {
  status?: number;
  headers?: OutgoingHttpHeaders;
  /** A string, bytes, or a value sent as JSON. */
  body?: string | Buffer | object;
}

export type RouteHandler = (request: RouteRequest) => Promise<RouteResponse | void> | RouteResponse | void;

/** A claim on a path under /.lb/. */
export interface RouteSpec {
  /** An exact path (`/.lb/handshake`), or a prefix ending in `/` with `prefix: true`. */
  path: string;
  prefix?: boolean;
  /** Methods served; others get 405. Default: GET and HEAD. */
  methods?: readonly string[];
  handler: RouteHandler;
  /** Largest body `readBody` accepts, in bytes (default 64 KiB). */
  maxBodyBytes?: number;
  /** Time the handler has to answer or start its response, in ms (default 10 s); then 504. */
  timeoutMs?: number;
  /** How lb writes its own errors on this route (see RequestContext.errorFormat). Default `text`. */
  errorFormat?: 'text' | 'json';
}

/** A claimed route, with the plugin that owns it. */
export interface Route extends Required<Omit<RouteSpec, 'prefix'>> {
  readonly prefix: boolean;
  readonly plugin: string;
}

const DEFAULTS = { methods: ['GET', 'HEAD'], maxBodyBytes: 64 * 1024, timeoutMs: 10_000, errorFormat: 'text' as const };

/**
 * The path a backend could take a request URL for, for deciding whether it is
 * reserved: percent-escapes decoded, backslashes as slashes, repeated slashes
 * collapsed, dot segments resolved, lower case. A request that any backend could
 * read as `/.lb/...` is kept from the backends.
 */
export function normalisePath(url: string): string {
  let path = url;
  if (path[0] !== '/') {
    // Absolute form (GET http://host/path) or garbage.
    const scheme = path.indexOf('://');
    const slash = scheme === -1 ? -1 : path.indexOf('/', scheme + 3);
    path = slash === -1 ? '/' : path.slice(slash);
  }
  const q = path.search(/[?#]/);
  if (q !== -1) path = path.slice(0, q);
  // Decoded until nothing changes (a few rounds at most): %252e hides nothing from a backend that decodes twice.
  for (let round = 0; round < 4 && path.includes('%'); round++) {
    const before = path;
    try {
      path = decodeURIComponent(path);
    } catch {
      // Not UTF-8, or a stray %: decode byte by byte, as many backends do, so one bad escape hides no other.
      path = path.replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    }
    if (path === before) break;
  }
  // Path parameters (/.lb;x/...), which Java servers strip from each segment.
  if (path.includes(';')) path = path.replace(/;[^/]*/g, '');
  path = path.replace(/\\/g, '/').replace(/\/{2,}/g, '/').toLowerCase();
  if (path.includes('/.')) {
    const out: string[] = [];
    for (const seg of path.split('/')) {
      if (seg === '..') out.pop();
      else if (seg !== '.') out.push(seg);
    }
    path = out.join('/');
    if (path[0] !== '/') path = '/' + path;
  }
  return path;
}

/** Whether a raw request URL is, or may be read by a backend as, a path under /.lb/. Cheap for ordinary URLs. */
export function isReserved(url: string): boolean {
  // Fast path: most URLs have none of the characters that can spell /.lb/ in disguise.
  if (url.startsWith(RESERVED_PREFIX)) return true;
  if (url[0] === '/' && !url.includes('%') && !url.includes('\\') && !url.includes('/.') && !url.includes('//')) return false;
  const path = normalisePath(url);
  return path === '/.lb' || path.startsWith(RESERVED_PREFIX);
}

/** The routes of one generation: claimed while plugins are applied, then read-only. */
export class ReservedRoutes {
  private readonly exact = new Map<string, Route>();
  private readonly prefixes: Route[] = [];
  private sealed = false;

  /** Claims a path for `plugin`; a clash with another claim throws LB_ERR_ROUTE_CONFLICT naming both. */
  claim(plugin: string, spec: RouteSpec): void {
    if (this.sealed) throw new LbError('LB_ERR_PIPELINE_SEALED', { hook: `routes.claim(${spec.path})`, plugin });
    const path = spec.path;
    const prefix = spec.prefix === true;
    const invalid = (detail: string) => new LbError('LB_ERR_ROUTE_INVALID', { plugin, path, detail });
    if (typeof path !== 'string' || !path.startsWith(RESERVED_PREFIX) || path.length <= RESERVED_PREFIX.length) throw invalid(`reserved routes live under ${RESERVED_PREFIX}`);
    if (normalisePath(path) !== path) throw invalid('write it in normal form: lower case, no query, dot segments, escapes or repeated slashes');
    if (prefix && !path.endsWith('/')) throw invalid('a prefix ends with /');
    if (typeof spec.handler !== 'function') throw invalid('the handler is not a function');
    const clash = this.exact.get(path) ?? this.prefixes.find((r) => path.startsWith(r.path) || (prefix && r.path.startsWith(path)))
      ?? (prefix ? [...this.exact.values()].find((r) => r.path.startsWith(path)) : undefined);
    if (clash) throw new LbError('LB_ERR_ROUTE_CONFLICT', { first: clash.plugin, second: plugin, path: clash.path === path ? path : `${clash.path} and ${path}` });
    const route: Route = {
      path, prefix, plugin, handler: spec.handler,
      methods: (spec.methods ?? DEFAULTS.methods).map((m) => m.toUpperCase()),
      maxBodyBytes: spec.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
      timeoutMs: spec.timeoutMs ?? DEFAULTS.timeoutMs,
      errorFormat: spec.errorFormat === 'json' ? 'json' : DEFAULTS.errorFormat,
    };
    if (prefix) this.prefixes.push(route);
    else this.exact.set(path, route);
  }

  seal(): void {
    this.sealed = true;
  }

  /** The route serving a normalised path, if any. */
  find(path: string): Route | undefined {
    return this.exact.get(path) ?? this.prefixes.find((r) => path.startsWith(r.path));
  }

  /** Every route, for status pages and tests. */
  list(): readonly Route[] {
    return [...this.exact.values(), ...this.prefixes];
  }
}
