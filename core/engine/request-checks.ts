import type { IncomingMessage } from 'node:http';
import { LbError } from '../errors.js';

/** The limits a request's head is checked against (`limits` in the rc). */
export interface RequestLimits {
  /** Longest request target, in bytes (414 past it). */
  maxUrlBytes: number;
  /** Most header fields (431 past it). */
  maxHeaderCount: number;
  /** Largest request body (413 past it); 0 for no limit. */
  maxBodyBytes: number;
}

/**
 * The rules of RFC 9112 a proxy must enforce before it forwards anything, and lb's
 * limits: one Host field, matching an absolute-form target; no Transfer-Encoding but
 * `chunked`; a declared body within the limit. (Node's parser has already refused
 * obs-fold, control characters in fields, Content-Length with Transfer-Encoding,
 * duplicate Content-Length and a Transfer-Encoding that does not end in chunked.)
 * Returns the error to answer with, or undefined. Cheap: one pass over the raw headers.
 */
export function checkRequestHead(req: IncomingMessage, limits: RequestLimits): LbError | undefined {
  const url = req.url ?? '';
  if (url.length > limits.maxUrlBytes) return new LbError('LB_ERR_CLIENT_URI_TOO_LONG', { limit: limits.maxUrlBytes });
  const raw = req.rawHeaders;
  if (raw.length > 2 * limits.maxHeaderCount) return new LbError('LB_ERR_CLIENT_TOO_MANY_HEADERS', { limit: limits.maxHeaderCount });
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 4 && (name === 'Host' || name === 'host' || name.toLowerCase() === 'host')) hosts++;
  }
  if (hosts > 1) return new LbError('LB_ERR_CLIENT_BAD_HOST', { detail: `${hosts} Host header fields; exactly one is allowed` });
  if (hosts === 0 && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) return new LbError('LB_ERR_CLIENT_BAD_HOST', { detail: 'an HTTP/1.1 request needs a Host header field' });
  if (url.charCodeAt(0) !== 47 /* / */ && url !== '*') {
    let target: URL | undefined;
    try {
      target = new URL(url);
    } catch {
      return new LbError('LB_ERR_CLIENT_BAD_REQUEST', { detail: 'the request target is neither a path nor an absolute URL' });
    }
    const host = req.headers.host;
    if (host !== undefined && sameHost(host, target) === false) {
      return new LbError('LB_ERR_CLIENT_BAD_HOST', { detail: `Host "${host.slice(0, 100)}" differs from the request target's host "${target.host}"` });
    }
  }
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') {
    return new LbError('LB_ERR_CLIENT_TRANSFER_ENCODING', { encoding: te.slice(0, 100) });
  }
  const length = req.headers['content-length'];
  if (length !== undefined && limits.maxBodyBytes > 0 && length.length >= 1 && Number(length) > limits.maxBodyBytes) {
    return new LbError('LB_ERR_CLIENT_BODY_TOO_LARGE', { limit: limits.maxBodyBytes });
  }
  return undefined;
}

/** Whether a Host field names the target's host (default ports dropped, any case). */
function sameHost(host: string, target: URL): boolean {
  try {
    return new URL(`${target.protocol}//${host}`).host === target.host;
  } catch {
    return false;
  }
}
