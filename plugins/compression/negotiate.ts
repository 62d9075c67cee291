/** A response coding lb produces. */
export type Coding = 'br' | 'gzip';

/** What a client's Accept-Encoding allows (RFC 9110 §12.5.3). */
export interface AcceptedCodings {
  /** q-value per listed coding, lower-cased; `x-gzip` is folded into `gzip`. */
  readonly q: ReadonlyMap<string, number>;
  /** q-value of `*`, when listed. */
  readonly star: number | undefined;
}

/** The outcome of negotiation: a coding to apply, or none; `identityRefused` when the client forbade identity. */
export interface Choice {
  coding: Coding | undefined;
  identityRefused: boolean;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * Parses an Accept-Encoding value. Returns undefined when the value is malformed
 * (a bad token, a q outside 0-1, a parameter other than q): the caller then sends
 * identity, which every client accepts in practice.
 */
export function parseAcceptEncoding(value: string): AcceptedCodings | undefined {
  const q = new Map<string, number>();
  let star: number | undefined;
  for (const element of value.split(',')) {
    const parts = element.split(';');
    const name = parts[0].trim().toLowerCase();
    if (name === '') {
      if (parts.length > 1) return undefined;
      continue; // empty list elements are allowed (RFC 9110 §5.6.1)
    }
    if (!TOKEN.test(name)) return undefined;
    let weight = 1;
    for (let i = 1; i < parts.length; i++) {
      const param = parts[i].trim();
      const eq = param.indexOf('=');
      if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'q') return undefined;
      const text = param.slice(eq + 1).trim();
      if (!QVALUE.test(text)) return undefined;
      weight = Number(text);
    }
    const key = name === 'x-gzip' ? 'gzip' : name;
    if (key === '*') star = weight;
    // A repeated coding keeps its highest weight, so a later "gzip;q=0" cannot cancel "gzip".
    else q.set(key, Math.max(weight, q.get(key) ?? 0));
  }
  return { q, star };
}

/** q of `coding`: its own entry, else `*`, else 0 (unlisted codings are not acceptable). */
function qualityOf(accepted: AcceptedCodings, coding: string): number {
  return accepted.q.get(coding) ?? accepted.star ?? 0;
}

/**
 * Picks the coding with the highest q among `offered` (server preference order breaks
 * ties). Identity wins only when the client lists it (or `*`) with a higher q than every
 * offered coding; an unlisted identity never beats a coding the client asked for.
 */
export function chooseCoding(accepted: AcceptedCodings, offered: readonly Coding[]): Choice {
  let best: Coding | undefined;
  let bestQ = 0;
  for (const coding of offered) {
    const q = qualityOf(accepted, coding);
    if (q > bestQ) {
      best = coding;
      bestQ = q;
    }
  }
  const explicitIdentity = accepted.q.get('identity') ?? accepted.star;
  const identityRefused = explicitIdentity === 0;
  if (best !== undefined && explicitIdentity !== undefined && explicitIdentity > bestQ) best = undefined;
  return { coding: best, identityRefused };
}

/** True when a Cache-Control value carries `no-transform` (RFC 9111 §5.2.2.6, §5.2.1.6). */
export function hasNoTransform(cacheControl: string | string[] | number | undefined): boolean {
  if (cacheControl === undefined) return false;
  const text = Array.isArray(cacheControl) ? cacheControl.join(',') : String(cacheControl);
  return /(?:^|,)\s*no-transform\s*(?:,|$)/i.test(text);
}

/** The bare media type of a Content-Type value, lower-cased: "Text/HTML; charset=utf-8" -> "text/html". */
export function mediaTypeOf(contentType: string | string[] | number | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const text = Array.isArray(contentType) ? contentType[0] : String(contentType);
  const semi = text.indexOf(';');
  const type = (semi < 0 ? text : text.slice(0, semi)).trim().toLowerCase();
  return type.includes('/') ? type : undefined;
}

/** A compiled list of media type patterns: exact types, `family/*`, and `family/*+suffix`. */
export class TypeMatcher {
  private readonly exact = new Set<string>();
  private readonly families = new Set<string>();
  private readonly suffixes: Array<{ family: string; suffix: string }> = [];

  constructor(patterns: readonly string[]) {
    for (const raw of patterns) {
      const pattern = raw.toLowerCase();
      const [family, sub] = pattern.split('/');
      if (sub === '*') this.families.add(family);
      else if (sub.startsWith('*+')) this.suffixes.push({ family, suffix: sub.slice(1) });
      else this.exact.add(pattern);
    }
  }

  matches(mediaType: string): boolean {
    if (this.exact.has(mediaType)) return true;
    const slash = mediaType.indexOf('/');
    const family = mediaType.slice(0, slash);
    if (this.families.has(family)) return true;
    for (const s of this.suffixes) if (s.family === family && mediaType.endsWith(s.suffix)) return true;
    return false;
  }
}

/** Vary with `Accept-Encoding` added once (unchanged when it is `*` or already lists it). */
export function addVary(vary: string | string[] | number | undefined): string {
  if (vary === undefined || vary === '') return 'Accept-Encoding';
  const text = Array.isArray(vary) ? vary.join(', ') : String(vary);
  const names = text.split(',').map((s) => s.trim().toLowerCase());
  if (names.includes('*') || names.includes('accept-encoding')) return text;
  return `${text}, Accept-Encoding`;
}

/** A strong ETag made weak ("x" -> W/"x"): the compressed bytes differ, the representation is equivalent. */
export function weakenEtag(etag: string | string[] | number | undefined): string | undefined {
  if (etag === undefined) return undefined;
  const text = String(etag);
  return text.startsWith('W/') ? text : `W/${text}`;
}
